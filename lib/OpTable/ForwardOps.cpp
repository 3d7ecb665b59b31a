//===- ForwardOps.cpp - Table entries of the xf forward ops ---------------===//
//
// FLOPs: matrix multiplies count 2·m·n·k; the per-element constants of the
// other ops are those of docs/cost-model.md.
//
//===----------------------------------------------------------------------===//

#include "OpRules.h"

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

namespace {
using R = RuleContext;
constexpr TensorKind kFloat = TensorKind::Float;
constexpr TensorKind kIndex = TensorKind::Index;

/// `perElement` FLOPs per element of the operand (or result) `tensor`.
OpCost elementwise(int64_t perElement, const TensorDesc &tensor) {
  return {0, product({perElement, elements(tensor)})};
}

bool embeddingRule(R &r) {
  Shape out;
  const Shape *positions = r.hasInput(2) ? &r.in(2) : nullptr;
  if (!vocabShards(r) || !r.sameElementType({R::In(1), R::In(2), R::Out(0)}) ||
      !embeddingShape(r, r.in(0), r.in(1), positions, out))
    return false;
  r.setOutput(0, out, r.inType(1));
  return true;
}

bool layerNormRule(R &r) {
  Shape out;
  if (!checkEpsilon(r) ||
      !r.sameElementType({R::In(0), R::In(1), R::In(2), R::Out(0)}) ||
      !layerNormShape(r, r.in(0), r.in(1), r.in(2), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

bool rmsNormRule(R &r) {
  Shape out;
  if (!checkEpsilon(r) || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !rmsNormShape(r, r.in(0), r.in(1), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

bool gluRule(R &r) {
  Shape out;
  if (!checkGluActivation(r) || !r.sameElementType({R::In(0), R::Out(0)}) ||
      !gluShape(r, r.in(0), out))
    return false;
  if (const TensorDesc *result = r.peek(0))
    if (!r.expectShape(result->shape, out, "result"))
      return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

/// FLOPs per output element of a gated linear unit: the activation (SiLU
/// 4, exact GeLU 8, as gelu) and the product.
int64_t gluPerElement(const OpInstance &op) { return isGeluGlu(op) ? 9 : 5; }

} // namespace

bool ckpt::ops::detail::linearRule(RuleContext &r) {
  Shape out;
  const Shape *bias = r.hasInput(2) ? &r.in(2) : nullptr;
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0), R::In(2)}) ||
      !linearShape(r, r.in(0), r.in(1), bias, out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

OpCost ckpt::ops::detail::linearCost(const OpInstance &op) {
  int64_t n = op.inputs[1].shape[0], k = op.inputs[1].shape[1];
  int64_t m = rows(op.inputs[0]);
  return {product({2, m, n, k}), op.inputs.size() == 3 ? product({m, n}) : 0};
}

namespace {

bool geluRule(R &r) {
  if (!checkApproximate(r) || !r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool biasAddRule(R &r) {
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  const Shape &input = r.in(0);
  if (input.empty() || r.in(1) != Shape{input.back()})
    return r.fail(
        "bias must be [" + std::to_string(input.empty() ? 0 : input.back()) +
        "] (the input's last dimension), got " + formatShape(r.in(1)));
  if (const TensorDesc *result = r.peek(0))
    if (result->shape != input || result->type != r.inType(0))
      return r.fail("result type must equal the input type");
  r.setOutput(0, input, r.inType(0));
  return true;
}

bool addRule(R &r) {
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  if (r.in(1) != r.in(0))
    return r.fail("operands must have one shape, got " + formatShape(r.in(0)) +
                  " and " + formatShape(r.in(1)));
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

} // namespace

bool ckpt::ops::detail::checkDropoutAttrs(RuleContext &r) {
  if (!checkProbability(r))
    return false;
  int64_t stream = r.i64("rng_stream");
  if (stream < 0)
    return r.fail("rng_stream must be >= 0, got " + std::to_string(stream));
  if (stream > 0xffffffffLL)
    return r.fail("rng_stream must be < 2^32 (the generator's streams are 32 "
                  "bits), got " +
                  std::to_string(stream));
  return true;
}

namespace {

bool dropoutRule(R &r) {
  if (!checkDropoutAttrs(r))
    return false;
  const TensorDesc &input = r.input(0);
  if (const TensorDesc *result = r.peek(0))
    if (result->shape != input.shape || result->type != input.type)
      return r.fail("result type " + formatTensorType(*result) +
                    " must equal the input type " + formatTensorType(input));
  if (const TensorDesc *mask = r.peek(1))
    if (mask->shape != input.shape)
      return r.fail("mask shape " + formatShape(mask->shape) +
                    " must equal the input shape " + formatShape(input.shape));
  r.setOutput(0, input.shape, input.type);
  r.setOutput(1, input.shape, ElementType::I1);
  return true;
}

/// No operand: the shape is the given result's (never inferred).
bool dropoutMaskRule(R &r) {
  const TensorDesc *mask = r.given(0);
  if (!mask || !checkDropoutAttrs(r))
    return false;
  r.setOutput(0, mask->shape, ElementType::I1);
  return true;
}

bool splitHeadsRule(R &r) {
  Shape query, keyValue;
  if (!r.sameElementType({R::In(0), R::Out(0), R::Out(1), R::Out(2)}) ||
      !splitHeadsShape(r, r.in(0), r.i64("num_heads"),
                       r.i64("num_query_groups"), query, keyValue))
    return false;
  r.setOutput(0, query, r.inType(0));
  r.setOutput(1, keyValue, r.inType(0));
  r.setOutput(2, keyValue, r.inType(0));
  return true;
}

bool ropeRule(R &r) {
  if (!r.sameElementType({R::In(0), R::Out(0)}) || !checkRope(r, r.in(0)))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool flashAttentionRule(R &r) {
  const Shape &q = r.in(0);
  if (!r.sameElementType({R::In(0), R::In(1), R::In(2), R::Out(0)}) ||
      !flashAttentionShape(r, q, r.in(1), r.in(2)))
    return false;
  r.setOutput(0, flashAttentionResultShape(r, q), r.inType(0));
  r.setOutput(1, {q[0], q[1], q[2]}, ElementType::F32);
  return true;
}

/// Two products (scores and context), the scale and the softmax as the
/// unfused ops count them (and the dropout).
OpCost flashAttentionForwardCost(const OpInstance &op) {
  return flashAttentionCost(op, 2, 6);
}

bool attentionScoresRule(R &r) {
  Shape out;
  if (!checkScale(r) || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !attentionScoresShape(r, r.in(0), r.in(1), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

/// b·a·sq·sk·d multiply-adds: one batched attention product.
int64_t attentionProduct(const Shape &query, int64_t keyLength) {
  return product({2, query[0], query[1], query[2], keyLength, query[3]});
}

OpCost attentionScoresCost(const OpInstance &op) {
  return {attentionProduct(op.inputs[0].shape, op.inputs[1].shape[2]),
          elements(op.outputs[0])};
}

bool softmaxRule(R &r) {
  if (!r.sameElementType({R::In(0), R::Out(0)}) ||
      !softmaxShape(r, r.in(0), r.flag("causal")))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool attentionContextRule(R &r) {
  Shape out;
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !attentionContextShape(r, r.in(0), r.in(1), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

OpCost attentionContextCost(const OpInstance &op) {
  const Shape &p = op.inputs[0].shape;
  return {product({2, p[0], p[1], p[2], p[3], op.inputs[1].shape[3]}), 0};
}

bool mergeHeadsRule(R &r) {
  Shape out;
  if (!r.sameElementType({R::In(0), R::Out(0)}) ||
      !mergeHeadsShape(r, r.in(0), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

bool crossEntropyRule(R &r) {
  if (!crossEntropyShape(r, r.in(0), r.in(1)))
    return false;
  r.setOutput(0, {}, ElementType::F32);
  // The softmax its gradient reads, in f32 whatever the logits' type.
  r.setOutput(1, r.in(0), ElementType::F32);
  return true;
}
} // namespace

void detail::addForwardOps(std::vector<OpDef> &ops) {
  auto none = [](const OpInstance &) { return OpCost{}; };
  ops.push_back(
      {"embedding",
       OpClass::Forward,
       {{"tokens", kIndex},
        {"word_embeddings", kFloat},
        {"position_embeddings", kFloat, /*optional=*/true}},
       {{"result"}},
       {vocabShardsAttrSpec()},
       embeddingRule,
       [](const OpInstance &op) { return elementwise(1, op.outputs[0]); },
       {0},
       {}});
  ops.push_back(
      {"layer_norm",
       OpClass::Forward,
       {{"input"}, {"weight"}, {"bias"}},
       {{"result"}},
       {{"epsilon", AttrKind::Float, AttrValue(1.0e-5)}},
       layerNormRule,
       [](const OpInstance &op) { return elementwise(8, op.inputs[0]); },
       {0, 1},
       {},
       /*statisticsPerRow=*/2});
  ops.push_back(
      {"rms_norm",
       OpClass::Forward,
       {{"input"}, {"weight"}},
       {{"result"}},
       {{"epsilon", AttrKind::Float, AttrValue(1.0e-5)}},
       rmsNormRule,
       [](const OpInstance &op) { return elementwise(4, op.inputs[0]); },
       {0, 1},
       {},
       /*statisticsPerRow=*/1});
  ops.push_back({"glu",
                 OpClass::Forward,
                 {{"input"}},
                 {{"result"}},
                 {{"activation", AttrKind::String, AttrValue("silu")}},
                 gluRule,
                 [](const OpInstance &op) {
                   return elementwise(gluPerElement(op), op.outputs[0]);
                 },
                 {0},
                 {}});
  ops.push_back({"linear",
                 OpClass::Forward,
                 {{"input"}, {"weight"}, {"bias", kFloat, /*optional=*/true}},
                 {{"result"}},
                 {},
                 linearRule,
                 linearCost,
                 {0, 1},
                 {}});
  ops.back().tensorParallelResult = TensorParallelResult::Sharded;
  ops.push_back(
      {"gelu",
       OpClass::Forward,
       {{"input"}},
       {{"result"}},
       {{"approximate", AttrKind::String, AttrValue("none")}},
       geluRule,
       [](const OpInstance &op) { return elementwise(8, op.inputs[0]); },
       {0},
       {}});
  ops.push_back(
      {"bias_add",
       OpClass::Forward,
       {{"input"}, {"bias"}},
       {{"result"}},
       {},
       biasAddRule,
       [](const OpInstance &op) { return elementwise(1, op.outputs[0]); },
       {},
       {}});
  ops.push_back(
      {"add",
       OpClass::Forward,
       {{"lhs"}, {"rhs"}},
       {{"result"}},
       {},
       addRule,
       [](const OpInstance &op) { return elementwise(1, op.outputs[0]); },
       {},
       {}});
  ops.push_back(
      {"dropout",
       OpClass::Forward,
       {{"input"}},
       {{"result"}, {"mask", TensorKind::Mask}},
       {{"probability", AttrKind::Float, std::nullopt},
        {"rng_stream", AttrKind::Int, std::nullopt}},
       dropoutRule,
       [](const OpInstance &op) { return elementwise(2, op.inputs[0]); },
       {},
       {1}});
  ops.back().maskOutput = 1;
  ops.back().maskOp = "dropout_mask";
  ops.push_back(
      {"dropout_mask",
       OpClass::Forward,
       {},
       {{"mask", TensorKind::Mask}},
       {{"probability", AttrKind::Float, std::nullopt},
        {"rng_stream", AttrKind::Int, std::nullopt}},
       dropoutMaskRule,
       [](const OpInstance &op) { return elementwise(1, op.outputs[0]); },
       {},
       {}});
  ops.push_back({"split_heads",
                 OpClass::Forward,
                 {{"qkv"}},
                 {{"query"}, {"key"}, {"value"}},
                 {{"num_heads", AttrKind::Int, std::nullopt},
                  {"num_query_groups", AttrKind::Int, AttrValue(int64_t(0))}},
                 splitHeadsRule,
                 none,
                 {},
                 {}});
  ops.push_back({"rope",
                 OpClass::Forward,
                 {{"input"}},
                 {{"result"}},
                 ropeAttrSpecs(),
                 ropeRule,
                 ropeCost,
                 {},
                 {}});
  ops.push_back({"flash_attention",
                 OpClass::Forward,
                 {{"query"}, {"key"}, {"value"}},
                 {{"result"}, {"lse"}},
                 flashAttentionAttrs(),
                 flashAttentionRule,
                 flashAttentionForwardCost,
                 {0, 1, 2},
                 {0, 1}});
  ops.push_back({"attention_scores",
                 OpClass::Forward,
                 {{"query"}, {"key"}},
                 {{"result"}},
                 {{"scale", AttrKind::Float, std::nullopt}},
                 attentionScoresRule,
                 attentionScoresCost,
                 {0, 1},
                 {}});
  ops.push_back(
      {"softmax",
       OpClass::Forward,
       {{"input"}},
       {{"result"}},
       {{"causal", AttrKind::Bool, AttrValue(false)}},
       softmaxRule,
       [](const OpInstance &op) { return elementwise(5, op.inputs[0]); },
       {},
       {0}});
  ops.push_back({"attention_context",
                 OpClass::Forward,
                 {{"probs"}, {"value"}},
                 {{"result"}},
                 {},
                 attentionContextRule,
                 attentionContextCost,
                 {0, 1},
                 {}});
  ops.push_back({"merge_heads",
                 OpClass::Forward,
                 {{"input"}},
                 {{"result"}},
                 {},
                 mergeHeadsRule,
                 none,
                 {},
                 {}});
  ops.push_back(
      {"cross_entropy",
       OpClass::Forward,
       {{"logits"}, {"labels", kIndex}},
       {{"result", TensorKind::Loss}, {"probs"}},
       lossAttrSpecs(),
       crossEntropyRule,
       [](const OpInstance &op) { return elementwise(5, op.inputs[0]); },
       {1},
       {1}});
}
