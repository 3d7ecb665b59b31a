// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// Every verifier rule of the xf ops, one case each.

//===----------------------------------------------------------------------===//
// Type constraints shared by all ops
//===----------------------------------------------------------------------===//

func.func @dynamic_shape(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32, bf16 or f16}}
  %0 = xf.gelu %x : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @integer_activation(%x: tensor<4x8xi32>) -> tensor<4x8xi32> {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32, bf16 or f16}}
  %0 = xf.gelu %x : tensor<4x8xi32>
  return %0 : tensor<4x8xi32>
}

// -----

func.func @float_tokens(%t: tensor<2x4xf32>, %w: tensor<8x6xf32>, %p: tensor<4x6xf32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of i32 or i64 token ids}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xf32>, tensor<8x6xf32>, tensor<4x6xf32>) -> tensor<4x2x6xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.embedding
//===----------------------------------------------------------------------===//

// -----

// A vocabulary split over 0 ranks.
func.func @embedding_vocab_shards(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>) {
  // expected-error @+1 {{vocab_shards must be >= 1, got 0}}
  %0 = xf.embedding %t, %w {vocab_shards = 0 : i64} : (tensor<2x4xi32>, tensor<8x6xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_grad_vocab_shards(%t: tensor<2x4xi32>, %dy: tensor<4x2x6xf32>) {
  // expected-error @+1 {{vocab_shards must be >= 1, got -2}}
  %0 = xf.embedding_grad %t, %dy {vocab_shards = -2 : i64} : (tensor<2x4xi32>, tensor<4x2x6xf32>) -> tensor<8x6xf32>
  return
}

// -----

func.func @embedding_tokens_rank(%t: tensor<8xi32>, %w: tensor<8x6xf32>, %p: tensor<4x6xf32>) {
  // expected-error @+1 {{tokens must have rank 2 ([b, s]), got rank 1 [8]}}
  %0 = xf.embedding %t, %w, %p : (tensor<8xi32>, tensor<8x6xf32>, tensor<4x6xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_word_rank(%t: tensor<2x4xi32>, %w: tensor<8xf32>, %p: tensor<4x6xf32>) {
  // expected-error @+1 {{word embeddings must have rank 2 ([v, h]), got rank 1 [8]}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8xf32>, tensor<4x6xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_position_rank(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>, %p: tensor<4x6x1xf32>) {
  // expected-error @+1 {{position embeddings must have rank 2 ([p, h]), got rank 3 [4, 6, 1]}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8x6xf32>, tensor<4x6x1xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_hidden_mismatch(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>, %p: tensor<4x5xf32>) {
  // expected-error @+1 {{word and position embeddings must have the same hidden size, got 6 and 5}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8x6xf32>, tensor<4x5xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_too_few_positions(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>, %p: tensor<3x6xf32>) {
  // expected-error @+1 {{position embeddings have 3 rows but the sequence has 4 tokens; need at least 4}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8x6xf32>, tensor<3x6xf32>) -> tensor<4x2x6xf32>
  return
}

// -----

func.func @embedding_result_shape(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>, %p: tensor<4x6xf32>) {
  // expected-error @+1 {{result #0 has shape [2, 4, 6] but the operands give [4, 2, 6]}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8x6xf32>, tensor<4x6xf32>) -> tensor<2x4x6xf32>
  return
}

// -----

func.func @embedding_element_type(%t: tensor<2x4xi32>, %w: tensor<8x6xf32>, %p: tensor<4x6xbf16>) {
  // expected-error @+1 {{all floating-point operands and results must have one element type, got 'f32' and 'bf16'}}
  %0 = xf.embedding %t, %w, %p : (tensor<2x4xi32>, tensor<8x6xf32>, tensor<4x6xbf16>) -> tensor<4x2x6xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.layer_norm
//===----------------------------------------------------------------------===//

// -----

func.func @layer_norm_epsilon(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0, got 0}}
  %0 = xf.layer_norm %x, %g, %b {epsilon = 0.0 : f64} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<4x8xf32>, %g: tensor<7xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{weight must be [8] (the input's last dimension), got [7]}}
  %0 = xf.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<7xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{bias must be [8] (the input's last dimension), got [1, 8]}}
  %0 = xf.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<1x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_scalar(%x: tensor<f32>, %g: tensor<1xf32>, %b: tensor<1xf32>) {
  // expected-error @+1 {{input must have rank >= 1, got a 0-d tensor}}
  %0 = xf.layer_norm %x, %g, %b : (tensor<f32>, tensor<1xf32>, tensor<1xf32>) -> tensor<f32>
  return
}

// -----

func.func @layer_norm_result(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{result #0 has shape [8, 4] but the operands give [4, 8]}}
  %0 = xf.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8x4xf32>
  return
}

// -----

func.func @layer_norm_element_type(%x: tensor<4x8xf32>, %g: tensor<8xf16>, %b: tensor<8xf32>) {
  // expected-error @+1 {{all floating-point operands and results must have one element type, got 'f32' and 'f16'}}
  %0 = xf.layer_norm %x, %g, %b : (tensor<4x8xf32>, tensor<8xf16>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_scalar(%x: tensor<f32>, %w: tensor<4x1xf32>) {
  // expected-error @+1 {{input must have rank >= 1 ([..., in_features]), got a 0-d tensor}}
  %0 = xf.linear %x, %w : (tensor<f32>, tensor<4x1xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{weight must have rank 2 ([out_features, in_features]), got rank 1 [8]}}
  %0 = xf.linear %x, %w : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @linear_in_features(%x: tensor<2x8xf32>, %w: tensor<4x6xf32>) {
  // expected-error @+1 {{weight [4, 6] must have in_features = 8 (the input's last dimension), got 6}}
  %0 = xf.linear %x, %w : (tensor<2x8xf32>, tensor<4x6xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{bias must be [4] (out_features), got [8]}}
  %0 = xf.linear %x, %w, %b : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{result #0 has shape [2, 8] but the operands give [2, 4]}}
  %0 = xf.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @linear_element_type(%x: tensor<2x8xbf16>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{all floating-point operands and results must have one element type, got 'bf16' and 'f32'}}
  %0 = xf.linear %x, %w : (tensor<2x8xbf16>, tensor<4x8xf32>) -> tensor<2x4xbf16>
  return
}

//===----------------------------------------------------------------------===//
// xf.gelu, xf.add
//===----------------------------------------------------------------------===//

// -----

func.func @gelu_approximate(%x: tensor<4xf32>) {
  // expected-error @+1 {{approximate must be "none" or "tanh", got "sigmoid"}}
  %0 = xf.gelu %x {approximate = "sigmoid"} : tensor<4xf32>
  return
}

// -----

func.func @add_generic_types(%x: tensor<4xf32>, %y: tensor<5xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "xf.add"(%x, %y) : (tensor<4xf32>, tensor<5xf32>) -> tensor<4xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.dropout
//===----------------------------------------------------------------------===//

// -----

func.func @dropout_probability_one(%x: tensor<4xf32>) {
  // expected-error @+1 {{probability must be in [0, 1), got 1}}
  %0:2 = xf.dropout %x {probability = 1.0 : f64, rng_stream = 0 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
  return
}

// -----

func.func @dropout_probability_negative(%x: tensor<4xf32>) {
  // expected-error @+1 {{probability must be in [0, 1), got -0.5}}
  %0:2 = xf.dropout %x {probability = -0.5 : f64, rng_stream = 0 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
  return
}

// -----

func.func @dropout_stream(%x: tensor<4xf32>) {
  // expected-error @+1 {{rng_stream must be >= 0, got -1}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64, rng_stream = -1 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
  return
}

// -----

// The generator's streams are 32 bits (the runtime keys Philox with them).
func.func @dropout_stream_too_large(%x: tensor<4xf32>) {
  // expected-error @+1 {{rng_stream must be < 2^32 (the generator's streams are 32 bits), got 4294967296}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64, rng_stream = 4294967296 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
  return
}

// -----

// Every byte count fits in 64 bits.
func.func @tensor_too_large(%x: tensor<4294967296x4294967296xf32>) {
  // expected-error @+1 {{input [4294967296, 4294967296] has more bytes than a 64-bit count holds}}
  %0 = xf.gelu %x : tensor<4294967296x4294967296xf32>
  return
}

// -----

// Tensors that fit, but a product of 2^31 rows, 2^20 outputs and 2^15
// inputs whose FLOPs (2^67) do not.
func.func @flops_too_large(%x: tensor<2147483648x32768xf32>, %w: tensor<1048576x32768xf32>) {
  // expected-error @+1 {{its FLOP count does not fit in 64 bits}}
  %0 = xf.linear %x, %w : (tensor<2147483648x32768xf32>, tensor<1048576x32768xf32>) -> tensor<2147483648x1048576xf32>
  return
}

// -----

func.func @dropout_missing_stream(%x: tensor<4xf32>) {
  // expected-error @+1 {{requires attribute 'rng_stream'}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi1>
  return
}

// -----

func.func @dropout_result_type(%x: tensor<4xf32>) {
  // expected-error @+1 {{result type 'tensor<4xbf16>' must equal the input type 'tensor<4xf32>'}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64, rng_stream = 0 : i64} : tensor<4xf32> -> tensor<4xbf16>, tensor<4xi1>
  return
}

// -----

func.func @dropout_mask_shape(%x: tensor<4xf32>) {
  // expected-error @+1 {{mask shape [5] must equal the input shape [4]}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64, rng_stream = 0 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<5xi1>
  return
}

// -----

func.func @dropout_mask_type(%x: tensor<4xf32>) {
  // expected-error @+1 {{result #1 must be statically shaped tensor of i1 (one byte per element)}}
  %0:2 = xf.dropout %x {probability = 0.1 : f64, rng_stream = 0 : i64} : tensor<4xf32> -> tensor<4xf32>, tensor<4xi8>
  return
}

// -----

func.func @dropout_mask_probability() {
  // expected-error @+1 {{probability must be in [0, 1), got 1}}
  %0 = xf.dropout_mask {probability = 1.0 : f64, rng_stream = 0 : i64} : tensor<4xi1>
  return
}

// -----

func.func @dropout_mask_stream() {
  // expected-error @+1 {{rng_stream must be < 2^32 (the generator's streams are 32 bits), got 4294967296}}
  %0 = xf.dropout_mask {probability = 0.1 : f64, rng_stream = 4294967296 : i64} : tensor<4xi1>
  return
}

// -----

func.func @dropout_mask_not_a_mask() {
  // expected-error @+1 {{result #0 must be statically shaped tensor of i1 (one byte per element)}}
  %0 = xf.dropout_mask {probability = 0.1 : f64, rng_stream = 0 : i64} : tensor<4xf32>
  return
}

// -----

func.func @dropout_mask_missing_probability() {
  // expected-error @+1 {{requires attribute 'probability'}}
  %0 = xf.dropout_mask {rng_stream = 0 : i64} : tensor<4xi1>
  return
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

// -----

func.func @split_heads_rank(%x: tensor<16x96xf32>) {
  // expected-error @+1 {{qkv must have rank 3 ([s, b, (a + 2g) * d]), got rank 2 [16, 96]}}
  %q, %k, %v = xf.split_heads %x {num_heads = 4 : i64} : tensor<16x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>
  return
}

// -----

func.func @split_heads_divisible(%x: tensor<16x2x96xf32>) {
  // expected-error @+1 {{qkv's last dimension (96) must be divisible by num_heads + 2 * num_query_groups = 15}}
  %q, %k, %v = xf.split_heads %x {num_heads = 5 : i64} : tensor<16x2x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>
  return
}

// -----

func.func @split_heads_positive(%x: tensor<16x2x96xf32>) {
  // expected-error @+1 {{attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %q, %k, %v = xf.split_heads %x {num_heads = 0 : i64} : tensor<16x2x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>
  return
}

// -----

func.func @split_heads_result(%x: tensor<16x2x96xf32>) {
  // expected-error @+1 {{result #2 has shape [2, 4, 8, 16] but the operands give [2, 4, 16, 8]}}
  %q, %k, %v = xf.split_heads %x {num_heads = 4 : i64} : tensor<16x2x96xf32> -> tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>
  return
}

// -----

func.func @scores_scale(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{scale must be > 0, got -1}}
  %0 = xf.attention_scores %q, %k {scale = -1.0 : f64} : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x16xf32>
  return
}

// -----

func.func @scores_rank(%q: tensor<4x16x8xf32>, %k: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{query must have rank 4 ([b, a, s, d]), got rank 3 [4, 16, 8]}}
  %0 = xf.attention_scores %q, %k {scale = 1.0 : f64} : (tensor<4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x16xf32>
  return
}

// -----

func.func @scores_mismatch(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x16x4xf32>) {
  // expected-error @+1 {{query [2, 4, 16, 8] and key [2, 4, 16, 4] must agree in batch and head size, and the key's heads must divide the query's}}
  %0 = xf.attention_scores %q, %k {scale = 1.0 : f64} : (tensor<2x4x16x8xf32>, tensor<2x4x16x4xf32>) -> tensor<2x4x16x16xf32>
  return
}

// -----

func.func @scores_result(%q: tensor<2x4x16x8xf32>, %k: tensor<2x4x12x8xf32>) {
  // expected-error @+1 {{result #0 has shape [2, 4, 16, 16] but the operands give [2, 4, 16, 12]}}
  %0 = xf.attention_scores %q, %k {scale = 1.0 : f64} : (tensor<2x4x16x8xf32>, tensor<2x4x12x8xf32>) -> tensor<2x4x16x16xf32>
  return
}

// -----

func.func @softmax_causal_square(%x: tensor<2x4x16x12xf32>) {
  // expected-error @+1 {{a causal softmax needs equal query and key lengths in the last two dimensions, got [2, 4, 16, 12]}}
  %0 = xf.softmax %x {causal} : tensor<2x4x16x12xf32>
  return
}

// -----

func.func @softmax_causal_rank(%x: tensor<16xf32>) {
  // expected-error @+1 {{a causal softmax needs rank >= 2 ([.., sq, sk]), got [16]}}
  %0 = xf.softmax %x {causal} : tensor<16xf32>
  return
}

// -----

func.func @softmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1, got a 0-d tensor}}
  %0 = xf.softmax %x : tensor<f32>
  return
}

// -----

func.func @context_rank(%p: tensor<2x4x16x16xf32>, %v: tensor<4x16x8xf32>) {
  // expected-error @+1 {{value must have rank 4 ([b, g, sk, d]), got rank 3 [4, 16, 8]}}
  %0 = xf.attention_context %p, %v : (tensor<2x4x16x16xf32>, tensor<4x16x8xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @context_mismatch(%p: tensor<2x4x16x16xf32>, %v: tensor<2x4x12x8xf32>) {
  // expected-error @+1 {{probs [2, 4, 16, 16] and value [2, 4, 12, 8] must agree in batch, value's heads must divide probs' and probs' key length must equal value's sequence length}}
  %0 = xf.attention_context %p, %v : (tensor<2x4x16x16xf32>, tensor<2x4x12x8xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @context_element_type(%p: tensor<2x4x16x16xf16>, %v: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{all floating-point operands and results must have one element type, got 'f16' and 'f32'}}
  %0 = xf.attention_context %p, %v : (tensor<2x4x16x16xf16>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  return
}

// -----

func.func @merge_heads_rank(%x: tensor<4x16x8xf32>) {
  // expected-error @+1 {{input must have rank 4 ([b, a, s, d]), got rank 3 [4, 16, 8]}}
  %0 = xf.merge_heads %x : (tensor<4x16x8xf32>) -> tensor<16x32xf32>
  return
}

// -----

func.func @merge_heads_result(%x: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{result #0 has shape [2, 16, 32] but the operands give [16, 2, 32]}}
  %0 = xf.merge_heads %x : (tensor<2x4x16x8xf32>) -> tensor<2x16x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.cross_entropy
//===----------------------------------------------------------------------===//

// -----

func.func @loss_logits_rank(%l: tensor<32x128xf32>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{logits must have rank 3 ([s, b, v]), got rank 2 [32, 128]}}
  %0:2 = xf.cross_entropy %l, %y : (tensor<32x128xf32>, tensor<2x16xi32>) -> (tensor<f32>, tensor<32x128xf32>)
  return
}

// -----

func.func @loss_labels(%l: tensor<16x2x128xf32>, %y: tensor<16x2xi32>) {
  // expected-error @+1 {{labels must be [2, 16] ([b, s] for logits [16, 2, 128]), got [16, 2]}}
  %0:2 = xf.cross_entropy %l, %y : (tensor<16x2x128xf32>, tensor<16x2xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  return
}

// -----

func.func @cross_entropy_micro_batches(%l: tensor<16x2x128xf32>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{micro_batches must be >= 1, got 0}}
  %0:2 = xf.cross_entropy %l, %y {micro_batches = 0 : i64} : (tensor<16x2x128xf32>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  return
}

// -----

func.func @cross_entropy_grad_ignore_index(%l: tensor<16x2x128xf32>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{attribute 'ignore_index' failed to satisfy constraint: 64-bit signless integer attribute}}
  %0 = xf.cross_entropy_grad %l, %y {ignore_index = "none"} : (tensor<16x2x128xf32>, tensor<2x16xi32>) -> tensor<16x2x128xf32>
  return
}

// -----

func.func @loss_result_type(%l: tensor<16x2x128xbf16>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{result #0 must be 0-d tensor of f32}}
  %0:2 = xf.cross_entropy %l, %y : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<bf16>, tensor<16x2x128xf32>)
  return
}

// -----

// The kept softmax is f32 whatever the logits' type.
func.func @loss_probs_type(%l: tensor<16x2x128xbf16>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{result #1 must be statically shaped tensor of f32}}
  %0:2 = xf.cross_entropy %l, %y : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xbf16>)
  return
}

// -----

func.func @loss_probs_shape(%l: tensor<16x2x128xbf16>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{result #1 has shape [16, 2, 64] but the operands give [16, 2, 128]}}
  %0:2 = xf.cross_entropy %l, %y : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x64xf32>)
  return
}

// -----

func.func @cross_entropy_vocab_shards(%l: tensor<16x2x128xbf16>, %y: tensor<2x16xi32>) {
  // expected-error @+1 {{vocab_shards must be >= 1, got 0}}
  %0:2 = xf.cross_entropy %l, %y {vocab_shards = 0 : i64} : (tensor<16x2x128xbf16>, tensor<2x16xi32>) -> (tensor<f32>, tensor<16x2x128xf32>)
  return
}

//===----------------------------------------------------------------------===//
// xf.rms_norm, xf.glu
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_weight(%x: tensor<4x8xf32>, %g: tensor<7xf32>) {
  // expected-error @+1 {{weight must be [8] (the input's last dimension), got [7]}}
  %0 = xf.rms_norm %x, %g : (tensor<4x8xf32>, tensor<7xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @rms_norm_epsilon(%x: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0, got 0}}
  %0 = xf.rms_norm %x, %g {epsilon = 0.0 : f64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @glu_odd(%x: tensor<4x7xf32>) {
  // expected-error @+1 {{input must be [..., 2f] (the gate and up halves), got [4, 7]}}
  %0 = xf.glu %x : (tensor<4x7xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @glu_result(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result}}
  %0 = xf.glu %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @glu_activation(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{activation must be "silu" or "gelu", got "relu"}}
  %0 = xf.glu %x {activation = "relu"} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// xf.rope, xf.embedding without positions
//===----------------------------------------------------------------------===//

// -----

func.func @rope_odd(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{rotary_dim must be even and in (0, 8] (the head dimension), got 5}}
  %0 = xf.rope %q {rotary_dim = 5 : i64} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_too_wide(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{rotary_dim must be even and in (0, 8] (the head dimension), got 10}}
  %0 = xf.rope %q {rotary_dim = 10 : i64} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_base(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{base must be > 0, got 0}}
  %0 = xf.rope %q {base = 0.0 : f64, rotary_dim = 8 : i64} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_scaling_kind(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{scaling must be default, linear, llama3 or yarn, got "longrope"}}
  %0 = xf.rope %q {rotary_dim = 8 : i64, scaling = "longrope"} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_llama3_original(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{llama3 scaling needs original_max_position > 0}}
  %0 = xf.rope %q {factor = 8.0 : f64, rotary_dim = 8 : i64, scaling = "llama3"} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_llama3_bands(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got 4 and 1}}
  %0 = xf.rope %q {factor = 8.0 : f64, low_freq_factor = 4.0 : f64, high_freq_factor = 1.0 : f64, original_max_position = 64 : i64, rotary_dim = 8 : i64, scaling = "llama3"} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_grad_factor(%g: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{factor must be > 0, got -2}}
  %0 = xf.rope_grad %g {factor = -2.0 : f64, rotary_dim = 8 : i64, scaling = "linear"} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_magnitude(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{attention_factor must be > 0, got 0}}
  %0 = xf.rope %q {attention_factor = 0.0 : f64, factor = 2.0 : f64, original_max_position = 64 : i64, rotary_dim = 8 : i64, scaling = "yarn"} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_scaling_type(%q: tensor<2x4x16x8xf32>) {
  // expected-error @+1 {{attribute 'scaling' failed to satisfy constraint: string attribute}}
  %0 = xf.rope %q {rotary_dim = 8 : i64, scaling = 3 : i64} : tensor<2x4x16x8xf32>
  return
}

// -----

func.func @rope_rank(%q: tensor<16x8xf32>) {
  // expected-error @+1 {{input must have rank 4 ([b, a, s, d]), got rank 2 [16, 8]}}
  %0 = xf.rope %q {rotary_dim = 8 : i64} : tensor<16x8xf32>
  return
}

// -----

func.func @embedding_no_positions_hidden(%t: tensor<2x16xi32>, %w: tensor<128x32xf32>) {
  // expected-error @+1 {{result #0 has shape [16, 2, 16] but the operands give [16, 2, 32]}}
  %0 = xf.embedding %t, %w : (tensor<2x16xi32>, tensor<128x32xf32>) -> tensor<16x2x16xf32>
  return
}

// -----

func.func @gqa_groups(%qkv: tensor<16x2x40xf32>) {
  // expected-error @+1 {{num_query_groups must divide num_heads (6), got 4}}
  %q, %k, %v = xf.split_heads %qkv {num_heads = 6 : i64, num_query_groups = 4 : i64} : tensor<16x2x40xf32> -> tensor<2x6x16x4xf32>, tensor<2x4x16x4xf32>, tensor<2x4x16x4xf32>
  return
}

// -----

func.func @flash_lse_type(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>) {
  // expected-error @+1 {{result #1 has shape [2, 4, 8] but the operands give [2, 4, 16]}}
  %o, %l = xf.flash_attention %q, %k, %k {scale = 0.35 : f64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x8xf32>)
  return
}

// -----

func.func @flash_groups(%q: tensor<2x4x16x8xf32>, %k: tensor<2x3x16x8xf32>) {
  // expected-error @+1 {{query [2, 4, 16, 8] and key [2, 3, 16, 8] must agree in batch and head size, and the key's heads must divide the query's}}
  %o, %l = xf.flash_attention %q, %k, %k {scale = 0.35 : f64} : (tensor<2x4x16x8xf32>, tensor<2x3x16x8xf32>, tensor<2x3x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x16xf32>)
  return
}

// -----

// With merge_heads the result is [s, b, a·d], not the query's shape.
func.func @flash_merged_result(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>) {
  // expected-error @+1 {{result #0 has shape [2, 4, 16, 8] but the operands give [16, 2, 32]}}
  %o, %l = xf.flash_attention %q, %k, %k {scale = 0.35 : f64, merge_heads = true} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x16xf32>)
  return
}
