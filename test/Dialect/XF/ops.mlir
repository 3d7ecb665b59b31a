// RUN: ckpt-opt %s | FileCheck %s
// Round trip: the printed form parses back to the same IR.
// RUN: ckpt-opt %s | ckpt-opt | FileCheck %s
// RUN: ckpt-opt %s --mlir-print-op-generic | ckpt-opt | FileCheck %s

// CHECK-LABEL: func.func @embedding
func.func @embedding(%tokens: tensor<2x16xi32>, %wte: tensor<128x32xf32>,
                     %wpe: tensor<20x32xf32>) -> tensor<16x2x32xf32> {
  // CHECK: %[[E:.*]] = xf.embedding %{{.*}}, %{{.*}}, %{{.*}} {xf.module = "embedding"} : (tensor<2x16xi32>, tensor<128x32xf32>, tensor<20x32xf32>) -> tensor<16x2x32xf32>
  %0 = xf.embedding %tokens, %wte, %wpe {xf.module = "embedding"}
      : (tensor<2x16xi32>, tensor<128x32xf32>, tensor<20x32xf32>) -> tensor<16x2x32xf32>
  return %0 : tensor<16x2x32xf32>
}

// CHECK-LABEL: func.func @embedding_i64_bf16
func.func @embedding_i64_bf16(%tokens: tensor<1x4xi64>, %wte: tensor<8x6xbf16>,
                              %wpe: tensor<4x6xbf16>) -> tensor<4x1x6xbf16> {
  // CHECK: xf.embedding {{.*}} : (tensor<1x4xi64>, tensor<8x6xbf16>, tensor<4x6xbf16>) -> tensor<4x1x6xbf16>
  %0 = xf.embedding %tokens, %wte, %wpe
      : (tensor<1x4xi64>, tensor<8x6xbf16>, tensor<4x6xbf16>) -> tensor<4x1x6xbf16>
  return %0 : tensor<4x1x6xbf16>
}

// CHECK-LABEL: func.func @layer_norm
func.func @layer_norm(%x: tensor<16x2x32xf16>, %g: tensor<32xf16>, %b: tensor<32xf16>) -> tensor<16x2x32xf16> {
  // CHECK: xf.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 5.000000e-01 : f64, xf.layer = 3 : i64, xf.module = "layernorm"} : (tensor<16x2x32xf16>, tensor<32xf16>, tensor<32xf16>) -> tensor<16x2x32xf16>
  %0 = xf.layer_norm %x, %g, %b {epsilon = 0.5 : f64, xf.layer = 3 : i64, xf.module = "layernorm"}
      : (tensor<16x2x32xf16>, tensor<32xf16>, tensor<32xf16>) -> tensor<16x2x32xf16>
  return %0 : tensor<16x2x32xf16>
}

// The default epsilon is not printed.
// CHECK-LABEL: func.func @layer_norm_default_epsilon
func.func @layer_norm_default_epsilon(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // CHECK: xf.layer_norm %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}} : (tensor<4x8xf32>
  %0 = xf.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<16x2x32xf32>, %w: tensor<96x32xf32>, %b: tensor<96xf32>) -> (tensor<16x2x96xf32>, tensor<16x2x96xf32>) {
  // CHECK: %qkv = xf.linear %{{.*}}, %{{.*}}, %{{.*}} {xf.layer = 0 : i64, xf.module = "qkv"} : (tensor<16x2x32xf32>, tensor<96x32xf32>, tensor<96xf32>) -> tensor<16x2x96xf32>
  %0 = xf.linear %x, %w, %b {xf.layer = 0 : i64, xf.module = "qkv"}
      : (tensor<16x2x32xf32>, tensor<96x32xf32>, tensor<96xf32>) -> tensor<16x2x96xf32>
  // Without bias (the LM head).
  // CHECK: %linear = xf.linear %{{[^ ,]*}}, %{{[^ ,]*}} : (tensor<16x2x32xf32>, tensor<96x32xf32>) -> tensor<16x2x96xf32>
  %1 = xf.linear %x, %w : (tensor<16x2x32xf32>, tensor<96x32xf32>) -> tensor<16x2x96xf32>
  return %0, %1 : tensor<16x2x96xf32>, tensor<16x2x96xf32>
}

