//===- MoeOps.cpp - Table entries of the mixture-of-experts ops -----------===//
//
// A mixture-of-experts layer: the router's top-k choice and each choice's
// slot (moe_route), the load-balancing loss (moe_aux_loss), the copy of each
// token into its slots (moe_dispatch), the experts' products
// (expert_linear), and the weighted sum back into token order
// (moe_combine). With a capacity C the buffer is [E, C, h] and a slot of -1
// is a dropped choice; dropless (capacity 0) it is grouped: [s·b·k, h],
// every choice a row, the rows of each expert together in expert order (the
// permuted tokens of Megatron's grouped GEMM), its groups found from the
// routing map `experts`. Every shape is static.
//
//===----------------------------------------------------------------------===//

#include "OpRules.h"

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

namespace {
using R = RuleContext;
constexpr TensorKind kIndex = TensorKind::Index;

/// An index result keeps its given type (i32 or i64); inferred it is i32.
ElementType indexType(R &r, unsigned output) {
  const TensorDesc *given = r.peek(output);
  return given ? given->type : ElementType::I32;
}

/// The choices of a routing map [s, b, k]: s·b·k (-1 past int64, which no
/// buffer matches).
int64_t choices(const Shape &routing) {
  return numElements(routing).value_or(-1);
}

/// logits [s, b, E]: the router's scores, one per expert.
bool checkLogits(R &r, const Shape &logits) {
  return r.rank(logits, 3, "logits", "[s, b, num_experts]");
}

/// A routing map [s, b, k] (experts or slots) that belongs to [s, b, *].
bool checkRouting(R &r, const Shape &routing, const Shape &tokens,
                  std::string_view what) {
  if (!r.rank(routing, 3, what, "[s, b, top_k]"))
    return false;
  if (routing[0] != tokens[0] || routing[1] != tokens[1])
    return r.fail(std::string(what) + " " + formatShape(routing) +
                  " must route the " + std::to_string(tokens[0]) + "x" +
                  std::to_string(tokens[1]) + " tokens [s, b] of " +
                  formatShape(tokens));
  return true;
}

bool moeRouteRule(R &r) {
  const Shape &logits = r.in(0);
  if (!checkLogits(r, logits) || !r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  int64_t experts = logits[2], k = r.i64("top_k"), c = r.i64("capacity");
  if (k < 1 || k > experts)
    return r.fail("top_k must be in [1, " + std::to_string(experts) +
                  "] (the number of experts), got " + std::to_string(k));
  if (c < 0)
    return r.fail("capacity must be >= 1 (rows per expert) or 0 (dropless, "
                  "a grouped buffer), got " +
                  std::to_string(c));
  const std::string &policy = r.str("drop_policy");
  if (policy != "probs" && policy != "position")
    return r.fail("drop_policy must be \"probs\" or \"position\", got \"" +
                  policy + "\"");
  Shape routed = {logits[0], logits[1], k};
  r.setOutput(0, routed, r.inType(0));
  r.setOutput(1, routed, indexType(r, 1));
  r.setOutput(2, routed, indexType(r, 2));
  return true;
}

/// Top-k selection over the experts, then a softmax over the k chosen.
OpCost moeRouteCost(const OpInstance &op) {
  const Shape &l = op.inputs[0].shape;
  int64_t k = op.outputs[0].shape[2];
  return {0, product({l[0], l[1], l[2], k}) + product({5, l[0], l[1], k})};
}

bool moeRouteGradRule(R &r) {
  const Shape &logits = r.in(0);
  if (!checkLogits(r, logits) ||
      !r.sameElementType({R::In(0), R::In(2), R::Out(0)}) ||
      !checkRouting(r, r.in(1), logits, "experts") ||
      !r.expectShape(r.in(2), r.in(1), "grad_weights"))
    return false;
  r.setOutput(0, logits, r.inType(0));
  return true;
}

bool checkCoeff(R &r) {
  double coeff = r.f64("coeff");
  if (!(coeff >= 0.0) || coeff > 1e6)
    return r.fail("coeff must be in [0, 1e6], got " + formatNumber(coeff));
  return true;
}

/// The optional pooled counts of the balancing loss: [num_experts] in f32.
bool checkCounts(R &r) {
  if (!r.hasInput(2))
    return true;
  int64_t experts = r.in(0)[2];
  if (r.in(2) != Shape{experts} || r.inType(2) != ElementType::F32)
    return r.fail("counts must be [" + std::to_string(experts) +
                  "] (one per expert) in f32, got " +
                  formatTensorType(r.input(2)));
  return true;
}

bool moeAuxLossRule(R &r) {
  if (!checkLogits(r, r.in(0)) ||
      !checkRouting(r, r.in(1), r.in(0), "experts") || !checkCoeff(r) ||
      !checkCounts(r))
    return false;
  r.setOutput(0, {}, ElementType::F32);
  return true;
}

bool moeExpertCountsRule(R &r) {
  if (!r.rank(r.in(0), 3, "experts", "[s, b, top_k]"))
    return false;
  int64_t experts = r.i64("num_experts");
  if (experts < 1)
    return r.fail("num_experts must be >= 1, got " + std::to_string(experts));
  r.setOutput(0, {experts}, ElementType::F32);
  return true;
}

bool moeAuxLossGradRule(R &r) {
  if (!checkLogits(r, r.in(0)) ||
      !checkRouting(r, r.in(1), r.in(0), "experts") || !checkCoeff(r) ||
      !checkCounts(r) || !r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

/// The full softmax of every row, and the balance term per score.
OpCost moeAuxLossCost(const OpInstance &op) {
  return {0, product({6, elements(op.inputs[0])})};
}

bool moeDispatchRule(R &r) {
  const Shape &input = r.in(0);
  if (!r.rank(input, 3, "input", "[s, b, h]") ||
      !checkRouting(r, r.in(1), input, "slots") ||
      !r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  int64_t experts = r.i64("num_experts"), c = r.i64("capacity");
  if (experts < 1 || c < 0)
    return r.fail("num_experts must be >= 1 and capacity >= 0 (0: dropless), "
                  "got " +
                  std::to_string(experts) + " and " + std::to_string(c));
  const Shape &slots = r.in(1);
  if (c == 0)
    r.setOutput(0, {choices(slots), input[2]}, r.inType(0));
  else
    r.setOutput(0, {experts, c, input[2]}, r.inType(0));
  return true;
}

/// An expert buffer: [E, C, h], or grouped [s·b·k, h] for the routing map
/// `slots` [s, b, k] (one row per choice).
bool checkBuffer(R &r, const Shape &buffer, const Shape &slots,
                 std::string_view what) {
  if (buffer.size() == 2) {
    if (buffer[0] != choices(slots))
      return r.fail(std::string(what) + " " + formatShape(buffer) +
                    " is grouped ([s·b·top_k, h]) but the slots " +
                    formatShape(slots) + " route " +
                    std::to_string(choices(slots)) + " choices");
    return true;
  }
  return r.rank(buffer, 3, what,
                "[num_experts, capacity, h] or grouped [s·b·top_k, h]");
}

/// grad_output [E, C, h] back into token order [s, b, h] (given).
bool moeDispatchGradRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(1), R::Out(0)}) ||
      !r.rank(grad->shape, 3, "result", "[s, b, h]") ||
      !checkRouting(r, r.in(0), grad->shape, "slots") ||
      !checkBuffer(r, r.in(1), r.in(0), "grad_output"))
    return false;
  if (grad->shape[2] != r.in(1).back())
    return r.fail("result " + formatShape(grad->shape) +
                  " must have the hidden size of grad_output " +
                  formatShape(r.in(1)));
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

/// One add per routed row and hidden unit.
OpCost moeDispatchGradCost(const OpInstance &op) {
  const Shape &slots = op.inputs[0].shape;
  return {0,
          product({slots[0], slots[1], slots[2], op.inputs[1].shape.back()})};
}

/// expert_output [E, C, h] or grouped [s·b·k, h], weights and slots
/// [s, b, k]: the checks shared by the combine and its gradient.
bool checkCombine(R &r, const Shape &expertOutput, const Shape &weights,
                  const Shape &slots) {
  if (!r.rank(weights, 3, "weights", "[s, b, top_k]"))
    return false;
  return checkRouting(r, slots, weights, "slots") &&
         r.expectShape(slots, weights, "slots") &&
         checkBuffer(r, expertOutput, slots, "expert_output");
}

bool moeCombineRule(R &r) {
  const Shape &out = r.in(0), &weights = r.in(1);
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !checkCombine(r, out, weights, r.in(2)))
    return false;
  r.setOutput(0, {weights[0], weights[1], out.back()}, r.inType(0));
  return true;
}

/// A multiply-add per routed row and hidden unit.
OpCost moeCombineCost(const OpInstance &op, int64_t perElement) {
  const Shape &w = op.inputs[1].shape;
  return {0,
          product({perElement, w[0], w[1], w[2], op.inputs[0].shape.back()})};
}

bool moeCombineGradRule(R &r) {
  const Shape &out = r.in(0), &weights = r.in(1);
  if (!r.sameElementType(
          {R::In(0), R::In(1), R::In(3), R::Out(0), R::Out(1)}) ||
      !checkCombine(r, out, weights, r.in(2)) ||
      !r.expectShape(r.in(3), {weights[0], weights[1], out.back()},
                     "grad_output"))
    return false;
  r.setOutput(0, out, r.inType(0));
  r.setOutput(1, weights, r.inType(0));
  return true;
}

/// input [E, C, in], weight [E, out, in] -> [E, C, out]; or grouped, input
/// [s·b·k, in] with the routing map `experts` [s, b, k] (operand 2, in the
/// op and both gradients) -> [s·b·k, out].
bool expertLinearShape(R &r, const Shape &input, const Shape &weight,
                       Shape &out) {
  constexpr unsigned kExperts = 2;
  bool grouped = r.hasInput(kExperts);
  if (grouped ? !r.rank(input, 2, "input",
                        "[s·b·top_k, in_features], grouped by expert")
              : !r.rank(input, 3, "input",
                        "[num_experts, capacity, in_features]; a grouped "
                        "[s·b·top_k, in_features] needs the experts operand"))
    return false;
  if (!r.rank(weight, 3, "weight", "[num_experts, out_features, in_features]"))
    return false;
  if ((!grouped && weight[0] != input[0]) || weight[2] != input.back())
    return r.fail(
        "weight " + formatShape(weight) +
        " must be [num_experts, out_features, in_features] with " +
        (grouped ? std::string() : std::to_string(input[0]) + " experts and ") +
        std::to_string(input.back()) + " in_features (the input's), got " +
        formatShape(weight));
  if (grouped) {
    const Shape &experts = r.in(kExperts);
    if (!r.rank(experts, 3, "experts", "[s, b, top_k]"))
      return false;
    if (choices(experts) != input[0])
      return r.fail("experts " + formatShape(experts) + " route " +
                    std::to_string(choices(experts)) +
                    " choices but the grouped input has " +
                    std::to_string(input[0]) + " rows");
    out = {input[0], weight[1]};
    return true;
  }
  out = {input[0], input[1], weight[1]};
  return true;
}

bool expertLinearRule(R &r) {
  Shape out;
  if (!r.sameElementType({R::In(0), R::In(1), R::Out(0)}) ||
      !expertLinearShape(r, r.in(0), r.in(1), out))
    return false;
  r.setOutput(0, out, r.inType(0));
  return true;
}

/// 2·in·out per buffer row (E·C rows, or grouped s·b·k), for each of the
/// forward and the two gradients.
OpCost expertLinearProduct(const Shape &weight, const Shape &buffer) {
  int64_t rows = buffer.size() == 2 ? buffer[0] : buffer[0] * buffer[1];
  return {product({2, rows, weight[1], weight[2]}), 0};
}

bool expertLinearGradInputRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  Shape out;
  if (!expertLinearShape(r, grad->shape, r.in(1), out) ||
      !r.expectShape(r.in(0), out, "grad_output"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}

bool expertLinearGradWeightRule(R &r) {
  const TensorDesc *grad = r.given(0);
  if (!grad || !r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  Shape out;
  if (!expertLinearShape(r, r.in(1), grad->shape, out) ||
      !r.expectShape(r.in(0), out, "grad_output"))
    return false;
  r.setOutput(0, grad->shape, grad->type);
  return true;
}
} // namespace

void detail::addMoeOps(std::vector<OpDef> &ops) {
  auto gradient = [&](std::string_view name, std::vector<TensorSpec> inputs,
                      std::vector<TensorSpec> outputs,
                      std::vector<AttrSpec> attrs, ShapeRule rule,
                      CostRule cost) {
    addGradientOp(ops, name, std::move(inputs), std::move(outputs),
                  std::move(attrs), rule, cost);
  };
  std::vector<AttrSpec> routeAttrs = {
      {"top_k", AttrKind::Int, std::nullopt},
      {"capacity", AttrKind::Int, std::nullopt},
      {"drop_policy", AttrKind::String, AttrValue(std::string("probs"))}};
  // The gradient recomputes the k-way softmax from the logits and reads
  // the chosen experts; the slots matter only to dispatch and combine.
  ops.push_back({"moe_route",
                 OpClass::Forward,
                 {{"logits"}},
                 {{"weights"}, {"experts", kIndex}, {"slots", kIndex}},
                 routeAttrs,
                 moeRouteRule,
                 moeRouteCost,
                 {0},
                 {1}});
  std::vector<AttrSpec> coeff = {{"coeff", AttrKind::Float, std::nullopt}};
  ops.push_back(
      {"moe_aux_loss",
       OpClass::Forward,
       {{"logits"}, {"experts", kIndex}, {"counts", TensorKind::Float, true}},
       {{"result", TensorKind::Loss}},
       coeff,
       moeAuxLossRule,
       moeAuxLossCost,
       {0, 1, 2},
       {}});
  ops.push_back({"moe_expert_counts",
                 OpClass::Forward,
                 {{"experts", kIndex}},
                 {{"result"}},
                 {{"num_experts", AttrKind::Int, std::nullopt}},
                 moeExpertCountsRule,
                 [](const OpInstance &op) {
                   return OpCost{0, elements(op.inputs[0])};
                 },
                 {},
                 {}});
  std::vector<AttrSpec> bufferAttrs = {
      {"num_experts", AttrKind::Int, std::nullopt},
      {"capacity", AttrKind::Int, std::nullopt}};
  ops.push_back({"moe_dispatch",
                 OpClass::Forward,
                 {{"input"}, {"slots", kIndex}},
                 {{"result"}},
                 bufferAttrs,
                 moeDispatchRule,
                 [](const OpInstance &) { return OpCost{}; },
                 {1},
                 {}});
  ops.push_back({"expert_linear",
                 OpClass::Forward,
                 {{"input"}, {"weight"}, {"experts", kIndex, true}},
                 {{"result"}},
                 {},
                 expertLinearRule,
                 [](const OpInstance &op) {
                   return expertLinearProduct(op.inputs[1].shape,
                                              op.inputs[0].shape);
                 },
                 {0, 1, 2},
                 {}});
  ops.push_back({"moe_combine",
                 OpClass::Forward,
                 {{"expert_output"}, {"weights"}, {"slots", kIndex}},
                 {{"result"}},
                 {},
                 moeCombineRule,
                 [](const OpInstance &op) { return moeCombineCost(op, 2); },
                 {0, 1, 2},
                 {}});

  gradient("moe_route_grad",
           {{"logits"}, {"experts", kIndex}, {"grad_weights"}}, {{"grad"}}, {},
           moeRouteGradRule, [](const OpInstance &op) {
             return OpCost{0, product({8, elements(op.inputs[2])})};
           });
  gradient(
      "moe_aux_loss_grad",
      {{"logits"}, {"experts", kIndex}, {"counts", TensorKind::Float, true}},
      {{"grad"}}, coeff, moeAuxLossGradRule, moeAuxLossCost);
  gradient("moe_dispatch_grad", {{"slots", kIndex}, {"grad_output"}},
           {{"grad"}}, {}, moeDispatchGradRule, moeDispatchGradCost);
  gradient("expert_linear_grad_input",
           {{"grad_output"}, {"weight"}, {"experts", kIndex, true}}, {{"grad"}},
           {}, expertLinearGradInputRule, [](const OpInstance &op) {
             return expertLinearProduct(op.inputs[1].shape, op.inputs[0].shape);
           });
  gradient("expert_linear_grad_weight",
           {{"grad_output"}, {"input"}, {"experts", kIndex, true}}, {{"grad"}},
           {}, expertLinearGradWeightRule, [](const OpInstance &op) {
             return expertLinearProduct(op.outputs[0].shape,
                                        op.inputs[0].shape);
           });
  gradient("moe_combine_grad",
           {{"expert_output"}, {"weights"}, {"slots", kIndex}, {"grad_output"}},
           {{"grad_expert_output"}, {"grad_weights"}}, {}, moeCombineGradRule,
           [](const OpInstance &op) { return moeCombineCost(op, 4); });
}
