// RUN: ckpt-opt %s --ckpt-report="data-parallel-size=0" -verify-diagnostics
// RUN: ckpt-opt %s --ckpt-compare-policies="data-parallel-size=0" -verify-diagnostics
// A pass option out of range is an error at the module, before any analysis;
// the same message for every pass that takes the option.

// expected-error @+1 {{data-parallel-size must be >= 1, got 0}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
