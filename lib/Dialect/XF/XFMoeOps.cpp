//===- XFMoeOps.cpp - Gradients and names of the mixture-of-experts ops ---===//
//
// Each op emits its gradient from what its op-table entry keeps
// (lib/OpTable/MoeOps.cpp): the route and the aux loss their logits and
// chosen experts, dispatch its slots, the expert linears their input, the
// combine all three operands. The experts and slots are integers: nothing
// flows back through them.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"

using namespace mlir;
using namespace ckpt::xf;

using Grads = FailureOr<SmallVector<Value>>;

Grads MoeRouteOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value dlogits = b.create<MoeRouteGradOp>(getLoc(), getLogits().getType(),
                                           getLogits(), getExperts(), grads[0]);
  return SmallVector<Value>{dlogits};
}

/// A term of the step's loss: a non-null entry only says that it is
/// differentiated, with upstream gradient 1 (as for cross_entropy).
Grads MoeAuxLossOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  Value dlogits =
      b.create<MoeAuxLossGradOp>(getLoc(), getLogits().getType(), getLogits(),
                                 getExperts(), getCounts(), getCoeffAttr());
  // The counts of choices carry no gradient, like the choices.
  SmallVector<Value> operandGrads = {dlogits, Value()};
  if (getCounts())
    operandGrads.push_back(Value());
  return operandGrads;
}

Grads MoeExpertCountsOp::emitGradient(OpBuilder &b, ValueRange grads) {
  return SmallVector<Value>{Value()};
}

Grads MoeDispatchOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  Value dx = b.create<MoeDispatchGradOp>(getLoc(), getInput().getType(),
                                         getSlots(), grads[0]);
  return SmallVector<Value>{dx, Value()};
}

Grads ExpertLinearOp::emitGradient(OpBuilder &b, ValueRange grads) {
  // The routing map (grouped buffers) is an index: no gradient.
  SmallVector<Value> result(getNumOperands(), Value());
  if (!grads[0])
    return result;
  result[0] = b.create<ExpertLinearGradInputOp>(
      getLoc(), getInput().getType(), grads[0], getWeight(), getExperts());
  result[1] = b.create<ExpertLinearGradWeightOp>(
      getLoc(), getWeight().getType(), grads[0], getInput(), getExperts());
  return result;
}

Grads MoeCombineOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value(), Value()};
  auto op = b.create<MoeCombineGradOp>(
      getLoc(), getExpertOutput().getType(), getWeights().getType(),
      getExpertOutput(), getWeights(), getSlots(), grads[0]);
  return SmallVector<Value>{op.getGradExpertOutput(), op.getGradWeights(),
                            Value()};
}

//===----------------------------------------------------------------------===//
// Result names
//===----------------------------------------------------------------------===//

void MoeRouteOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getWeights(), "gates");
  setName(getExperts(), "experts");
  setName(getSlots(), "slots");
}
void MoeAuxLossOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "aux_loss");
}
void MoeExpertCountsOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "counts");
}
void MoeDispatchOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "dispatched");
}
void ExpertLinearOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "expert_fc");
}
void MoeCombineOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "combined");
}
void MoeRouteGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "drouter");
}
void MoeAuxLossGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "daux");
}
void MoeDispatchGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "ddispatch");
}
void ExpertLinearGradInputOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dx");
}
void ExpertLinearGradWeightOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dw");
}
void MoeCombineGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradExpertOutput(), "dexperts");
  setName(getGradWeights(), "dgates");
}
