//===- ActivationFormulaTest.cpp - The kept set against the paper ---------===//
//
// For GPT layers with dropout, the values the training step keeps must total
// exactly 34·s·b·h + 5·a·s²·b bytes per layer in 16-bit (Korthikanti et al.
// 2022, section 4.1), on odd shapes too; the step's GEMM FLOPs must be the
// paper's Appendix A count.
//
//===----------------------------------------------------------------------===//

#include "StepReport.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

struct Shape {
  int64_t layers, s, b, h, a, v;
};

void PrintTo(const Shape &p, std::ostream *os) {
  *os << "layers=" << p.layers << " s=" << p.s << " b=" << p.b << " h=" << p.h
      << " a=" << p.a << " v=" << p.v;
}

class ActivationFormulaTest : public ::testing::TestWithParam<Shape> {
protected:
  ActivationReport analyze(const Shape &shape, const char *dtype,
                           const MegatronPolicy &policy = MegatronPolicy()) {
    std::string config =
        "{\"num_layers\": " + std::to_string(shape.layers) +
        ", \"hidden_size\": " + std::to_string(shape.h) +
        ", \"num_attention_heads\": " + std::to_string(shape.a) +
        ", \"seq_length\": " + std::to_string(shape.s) +
        ", \"micro_batch_size\": " + std::to_string(shape.b) +
        ", \"padded_vocab_size\": " + std::to_string(shape.v) +
        ", \"params_dtype\": \"" + dtype + "\"}";
    return test::stepReport(context, config, policy, keep);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> keep;
};

TEST_P(ActivationFormulaTest, SixteenBitMatchesKorthikanti) {
  const Shape &p = GetParam();
  ActivationReport report = analyze(p, "bfloat16");
  const int64_t sbh = p.s * p.b * p.h, as2b = p.a * p.s * p.s * p.b;
  ASSERT_EQ(report.perLayer.size(), static_cast<size_t>(p.layers));
  for (const LayerActivations &layer : report.perLayer) {
    EXPECT_EQ(layer.keptBytes, 34 * sbh + 5 * as2b) << "layer " << layer.layer;
    // The paper's split: layer norms 4sbh; attention 11sbh + 5as²b (QKV
    // input 2sbh, core 6sbh + 5as²b, projection input and mask 3sbh); MLP
    // 19sbh.
    EXPECT_EQ(layer.modules.at("layernorm"), 4 * sbh);
    EXPECT_EQ(layer.modules.at("qkv") + layer.modules.at("core_attn") +
                  layer.modules.at("attn_proj"),
              11 * sbh + 5 * as2b);
    EXPECT_EQ(layer.modules.at("core_attn"), 6 * sbh + 5 * as2b);
    EXPECT_EQ(layer.modules.at("mlp"), 19 * sbh);
    // Mean and inverse deviation of two layer norms, f32 per row.
    EXPECT_EQ(layer.layerNormStatisticsBytes, 2 * 2 * p.s * p.b * 4);
  }
}

TEST_P(ActivationFormulaTest, MasksStayOneBytePerElementInF32) {
  const Shape &p = GetParam();
  ActivationReport report = analyze(p, "float32");
  const int64_t sbh = p.s * p.b * p.h, as2b = p.a * p.s * p.s * p.b;
  // 32 of the 34 sbh and 4 of the 5 as²b are 2-byte values at 16 bits and
  // double in f32; the three masks (2sbh + as²b) stay one byte.
  for (const LayerActivations &layer : report.perLayer)
    EXPECT_EQ(layer.keptBytes, 64 * sbh + 8 * as2b + 2 * sbh + as2b);
}

TEST_P(ActivationFormulaTest, GemmFlopsMatchAppendixA) {
  const Shape &p = GetParam();
  ActivationReport report = analyze(p, "bfloat16");
  int64_t perLayer = 24 * p.b * p.s * p.h * p.h + 4 * p.b * p.s * p.s * p.h;
  int64_t head = 2 * p.b * p.s * p.h * p.v;
  EXPECT_EQ(report.forward.matmulFlops, p.layers * perLayer + head);
  EXPECT_EQ(report.backward.matmulFlops, 2 * (p.layers * perLayer + head));
}

TEST_P(ActivationFormulaTest, SelectiveKeeps34sbhAndRecomputesAttention) {
  const Shape &p = GetParam();
  MegatronPolicy selective;
  selective.granularity = RecomputeGranularity::Selective;
  ActivationReport report = analyze(p, "bfloat16", selective);
  const int64_t sbh = p.s * p.b * p.h;
  for (const LayerActivations &layer : report.perLayer)
    EXPECT_EQ(layer.keptBytes, 34 * sbh) << "layer " << layer.layer;
  // Q·K^T again, 2·b·s²·h per layer: probs·V and the head merge feed
  // nothing the backward reads. Megatron re-runs both attention matmuls.
  EXPECT_EQ(report.recompute.matmulFlops, p.layers * 2 * p.b * p.s * p.s * p.h);
  EXPECT_EQ(report.spanRecompute.matmulFlops,
            p.layers * 4 * p.b * p.s * p.s * p.h);
  EXPECT_EQ(report.recomputeRegions, p.layers);
}

TEST_P(ActivationFormulaTest, SelectiveMlpRerunsOnlyFc1) {
  const Shape &p = GetParam();
  MegatronPolicy selective;
  selective.granularity = RecomputeGranularity::Selective;
  selective.modules = {RecomputeModule::Mlp};
  ActivationReport report = analyze(p, "bfloat16", selective);
  // fc1 (8·b·s·h²) feeds GeLU, whose input and output the backward reads;
  // fc2 feeds only a dropout whose mask is regenerated without it.
  const int64_t bsh2 = p.b * p.s * p.h * p.h;
  EXPECT_EQ(report.recompute.matmulFlops, p.layers * 8 * bsh2);
  EXPECT_EQ(report.spanRecompute.matmulFlops, p.layers * 16 * bsh2);
}

TEST_P(ActivationFormulaTest, FullUniformKeepsTheLayerInput) {
  const Shape &p = GetParam();
  MegatronPolicy full;
  full.granularity = RecomputeGranularity::Full;
  full.method = RecomputeMethod::Uniform;
  full.numLayers = 1;
  ActivationReport report = analyze(p, "bfloat16", full);
  for (const LayerActivations &layer : report.perLayer) {
    EXPECT_EQ(layer.keptBytes, 2 * p.s * p.b * p.h) << "layer " << layer.layer;
    EXPECT_EQ(layer.layerNormStatisticsBytes, 0); // Recomputed with the layer.
  }
  // Every layer's forward but fc2, whose output only feeds a dropout whose
  // mask is regenerated without it: 16·b·s·h² + 4·b·s²·h per layer instead of
  // the 24·b·s·h² + 4·b·s²·h Megatron's re-execution runs.
  const int64_t bsh2 = p.b * p.s * p.h * p.h, bs2h = p.b * p.s * p.s * p.h;
  EXPECT_EQ(report.recompute.matmulFlops, p.layers * (16 * bsh2 + 4 * bs2h));
  EXPECT_EQ(report.spanRecompute.matmulFlops,
            p.layers * (24 * bsh2 + 4 * bs2h));
}

TEST_P(ActivationFormulaTest, FullUniformChunksKeepOnlyTheirInputs) {
  const Shape &p = GetParam();
  MegatronPolicy full;
  full.granularity = RecomputeGranularity::Full;
  full.method = RecomputeMethod::Uniform;
  full.numLayers = 2;
  if (p.layers < 2) {
    // Chunks of two layers do not exist in a one-layer model.
    EXPECT_EQ(full.validate(p.layers),
              "recompute-num-layers must be in [1, 1] (the model has 1 "
              "layer), got 2");
    return;
  }
  ActivationReport report = analyze(p, "bfloat16", full);
  for (const LayerActivations &layer : report.perLayer)
    EXPECT_EQ(layer.keptBytes, layer.layer % 2 == 0 ? 2 * p.s * p.b * p.h : 0)
        << "layer " << layer.layer;
  // Only the last fc2 of each chunk is dead: the first layer's feeds the
  // second.
  const int64_t bsh2 = p.b * p.s * p.h * p.h, bs2h = p.b * p.s * p.s * p.h;
  const int64_t chunks = (p.layers + 1) / 2;
  EXPECT_EQ(report.recompute.matmulFlops,
            p.layers * (24 * bsh2 + 4 * bs2h) - chunks * 8 * bsh2);
  EXPECT_EQ(report.spanRecompute.matmulFlops,
            p.layers * (24 * bsh2 + 4 * bs2h));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ActivationFormulaTest,
    ::testing::Values(Shape{2, 16, 2, 32, 4, 128},  // The tiny GPT.
                      Shape{3, 7, 3, 30, 5, 64},    // h not a power of two.
                      Shape{1, 8, 2, 12, 1, 32},    // One head.
                      Shape{2, 1, 4, 16, 4, 32},    // A single token.
                      Shape{1, 64, 1, 48, 6, 100}), // s > h.
    [](const ::testing::TestParamInfo<Shape> &info) {
      const Shape &p = info.param;
      return "L" + std::to_string(p.layers) + "_s" + std::to_string(p.s) +
             "_b" + std::to_string(p.b) + "_h" + std::to_string(p.h) + "_a" +
             std::to_string(p.a);
    });

} // namespace
