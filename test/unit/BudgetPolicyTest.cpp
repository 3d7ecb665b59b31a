//===- BudgetPolicyTest.cpp - The budget solver against exact references --===//
//
// The solver's layer costs are what the rewrite runs; on a one-layer model
// its plan is the cheapest of every subset of values that fits (exhaustive
// search with the planner); on two layers, the cheapest of every pair of
// frontier choices; with a Megatron preset's planned peak as the budget it
// never costs more than the preset. Its layer-chain DP (per-layer choices
// and chains of layers) is checked against an exact mixed-integer program
// of the same estimate, solved by CBC (Debian's coinor-cbc, installed by
// scripts/install-deps.sh). Chains reach below every preset on a deep
// model; with distributed saved activations the solver's layer accounting
// is what the rewrite keeps.
//
//===----------------------------------------------------------------------===//

#include "BudgetSolverFixture.h"
#include "ckpt/Support/ByteSize.h"

#include "llvm/Support/FileSystem.h"

#include <fstream>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

using namespace mlir;
using namespace ckpt;
using namespace ckpt::test;

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
  // Both layers have one structure (they differ only in their layer number
  // and their dropouts' random streams), so one enumeration and one
  // frontier.
  EXPECT_EQ(layer0.structure, (*models)[1].structure);
  ASSERT_EQ(layer0.frontier.size(), (*models)[1].frontier.size());
  // Cheapest first: keeping all costs nothing.
  EXPECT_EQ(layer0.frontier.front().discard, 0u);
  EXPECT_EQ(layer0.frontier.front().cost, 0);
  expectFrontierIsWhatTheRewriteRuns(layer0);
}

// A mixture-of-experts layer (capacity-limited routing, a shared expert,
// the balancing loss): integer routing maps and expert buffers among the
// candidates, and the same agreement with the rewrite.
TEST_F(BudgetPolicyTest, MoeChoiceCostsAreWhatTheRewriteRuns) {
  build(R"({"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
            "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
            "hidden_dropout": 0.0, "attention_dropout": 0.0,
            "add_bias_linear": false, "swiglu": true,
            "num_moe_experts": 4, "moe_router_topk": 2,
            "moe_ffn_hidden_size": 24, "moe_expert_capacity_factor": 1.0,
            "moe_shared_expert_intermediate_size": 16,
            "moe_aux_loss_coeff": 0.01})");
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  ASSERT_EQ(models->size(), 2u);
  // 18 candidates and a frontier of 350 choices: every 15th and the last.
  EXPECT_EQ(models->front().candidates.size(), 18u);
  expectFrontierIsWhatTheRewriteRuns(models->front(), 15);
  // The solver's plans fit their budgets between keeping all and its floor.
  int64_t keepAll = solve(INT64_MAX / 4).arena;
  Outcome tight = solve(keepAll * 3 / 4);
  EXPECT_LE(tight.arena, keepAll * 3 / 4);
  EXPECT_GT(tight.cost, 0);
}

