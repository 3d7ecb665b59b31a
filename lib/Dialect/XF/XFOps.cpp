//===- XFOps.cpp - Operations of the xf dialect ---------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace ckpt::xf;

//===----------------------------------------------------------------------===//
// Result names in the printed IR
//===----------------------------------------------------------------------===//

void EmbeddingOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "embed");
}
void LayerNormOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "ln");
}
void RmsNormOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "rms");
}
void FlashAttentionOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "context");
  setName(getLse(), "lse");
}
void RopeOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "rot");
}
void GluOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "glu");
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
               .Case("moe", "router")
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
  auto module = (*this)->getAttrOfType<StringAttr>("xf.module");
  bool loss = module && module.getValue() == "loss";
  // A loss-side sum of a vector: the pooled counts of the routers.
  bool vector = cast<ShapedType>(getType()).getRank() > 0;
  setName(getResult(), backward         ? "dsum"
                       : loss && vector ? "pooled_counts"
                       : loss           ? "total_loss"
                                        : "residual");
}
void DropoutOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "dropout");
  setName(getMask(), "mask");
}
void DropoutMaskOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
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
  setName(getProbs(), "vocab_probs");
}

#define GET_OP_CLASSES
#include "ckpt/Dialect/XF/XFOps.cpp.inc"
