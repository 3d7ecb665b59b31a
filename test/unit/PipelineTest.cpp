//===- PipelineTest.cpp - The library pipeline from C++ -------------------===//

#include "ckpt/Pipeline/Pipeline.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr const char *kTiny =
    R"({"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
        "seq_length": 16, "micro_batch_size": 2, "padded_vocab_size": 128,
        "params_dtype": "bf16"})";

TEST(PipelineTest, ConfigToPlannedProgramAndReport) {
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
  EXPECT_NE(result->timelineSvg.find("<svg"), std::string::npos);
}

TEST(PipelineTest, ErrorsAreDiagnosticsNeverAborts) {
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

} // namespace
