//===- XFOps.td - Operations of the xf dialect -------------*- tablegen -*-===//

#ifndef CKPT_DIALECT_XF_XFOPS_TD
#define CKPT_DIALECT_XF_XFOPS_TD

include "ckpt/Dialect/XF/XFAttrs.td"
include "ckpt/Dialect/XF/XFDialect.td"
include "ckpt/Interfaces/CkptInterfaces.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Every xf op is pure, names its results in the printed IR and states its
// cost; its verifier and cost come from the op table (lib/OpTable).
class XF_ComputeOp<string mnemonic, list<Trait> traits = []>
    : XF_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>,
        DeclareOpInterfaceMethods<CostOpInterface>])> {
  let hasVerifier = 1;
}

// A forward op also knows its gradient.
class XF_PureOp<string mnemonic, list<Trait> traits = []>
    : XF_ComputeOp<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<DifferentiableOpInterface>])>;

//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

def XF_EmbeddingOp : XF_PureOp<"embedding"> {
  let summary = "token embedding, plus a learned absolute position embedding";
  let description = [{
    Looks up each token id of `tokens` (`[b, s]`) in `word_embeddings`
    (`[v, h]`), adds row `j` of the optional `position_embeddings` (`[p, h]`,
    `p >= s`; absent with rotary or no position embeddings) to the token at
    position `j`, and returns the hidden states sequence-first, `[s, b, h]`.
    Token ids outside `[0, v)` are a runtime error.

    With `vocab_shards = t > 1` the vocabulary is split over the `t` ranks
    of the tensor-parallel group (Megatron's `VocabParallelEmbedding`):
    rank `r` holds rows `[r·v, (r+1)·v)` of the table, token ids are in
    `[0, t·v)`, a token on another rank's rows gives 0, and rank 0 alone adds
    the (replicated) position table, so that the sum over the group (the
    all-reduce or reduce-scatter that follows) is the whole embedding.

    ```mlir
    %h = xf.embedding %tokens, %wte, %wpe
        : (tensor<2x16xi32>, tensor<128x32xf32>, tensor<16x32xf32>)
        -> tensor<16x2x32xf32>
    ```
  }];
  let arguments = (ins XF_IndexTensor:$tokens,
                       XF_FloatTensor:$word_embeddings,
                       Optional<XF_FloatTensor>:$position_embeddings,
                       DefaultValuedAttr<I64Attr, "1">:$vocab_shards);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `,` $word_embeddings (`,` $position_embeddings^)? attr-dict
    `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Normalization, linear, activation, residual
//===----------------------------------------------------------------------===//

def XF_LayerNormOp : XF_PureOp<"layer_norm"> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + epsilon) * weight + bias`, with the
    mean and the (biased) variance taken over the last dimension of `input`.
    `weight` and `bias` are 1-D with the size of that dimension. The backward
    needs `input` (kept, counted as an activation) and the per-row mean and
    inverse deviation (`f32`, reported on their own line).

    ```mlir
    %y = xf.layer_norm %x, %gamma, %beta {epsilon = 1.0e-05 : f64}
        : (tensor<16x2x32xf32>, tensor<32xf32>, tensor<32xf32>)
        -> tensor<16x2x32xf32>
    ```
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       XF_FloatTensor:$bias,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def XF_LinearOp : XF_PureOp<"linear"> {
  let summary = "affine map of the last dimension: x * W^T + b";
  let description = [{
    Computes `input · weightᵀ + bias` over the last dimension of `input`,
    like PyTorch's `nn.Linear`: `input` is `[..., k]`, `weight` is `[n, k]`,
    the optional `bias` is `[n]`, and the result is `[..., n]`. The LM head
    is a linear without bias whose weight is the word embedding table (tied)
    or its own parameter (untied).

    ```mlir
    %qkv = xf.linear %x, %w, %b
        : (tensor<16x2x32xf32>, tensor<96x32xf32>, tensor<96xf32>)
        -> tensor<16x2x96xf32>
    ```
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       Optional<XF_FloatTensor>:$bias);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_RmsNormOp : XF_PureOp<"rms_norm"> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = [{
    `y = x / sqrt(mean(x²) + epsilon) * weight`, with the mean taken over the
    last dimension of `input` (LLaMA's RMSNorm: no centring, no bias).
    `weight` is 1-D with the size of that dimension. The backward needs
    `input` (kept, counted as an activation) and the per-row inverse
    root mean square (`f32`, reported with the layer-norm statistics).

    ```mlir
    %y = xf.rms_norm %x, %gamma {epsilon = 1.0e-05 : f64}
        : (tensor<16x2x32xf32>, tensor<32xf32>) -> tensor<16x2x32xf32>
    ```
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` functional-type(operands, results)
  }];
}

def XF_GluOp : XF_PureOp<"glu"> {
  let summary = "gated linear unit: act(gate) · up, the halves of the last dimension";
  let description = [{
    `input` `[..., 2f]` holds the gate `[..., :f]` and the up projection
    `[..., f:]` (the fused first MLP linear's output, each tensor-parallel
    rank's own halves); the result `[..., f]` is `act(gate) · up` with
    `activation = "silu"` (SwiGLU, `x · sigmoid(x)`) or `"gelu"` (GeGLU,
    exact). The backward needs `input`.

    ```mlir
    %y = xf.glu %x {activation = "silu"} : (tensor<16x2x256xf32>) -> tensor<16x2x128xf32>
    ```
  }];
  let arguments = (ins XF_FloatTensor:$input,
                       DefaultValuedStrAttr<StrAttr, "silu">:$activation);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` functional-type(operands, results)
  }];
}

def XF_GeluOp : XF_PureOp<"gelu", [SameOperandsAndResultType]> {
  let summary = "Gaussian error linear unit, elementwise";
  let description = [{
    `approximate = "none"` computes `x · Φ(x)` with the exact normal CDF
    (Megatron-LM's default); `approximate = "tanh"` computes the tanh
    approximation used by GPT-2 (`gelu_new`). The backward needs `input`.
  }];
  let arguments = (ins XF_FloatTensor:$input,
                       DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def XF_BiasAddOp : XF_PureOp<"bias_add"> {
  let summary = "add a bias over the last dimension";
  let description = [{
    `input` `[..., n]` plus `bias` `[n]`. A row-parallel linear adds its bias
    after the reduction across tensor-parallel ranks, as Megatron does.
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$bias);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def XF_AddOp : XF_PureOp<"add", [SameOperandsAndResultType, Commutative]> {
  let summary = "elementwise sum (the residual connection)";
  let arguments = (ins XF_FloatTensor:$lhs, XF_FloatTensor:$rhs);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def XF_DropoutOp : XF_PureOp<"dropout"> {
  let summary = "inverted dropout with a deterministic, reproducible mask";
  let description = [{
    Zeroes each element with probability `probability` and scales the kept
    ones by `1 / (1 - probability)`. The mask is a pure function of the run's
    seed, of `rng_stream` (unique per dropout op in a graph) and of the
    element's index (Philox4x32-10 counters in the runtime), so a recomputed
    dropout reproduces the forward mask exactly. The second result is the
    mask (`i1`, one byte per element), which the backward needs.

    ```mlir
    %y, %mask = xf.dropout %x {probability = 1.0e-01 : f64, rng_stream = 3 : i64}
        : tensor<16x2x32xf32> -> tensor<16x2x32xf32>, tensor<16x2x32xi1>
    ```
  }];
  let arguments = (ins XF_FloatTensor:$input, F64Attr:$probability,
                       I64Attr:$rng_stream);
  let results = (outs XF_FloatTensor:$result, XF_MaskTensor:$mask);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result) `,` type($mask)
  }];
}

def XF_DropoutMaskOp : XF_ComputeOp<"dropout_mask"> {
  let summary = "the mask of a dropout, regenerated without its input";
  let description = [{
    The mask that `xf.dropout` with the same `probability` and `rng_stream`
    draws for a tensor of this shape. A mask depends on the run's seed, the
    stream and the element's index only, never on the dropped values, so a
    recompute region whose backward needs a dropout's mask but not its value
    regenerates the mask alone and skips the ops that fed the dropout
    (`--ckpt-remat` makes this op; the training step has no gradient for it).

    ```mlir
    %mask = xf.dropout_mask {probability = 1.0e-01 : f64, rng_stream = 3 : i64}
        : tensor<16x2x32xi1>
    ```
  }];
  let arguments = (ins F64Attr:$probability, I64Attr:$rng_stream);
  let results = (outs XF_MaskTensor:$mask);
  let assemblyFormat = "attr-dict `:` type($mask)";
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def XF_SplitHeadsOp : XF_PureOp<"split_heads"> {
  let summary = "split a fused QKV projection into per-head Q, K and V";
  let description = [{
    `qkv` is `[s, b, (a + 2g)·d]` in Megatron-LM's layout: the last
    dimension holds, for each of the `g` query groups in turn, the group's
    `a/g` query vectors, then its key and its value vector, each of size `d`
    (`[g, a/g + 2, d]`). `num_heads` is `a`; `num_query_groups` is `g`, or
    absent for one group per head (multi-head attention: `[a, 3, d]`). The
    query is
    `[b, a, s, d]`, the key and value `[b, g, s, d]` (grouped-query
    attention shares each key and value head among `a/g` query heads).
  }];
  let arguments = (ins XF_FloatTensor:$qkv,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$num_query_groups);
  let results = (outs XF_FloatTensor:$query, XF_FloatTensor:$key,
                      XF_FloatTensor:$value);
  let assemblyFormat = [{
    $qkv attr-dict `:` type($qkv) `->` type($query) `,` type($key) `,` type($value)
  }];
}

// The rotation of xf.rope and xf.rope_grad (include/ckpt/OpTable/Rope.h).
defvar XF_RopeAttributes = (ins
    DefaultValuedAttr<F64Attr, "10000.0">:$base,
    I64Attr:$rotary_dim,
    DefaultValuedAttr<StrAttr, "\"default\"">:$scaling,
    DefaultValuedAttr<F64Attr, "1.0">:$factor,
    DefaultValuedAttr<F64Attr, "1.0">:$low_freq_factor,
    DefaultValuedAttr<F64Attr, "4.0">:$high_freq_factor,
    DefaultValuedAttr<I64Attr, "0">:$original_max_position,
    DefaultValuedAttr<F64Attr, "32.0">:$beta_fast,
    DefaultValuedAttr<F64Attr, "1.0">:$beta_slow,
    DefaultValuedAttr<BoolAttr, "true">:$truncate,
    DefaultValuedAttr<F64Attr, "1.0">:$attention_factor);

def XF_RopeOp : XF_PureOp<"rope", [SameOperandsAndResultType]> {
  let summary = "rotary position embedding of query or key heads";
  let description = [{
    Rotates the first `rotary_dim` channels of each head of `input`
    (`[b, a, s, d]`) by the angle of its position `j` (the third dimension):
    channel pairs `(i, i + rotary_dim/2)` turn by `j · base^(-2i/rotary_dim)`,
    as Megatron-LM and Hugging Face's LLaMA do (`rotate_half`); the other
    channels pass through (`rotary_percent < 1`). The backward turns the
    gradient back and keeps nothing.

    `scaling` changes the frequencies as Hugging Face's scaled rotary
    embeddings do (transformers' `modeling_rope_utils`): `"linear"` divides
    each by `factor`; `"llama3"` (Llama 3.1 to 3.3) divides those whose
    wavelength exceeds `original_max_position / low_freq_factor`, keeps
    those below `original_max_position / high_freq_factor` and blends
    between; `"yarn"` ramps from kept to divided over the pairs that turn
    between `beta_fast` and `beta_slow` times in `original_max_position`
    (`truncate`: whole pairs bound the ramp). `attention_factor` multiplies
    cos and sin (YaRN's magnitude). The importer writes `"dynamic"` as the
    default rotation: it changes nothing at the training length.

    ```mlir
    %q2 = xf.rope %q {base = 1.0e+04 : f64, rotary_dim = 8 : i64} : tensor<2x4x16x8xf32>
    %k2 = xf.rope %k {base = 5.0e+05 : f64, rotary_dim = 8 : i64, scaling = "llama3",
                      factor = 8.0 : f64, original_max_position = 8192 : i64} : tensor<2x4x16x8xf32>
    ```
  }];
  let arguments = !con((ins XF_FloatTensor:$input), XF_RopeAttributes);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def XF_FlashAttentionOp : XF_PureOp<"flash_attention"> {
  let summary = "fused attention that never stores the s² probabilities";
  let description = [{
    `softmax(scale · Q Kᵀ [causal]) V` for `query` `[b, a, s, d]` and `key`,
    `value` `[b, g, s, d]` (`g` divides `a`: grouped-query attention), row by
    row, as FlashAttention computes it: the result is `[b, a, s, d]` and
    `lse` (`[b, a, s]`, f32) holds each row's log-sum-exp of the scaled
    scores. With `probability > 0` the probabilities are dropped out with the
    mask `xf.dropout` would draw for a `[b, a, s, s]` tensor on stream
    `rng_stream`. The backward keeps Q, K, V, the result and `lse`, and
    recomputes the scores inside `xf.flash_attention_grad` (the cost model
    counts that product). With `merge_heads` the result is `[s, b, a·d]`,
    the layout Megatron's output projection reads as a view of Transformer
    Engine's `sbhd` context: no `xf.merge_heads` copy follows, and the
    projection's weight gradient and the attention gradient keep one value.

    ```mlir
    %o, %lse = xf.flash_attention %q, %k, %v {scale = 0.35355339059327373 : f64}
        : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>)
        -> (tensor<2x4x16x8xf32>, tensor<2x4x16xf32>)
    ```
  }];
  let arguments = (ins XF_FloatTensor:$query, XF_FloatTensor:$key,
                       XF_FloatTensor:$value, F64Attr:$scale,
                       DefaultValuedAttr<BoolAttr, "true">:$causal,
                       DefaultValuedAttr<F64Attr, "0.0">:$probability,
                       DefaultValuedAttr<I64Attr, "0">:$rng_stream,
                       DefaultValuedAttr<BoolAttr, "false">:$merge_heads);
  let results = (outs XF_FloatTensor:$result, XF_FloatTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` functional-type(operands, results)
  }];
}

def XF_AttentionScoresOp : XF_PureOp<"attention_scores"> {
  let summary = "scaled query-key products: Q · Kᵀ · scale";
  let description = [{
    For `query` `[b, a, sq, d]` and `key` `[b, g, sk, d]` (`g` divides `a`;
    query head `i` reads key head `i / (a/g)`) returns
    `[b, a, sq, sk]` with `scores[.., i, j] = scale · <q_i, k_j>`; usually
    `scale = 1 / sqrt(d)`. The backward needs `query` and `key`.
  }];
  let arguments = (ins XF_FloatTensor:$query, XF_FloatTensor:$key,
                       F64Attr:$scale);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key attr-dict `:` functional-type(operands, results)
  }];
}

def XF_SoftmaxOp : XF_PureOp<"softmax", [SameOperandsAndResultType]> {
  let summary = "softmax over the last dimension, optionally causally masked";
  let description = [{
    With `causal`, entry `[.., i, j]` with `j > i` is masked out (its
    probability is exactly 0) before the softmax over the last dimension; the
    last two dimensions must then be equal. The backward needs the result.
  }];
  let arguments = (ins XF_FloatTensor:$input, UnitAttr:$causal);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def XF_AttentionContextOp : XF_PureOp<"attention_context"> {
  let summary = "attention-weighted values: probs · V";
  let description = [{
    For `probs` `[b, a, sq, sk]` and `value` `[b, g, sk, d]` (`g` divides
    `a`, as for the scores) returns the per-head context `[b, a, sq, d]`.
    The backward needs both operands.
  }];
  let arguments = (ins XF_FloatTensor:$probs, XF_FloatTensor:$value);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $probs `,` $value attr-dict `:` functional-type(operands, results)
  }];
}

def XF_MergeHeadsOp : XF_PureOp<"merge_heads"> {
  let summary = "merge per-head context back into hidden states";
  let description = [{
    `[b, a, s, d]` to `[s, b, a·d]`, head-major in the last dimension, the
    layout the attention output projection expects.
  }];
  let arguments = (ins XF_FloatTensor:$input);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

// What counts in the loss: the label that marks a position out (Hugging
// Face's -100; Megatron's loss mask of 0), and the micro-batches whose
// losses the step averages (Megatron divides each by num_microbatches).
defvar XF_LossAttributes = (ins
    DefaultValuedAttr<I64Attr, "-100">:$ignore_index,
    DefaultValuedAttr<I64Attr, "1">:$micro_batches,
    DefaultValuedAttr<I64Attr, "1">:$vocab_shards);

def XF_CrossEntropyOp : XF_PureOp<"cross_entropy"> {
  let summary = "mean token-level cross-entropy of logits against labels";
  let description = [{
    `logits` is `[s, b, v]`, `labels` is `[b, s]` (integer class ids in
    `[0, v)`, or `ignore_index` for a position that does not count). Returns
    the mean over the `n` counted tokens of `logsumexp(logits) -
    logits[label]`, divided by `micro_batches` (the step's loss is the mean
    of its micro-batches' losses, as in Megatron), computed in `f32`, as a
    0-d tensor; 0 when no token counts.

    `probs` is `softmax(logits)` in `f32` (0 on a position that does not
    count): what the gradient reads. As Megatron's cross-entropy (which
    upcasts the logits with `.float()` and saves the normalized
    `exp_logits`), the backward keeps 4 bytes per logit whatever the
    logits' type, and not the logits themselves.

    With `vocab_shards = t > 1` the vocabulary is split over the `t` ranks
    of the tensor-parallel group (Megatron's
    `vocab_parallel_cross_entropy`): rank `r` holds the logits of classes
    `[r·v, (r+1)·v)`, labels are in `[0, t·v)`, and each row's maximum, its
    sum of exponentials and its label's logit are reduced over the group.
    Each rank keeps its slice of `probs` and returns the whole loss.

    ```mlir
    %loss, %probs = xf.cross_entropy %logits, %labels
        : (tensor<16x2x128xbf16>, tensor<2x16xi32>)
        -> (tensor<f32>, tensor<16x2x128xf32>)
    ```
  }];
  let arguments = !con((ins XF_FloatTensor:$logits, XF_IndexTensor:$labels),
                       XF_LossAttributes);
  let results = (outs XF_LossTensor:$result, XF_ProbsTensor:$probs);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient ops: what the training-step pass emits for the backward. Each is
// named after the op it differentiates and reads only what that op's
// DifferentiableOpInterface declares.
//===----------------------------------------------------------------------===//

class XF_GradOp<string mnemonic, list<Trait> traits = []>
    : XF_ComputeOp<mnemonic, traits>;

def XF_CrossEntropyGradOp : XF_GradOp<"cross_entropy_grad"> {
  let summary = "gradient of the mean cross-entropy with respect to logits";
  let description = [{
    `(probs - onehot(labels)) / (n · micro_batches)` on the `n` counted
    positions, 0 on those labelled `ignore_index`: the gradient of the loss
    for an upstream gradient of 1 (the loss is the step's output). `probs`
    is the forward's `f32` softmax; the result has the logits' type. With
    `vocab_shards = t`, each rank's slice of the classes, with no
    communication.
  }];
  let arguments = !con((ins XF_ProbsTensor:$probs, XF_IndexTensor:$labels),
                       XF_LossAttributes);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $probs `,` $labels attr-dict `:` functional-type(operands, results)
  }];
}

def XF_LinearGradInputOp : XF_GradOp<"linear_grad_input"> {
  let summary = "input gradient of a linear: dY · W";
  let arguments = (ins XF_FloatTensor:$grad_output, XF_FloatTensor:$weight);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output `,` $weight attr-dict `:` functional-type(operands, results)
  }];
}

def XF_LinearGradWeightOp : XF_GradOp<"linear_grad_weight"> {
  let summary = "weight gradient of a linear: dYᵀ · X over all rows";
  let arguments = (ins XF_FloatTensor:$grad_output, XF_FloatTensor:$input);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output `,` $input attr-dict `:` functional-type(operands, results)
  }];
}

def XF_BiasGradOp : XF_GradOp<"bias_grad"> {
  let summary = "bias gradient: the sum of dY over all but the last dimension";
  let arguments = (ins XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

def XF_GeluGradOp : XF_GradOp<"gelu_grad", [SameOperandsAndResultType]> {
  let summary = "input gradient of GeLU: dY · gelu'(x)";
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$grad_output,
                       DefaultValuedStrAttr<StrAttr, "none">:$approximate);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = "$input `,` $grad_output attr-dict `:` type($grad)";
}

def XF_DropoutGradOp : XF_GradOp<"dropout_grad"> {
  let summary = "input gradient of dropout: dY · mask / (1 - p)";
  let arguments = (ins XF_MaskTensor:$mask, XF_FloatTensor:$grad_output,
                       F64Attr:$probability);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $mask `,` $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

def XF_LayerNormGradOp : XF_GradOp<"layer_norm_grad"> {
  let summary = "gradients of layer norm for its input, weight and bias";
  let description = [{
    Recomputes the per-row mean and inverse deviation from `input` (the
    runtime's statistics are a deterministic function of it) and returns the
    gradients of `input`, `weight` and `bias`.
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       XF_FloatTensor:$grad_output,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs XF_FloatTensor:$grad_input, XF_FloatTensor:$grad_weight,
                      XF_FloatTensor:$grad_bias);
  let assemblyFormat = [{
    $input `,` $weight `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_RmsNormGradOp : XF_GradOp<"rms_norm_grad"> {
  let summary = "gradients of RMS norm for its input and weight";
  let description = [{
    Recomputes the per-row inverse root mean square from `input` and returns
    the gradients of `input` and `weight`.
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       XF_FloatTensor:$grad_output,
                       DefaultValuedAttr<F64Attr, "1.0e-5">:$epsilon);
  let results = (outs XF_FloatTensor:$grad_input, XF_FloatTensor:$grad_weight);
  let assemblyFormat = [{
    $input `,` $weight `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_GluGradOp : XF_GradOp<"glu_grad"> {
  let summary = "input gradient of a gated linear unit: [dY · up · act'(gate), dY · act(gate)]";
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$grad_output,
                       DefaultValuedStrAttr<StrAttr, "silu">:$activation);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $input `,` $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

def XF_RopeGradOp : XF_GradOp<"rope_grad", [SameOperandsAndResultType]> {
  let summary = "input gradient of a rotary embedding: the inverse rotation";
  let arguments = !con((ins XF_FloatTensor:$grad_output), XF_RopeAttributes);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = "$grad_output attr-dict `:` type($grad)";
}

def XF_ConvertOp : XF_GradOp<"convert"> {
  let summary = "the same values in another float type";
  let description = [{
    Each element of `input` rounded to the result's element type (to
    nearest even), the shape unchanged. A pipelined step widens a bf16 or
    f16 parameter's first gradient contribution into its f32 running sum
    this way (Megatron's `main_grad`).
  }];
  let arguments = (ins XF_FloatTensor:$input);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($result)
  }];
}

def XF_AccumulateOp : XF_GradOp<"accumulate",
    [AllTypesMatch<["sum", "result"]>]> {
  let summary = "a gradient contribution added into its running sum";
  let description = [{
    `sum + contribution` in `sum`'s element type, `contribution` of the same
    shape in any float type (widened first): a pipelined step's
    accumulation of a bf16 or f16 gradient into its f32 buffer, as
    Megatron's `main_grad.add_(grad)` with
    `accumulate_allreduce_grads_in_fp32`.
  }];
  let arguments = (ins XF_FloatTensor:$sum, XF_FloatTensor:$contribution);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $sum `,` $contribution attr-dict `:` type($sum) `,` type($contribution)
  }];
}

def XF_FlashAttentionGradOp : XF_GradOp<"flash_attention_grad"> {
  let summary = "gradients of fused attention, recomputing the scores";
  let description = [{
    From Q, K, V, the forward's result and `lse`, and the result's gradient:
    each row's probabilities are rebuilt as `exp(scale · q kᵀ - lse)` (and
    the same dropout mask), then `dV = Pᵀ dO`, `dS = P ⊙ (dO Vᵀ - rowsum(dO ⊙
    O))`, `dQ = scale · dS K`, `dK = scale · dSᵀ Q`; a group's key and value
    gradients sum its heads in order. `merge_heads` is the forward's: the
    result and its gradient are then `[s, b, a·d]`.
  }];
  let arguments = (ins XF_FloatTensor:$query, XF_FloatTensor:$key,
                       XF_FloatTensor:$value, XF_FloatTensor:$result,
                       XF_FloatTensor:$lse, XF_FloatTensor:$grad_output,
                       F64Attr:$scale,
                       DefaultValuedAttr<BoolAttr, "true">:$causal,
                       DefaultValuedAttr<F64Attr, "0.0">:$probability,
                       DefaultValuedAttr<I64Attr, "0">:$rng_stream,
                       DefaultValuedAttr<BoolAttr, "false">:$merge_heads);
  let results = (outs XF_FloatTensor:$grad_query, XF_FloatTensor:$grad_key,
                      XF_FloatTensor:$grad_value);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $result `,` $lse `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_SoftmaxGradOp : XF_GradOp<"softmax_grad", [SameOperandsAndResultType]> {
  let summary = "input gradient of softmax from its output: y ⊙ (dY - Σ dY ⊙ y)";
  let arguments = (ins XF_FloatTensor:$output, XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = "$output `,` $grad_output attr-dict `:` type($grad)";
}

def XF_AttentionScoresGradOp : XF_GradOp<"attention_scores_grad"> {
  let summary = "query and key gradients of the scaled scores";
  let description = [{
    `dQ = scale · dS · K` and `dK = scale · dSᵀ · Q` per batch and head.
  }];
  let arguments = (ins XF_FloatTensor:$query, XF_FloatTensor:$key,
                       XF_FloatTensor:$grad_output, F64Attr:$scale);
  let results = (outs XF_FloatTensor:$grad_query, XF_FloatTensor:$grad_key);
  let assemblyFormat = [{
    $query `,` $key `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_AttentionContextGradOp : XF_GradOp<"attention_context_grad"> {
  let summary = "probs and value gradients of probs · V";
  let description = [{
    `dP = dC · Vᵀ` and `dV = Pᵀ · dC` per batch and head.
  }];
  let arguments = (ins XF_FloatTensor:$probs, XF_FloatTensor:$value,
                       XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad_probs, XF_FloatTensor:$grad_value);
  let assemblyFormat = [{
    $probs `,` $value `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_MergeHeadsGradOp : XF_GradOp<"merge_heads_grad"> {
  let summary = "gradient of merge_heads: [s, b, a·d] back to [b, a, s, d]";
  let arguments = (ins XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

def XF_SplitHeadsGradOp : XF_GradOp<"split_heads_grad"> {
  let summary = "gradient of split_heads: Q, K, V gradients back into [s, b, 3h]";
  let arguments = (ins XF_FloatTensor:$grad_query, XF_FloatTensor:$grad_key,
                       XF_FloatTensor:$grad_value);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_query `,` $grad_key `,` $grad_value attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_EmbeddingGradOp : XF_GradOp<"embedding_grad"> {
  let summary = "word and position embedding gradients";
  let description = [{
    Scatter-adds row `[j, i]` of `grad_output` (`[s, b, h]`) into row
    `tokens[i, j]` of the word gradient and row `j` of the position gradient
    (when the embedding has a position table); all other rows are zero.
    With `vocab_shards = t`, each rank's rows of the word table only (the
    whole `grad_output` on every rank; the position gradient is whole).
  }];
  let arguments = (ins XF_IndexTensor:$tokens, XF_FloatTensor:$grad_output,
                       DefaultValuedAttr<I64Attr, "1">:$vocab_shards);
  let results = (outs XF_FloatTensor:$grad_word,
                      Optional<XF_FloatTensor>:$grad_position);
  let assemblyFormat = [{
    $tokens `,` $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

include "ckpt/Dialect/XF/XFMoeOps.td"

#endif // CKPT_DIALECT_XF_XFOPS_TD