// CHECK-LABEL: func.func @gelu_add_dropout
func.func @gelu_add_dropout(%x: tensor<4x2x8xbf16>) -> (tensor<4x2x8xbf16>, tensor<4x2x8xi1>) {
  // CHECK: %gelu = xf.gelu %{{.*}} : tensor<4x2x8xbf16>
  %0 = xf.gelu %x : tensor<4x2x8xbf16>
  // CHECK: xf.gelu %{{.*}} {approximate = "tanh"} : tensor<4x2x8xbf16>
  %1 = xf.gelu %0 {approximate = "tanh"} : tensor<4x2x8xbf16>
  // CHECK: %residual = xf.add %{{.*}}, %{{.*}} : tensor<4x2x8xbf16>
  %2 = xf.add %x, %1 : tensor<4x2x8xbf16>
  // CHECK: %dropout, %mask = xf.dropout %residual {probability = 1.000000e-01 : f64, rng_stream = 7 : i64} : tensor<4x2x8xbf16> -> tensor<4x2x8xbf16>, tensor<4x2x8xi1>
  %3:2 = xf.dropout %2 {probability = 0.1 : f64, rng_stream = 7 : i64}
      : tensor<4x2x8xbf16> -> tensor<4x2x8xbf16>, tensor<4x2x8xi1>
  return %3#0, %3#1 : tensor<4x2x8xbf16>, tensor<4x2x8xi1>
}

// The mask of a dropout without its input (made in recompute regions).
// CHECK-LABEL: func.func @dropout_mask
func.func @dropout_mask() -> tensor<4x2x8xi1> {
  // CHECK: %mask = xf.dropout_mask {probability = 1.000000e-01 : f64, rng_stream = 7 : i64} : tensor<4x2x8xi1>
  %0 = xf.dropout_mask {probability = 0.1 : f64, rng_stream = 7 : i64} : tensor<4x2x8xi1>
  return %0 : tensor<4x2x8xi1>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%qkv: tensor<16x2x96xf32>) -> tensor<16x2x32xf32> {
  // CHECK: %q, %k, %v = xf.split_heads %{{.*}} {num_heads = 4 : i64} : tensor<16x2x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>
  %q, %k, %v = xf.split_heads %qkv {num_heads = 4 : i64}
      : tensor<16x2x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>
  // CHECK: %scores = xf.attention_scores %q, %k {scale = 3.535500e-01 : f64} : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x16xf32>
  %s = xf.attention_scores %q, %k {scale = 0.35355 : f64}
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x16xf32>
  // CHECK: %probs = xf.softmax %scores {causal} : tensor<2x4x16x16xf32>
  %p = xf.softmax %s {causal} : tensor<2x4x16x16xf32>
  // CHECK: %context = xf.attention_context %probs, %v : (tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  %c = xf.attention_context %p, %v
      : (tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  // CHECK: %merged = xf.merge_heads %context : (tensor<2x4x16x8xf32>) -> tensor<16x2x32xf32>
  %m = xf.merge_heads %c : (tensor<2x4x16x8xf32>) -> tensor<16x2x32xf32>
  return %m : tensor<16x2x32xf32>
}

// Flash attention writing Megatron's [s, b, h] context, and its gradient.
// CHECK-LABEL: func.func @flash_merged
func.func @flash_merged(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>,
                        %dy: tensor<16x2x32xf32>) -> tensor<2x4x16x8xf32> {
  // CHECK: %context, %lse = xf.flash_attention %{{.*}}, %{{.*}}, %{{.*}} {merge_heads = true, scale = 3.500000e-01 : f64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>) -> (tensor<16x2x32xf32>, tensor<2x4x16xf32>)
  %o, %l = xf.flash_attention %q, %k, %k {scale = 0.35 : f64, merge_heads = true}
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>) -> (tensor<16x2x32xf32>, tensor<2x4x16xf32>)
  // CHECK: xf.flash_attention_grad {{.*}} {merge_heads = true, scale = 3.500000e-01 : f64} : ({{.*}}, tensor<16x2x32xf32>, tensor<2x4x16xf32>, tensor<16x2x32xf32>) ->
  %dq, %dk, %dv = xf.flash_attention_grad %q, %k, %k, %o, %l, %dy {scale = 0.35 : f64, merge_heads = true}
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<16x2x32xf32>, tensor<2x4x16xf32>, tensor<16x2x32xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>)
  return %dq : tensor<2x4x16x8xf32>
}

