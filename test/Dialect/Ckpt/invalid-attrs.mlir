// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// The ckpt dialect attributes (remat marks, plan offsets and records, the
// tensor-parallel gradient reduction, the pipeline's stage, chunks,
// micro-batches and tied parameters) and the pipeline transfers are
// verified wherever they appear.

func.func @unknown_attr(%x: tensor<4xf32>) {
  // expected-error @+1 {{unknown ckpt attribute 'ckpt.stage'; ckpt defines ckpt.remat, ckpt.policy, ckpt.pipeline, ckpt.chunk, ckpt.micro_batch, ckpt.grad_sum, ckpt.grad_accumulate, ckpt.offsets and ckpt.memory}}
  %0 = xf.gelu %x {ckpt.stage = 1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @offsets_not_array(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.offsets' must be an array<i64> of arena offsets, one per result}}
  %0 = xf.gelu %x {ckpt.offsets = 0 : i64} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'ckpt.memory' must be a dictionary}}
func.func @memory_not_dict() attributes {ckpt.memory = 64 : i64} {
  return
}

// -----

// expected-error @+1 {{argument #0: 'ckpt.grad_all_reduce' must be the tensor-parallel size (>= 2)}}
func.func @grad_all_reduce_one(%w: tensor<4xf32> {ckpt.grad_all_reduce = 1 : i64}) {
  return
}

// -----

// expected-error @+1 {{argument #1: 'ckpt.grad_all_reduce' must be the tensor-parallel size (>= 2)}}
func.func @grad_all_reduce_string(%x: tensor<4xf32>, %w: tensor<4xf32> {ckpt.grad_all_reduce = "tp"}) {
  return
}

// -----

// expected-error @+1 {{argument #0: unknown ckpt argument attribute 'ckpt.shard'; ckpt defines ckpt.grad_all_reduce, ckpt.tied_stage and ckpt.micro_batch}}
func.func @unknown_arg_attr(%w: tensor<4xf32> {ckpt.shard = 0 : i64}) {
  return
}

// -----

// expected-error @+1 {{'ckpt.policy' has an unknown field 'recompute_everything' (allowed: recompute_granularity, recompute_method, recompute_num_layers, recompute_modules, distribute_saved_activations)}}
module attributes {ckpt.policy = {recompute_everything = true}} {
}

// -----

// expected-error @+1 {{'ckpt.policy' field 'recompute_num_layers' has the wrong kind: "one"}}
module attributes {ckpt.policy = {recompute_num_layers = "one"}} {
}

// -----

// expected-error @+1 {{'ckpt.pipeline' needs an integer 'micro_batches' >= 1}}
module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 2 : i64, virtual_stages = 1 : i64}} {
}

// -----

// expected-error @+1 {{'ckpt.pipeline' stage 2 is outside the 2 stages}}
module attributes {ckpt.pipeline = {stage = 2 : i64, stages = 2 : i64, virtual_stages = 1 : i64, micro_batches = 4 : i64}} {
}

// -----

// expected-error @+1 {{'ckpt.pipeline' has an unknown field 'schedule' (allowed: stage, stages, virtual_stages, micro_batches)}}
module attributes {ckpt.pipeline = {stage = 0 : i64, stages = 2 : i64, virtual_stages = 1 : i64, micro_batches = 4 : i64, schedule = "1f1b"}} {
}

// -----

// expected-error @+1 {{'ckpt.pipeline' must be a dictionary on a module}}
func.func @pipeline_on_func() attributes {ckpt.pipeline = {stage = 0 : i64}} {
  return
}

// -----

func.func @chunk_negative(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.chunk' must be a non-negative integer}}
  %0 = xf.gelu %x {ckpt.chunk = -1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @grad_sum_not_unit(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.grad_sum' must be a unit attribute}}
  %0 = xf.add %x, %x {ckpt.grad_sum = 1 : i64} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{argument #0: 'ckpt.tied_stage' must be a pipeline stage (>= 0)}}
func.func @tied_negative(%x: tensor<4xf32> {ckpt.tied_stage = -1 : i64}) {
  return
}

// -----

// expected-error @+1 {{argument #0: 'ckpt.micro_batch' must be a micro-batch index (>= 0)}}
func.func @micro_batch_negative(%x: tensor<4xf32> {ckpt.micro_batch = -2 : i64}) {
  return
}

// -----

func.func @send_negative_stage(%x: tensor<4xf32>) {
  // expected-error @+1 {{attribute 'stage' failed to satisfy constraint}}
  ckpt.send %x {stage = -1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @recv_unranked() {
  // expected-error @+1 {{must be ranked tensor of any type values}}
  %0 = "ckpt.recv"() {stage = 1 : i64} : () -> tensor<*xf32>
  return
}

// -----

func.func @grad_accumulate_not_unit(%x: tensor<4xf32>) {
  // expected-error @+1 {{'ckpt.grad_accumulate' must be a unit attribute}}
  %0 = xf.add %x, %x {ckpt.grad_accumulate = "yes"} : tensor<4xf32>
  return
}
