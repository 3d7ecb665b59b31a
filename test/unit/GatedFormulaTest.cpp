//===- GatedFormulaTest.cpp - Kept bytes of RMSNorm + gated-MLP layers ----===//
//
// A LLaMA-like layer (RMSNorm, a gated MLP of width f, g query groups of
// head size d = h/a, dropout on) keeps, per tensor-parallel rank, in
// elements of the activation type e bytes wide (masks one byte;
// docs/models.md derives it):
//   replicated   norm inputs 2sbh, QKV input sbh, fc1 input sbh
//   split by t   Q sbh, K and V sbgd each, projection input sbh, GLU input
//                2sbf, fc2 input sbf, softmax output and dropped
//                probabilities 2as²b
//   masks        attention as²b/t, projection and MLP dropout sbh each
// so 10sbh + (4sbh + 4sbgd + 6sbf + 5as²b)/t bytes in 16-bit, and with
// sequence parallelism (14sbh + 4sbgd + 6sbf + 5as²b)/t. With g = a
// (multi-head) 4sbgd is 4sbh; GPT's MLP (f = 4h, GeLU) keeps 4sbf where the
// gated one keeps 6sbf. Checked on several shapes, in bf16 and f32, with and
// without t, sequence parallelism, grouped queries and linear biases, and
// under selective and full recompute.
//
//===----------------------------------------------------------------------===//

#include "StepReport.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

struct Case {
  int64_t s, b, h, a, f, t, g;
};

void PrintTo(const Case &c, std::ostream *os) {
  *os << "s=" << c.s << " b=" << c.b << " h=" << c.h << " a=" << c.a
      << " f=" << c.f << " t=" << c.t << " g=" << c.g;
}

class GatedFormulaTest : public ::testing::TestWithParam<Case> {
protected:
  ActivationReport analyze(bool sequenceParallel, const char *dtype,
                           bool bias = false,
                           const MegatronPolicy &policy = MegatronPolicy(),
                           const char *backend = "unfused") {
    const Case &c = GetParam();
    std::string config =
        "{\"num_layers\": 2, \"hidden_size\": " + std::to_string(c.h) +
        ", \"num_attention_heads\": " + std::to_string(c.a) +
        ", \"num_query_groups\": " + std::to_string(c.g) +
        ", \"ffn_hidden_size\": " + std::to_string(c.f) +
        ", \"seq_length\": " + std::to_string(c.s) +
        ", \"micro_batch_size\": " + std::to_string(c.b) +
        ", \"padded_vocab_size\": 64, \"params_dtype\": \"" + dtype +
        "\", \"normalization\": \"RMSNorm\", \"swiglu\": true" +
        ", \"add_bias_linear\": " + (bias ? "true" : "false") +
        ", \"tensor_model_parallel_size\": " + std::to_string(c.t) +
        ", \"sequence_parallel\": " + (sequenceParallel ? "true" : "false") +
        ", \"attention_backend\": \"" + backend + "\"" + extraFields + "}";
    return test::stepReport(context, config, policy, module);
  }

  /// More config fields (", \"name\": value ...").
  std::string extraFields;

  /// The derivation above, for activations `e` bytes wide.
  int64_t expected(int64_t e, bool sequenceParallel) const {
    const Case &c = GetParam();
    const int64_t sbh = c.s * c.b * c.h, sbf = c.s * c.b * c.f,
                  sbgd = c.s * c.b * c.g * (c.h / c.a),
                  as2b = c.a * c.s * c.s * c.b, t = c.t;
    int64_t replicated = e * 4 * sbh + 2 * sbh; // Inputs and two masks.
    int64_t split = e * (2 * sbh + 2 * sbgd + 3 * sbf + 2 * as2b) + as2b;
    return sequenceParallel ? (replicated + split) / t : replicated + split / t;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_P(GatedFormulaTest, KeptBytesMatchTheDerivation) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, sbf = c.s * c.b * c.f,
                sbgd = c.s * c.b * c.g * (c.h / c.a),
                as2b = c.a * c.s * c.s * c.b, t = c.t;
  // The 16-bit closed forms.
  EXPECT_EQ(expected(2, false),
            10 * sbh + (4 * sbh + 4 * sbgd + 6 * sbf + 5 * as2b) / t);
  EXPECT_EQ(expected(2, true), (14 * sbh + 4 * sbgd + 6 * sbf + 5 * as2b) / t);
  for (bool sp : {false, true}) {
    if (sp && t == 1)
      continue;
    for (auto [dtype, e] : {std::pair("bfloat16", 2), std::pair("float32", 4)})
      for (bool bias : {false, true}) {
        ActivationReport report = analyze(sp, dtype, bias);
        ASSERT_EQ(report.perLayer.size(), 2u);
        for (const LayerActivations &layer : report.perLayer) {
          EXPECT_EQ(layer.keptBytes, expected(e, sp))
              << dtype << (sp ? " sp" : "") << (bias ? " bias" : "");
          // RMS norm keeps one f32 statistic per row, for two norms.
          EXPECT_EQ(layer.layerNormStatisticsBytes,
                    2 * c.s * c.b * 4 / (sp ? t : 1));
        }
      }
  }
}

TEST_P(GatedFormulaTest, SelectiveAndFullRecompute) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, sbf = c.s * c.b * c.f,
                sbgd = c.s * c.b * c.g * (c.h / c.a), t = c.t;
  MegatronPolicy selective;
  selective.granularity = RecomputeGranularity::Selective;
  MegatronPolicy full;
  full.granularity = RecomputeGranularity::Full;
  full.method = RecomputeMethod::Uniform;
  full.numLayers = 1;
  for (bool sp : {false, true}) {
    if (sp && t == 1)
      continue;
    // Selective drops every a·s²·b term; full keeps the layer input.
    int64_t sel = sp ? (14 * sbh + 4 * sbgd + 6 * sbf) / t
                     : 10 * sbh + (4 * sbh + 4 * sbgd + 6 * sbf) / t;
    EXPECT_EQ(analyze(sp, "bfloat16", false, selective).perLayer[0].keptBytes,
              sel);
    EXPECT_EQ(analyze(sp, "bfloat16", false, full).perLayer[0].keptBytes,
              sp ? 2 * sbh / t : 2 * sbh);
  }
}

