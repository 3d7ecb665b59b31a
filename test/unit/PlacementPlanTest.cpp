//===- PlacementPlanTest.cpp - The plan as data, and its names ------------===//
//
// The placement plan's file on hand-made plans (no MLIR), the stable names
// of a step's values, and every Megatron preset described as a placement
// plan and bound back to the very remat plan it came from.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Plan/PlacementPlan.h"
#include "GptStep.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Rewrite/PlanBinding.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
using namespace ckpt;
using plan::Placement;
using plan::PlacementPlan;

namespace {

/// A plan of two layers by hand: one kept value, one recomputed in a group,
/// a shard over 2 ranks and an offloaded value.
PlacementPlan handMadePlan() {
  PlacementPlan plan;
  plan.policy = "by hand";
  plan.model = {{"family", "gpt"}, {"num_layers", "2"}};
  plan.tensorParallelSize = 2;
  plan.groups.push_back({"layer 0", 0, {"L0.mlp.linear#0", "L0.mlp.gelu"}});
  plan.values = {
      {"embedding.dropout:result", std::nullopt, 64, Placement::Shard, ""},
      {"L0.mlp.linear#0", 0, 100, Placement::Recompute, "layer 0"},
      {"L0.mlp.gelu", 0, 100, Placement::Keep, ""},
      {"L1.mlp.gelu", 1, 40, Placement::Offload, ""},
  };
  return plan;
}

std::optional<std::vector<PlacementPlan>> parseAll(llvm::StringRef text,
                                                   std::string &error) {
  llvm::Expected<llvm::json::Value> json = llvm::json::parse(text);
  EXPECT_TRUE(static_cast<bool>(json));
  if (!json) {
    llvm::consumeError(json.takeError());
    return std::nullopt;
  }
  return plan::planFromJSON(*json, error);
}

/// The file's one plan.
std::optional<PlacementPlan> parse(llvm::StringRef text, std::string &error) {
  std::optional<std::vector<PlacementPlan>> plans = parseAll(text, error);
  if (!plans)
    return std::nullopt;
  EXPECT_EQ(plans->size(), 1u);
  return plans->front();
}

/// The message that refuses `text` with its first `from` replaced by `to`.
std::string refusalOf(const std::string &text, llvm::StringRef from,
                      llvm::StringRef to) {
  std::string edited = text;
  size_t at = edited.find(from.str());
  EXPECT_NE(at, std::string::npos) << from.str();
  if (at != std::string::npos)
    edited.replace(at, from.size(), to.str());
  std::string error;
  EXPECT_FALSE(parseAll(edited, error));
  return error;
}

TEST(PlacementPlanFile, RoundTripsEveryPlacement) {
  PlacementPlan plan = handMadePlan();
  // Kept: 100 whole, and the shard's half of 64.
  EXPECT_EQ(plan.keptBytes(), 132);
  std::string text = plan::formatPlanFile(plan);
  std::string error;
  std::optional<PlacementPlan> back = parse(text, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->policy, "by hand");
  EXPECT_EQ(back->model, plan.model);
  EXPECT_EQ(back->tensorParallelSize, 2);
  ASSERT_EQ(back->groups.size(), 1u);
  EXPECT_EQ(back->groups[0].label, "layer 0");
  EXPECT_EQ(back->groups[0].layer, 0);
  EXPECT_EQ(back->groups[0].ops, plan.groups[0].ops);
  ASSERT_EQ(back->values.size(), plan.values.size());
  for (auto [read, written] : llvm::zip(back->values, plan.values)) {
    EXPECT_EQ(read.name, written.name);
    EXPECT_EQ(read.layer, written.layer);
    EXPECT_EQ(read.bytes, written.bytes);
    EXPECT_EQ(read.placement, written.placement);
    EXPECT_EQ(read.group, written.group);
  }
  EXPECT_EQ(plan::formatPlanFile(*back), text);
}

TEST(PlacementPlanFile, RefusesWhatItCannotRead) {
  std::string text = plan::formatPlanFile(handMadePlan());
  auto refusal = [&](llvm::StringRef from, llvm::StringRef to) {
    return refusalOf(text, from, to);
  };
  EXPECT_EQ(refusal("\"version\": 1", "\"version\": 7"),
            "version: is 7; this build reads version 1 (the plan was written "
            "by a newer ckpt-opt)");
  EXPECT_EQ(
      refusal("\"schema\": \"ckpt-plan\"", "\"schema\": \"ckpt-profile\""),
      "schema: must be 'ckpt-plan', got 'ckpt-profile': not a placement "
      "plan");
  EXPECT_EQ(refusal("\"placement\": \"keep\"", "\"placement\": \"host\""),
            "layers[1].values[1].placement: must be one of keep, recompute, "
            "shard, offload, got 'host'");
  EXPECT_EQ(refusal("\"group\": \"layer 0\"", "\"group\": \"layer 9\""),
            "layers[1].values[0].group: no group is labelled 'layer 9' (the "
            "plan's groups list them)");
  EXPECT_EQ(
      refusal("{\"value\": \"L0.mlp.gelu\"", "{\"value\": \"L0.mlp.linear#0\""),
      "layers[1].values[1].value: 'L0.mlp.linear#0' is placed twice "
      "(also at layers[1].values[0])");
  EXPECT_EQ(
      refusal("\"tensor_parallel_size\": 2", "\"tensor_parallel_size\": 1"),
      "layers[0].values[0].placement: a shard needs "
      "tensor_parallel_size 2 or more; the plan's is 1");
  EXPECT_EQ(refusal("\"bytes\": 40", "\"bytes\": -40"),
            "layers[2].values[0].bytes: must be at least 0, got -40");
  EXPECT_EQ(refusal("\"kept_bytes\": 132", "\"kept\": 132"),
            "kept: unknown field (allowed: schema, version, pipeline_stage, "
            "policy, model, tensor_parallel_size, kept_bytes, groups, layers, "
            "stages)");
  EXPECT_EQ(
      refusal("\"ops\": [\"L0.mlp.linear#0\", \"L0.mlp.gelu\"]", "\"ops\": []"),
      "groups[0].ops: must name at least one op");
}

// Bad input never crashes the reader: every prefix of a plan file, and the
// file with bytes replaced, gives a plan or a message.
TEST(PlacementPlanFile, DamagedFilesGiveMessages) {
  PlacementPlan first = handMadePlan(), last = handMadePlan();
  first.pipelineStage = 0;
  last.pipelineStage = 1;
  std::string text = plan::formatPlanFile(std::vector{first, last});
  auto check = [](const std::string &input) {
    llvm::Expected<llvm::json::Value> json = llvm::json::parse(input);
    if (!json) {
      llvm::consumeError(json.takeError());
      return;
    }
    std::string error;
    std::optional<std::vector<PlacementPlan>> plans =
        plan::planFromJSON(*json, error);
    EXPECT_TRUE(plans.has_value() || !error.empty()) << input;
  };
  for (size_t length = 0; length <= text.size(); ++length)
    check(text.substr(0, length));
  std::mt19937 random(11);
  const char replacements[] = {'0', '-', '"', '{', '}', '[', ']',
                               ',', ':', 'x', ' ', '9', 'n', 't'};
  for (int trial = 0; trial < 4000; ++trial) {
    std::string damaged = text;
    for (int edits = 0; edits < 3; ++edits)
      damaged[random() % damaged.size()] =
          replacements[random() % sizeof(replacements)];
    check(damaged);
  }
}

TEST(PlacementPlanFile, APipelineHasAPlanPerStage) {
  PlacementPlan first = handMadePlan(), last = handMadePlan();
  first.pipelineStage = 0;
  last.pipelineStage = 1;
  last.values.pop_back();
  std::string text = plan::formatPlanFile(std::vector{first, last});
  std::string error;
  std::optional<std::vector<PlacementPlan>> plans = parseAll(text, error);
  ASSERT_TRUE(plans) << error;
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].pipelineStage, 0);
  EXPECT_EQ((*plans)[1].pipelineStage, 1);
  EXPECT_EQ((*plans)[1].values.size(), 3u);
  EXPECT_EQ(plan::formatPlanFile(*plans), text);
  // One plan of a stage keeps its stage.
  std::optional<PlacementPlan> alone = parse(plan::formatPlanFile(last), error);
  ASSERT_TRUE(alone) << error;
  EXPECT_EQ(alone->pipelineStage, 1);

  auto refusal = [&](llvm::StringRef from, llvm::StringRef to) {
    return refusalOf(text, from, to);
  };
  EXPECT_EQ(refusal("\"pipeline_stage\": 1", "\"pipeline_stage\": 0"),
            "stages[1].pipeline_stage: stage 0 has two plans");
  EXPECT_EQ(refusal("\"pipeline_stage\": 1,", ""),
            "stages[1].pipeline_stage: is missing (the stage this plan is "
            "for)");
  EXPECT_EQ(refusal("\"version\": 1,", "\"version\": 1, \"policy\": \"x\","),
            "policy: a file of stages holds its plans under stages only");
  EXPECT_EQ(refusal("\"placement\": \"keep\"", "\"placement\": \"host\""),
            "stages[0].layers[1].values[1].placement: must be one of keep, "
            "recompute, shard, offload, got 'host'");
}