// A non-causal softmax accepts any rank and rectangular scores.
// CHECK-LABEL: func.func @softmax_plain
func.func @softmax_plain(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  // CHECK: xf.softmax %{{.*}} : tensor<3x5xf32>
  %0 = xf.softmax %x : tensor<3x5xf32>
  return %0 : tensor<3x5xf32>
}

// CHECK-LABEL: func.func @loss
func.func @loss(%logits: tensor<16x2x128xbf16>, %labels: tensor<2x16xi32>) -> tensor<f32> {
  // CHECK: %loss, %vocab_probs = xf.cross_entropy %{{.*}}, %{{.*}} {xf.module = "loss"} : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  %0:2 = xf.cross_entropy %logits, %labels {xf.module = "loss"}
      : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  return %0#0 : tensor<f32>
}

// A vocabulary split over 4 ranks: this rank's 128 of 512 classes.
// CHECK-LABEL: func.func @loss_vocab_shards
func.func @loss_vocab_shards(%logits: tensor<16x2x128xbf16>, %labels: tensor<2x16xi32>) -> tensor<f32> {
  // CHECK: xf.cross_entropy %{{.*}}, %{{.*}} {vocab_shards = 4 : i64}
  %0:2 = xf.cross_entropy %logits, %labels {vocab_shards = 4 : i64}
      : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  return %0#0 : tensor<f32>
}

// The gradient reads the f32 softmax and has the logits' type.
// CHECK-LABEL: func.func @loss_grad
func.func @loss_grad(%probs: tensor<16x2x128xf32>, %labels: tensor<2x16xi32>) -> tensor<16x2x128xbf16> {
  // CHECK: %dlogits = xf.cross_entropy_grad %{{.*}}, %{{.*}} : (tensor<16x2x128xf32>, tensor<2x16xi32>) -> tensor<16x2x128xbf16>
  %0 = xf.cross_entropy_grad %probs, %labels
      : (tensor<16x2x128xf32>, tensor<2x16xi32>) -> tensor<16x2x128xbf16>
  return %0 : tensor<16x2x128xbf16>
}

// Function arguments carry roles and parameter names; modules the model.
// CHECK-LABEL: module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
  // CHECK: func.func @args(%{{.*}}: tensor<2x4xi32> {xf.role = "tokens"}, %{{.*}}: tensor<8xf32> {xf.name = "decoder.final_layernorm.weight", xf.role = "parameter"})
  func.func @args(%t: tensor<2x4xi32> {xf.role = "tokens"},
                  %w: tensor<8xf32> {xf.name = "decoder.final_layernorm.weight", xf.role = "parameter"}) {
    return
  }
}

// CHECK-LABEL: func.func @rms_norm_and_glu
func.func @rms_norm_and_glu(%x: tensor<16x2x32xbf16>, %g: tensor<32xbf16>, %u: tensor<16x2x256xbf16>) -> (tensor<16x2x32xbf16>, tensor<16x2x128xbf16>) {
  // CHECK: %[[R:.*]] = xf.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<16x2x32xbf16>, tensor<32xbf16>) -> tensor<16x2x32xbf16>
  %0 = xf.rms_norm %x, %g {epsilon = 1.0e-6 : f64} : (tensor<16x2x32xbf16>, tensor<32xbf16>) -> tensor<16x2x32xbf16>
  // CHECK: xf.glu %{{.*}} : (tensor<16x2x256xbf16>) -> tensor<16x2x128xbf16>
  %1 = xf.glu %u : (tensor<16x2x256xbf16>) -> tensor<16x2x128xbf16>
  // CHECK: xf.glu %{{.*}} {activation = "gelu"}
  %2 = xf.glu %u {activation = "gelu"} : (tensor<16x2x256xbf16>) -> tensor<16x2x128xbf16>
  return %0, %1 : tensor<16x2x32xbf16>, tensor<16x2x128xbf16>
}

