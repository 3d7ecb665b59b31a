// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// The ckpt dialect attributes (remat marks, plan offsets and records, the
// tensor-parallel gradient reduction) are verified wherever they appear.

func.func @unknown_attr(%x: tensor<4xf32>) {
  // expected-error @+1 {{unknown ckpt attribute 'ckpt.stage'; ckpt defines ckpt.remat, ckpt.policy, ckpt.pipeline, ckpt.chunk, ckpt.micro_batch, ckpt.grad_sum, ckpt.offsets and ckpt.memory}}
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
