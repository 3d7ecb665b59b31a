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

CKPT_DIFFERENTIABLE_OP_FROM_TABLE(EmbeddingOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(LayerNormOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(RmsNormOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(GluOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(RopeOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(FlashAttentionOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(LinearOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(GeluOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(BiasAddOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(AddOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(DropoutOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(SplitHeadsOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(AttentionScoresOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(SoftmaxOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(AttentionContextOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MergeHeadsOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(CrossEntropyOp)

CKPT_OP_FROM_TABLE(DropoutMaskOp)
CKPT_OP_FROM_TABLE(CrossEntropyGradOp)
CKPT_OP_FROM_TABLE(LinearGradInputOp)
CKPT_OP_FROM_TABLE(LinearGradWeightOp)
CKPT_OP_FROM_TABLE(BiasGradOp)
CKPT_OP_FROM_TABLE(GeluGradOp)
CKPT_OP_FROM_TABLE(DropoutGradOp)
CKPT_OP_FROM_TABLE(LayerNormGradOp)
CKPT_OP_FROM_TABLE(RmsNormGradOp)
CKPT_OP_FROM_TABLE(GluGradOp)
CKPT_OP_FROM_TABLE(RopeGradOp)
CKPT_OP_FROM_TABLE(FlashAttentionGradOp)
CKPT_OP_FROM_TABLE(SoftmaxGradOp)
CKPT_OP_FROM_TABLE(AttentionScoresGradOp)
CKPT_OP_FROM_TABLE(AttentionContextGradOp)
CKPT_OP_FROM_TABLE(MergeHeadsGradOp)
CKPT_OP_FROM_TABLE(SplitHeadsGradOp)
CKPT_OP_FROM_TABLE(EmbeddingGradOp)
CKPT_OP_FROM_TABLE(ConvertOp)
CKPT_OP_FROM_TABLE(AccumulateOp)

CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MoeRouteOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MoeAuxLossOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MoeExpertCountsOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MoeDispatchOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(ExpertLinearOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(MoeCombineOp)
CKPT_OP_FROM_TABLE(MoeRouteGradOp)
CKPT_OP_FROM_TABLE(MoeAuxLossGradOp)
CKPT_OP_FROM_TABLE(MoeDispatchGradOp)
CKPT_OP_FROM_TABLE(ExpertLinearGradInputOp)
CKPT_OP_FROM_TABLE(ExpertLinearGradWeightOp)
CKPT_OP_FROM_TABLE(MoeCombineGradOp)
