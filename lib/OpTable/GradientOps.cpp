//===- GradientOps.cpp - Table entries of the xf gradient ops -------------===//
//
// A gradient op's results have the types of the forward values they are the
// gradients of, so most rules check the operands against the given results;
// these ops are built with explicit result types and never inferred.
//
//===----------------------------------------------------------------------===//

#include "OpRules.h"

#include <tuple>

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

namespace {
using R = RuleContext;
constexpr TensorKind kIndex = TensorKind::Index;
constexpr TensorKind kFloat = TensorKind::Float;

OpCost elementwise(int64_t perElement, const TensorDesc &tensor) {
  return {0, product({perElement, elements(tensor)})};
}

bool crossEntropyGradRule(R &r) {
  if (!crossEntropyShape(r, r.in(0), r.in(1)))
    return false;
  if (r.inType(0) != ElementType::F32)
    return r.fail("probs must be f32 (the forward's softmax), got " +
                  std::string(elementTypeName(r.inType(0))));
  // The result has the logits' type, which the probabilities do not carry.
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.expectShape(grad->shape, r.in(0), "result"))
    return false;
  r.setOutput(0, r.in(0), grad->type);
  return true;
}

bool convertRule(R &r) {
  const TensorDesc *result = r.given(0);
  if (!result)
    return false;
  if (result->shape != r.in(0))
    return r.fail("result has shape " + formatShape(result->shape) +
                  " but must be " + formatShape(r.in(0)) +
                  " (the input's: a conversion keeps the shape)");
  r.setOutput(0, r.in(0), result->type);
  return true;
}

