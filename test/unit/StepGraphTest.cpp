//===- StepGraphTest.cpp - The step graph of small hand-made steps --------===//
//
// Steps small enough to work out by hand: which tensors are kept, their
// readers and roles, a recompute region flattened in place with its
// arguments and results resolved, and the costs and errors.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

class StepGraphTest : public ::testing::Test {
protected:
  StepGraphTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  FailureOr<StepGraph> build(const char *text) {
    module = parseSourceString<ModuleOp>(text, &context);
    EXPECT_TRUE(module);
    return StepGraph::build(module->lookupSymbol<func::FuncOp>("train_step"));
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

// x -> gelu -> g -> gelu -> h -> (loss stand-in) add; backward reads x
// (gelu_grad of the first gelu) and g (gelu_grad of the second).
constexpr const char *kTwoGelus = R"mlir(
func.func @train_step(%x: tensor<4xf32> {xf.role = "parameter"},
                      %dy: tensor<4xf32> {xf.role = "tokens"})
    -> (tensor<4xf32>, tensor<4xf32>) {
  %g = xf.gelu %x : tensor<4xf32>
  %h = xf.gelu %g : tensor<4xf32>
  %s = xf.add %h, %h : tensor<4xf32>
  %dg = xf.gelu_grad %g, %dy {xf.phase = "backward"} : tensor<4xf32>
  %dx = xf.gelu_grad %x, %dg {xf.phase = "backward"} : tensor<4xf32>
  return %s, %dx : tensor<4xf32>, tensor<4xf32>
}
)mlir";

TEST_F(StepGraphTest, KeptTensorsAreForwardValuesTheBackwardReads) {
  FailureOr<StepGraph> graph = build(kTwoGelus);
  ASSERT_TRUE(succeeded(graph));
  // 2 arguments, then g, h, s, dg, dx.
  ASSERT_EQ(graph->tensors.size(), 7u);
  ASSERT_EQ(graph->nodes.size(), 5u);
  const StepTensor &x = graph->tensors[0], &tokens = graph->tensors[1];
  const StepTensor &g = graph->tensors[2], &h = graph->tensors[3];
  EXPECT_EQ(x.role, TensorRole::Parameter);
  EXPECT_EQ(tokens.role, TensorRole::Input);
  EXPECT_FALSE(x.kept); // Arguments are persistent, never kept.
  EXPECT_TRUE(g.kept);  // Read by the gelu_grad of the second gelu.
  EXPECT_EQ(g.role, TensorRole::Activation);
  EXPECT_FALSE(h.kept); // Read only by the forward add.
  EXPECT_EQ(h.role, TensorRole::Temporary);
  EXPECT_EQ(graph->tensors[4].role, TensorRole::Loss);
  EXPECT_EQ(graph->tensors[6].role, TensorRole::Gradient);
  EXPECT_EQ(g.readers.vec(), (std::vector<int>{1, 3}));
  EXPECT_EQ(h.readers.vec(),
            (std::vector<int>{2})); // Read twice by one op: once.
  EXPECT_EQ(graph->attributedReader(2), 3);
  EXPECT_EQ(graph->attributedReader(3), -1);
  EXPECT_EQ(g.bytes, 16);
  // GeLU: 8 FLOPs per element; its gradient 10.
  EXPECT_EQ(graph->cost(0).otherFlops, 32);
  EXPECT_EQ(graph->cost(3).otherFlops, 40);
  EXPECT_EQ(graph->nodes[3].phase, Phase::Backward);
}

// The same step with g recomputed in a region from x.
constexpr const char *kRecomputed = R"mlir(
func.func @train_step(%x: tensor<4xf32> {xf.role = "parameter"},
                      %dy: tensor<4xf32> {xf.role = "tokens"})
    -> (tensor<4xf32>, tensor<4xf32>) {
  %g = xf.gelu %x {ckpt.remat = "recompute"} : tensor<4xf32>
  %h = xf.gelu %g : tensor<4xf32>
  %s = xf.add %h, %h : tensor<4xf32>
  %r = ckpt.recompute(%x) {xf.phase = "recompute", label = "g"}
      : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%x1: tensor<4xf32>):
    %g1 = xf.gelu %x1 {xf.phase = "recompute"} : tensor<4xf32>
    ckpt.yield %g1 : tensor<4xf32>
  }
  %dg = xf.gelu_grad %r, %dy {xf.phase = "backward"} : tensor<4xf32>
  %dx = xf.gelu_grad %x, %dg {xf.phase = "backward"} : tensor<4xf32>
  return %s, %dx : tensor<4xf32>, tensor<4xf32>
}
)mlir";

TEST_F(StepGraphTest, RegionsAreFlattenedInPlace) {
  FailureOr<StepGraph> graph = build(kRecomputed);
  ASSERT_TRUE(succeeded(graph));
  // Nodes: gelu, gelu, add, [gelu in the region], gelu_grad, gelu_grad.
  ASSERT_EQ(graph->nodes.size(), 6u);
  ASSERT_EQ(graph->regions.size(), 1u);
  EXPECT_EQ(graph->regions[0].label, "g");
  EXPECT_EQ(graph->regions[0].firstNode, 3);
  EXPECT_EQ(graph->regions[0].endNode, 4);
  EXPECT_EQ(graph->regions[0].producedBytes, 16);
  const StepNode &inner = graph->nodes[3];
  EXPECT_EQ(inner.phase, Phase::Recompute);
  EXPECT_EQ(inner.region, 0);
  // The region's block argument is x itself; its result is the inner gelu.
  EXPECT_EQ(inner.inputs.vec(), (std::vector<int>{0}));
  int recomputed = inner.outputs[0];
  EXPECT_EQ(graph->nodes[4].inputs[0], recomputed);
  EXPECT_EQ(graph->tensorOf(graph->regions[0].op->getResult(0)), recomputed);
  // g is no longer read by the backward: not kept. The recomputed value is
  // not a forward value: not kept either.
  EXPECT_FALSE(graph->tensors[2].kept);
  EXPECT_FALSE(graph->tensors[recomputed].kept);
  EXPECT_EQ(graph->tensors[recomputed].phase, Phase::Recompute);
}

TEST_F(StepGraphTest, UnsizedValuesAreErrors) {
  const char *dynamic = R"mlir(
func.func @train_step(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}
)mlir";
  FailureOr<StepGraph> graph = build(dynamic);
  EXPECT_TRUE(failed(graph));
}

} // namespace