class PlanBindingTest : public ::testing::Test {
protected:
  PlanBindingTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  func::FuncOp gptStep() { return test::fourLayerGptStep(context, module); }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(PlanBindingTest, EverySavedValueHasItsOwnName) {
  FailureOr<StepGraph> graph = StepGraph::build(gptStep());
  ASSERT_TRUE(succeeded(graph));
  PlanNames names(*graph);
  // A pre-LN layer has two norms, two linears in its MLP, and a dropout
  // whose result and mask are two values.
  EXPECT_GE(names.findNode("L2.layernorm.layer_norm#1"), 0);
  EXPECT_EQ(names.findNode("L2.layernorm.layer_norm#2"), -1);
  EXPECT_GE(names.findNode("L3.mlp.linear#1"), 0);
  int mask = names.findValue("L1.core_attn.dropout:mask");
  ASSERT_GE(mask, 0);
  EXPECT_EQ(graph->tensors[mask].bytes, 2 * 8 * 8); // a·s·s·b masks of 1 byte
  llvm::StringSet<> seen;
  for (int id : names.savedValues()) {
    std::string name = names.value(id);
    EXPECT_TRUE(seen.insert(name).second) << name;
    EXPECT_EQ(names.findValue(name), id) << name;
    EXPECT_TRUE(graph->tensors[id].kept);
  }
  // Every kept forward result is placed.
  int kept = 0;
  for (const StepNode &node : graph->nodes)
    if (node.phase == Phase::Forward)
      for (int id : node.outputs)
        kept += graph->tensors[id].kept;
  EXPECT_EQ(static_cast<int>(names.savedValues().size()), kept);
}

TEST_F(PlanBindingTest, EveryPresetBindsBackToItsPlan) {
  FailureOr<StepGraph> graph = StepGraph::build(gptStep());
  ASSERT_TRUE(succeeded(graph));
  for (const MegatronPolicy &policy :
       standardMegatronPolicies(4, /*distributable=*/false)) {
    std::string error;
    FailureOr<RematPlan> decided = policy.decide(*graph, error);
    ASSERT_TRUE(succeeded(decided)) << policy.describe() << ": " << error;
    PlacementPlan placements =
        describePlan(*graph, *decided, policy.describe(), {});
    // Through the file, as a user would reload it.
    std::optional<PlacementPlan> reread =
        parse(plan::formatPlanFile(placements), error);
    ASSERT_TRUE(reread) << error;
    std::optional<RematPlan> bound = bindPlan(*graph, *reread, 1, error);
    ASSERT_TRUE(bound) << policy.describe() << ": " << error;
    // The groups that discard something, in order, with the same nodes and
    // discarded values.
    std::vector<const RecomputeGroup *> expected;
    for (const RecomputeGroup &group : decided->groups)
      if (!group.discarded.empty())
        expected.push_back(&group);
    ASSERT_EQ(bound->groups.size(), expected.size()) << policy.describe();
    for (auto [got, want] : llvm::zip(bound->groups, expected)) {
      EXPECT_EQ(got.label, want->label);
      EXPECT_EQ(got.layer, want->layer);
      EXPECT_EQ(got.nodes, want->nodes);
      EXPECT_EQ(got.discarded, want->discarded);
    }
    EXPECT_FALSE(bound->distributeInputs);
  }
}

TEST_F(PlanBindingTest, AGroupNamesOnlyTheStepsOps) {
  FailureOr<StepGraph> graph = StepGraph::build(gptStep());
  ASSERT_TRUE(succeeded(graph));
  PlanNames names(*graph);
  PlacementPlan placements = describePlan(*graph, RematPlan{}, "none", {});
  // A group naming an op that is not in the step.
  placements.groups.push_back({"g", 0, {"L0.mlp.gelu", "L0.mlp.fc9"}});
  std::string error;
  EXPECT_FALSE(bindPlan(*graph, placements, 1, error));
  EXPECT_EQ(error.rfind("groups[0] 'g': no forward op 'L0.mlp.fc9' in this "
                        "step (this step's ops there: L0.mlp.linear#0,",
                        0),
            0u)
      << error;
}

} // namespace
