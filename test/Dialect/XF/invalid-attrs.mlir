// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// The dialect attributes (tags, argument roles and names, the model record)
// are verified wherever they appear, also on ops of other dialects.

func.func @layer_negative(%x: tensor<4xf32>) {
  // expected-error @+1 {{'xf.layer' must be a non-negative i64 layer index, got -1 : i64}}
  %0 = xf.gelu %x {xf.layer = -1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @layer_not_integer(%x: tensor<4xf32>) {
  // expected-error @+1 {{'xf.layer' must be a non-negative i64 layer index, got "0"}}
  %0 = xf.gelu %x {xf.layer = "0"} : tensor<4xf32>
  return
}

// -----

func.func @layer_i32(%x: tensor<4xf32>) {
  // expected-error @+1 {{'xf.layer' must be a non-negative i64 layer index, got 0 : i32}}
  %0 = xf.gelu %x {xf.layer = 0 : i32} : tensor<4xf32>
  return
}

// -----

func.func @module_unknown(%x: tensor<4xf32>) {
  // expected-error @+1 {{'xf.module' must be one of embedding, layernorm, qkv, core_attn, attn_proj, mlp, moe, moe_act, shared_experts, head, loss, got "mla_up_proj"}}
  %0 = xf.gelu %x {xf.module = "mla_up_proj"} : tensor<4xf32>
  return
}

// -----

// Tags on an op of another dialect are verified too.
func.func @foreign_op_tag() {
  // expected-error @+1 {{'xf.module' must be one of}}
  %0 = arith.constant {xf.module = 3 : i64} 1.0 : f32
  return
}

// -----

func.func @unknown_xf_attribute(%x: tensor<4xf32>) {
  // expected-error @+1 {{unknown xf attribute 'xf.stage'; xf defines xf.layer, xf.module, xf.phase and xf.model on operations}}
  %0 = xf.gelu %x {xf.stage = 1 : i64} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'xf.model' is allowed only on a builtin.module}}
func.func @model_on_func() attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
  return
}

// -----

// expected-error @+1 {{'xf.model' must be an #xf.model attribute, got "gpt"}}
module attributes {xf.model = "gpt"} {
}

// -----

// expected-error @+1 {{num_layers must be >= 1, got 0}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 0, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{hidden_size (8) must be divisible by num_attention_heads (3)}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 3, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{hidden_dropout must be in [0, 1), got 1}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e+00 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{params_dtype must be f32, bf16 or f16, got 'i32'}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = i32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{source must be "megatron" or "huggingface", got "onnx"}}
module attributes {xf.model = #xf.model<family = "gpt", source = "onnx", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{sequence_parallel needs tensor_model_parallel_size > 1}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false, sequence_parallel = true>} {
}

// -----

// expected-error @+1 {{tensor_model_parallel_size must be >= 1, got 0}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false, tensor_model_parallel_size = 0>} {
}

// -----

// expected-error @+1 {{data_parallel_size must be >= 1, got 0}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false, data_parallel_size = 0>} {
}

// -----

// A missing field is a parse error that names it.
// expected-error @+1 {{struct is missing required parameter: num_layers}}
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
}

// -----

// expected-error @+1 {{argument #0: 'xf.role' must be "tokens", "labels" or "parameter", got "weights"}}
func.func @bad_role(%x: tensor<4xf32> {xf.role = "weights"}) {
  return
}

// -----

// expected-error @+1 {{argument #1: 'xf.name' must be a non-empty string, got ""}}
func.func @empty_name(%x: tensor<4xf32>, %y: tensor<4xf32> {xf.name = ""}) {
  return
}

// -----

// expected-error @+1 {{argument #0: unknown xf argument attribute 'xf.shape'; xf defines xf.role and xf.name}}
func.func @unknown_arg_attr(%x: tensor<4xf32> {xf.shape = 1 : i64}) {
  return
}

// -----

func.func @phase_forward(%x: tensor<4xf32>) {
  // expected-error @+1 {{'xf.phase' must be "backward" or "recompute" (forward ops carry none), got "forward"}}
  %0 = xf.gelu %x {xf.phase = "forward"} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{result #0: 'xf.role' must be "loss", got "logits"}}
func.func @result_role(%x: tensor<f32>) -> (tensor<f32> {xf.role = "logits"}) {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{result #1: 'xf.grad_of' must name a parameter, got 3 : i64}}
func.func @result_grad_of(%x: tensor<f32>, %w: tensor<4xf32>)
    -> (tensor<f32> {xf.role = "loss"}, tensor<4xf32> {xf.grad_of = 3 : i64}) {
  return %x, %w : tensor<f32>, tensor<4xf32>
}

// -----

// expected-error @+1 {{result #0: unknown xf result attribute 'xf.name'; xf defines xf.role and xf.grad_of}}
func.func @result_unknown(%x: tensor<f32>) -> (tensor<f32> {xf.name = "loss"}) {
  return %x : tensor<f32>
}

// -----

// A layer tag names a layer of the module's model.
module attributes {xf.model = #xf.model<family = "gpt", source = "megatron", num_layers = 1, hidden_size = 8, num_attention_heads = 2, ffn_hidden_size = 32, seq_length = 4, micro_batch_size = 2, vocab_size = 16, max_position_embeddings = 4, hidden_dropout = 1.000000e-01 : f64, attention_dropout = 0.000000e+00 : f64, params_dtype = f32, untie_embeddings_and_output_weights = false>} {
  func.func @phantom_layer(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{'xf.layer' is 1 but the model (xf.model) has 1 layer, numbered from 0}}
    %y = xf.gelu %x {xf.layer = 1 : i64, xf.module = "mlp"} : tensor<4xf32>
    return %y : tensor<4xf32>
  }
}
