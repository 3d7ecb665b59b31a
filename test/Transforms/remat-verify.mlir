// RUN: ckpt-opt %s -split-input-file --ckpt-verify-remat -verify-diagnostics

// A hand-broken graph: the forward op is marked as discarded, but a backward
// op still reads its result.
func.func @train_step(%x: tensor<4xf32>, %dy: tensor<4xf32>) -> tensor<4xf32> {
  // expected-note @+1 {{discarded value produced here}}
  %g = xf.gelu %x {ckpt.remat = "recompute"} : tensor<4xf32>
  %e = xf.gelu %g : tensor<4xf32>
  // expected-error @+1 {{'xf.gelu_grad' op operand #0 reads a forward value that the recompute policy discards (its producer 'xf.gelu' is marked ckpt.remat = "recompute"); the backward must read it from a ckpt.recompute region}}
  %d = xf.gelu_grad %g, %dy {xf.phase = "backward"} : tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// The same graph, repaired: the backward reads the value from a region.
func.func @train_step(%x: tensor<4xf32>, %dy: tensor<4xf32>) -> tensor<4xf32> {
  %g = xf.gelu %x {ckpt.remat = "recompute"} : tensor<4xf32>
  %e = xf.gelu %g : tensor<4xf32>
  %r = ckpt.recompute(%x) {xf.phase = "recompute"} : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x1: tensor<4xf32>):
    %g1 = xf.gelu %x1 {xf.phase = "recompute"} : tensor<4xf32>
    ckpt.yield %g1 : tensor<4xf32>
  }
  %d = xf.gelu_grad %r, %dy {xf.phase = "backward"} : tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// expected-error @+1 {{no training step @train_step; run --xf-training-step first}}
module {
}

// -----

func.func @bad_annotation(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.remat' must be "save" or "recompute", got "maybe"}}
  %g = xf.gelu %x {ckpt.remat = "maybe"} : tensor<4xf32>
  return
}

// -----

func.func @bad_region(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.recompute' op yields 1 values whose types must match its 1 results}}
  %r = ckpt.recompute(%x) : (tensor<4xf32>) -> tensor<8xf32> {
  ^bb0(%x1: tensor<4xf32>):
    ckpt.yield %x1 : tensor<4xf32>
  }
  return
}

// -----

func.func @isolated(%x: tensor<4xf32>) {
  // expected-note @+1 {{required by region isolation constraints}}
  %r = ckpt.recompute() : () -> tensor<4xf32> {
    // expected-error @+1 {{using value defined outside the region}}
    %g = xf.gelu %x : tensor<4xf32>
    ckpt.yield %g : tensor<4xf32>
  }
  return
}
