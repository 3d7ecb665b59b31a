//===- BudgetSearchTest.cpp - The solver's searches over caps and budgets -===//
//
// fitsWithin, which bounds the search for the lowest peak, against every
// path of choices on small random layers; and the frontier, whose budgets
// are solved on the context's threads, against the same frontier solved
// one budget at a time.
//
//===----------------------------------------------------------------------===//

#include "BudgetSolverFixture.h"

#include <random>

namespace ckpt::test {
namespace {

/// Whether some path of choices (a layer's, or a chain covering layers)
/// from position `at` keeps every estimated peak within `cap`, with the
/// checks cheapestWithin makes, by trying every path.
bool anyPathFits(const std::vector<LayerModel> &models,
                 const std::vector<LayerModel> &chains,
                 const PeakEstimate &estimate, int64_t cap, size_t at,
                 int64_t below, int64_t need) {
  if (at == models.size())
    return true;
  bool inFlight = estimate.inFlightChunks > estimate.chunks;
  auto tryModel = [&](const LayerModel &model, size_t span, int64_t segment) {
    for (const LayerChoice &choice : model.frontier) {
      int64_t after = below + choice.keptBytes;
      int64_t term = segment + below + choice.internalPeak;
      int64_t most = inFlight ? std::max(need, term) : term;
      int64_t others = inFlight ? estimate.othersInFlight(after) : 0;
      if (most + others <= cap && estimate.head + after + others <= cap &&
          anyPathFits(models, chains, estimate, cap, at + span, after, most))
        return true;
    }
    return false;
  };
  if (tryModel(models[at], 1, estimate.segment[at]))
    return true;
  for (const LayerModel &chain : chains) {
    if (chain.layer != models[at].layer ||
        at + static_cast<size_t>(chain.span) > models.size())
      continue;
    int64_t segment = INT64_MIN;
    for (size_t l = at; l < at + static_cast<size_t>(chain.span); ++l)
      segment = std::max(segment, estimate.segment[l]);
    if (tryModel(chain, static_cast<size_t>(chain.span), segment))
      return true;
  }
  return false;
}

// Small random layers (some choices keeping negative bytes, as distributed
// region inputs may), chains, and micro-batches in flight in half of them:
// without others in flight fitsWithin is exactly whether a path fits; with
// them it never refuses a cap a path fits (it bounds the search from
// below), and cheapestWithin never finds picks under a cap it refuses.
TEST(FitsWithinTest, IsWhetherAnyPathOfChoicesFits) {
  std::mt19937_64 rng(7);
  int admittedWithoutPath = 0;
  for (int trial = 0; trial < 300; ++trial) {
    int layers = 1 + static_cast<int>(rng() % 5);
    int64_t unit = 100 + static_cast<int64_t>(rng() % 100);
    std::vector<LayerModel> models(layers);
    PeakEstimate estimate;
    if (trial % 2) {
      estimate.inFlightChunks = 2 + static_cast<int64_t>(rng() % 3);
      estimate.chunks = 1 + static_cast<int64_t>(rng() % 2);
    }
    for (int l = 0; l < layers; ++l) {
      models[l].layer = l;
      models[l].structure = l;
      int choices = 1 + static_cast<int>(rng() % 4);
      for (int c = 0; c < choices; ++c) {
        LayerChoice choice;
        choice.discard = static_cast<uint64_t>(c);
        choice.keptBytes = unit * (static_cast<int64_t>(rng() % 12) - 1);
        choice.internalPeak = std::max<int64_t>(choice.keptBytes, 0) +
                              unit * static_cast<int64_t>(rng() % 8);
        choice.cost = static_cast<int64_t>(rng() % 8) * 100;
        models[l].frontier.push_back(choice);
      }
      estimate.segment.push_back(unit * static_cast<int64_t>(rng() % 5));
    }
    estimate.head = unit * static_cast<int64_t>(rng() % 5);
    std::vector<LayerModel> chains =
        randomChains(rng, layers, unit, 2, 3, 4, 10, 1);
    bool inFlight = estimate.inFlightChunks > estimate.chunks;
    for (int64_t cap = 0; cap <= 80 * unit; cap += unit / 2) {
      bool path = anyPathFits(models, chains, estimate, cap, 0, 0, 0);
      bool fits = fitsWithin(models, estimate, cap, chains);
      if (!inFlight) {
        ASSERT_EQ(fits, path) << "trial " << trial << " cap " << cap;
      } else {
        ASSERT_TRUE(fits || !path) << "trial " << trial << " cap " << cap;
        admittedWithoutPath += fits && !path;
      }
      if (!fits) {
        EXPECT_FALSE(cheapestWithin(models, estimate, cap, chains, true))
            << "trial " << trial << " cap " << cap;
      }
    }
  }
  // With others in flight the bound is not exact: some caps show it.
  EXPECT_GT(admittedWithoutPath, 0);
}

/// The frontier's points, field by field.
std::vector<std::tuple<int64_t, int64_t, int64_t, std::string, bool>>
fieldsOf(const std::vector<FrontierPoint> &frontier) {
  std::vector<std::tuple<int64_t, int64_t, int64_t, std::string, bool>> out;
  for (const FrontierPoint &point : frontier)
    out.emplace_back(point.budget, point.arena, point.cost, point.plan,
                     point.preset);
  return out;
}

// The frontier's budgets are solved on the context's threads: the same
// points as solving them one at a time (the caches the budgets share hold
// what each would compute alone). A 4-layer GPT and its distributed form.
TEST_F(BudgetPolicyTest, FrontierIsTheSameOnOneThreadOrMany) {
  build(R"({"num_layers": 4, "hidden_size": 64, "num_attention_heads": 4,
            "seq_length": 32, "micro_batch_size": 2,
            "padded_vocab_size": 128, "tensor_model_parallel_size": 2})");
  for (bool distribute : {false, true}) {
    std::string error;
    context.enableMultithreading(true);
    auto many = budgetFrontier(graph, PlanOptions(), 12, error, distribute);
    ASSERT_TRUE(succeeded(many)) << error;
    context.disableMultithreading();
    auto one = budgetFrontier(graph, PlanOptions(), 12, error, distribute);
    ASSERT_TRUE(succeeded(one)) << error;
    EXPECT_EQ(fieldsOf(*many), fieldsOf(*one)) << "distribute " << distribute;
    EXPECT_GT(many->size(), 6u);
  }
}

} // namespace
} // namespace ckpt::test
