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

// expected-error @+1 {{no training step @train_step; run --xf-training-step first}}
module {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
