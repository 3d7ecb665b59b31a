//===- XFGradOps.cpp - Result names of the gradient ops -------------------===//

#include "ckpt/Dialect/XF/XFOps.h"

using namespace mlir;
using namespace ckpt::xf;

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
void ConvertOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "gsum");
}
void AccumulateOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getResult(), "gsum");
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
void RmsNormGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradInput(), "drms");
  setName(getGradWeight(), "drms_w");
}
void FlashAttentionGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGradQuery(), "dq");
  setName(getGradKey(), "dk");
  setName(getGradValue(), "dv");
}
void RopeGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "drot");
}
void GluGradOp::getAsmResultNames(OpAsmSetValueNameFn setName) {
  setName(getGrad(), "dglu");
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
  if (Value positions = getGradPosition())
    setName(positions, "dwpe");
}
