// RUN: ckpt-opt %s -split-input-file -ckpt-pipeline-schedule -verify-diagnostics
// What --ckpt-pipeline-schedule refuses: an op of no model chunk when the
// stage has several, dropout streams that collide with the next
// micro-batch's, and an interleaved schedule whose micro-batches are no
// multiple of the stages.

module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 2 : i64, virtual_stages = 2 : i64, micro_batches = 2 : i64}} {
  func.func @train_step(%w: tensor<4xf32> {xf.role = "parameter", xf.name = "w"}) -> (tensor<4xf32> {xf.grad_of = "w"}) {
    // expected-error @+1 {{has no model chunk (ckpt.chunk in [0, 2)) to place it in the pipeline schedule}}
    %0 = xf.gelu %w {xf.phase = "backward"} : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 1 : i64, virtual_stages = 1 : i64, micro_batches = 2 : i64}} {
  func.func @train_step(%w: tensor<4xf32> {xf.role = "parameter", xf.name = "w"}) -> (tensor<4xf32> {xf.grad_of = "w"}) {
    // expected-error @+1 {{has rng_stream 1048576: a pipelined step's dropout streams must be below 2^20}}
    %y, %mask = xf.dropout %w {probability = 1.0e-01 : f64, rng_stream = 1048576 : i64, xf.phase = "backward"} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
    return %y : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{the interleaved schedule needs the micro-batches (3) to be a multiple of the stages (2)}}
module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 2 : i64, virtual_stages = 2 : i64, micro_batches = 3 : i64}} {
  func.func @train_step(%w: tensor<4xf32> {xf.role = "parameter", xf.name = "w"}) -> (tensor<4xf32> {xf.grad_of = "w"}) {
    %0 = xf.gelu %w {ckpt.chunk = 0 : i64, xf.phase = "backward"} : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{at most 4096 micro-batches: each draws its dropout masks from 2^20 streams of the generator's 2^32; got 5000}}
module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 1 : i64, virtual_stages = 1 : i64, micro_batches = 5000 : i64}} {
  func.func @train_step(%w: tensor<4xf32> {xf.role = "parameter", xf.name = "w"}) -> (tensor<4xf32> {xf.grad_of = "w"}) {
    %0 = xf.gelu %w {xf.phase = "backward"} : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 1 : i64, virtual_stages = 1 : i64, micro_batches = 2 : i64}} {
  // expected-error @+1 {{the step returns 1 gradients for 2 parameters (arguments other than the tokens and labels)}}
  func.func @train_step(%w: tensor<4xf32> {xf.role = "parameter", xf.name = "w"}, %v: tensor<4xf32> {xf.role = "parameter", xf.name = "v"}) -> (tensor<4xf32> {xf.grad_of = "w"}) {
    %0 = xf.gelu %w {xf.phase = "backward"} : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}
