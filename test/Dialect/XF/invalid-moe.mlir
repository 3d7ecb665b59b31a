// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// The mixture-of-experts ops: their checks come from the op table.

func.func @route_top_k_too_large(%l: tensor<4x2x3xf32>) {
  // expected-error @+1 {{top_k must be in [1, 3] (the number of experts), got 4}}
  %w, %e, %s = xf.moe_route %l {top_k = 4, capacity = 2}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x4xf32>, tensor<4x2x4xi32>, tensor<4x2x4xi32>)
  return
}

// -----

func.func @route_negative_capacity(%l: tensor<4x2x3xf32>) {
  // expected-error @+1 {{capacity must be >= 1 (rows per expert) or 0 (dropless, a grouped buffer), got -1}}
  %w, %e, %s = xf.moe_route %l {top_k = 2, capacity = -1}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x2xf32>, tensor<4x2x2xi32>, tensor<4x2x2xi32>)
  return
}

// -----

func.func @route_bad_policy(%l: tensor<4x2x3xf32>) {
  // expected-error @+1 {{drop_policy must be "probs" or "position", got "random"}}
  %w, %e, %s = xf.moe_route %l {top_k = 2, capacity = 2, drop_policy = "random"}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x2xf32>, tensor<4x2x2xi32>, tensor<4x2x2xi32>)
  return
}

// -----

func.func @dispatch_wrong_tokens(%x: tensor<4x2x8xf32>, %s: tensor<3x2x2xi32>) {
  // expected-error @+1 {{slots [3, 2, 2] must route the 4x2 tokens [s, b] of [4, 2, 8]}}
  %d = xf.moe_dispatch %x, %s {num_experts = 3, capacity = 4}
      : (tensor<4x2x8xf32>, tensor<3x2x2xi32>) -> tensor<3x4x8xf32>
  return
}

// -----

func.func @dispatch_wrong_buffer(%x: tensor<4x2x8xf32>, %s: tensor<4x2x2xi32>) {
  // expected-error @+1 {{result #0 has shape [3, 4, 8] but the operands give [3, 5, 8]}}
  %d = xf.moe_dispatch %x, %s {num_experts = 3, capacity = 5}
      : (tensor<4x2x8xf32>, tensor<4x2x2xi32>) -> tensor<3x4x8xf32>
  return
}

// -----

func.func @expert_weight_mismatch(%x: tensor<3x4x8xf32>, %w: tensor<2x16x8xf32>) {
  // expected-error @+1 {{weight [2, 16, 8] must be [num_experts, out_features, in_features] with 3 experts and 8 in_features (the input's), got [2, 16, 8]}}
  %y = xf.expert_linear %x, %w : (tensor<3x4x8xf32>, tensor<2x16x8xf32>) -> tensor<3x4x16xf32>
  return
}

// -----

func.func @combine_weights_slots_differ(%o: tensor<3x4x8xf32>, %w: tensor<4x2x2xf32>, %s: tensor<4x2x1xi32>) {
  // expected-error @+1 {{slots has shape [4, 2, 1] but must be [4, 2, 2]}}
  %y = xf.moe_combine %o, %w, %s
      : (tensor<3x4x8xf32>, tensor<4x2x2xf32>, tensor<4x2x1xi32>) -> tensor<4x2x8xf32>
  return
}

// -----

func.func @aux_loss_counts(%l: tensor<4x2x3xf32>, %e: tensor<4x2x2xi32>, %c: tensor<4xf32>) {
  // expected-error @+1 {{counts must be [3] (one per expert) in f32, got 'tensor<4xf32>'}}
  %a = xf.moe_aux_loss %l, %e, %c {coeff = 0.5} : (tensor<4x2x3xf32>, tensor<4x2x2xi32>, tensor<4xf32>) -> tensor<f32>
  return
}

// -----

func.func @expert_counts(%e: tensor<4x2x2xi32>) {
  // expected-error @+1 {{num_experts must be >= 1, got 0}}
  %c = xf.moe_expert_counts %e {num_experts = 0} : (tensor<4x2x2xi32>) -> tensor<0xf32>
  return
}

// -----

func.func @aux_loss_negative_coeff(%l: tensor<4x2x3xf32>, %e: tensor<4x2x2xi32>) {
  // expected-error @+1 {{coeff must be in [0, 1e6], got -0.5}}
  %a = xf.moe_aux_loss %l, %e {coeff = -0.5} : (tensor<4x2x3xf32>, tensor<4x2x2xi32>) -> tensor<f32>
  return
}

// -----