// CHECK-LABEL: func.func @rope_and_token_embedding
func.func @rope_and_token_embedding(%t: tensor<2x16xi32>, %w: tensor<128x32xf32>, %q: tensor<2x4x16x8xf32>) -> (tensor<16x2x32xf32>, tensor<2x4x16x8xf32>) {
  // CHECK: xf.embedding %{{.*}}, %{{.*}} : (tensor<2x16xi32>, tensor<128x32xf32>) -> tensor<16x2x32xf32>
  %0 = xf.embedding %t, %w : (tensor<2x16xi32>, tensor<128x32xf32>) -> tensor<16x2x32xf32>
  // CHECK: xf.rope %{{.*}} {rotary_dim = 4 : i64} : tensor<2x4x16x8xf32>
  %1 = xf.rope %q {rotary_dim = 4 : i64} : tensor<2x4x16x8xf32>
  // CHECK: xf.rope_grad %{{.*}} {base = 5.000000e+05 : f64, rotary_dim = 8 : i64} : tensor<2x4x16x8xf32>
  %2 = xf.rope_grad %1 {base = 5.0e+05 : f64, rotary_dim = 8 : i64} : tensor<2x4x16x8xf32>
  // Llama 3.1's scaling round-trips; defaults are not printed.
  // CHECK: xf.rope %{{.*}} {factor = 8.000000e+00 : f64, original_max_position = 16 : i64, rotary_dim = 8 : i64, scaling = "llama3"} : tensor<2x4x16x8xf32>
  %s = xf.rope %q {factor = 8.0 : f64, low_freq_factor = 1.0 : f64, original_max_position = 16 : i64, rotary_dim = 8 : i64, scaling = "llama3"} : tensor<2x4x16x8xf32>
  return %0, %2 : tensor<16x2x32xf32>, tensor<2x4x16x8xf32>
}

// The mixture-of-experts chain: route, aux loss, dispatch, experts, combine.
// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<4x2x8xf32>, %router: tensor<3x8xf32>,
               %w1: tensor<3x12x8xf32>, %w2: tensor<3x8x12xf32>)
    -> (tensor<4x2x8xf32>, tensor<f32>) {
  %logits = xf.linear %x, %router : (tensor<4x2x8xf32>, tensor<3x8xf32>) -> tensor<4x2x3xf32>
  // CHECK: %gates, %experts, %slots = xf.moe_route %{{.*}} {capacity = 6 : i64, top_k = 2 : i64}
  %w, %e, %s = xf.moe_route %logits {top_k = 2, capacity = 6}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x2xf32>, tensor<4x2x2xi32>, tensor<4x2x2xi32>)
  // CHECK: %aux_loss = xf.moe_aux_loss
  %aux = xf.moe_aux_loss %logits, %e {coeff = 0.01} : (tensor<4x2x3xf32>, tensor<4x2x2xi32>) -> tensor<f32>
  // transformers' pooled loss: the counts of the choices, then a term
  // weighted by them.
  // CHECK: %counts = xf.moe_expert_counts %{{.*}} {num_experts = 3 : i64} : (tensor<4x2x2xi32>) -> tensor<3xf32>
  %c = xf.moe_expert_counts %e {num_experts = 3} : (tensor<4x2x2xi32>) -> tensor<3xf32>
  // CHECK: xf.moe_aux_loss %{{.*}}, %{{.*}}, %counts {coeff = 1.000000e-02 : f64} : (tensor<4x2x3xf32>, tensor<4x2x2xi32>, tensor<3xf32>) -> tensor<f32>
  %pooled = xf.moe_aux_loss %logits, %e, %c {coeff = 0.01} : (tensor<4x2x3xf32>, tensor<4x2x2xi32>, tensor<3xf32>) -> tensor<f32>
  // CHECK: %dispatched = xf.moe_dispatch
  %d = xf.moe_dispatch %x, %s {num_experts = 3, capacity = 6}
      : (tensor<4x2x8xf32>, tensor<4x2x2xi32>) -> tensor<3x6x8xf32>
  // CHECK: %expert_fc = xf.expert_linear
  %h = xf.expert_linear %d, %w1 : (tensor<3x6x8xf32>, tensor<3x12x8xf32>) -> tensor<3x6x12xf32>
  %g = xf.gelu %h : tensor<3x6x12xf32>
  %o = xf.expert_linear %g, %w2 : (tensor<3x6x12xf32>, tensor<3x8x12xf32>) -> tensor<3x6x8xf32>
  // CHECK: %combined = xf.moe_combine
  %y = xf.moe_combine %o, %w, %s
      : (tensor<3x6x8xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>) -> tensor<4x2x8xf32>
  return %y, %aux : tensor<4x2x8xf32>, tensor<f32>
}