// Flash attention keeps Q, K, V, its result (sbh, in [s, b, h]: the
// projection reads it as a view, as in Megatron, so it is kept once) and
// each row's log-sum-exp (f32, 4asb bytes), never the s² probabilities or
// the attention-dropout mask (drawn again in the backward):
//   10sbh + (4sbh + 4sbgd + 6sbf + 4asb)/t bytes in 16-bit,
//   (14sbh + 4sbgd + 6sbf + 4asb)/t with sequence parallelism,
//   12sbh + 4sbgd + 6sbf + 4asb for LLaMA (no dropout) on one rank.
TEST_P(GatedFormulaTest, FlashAttentionKeepsNoSquareTerm) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, sbf = c.s * c.b * c.f,
                sbgd = c.s * c.b * c.g * (c.h / c.a), asb = c.a * c.s * c.b,
                t = c.t;
  for (bool sp : {false, true}) {
    if (sp && t == 1)
      continue;
    for (auto [dtype, e] :
         {std::pair("bfloat16", 2), std::pair("float32", 4)}) {
      int64_t replicated = e * 4 * sbh + 2 * sbh;
      int64_t split = e * (2 * sbh + 2 * sbgd + 3 * sbf) + 4 * asb;
      int64_t expected = sp ? (replicated + split) / t : replicated + split / t;
      ActivationReport report =
          analyze(sp, dtype, false, MegatronPolicy(), "flash");
      EXPECT_EQ(report.perLayer[0].keptBytes, expected)
          << dtype << (sp ? " sp" : "");
      if (e == 2) {
        EXPECT_EQ(report.perLayer[0].keptBytes,
                  sp ? (14 * sbh + 4 * sbgd + 6 * sbf + 4 * asb) / t
                     : 10 * sbh + (4 * sbh + 4 * sbgd + 6 * sbf + 4 * asb) / t);
      }
    }
  }
}

// Without dropout (Hugging Face's LLaMA configs) the masks go: a layer
// keeps 8sbh + (4sbh + 4sbgd + 6sbf + 4asb)/t, 12sbh + 4sbgd + 6sbf + 4asb
// on one rank (LLaMA-3-8B at s = 8192: 1,141,899,264 bytes).
TEST_P(GatedFormulaTest, FlashAttentionWithoutDropout) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, sbf = c.s * c.b * c.f,
                sbgd = c.s * c.b * c.g * (c.h / c.a), asb = c.a * c.s * c.b,
                t = c.t;
  extraFields = ", \"hidden_dropout\": 0.0, \"attention_dropout\": 0.0";
  EXPECT_EQ(analyze(false, "bfloat16", false, MegatronPolicy(), "flash")
                .perLayer[0]
                .keptBytes,
            8 * sbh + (4 * sbh + 4 * sbgd + 6 * sbf + 4 * asb) / t);
  if (t == 1) {
    EXPECT_EQ(analyze(false, "bfloat16", false, MegatronPolicy(), "flash")
                  .perLayer[0]
                  .keptBytes,
              12 * sbh + 4 * sbgd + 6 * sbf + 4 * asb);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GatedFormulaTest,
                         ::testing::Values(Case{16, 2, 32, 4, 88, 1, 4},
                                           Case{16, 2, 32, 4, 88, 2, 4},
                                           Case{12, 1, 24, 6, 64, 2, 6},
                                           Case{8, 3, 40, 8, 112, 4, 8},
                                           Case{6, 2, 48, 6, 96, 3, 6},
                                           // Grouped-query attention.
                                           Case{16, 2, 48, 6, 88, 1, 2},
                                           Case{16, 2, 48, 6, 88, 2, 2},
                                           Case{8, 2, 64, 8, 96, 2, 4},
                                           Case{8, 1, 64, 8, 96, 4, 4},
                                           Case{6, 2, 72, 6, 48, 3, 3}));

} // namespace
