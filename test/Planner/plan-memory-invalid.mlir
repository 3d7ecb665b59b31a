// RUN: ckpt-opt %s -split-input-file --ckpt-plan-memory="alignment=48" -verify-diagnostics

// expected-error @+1 {{alignment must be a power of two, got 48}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{no training step @train_step; run --xf-training-step first}}
module {
}