bool accumulateRule(R &r) {
  if (r.in(1) != r.in(0))
    return r.fail("contribution has shape " + formatShape(r.in(1)) +
                  " but must be " + formatShape(r.in(0)) + " (the sum's)");
  if (const TensorDesc *result = r.peek(0))
    if (!r.expectType(*result, r.input(0), "result"))
      return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool linearGradInputRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  if (r.in(1).size() != 2)
    return r.fail("weight must have rank 2, got " + formatShape(r.in(1)));
  Shape gradOutput;
  if (!linearShape(r, grad->shape, r.in(1), nullptr, gradOutput) ||
      !r.expectShape(r.in(0), gradOutput, "grad_output"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

OpCost linearGradInputCost(const OpInstance &op) {
  const Shape &w = op.inputs[1].shape;
  return {product({2, rows(op.inputs[0]), w[0], w[1]}), 0};
}

bool linearGradWeightRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  Shape gradOutput;
  if (!linearShape(r, r.in(1), grad->shape, nullptr, gradOutput) ||
      !r.expectShape(r.in(0), gradOutput, "grad_output"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

OpCost linearGradWeightCost(const OpInstance &op) {
  const Shape &w = op.outputs[0].shape;
  return {product({2, rows(op.inputs[1]), w[0], w[1]}), 0};
}

bool biasGradRule(R &r) {
  if (!r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  const Shape &dy = r.in(0);
  if (dy.empty())
    return r.fail("grad_output must have rank >= 1");
  if (const TensorDesc *result = r.peek(0))
    if (!r.expectShape(result->shape, {dy.back()}, "result"))
      return false;
  r.setOutput(0, {dy.back()}, r.inType(0));
  return true;
}

/// Elementwise gradients: both operands and the result share one type.
bool sameShapeOperands(R &r) {
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !r.expectShape(r.in(1), r.in(0), "grad_output"))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool geluGradRule(R &r) { return checkApproximate(r) && sameShapeOperands(r); }

bool dropoutGradRule(R &r) {
  const Shape &mask = r.in(0), &dy = r.in(1);
  if (mask != dy)
    return r.fail("mask shape " + formatShape(mask) +
                  " must equal the gradient's shape " + formatShape(dy));
  if (const TensorDesc *result = r.peek(0))
    if (!r.expectType(*result, r.input(1), "result"))
      return false;
  if (!checkProbability(r))
    return false;
  r.setOutput(0, dy, r.inType(1));
  return true;
}

/// A norm's gradient (input, weight, grad_output) -> (grad_input,
/// grad_weight[, grad_bias]): the types that follow from the operands.
bool normGradTypes(R &r, bool bias) {
  const TensorDesc &input = r.input(0), &weight = r.input(1);
  if (!r.expectType(r.input(2), input, "grad_output"))
    return false;
  for (auto [index, expected, name] : {std::tuple(0u, &input, "grad_input"),
                                       std::tuple(1u, &weight, "grad_weight"),
                                       std::tuple(2u, &weight, "grad_bias")}) {
    if (index == 2 && !bias)
      break;
    if (const TensorDesc *given = r.peek(index))
      if (!r.expectType(*given, *expected, name))
        return false;
  }
  return true;
}

bool layerNormGradRule(R &r) {
  const TensorDesc &input = r.input(0), &weight = r.input(1);
  if (!normGradTypes(r, /*bias=*/true))
    return false;
  Shape out;
  if (!layerNormShape(r, input.shape, weight.shape, weight.shape, out) ||
      !r.expectShape(input.shape, out, "input") || !checkEpsilon(r))
    return false;
  r.setOutput(0, input.shape, input.type);
  r.setOutput(1, weight.shape, weight.type);
  r.setOutput(2, weight.shape, weight.type);
  return true;
}

bool rmsNormGradRule(R &r) {
  const TensorDesc &input = r.input(0), &weight = r.input(1);
  if (!normGradTypes(r, /*bias=*/false))
    return false;
  Shape out;
  if (!rmsNormShape(r, input.shape, weight.shape, out) || !checkEpsilon(r))
    return false;
  r.setOutput(0, input.shape, input.type);
  r.setOutput(1, weight.shape, weight.type);
  return true;
}

/// input [..., 2f], grad_output [..., f] -> [..., 2f].
bool gluGradRule(R &r) {
  Shape out;
  if (!checkGluActivation(r) ||
      !r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !gluShape(r, r.in(0), out) || !r.expectShape(r.in(1), out, "grad_output"))
    return false;
  if (const TensorDesc *result = r.peek(0))
    if (!r.expectShape(result->shape, r.in(0), "result"))
      return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool ropeGradRule(R &r) {
  if (!r.sameElementType({R::In(0), R::Out(0)}) || !checkRope(r, r.in(0)))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

bool flashAttentionGradRule(R &r) {
  const TensorDesc &query = r.input(0), &key = r.input(1), &value = r.input(2);
  if (!r.sameElementType({R::In(0), R::In(1), R::In(2), R::In(3), R::In(5)}) ||
      !flashAttentionShape(r, query.shape, key.shape, value.shape))
    return false;
  // The forward's result (and so its gradient): [b, a, s, d], or [s, b, a·d]
  // with merge_heads.
  TensorDesc result{flashAttentionResultShape(r, query.shape), query.type};
  if (!r.expectType(r.input(3), result, "result") ||
      !r.expectType(r.input(5), result, "grad_output") ||
      !r.expectType(
          r.input(4),
          {{query.shape[0], query.shape[1], query.shape[2]}, ElementType::F32},
          "lse"))
    return false;
  for (auto [index, expected, name] :
       {std::tuple(0u, &query, "grad_query"), std::tuple(1u, &key, "grad_key"),
        std::tuple(2u, &value, "grad_value")})
    if (const TensorDesc *given = r.peek(index))
      if (!r.expectType(*given, *expected, name))
        return false;
  r.setOutput(0, query.shape, query.type);
  r.setOutput(1, key.shape, key.type);
  r.setOutput(2, value.shape, value.type);
  return true;
}

bool softmaxGradRule(R &r) { return sameShapeOperands(r); }

bool attentionScoresGradRule(R &r) {
  const TensorDesc &query = r.input(0), &key = r.input(1);
  if (const TensorDesc *dq = r.peek(0))
    if (!r.expectType(*dq, query, "grad_query"))
      return false;
  if (const TensorDesc *dk = r.peek(1))
    if (!r.expectType(*dk, key, "grad_key"))
      return false;
  Shape scores;
  if (!r.sameElementType({R::In(0), R::In(1), R::In(2)}) ||
      !attentionScoresShape(r, query.shape, key.shape, scores) ||
      !r.expectShape(r.in(2), scores, "grad_output") || !checkScale(r))
    return false;
  r.setOutput(0, query.shape, query.type);
  r.setOutput(1, key.shape, key.type);
  return true;
}

bool attentionContextGradRule(R &r) {
  const TensorDesc &probs = r.input(0), &value = r.input(1);
  if (const TensorDesc *dp = r.peek(0))
    if (!r.expectType(*dp, probs, "grad_probs"))
      return false;
  if (const TensorDesc *dv = r.peek(1))
    if (!r.expectType(*dv, value, "grad_value"))
      return false;
  Shape context;
  if (!r.sameElementType({R::In(0), R::In(1), R::In(2)}) ||
      !attentionContextShape(r, probs.shape, value.shape, context) ||
      !r.expectShape(r.in(2), context, "grad_output"))
    return false;
  r.setOutput(0, probs.shape, probs.type);
  r.setOutput(1, value.shape, value.type);
  return true;
}

bool mergeHeadsGradRule(R &r) {
  const TensorDesc *grad = r.given(0);
  Shape merged;
  if (!grad || !r.sameElementType({R::In(0), R::Out(0)}) ||
      !mergeHeadsShape(r, grad->shape, merged) ||
      !r.expectShape(r.in(0), merged, "grad_output"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

bool splitHeadsGradRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(0), R::In(1), R::In(2), R::Out(0)}))
    return false;
  const Shape &dq = r.in(0), &dk = r.in(1);
  if (dq.size() != 4 || dk.size() != 4)
    return r.fail("grad_query and grad_key must have rank 4 ([b, a, s, d] and "
                  "[b, g, s, d]), got " +
                  formatShape(dq) + " and " + formatShape(dk));
  // The groups are the key's heads; the fused gradient fixes the rest.
  Shape query, keyValue;
  if (!splitHeadsShape(r, grad->shape, dq[1], dk[1], query, keyValue) ||
      !r.expectShape(dq, query, "grad_query"))
    return false;
  TensorDesc expected{keyValue, r.inType(0)};
  if (!r.expectType(r.input(1), expected, "grad_key") ||
      !r.expectType(r.input(2), expected, "grad_value"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

bool embeddingGradRule(R &r) {
  const TensorDesc *word = r.given(0);
  const TensorDesc *position = r.peek(1); // None without a position table.
  Shape hidden;
  if (!word || !vocabShards(r) ||
      !r.sameElementType({R::In(1), R::Out(0), R::Out(1)}) ||
      !embeddingShape(r, r.in(0), word->shape,
                      position ? &position->shape : nullptr, hidden) ||
      !r.expectShape(r.in(1), hidden, "grad_output"))
    return false;
  r.setOutput(0, word->shape, word->type);
  if (position)
    r.setOutput(1, position->shape, position->type);
  return true;
}
} // namespace

void detail::addGradientOp(std::vector<OpDef> &ops, std::string_view name,
                           std::vector<TensorSpec> inputs,
                           std::vector<TensorSpec> outputs,
                           std::vector<AttrSpec> attrs, ShapeRule rule,
                           CostRule cost) {
  ops.push_back({name,
                 OpClass::Gradient,
                 std::move(inputs),
                 std::move(outputs),
                 std::move(attrs),
                 rule,
                 cost,
                 {},
                 {}});
}

void detail::addGradientOps(std::vector<OpDef> &ops) {
  auto none = [](const OpInstance &) { return OpCost{}; };
  auto gradient = [&](std::string_view name, std::vector<TensorSpec> inputs,
                      std::vector<TensorSpec> outputs,
                      std::vector<AttrSpec> attrs, ShapeRule rule,
                      CostRule cost) {
    addGradientOp(ops, name, std::move(inputs), std::move(outputs),
                  std::move(attrs), rule, cost);
  };
  gradient("cross_entropy_grad", {{"probs"}, {"labels", kIndex}}, {{"grad"}},
           lossAttrSpecs(), crossEntropyGradRule,
           [](const OpInstance &op) { return elementwise(5, op.inputs[0]); });
  gradient("linear_grad_input", {{"grad_output"}, {"weight"}}, {{"grad"}}, {},
           linearGradInputRule, linearGradInputCost);
  // A gradient's f32 running sum (pipelined steps of bf16 or f16 models).
  gradient("convert", {{"input"}}, {{"result"}}, {}, convertRule, none);
  gradient("accumulate", {{"sum"}, {"contribution"}}, {{"result"}}, {},
           accumulateRule,
           [](const OpInstance &op) { return elementwise(1, op.outputs[0]); });
  gradient("linear_grad_weight", {{"grad_output"}, {"input"}}, {{"grad"}}, {},
           linearGradWeightRule, linearGradWeightCost);
  gradient("bias_grad", {{"grad_output"}}, {{"grad"}}, {}, biasGradRule,
           [](const OpInstance &op) { return elementwise(1, op.inputs[0]); });
  gradient("gelu_grad", {{"input"}, {"grad_output"}}, {{"grad"}},
           {{"approximate", AttrKind::String, AttrValue("none")}}, geluGradRule,
           [](const OpInstance &op) { return elementwise(10, op.inputs[0]); });
  gradient("dropout_grad", {{"mask", TensorKind::Mask}, {"grad_output"}},
           {{"grad"}}, {{"probability", AttrKind::Float, std::nullopt}},
           dropoutGradRule,
           [](const OpInstance &op) { return elementwise(2, op.inputs[1]); });
  gradient("layer_norm_grad", {{"input"}, {"weight"}, {"grad_output"}},
           {{"grad_input"}, {"grad_weight"}, {"grad_bias"}},
           {{"epsilon", AttrKind::Float, AttrValue(1.0e-5)}}, layerNormGradRule,
           [](const OpInstance &op) { return elementwise(12, op.inputs[0]); });
  gradient("rms_norm_grad", {{"input"}, {"weight"}, {"grad_output"}},
           {{"grad_input"}, {"grad_weight"}},
           {{"epsilon", AttrKind::Float, AttrValue(1.0e-5)}}, rmsNormGradRule,
           [](const OpInstance &op) { return elementwise(8, op.inputs[0]); });
  gradient("glu_grad", {{"input"}, {"grad_output"}}, {{"grad"}},
           {{"activation", AttrKind::String, AttrValue("silu")}}, gluGradRule,
           [](const OpInstance &op) {
             return elementwise(isGeluGlu(op) ? 14 : 8, op.inputs[1]);
           });
  gradient("rope_grad", {{"grad_output"}}, {{"grad"}}, ropeAttrSpecs(),
           ropeGradRule, ropeCost);
  // The recomputed scores, then dV, dP, dQ and dK: five products, against
  // the unfused backward's four.
  gradient(
      "flash_attention_grad",
      {{"query"}, {"key"}, {"value"}, {"result"}, {"lse"}, {"grad_output"}},
      {{"grad_query"}, {"grad_key"}, {"grad_value"}}, flashAttentionAttrs(),
      flashAttentionGradRule,
      [](const OpInstance &op) { return flashAttentionCost(op, 5, 10); });
  gradient("softmax_grad", {{"output"}, {"grad_output"}}, {{"grad"}}, {},
           softmaxGradRule,
           [](const OpInstance &op) { return elementwise(4, op.inputs[0]); });
  gradient("attention_scores_grad", {{"query"}, {"key"}, {"grad_output"}},
           {{"grad_query"}, {"grad_key"}},
           {{"scale", AttrKind::Float, std::nullopt}}, attentionScoresGradRule,
           [](const OpInstance &op) {
             const Shape &q = op.inputs[0].shape;
             return OpCost{
                 product({4, q[0], q[1], q[2], op.inputs[1].shape[2], q[3]}),
                 elements(op.inputs[2])};
           });
  gradient("attention_context_grad", {{"probs"}, {"value"}, {"grad_output"}},
           {{"grad_probs"}, {"grad_value"}}, {}, attentionContextGradRule,
           [](const OpInstance &op) {
             const Shape &p = op.inputs[0].shape;
             return OpCost{
                 product({4, p[0], p[1], p[2], p[3], op.inputs[1].shape[3]}),
                 0};
           });
  gradient("merge_heads_grad", {{"grad_output"}}, {{"grad"}}, {},
           mergeHeadsGradRule, none);
  gradient("split_heads_grad", {{"grad_query"}, {"grad_key"}, {"grad_value"}},
           {{"grad"}}, {}, splitHeadsGradRule, none);
  gradient("embedding_grad", {{"tokens", kIndex}, {"grad_output"}},
           {{"grad_word"}, {"grad_position", kFloat, /*optional=*/true}},
           {vocabShardsAttrSpec()}, embeddingGradRule,
           [](const OpInstance &op) { return elementwise(1, op.inputs[1]); });
}
