// RUN: ckpt-opt %s -split-input-file --ckpt-remat="recompute-granularity=full recompute-method=uniform recompute-num-layers=2" -verify-diagnostics
// Policy errors point at the module that holds the training step; the
// FileCheck test remat-invalid-policies.test covers every rule's wording.

// expected-error @+1 {{recompute-num-layers must be in [1, 1] (the model has 1 layer), got 2}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}

// -----

// A step without transformer layers (a stage of the embedding or head
// alone) has nothing to checkpoint: said as such, not "must be in [1, 0]".
// expected-error @+1 {{full recompute needs layers to checkpoint, and this step has none (a pipeline stage of the embedding or head alone?): use recompute-granularity=none or selective here}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{no training step @train_step; run --xf-training-step first}}
module {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
