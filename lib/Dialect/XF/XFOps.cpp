//===- XFOps.cpp - Operations of the xf dialect ---------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFShapes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringSwitch.h"

#include <sstream>

using namespace mlir;
using namespace ckpt::xf;

namespace {
ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

/// Checks the shape rule's outcome against the op's result types: an error
/// from the rule becomes the op's diagnostic; every result in `results` must
/// have the shape the rule computed.
LogicalResult checkShapes(Operation *op, llvm::Expected<shapes::Shape> expected,
                          ValueRange results) {
  if (!expected)
    return op->emitOpError() << llvm::toString(expected.takeError());
  for (Value result : results) {
    ArrayRef<int64_t> actual = shapeOf(result);
    if (actual != ArrayRef<int64_t>(*expected))
      return op->emitOpError()
             << "result #" << cast<OpResult>(result).getResultNumber()
             << " has shape " << shapes::format(actual)
             << " but the operands give " << shapes::format(*expected);
  }
  return success();
}

/// Formats a double the way a person writes it: 0.5, 1, -1e-06.
std::string number(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

/// Checks that all `values` share one element type (that of the first).
LogicalResult checkSameElementType(Operation *op, ValueRange values) {
  Type expected = getElementTypeOrSelf(values.front().getType());
  for (Value value : values.drop_front()) {
    Type actual = getElementTypeOrSelf(value.getType());
    if (actual != expected)
      return op->emitOpError()
             << "all floating-point operands and results must have one "
                "element type, got "
             << expected << " and " << actual;
  }
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(checkSameElementType(
          *this, {getWordEmbeddings(), getPositionEmbeddings(), getResult()})))
    return failure();
  return checkShapes(*this,
                     shapes::embedding(shapeOf(getTokens()),
                                       shapeOf(getWordEmbeddings()),
                                       shapeOf(getPositionEmbeddings())),
                     getResult());
}

LogicalResult LayerNormOp::verify() {
  if (!(getEpsilon().convertToDouble() > 0.0))
    return emitOpError() << "epsilon must be > 0, got "
                         << number(getEpsilon().convertToDouble());
  if (failed(checkSameElementType(
          *this, {getInput(), getWeight(), getBias(), getResult()})))
    return failure();
  return checkShapes(*this,
                     shapes::layerNorm(shapeOf(getInput()),
                                       shapeOf(getWeight()),
                                       shapeOf(getBias())),
                     getResult());
}

LogicalResult LinearOp::verify() {
  SmallVector<Value> floats = {getInput(), getWeight(), getResult()};
  std::optional<ArrayRef<int64_t>> bias;
  if (getBias()) {
    floats.push_back(getBias());
    bias = shapeOf(getBias());
  }
  if (failed(checkSameElementType(*this, floats)))
    return failure();
  return checkShapes(
      *this, shapes::linear(shapeOf(getInput()), shapeOf(getWeight()), bias),
      getResult());
}

LogicalResult BiasAddOp::verify() {
  if (failed(checkSameElementType(*this, {getInput(), getBias(), getResult()})))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (input.empty() || shapeOf(getBias()) != ArrayRef<int64_t>{input.back()})
    return emitOpError() << "bias must be ["
                         << (input.empty() ? 0 : input.back())
                         << "] (the input's last dimension), got "
                         << shapes::format(shapeOf(getBias()));
  if (getResult().getType() != getInput().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError() << "approximate must be \"none\" or \"tanh\", got \""
                         << getApproximate() << "\"";
  return success();
}

LogicalResult DropoutOp::verify() {
  double p = getProbability().convertToDouble();
  if (!(p >= 0.0 && p < 1.0))
    return emitOpError() << "probability must be in [0, 1), got " << number(p);
  // The accessor returns an unsigned value; read the attribute as signed.
  int64_t stream = getRngStreamAttr().getInt();
  if (stream < 0)
    return emitOpError() << "rng_stream must be >= 0, got " << stream;
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " must equal the input type "
                         << getInput().getType();
  if (shapeOf(getMask()) != shapeOf(getInput()))
    return emitOpError() << "mask shape " << shapes::format(shapeOf(getMask()))
                         << " must equal the input shape "
                         << shapes::format(shapeOf(getInput()));
  return success();
}

LogicalResult SplitHeadsOp::verify() {
  if (failed(checkSameElementType(
          *this, {getQkv(), getQuery(), getKey(), getValue()})))
    return failure();
  return checkShapes(*this,
                     shapes::splitHeads(shapeOf(getQkv()), getNumHeads()),
                     {getQuery(), getKey(), getValue()});
}

LogicalResult AttentionScoresOp::verify() {
  if (!(getScale().convertToDouble() > 0.0))
    return emitOpError() << "scale must be > 0, got "
                         << number(getScale().convertToDouble());
  if (failed(checkSameElementType(*this, {getQuery(), getKey(), getResult()})))
    return failure();
  return checkShapes(
      *this, shapes::attentionScores(shapeOf(getQuery()), shapeOf(getKey())),
      getResult());
}

LogicalResult SoftmaxOp::verify() {
  return checkShapes(*this, shapes::softmax(shapeOf(getInput()), getCausal()),
                     getResult());
}

LogicalResult AttentionContextOp::verify() {
  if (failed(
          checkSameElementType(*this, {getProbs(), getValue(), getResult()})))
    return failure();
  return checkShapes(
      *this, shapes::attentionContext(shapeOf(getProbs()), shapeOf(getValue())),
      getResult());
}

LogicalResult MergeHeadsOp::verify() {
  if (failed(checkSameElementType(*this, {getInput(), getResult()})))
    return failure();
  return checkShapes(*this, shapes::mergeHeads(shapeOf(getInput())),
                     getResult());
}

LogicalResult CrossEntropyOp::verify() {
  return checkShapes(
      *this, shapes::crossEntropy(shapeOf(getLogits()), shapeOf(getLabels())),
      getResult());
}

//===----------------------------------------------------------------------===//
// Result names in the printed IR
//===----------------------------------------------------------------------===//

void EmbeddingOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "embed");
}
void LayerNormOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "ln");
}
void LinearOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  // Name the result after its module when it is tagged: %qkv, %proj, %fc,
  // %logits read better than %linear_12.
  StringRef name = "linear";
  if (auto module = (*this)->getAttrOfType<StringAttr>("xf.module"))
    name = llvm::StringSwitch<StringRef>(module.getValue())
               .Case("qkv", "qkv")
               .Case("attn_proj", "proj")
               .Case("mlp", "fc")
               .Case("head", "logits")
               .Default("linear");
  setName(getResult(), name);
}
void BiasAddOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "biased");
}
void GeluOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "gelu");
}
void AddOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  // In the backward an add sums gradient contributions.
  auto phase = (*this)->getAttrOfType<StringAttr>("xf.phase");
  bool backward = phase && phase.getValue() == "backward";
  setName(getResult(), backward ? "dsum" : "residual");
}
void DropoutOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "dropout");
  setName(getMask(), "mask");
}
void SplitHeadsOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getQuery(), "q");
  setName(getKey(), "k");
  setName(getValue(), "v");
}
void AttentionScoresOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "scores");
}
void SoftmaxOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "probs");
}
void AttentionContextOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "context");
}
void MergeHeadsOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "merged");
}
void CrossEntropyOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "loss");
}

#define GET_OP_CLASSES
#include "ckpt/Dialect/XF/XFOps.cpp.inc"