// A layer of more than 16 candidates (a mixture-of-experts layer) is
// enumerated as two halves that its backward reads apart; its frontier is
// the one every subset gives, choice for choice. Dense layers (GPT: 14)
// are enumerated whole.
TEST_F(BudgetPolicyTest, HalvesGiveTheFrontierOfEverySubset) {
  std::string tinyMoe =
      R"({"num_layers": 2, "hidden_size": 48, "num_attention_heads": 6,
          "num_query_groups": 2, "ffn_hidden_size": 88, "seq_length": 16,
          "micro_batch_size": 2, "padded_vocab_size": 128,
          "hidden_dropout": 0.1, "attention_dropout": 0.1,
          "normalization": "RMSNorm", "swiglu": true,
          "add_bias_linear": false,
          "untie_embeddings_and_output_weights": true,
          "position_embedding_type": "rope", "num_moe_experts": 4,
          "moe_router_topk": 2, "moe_ffn_hidden_size": 40,
          "moe_shared_expert_intermediate_size": 32,
          "moe_expert_capacity_factor": 1.0, "moe_aux_loss_coeff": 0.01})";
  // Without dropout a layer has fewer candidates (its masks), so every
  // subset is quick to enumerate.
  std::string noDropout = tinyMoe;
  for (std::string key :
       {R"("hidden_dropout": 0.1)", R"("attention_dropout": 0.1)"})
    noDropout.replace(noDropout.find(key), key.size(),
                      key.substr(0, key.size() - 3) + "0.0");
  std::string dropless = noDropout;
  std::string capacity = R"("moe_expert_capacity_factor": 1.0, )";
  dropless.replace(dropless.find(capacity), capacity.size(), "");
  std::string mixtral;
  {
    std::ifstream in(std::string(CKPT_EXAMPLES_DIR) + "/tiny-mixtral.json");
    std::stringstream text;
    text << in.rdbuf();
    mixtral = text.str();
  }
  struct Case {
    std::string name, config;
    config::ConfigOverrides overrides;
    int64_t distribute = 1;
  };
  config::ConfigOverrides t2;
  t2.tensorParallelSize = 2;
  config::ConfigOverrides t2sp = t2;
  t2sp.sequenceParallel = true;
  std::vector<Case> cases = {
      {"tiny MoE", tinyMoe, {}},
      {"tiny MoE, no dropout, t=2, distributed", noDropout, t2, 2},
      {"tiny MoE, no dropout, t=2, SP", noDropout, t2sp},
      {"dropless tiny MoE, no dropout", dropless, {}},
      {"tiny Mixtral", mixtral, {}},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    build(c.config, c.overrides);
    std::string error;
    FailureOr<std::vector<LayerModel>> models =
        buildLayerModels(graph, error, 64, RecomputeCost(), c.distribute);
    ASSERT_TRUE(succeeded(models)) << error;
    const LayerModel &layer = models->front();
    if (layer.candidates.size() <= 16) {
      EXPECT_EQ(layer.halvesAt, -1);
      continue;
    }
    EXPECT_GT(layer.halvesAt, 0);
    std::vector<LayerChoice> every =
        frontierOfEverySubset(graph, layer, 64, RecomputeCost());
    ASSERT_EQ(layer.frontier.size(), every.size());
    for (size_t i = 0; i < every.size(); ++i) {
      const LayerChoice &a = layer.frontier[i], &b = every[i];
      EXPECT_EQ(std::make_tuple(a.discard, a.cost, a.keptBytes, a.internalPeak),
                std::make_tuple(b.discard, b.cost, b.keptBytes, b.internalPeak))
          << "choice " << i;
    }
  }
  build(kTwoLayers);
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  EXPECT_EQ(models->front().halvesAt, -1);
}

/// The picks as (first layer, span, discard), comparable across runs.
std::vector<std::tuple<int64_t, int64_t, uint64_t>>
picksOf(const std::optional<std::vector<LayerPick>> &picks) {
  std::vector<std::tuple<int64_t, int64_t, uint64_t>> out;
  if (picks)
    for (const LayerPick &pick : *picks)
      out.emplace_back(pick.model->layer, pick.model->span, pick.discard);
  return out;
}

// The DP offers a state only the choices that can win a bucket from it
// (each room's staircase of kept bytes against cost, the last step per
// bucket): the same picks as offering every choice, at every cap, on
// random layers (ties of kept bytes and cost included) with chains.
TEST(CheapestWithinTest, PrunedChoicesGiveThePicksOfEveryChoice) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    int layers = 1 + static_cast<int>(rng() % 12);
    int64_t unit = 1000 + static_cast<int64_t>(rng() % 1000);
    std::vector<LayerModel> models(layers);
    PeakEstimate estimate;
    for (int l = 0; l < layers; ++l) {
      LayerModel &model = models[l];
      model.layer = l;
      // Half the layers share one structure (and frontier), as in a model.
      model.structure = l % 2 == 0 ? 0 : l;
      if (l % 2 == 0 && l > 0) {
        model.frontier = models[0].frontier;
      } else {
        int choices = 1 + static_cast<int>(rng() % 40);
        for (int c = 0; c < choices; ++c) {
          LayerChoice choice;
          choice.discard = static_cast<uint64_t>(c);
          // Coarse values for some, so that ties occur; fine ones for
          // others, so that several land in one bucket at large caps.
          choice.keptBytes = c % 2 ? unit * static_cast<int64_t>(rng() % 20)
                                   : static_cast<int64_t>(rng() % (20 * unit));
          choice.internalPeak =
              choice.keptBytes + unit * static_cast<int64_t>(rng() % 10);
          choice.cost = static_cast<int64_t>(rng() % 8) * 100;
          model.frontier.push_back(choice);
        }
      }
      estimate.segment.push_back(unit * static_cast<int64_t>(rng() % 5));
    }
    estimate.head = unit * static_cast<int64_t>(rng() % 5);
    std::vector<LayerModel> chains =
        randomChains(rng, layers, unit, 3, 4, 20, 20, 500);
    for (int64_t cap : {unit * 5, unit * 20, unit * 60, unit * 150, unit * 400,
                        unit * 1000, unit * 4000, unit * 20000}) {
      auto pruned = cheapestWithin(models, estimate, cap, chains);
      auto every = cheapestWithin(models, estimate, cap, chains, true);
      ASSERT_EQ(pruned.has_value(), every.has_value())
          << "trial " << trial << " cap " << cap;
      EXPECT_EQ(picksOf(pruned), picksOf(every))
          << "trial " << trial << " cap " << cap;
    }
  }
}

