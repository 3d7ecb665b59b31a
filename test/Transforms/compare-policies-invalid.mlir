// RUN: ckpt-opt %s --ckpt-compare-policies -verify-diagnostics
// Policies are compared on the step as it comes from --xf-training-step.

// expected-error @+1 {{@train_step already has recompute regions; compare policies on the step before --ckpt-remat}}
module {
  func.func @train_step(%x: tensor<4xf32>) -> tensor<4xf32> {
    %r = ckpt.recompute(%x) {xf.phase = "recompute"} : (tensor<4xf32>) -> tensor<4xf32> {
    ^bb0(%x1: tensor<4xf32>):
      %g1 = xf.gelu %x1 {xf.phase = "recompute"} : tensor<4xf32>
      ckpt.yield %g1 : tensor<4xf32>
    }
    return %r : tensor<4xf32>
  }
}
