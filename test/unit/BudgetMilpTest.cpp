//===- BudgetMilpTest.cpp - The layer-chain DP against an exact MILP ------===//
//
// On a few layers, the budget solver's dynamic program (bucketed states)
// is checked against an exact mixed-integer program of the same estimate,
// solved by CBC (Debian's coinor-cbc, installed by scripts/install-deps.sh):
// one binary per layer and frontier choice, exactly one per layer, the
// estimated peak of every layer's backward and of the head within the cap,
// least total cost. The DP must stay within 1% of the optimum at every cap.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/BudgetPolicy.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace mlir;
using namespace ckpt;

namespace {

/// The exact optimum of the estimate at `cap` by CBC: its cost, or none
/// when CBC finds the program infeasible.
std::optional<int64_t> solveWithCbc(const std::vector<LayerModel> &models,
                                    const PeakEstimate &estimate, int64_t cap,
                                    const std::string &dir) {
  std::string lp = dir + "/chain.lp", out = dir + "/chain.sol";
  std::ofstream file(lp);
  auto var = [](size_t layer, size_t choice) {
    return "x_" + std::to_string(layer) + "_" + std::to_string(choice);
  };
  file << "Minimize\n obj:";
  for (auto [l, model] : llvm::enumerate(models))
    for (auto [c, choice] : llvm::enumerate(model.frontier))
      file << " + " << choice.cost << " " << var(l, c);
  file << "\nSubject To\n";
  for (auto [l, model] : llvm::enumerate(models)) {
    file << " one_" << l << ":";
    for (size_t c = 0; c < model.frontier.size(); ++c)
      file << " + " << var(l, c);
    file << " = 1\n";
    // Layer l's backward: the layers below keep their bytes.
    file << " peak_" << l << ":";
    for (size_t below = 0; below < l; ++below)
      for (auto [c, choice] : llvm::enumerate(models[below].frontier))
        file << " + " << choice.keptBytes << " " << var(below, c);
    for (auto [c, choice] : llvm::enumerate(model.frontier))
      file << " + " << choice.internalPeak << " " << var(l, c);
    file << " <= " << cap - estimate.segment[l] << "\n";
  }
  file << " head:";
  for (auto [l, model] : llvm::enumerate(models))
    for (auto [c, choice] : llvm::enumerate(model.frontier))
      file << " + " << choice.keptBytes << " " << var(l, c);
  file << " <= " << cap - estimate.head << "\nBinary\n";
  for (auto [l, model] : llvm::enumerate(models))
    for (size_t c = 0; c < model.frontier.size(); ++c)
      file << " " << var(l, c) << "\n";
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

TEST(BudgetMilpTest, DynamicProgramMatchesTheExactOptimum) {
  ASSERT_EQ(std::system("command -v cbc > /dev/null"), 0)
      << "CBC is missing: run scripts/install-deps.sh (package coinor-cbc)";
  MLIRContext context;
  context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = importModelConfig(
      R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
          "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
          "hidden_dropout": 0.1, "attention_dropout": 0.1})",
      "gpt.json", {}, &context);
  ASSERT_TRUE(module);
  auto forward = module->lookupSymbol<func::FuncOp>("forward");
  FailureOr<func::FuncOp> step = buildTrainingStep(forward, "train_step");
  ASSERT_TRUE(succeeded(step));
  FailureOr<StepGraph> graph = StepGraph::build(*step);
  ASSERT_TRUE(succeeded(graph));
  std::string error;
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(*graph, error);
  ASSERT_TRUE(succeeded(models)) << error;
  MemoryPlan keepAll = planMemory(*graph);
  PeakEstimate estimate = calibratePeakEstimate(*graph, *models, keepAll);

  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("budget-milp", dir));
  auto costOf = [&](const std::vector<uint64_t> &discards) {
    int64_t cost = 0;
    for (auto [model, discard] : llvm::zip(*models, discards))
      cost += evaluateLayerChoice(*graph, model, discard).cost;
    return cost;
  };
  int solved = 0;
  for (int step = 0; step <= 10; ++step) {
    int64_t cap = keepAll.arenaBytes / 2 + keepAll.arenaBytes * step / 20;
    std::optional<int64_t> exact =
        solveWithCbc(*models, estimate, cap, dir.str().str());
    std::optional<std::vector<uint64_t>> dp =
        cheapestWithin(*models, estimate, cap);
    ASSERT_EQ(exact.has_value(), dp.has_value()) << "cap " << cap;
    if (!exact)
      continue;
    EXPECT_GE(costOf(*dp), *exact) << "cap " << cap;
    EXPECT_LE(costOf(*dp), *exact + *exact / 100) << "cap " << cap;
    ++solved;
  }
  EXPECT_GE(solved, 6);
  llvm::sys::fs::remove_directories(dir);
}

} // namespace
