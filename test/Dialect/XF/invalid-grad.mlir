// RUN: ckpt-opt %s -split-input-file -verify-diagnostics
// The verifier rules of the gradient ops and of xf.bias_add, one case each.

func.func @ce_grad_shape(%l: tensor<4x2x8xf32>, %y: tensor<2x4xi32>) {
  // expected-error @+1 {{result has shape [4, 2, 4] but must be [4, 2, 8]}}
  %0 = xf.cross_entropy_grad %l, %y : (tensor<4x2x8xf32>, tensor<2x4xi32>) -> tensor<4x2x4xbf16>
  return
}

// -----

// The gradient reads the forward's f32 softmax, not the bf16 logits.
func.func @ce_grad_probs(%l: tensor<4x2x8xbf16>, %y: tensor<2x4xi32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32}}
  %0 = xf.cross_entropy_grad %l, %y : (tensor<4x2x8xbf16>, tensor<2x4xi32>) -> tensor<4x2x8xbf16>
  return
}

// -----

func.func @ce_grad_labels(%l: tensor<4x2x8xf32>, %y: tensor<4x2xi32>) {
  // expected-error @+1 {{labels must be [2, 4] ([b, s] for logits [4, 2, 8]), got [4, 2]}}
  %0 = xf.cross_entropy_grad %l, %y : (tensor<4x2x8xf32>, tensor<4x2xi32>) -> tensor<4x2x8xf32>
  return
}

// -----

