// RUN: ckpt-opt %s --ckpt-remat="region-ops=some" -verify-diagnostics
// A value the option table does not allow is an error at the module that
// holds the training step, in the table's words, before any policy runs.

// expected-error @+1 {{region-ops must be needed or all, got 'some'}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