// The same on a real model: GPT-3 175B's shape at several budgets.
TEST_F(BudgetPolicyTest, PrunedChoicesGiveThePicksOfEveryChoiceOn175B) {
  std::ifstream in(std::string(CKPT_EXAMPLES_DIR) + "/gpt3-175b.json");
  std::stringstream text;
  text << in.rdbuf();
  config::ConfigOverrides overrides;
  overrides.seqLength = 256; // The same layers, a faster step to build.
  build(text.str(), overrides);
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  std::vector<LayerModel> chains = buildChainModels(graph, *models, 16);
  MemoryPlan keepAll = planMemory(graph, PlanOptions());
  PeakEstimate estimate = calibratePeakEstimate(graph, *models, keepAll);
  for (int eighth = 1; eighth <= 8; ++eighth) {
    int64_t cap = keepAll.arenaBytes * eighth / 8;
    auto pruned = cheapestWithin(*models, estimate, cap, chains);
    auto every = cheapestWithin(*models, estimate, cap, chains, true);
    EXPECT_EQ(picksOf(pruned), picksOf(every)) << "cap " << cap;
    if (eighth >= 4) {
      EXPECT_TRUE(pruned.has_value()) << "cap " << cap;
    }
  }
}

// GPT-3 175B with t = 8 and sequence parallelism: full block recompute of
// 94 and 95 layers fits full uniform recompute's arena for less, and lies
// outside the standard presets; the solver still never costs more.
TEST_F(BudgetPolicyTest, NeverCostsMoreThanFullBlockOfAnyLength) {
  std::ifstream in(std::string(CKPT_EXAMPLES_DIR) + "/gpt3-175b.json");
  std::stringstream text;
  text << in.rdbuf();
  config::ConfigOverrides overrides;
  overrides.tensorParallelSize = 8;
  overrides.sequenceParallel = true;
  build(text.str(), overrides);
  for (int64_t n : {94, 95})
    expectNeverAboveFullBlock(n);
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
  expectNeverAboveAPresetAtItsPeak(4);
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

TEST_F(BudgetPolicyTest, DynamicProgramMatchesAnExactMilp) {
  build(R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
            "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
            "hidden_dropout": 0.1, "attention_dropout": 0.1})");
  MemoryPlan keepAll = planMemory(graph);
  // 3 chains of 2 layers, 2 of 3, 1 of 4.
  expectDynamicProgramMatchesMilp(PeakEstimate(), keepAll.arenaBytes, 6);
}

constexpr const char *kDeep =
    R"({"num_layers": 32, "hidden_size": 16, "num_attention_heads": 2,
        "seq_length": 4, "micro_batch_size": 1, "padded_vocab_size": 16,
        "hidden_dropout": 0.1, "attention_dropout": 0.1})";

TEST_F(BudgetPolicyTest, ChainChoiceIsWhatTheRewriteRuns) {
  build(kTwoLayers);
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error, 1);
  ASSERT_TRUE(succeeded(models)) << error;
  std::vector<LayerModel> chains = buildChainModels(graph, *models, 2, 1);
  ASSERT_EQ(chains.size(), 1u);
  const LayerModel &chain = chains.front();
  EXPECT_EQ(chain.span, 2);
  // Everything the two layers keep but the second layer's output.
  EXPECT_EQ(chain.candidates.size(), 2 * models->front().candidates.size() + 1);
  RematPlan plan = makeLayerPlan(graph, {LayerPick{&chain, 0}});
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups.front().label, "layers 0-1");
  ActivationReport before = analyzeActivations(graph);
  ActivationReport after = reportAfter(plan);
  EXPECT_EQ(after.recomputeRegions, 1);
  EXPECT_EQ(after.recompute.total(), chain.frontier.front().cost);
  int64_t keptAll =
      evaluateLayerChoice(graph, models->front(), 0, 1).keptBytes +
      evaluateLayerChoice(graph, (*models)[1], 0, 1).keptBytes;
  EXPECT_EQ(before.keptBytes - after.keptBytes,
            keptAll - chain.frontier.front().keptBytes);
}

