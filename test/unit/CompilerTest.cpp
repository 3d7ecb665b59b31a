//===- CompilerTest.cpp - The compiler library from C++ -------------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <tuple>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr const char *kTiny =
    R"({"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "params_dtype": "bf16"})";

TEST(CompilerTest, ConfigToPlannedProgramAndReport) {
  MLIRContext context;
  CompileOptions options;
  options.remat.granularity = "selective";
  FailureOr<CompileResult> result =
      compileModelConfig(kTiny, "tiny.json", {}, options, &context);
  ASSERT_TRUE(succeeded(result));
  // Selective recompute keeps 34·s·b·h bytes per layer in 16-bit.
  ASSERT_EQ(result->report.perLayer.size(), 2u);
  for (const LayerActivations &layer : result->report.perLayer)
    EXPECT_EQ(layer.keptBytes, 34 * 16 * 2 * 32);
  EXPECT_EQ(result->report.recomputeRegions, 2);
  EXPECT_GT(result->plan.arenaBytes, 0);
  EXPECT_GE(result->plan.arenaBytes, result->plan.lowerBoundBytes);
  EXPECT_NE(result->program.find("\"format\": \"ckpt-program\""),
            std::string::npos);
  EXPECT_NE(result->program.find("\"memory_plan\""), std::string::npos);
  EXPECT_NE(result->reportJson.find("\"arena_bytes\": " +
                                    std::to_string(result->plan.arenaBytes)),
            std::string::npos);
  EXPECT_NE(result->reportTable.find("memory plan: peak"), std::string::npos);
  EXPECT_NE(result->timelineSvg().find("<svg"), std::string::npos);
}

TEST(CompilerTest, ErrorsAreDiagnosticsNeverAborts) {
  MLIRContext context;
  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    messages.push_back(diag.str());
    return success();
  });
  CompileOptions options;
  options.remat.granularity = "full"; // Without a method: invalid.
  EXPECT_TRUE(
      failed(compileModelConfig(kTiny, "tiny.json", {}, options, &context)));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], "recompute-granularity=full needs "
                         "recompute-method=uniform or block");
  messages.clear();
  EXPECT_TRUE(failed(compileModelConfig("{\"num_layers\": 2", "broken.json", {},
                                        CompileOptions(), &context)));
  ASSERT_FALSE(messages.empty());
}

/// The stages of `config` compiled.
PipelineMemory compileStages(const std::string &config,
                             const config::ConfigOverrides &overrides) {
  MLIRContext context;
  FailureOr<CompileResult> result =
      compileModelConfig(config, "gpt.json", overrides, {}, &context);
  EXPECT_TRUE(succeeded(result));
  return succeeded(result) ? result->pipeline : PipelineMemory();
}

TEST(CompilerTest, AccumulatedGradientsAreLiveFromTheFirstContribution) {
  // The last of 2 stages, 4 micro-batches: each parameter's gradient buffer
  // (the running sum) exists from its contribution in micro-batch 0's
  // backward, so every buffer is live before micro-batch 3's backward.
  MLIRContext context;
  config::ConfigOverrides overrides;
  overrides.pipelineParallelSize = 2;
  overrides.numMicroBatches = 4;
  overrides.pipelineStage = 1;
  constexpr const char *kFourLayers =
      R"({"num_layers": 4, "hidden_size": 32, "num_attention_heads": 4,
          "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128})";
  FailureOr<CompileResult> result = compileModelConfig(
      kFourLayers, "gpt.json", overrides, CompileOptions(), &context);
  ASSERT_TRUE(succeeded(result));
  auto step = result->module->lookupSymbol<func::FuncOp>("train_step");
  ASSERT_TRUE(step);
  FailureOr<StepGraph> graph = StepGraph::build(step);
  ASSERT_TRUE(succeeded(graph));
  const std::vector<int64_t> &live = result->plan.liveGradients;
  ASSERT_EQ(live.size(), graph->nodes.size());
  int64_t lastBackward = -1, firstBackward = -1;
  for (auto [index, node] : llvm::enumerate(graph->nodes)) {
    auto microBatch =
        node.op->getAttrOfType<IntegerAttr>(CkptDialect::kMicroBatchAttrName);
    if (!microBatch || node.phase == Phase::Forward)
      continue;
    if (firstBackward < 0)
      firstBackward = static_cast<int64_t>(index);
    if (microBatch.getInt() == 3 && lastBackward < 0)
      lastBackward = static_cast<int64_t>(index);
  }
  ASSERT_GT(firstBackward, 0);
  ASSERT_GT(lastBackward, firstBackward);
  EXPECT_GT(live.back(), 0);
  EXPECT_EQ(live[lastBackward], live.back());
  EXPECT_EQ(live[firstBackward - 1], 0); // None before the first backward.
}

TEST(CompilerTest, StagesHoldThePapersInFlightActivations) {
  // Megatron's defaults (dropout 0.1): a layer keeps 34·s·b·h + 5·a·s²·b
  // bytes in 16-bit (layer-norm statistics apart), and the first stage's
  // embedding its dropout mask, s·b·h bytes.
  for (auto [layers, p, v] : {std::tuple{4, 2, 1}, std::tuple{8, 4, 1},
                              std::tuple{8, 2, 2}, std::tuple{12, 3, 2}}) {
    int64_t s = 16, b = 2, h = 32, a = 4;
    std::string config =
        R"({"num_layers": )" + std::to_string(layers) +
        R"(, "hidden_size": 32, "num_attention_heads": 4, "seq_length": 16,
            "micro_batch_size": 2, "padded_vocab_size": 128,
            "params_dtype": "bf16"})";
    config::ConfigOverrides overrides;
    overrides.pipelineParallelSize = p;
    overrides.virtualPipelineSize = v;
    overrides.numMicroBatches = 2 * p;
    PipelineMemory pipeline = compileStages(config, overrides);
    ASSERT_EQ(static_cast<int64_t>(pipeline.perStage.size()), p);
    int64_t perLayer = 34 * s * b * h + 5 * a * s * s * b, mask = s * b * h;
    const PipelineStageMemory &first = pipeline.perStage.front();
    EXPECT_EQ(first.keptPerMicroBatch, layers / p * perLayer + mask);
    if (v == 1) {
      // 1F1B: p micro-batches of the stage's L/p layers, L layers' worth.
      EXPECT_EQ(first.keptInFlight, p * (layers / p * perLayer + mask))
          << "L=" << layers << " p=" << p;
    } else {
      // Interleaved: (1 + (p-1)/(p·v))·L layers' worth, p·v + p - 1 chunks
      // of L/(p·v) layers; the chunks that start the model add their mask.
      int64_t chunks = p * v + p - 1;
      int64_t layerBytes = chunks * (layers / (p * v)) * perLayer;
      int64_t masks = first.keptInFlight - layerBytes;
      EXPECT_EQ(masks % mask, 0) << "L=" << layers << " p=" << p;
      EXPECT_GE(masks / mask, 1);
      EXPECT_LE(masks / mask, chunks);
    }
    // The last stage under 1F1B holds one micro-batch: its layers and the
    // head.
    const PipelineStageMemory &last = pipeline.perStage.back();
    if (v == 1) {
      EXPECT_EQ(last.keptInFlight, last.keptPerMicroBatch);
    }
    EXPECT_GT(last.keptPerMicroBatch, layers / p * perLayer);
    EXPECT_EQ(pipeline.limitingStage(), 0);
  }
}

} // namespace