// Dropless: a grouped buffer of s·b·k rows, the experts' products over
// their groups of it, and their gradients.
// CHECK-LABEL: func.func @moe_grouped
func.func @moe_grouped(%x: tensor<4x2x8xf32>, %logits: tensor<4x2x3xf32>,
                       %w1: tensor<3x12x8xf32>, %dy: tensor<16x12xf32>)
    -> (tensor<16x8xf32>, tensor<3x12x8xf32>) {
  // CHECK: xf.moe_route %{{.*}} {capacity = 0 : i64, top_k = 2 : i64}
  %w, %e, %s = xf.moe_route %logits {top_k = 2, capacity = 0}
      : (tensor<4x2x3xf32>) -> (tensor<4x2x2xf32>, tensor<4x2x2xi32>, tensor<4x2x2xi32>)
  // CHECK: xf.moe_dispatch {{.*}} -> tensor<16x8xf32>
  %d = xf.moe_dispatch %x, %s {num_experts = 3, capacity = 0}
      : (tensor<4x2x8xf32>, tensor<4x2x2xi32>) -> tensor<16x8xf32>
  // CHECK: xf.expert_linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x8xf32>, tensor<3x12x8xf32>, tensor<4x2x2xi32>) -> tensor<16x12xf32>
  %h = xf.expert_linear %d, %w1, %e : (tensor<16x8xf32>, tensor<3x12x8xf32>, tensor<4x2x2xi32>) -> tensor<16x12xf32>
  // CHECK: xf.expert_linear_grad_input %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x12xf32>, tensor<3x12x8xf32>, tensor<4x2x2xi32>) -> tensor<16x8xf32>
  %dx = xf.expert_linear_grad_input %dy, %w1, %e : (tensor<16x12xf32>, tensor<3x12x8xf32>, tensor<4x2x2xi32>) -> tensor<16x8xf32>
  // CHECK: xf.expert_linear_grad_weight %{{.*}}, %{{.*}}, %{{.*}} : (tensor<16x12xf32>, tensor<16x8xf32>, tensor<4x2x2xi32>) -> tensor<3x12x8xf32>
  %dw = xf.expert_linear_grad_weight %dy, %d, %e : (tensor<16x12xf32>, tensor<16x8xf32>, tensor<4x2x2xi32>) -> tensor<3x12x8xf32>
  // CHECK: xf.moe_combine {{.*}} : (tensor<16x12xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>) -> tensor<4x2x12xf32>
  %y = xf.moe_combine %h, %w, %s
      : (tensor<16x12xf32>, tensor<4x2x2xf32>, tensor<4x2x2xi32>) -> tensor<4x2x12xf32>
  return %dx, %dw : tensor<16x8xf32>, tensor<3x12x8xf32>
}

// A bf16 gradient's f32 running sum: the first contribution widened, the
// next added into it.
// CHECK-LABEL: func.func @gradient_sum
func.func @gradient_sum(%g0: tensor<4x8xbf16>, %g1: tensor<4x8xbf16>) -> tensor<4x8xf32> {
  // CHECK: %[[S:.*]] = xf.convert %{{.*}} : tensor<4x8xbf16> -> tensor<4x8xf32>
  %s = xf.convert %g0 : tensor<4x8xbf16> -> tensor<4x8xf32>
  // CHECK: xf.accumulate %[[S]], %{{.*}} : tensor<4x8xf32>, tensor<4x8xbf16>
  %t = xf.accumulate %s, %g1 : tensor<4x8xf32>, tensor<4x8xbf16>
  return %t : tensor<4x8xf32>
}
