//===- ParallelFormulaTest.cpp - Korthikanti et al.'s Table 2 -------------===//
//
// Per-layer activation bytes kept by one tensor-parallel rank (16-bit),
// for every row of the paper's Table 2, on several shapes:
//   tensor parallel                 sbh (10 + 24/t + 5as/(ht))
//   tensor + sequence parallel      sbh (34/t + 5as/(ht))
//   tensor parallel + selective     sbh (10 + 24/t)
//   tensor + sequence + selective   sbh (34/t)
//   full recompute                  2sbh (2sbh/t with sequence parallelism
//                                   or distributed saved activations)
//
//===----------------------------------------------------------------------===//

#include "StepReport.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ckpt;

namespace {

struct Case {
  int64_t s, b, h, a, t;
};

void PrintTo(const Case &c, std::ostream *os) {
  *os << "s=" << c.s << " b=" << c.b << " h=" << c.h << " a=" << c.a
      << " t=" << c.t;
}

class ParallelFormulaTest : public ::testing::TestWithParam<Case> {
protected:
  /// The report of one rank's step (vocabulary `vocab`).
  ActivationReport reportOf(bool sequenceParallel, const MegatronPolicy &policy,
                            int64_t vocab = 64) {
    const Case &c = GetParam();
    std::string config =
        "{\"num_layers\": 2, \"hidden_size\": " + std::to_string(c.h) +
        ", \"num_attention_heads\": " + std::to_string(c.a) +
        ", \"seq_length\": " + std::to_string(c.s) +
        ", \"micro_batch_size\": " + std::to_string(c.b) +
        ", \"padded_vocab_size\": " + std::to_string(vocab) +
        ", \"bf16\": true" +
        ", \"tensor_model_parallel_size\": " + std::to_string(c.t) +
        ", \"sequence_parallel\": " + (sequenceParallel ? "true" : "false") +
        "}";
    // Any granularity applies Megatron's sequence-parallel re-gather.
    return test::stepReport(context, config, policy, module);
  }

  /// Per-layer kept bytes of layer 0 for the step of one rank.
  int64_t keptPerLayer(bool sequenceParallel, const MegatronPolicy &policy) {
    ActivationReport report = reportOf(sequenceParallel, policy);
    return report.perLayer.empty() ? -1 : report.perLayer.front().keptBytes;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

MegatronPolicy selective() {
  MegatronPolicy p;
  p.granularity = RecomputeGranularity::Selective;
  return p;
}

MegatronPolicy full() {
  MegatronPolicy p;
  p.granularity = RecomputeGranularity::Full;
  p.method = RecomputeMethod::Uniform;
  p.numLayers = 1;
  return p;
}

TEST_P(ParallelFormulaTest, Table2) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, as2b = c.a * c.s * c.s * c.b;
  // Every term is a whole number of bytes for these shapes: t divides h, a
  // and s.
  EXPECT_EQ(keptPerLayer(false, MegatronPolicy()),
            10 * sbh + 24 * sbh / c.t + 5 * as2b / c.t);
  EXPECT_EQ(keptPerLayer(true, MegatronPolicy()),
            34 * sbh / c.t + 5 * as2b / c.t);
  EXPECT_EQ(keptPerLayer(false, selective()), 10 * sbh + 24 * sbh / c.t);
  EXPECT_EQ(keptPerLayer(true, selective()), 34 * sbh / c.t);
  EXPECT_EQ(keptPerLayer(false, full()), 2 * sbh);
  EXPECT_EQ(keptPerLayer(true, full()), 2 * sbh / c.t);
  // distribute_saved_activations: each rank keeps a 1/t shard of the layer
  // input without sequence parallelism too.
  MegatronPolicy distributed = full();
  distributed.distributeSavedActivations = true;
  EXPECT_EQ(keptPerLayer(false, distributed), 2 * sbh / c.t);
}

// Outside the layers the vocabulary is split as in Megatron: the embedding
// keeps its dropout mask (sbh), the final norm and the output layer their
// inputs (2sbh each), the loss its f32 softmax over this rank's V/t
// classes (4sbV/t); with sequence parallelism the first three are 1/t
// shards. That is Megatron's theoretical_memory_usage for the output
// layer and loss, 4sbh(1 + V/h)/t.
TEST_P(ParallelFormulaTest, OutsideTheLayersTheVocabularyIsSplit) {
  const Case &c = GetParam();
  const int64_t sbh = c.s * c.b * c.h, vocab = 48 * c.t;
  const int64_t loss = 4 * c.s * c.b * vocab / c.t;
  std::map<std::string, int64_t> whole = {{"embedding", sbh},
                                          {"layernorm", 2 * sbh},
                                          {"head", 2 * sbh},
                                          {"loss", loss}};
  EXPECT_EQ(reportOf(false, MegatronPolicy(), vocab).outsideLayers, whole);
  std::map<std::string, int64_t> sharded = {{"embedding", sbh / c.t},
                                            {"layernorm", 2 * sbh / c.t},
                                            {"head", 2 * sbh / c.t},
                                            {"loss", loss}};
  ActivationReport sp = reportOf(true, MegatronPolicy(), vocab);
  EXPECT_EQ(sp.outsideLayers, sharded);
  EXPECT_EQ(sharded["layernorm"] + sharded["head"] + sharded["loss"],
            4 * sbh * (c.h + vocab) / c.h / c.t);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ParallelFormulaTest,
                         ::testing::Values(Case{16, 2, 32, 4, 2},
                                           Case{16, 2, 32, 4, 4},
                                           Case{12, 1, 24, 6, 3},
                                           Case{8, 3, 40, 8, 8}));

} // namespace
