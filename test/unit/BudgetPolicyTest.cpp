//===- BudgetPolicyTest.cpp - The budget solver against exact references --===//
//
// The solver's layer costs are what the rewrite runs; on a one-layer model
// its plan is the cheapest of every subset of values that fits (exhaustive
// search with the planner); on two layers, the cheapest of every pair of
// frontier choices; with a Megatron preset's planned peak as the budget it
// never costs more than the preset.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Transforms/BudgetPolicy.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Support/ByteSize.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

TEST(ByteSizeTest, UnitsAndErrors) {
  std::string error;
  EXPECT_EQ(parseByteSize("40GiB", error), int64_t(40) << 30);
  EXPECT_EQ(parseByteSize("80GB", error), int64_t(80) * 1000 * 1000 * 1000);
  EXPECT_EQ(parseByteSize("1.5 MiB", error), 1572864);
  EXPECT_EQ(parseByteSize("123", error), 123);
  EXPECT_EQ(parseByteSize("7B", error), 7);
  EXPECT_EQ(parseByteSize("9223372036854775807", error), INT64_MAX);
  for (const char *bad : {"", "GiB", "-1", "1.2.3", "12XB", "8388608TiB",
                          "9223372036854775808", "1e3"}) {
    error.clear();
    EXPECT_EQ(parseByteSize(bad, error), -1) << bad;
    EXPECT_NE(error.find("is not a byte count"), std::string::npos) << bad;
  }
}

/// What a plan costs and needs when applied as the pass applies it.
struct Outcome {
  int64_t cost = 0, arena = 0;
};

class BudgetPolicyTest : public ::testing::Test {
protected:
  BudgetPolicyTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  const StepGraph &build(const std::string &config) {
    module = importModelConfig(config, "gpt.json", {}, &context);
    EXPECT_TRUE(module);
    auto forward = module->lookupSymbol<func::FuncOp>("forward");
    FailureOr<func::FuncOp> step = buildTrainingStep(forward, "train_step");
    EXPECT_TRUE(succeeded(step));
    FailureOr<StepGraph> built = StepGraph::build(*step);
    EXPECT_TRUE(succeeded(built));
    graph = std::move(*built);
    return graph;
  }

  Outcome outcomeOf(const RematPlan &plan) {
    OwningOpRef<ModuleOp> copy = module->clone();
    auto step = copy->lookupSymbol<func::FuncOp>("train_step");
    FailureOr<StepGraph> copyGraph = StepGraph::build(step);
    EXPECT_TRUE(succeeded(copyGraph));
    EXPECT_TRUE(succeeded(applyRematPlan(*copyGraph, plan)));
    scheduleRecomputeRegions(step);
    FailureOr<StepGraph> planned = StepGraph::build(step);
    EXPECT_TRUE(succeeded(planned));
    return {analyzeActivations(*planned).recompute.total(),
            planMemory(*planned).arenaBytes};
  }

  Outcome solve(int64_t budget) {
    BudgetPolicy policy;
    policy.memoryBudget = budget;
    std::string error;
    FailureOr<RematPlan> plan = policy.decide(graph, error);
    EXPECT_TRUE(succeeded(plan)) << error;
    return succeeded(plan) ? outcomeOf(*plan) : Outcome{-1, -1};
  }

  /// At `steps` + 1 budgets from the lowest to the highest arena of `all`
  /// (every plan of a reference search), the solver fits and costs no more
  /// than the reference's cheapest plan that fits (1% slack).
  void expectMatches(const std::vector<Outcome> &all, int steps) {
    int64_t lowest = INT64_MAX, highest = 0;
    for (const Outcome &o : all) {
      lowest = std::min(lowest, o.arena);
      highest = std::max(highest, o.arena);
    }
    ASSERT_LT(lowest, highest);
    for (int step = 0; step <= steps; ++step) {
      int64_t budget = lowest + (highest - lowest) * step / steps;
      int64_t best = INT64_MAX;
      for (const Outcome &o : all)
        if (o.arena <= budget)
          best = std::min(best, o.cost);
      Outcome got = solve(budget);
      EXPECT_LE(got.arena, budget) << budget;
      EXPECT_LE(got.cost, best + best / 100) << budget;
    }
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  StepGraph graph;
};

constexpr const char *kTwoLayers =
    R"({"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "hidden_dropout": 0.1, "attention_dropout": 0.1})";

