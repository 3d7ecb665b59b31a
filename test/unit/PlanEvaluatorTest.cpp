//===- PlanEvaluatorTest.cpp - A plan's figures without the rewrite -------===//
//
// On the bundled models (tensor parallel with and without sequence
// parallelism and distributed saved activations, a pipeline stage, MoE),
// under Megatron's presets and under plans that discard random sets of each
// layer's values: what evaluatePlan reads from the step graph equals the
// report of the rewritten step (kept bytes, recompute FLOPs, regions).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/PlanEvaluator.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

using namespace mlir;
using namespace ckpt;

namespace {

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(CKPT_EXAMPLES_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Case {
  std::string name;
  std::string file;
  config::ConfigOverrides overrides;
};

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char *file :
       {"tiny-gpt.json", "tiny-llama.json", "tiny-mistral.json",
        "tiny-mixtral.json", "tiny-qwen2.json"})
    all.push_back({file, file, {}});
  config::ConfigOverrides tp2;
  tp2.tensorParallelSize = 2;
  all.push_back({"tiny-gpt t=2", "tiny-gpt.json", tp2});
  config::ConfigOverrides sp = tp2;
  sp.sequenceParallel = true;
  all.push_back({"tiny-gpt t=2 SP", "tiny-gpt.json", sp});
  all.push_back({"tiny-llama t=2 SP", "tiny-llama.json", sp});
  config::ConfigOverrides stage;
  stage.pipelineParallelSize = 2;
  stage.pipelineStage = 1;
  all.push_back({"tiny-gpt stage 1 of 2", "tiny-gpt.json", stage});
  config::ConfigOverrides flash;
  flash.attentionBackend = "flash";
  all.push_back({"tiny-llama flash", "tiny-llama.json", flash});
  config::ConfigOverrides short64;
  short64.seqLength = 64;
  all.push_back({"gpt2-small", "gpt2-small/config.json", short64});
  all.push_back({"mixtral-8x7b", "mixtral-8x7b/config.json", short64});
  return all;
}

class PlanEvaluatorTest : public ::testing::TestWithParam<Case> {
protected:
  PlanEvaluatorTest() {
    context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  }

  void SetUp() override {
    const Case &c = GetParam();
    module =
        importModelConfig(readExample(c.file), c.file, c.overrides, &context);
    ASSERT_TRUE(module);
    auto forward = module->lookupSymbol<func::FuncOp>("forward");
    ASSERT_TRUE(succeeded(buildTrainingStep(forward, "train_step")));
    FailureOr<StepGraph> built =
        StepGraph::build(module->lookupSymbol<func::FuncOp>("train_step"));
    ASSERT_TRUE(succeeded(built));
    graph = std::move(*built);
  }

  /// The evaluation against the report and the memory plan of the plan
  /// applied to a copy and scheduled, as the passes do.
  void expectAgreement(const RematPlan &plan, const std::string &what) {
    PlanOptions options;
    PlanEvaluation evaluation = evaluatePlan(graph, plan, nullptr, &options);
    OwningOpRef<ModuleOp> copy = module->clone();
    FailureOr<StepGraph> copyGraph =
        StepGraph::build(copy->lookupSymbol<func::FuncOp>("train_step"));
    ASSERT_TRUE(succeeded(copyGraph));
    FailureOr<RematResult> result = applyRematPlan(*copyGraph, plan);
    ASSERT_TRUE(succeeded(result)) << what;
    ActivationReport report =
        analyzeActivations(result->graph ? *result->graph : *copyGraph);
    EXPECT_EQ(evaluation.keptBytes, report.keptBytes) << what;
    EXPECT_EQ(evaluation.recompute.matmulFlops, report.recompute.matmulFlops)
        << what;
    EXPECT_EQ(evaluation.recompute.otherFlops, report.recompute.otherFlops)
        << what;
    EXPECT_EQ(static_cast<int>(evaluation.regions.size()),
              report.recomputeRegions)
        << what;
    EXPECT_EQ(evaluation.sharded, result->sharded) << what;
    auto step = copy->lookupSymbol<func::FuncOp>("train_step");
    scheduleRecomputeRegions(step);
    FailureOr<StepGraph> scheduled = StepGraph::build(step);
    ASSERT_TRUE(succeeded(scheduled));
    MemoryPlan memory = planMemory(*scheduled, options);
    EXPECT_EQ(evaluation.steps, memory.steps) << what;
    EXPECT_EQ(evaluation.lowerBoundBytes, memory.lowerBoundBytes) << what;
    EXPECT_EQ(evaluation.arenaBytes, memory.arenaBytes) << what;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  StepGraph graph;
};

TEST_P(PlanEvaluatorTest, MegatronPresetsAgreeWithTheRewrite) {
  bool moe = GetParam().file.find("mixtral") != std::string::npos;
  int64_t ranks = 1;
  bool distributable = distributeSavedActivationsError(graph, ranks).empty();
  for (const MegatronPolicy &policy :
       standardMegatronPolicies(countLayers(graph), distributable, moe)) {
    std::string error;
    FailureOr<RematPlan> plan = policy.decide(graph, error);
    ASSERT_TRUE(succeeded(plan)) << policy.describe() << ": " << error;
    expectAgreement(*plan, policy.describe());
  }
}

TEST_P(PlanEvaluatorTest, RandomLayerPlansAgreeWithTheRewrite) {
  std::string error;
  int64_t ranks = 1;
  bool distributable = distributeSavedActivationsError(graph, ranks).empty();
  std::mt19937_64 random(7);
  for (int64_t distribute : {int64_t(1), distributable ? ranks : int64_t(1)}) {
    FailureOr<std::vector<LayerModel>> models =
        buildLayerModels(graph, error, 64, RecomputeCost(), distribute);
    ASSERT_TRUE(succeeded(models)) << error;
    for (int trial = 0; trial < 6; ++trial) {
      std::vector<uint64_t> discards;
      for (const LayerModel &model : *models) {
        uint64_t all = model.candidates.size() >= 64
                           ? ~uint64_t(0)
                           : (uint64_t(1) << model.candidates.size()) - 1;
        discards.push_back((random() & all & ~model.mustKeep) |
                           model.mustDiscard);
      }
      RematPlan plan = makeLayerPlan(graph, *models, discards);
      // Ops outside the layers annotated to be recomputed (sequence
      // parallelism's gather before the head), as the budget solver adds.
      for (auto [index, node] : llvm::enumerate(graph.nodes))
        if (node.phase == Phase::Forward && !node.layer &&
            getRematAnnotation(node.op) == RematAnnotation::Recompute)
          plan.groups.push_back(
              makeRecomputeGroup(graph, "annotated", std::nullopt,
                                 {static_cast<int>(index)}, true));
      plan.distributeInputs = distribute > 1;
      plan.tensorParallelSize = distribute;
      expectAgreement(plan, "random plan " + std::to_string(trial) +
                                " distribute " + std::to_string(distribute));
    }
  }
}

void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(BundledModels, PlanEvaluatorTest,
                         ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           std::string name;
                           for (char c : info.param.name)
                             name += std::isalnum(static_cast<unsigned char>(c))
                                         ? c
                                         : '_';
                           return name;
                         });

} // namespace
