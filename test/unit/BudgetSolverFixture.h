//===- BudgetSolverFixture.h - Steps, outcomes and an exact reference -----===//
//
// Shared by the budget solver's tests: a training step imported from a
// config (a pipeline stage with overrides), what a plan costs and needs as
// the pass applies it (a stage's step unrolled into its micro-batches), and
// the exact optimum of the solver's estimate by CBC.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_TEST_UNIT_BUDGETSOLVERFIXTURE_H
#define CKPT_TEST_UNIT_BUDGETSOLVERFIXTURE_H

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>

namespace ckpt::test {

using namespace mlir;

/// What a plan costs and needs when applied as the pass applies it.
struct Outcome {
  int64_t cost = 0, arena = 0;
};

class BudgetPolicyTest : public ::testing::Test {
protected:
  BudgetPolicyTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  const StepGraph &build(const std::string &config,
                         const config::ConfigOverrides &overrides = {}) {
    module = importModelConfig(config, "gpt.json", overrides, &context);
    EXPECT_TRUE(module);
    auto forward = module->lookupSymbol<func::FuncOp>("forward");
    FailureOr<func::FuncOp> step = buildTrainingStep(forward, "train_step");
    EXPECT_TRUE(succeeded(step));
    FailureOr<StepGraph> built = StepGraph::build(*step);
    EXPECT_TRUE(succeeded(built));
    graph = std::move(*built);
    return graph;
  }

