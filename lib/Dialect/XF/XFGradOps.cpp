//===- XFGradOps.cpp - Verifiers and names of the gradient ops ------------===//

#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFShapes.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace ckpt::xf;

namespace {
ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

/// Checks a shape rule's outcome against the shape of `value`, named `what`.
LogicalResult expectShape(Operation *op, llvm::Expected<shapes::Shape> rule,
                          Value value, StringRef what) {
  if (!rule)
    return op->emitOpError() << llvm::toString(rule.takeError());
  if (shapeOf(value) != ArrayRef<int64_t>(*rule))
    return op->emitOpError()
           << what << " has shape " << shapes::format(shapeOf(value))
           << " but must be " << shapes::format(*rule);
  return success();
}

/// Checks that `value` has exactly the type `expected`, naming both.
LogicalResult expectType(Operation *op, Value value, Type expected,
                         StringRef what) {
  if (value.getType() == expected)
    return success();
  return op->emitOpError() << what << " must have type " << expected << ", got "
                           << value.getType();
}

LogicalResult sameElementType(Operation *op, ValueRange values) {
  Type expected = getElementTypeOrSelf(values.front().getType());
  for (Value value : values.drop_front())
    if (getElementTypeOrSelf(value.getType()) != expected)
      return op->emitOpError()
             << "all floating-point operands and results must have one "
                "element type, got "
             << expected << " and " << getElementTypeOrSelf(value.getType());
  return success();
}
} // namespace

LogicalResult CrossEntropyGradOp::verify() {
  if (auto err =
          shapes::crossEntropy(shapeOf(getLogits()), shapeOf(getLabels()))
              .takeError())
    return emitOpError() << llvm::toString(std::move(err));
  return expectType(*this, getGrad(), getLogits().getType(), "result");
}

LogicalResult LinearGradInputOp::verify() {
  if (failed(sameElementType(*this, {getGradOutput(), getWeight(), getGrad()})))
    return failure();
  ArrayRef<int64_t> weight = shapeOf(getWeight());
  if (weight.size() != 2)
    return emitOpError() << "weight must have rank 2, got "
                         << shapes::format(weight);
  auto rule = shapes::linear(shapeOf(getGrad()), weight);
  return expectShape(*this, std::move(rule), getGradOutput(), "grad_output");
}

LogicalResult LinearGradWeightOp::verify() {
  if (failed(sameElementType(*this, {getGradOutput(), getInput(), getGrad()})))
    return failure();
  return expectShape(*this,
                     shapes::linear(shapeOf(getInput()), shapeOf(getGrad())),
                     getGradOutput(), "grad_output");
}

LogicalResult BiasGradOp::verify() {
  if (failed(sameElementType(*this, {getGradOutput(), getGrad()})))
    return failure();
  ArrayRef<int64_t> dy = shapeOf(getGradOutput());
  if (dy.empty())
    return emitOpError() << "grad_output must have rank >= 1";
  return expectShape(*this, shapes::Shape{dy.back()}, getGrad(), "result");
}

LogicalResult DropoutGradOp::verify() {
  if (shapeOf(getMask()) != shapeOf(getGradOutput()))
    return emitOpError() << "mask shape " << shapes::format(shapeOf(getMask()))
                         << " must equal the gradient's shape "
                         << shapes::format(shapeOf(getGradOutput()));
  return expectType(*this, getGrad(), getGradOutput().getType(), "result");
}

LogicalResult LayerNormGradOp::verify() {
  if (failed(expectType(*this, getGradOutput(), getInput().getType(),
                        "grad_output")) ||
      failed(expectType(*this, getGradInput(), getInput().getType(),
                        "grad_input")) ||
      failed(expectType(*this, getGradWeight(), getWeight().getType(),
                        "grad_weight")) ||
      failed(
          expectType(*this, getGradBias(), getWeight().getType(), "grad_bias")))
    return failure();
  return expectShape(*this,
                     shapes::layerNorm(shapeOf(getInput()),
                                       shapeOf(getWeight()),
                                       shapeOf(getWeight())),
                     getInput(), "input");
}

LogicalResult AttentionScoresGradOp::verify() {
  if (failed(expectType(*this, getGradQuery(), getQuery().getType(),
                        "grad_query")) ||
      failed(expectType(*this, getGradKey(), getKey().getType(), "grad_key")) ||
      failed(sameElementType(*this, {getQuery(), getKey(), getGradOutput()})))
    return failure();
  return expectShape(
      *this, shapes::attentionScores(shapeOf(getQuery()), shapeOf(getKey())),
      getGradOutput(), "grad_output");
}

LogicalResult AttentionContextGradOp::verify() {
  if (failed(expectType(*this, getGradProbs(), getProbs().getType(),
                        "grad_probs")) ||
      failed(expectType(*this, getGradValue(), getValue().getType(),
                        "grad_value")) ||
      failed(sameElementType(*this, {getProbs(), getValue(), getGradOutput()})))
    return failure();
  return expectShape(
      *this, shapes::attentionContext(shapeOf(getProbs()), shapeOf(getValue())),
      getGradOutput(), "grad_output");
}

LogicalResult MergeHeadsGradOp::verify() {
  if (failed(sameElementType(*this, {getGradOutput(), getGrad()})))
    return failure();
  return expectShape(*this, shapes::mergeHeads(shapeOf(getGrad())),
                     getGradOutput(), "grad_output");
}

LogicalResult SplitHeadsGradOp::verify() {
  if (failed(expectType(*this, getGradKey(), getGradQuery().getType(),
                        "grad_key")) ||
      failed(expectType(*this, getGradValue(), getGradQuery().getType(),
                        "grad_value")) ||
      failed(sameElementType(*this, {getGradQuery(), getGrad()})))
    return failure();
  ArrayRef<int64_t> dq = shapeOf(getGradQuery());
  if (dq.size() != 4)
    return emitOpError() << "grad_query must have rank 4 ([b, a, s, d]), got "
                         << shapes::format(dq);
  return expectShape(*this, shapes::splitHeads(shapeOf(getGrad()), dq[1]),
                     getGradQuery(), "grad_query");
}

LogicalResult EmbeddingGradOp::verify() {
  if (failed(sameElementType(
          *this, {getGradOutput(), getGradWord(), getGradPosition()})))
    return failure();
  return expectShape(*this,
                     shapes::embedding(shapeOf(getTokens()),
                                       shapeOf(getGradWord()),
                                       shapeOf(getGradPosition())),
                     getGradOutput(), "grad_output");
}

//===----------------------------------------------------------------------===//
// Result names: "d" + what they are the gradient of.
//===----------------------------------------------------------------------===//

void CrossEntropyGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dlogits");
}
void LinearGradInputOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dx");
}
void LinearGradWeightOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dw");
}
void BiasGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "db");
}
void GeluGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dgelu");
}
void DropoutGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "ddropout");
}
void LayerNormGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradInput(), "dln");
  setName(getGradWeight(), "dln_w");
  setName(getGradBias(), "dln_b");
}
void SoftmaxGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dscores");
}
void AttentionScoresGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradQuery(), "dq");
  setName(getGradKey(), "dk");
}
void AttentionContextGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradProbs(), "dprobs");
  setName(getGradValue(), "dv");
}
void MergeHeadsGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dcontext");
}
void SplitHeadsGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dqkv");
}
void EmbeddingGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradWord(), "dwte");
  setName(getGradPosition(), "dwpe");
}
