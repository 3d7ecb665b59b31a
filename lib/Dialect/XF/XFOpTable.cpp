//===- XFOpTable.cpp - The xf ops read their meaning from the op table ----===//
//
// Verification, FLOPs and the values a gradient reads are written once, in
// the op table (lib/OpTable); each xf op answers from its entry. What stays
// in the dialect is what needs IR: building the gradient ops
// (XFGradients.cpp) and naming results (XFOps.cpp, XFGradOps.cpp).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Interfaces/OpTableAdapter.h"

using namespace mlir;
using namespace ckpt;
using namespace ckpt::xf;

#define XF_FROM_TABLE(OP)                                                      \
  LogicalResult OP::verify() { return verifyWithOpTable(*this); }              \
  OpCost OP::getCost() { return costFromOpTable(*this); }

#define XF_FORWARD_FROM_TABLE(OP)                                              \
  XF_FROM_TABLE(OP)                                                            \
  bool OP::backwardNeedsOperand(unsigned index) {                              \
    return backwardNeedsOperandFromTable(*this, index);                        \
  }                                                                            \
  bool OP::backwardNeedsResult(unsigned index) {                               \
    return backwardNeedsResultFromTable(*this, index);                         \
  }

XF_FORWARD_FROM_TABLE(EmbeddingOp)
XF_FORWARD_FROM_TABLE(LayerNormOp)
XF_FORWARD_FROM_TABLE(LinearOp)
XF_FORWARD_FROM_TABLE(GeluOp)
XF_FORWARD_FROM_TABLE(BiasAddOp)
XF_FORWARD_FROM_TABLE(AddOp)
XF_FORWARD_FROM_TABLE(DropoutOp)
XF_FORWARD_FROM_TABLE(SplitHeadsOp)
XF_FORWARD_FROM_TABLE(AttentionScoresOp)
XF_FORWARD_FROM_TABLE(SoftmaxOp)
XF_FORWARD_FROM_TABLE(AttentionContextOp)
XF_FORWARD_FROM_TABLE(MergeHeadsOp)
XF_FORWARD_FROM_TABLE(CrossEntropyOp)

XF_FROM_TABLE(CrossEntropyGradOp)
XF_FROM_TABLE(LinearGradInputOp)
XF_FROM_TABLE(LinearGradWeightOp)
XF_FROM_TABLE(BiasGradOp)
XF_FROM_TABLE(GeluGradOp)
XF_FROM_TABLE(DropoutGradOp)
XF_FROM_TABLE(LayerNormGradOp)
XF_FROM_TABLE(SoftmaxGradOp)
XF_FROM_TABLE(AttentionScoresGradOp)
XF_FROM_TABLE(AttentionContextGradOp)
XF_FROM_TABLE(MergeHeadsGradOp)
XF_FROM_TABLE(SplitHeadsGradOp)
XF_FROM_TABLE(EmbeddingGradOp)