  /// The report of the step with `plan` applied to a copy (the step as it
  /// is when the plan makes no region).
  ActivationReport reportAfter(const RematPlan &plan) {
    OwningOpRef<ModuleOp> copy = module->clone();
    auto step = copy->lookupSymbol<func::FuncOp>("train_step");
    FailureOr<StepGraph> copyGraph = StepGraph::build(step);
    EXPECT_TRUE(succeeded(copyGraph));
    FailureOr<RematResult> result = applyRematPlan(*copyGraph, plan);
    EXPECT_TRUE(succeeded(result));
    if (failed(result))
      return ActivationReport();
    return analyzeActivations(result->graph ? *result->graph : *copyGraph);
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
    int64_t cost = analyzeActivations(*planned).recompute.total();
    // A pipeline stage's arena is its unrolled schedule's.
    if (getPipelineShape(*copy)) {
      EXPECT_TRUE(succeeded(unrollPipelineSchedule(*copy, "train_step")));
      planned =
          StepGraph::build(copy->lookupSymbol<func::FuncOp>("train_step"));
      EXPECT_TRUE(succeeded(planned));
    }
    return {cost, planMemory(*planned).arenaBytes};
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

  /// Every `stride`-th choice of `layer`'s frontier (and the last) costs
  /// and keeps what the rewrite of its plan recomputes and keeps (exact
  /// bytes, alignment 1).
  void expectFrontierIsWhatTheRewriteRuns(const LayerModel &layer,
                                          size_t stride = 1) {
    int64_t keptAll = evaluateLayerChoice(graph, layer, 0, 1).keptBytes;
    int64_t baseKept = analyzeActivations(graph).keptBytes;
    for (size_t i = 0; i < layer.frontier.size(); ++i) {
      if (i % stride != 0 && i + 1 != layer.frontier.size())
        continue;
      const LayerChoice &choice = layer.frontier[i];
      ActivationReport report =
          reportAfter(makeLayerPlan(graph, {layer}, {choice.discard}));
      EXPECT_EQ(report.recompute.total(), choice.cost) << choice.discard;
      EXPECT_EQ(
          baseKept - report.keptBytes,
          keptAll -
              evaluateLayerChoice(graph, layer, choice.discard, 1).keptBytes)
          << choice.discard;
    }
  }

  /// With each of Megatron's standard presets for `layers` layers, and full
  /// block recompute of any number of layers (GPT-3 175B with t = 8 and SP:
  /// N = 95 beat the standard ones), its planned arena as the budget: the
  /// solver's plan fits and costs no more.
  void expectNeverAboveAPresetAtItsPeak(int64_t layers) {
    for (const MegatronPolicy &preset : standardMegatronPolicies(layers, false))
      expectNeverAbove(preset);
    for (int64_t n = 1; n <= layers; ++n)
      expectNeverAboveFullBlock(n);
  }

  /// The same for full block recompute of `n` layers.
  void expectNeverAboveFullBlock(int64_t n) {
    MegatronPolicy block;
    block.granularity = RecomputeGranularity::Full;
    block.method = RecomputeMethod::Block;
    block.numLayers = n;
    expectNeverAbove(block);
  }

  /// At `preset`'s planned peak the solver's plan fits and costs no more.
  void expectNeverAbove(const MegatronPolicy &preset) {
    std::string error;
    FailureOr<RematPlan> plan = preset.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    Outcome megatron = outcomeOf(*plan);
    Outcome got = solve(megatron.arena);
    EXPECT_LE(got.arena, megatron.arena) << preset.describe();
    EXPECT_LE(got.cost, megatron.cost) << preset.describe();
  }

  /// At caps from 2/5 of `highest` up to it, the layer-chain program finds
  /// a plan exactly when CBC does, and costs at most 1% more, per-layer
  /// choices alone and with the chains (`chainCount` of up to 4 layers).
  /// The estimate is calibrated here; `pipeline` gives its in-flight chunks.
  void expectDynamicProgramMatchesMilp(const PeakEstimate &pipeline,
                                       int64_t highest, size_t chainCount);

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  StepGraph graph;
};

/// Random chains over `layers` layers, as the solver models them (one
/// choice, which discards everything), about one starting at every other
/// layer: spans of 2 to 1 + `spans`, kept bytes of 0 to `kept` - 1 units,
/// backward peaks of `peak` to `peak` + `peaks` - 1 units, and costs of 1000
/// to 1000 + `costs` - 1.
inline std::vector<LayerModel> randomChains(std::mt19937_64 &rng, int layers,
                                            int64_t unit, uint64_t spans,
                                            uint64_t kept, int64_t peak,
                                            uint64_t peaks, uint64_t costs) {
  std::vector<LayerModel> chains;
  for (int first = 0; first + 1 < layers; ++first)
    if (rng() % 2) {
      LayerModel chain;
      chain.layer = first;
      chain.span = std::min<int64_t>(2 + static_cast<int64_t>(rng() % spans),
                                     layers - first);
      LayerChoice choice;
      choice.discard = ~uint64_t(0);
      choice.keptBytes = unit * static_cast<int64_t>(rng() % kept);
      choice.internalPeak = unit * (peak + static_cast<int64_t>(rng() % peaks));
      choice.cost = 1000 + static_cast<int64_t>(rng() % costs);
      chain.frontier = {choice};
      chains.push_back(chain);
    }
  return chains;
}

/// The exact optimum of the estimate at `cap` by CBC over per-layer choices
/// (x) and chains (y): its cost, or none when CBC finds it infeasible.
inline std::optional<int64_t>
solveWithCbc(const std::vector<LayerModel> &models,
             const std::vector<LayerModel> &chains,
             const PeakEstimate &estimate, int64_t cap, int64_t bigM,
             const std::string &dir) {
  std::string lp = dir + "/chain.lp", out = dir + "/chain.sol";
  std::ofstream file(lp);
  auto var = [](size_t layer, size_t choice) {
    return "x_" + std::to_string(layer) + "_" + std::to_string(choice);
  };
  auto chainVar = [](size_t chain) { return "y_" + std::to_string(chain); };
  auto first = [&](const LayerModel &chain) {
    return static_cast<size_t>(llvm::find_if(models,
                                             [&](const LayerModel &m) {
                                               return m.layer == chain.layer;
                                             }) -
                               models.begin());
  };
  auto last = [&](const LayerModel &chain) {
    return first(chain) + static_cast<size_t>(chain.span) - 1;
  };
  // The kept bytes of the layers below `l` (choices and chains), and the
  // other micro-batches in flight: (inFlightChunks - chunks) / chunks
  // copies of every layer's.
  double others =
      static_cast<double>(estimate.inFlightChunks - estimate.chunks) /
      static_cast<double>(estimate.chunks);
  using Terms = std::map<std::string, double>;
  auto keptBelow = [&](size_t l) {
    Terms terms;
    auto term = [&](int64_t kept, bool below, const std::string &name) {
      terms[name] += static_cast<double>(kept) * ((below ? 1 : 0) + others);
    };
    for (size_t layer = 0; layer < models.size(); ++layer)
      for (auto [c, choice] : llvm::enumerate(models[layer].frontier))
        term(choice.keptBytes, layer < l, var(layer, c));
    for (auto [c, chain] : llvm::enumerate(chains))
      term(chain.frontier.front().keptBytes, last(chain) < l, chainVar(c));
    return terms;
  };
  auto emit = [&](const Terms &terms) {
    for (const auto &[name, weight] : terms)
      if (weight != 0)
        file << " + " << std::fixed << std::setprecision(3) << weight << " "
             << name;
  };
  file << "Minimize\n obj:";
  for (auto [l, model] : llvm::enumerate(models))
    for (auto [c, choice] : llvm::enumerate(model.frontier))
      file << " + " << choice.cost << " " << var(l, c);
  for (auto [c, chain] : llvm::enumerate(chains))
    file << " + " << chain.frontier.front().cost << " " << chainVar(c);
  file << "\nSubject To\n";
  for (auto [l, model] : llvm::enumerate(models)) {
    // One choice per layer, or one chain over it.
    file << " one_" << l << ":";
    for (size_t c = 0; c < model.frontier.size(); ++c)
      file << " + " << var(l, c);
    for (auto [c, chain] : llvm::enumerate(chains))
      if (first(chain) <= l && l <= last(chain))
        file << " + " << chainVar(c);
    file << " = 1\n";
    // Layer l's backward: the layers below keep their bytes.
    file << " peak_" << l << ":";
    Terms peak = keptBelow(l);
    for (auto [c, choice] : llvm::enumerate(model.frontier))
      peak[var(l, c)] += static_cast<double>(choice.internalPeak);
    emit(peak);
    file << " <= " << cap - estimate.segment[l] << "\n";
  }
  // A chosen chain's backward, under its largest segment (big-M when not
  // chosen).
  for (auto [c, chain] : llvm::enumerate(chains)) {
    int64_t segment = INT64_MIN;
    for (size_t l = first(chain); l <= last(chain); ++l)
      segment = std::max(segment, estimate.segment[l]);
    file << " chain_" << c << ":";
    Terms peak = keptBelow(first(chain));
    peak[chainVar(c)] +=
        static_cast<double>(chain.frontier.front().internalPeak + bigM);
    emit(peak);
    file << " <= " << cap - segment + bigM << "\n";
  }
  file << " head:";
  emit(keptBelow(models.size()));
  file << " <= " << cap - estimate.head << "\nBinary\n";
  for (auto [l, model] : llvm::enumerate(models))
    for (size_t c = 0; c < model.frontier.size(); ++c)
      file << " " << var(l, c) << "\n";
  for (size_t c = 0; c < chains.size(); ++c)
    file << " " << chainVar(c) << "\n";
  file << "End\n";
  file.close();
  std::string command =
      "cbc " + lp + " solve solu " + out + " > " + dir + "/cbc.log 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream solution(out);
  std::string status;
  std::getline(solution, status);
  if (status.find("Infeasible") != std::string::npos)
    return std::nullopt;
  EXPECT_NE(status.find("Optimal"), std::string::npos) << status;
  // "Optimal - objective value 123.0"
  std::istringstream words(status.substr(status.find("value") + 5));
  double objective = 0;
  words >> objective;
  return static_cast<int64_t>(std::llround(objective));
}

inline void BudgetPolicyTest::expectDynamicProgramMatchesMilp(
    const PeakEstimate &pipeline, int64_t highest, size_t chainCount) {
  ASSERT_EQ(std::system("command -v cbc > /dev/null"), 0)
      << "CBC is missing: run scripts/install-deps.sh (package coinor-cbc)";
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  std::vector<LayerModel> chains = buildChainModels(graph, *models, 4);
  ASSERT_EQ(chains.size(), chainCount);
  PeakEstimate estimate =
      calibratePeakEstimate(graph, *models, planMemory(graph));
  estimate.inFlightChunks = pipeline.inFlightChunks;
  estimate.chunks = pipeline.chunks;

  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("budget-milp", dir));
  auto costOf = [&](const std::vector<LayerPick> &picks) {
    int64_t cost = 0;
    for (const LayerPick &pick : picks)
      cost += evaluateLayerChoice(graph, *pick.model, pick.discard).cost;
    return cost;
  };
  // Per-layer choices alone, then with the chains.
  for (bool withChains : {false, true}) {
    const std::vector<LayerModel> none;
    const std::vector<LayerModel> &offered = withChains ? chains : none;
    int solved = 0;
    for (int step = 0; step <= 12; ++step) {
      int64_t cap = highest * 2 / 5 + highest * step / 20;
      std::optional<int64_t> exact = solveWithCbc(
          *models, offered, estimate, cap, 8 * highest + cap, dir.str().str());
      std::optional<std::vector<LayerPick>> dp =
          cheapestWithin(*models, estimate, cap, offered);
      ASSERT_EQ(exact.has_value(), dp.has_value()) << "cap " << cap;
      if (!exact)
        continue;
      EXPECT_GE(costOf(*dp), *exact) << "cap " << cap;
      EXPECT_LE(costOf(*dp), *exact + *exact / 100) << "cap " << cap;
      ++solved;
    }
    EXPECT_GE(solved, 6);
  }
  llvm::sys::fs::remove_directories(dir);
}

} // namespace ckpt::test

#endif // CKPT_TEST_UNIT_BUDGETSOLVERFIXTURE_H