func.func @route_float_experts(%l: tensor<4x2x3xf32>) {
  // expected-error @+1 {{result #1 must be statically shaped tensor of i32 or i64 token ids}}
  %w, %e, %s = xf.moe_route %l {top_k = 2, capacity = 2}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x2xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>)
  return
}

// -----

func.func @dispatch_grad_hidden(%s: tensor<4x2x2xi32>, %g: tensor<3x4x8xf32>) {
  // expected-error @+1 {{result [4, 2, 6] must have the hidden size of grad_output [3, 4, 8]}}
  %d = xf.moe_dispatch_grad %s, %g : (tensor<4x2x2xi32>, tensor<3x4x8xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @route_grad_weights_shape(%l: tensor<4x2x3xf32>, %e: tensor<4x2x2xi32>, %g: tensor<4x2x3xf32>) {
  // expected-error @+1 {{grad_weights has shape [4, 2, 3] but must be [4, 2, 2]}}
  %d = xf.moe_route_grad %l, %e, %g : (tensor<4x2x3xf32>, tensor<4x2x2xi32>, tensor<4x2x3xf32>) -> tensor<4x2x3xf32>
  return
}

// -----

func.func @expert_grad_weight_shape(%dy: tensor<3x4x16xf32>, %x: tensor<3x4x8xf32>) {
  // expected-error @+1 {{grad_output has shape [3, 4, 16] but must be [3, 4, 12]}}
  %d = xf.expert_linear_grad_weight %dy, %x : (tensor<3x4x16xf32>, tensor<3x4x8xf32>) -> tensor<3x12x8xf32>
  return
}

// -----

func.func @combine_grad_output_shape(%o: tensor<3x4x8xf32>, %w: tensor<4x2x2xf32>, %s: tensor<4x2x2xi32>, %dy: tensor<4x2x6xf32>) {
  // expected-error @+1 {{grad_output has shape [4, 2, 6] but must be [4, 2, 8]}}
  %a, %b = xf.moe_combine_grad %o, %w, %s, %dy
      : (tensor<3x4x8xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>, tensor<4x2x6xf32>) -> (tensor<3x4x8xf32>, tensor<4x2x2xf32>)
  return
}

// -----

// Dropless (capacity 0): one grouped row per choice, s·b·k = 16.
func.func @dispatch_grouped_rows(%x: tensor<4x2x8xf32>, %s: tensor<4x2x2xi32>) {
  // expected-error @+1 {{result #0 has shape [12, 8] but the operands give [16, 8]}}
  %d = xf.moe_dispatch %x, %s {num_experts = 3, capacity = 0}
      : (tensor<4x2x8xf32>, tensor<4x2x2xi32>) -> tensor<12x8xf32>
  return
}

// -----

func.func @expert_grouped_needs_experts(%x: tensor<16x8xf32>, %w: tensor<3x16x8xf32>) {
  // expected-error @+1 {{input must have rank 3 ([num_experts, capacity, in_features]; a grouped [s·b·top_k, in_features] needs the experts operand), got rank 2 [16, 8]}}
  %y = xf.expert_linear %x, %w : (tensor<16x8xf32>, tensor<3x16x8xf32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @expert_grouped_rows(%x: tensor<12x8xf32>, %w: tensor<3x16x8xf32>, %e: tensor<4x2x2xi32>) {
  // expected-error @+1 {{experts [4, 2, 2] route 16 choices but the grouped input has 12 rows}}
  %y = xf.expert_linear %x, %w, %e : (tensor<12x8xf32>, tensor<3x16x8xf32>, tensor<4x2x2xi32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @combine_grouped_rows(%o: tensor<12x8xf32>, %w: tensor<4x2x2xf32>, %s: tensor<4x2x2xi32>) {
  // expected-error @+1 {{expert_output [12, 8] is grouped ([s·b·top_k, h]) but the slots [4, 2, 2] route 16 choices}}
  %y = xf.moe_combine %o, %w, %s
      : (tensor<12x8xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>) -> tensor<4x2x8xf32>
  return
}

// -----

func.func @expert_grad_weight_grouped(%dy: tensor<16x12xf32>, %x: tensor<16x8xf32>, %e: tensor<4x2x2xi32>) {
  // expected-error @+1 {{grad_output has shape [16, 12] but must be [16, 16]}}
  %d = xf.expert_linear_grad_weight %dy, %x, %e : (tensor<16x12xf32>, tensor<16x8xf32>, tensor<4x2x2xi32>) -> tensor<3x16x8xf32>
  return
}
