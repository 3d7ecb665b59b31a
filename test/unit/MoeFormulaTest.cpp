//===- MoeFormulaTest.cpp - Kept bytes of mixture-of-experts layers -------===//
//
// A layer with RMSNorm, flash attention, g query groups of head size
// d = h/a, dropout on, and an MLP of E SwiGLU experts of width f, top-k
// routing into buffers of C rows per expert, and a shared expert of width
// fs, keeps per tensor-parallel rank (T = s·b tokens, activations e bytes
// wide, indices i32, masks one byte; docs/models.md derives it):
//   replicated   norm inputs 2sbh, QKV input sbh, router input sbh (e each),
//                the projection and MLP dropout masks sbh each
//   split by t   flash: Q and its result 2sbh (the result in [s, b, h] is
//                the projection's input: one value, Megatron's view),
//                K and V 2sbgd (e each), the log-sum-exp 4asb;
//                the shared expert's GLU and fc2 inputs 3·T·fs·e
//   experts      logits T·E, gate weights T·k (e each), chosen experts and
//   (whole on    slots T·k each (4 bytes), the dispatched buffer and the
//   every rank)  expert outputs R·h each, the GLU input R·2f and its
//                output R·f (e each), for R = E·C buffer rows, or dropless
//                R = T·k (a grouped buffer, a row per choice)
// With sequence parallelism the replicated terms divide by t too; without
// it, t > 1 and a shared expert, the shared expert reads the
// tensor-parallel copy of the norm output (sbh·e more). Checked on several
// shapes, in bf16 and f32, with capacity factors and dropless, with and
// without t and sequence parallelism, and under Megatron's MoE recompute
// modules.
//
//===----------------------------------------------------------------------===//

#include "StepReport.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir;
using namespace ckpt;

namespace {

struct Case {
  int64_t s, b, h, a, g, experts, k, f, shared, t;
  double factor; ///< 0: dropless.
};

void PrintTo(const Case &c, std::ostream *os) {
  *os << "s=" << c.s << " b=" << c.b << " h=" << c.h << " a=" << c.a
      << " g=" << c.g << " E=" << c.experts << " k=" << c.k << " f=" << c.f
      << " fs=" << c.shared << " t=" << c.t << " factor=" << c.factor;
}

class MoeFormulaTest : public ::testing::TestWithParam<Case> {
protected:
  ActivationReport analyze(bool sp, const char *dtype,
                           const MegatronPolicy &policy = MegatronPolicy()) {
    const Case &c = GetParam();
    std::string config =
        "{\"num_layers\": 2, \"hidden_size\": " + std::to_string(c.h) +
        ", \"num_attention_heads\": " + std::to_string(c.a) +
        ", \"num_query_groups\": " + std::to_string(c.g) +
        ", \"ffn_hidden_size\": 64, \"seq_length\": " + std::to_string(c.s) +
        ", \"micro_batch_size\": " + std::to_string(c.b) +
        ", \"padded_vocab_size\": 64, \"params_dtype\": \"" + dtype +
        "\", \"normalization\": \"RMSNorm\", \"swiglu\": true" +
        ", \"add_bias_linear\": false, \"attention_backend\": \"flash\"" +
        ", \"position_embedding_type\": \"rope\"" +
        ", \"num_moe_experts\": " + std::to_string(c.experts) +
        ", \"moe_router_topk\": " + std::to_string(c.k) +
        ", \"moe_ffn_hidden_size\": " + std::to_string(c.f) +
        ", \"moe_shared_expert_intermediate_size\": " +
        std::to_string(c.shared) + ", \"moe_aux_loss_coeff\": 0.01" +
        (c.factor > 0
             ? ", \"moe_expert_capacity_factor\": " + std::to_string(c.factor)
             : std::string()) +
        ", \"tensor_model_parallel_size\": " + std::to_string(c.t) +
        ", \"sequence_parallel\": " + (sp ? "true" : "false") + "}";
    return test::stepReport(context, config, policy, module);
  }

  /// Rows per expert: Megatron's get_capacity, at most T; T dropless.
  int64_t capacity() const {
    const Case &c = GetParam();
    int64_t tokens = c.s * c.b;
    if (c.factor <= 0)
      return tokens;
    auto rows = static_cast<int64_t>(
        std::ceil(static_cast<double>(tokens * c.k) / c.experts * c.factor));
    return std::min(std::max<int64_t>(rows, 1), tokens);
  }