TEST_F(BudgetPolicyTest, ChainsReachBelowEveryPreset) {
  build(kDeep);
  int64_t lowestPreset = INT64_MAX;
  for (const MegatronPolicy &preset : standardMegatronPolicies(32, false)) {
    std::string error;
    FailureOr<RematPlan> plan = preset.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    lowestPreset = std::min(lowestPreset, outcomeOf(*plan).arena);
  }
  // A tenth below the lowest preset: reached only by chains of layers.
  int64_t budget = lowestPreset * 9 / 10;
  BudgetPolicy policy;
  policy.memoryBudget = budget;
  std::string error;
  FailureOr<RematPlan> plan = policy.decide(graph, error);
  ASSERT_TRUE(succeeded(plan)) << error;
  EXPECT_LE(outcomeOf(*plan).arena, budget);
  EXPECT_TRUE(llvm::any_of(plan->groups, [&](const RecomputeGroup &group) {
    return graph.nodes[group.nodes.front()].layer !=
           graph.nodes[group.nodes.back()].layer;
  }));
}

constexpr const char *kTwoLayersTp2 =
    R"({"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "hidden_dropout": 0.1, "attention_dropout": 0.1,
        "tensor_model_parallel_size": 2})";

TEST_F(BudgetPolicyTest, DistributedChoicesKeepWhatTheRewriteKeeps) {
  build(kTwoLayersTp2);
  std::string error;
  FailureOr<std::vector<LayerModel>> models =
      buildLayerModels(graph, error, 1, RecomputeCost(), 2);
  ASSERT_TRUE(succeeded(models)) << error;
  const LayerModel &layer0 = models->front();
  int64_t keptAll = evaluateLayerChoice(graph, layer0, 0, 1).keptBytes;
  int64_t baseKept = analyzeActivations(graph).keptBytes;
  int checked = 0;
  for (const LayerChoice &choice : layer0.frontier) {
    RematPlan plan = makeLayerPlan(graph, {layer0}, {choice.discard});
    plan.distributeInputs = true;
    plan.tensorParallelSize = 2;
    ActivationReport report = reportAfter(plan);
    EXPECT_EQ(report.recompute.total(), choice.cost) << choice.discard;
    EXPECT_EQ(baseKept - report.keptBytes, keptAll - choice.keptBytes)
        << choice.discard;
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

TEST_F(BudgetPolicyTest, DistributedNeverCostsMoreThanTheDistributedPreset) {
  build(kTwoLayersTp2);
  MegatronPolicy preset;
  preset.granularity = RecomputeGranularity::Full;
  preset.method = RecomputeMethod::Uniform;
  preset.numLayers = 1;
  preset.distributeSavedActivations = true;
  std::string error;
  FailureOr<RematPlan> presetPlan = preset.decide(graph, error);
  ASSERT_TRUE(succeeded(presetPlan)) << error;
  Outcome megatron = outcomeOf(*presetPlan);
  BudgetPolicy policy;
  policy.distributeSavedActivations = true;
  for (int64_t budget : {megatron.arena, megatron.arena * 6 / 5}) {
    policy.memoryBudget = budget;
    FailureOr<RematPlan> plan = policy.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    EXPECT_TRUE(plan->distributeInputs);
    EXPECT_EQ(plan->tensorParallelSize, 2);
    Outcome got = outcomeOf(*plan);
    EXPECT_LE(got.arena, budget);
    EXPECT_LE(got.cost, megatron.cost);
  }
  // Below what the plain solver reaches, distribution still fits.
  BudgetPolicy plain;
  plain.memoryBudget = 1;
  ASSERT_TRUE(failed(plain.decide(graph, error)));
  policy.memoryBudget = 1;
  std::string distributedError;
  ASSERT_TRUE(failed(policy.decide(graph, distributedError)));
  auto lowest = [](const std::string &text) {
    size_t at = text.find("solver reaches, ");
    return at == std::string::npos ? int64_t(-1)
                                   : std::stoll(text.substr(at + 16));
  };
  EXPECT_GT(lowest(error), 0) << error;
  EXPECT_LE(lowest(distributedError), lowest(error)) << distributedError;
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
