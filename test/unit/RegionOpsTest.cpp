//===- RegionOpsTest.cpp - Regions re-run only what the backward reads ----===//
//
// On every bundled model and every standard policy, compiled as a user
// compiles it: a region that re-runs only the ops the backward needs never
// raises the planned peak against re-running the whole checkpointed span (as
// Megatron-LM does), never keeps more, never runs more, and the span cost it
// records is exactly what the whole re-execution runs.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Compiler/Compiler.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

struct Model {
  const char *name;
  const char *file; ///< Under examples/.
  config::ConfigOverrides overrides;
  bool moe = false; ///< Mixture-of-experts layers (their recompute modules).
};

void PrintTo(const Model &model, std::ostream *os) { *os << model.name; }

/// The pass options that select `policy`.
RematOptions optionsOf(const MegatronPolicy &policy) {
  RematOptions options;
  options.granularity = toString(policy.granularity);
  options.method = toString(policy.method);
  if (policy.granularity == RecomputeGranularity::Full)
    options.numLayers = policy.numLayers;
  for (RecomputeModule module : policy.modules)
    options.modules.push_back(toString(module));
  options.distributeSavedActivations = policy.distributeSavedActivations;
  return options;
}

class RegionOpsTest : public ::testing::TestWithParam<Model> {
protected:
  CompileResult compile(const std::string &text, const MegatronPolicy &policy,
                        RegionOps regionOps) {
    CompileOptions options;
    options.remat = optionsOf(policy);
    options.regionOps = regionOps;
    options.planSeconds = 0.25;
    FailureOr<CompileResult> result = compileModelConfig(
        text, GetParam().file, GetParam().overrides, options, &context);
    EXPECT_TRUE(succeeded(result)) << policy.describe();
    return succeeded(result) ? std::move(*result) : CompileResult();
  }

  MLIRContext context;
};

TEST_P(RegionOpsTest, NeededOpsNeverCostMoreThanWholeSpans) {
  const Model &model = GetParam();
  auto buffer = llvm::MemoryBuffer::getFile(std::string(CKPT_EXAMPLES_DIR) +
                                            "/" + model.file);
  ASSERT_TRUE(buffer) << model.file;
  std::string text = (*buffer)->getBuffer().str();
  // The layer count and parallel layout from the uncompiled model.
  CompileResult plain = compile(text, MegatronPolicy(), RegionOps::Needed);
  int64_t layers = static_cast<int64_t>(plain.report.perLayer.size());
  int64_t t = model.overrides.tensorParallelSize.value_or(1);
  bool distributable = t > 1 && !model.overrides.sequenceParallel.value_or(0);
  bool anyRemoved = false;
  for (const MegatronPolicy &policy :
       standardMegatronPolicies(layers, distributable, model.moe)) {
    SCOPED_TRACE(policy.describe());
    CompileResult needed = compile(text, policy, RegionOps::Needed);
    CompileResult all = compile(text, policy, RegionOps::All);
    const ActivationReport &n = needed.report, &a = all.report;
    EXPECT_EQ(n.recomputeRegions, a.recomputeRegions);
    EXPECT_LE(n.keptBytes, a.keptBytes);
    EXPECT_LE(needed.plan.lowerBoundBytes, all.plan.lowerBoundBytes);
    EXPECT_LE(needed.plan.arenaBytes, all.plan.arenaBytes);
    EXPECT_LE(n.largestRecomputeBytes, a.largestRecomputeBytes);
    EXPECT_LE(n.recompute.matmulFlops, a.recompute.matmulFlops);
    EXPECT_LE(n.recompute.total(), a.recompute.total());
    // The recorded span is the whole re-execution, op for op.
    EXPECT_EQ(n.spanRecompute.matmulFlops, a.recompute.matmulFlops);
    EXPECT_EQ(n.spanRecompute.otherFlops, a.recompute.otherFlops);
    EXPECT_EQ(n.largestSpanBytes, a.largestRecomputeBytes);
    EXPECT_EQ(a.spanRecompute.total(), a.recompute.total());
    anyRemoved |= n.recompute.total() < a.recompute.total();
  }
  // Selective core_attn alone skips probs·V on every model.
  EXPECT_TRUE(anyRemoved);
}

config::ConfigOverrides tensorParallel(bool sequenceParallel) {
  config::ConfigOverrides overrides;
  overrides.tensorParallelSize = 2;
  overrides.sequenceParallel = sequenceParallel;
  return overrides;
}

INSTANTIATE_TEST_SUITE_P(
    Examples, RegionOpsTest,
    ::testing::Values(
        Model{"tiny", "tiny-gpt.json", {}},
        Model{"tiny_tp2", "tiny-gpt.json", tensorParallel(false)},
        Model{"tiny_tp2_sp", "tiny-gpt.json", tensorParallel(true)},
        Model{"gpt2_small", "gpt2-small/config.json", {}},
        Model{"megatron_1_3b", "megatron-gpt-1.3b.json", {}},
        Model{"gpt3_175b", "gpt3-175b.json", {}},
        Model{"tiny_mixtral", "tiny-mixtral.json", {}, true},
        Model{"tiny_mixtral_tp2_sp", "tiny-mixtral.json", tensorParallel(true),
              true},
        Model{"mixtral_8x7b", "mixtral-8x7b/config.json", {}, true}),
    [](const ::testing::TestParamInfo<Model> &info) {
      return std::string(info.param.name);
    });

} // namespace