  /// Rows of the expert buffer: E·C, or dropless a grouped T·k (one per
  /// choice, Megatron's permuted tokens), not E·T.
  int64_t bufferRows() const {
    const Case &c = GetParam();
    return c.factor <= 0 ? c.s * c.b * c.k : c.experts * capacity();
  }

  /// What the experts keep, whole on every rank.
  int64_t experts(int64_t e) const {
    const Case &c = GetParam();
    int64_t tokens = c.s * c.b, rows = bufferRows();
    return e * (tokens * c.experts + tokens * c.k +
                rows * (2 * c.h + 3 * c.f)) +
           8 * tokens * c.k;
  }

  /// The derivation above.
  int64_t expected(int64_t e, bool sp) const {
    const Case &c = GetParam();
    const int64_t sbh = c.s * c.b * c.h, sbgd = c.s * c.b * c.g * (c.h / c.a),
                  asb = c.a * c.s * c.b, t = c.t, tokens = c.s * c.b;
    int64_t replicated = e * 4 * sbh + 2 * sbh;
    int64_t split =
        e * (2 * sbh + 2 * sbgd) + 4 * asb + 3 * tokens * c.shared * e;
    if (sp)
      return (replicated + split) / t + experts(e);
    int64_t copy = t > 1 && c.shared > 0 ? sbh * e : 0;
    return replicated + copy + split / t + experts(e);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_P(MoeFormulaTest, KeptBytesMatchTheDerivation) {
  const Case &c = GetParam();
  for (bool sp : {false, true}) {
    if (sp && c.t == 1)
      continue;
    for (auto [dtype, e] :
         {std::pair("bfloat16", 2), std::pair("float32", 4)}) {
      ActivationReport report = analyze(sp, dtype);
      ASSERT_EQ(report.perLayer.size(), 2u);
      for (const LayerActivations &layer : report.perLayer)
        EXPECT_EQ(layer.keptBytes, expected(e, sp))
            << dtype << (sp ? " sp" : "");
    }
  }
}

// Megatron's modules: moe_act drops the experts' GLU output (E·C·f, rebuilt
// from its input, as Megatron's CheckpointWithoutOutput does); moe drops
// everything the routed MLP keeps but its input (the norm output, which
// the recompute starts from) and the MLP dropout's mask (drawn again);
// shared_experts drops the shared expert's GLU and fc2 inputs, keeping its
// fc1 input.
TEST_P(MoeFormulaTest, MoeRecomputeModules) {
  const Case &c = GetParam();
  auto selective = [](RecomputeModule module) {
    MegatronPolicy p;
    p.granularity = RecomputeGranularity::Selective;
    p.modules = {module};
    return p;
  };
  const int64_t e = 2, rows = bufferRows(), tokens = c.s * c.b;
  int64_t none = expected(e, false);
  EXPECT_EQ(analyze(false, "bfloat16", selective(RecomputeModule::MoeAct))
                .perLayer[0]
                .keptBytes,
            none - e * rows * c.f);
  EXPECT_EQ(analyze(false, "bfloat16", selective(RecomputeModule::Moe))
                .perLayer[0]
                .keptBytes,
            none - experts(e) - tokens * c.h);
  if (c.shared > 0) {
    EXPECT_EQ(
        analyze(false, "bfloat16", selective(RecomputeModule::SharedExperts))
            .perLayer[0]
            .keptBytes,
        none - 3 * tokens * c.shared * e / c.t);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MoeFormulaTest,
    ::testing::Values(Case{16, 2, 32, 4, 4, 4, 2, 24, 0, 1, 0},
                      Case{16, 2, 32, 4, 2, 4, 2, 24, 40, 1, 1.25},
                      Case{16, 2, 32, 4, 2, 4, 2, 24, 40, 2, 1.0},
                      Case{12, 1, 48, 6, 3, 8, 2, 16, 0, 3, 0},
                      Case{8, 3, 40, 8, 4, 6, 3, 20, 24, 4, 2.0},
                      Case{8, 2, 64, 8, 8, 2, 1, 32, 16, 2, 0.5}));

} // namespace
