// RUN: ckpt-opt %s --ckpt-plan-memory="seconds=-1" -verify-diagnostics

// expected-error @+1 {{the offset search's budget must be a finite number of seconds >= 0, got -1}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
