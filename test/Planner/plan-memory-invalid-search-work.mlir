// RUN: ckpt-opt %s --ckpt-plan-memory="search-work=-1" -verify-diagnostics

// expected-error @+1 {{plan-search-work must be >= 0 steps, got -1}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %g = xf.gelu %x : tensor<4xf32>
    return %g : tensor<4xf32>
  }
}
