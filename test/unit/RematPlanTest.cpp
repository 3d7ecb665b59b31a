//===- RematPlanTest.cpp - Policies decide plans, one rewrite applies them ===//
//
// Megatron's presets as plans that can be read before anything is rewritten,
// and a policy registered from outside (as a memory-budget solver will be)
// applied by the same rewrite.
//
//===----------------------------------------------------------------------===//

#include "GptStep.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

class RematPlanTest : public ::testing::Test {
protected:
  RematPlanTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  func::FuncOp gptStep() { return test::fourLayerGptStep(context, module); }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(RematPlanTest, MegatronPresetsAreReadablePlans) {
  func::FuncOp step = gptStep();
  FailureOr<StepGraph> graph = StepGraph::build(step);
  ASSERT_TRUE(succeeded(graph));
  std::string error;

  MegatronPolicy selective;
  selective.granularity = RecomputeGranularity::Selective;
  FailureOr<RematPlan> plan = selective.decide(*graph, error);
  ASSERT_TRUE(succeeded(plan)) << error;
  ASSERT_EQ(plan->groups.size(), 4u);
  EXPECT_EQ(plan->groups[0].label, "layer 0 core_attn");
  EXPECT_EQ(plan->groups[3].layer, 3);
  // Every discarded value is kept today and produced by the group's nodes.
  for (const RecomputeGroup &group : plan->groups)
    for (int id : group.discarded) {
      EXPECT_TRUE(graph->tensors[id].kept);
      EXPECT_TRUE(llvm::is_contained(group.nodes, graph->tensors[id].producer));
    }

  MegatronPolicy full;
  full.granularity = RecomputeGranularity::Full;
  full.method = RecomputeMethod::Uniform;
  full.numLayers = 2;
  plan = full.decide(*graph, error);
  ASSERT_TRUE(succeeded(plan)) << error;
  ASSERT_EQ(plan->groups.size(), 2u);
  EXPECT_EQ(plan->groups[0].label, "layers 0-1");
  EXPECT_EQ(plan->groups[1].label, "layers 2-3");
  EXPECT_EQ(full.describe(), "full uniform N=2");

  // Deciding rewrites nothing; an out-of-range preset is a message.
  full.numLayers = 5;
  EXPECT_TRUE(failed(full.decide(*graph, error)));
  EXPECT_EQ(error, "recompute-num-layers must be in [1, 4] (the model has 4 "
                   "layers), got 5");
  EXPECT_TRUE(step.getBody().getOps<RecomputeOp>().empty());
}

TEST_F(RematPlanTest, OptionsParseIntoTypedPresets) {
  std::string error;
  RematOptions options;
  options.granularity = "selective";
  options.modules = {"mlp", "layernorm"};
  std::unique_ptr<RematPolicy> policy =
      createRematPolicy("megatron", options, error);
  ASSERT_TRUE(policy) << error;
  EXPECT_EQ(policy->describe(), "selective(mlp,layernorm)");
  options.granularity = "partial";
  EXPECT_FALSE(createRematPolicy("megatron", options, error));
  EXPECT_EQ(error, "recompute-granularity must be none, selective or full, got "
                   "'partial'");
  EXPECT_FALSE(createRematPolicy("nope", RematOptions(), error));
  EXPECT_EQ(error,
            "unknown remat policy 'nope' (registered: budget, megatron, plan)");
}

/// Recomputes every GeLU of the step and nothing else: a policy that no
/// preset expresses, applied by the same rewrite.
class RecomputeGelus : public RematPolicy {
public:
  std::string describe() const override { return "gelus"; }
  FailureOr<RematPlan> decide(const StepGraph &graph,
                              std::string &) const override {
    RematPlan plan;
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Forward && isa<xf::GeluOp>(node.op))
        plan.groups.push_back(makeRecomputeGroup(
            graph, "gelu " + std::to_string(*node.layer), node.layer,
            {static_cast<int>(index)}, /*discardOutputs=*/true));
    return plan;
  }
};