TEST_F(BudgetPolicyTest, ChoiceCostsAreWhatTheRewriteRuns) {
  build(kTwoLayers);
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  ASSERT_EQ(models->size(), 2u);
  const LayerModel &layer0 = models->front();
  // A GPT layer with dropout: 14 values the backward reads besides the
  // layer's output (which stays kept).
  EXPECT_EQ(layer0.candidates.size(), 14u);
  // Both layers have one structure, so one frontier.
  ASSERT_EQ(layer0.frontier.size(), (*models)[1].frontier.size());
  // Cheapest first: keeping all costs nothing.
  EXPECT_EQ(layer0.frontier.front().discard, 0u);
  EXPECT_EQ(layer0.frontier.front().cost, 0);
  // Exact bytes (alignment 1) to compare with the report.
  int64_t keptAll = evaluateLayerChoice(graph, layer0, 0, 1).keptBytes;
  int64_t baseKept = analyzeActivations(graph).keptBytes;
  for (const LayerChoice &choice : layer0.frontier) {
    RematPlan plan = makeLayerPlan(graph, {layer0}, {choice.discard});
    OwningOpRef<ModuleOp> copy = module->clone();
    auto step = copy->lookupSymbol<func::FuncOp>("train_step");
    FailureOr<StepGraph> copyGraph = StepGraph::build(step);
    ASSERT_TRUE(succeeded(copyGraph));
    FailureOr<RematResult> result = applyRematPlan(*copyGraph, plan);
    ASSERT_TRUE(succeeded(result));
    // Without a region the step, and so its graph, is unchanged.
    ActivationReport report =
        analyzeActivations(result->graph ? *result->graph : *copyGraph);
    EXPECT_EQ(report.recompute.total(), choice.cost) << choice.discard;
    EXPECT_EQ(
        baseKept - report.keptBytes,
        keptAll -
            evaluateLayerChoice(graph, layer0, choice.discard, 1).keptBytes)
        << choice.discard;
  }
}

TEST_F(BudgetPolicyTest, OneLayerMatchesExhaustiveSearch) {
  build(R"({"num_layers": 1, "hidden_size": 16, "num_attention_heads": 2,
            "seq_length": 8, "micro_batch_size": 2, "padded_vocab_size": 32,
            "hidden_dropout": 0, "attention_dropout": 0})");
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  size_t k = models->front().candidates.size();
  ASSERT_LE(k, 12u);
  // Every subset of the layer's values, planned.
  std::vector<Outcome> all;
  for (uint64_t discard = 0; discard < (uint64_t(1) << k); ++discard)
    all.push_back(outcomeOf(makeLayerPlan(graph, *models, {discard})));
  expectMatches(all, 8);
}

TEST_F(BudgetPolicyTest, TwoLayersMatchEveryPairOfFrontierChoices) {
  build(kTwoLayers);
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  const std::vector<LayerChoice> &frontier = models->front().frontier;
  std::vector<Outcome> all;
  for (const LayerChoice &a : frontier)
    for (const LayerChoice &b : frontier)
      all.push_back(
          outcomeOf(makeLayerPlan(graph, *models, {a.discard, b.discard})));
  expectMatches(all, 6);
}

TEST_F(BudgetPolicyTest, NeverCostsMoreThanAPresetAtItsPeak) {
  build(R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
            "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
            "hidden_dropout": 0.1, "attention_dropout": 0.1})");
  for (const MegatronPolicy &preset : standardMegatronPolicies(4, false)) {
    std::string error;
    FailureOr<RematPlan> plan = preset.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    Outcome megatron = outcomeOf(*plan);
    Outcome got = solve(megatron.arena);
    EXPECT_LE(got.arena, megatron.arena) << preset.describe();
    EXPECT_LE(got.cost, megatron.cost) << preset.describe();
  }
}

TEST_F(BudgetPolicyTest, BetweenTwoPresetsCostsLessThanTheCheaperThatFits) {
  build(R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
            "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
            "hidden_dropout": 0.1, "attention_dropout": 0.1})");
  std::vector<Outcome> presets;
  for (const MegatronPolicy &preset : standardMegatronPolicies(4, false)) {
    std::string error;
    FailureOr<RematPlan> plan = preset.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    presets.push_back(outcomeOf(*plan));
  }
  llvm::sort(presets, [](const Outcome &a, const Outcome &b) {
    return a.arena < b.arena;
  });
  int checked = 0;
  for (size_t i = 0; i + 1 < presets.size(); ++i) {
    if (presets[i + 1].arena - presets[i].arena < 2)
      continue;
    int64_t budget = (presets[i].arena + presets[i + 1].arena) / 2;
    int64_t cheapest = INT64_MAX; // Of the presets that fit.
    for (const Outcome &p : presets)
      if (p.arena <= budget)
        cheapest = std::min(cheapest, p.cost);
    Outcome got = solve(budget);
    EXPECT_LE(got.arena, budget);
    EXPECT_LT(got.cost, cheapest) << "budget " << budget;
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST_F(BudgetPolicyTest, AnImpossibleBudgetNamesTheLowestPeak) {
  build(kTwoLayers);
  BudgetPolicy policy;
  policy.memoryBudget = 1000;
  std::string error;
  EXPECT_TRUE(failed(policy.decide(graph, error)));
  EXPECT_NE(error.find("memory-budget of 1000 bytes, below the smallest "
                       "planned peak the solver reaches, 87040 bytes"),
            std::string::npos)
      << error;
}

} // namespace
