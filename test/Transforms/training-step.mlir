// RUN: ckpt-opt %s -split-input-file --xf-training-step -verify-diagnostics | FileCheck %s

// A residual block with a tied head: the backward runs in reverse, each
// gradient op names what it differentiates and keeps its tags, a value with
// two users sums its gradient contributions, and the tied word embedding
// gets the sum of the head's and the embedding's gradients.

// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: -> (tensor<f32> {xf.role = "loss"}, tensor<8x4xf32> {xf.grad_of = "wte"}, tensor<2x4xf32> {xf.grad_of = "wpe"}, tensor<4x4xf32> {xf.grad_of = "w"})
// CHECK-NOT: func.func @forward
// Forward, unchanged:
// CHECK:      %[[H:.*]] = xf.embedding
// CHECK-NEXT: %[[FC:.*]] = xf.linear %[[H]], %arg4
// CHECK-NEXT: %[[G:.*]] = xf.gelu %[[FC]]
// CHECK-NEXT: %[[R:.*]] = xf.add %[[H]], %[[G]]
// CHECK-NEXT: %[[LOGITS:.*]] = xf.linear %[[R]], %arg2 {xf.module = "head"}
// CHECK-NEXT: %[[LOSS:.*]], %[[PROBS:.*]] = xf.cross_entropy %[[LOGITS]], %arg1
// Backward: the loss reads its f32 softmax (not the logits); the head reads
// its input and weight.
// CHECK-NEXT: %[[DL:.*]] = xf.cross_entropy_grad %[[PROBS]], %arg1 {xf.module = "loss", xf.phase = "backward"} : (tensor<2x1x8xf32>, tensor<1x2xi32>) -> tensor<2x1x8xf32>
// CHECK-NEXT: %[[DR:.*]] = xf.linear_grad_input %[[DL]], %arg2 {xf.module = "head", xf.phase = "backward"}
// CHECK-NEXT: %[[DWTE1:.*]] = xf.linear_grad_weight %[[DL]], %[[R]] {xf.module = "head", xf.phase = "backward"}
// The residual add passes its gradient to both branches; GeLU reads its input.
// CHECK-NEXT: %[[DG:.*]] = xf.gelu_grad %[[FC]], %[[DR]] {xf.layer = 0 : i64, xf.module = "mlp", xf.phase = "backward"}
// CHECK-NEXT: %[[DH1:.*]] = xf.linear_grad_input %[[DG]], %arg4 {xf.layer = 0 : i64, xf.module = "mlp", xf.phase = "backward"}
// CHECK-NEXT: %[[DW:.*]] = xf.linear_grad_weight %[[DG]], %[[H]] {xf.layer = 0 : i64, xf.module = "mlp", xf.phase = "backward"}
// CHECK-NEXT: %[[DH:.*]] = xf.add %[[DR]], %[[DH1]] {xf.layer = 0 : i64, xf.module = "mlp", xf.phase = "backward"}
// CHECK-NEXT: %[[DWTE2:.*]], %[[DWPE:.*]] = xf.embedding_grad %arg0, %[[DH]] {xf.module = "embedding", xf.phase = "backward"}
// CHECK-NEXT: %[[DWTE:.*]] = xf.add %[[DWTE1]], %[[DWTE2]] {xf.module = "embedding", xf.phase = "backward"}
// CHECK-NEXT: return %[[LOSS]], %[[DWTE]], %[[DWPE]], %[[DW]]
func.func @forward(%tokens: tensor<1x2xi32> {xf.role = "tokens"}, %labels: tensor<1x2xi32> {xf.role = "labels"},
                   %wte: tensor<8x4xf32> {xf.role = "parameter", xf.name = "wte"},
                   %wpe: tensor<2x4xf32> {xf.role = "parameter", xf.name = "wpe"},
                   %w: tensor<4x4xf32> {xf.role = "parameter", xf.name = "w"}) -> tensor<f32> {
  %h = xf.embedding %tokens, %wte, %wpe {xf.module = "embedding"} : (tensor<1x2xi32>, tensor<8x4xf32>, tensor<2x4xf32>) -> tensor<2x1x4xf32>
  %y = xf.linear %h, %w {xf.layer = 0 : i64, xf.module = "mlp"} : (tensor<2x1x4xf32>, tensor<4x4xf32>) -> tensor<2x1x4xf32>
  %g = xf.gelu %y {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<2x1x4xf32>
  %r = xf.add %h, %g {xf.layer = 0 : i64, xf.module = "mlp"} : tensor<2x1x4xf32>
  %logits = xf.linear %r, %wte {xf.module = "head"} : (tensor<2x1x4xf32>, tensor<8x4xf32>) -> tensor<2x1x8xf32>
  %loss, %probs = xf.cross_entropy %logits, %labels {xf.module = "loss"} : (tensor<2x1x8xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x8xf32>)
  return %loss : tensor<f32>
}

// -----

// Dropout keeps only its mask; softmax only its output; the attention
// products both operands; layer norm its input and weight.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[Q:.*]], %[[K:.*]], %[[V:.*]] = xf.split_heads
// CHECK: %[[S:.*]] = xf.attention_scores %[[Q]], %[[K]]
// CHECK: %[[P:.*]] = xf.softmax %[[S]] {causal}
// CHECK: %[[PD:.*]], %[[M:.*]] = xf.dropout %[[P]]
// CHECK: %[[C:.*]] = xf.attention_context %[[PD]], %[[V]]
// CHECK: %[[DPD:.*]], %[[DV:.*]] = xf.attention_context_grad %[[PD]], %[[V]], %{{.*}} {xf.phase = "backward"}
// CHECK: %[[DP:.*]] = xf.dropout_grad %[[M]], %[[DPD]] {probability = 1.000000e-01 : f64, xf.phase = "backward"}
// CHECK: %[[DS:.*]] = xf.softmax_grad %[[P]], %[[DP]] {xf.phase = "backward"}
// CHECK: %[[DQ:.*]], %[[DK:.*]] = xf.attention_scores_grad %[[Q]], %[[K]], %[[DS]] {scale = 5.000000e-01 : f64, xf.phase = "backward"}
// CHECK: xf.split_heads_grad %[[DQ]], %[[DK]], %[[DV]] {xf.phase = "backward"}
// CHECK: xf.layer_norm_grad %arg0, %arg3, %{{.*}} {xf.phase = "backward"}
func.func @forward(%x: tensor<4x1x8xf32>, %labels: tensor<1x4xi32> {xf.role = "labels"},
                   %wqkv: tensor<24x8xf32>, %ln_w: tensor<8xf32>, %ln_b: tensor<8xf32>,
                   %head: tensor<16x8xf32>) -> tensor<f32> {
  %n = xf.layer_norm %x, %ln_w, %ln_b : (tensor<4x1x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x1x8xf32>
  %qkv = xf.linear %n, %wqkv : (tensor<4x1x8xf32>, tensor<24x8xf32>) -> tensor<4x1x24xf32>
  %q, %k, %v = xf.split_heads %qkv {num_heads = 2 : i64} : tensor<4x1x24xf32> -> tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  %s = xf.attention_scores %q, %k {scale = 0.5 : f64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = xf.softmax %s {causal} : tensor<1x2x4x4xf32>
  %pd, %m = xf.dropout %p {probability = 0.1 : f64, rng_stream = 0 : i64} : tensor<1x2x4x4xf32> -> tensor<1x2x4x4xf32>, tensor<1x2x4x4xi1>
  %c = xf.attention_context %pd, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %merged = xf.merge_heads %c : (tensor<1x2x4x4xf32>) -> tensor<4x1x8xf32>
  %logits = xf.linear %merged, %head : (tensor<4x1x8xf32>, tensor<16x8xf32>) -> tensor<4x1x16xf32>
  %loss, %probs = xf.cross_entropy %logits, %labels : (tensor<4x1x16xf32>, tensor<1x4xi32>) -> (tensor<f32>, tensor<4x1x16xf32>)
  return %loss : tensor<f32>
}

// -----

// expected-error @+1 {{no function @forward to differentiate (set the pass option forward=NAME)}}
module {
  func.func @model() {
    return
  }
}

// -----

module {
  // expected-error @+1 {{the forward function must return exactly one value, the loss, of type 'tensor<f32>'}}
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

module {
  // expected-error @+1 {{(or nothing, as a pipeline stage without the head whose sends start the backward)}}
  func.func @forward(%x: tensor<4xf32>) {
    return
  }
}

// -----

// A pipeline stage without the head: its send to the next stage starts the
// backward, which receives the gradient from there (same stage and tag), and
// the gradient of what it received goes back; the step returns gradients
// only.
module {
  func.func @forward(%w: tensor<4x4xf32> {xf.role = "parameter", xf.name = "w"}) {
    %x = ckpt.recv {stage = 0 : i64, tag = 3 : i64} : tensor<2x1x4xf32>
    %y = xf.linear %x, %w : (tensor<2x1x4xf32>, tensor<4x4xf32>) -> tensor<2x1x4xf32>
    ckpt.send %y {stage = 2 : i64, tag = 4 : i64} : tensor<2x1x4xf32>
    return
  }
}
// CHECK-LABEL: func.func @train_step(%arg0: tensor<4x4xf32> {xf.name = "w", xf.role = "parameter"}) -> (tensor<4x4xf32> {xf.grad_of = "w"})
// CHECK: %[[X:.*]] = ckpt.recv {stage = 0 : i64, tag = 3 : i64}
// CHECK: %[[Y:.*]] = xf.linear %[[X]], %arg0
// CHECK: ckpt.send %[[Y]] {stage = 2 : i64, tag = 4 : i64}
// CHECK: %[[DY:.*]] = ckpt.recv {stage = 2 : i64, tag = 4 : i64, xf.phase = "backward"}
// CHECK: %[[DX:.*]] = xf.linear_grad_input %[[DY]], %arg0
// CHECK: %[[DW:.*]] = xf.linear_grad_weight %[[DY]], %[[X]]
// CHECK: ckpt.send %[[DX]] {stage = 0 : i64, tag = 3 : i64, xf.phase = "backward"}
// CHECK: return %[[DW]] : tensor<4x4xf32>

// -----

module {
  // expected-error @+1 {{parameter #1 ('unused') does not reach the loss, so it has no gradient}}
  func.func @forward(%logits: tensor<2x1x4xf32>, %unused: tensor<4xf32> {xf.role = "parameter", xf.name = "unused"},
                     %labels: tensor<1x2xi32> {xf.role = "labels"}) -> tensor<f32> {
    %loss, %probs = xf.cross_entropy %logits, %labels : (tensor<2x1x4xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x4xf32>)
    return %loss : tensor<f32>
  }
}

// -----

module {
  func.func @forward(%x: tensor<2x1x4xf32>, %labels: tensor<1x2xi32> {xf.role = "labels"}) -> tensor<f32> {
    // expected-error @+1 {{'arith.negf' op cannot be differentiated: it implements no DifferentiableOpInterface}}
    %n = arith.negf %x : tensor<2x1x4xf32>
    %loss, %probs = xf.cross_entropy %n, %labels : (tensor<2x1x4xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x4xf32>)
    return %loss : tensor<f32>
  }
}

// -----

// The softmax a loss keeps carries no gradient of its own.
module {
  func.func @forward(%logits: tensor<2x1x4xf32>, %labels: tensor<1x2xi32> {xf.role = "labels"}) -> tensor<f32> {
    // expected-error @+1 {{'xf.cross_entropy' op has its probabilities on the way to the loss; they are kept for the gradient and carry none}}
    %loss, %probs = xf.cross_entropy %logits, %labels : (tensor<2x1x4xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x4xf32>)
    %again, %unused = xf.cross_entropy %probs, %labels : (tensor<2x1x4xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x4xf32>)
    return %again : tensor<f32>
  }
}

// -----

module {
  // expected-error @+1 {{the module already has a symbol @train_step}}
  func.func @forward(%logits: tensor<2x1x4xf32>, %labels: tensor<1x2xi32> {xf.role = "labels"}) -> tensor<f32> {
    %loss, %probs = xf.cross_entropy %logits, %labels : (tensor<2x1x4xf32>, tensor<1x2xi32>) -> (tensor<f32>, tensor<2x1x4xf32>)
    return %loss : tensor<f32>
  }
  func.func @train_step() {
    return
  }
}
