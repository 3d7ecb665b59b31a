//===- XFGradients.cpp - Gradients of the xf forward ops ------------------===//
//
// Each forward op emits its gradient ops, reading only the operands and results
// that its op-table entry lists as saved (the values kept for the backward
// pass; lib/OpTable/ForwardOps.cpp). For a
// GPT layer in 16-bit with dropout these choices keep exactly
// 34·s·b·h + 5·a·s²·b bytes (Korthikanti et al. 2022): a linear keeps its
// input, GeLU its input, softmax its output, dropout its mask, layer norm its
// input, the attention products their two operands.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"

using namespace mlir;
using namespace ckpt;
using namespace ckpt::xf;

using Grads = FailureOr<SmallVector<Value>>;

namespace {
bool allNull(ValueRange values) {
  return llvm::all_of(values, [](Value v) { return !v; });
}
} // namespace

//===----------------------------------------------------------------------===//
// Embedding: the token ids are needed to scatter the gradient.
//===----------------------------------------------------------------------===//

Grads EmbeddingOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>(getNumOperands(), Value());
  Value positions = getPositionEmbeddings();
  auto op =
      b.create<EmbeddingGradOp>(getLoc(), getWordEmbeddings().getType(),
                                positions ? positions.getType() : Type(),
                                getTokens(), grads[0], getVocabShardsAttr());
  SmallVector<Value> result = {Value(), op.getGradWord()};
  if (positions)
    result.push_back(op.getGradPosition());
  return result;
}

//===----------------------------------------------------------------------===//
// Layer norm: keeps its input (the statistics are recomputed from it) and
// reads its weight.
//===----------------------------------------------------------------------===//

Grads LayerNormOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>(getNumOperands(), Value());
  auto op = b.create<LayerNormGradOp>(
      getLoc(), getInput().getType(), getWeight().getType(),
      getBias().getType(), getInput(), getWeight(), grads[0], getEpsilonAttr());
  return SmallVector<Value>{op.getGradInput(), op.getGradWeight(),
                            op.getGradBias()};
}

Grads RmsNormOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>(getNumOperands(), Value());
  auto op = b.create<RmsNormGradOp>(getLoc(), getInput().getType(),
                                    getWeight().getType(), getInput(),
                                    getWeight(), grads[0], getEpsilonAttr());
  return SmallVector<Value>{op.getGradInput(), op.getGradWeight()};
}

Grads GluOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value dx = b.create<GluGradOp>(getLoc(), getInput().getType(), getInput(),
                                 grads[0], getActivationAttr());
  return SmallVector<Value>{dx};
}

Grads RopeOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  // The same rotation, turned back: every attribute of the op but the
  // xf.* tags the gradient pass sets itself.
  SmallVector<NamedAttribute> rotation;
  for (NamedAttribute attr : (*this)->getAttrs())
    if (!attr.getName().getValue().starts_with("xf."))
      rotation.push_back(attr);
  auto dx = b.create<RopeGradOp>(getLoc(), TypeRange{getInput().getType()},
                                 ValueRange{grads[0]}, rotation);
  return SmallVector<Value>{dx.getResult()};
}

Grads FlashAttentionOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>(3, Value());
  // The log-sum-exp is a statistic: nothing flows back through it.
  auto op = b.create<FlashAttentionGradOp>(
      getLoc(), getQuery().getType(), getKey().getType(), getValue().getType(),
      getQuery(), getKey(), getValue(), getResult(), getLse(), grads[0],
      getScaleAttr(), getCausalAttr(), getProbabilityAttr(), getRngStreamAttr(),
      getMergeHeadsAttr());
  return SmallVector<Value>{op.getGradQuery(), op.getGradKey(),
                            op.getGradValue()};
}

//===----------------------------------------------------------------------===//
// Linear: keeps its input (for the weight gradient), reads its weight.
//===----------------------------------------------------------------------===//

Grads LinearOp::emitGradient(OpBuilder &b, ValueRange grads) {
  SmallVector<Value> result(getNumOperands(), Value());
  Value dy = grads[0];
  if (!dy)
    return result;
  result[0] = b.create<LinearGradInputOp>(getLoc(), getInput().getType(), dy,
                                          getWeight());
  result[1] = b.create<LinearGradWeightOp>(getLoc(), getWeight().getType(), dy,
                                           getInput());
  if (getBias())
    result[2] = b.create<BiasGradOp>(getLoc(), getBias().getType(), dy);
  return result;
}

//===----------------------------------------------------------------------===//
// Elementwise ops.
//===----------------------------------------------------------------------===//

Grads GeluOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value dx = b.create<GeluGradOp>(getLoc(), getInput().getType(), getInput(),
                                  grads[0], getApproximateAttr());
  return SmallVector<Value>{dx};
}

Grads BiasAddOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  Value db = b.create<BiasGradOp>(getLoc(), getBias().getType(), grads[0]);
  return SmallVector<Value>{grads[0], db};
}

Grads AddOp::emitGradient(OpBuilder &, ValueRange grads) {
  return SmallVector<Value>{grads[0], grads[0]};
}

Grads DropoutOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value dx = b.create<DropoutGradOp>(getLoc(), getInput().getType(), getMask(),
                                     grads[0], getProbabilityAttr());
  return SmallVector<Value>{dx};
}

//===----------------------------------------------------------------------===//
// Attention.
//===----------------------------------------------------------------------===//

Grads SplitHeadsOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (allNull(grads))
    return SmallVector<Value>{Value()};
  if (!grads[0] || !grads[1] || !grads[2])
    return emitOpError("needs gradients for all of query, key and value");
  Value dqkv = b.create<SplitHeadsGradOp>(getLoc(), getQkv().getType(),
                                          grads[0], grads[1], grads[2]);
  return SmallVector<Value>{dqkv};
}

Grads AttentionScoresOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  auto op = b.create<AttentionScoresGradOp>(getLoc(), getQuery().getType(),
                                            getKey().getType(), getQuery(),
                                            getKey(), grads[0], getScaleAttr());
  return SmallVector<Value>{op.getGradQuery(), op.getGradKey()};
}

Grads SoftmaxOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  // Masked entries have probability 0, so their gradient is 0 as well.
  Value dx = b.create<SoftmaxGradOp>(getLoc(), getInput().getType(),
                                     getResult(), grads[0]);
  return SmallVector<Value>{dx};
}

Grads AttentionContextOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  auto op = b.create<AttentionContextGradOp>(getLoc(), getProbs().getType(),
                                             getValue().getType(), getProbs(),
                                             getValue(), grads[0]);
  return SmallVector<Value>{op.getGradProbs(), op.getGradValue()};
}

Grads MergeHeadsOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value dx =
      b.create<MergeHeadsGradOp>(getLoc(), getInput().getType(), grads[0]);
  return SmallVector<Value>{dx};
}

//===----------------------------------------------------------------------===//
// Loss: the step's output, so its upstream gradient is 1; a non-null entry
// in `grads` only says that the loss is differentiated.
//===----------------------------------------------------------------------===//

Grads CrossEntropyOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (grads[1])
    return emitOpError("has its probabilities on the way to the loss; they "
                       "are kept for the gradient and carry none");
  if (!grads[0])
    return SmallVector<Value>{Value(), Value()};
  Value dlogits = b.create<CrossEntropyGradOp>(
      getLoc(), getLogits().getType(), getProbs(), getLabels(),
      getIgnoreIndexAttr(), getMicroBatchesAttr(), getVocabShardsAttr());
  return SmallVector<Value>{dlogits, Value()};
}
