//===- PipelineBudgetTest.cpp - The budget solver on pipeline stages ------===//
//
// A stage's arena holds the micro-batches its schedule has in flight, so
// the solver judges each plan on the unrolled step and its estimate charges
// the others in flight for their kept bytes. Checked like the solver on one
// micro-batch: its layer-chain program against CBC on the same estimate
// (1F1B and interleaved), the solver against every pair of frontier choices
// planned on the unrolled stage, and never above a Megatron preset.
//
//===----------------------------------------------------------------------===//

#include "BudgetSolverFixture.h"
#include "ckpt/Rewrite/PipelineSchedule.h"

using namespace mlir;
using namespace ckpt;
using namespace ckpt::test;

namespace {

constexpr const char *kFourLayers =
    R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "hidden_dropout": 0.1, "attention_dropout": 0.1})";

constexpr const char *kEightLayers =
    R"({"num_layers": 8, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "hidden_dropout": 0.1, "attention_dropout": 0.1})";

config::ConfigOverrides stage(int64_t index, int64_t stages, int64_t chunks,
                              int64_t microBatches) {
  config::ConfigOverrides overrides;
  overrides.pipelineParallelSize = stages;
  overrides.virtualPipelineSize = chunks;
  overrides.numMicroBatches = microBatches;
  overrides.pipelineStage = index;
  return overrides;
}

using PipelineBudgetTest = BudgetPolicyTest;

TEST_F(PipelineBudgetTest, StageDynamicProgramMatchesAnExactMilp) {
  // Stage 0 of 2 under 1F1B: 4 layers, 2 micro-batches in flight.
  build(kEightLayers, stage(0, 2, 1, 4));
  PeakEstimate oneF1B;
  oneF1B.inFlightChunks = 2;
  int64_t keepAll = outcomeOf(RematPlan()).arena;
  // 3 chains of 2 layers, 2 of 3, 1 of 4.
  expectDynamicProgramMatchesMilp(oneF1B, keepAll, 6);
}

TEST_F(PipelineBudgetTest, InterleavedStageDynamicProgramMatchesAnExactMilp) {
  // Stage 0 of 2 with 2 model chunks (layers 0-1 and 4-5): its schedule
  // holds 5 chunks at once, 2.5 micro-batches' worth.
  build(kEightLayers, stage(0, 2, 2, 4));
  PeakEstimate interleaved;
  interleaved.inFlightChunks =
      pipeline::maxInFlight(pipeline::stageSchedule(0, 2, 2, 4));
  ASSERT_EQ(interleaved.inFlightChunks, 5);
  interleaved.chunks = 2;
  int64_t keepAll = outcomeOf(RematPlan()).arena;
  // A chain of layers 0-1 and one of 4-5: none across the chunks.
  expectDynamicProgramMatchesMilp(interleaved, keepAll, 2);
}

TEST_F(PipelineBudgetTest, StageMatchesEveryPairOfFrontierChoices) {
  // Stage 0 of 2: layers 0-1, 2 micro-batches in flight, every plan
  // planned on the unrolled step (every third choice of the frontier).
  build(kFourLayers, stage(0, 2, 1, 2));
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  ASSERT_EQ(models->size(), 2u);
  const std::vector<LayerChoice> &frontier = models->front().frontier;
  std::vector<Outcome> all;
  for (size_t a = 0; a < frontier.size(); a += 3)
    for (size_t b = 0; b < frontier.size(); b += 3)
      all.push_back(outcomeOf(makeLayerPlan(
          graph, *models, {frontier[a].discard, frontier[b].discard})));
  expectMatches(all, 6);
}

TEST_F(PipelineBudgetTest, StageNeverCostsMoreThanAPresetAtItsPeak) {
  for (int64_t index : {0, 1}) {
    build(kEightLayers, stage(index, 2, 1, 4));
    expectNeverAboveAPresetAtItsPeak(4);
  }
}

TEST_F(PipelineBudgetTest, TheBudgetIsTheUnrolledStagesArena) {
  // Stage 0 holds 2 micro-batches: a budget its one micro-batch's step
  // fits with room to spare is too small for the stage.
  build(kFourLayers, stage(0, 2, 1, 4));
  int64_t oneMicroBatch = planMemory(graph).arenaBytes;
  int64_t stageArena = outcomeOf(RematPlan()).arena;
  ASSERT_GT(stageArena, oneMicroBatch * 3 / 2);
  BudgetPolicy policy;
  policy.memoryBudget = stageArena;
  std::string error;
  FailureOr<RematPlan> keepAll = policy.decide(graph, error);
  ASSERT_TRUE(succeeded(keepAll)) << error;
  EXPECT_TRUE(keepAll->groups.empty());
  policy.memoryBudget = oneMicroBatch;
  FailureOr<RematPlan> plan = policy.decide(graph, error);
  ASSERT_TRUE(succeeded(plan)) << error;
  Outcome got = outcomeOf(*plan);
  EXPECT_LE(got.arena, oneMicroBatch);
  EXPECT_GT(got.cost, 0);
}

// Under 1F1B a stage of more than 2p micro-batches is searched on 2p (the
// same micro-batches in flight) and the answer judged on its own schedule:
// the plan fits the budget there, and it is the plan of the search that
// judges every candidate on the stage's own schedule.
TEST_F(PipelineBudgetTest, ManyMicroBatchesGiveThePlanOfTheirOwnSchedule) {
  auto discards = [](const RematPlan &plan) {
    std::vector<std::vector<int>> out;
    for (const RecomputeGroup &group : plan.groups)
      out.push_back(group.discarded);
    return out;
  };
  build(kFourLayers, stage(0, 2, 1, 12));
  int64_t keepAll = outcomeOf(RematPlan()).arena;
  for (int eighth = 3; eighth <= 7; ++eighth) {
    int64_t budget = keepAll * eighth / 8;
    BudgetPolicy fast, own;
    fast.memoryBudget = own.memoryBudget = budget;
    own.searchOnOwnSchedule = true;
    std::string error;
    FailureOr<RematPlan> plan = fast.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << error;
    FailureOr<RematPlan> reference = own.decide(graph, error);
    ASSERT_TRUE(succeeded(reference)) << error;
    EXPECT_LE(outcomeOf(*plan).arena, budget);
    EXPECT_EQ(discards(*plan), discards(*reference)) << "budget " << budget;
  }
  // Below every plan: the same lowest peak, named the same way.
  BudgetPolicy fast, own;
  fast.memoryBudget = own.memoryBudget = 1000;
  own.searchOnOwnSchedule = true;
  std::string fastError, ownError;
  EXPECT_TRUE(failed(fast.decide(graph, fastError)));
  EXPECT_TRUE(failed(own.decide(graph, ownError)));
  EXPECT_EQ(fastError, ownError);
}

TEST_F(PipelineBudgetTest, AnImpossibleBudgetNamesTheStage) {
  build(kFourLayers, stage(0, 2, 1, 4));
  BudgetPolicy policy;
  policy.memoryBudget = 1000;
  std::string error;
  EXPECT_TRUE(failed(policy.decide(graph, error)));
  EXPECT_EQ(error.rfind("on pipeline stage 0 of 2, whose arena holds 2 "
                        "micro-batches at once, memory-budget of 1000 bytes, "
                        "below the smallest planned peak the solver reaches",
                        0),
            0u)
      << error;
}

} // namespace