func.func @grad_input_shape(%dy: tensor<4x6xf32>, %w: tensor<6x3xf32>) {
  // expected-error @+1 {{weight [6, 3] must have in_features = 5 (the input's last dimension), got 3}}
  %0 = xf.linear_grad_input %dy, %w : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @grad_input_weight_rank(%dy: tensor<4x6xf32>, %w: tensor<6xf32>) {
  // expected-error @+1 {{weight must have rank 2, got [6]}}
  %0 = xf.linear_grad_input %dy, %w : (tensor<4x6xf32>, tensor<6xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @grad_weight_shape(%dy: tensor<4x6xf32>, %x: tensor<4x3xf32>) {
  // expected-error @+1 {{weight [6, 2] must have in_features = 3 (the input's last dimension), got 2}}
  %0 = xf.linear_grad_weight %dy, %x : (tensor<4x6xf32>, tensor<4x3xf32>) -> tensor<6x2xf32>
  return
}

// -----

func.func @bias_grad_shape(%dy: tensor<4x6xf32>) {
  // expected-error @+1 {{result has shape [4] but must be [6]}}
  %0 = xf.bias_grad %dy : (tensor<4x6xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dropout_grad_mask(%m: tensor<5xi1>, %dy: tensor<4xf32>) {
  // expected-error @+1 {{mask shape [5] must equal the gradient's shape [4]}}
  %0 = xf.dropout_grad %m, %dy {probability = 0.1 : f64} : (tensor<5xi1>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dropout_grad_probability(%m: tensor<4xi1>, %dy: tensor<4xf32>) {
  // expected-error @+1 {{probability must be in [0, 1), got 1.5}}
  %0 = xf.dropout_grad %m, %dy {probability = 1.5 : f64} : (tensor<4xi1>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @layer_norm_grad_types(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %dy: tensor<4x8xf32>) {
  // expected-error @+1 {{grad_weight must have type 'tensor<8xf32>', got 'tensor<4xf32>'}}
  %0:3 = xf.layer_norm_grad %x, %w, %dy : (tensor<4x8xf32>, tensor<8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>, tensor<8xf32>)
  return
}

// -----

func.func @scores_grad_shape(%q: tensor<1x2x4x4xf32>, %k: tensor<1x2x4x4xf32>, %ds: tensor<1x2x4x3xf32>) {
  // expected-error @+1 {{grad_output has shape [1, 2, 4, 3] but must be [1, 2, 4, 4]}}
  %0:2 = xf.attention_scores_grad %q, %k, %ds {scale = 1.0 : f64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x3xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @context_grad_types(%p: tensor<1x2x4x4xf32>, %v: tensor<1x2x4x3xf32>, %dc: tensor<1x2x4x3xf32>) {
  // expected-error @+1 {{grad_value must have type 'tensor<1x2x4x3xf32>', got 'tensor<1x2x4x4xf32>'}}
  %0:2 = xf.attention_context_grad %p, %v, %dc : (tensor<1x2x4x4xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4x3xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @merge_grad_shape(%dy: tensor<4x1x8xf32>) {
  // expected-error @+1 {{grad_output has shape [4, 1, 8] but must be [4, 1, 6]}}
  %0 = xf.merge_heads_grad %dy : (tensor<4x1x8xf32>) -> tensor<1x2x4x3xf32>
  return
}

// -----

func.func @split_grad_types(%dq: tensor<1x2x4x4xf32>, %dk: tensor<1x2x4x3xf32>, %dv: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{grad_key must have type 'tensor<1x2x4x4xf32>', got 'tensor<1x2x4x3xf32>'}}
  %0 = xf.split_heads_grad %dq, %dk, %dv : (tensor<1x2x4x4xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4x4xf32>) -> tensor<4x1x24xf32>
  return
}

// -----

func.func @embedding_grad_shape(%t: tensor<1x4xi32>, %dy: tensor<4x1x6xf32>) {
  // expected-error @+1 {{grad_output has shape [4, 1, 6] but must be [4, 1, 5]}}
  %0:2 = xf.embedding_grad %t, %dy : (tensor<1x4xi32>, tensor<4x1x6xf32>) -> (tensor<8x5xf32>, tensor<4x5xf32>)
  return
}

// -----

func.func @bias_add_shape(%x: tensor<4x6xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{bias must be [6] (the input's last dimension), got [4]}}
  %0 = xf.bias_add %x, %b : (tensor<4x6xf32>, tensor<4xf32>) -> tensor<4x6xf32>
  return
}

// -----

func.func @bias_add_result(%x: tensor<4x6xf32>, %b: tensor<6xf32>) {
  // expected-error @+1 {{result type must equal the input type}}
  %0 = xf.bias_add %x, %b : (tensor<4x6xf32>, tensor<6xf32>) -> tensor<6x4xf32>
  return
}

// -----

func.func @rms_norm_grad_types(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %dy: tensor<4x8xf32>) {
  // expected-error @+1 {{grad_weight must have type 'tensor<8xf32>', got 'tensor<4xf32>'}}
  %0:2 = xf.rms_norm_grad %x, %w, %dy : (tensor<4x8xf32>, tensor<8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @glu_grad_shape(%x: tensor<4x8xf32>, %dy: tensor<4x8xf32>) {
  // expected-error @+1 {{grad_output}}
  %0 = xf.glu_grad %x, %dy : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @convert_shape(%g: tensor<4x8xbf16>) {
  // expected-error @+1 {{result has shape [8, 4] but must be [4, 8] (the input's: a conversion keeps the shape)}}
  %0 = xf.convert %g : tensor<4x8xbf16> -> tensor<8x4xf32>
  return
}

// -----

func.func @accumulate_shape(%s: tensor<4x8xf32>, %g: tensor<8x4xbf16>) {
  // expected-error @+1 {{contribution has shape [8, 4] but must be [4, 8] (the sum's)}}
  %0 = xf.accumulate %s, %g : tensor<4x8xf32>, tensor<8x4xbf16>
  return
}

// -----

func.func @accumulate_result(%s: tensor<4x8xf32>, %g: tensor<4x8xbf16>) {
  // expected-error @+1 {{all of {sum, result} have same type}}
  %0 = "xf.accumulate"(%s, %g) : (tensor<4x8xf32>, tensor<4x8xbf16>) -> tensor<4x8xbf16>
  return
}

// -----

// The gradient reads the forward's merged result and its gradient in
// [s, b, a·d].
func.func @flash_grad_merged(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %o: tensor<2x4x16x8xf32>, %l: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result must have type 'tensor<16x2x32xf32>', got 'tensor<2x4x16x8xf32>'}}
  %dq, %dk, %dv = xf.flash_attention_grad %q, %k, %k, %o, %l, %o {scale = 0.35 : f64, merge_heads = true} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>)
  return
}
