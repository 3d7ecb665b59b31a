//===- FusedOps.cpp - Table entries of the runtime's fused ops ------------===//
//
// Two adjacent instructions in one pass over memory. The runtime makes them
// when it loads a program (runtime/lib/Fusion.cpp), only where that changes
// neither what is saved nor the planned memory; the IR never holds them.
// Each is checked like the ops it combines, and costs what they cost.
//
//===----------------------------------------------------------------------===//

#include "OpRules.h"

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

namespace {
using R = RuleContext;

/// y = residual + dropout(input), and the dropout's mask.
bool dropoutAddRule(R &r) {
  if (!checkDropoutAttrs(r) ||
      !r.sameElementType({R::In(0), R::In(1), R::Out(0)}))
    return false;
  if (r.in(1) != r.in(0))
    return r.fail("input and residual must have one shape, got " +
                  formatShape(r.in(0)) + " and " + formatShape(r.in(1)));
  if (const TensorDesc *mask = r.peek(1))
    if (mask->shape != r.in(0))
      return r.fail("mask shape " + formatShape(mask->shape) +
                    " must equal the input shape " + formatShape(r.in(0)));
  r.setOutput(0, r.in(0), r.inType(0));
  r.setOutput(1, r.in(0), ElementType::I1);
  return true;
}

/// h = input·weightᵀ + bias and g = gelu(h): the linear's result, which the
/// backward keeps, and the activation.
bool linearGeluRule(R &r) {
  if (!checkApproximate(r) || !linearRule(r))
    return false;
  TensorDesc h = *r.outputs()[0]; // What linearRule set.
  if (const TensorDesc *g = r.peek(1))
    if (g->shape != h.shape || g->type != h.type)
      return r.fail("activation type " + formatTensorType(*g) +
                    " must equal the result type " + formatTensorType(h));
  r.setOutput(1, h.shape, h.type);
  return true;
}
} // namespace

void ckpt::ops::detail::addFusedOps(std::vector<OpDef> &ops) {
  ops.push_back({"dropout_add",
                 OpClass::Fused,
                 {{"input"}, {"residual"}},
                 {{"result"}, {"mask", TensorKind::Mask}},
                 {{"probability", AttrKind::Float, std::nullopt},
                  {"rng_stream", AttrKind::Int, std::nullopt}},
                 dropoutAddRule,
                 [](const OpInstance &op) {
                   return OpCost{0, product({3, elements(op.inputs[0])})};
                 },
                 {},
                 {1}});
  ops.push_back({"linear_gelu",
                 OpClass::Fused,
                 {{"input"}, {"weight"}, {"bias"}},
                 {{"result"}, {"activation"}},
                 {{"approximate", AttrKind::String, AttrValue("none")}},
                 linearGeluRule,
                 [](const OpInstance &op) {
                   OpCost cost = linearCost(op);
                   cost.otherFlops += product({8, elements(op.outputs[0])});
                   return cost;
                 },
                 {0, 1},
                 {0}});
}
