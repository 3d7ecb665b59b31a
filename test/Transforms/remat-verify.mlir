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

// A region re-runs only what the backward reads: an op whose results nothing
// in the region reads and the region does not yield is dead.
func.func @dead_op_in_region(%x: tensor<4xf32>, %w: tensor<4x4xf32>) {
  %r = ckpt.recompute(%x, %w) : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32> {
  ^bb0(%x1: tensor<4xf32>, %w1: tensor<4x4xf32>):
    %g = xf.gelu %x1 : tensor<4xf32>
    // expected-error @+1 {{'xf.linear' op is dead in its recompute region: none of its results is yielded or read by a later op of the region (a region re-runs only what the backward reads; 'whole_span' marks a region that re-runs a checkpointed span whole)}}
    %l = xf.linear %g, %w1 : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
    ckpt.yield %g : tensor<4xf32>
  }
  return
}

// -----

// A dropout whose value nothing reads regenerates its mask alone.
func.func @dropout_value_unused(%x: tensor<4xf32>) {
  %r = ckpt.recompute(%x) : (tensor<4xf32>) -> tensor<4xi1> {
  ^bb0(%x1: tensor<4xf32>):
    // expected-error @+1 {{'xf.dropout' op computes a value that nothing in its recompute region reads; regenerate only its mask with 'xf.dropout_mask' (same probability and rng_stream)}}
    %d:2 = xf.dropout %x1 {probability = 0.1 : f64, rng_stream = 3 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
    ckpt.yield %d#1 : tensor<4xi1>
  }
  return
}

// -----

// The repaired region, and a whole-span region (Megatron's re-execution,
// kept for comparisons), which may re-run what nothing reads.
func.func @train_step(%x: tensor<4xf32>, %w: tensor<4x4xf32>) {
  %r = ckpt.recompute() : () -> tensor<4xi1> {
    %m = xf.dropout_mask {probability = 0.1 : f64, rng_stream = 3 : i64} : tensor<4xi1>
    ckpt.yield %m : tensor<4xi1>
  }
  %s = ckpt.recompute(%x, %w) {whole_span} : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32> {
  ^bb0(%x1: tensor<4xf32>, %w1: tensor<4x4xf32>):
    %g = xf.gelu %x1 : tensor<4xf32>
    %l = xf.linear %g, %w1 : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
    %d:2 = xf.dropout %l {probability = 0.1 : f64, rng_stream = 3 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
    ckpt.yield %g : tensor<4xf32>
  }
  return
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