TEST_F(RematPlanTest, ARegisteredPolicyUsesTheSameRewrite) {
  registerRematPolicy("gelus", [](const RematOptions &, std::string &) {
    return std::make_unique<RecomputeGelus>();
  });
  std::string error;
  std::unique_ptr<RematPolicy> policy =
      createRematPolicy("gelus", RematOptions(), error);
  ASSERT_TRUE(policy) << error;
  EXPECT_NE(llvm::find(registeredRematPolicies(), "gelus"),
            registeredRematPolicies().end());

  func::FuncOp step = gptStep();
  FailureOr<ActivationReport> before = analyzeActivations(step);
  ASSERT_TRUE(succeeded(before));
  FailureOr<RematResult> result = applyRemat(step, *policy);
  ASSERT_TRUE(succeeded(result));
  EXPECT_EQ(result->regions, 4);
  EXPECT_TRUE(succeeded(verifyRemat(step)));
  // Each layer's GeLU output (its MLP's fc2 input, 4h = 64 wide, f32 over
  // s·b = 8 rows) is no longer kept: 8·64·4 bytes less per layer.
  FailureOr<ActivationReport> after = analyzeActivations(step);
  ASSERT_TRUE(succeeded(after));
  for (size_t layer = 0; layer < 4; ++layer)
    EXPECT_EQ(before->perLayer[layer].keptBytes -
                  after->perLayer[layer].keptBytes,
              8 * 64 * 4)
        << "layer " << layer;
  EXPECT_EQ(after->recomputeRegions, 4);
}

/// Layer 0's MLP nodes, in order, and the index of its fc1.
std::pair<std::vector<int>, int> layer0Mlp(const StepGraph &graph) {
  std::vector<int> nodes;
  int fc1 = -1;
  for (auto [index, node] : llvm::enumerate(graph.nodes))
    if (node.phase == Phase::Forward && node.layer == 0 &&
        node.module == "mlp") {
      nodes.push_back(static_cast<int>(index));
      if (fc1 < 0 && isa<xf::LinearOp>(node.op))
        fc1 = static_cast<int>(index);
    }
  return {nodes, fc1};
}

TEST_F(RematPlanTest, KeptValuesAreReadNotRebuilt) {
  func::FuncOp step = gptStep();
  FailureOr<StepGraph> graph = StepGraph::build(step);
  ASSERT_TRUE(succeeded(graph));
  // Layer 0's MLP as one group (fc1, GeLU, fc2, dropout, add), but the plan
  // keeps fc1's output, which GeLU's backward reads after the region anyway:
  // the region reads it instead of re-running fc1, fc2 is dead, and the
  // dropout regenerates its mask alone.
  auto [mlp, fc1] = layer0Mlp(*graph);
  ASSERT_EQ(mlp.size(), 5u);
  RematPlan plan;
  plan.groups.push_back(
      makeRecomputeGroup(*graph, "layer 0 mlp", 0, mlp, false));
  std::vector<int> &discarded = plan.groups[0].discarded;
  int fc1Output = graph->nodes[fc1].outputs[0];
  auto kept = llvm::find(discarded, fc1Output);
  ASSERT_NE(kept, discarded.end());
  discarded.erase(kept);
  Value fc1Value = graph->tensors[fc1Output].value;

  FailureOr<RematResult> result = applyRematPlan(*graph, plan);
  ASSERT_TRUE(succeeded(result));
  EXPECT_EQ(result->removedOps, 3); // fc1, fc2 and the add.
  auto regions = llvm::to_vector(step.getBody().getOps<RecomputeOp>());
  ASSERT_EQ(regions.size(), 1u);
  RecomputeOp region = regions.front();
  ASSERT_EQ(region.getInputs().size(), 1u);
  EXPECT_EQ(region.getInputs()[0], fc1Value);
  std::vector<std::string> ops;
  for (Operation &op : region.getBody().front().without_terminator())
    ops.push_back(op.getName().getStringRef().str());
  EXPECT_EQ(ops, (std::vector<std::string>{"xf.gelu", "xf.dropout_mask"}));
  // What re-running the whole span costs is recorded: both MLP GEMMs.
  EXPECT_EQ(*region.getSpanMatmulFlops(), 2u * 2 * 8 * 16 * 64);
}

TEST_F(RematPlanTest, OverlappingGroupsAreRefused) {
  func::FuncOp step = gptStep();
  FailureOr<StepGraph> graph = StepGraph::build(step);
  ASSERT_TRUE(succeeded(graph));
  auto [mlp, fc1] = layer0Mlp(*graph);
  RematPlan plan;
  plan.groups.push_back(makeRecomputeGroup(*graph, "a", 0, mlp, false));
  plan.groups.push_back(makeRecomputeGroup(*graph, "b", 0, {fc1}, true));
  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    messages.push_back(diag.str());
    return success();
  });
  EXPECT_TRUE(failed(applyRematPlan(*graph, plan)));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "is in two recompute groups of the plan, 'a' and "
                         "'b'; the groups of a plan must be disjoint");
  EXPECT_TRUE(step.getBody().getOps<RecomputeOp>().empty());
}

} // namespace
