//===- XFCosts.cpp - FLOP counts of the xf ops ----------------------------===//
//
// Matrix multiplies count 2·m·n·k; the constants of the other ops are listed
// in docs/cost-model.md and only matter for the "other FLOPs" line.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"

using namespace mlir;
using namespace ckpt;
using namespace ckpt::xf;

namespace {
int64_t elements(Value value) { return getNumElements(value.getType()); }

ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

/// FLOPs of the batched products of attention: b·a·sq·sk·d multiply-adds.
int64_t attentionMatmul(ArrayRef<int64_t> query, int64_t keyLength) {
  return 2 * query[0] * query[1] * query[2] * keyLength * query[3];
}

OpCost elementwise(int64_t perElement, Value value) {
  return {0, perElement * elements(value)};
}

/// Rows times columns of a linear's output; 2·rows·n·k for its GEMM.
OpCost linearCost(Value input, Value weight, bool hasBias) {
  int64_t rows = elements(input) / shapeOf(input).back();
  ArrayRef<int64_t> w = shapeOf(weight);
  return {2 * rows * w[0] * w[1], hasBias ? rows * w[0] : 0};
}
} // namespace

// Forward ops.
OpCost EmbeddingOp::getCost() { return elementwise(1, getResult()); }
OpCost LayerNormOp::getCost() { return elementwise(8, getInput()); }
OpCost LinearOp::getCost() {
  return linearCost(getInput(), getWeight(), static_cast<bool>(getBias()));
}
OpCost GeluOp::getCost() { return elementwise(8, getInput()); }
OpCost AddOp::getCost() { return elementwise(1, getResult()); }
OpCost BiasAddOp::getCost() { return elementwise(1, getResult()); }
OpCost DropoutOp::getCost() { return elementwise(2, getInput()); }
OpCost SplitHeadsOp::getCost() { return {}; }
OpCost MergeHeadsOp::getCost() { return {}; }
OpCost AttentionScoresOp::getCost() {
  return {attentionMatmul(shapeOf(getQuery()), shapeOf(getKey())[2]),
          elements(getResult())};
}
OpCost SoftmaxOp::getCost() { return elementwise(5, getInput()); }
OpCost AttentionContextOp::getCost() {
  ArrayRef<int64_t> probs = shapeOf(getProbs());
  return {2 * probs[0] * probs[1] * probs[2] * probs[3] *
              shapeOf(getValue())[3],
          0};
}
OpCost CrossEntropyOp::getCost() { return elementwise(5, getLogits()); }

// Gradient ops.
OpCost CrossEntropyGradOp::getCost() { return elementwise(5, getLogits()); }
OpCost LinearGradInputOp::getCost() {
  int64_t rows = elements(getGradOutput()) / shapeOf(getGradOutput()).back();
  ArrayRef<int64_t> w = shapeOf(getWeight());
  return {2 * rows * w[0] * w[1], 0};
}
OpCost LinearGradWeightOp::getCost() {
  int64_t rows = elements(getInput()) / shapeOf(getInput()).back();
  ArrayRef<int64_t> w = shapeOf(getGrad());
  return {2 * rows * w[0] * w[1], 0};
}
OpCost BiasGradOp::getCost() { return elementwise(1, getGradOutput()); }
OpCost GeluGradOp::getCost() { return elementwise(10, getInput()); }
OpCost DropoutGradOp::getCost() { return elementwise(2, getGradOutput()); }
OpCost LayerNormGradOp::getCost() { return elementwise(12, getInput()); }
OpCost SoftmaxGradOp::getCost() { return elementwise(4, getOutput()); }
OpCost AttentionScoresGradOp::getCost() {
  return {2 * attentionMatmul(shapeOf(getQuery()), shapeOf(getKey())[2]),
          elements(getGradOutput())};
}
OpCost AttentionContextGradOp::getCost() {
  ArrayRef<int64_t> probs = shapeOf(getProbs());
  return {2 * 2 * probs[0] * probs[1] * probs[2] * probs[3] *
              shapeOf(getValue())[3],
          0};
}
OpCost MergeHeadsGradOp::getCost() { return {}; }
OpCost SplitHeadsGradOp::getCost() { return {}; }
OpCost EmbeddingGradOp::getCost() { return elementwise(1, getGradOutput()); }
