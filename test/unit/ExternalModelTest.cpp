//===- ExternalModelTest.cpp - An upstream op joins the training step -----===//
//
// Another dialect's op takes part through external models of the project's
// interfaces (docs/embedding.md): arith.mulf, given a gradient
// (DifferentiableOpInterface) and a cost (CostOpInterface), is
// differentiated by --xf-training-step, its operands are kept exactly as
// its model declares, its FLOPs reach the report, and a recompute region
// re-runs it.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

/// d(a·b) = (dy·b, dy·a): the backward reads both operands, not the result.
struct MulFGradient
    : DifferentiableOpInterface::ExternalModel<MulFGradient, arith::MulFOp> {
  bool backwardNeedsOperand(Operation *, unsigned) const { return true; }
  bool backwardNeedsResult(Operation *, unsigned) const { return false; }
  FailureOr<SmallVector<Value>> emitGradient(Operation *op, OpBuilder &b,
                                             ValueRange grads) const {
    auto mul = cast<arith::MulFOp>(op);
    if (!grads[0])
      return SmallVector<Value>{Value(), Value()};
    Value lhs = b.create<arith::MulFOp>(op->getLoc(), grads[0], mul.getRhs());
    Value rhs = b.create<arith::MulFOp>(op->getLoc(), grads[0], mul.getLhs());
    return SmallVector<Value>{lhs, rhs};
  }
};

/// One FLOP per element, counted as other (not matrix-multiply) work.
struct MulFCost : CostOpInterface::ExternalModel<MulFCost, arith::MulFOp> {
  OpCost getCost(Operation *op) const {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    return {0, type.getNumElements()};
  }
};

// Embedding, a learned per-position scale (arith.mulf), a tied head and
// the loss.
constexpr const char *kScaledModel = R"mlir(
func.func @forward(%tokens: tensor<2x4xi32> {xf.role = "tokens"},
                   %labels: tensor<2x4xi32> {xf.role = "labels"},
                   %wte: tensor<16x8xf32> {xf.role = "parameter", xf.name = "wte"},
                   %wpe: tensor<4x8xf32> {xf.role = "parameter", xf.name = "wpe"},
                   %scale: tensor<4x2x8xf32> {xf.role = "parameter", xf.name = "scale"})
    -> tensor<f32> {
  %h = xf.embedding %tokens, %wte, %wpe {xf.module = "embedding"}
      : (tensor<2x4xi32>, tensor<16x8xf32>, tensor<4x8xf32>) -> tensor<4x2x8xf32>
  %m = arith.mulf %h, %scale {xf.module = "embedding"} : tensor<4x2x8xf32>
  %logits = xf.linear %m, %wte {xf.module = "head"}
      : (tensor<4x2x8xf32>, tensor<16x8xf32>) -> tensor<4x2x16xf32>
  %loss, %probs = xf.cross_entropy %logits, %labels {xf.module = "loss"}
      : (tensor<4x2x16xf32>, tensor<2x4xi32>) -> (tensor<f32>, tensor<4x2x16xf32>)
  return %loss : tensor<f32>
}
)mlir";

TEST(ExternalModelTest, AnUpstreamOpIsDifferentiatedKeptAndCosted) {
  DialectRegistry registry;
  registry.insert<xf::XFDialect, CkptDialect, func::FuncDialect,
                  arith::ArithDialect>();
  registry.addExtension(+[](MLIRContext *context, arith::ArithDialect *) {
    arith::MulFOp::attachInterface<MulFGradient, MulFCost>(*context);
  });
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(kScaledModel, &context);
  ASSERT_TRUE(module);
  auto forward = module->lookupSymbol<func::FuncOp>("forward");
  FailureOr<func::FuncOp> step = buildTrainingStep(forward, "train_step");
  ASSERT_TRUE(succeeded(step));

  // Its gradient: two more arith.mulf, in the backward.
  int backward = 0;
  step->walk([&](arith::MulFOp op) {
    if (auto phase = op->getAttrOfType<StringAttr>("xf.phase"))
      backward += phase.getValue() == "backward";
  });
  EXPECT_EQ(backward, 2);
  // The step returns the loss and a gradient per parameter, the scale's
  // among them.
  EXPECT_EQ(step->getFunctionType().getNumResults(), 4u);

  FailureOr<ActivationReport> report = analyzeActivations(*step);
  ASSERT_TRUE(succeeded(report));
  // Kept: the mulf's activation operand (the embedding output, 4·2·8 f32)
  // as the model declares, and the head's input (the mulf's result) for
  // the linear; the loss keeps its logits.
  int64_t hidden = 4 * 2 * 8 * 4, logits = 4 * 2 * 16 * 4;
  EXPECT_EQ(report->keptBytes, hidden + hidden + logits);
  // Forward FLOPs: the embedding's add (64), the mulf's 64 from its cost
  // model, the head's GEMM and the loss.
  int64_t gemm = 2 * 8 * 16 * 8;
  EXPECT_EQ(report->forward.matmulFlops, gemm);
  EXPECT_EQ(report->forward.otherFlops, 64 + 64 + 5 * 4 * 2 * 16);

  // Recomputed: annotated ckpt.remat = "recompute", the mulf is re-run in a
  // region for the head's backward, and its result is no longer kept.
  step->walk([&](arith::MulFOp op) {
    if (!op->hasAttr("xf.phase"))
      op->setAttr(CkptDialect::kRematAttrName,
                  StringAttr::get(&context, "recompute"));
  });
  MegatronPolicy annotationsOnly;
  FailureOr<RematResult> remat = applyRemat(*step, annotationsOnly);
  ASSERT_TRUE(succeeded(remat));
  EXPECT_EQ(remat->regions, 1);
  int inRegion = 0;
  step->walk([&](RecomputeOp region) {
    region.walk([&](arith::MulFOp) { ++inRegion; });
  });
  EXPECT_EQ(inRegion, 1);
  FailureOr<ActivationReport> after = analyzeActivations(*step);
  ASSERT_TRUE(succeeded(after));
  EXPECT_EQ(after->keptBytes, hidden + logits);
  EXPECT_EQ(after->recompute.otherFlops, 64);
}

} // namespace
