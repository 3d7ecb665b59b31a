//===- OpRules.h - Shape rules shared by the op table's entries -*- C++ -*-===//
//
// Internal to the op table: each group of entries lives in its own file, and
// the shape rules that several entries share (a linear's, an attention
// product's) are written once here.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_OPRULES_H
#define CKPT_OPTABLE_OPRULES_H

#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/OpTable/Rope.h"

namespace ckpt::ops::detail {

void addForwardOps(std::vector<OpDef> &ops);
void addGradientOps(std::vector<OpDef> &ops);
void addCollectiveOps(std::vector<OpDef> &ops);
void addMoeOps(std::vector<OpDef> &ops);
void addFusedOps(std::vector<OpDef> &ops);

/// Rules that fused entries reuse from the ones they combine.
bool linearRule(RuleContext &r);
OpCost linearCost(const OpInstance &op);
/// The probability and the generator stream of a dropout or its mask.
bool checkDropoutAttrs(RuleContext &r);

/// Appends a gradient op: it keeps nothing for a backward of its own.
void addGradientOp(std::vector<OpDef> &ops, std::string_view name,
                   std::vector<TensorSpec> inputs,
                   std::vector<TensorSpec> outputs, std::vector<AttrSpec> attrs,
                   ShapeRule rule, CostRule cost);

/// A number as a person writes it: 0.5, 1, -1e-06.
std::string formatNumber(double value);

/// Elements of operand or result tensors (0 when they overflow: the
/// verifiers reject such shapes before anything asks for a cost).
int64_t elements(const TensorDesc &tensor);
/// Rows of a [..., n] tensor: elements / n.
int64_t rows(const TensorDesc &tensor);

/// The product of `factors`, or INT64_MAX when it does not fit (costs
/// saturate; verifyOp reports a saturated cost).
int64_t product(std::initializer_list<int64_t> factors);

// Shape rules: each returns false after RuleContext::fail, else sets `out`.

/// tokens [b, s], word [v, h], positions [p, h] with p >= s (or none)
/// -> [s, b, h].
bool embeddingShape(RuleContext &r, const Shape &tokens, const Shape &word,
                    const Shape *positions, Shape &out);
/// input [..., h], weight [h], bias [h] -> input's shape.
bool layerNormShape(RuleContext &r, const Shape &input, const Shape &weight,
                    const Shape &bias, Shape &out);
/// input [..., k], weight [n, k], optional bias [n] -> [..., n].
bool linearShape(RuleContext &r, const Shape &input, const Shape &weight,
                 const Shape *bias, Shape &out);
/// qkv [s, b, (a + 2g)·d] over `heads` (a) query heads in `groups` (g, 0:
/// one per head) -> Q [b, a, s, d], K and V [b, g, s, d].
bool splitHeadsShape(RuleContext &r, const Shape &qkv, int64_t heads,
                     int64_t groups, Shape &query, Shape &keyValue);
/// query [b, a, sq, d], key [b, a, sk, d] -> [b, a, sq, sk].
bool attentionScoresShape(RuleContext &r, const Shape &query, const Shape &key,
                          Shape &out);
/// probs [b, a, sq, sk], value [b, a, sk, d] -> [b, a, sq, d].
bool attentionContextShape(RuleContext &r, const Shape &probs,
                           const Shape &value, Shape &out);
/// [b, a, s, d] -> [s, b, a * d].
bool mergeHeadsShape(RuleContext &r, const Shape &input, Shape &out);
/// logits [s, b, v], labels [b, s] -> []; micro_batches >= 1.
/// `vocab_shards` is >= 1.
bool vocabShards(RuleContext &r);
bool crossEntropyShape(RuleContext &r, const Shape &logits,
                       const Shape &labels);
/// A causal softmax needs square trailing dimensions.
bool softmaxShape(RuleContext &r, const Shape &input, bool causal);

/// The checks of a layer norm's epsilon, a dropout's probability, a
/// GeLU's approximation and an attention scale.
bool checkEpsilon(RuleContext &r);
bool checkProbability(RuleContext &r);
bool checkApproximate(RuleContext &r);
bool checkScale(RuleContext &r);
/// The number attribute `name` of `op` (a program may write 0.0 as 0), or
/// `fallback` when absent.
double numberAttr(const OpInstance &op, std::string_view name, double fallback);
/// Whether a gated linear unit's `activation` is "gelu" (else "silu").
bool isGeluGlu(const OpInstance &op);
/// A gated linear unit's activation: "silu" or "gelu".
bool checkGluActivation(RuleContext &r);
/// input [..., 2f] -> [..., f].
bool gluShape(RuleContext &r, const Shape &input, Shape &out);
/// The attributes of fused attention and of its gradient.
std::vector<AttrSpec> flashAttentionAttrs();
/// Fused attention's arithmetic: `products` attention products of
/// 2·b·a·sq·sk·d each, and `perScore` other FLOPs per score (2 more with
/// dropout).
OpCost flashAttentionCost(const OpInstance &op, int64_t products,
                          int64_t perScore);
/// A rotation of the first rotary_dim channels: 3 FLOPs per rotated element
/// (two products and a sum); the angles are a table of s · rotary_dim/2.
OpCost ropeCost(const OpInstance &op);
/// Fused attention's query [b, a, s, d], key and value [b, g, s, d] (g
/// divides a; equal lengths when causal), scale and dropout probability.
bool flashAttentionShape(RuleContext &r, const Shape &query, const Shape &key,
                         const Shape &value);
/// Fused attention's result: the query's [b, a, s, d], or with merge_heads
/// [s, b, a·d], Megatron's layout of the context that the output projection
/// reads as a view (Transformer Engine's sbhd), so no copy is kept beside it.
Shape flashAttentionResultShape(const RuleContext &r, const Shape &query);
/// A rotary embedding's input [b, a, s, d], rotary_dim (even, in (0, d])
/// and base (> 0).
bool checkRope(RuleContext &r, const Shape &input);
/// input [..., n], weight [n] -> input's shape.
bool rmsNormShape(RuleContext &r, const Shape &input, const Shape &weight,
                  Shape &out);

} // namespace ckpt::ops::detail

#endif // CKPT_OPTABLE_OPRULES_H
