//===- GraphBuilderTest.cpp - Tests of the GPT graph builder --------------===//

#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Target/Config/GPTGraphBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>
#include <map>

using namespace mlir;
using namespace ckpt;

namespace {

class GraphBuilderTest : public ::testing::Test {
protected:
  GraphBuilderTest() {
    context.loadDialect<xf::XFDialect, func::FuncDialect>();
  }

  static config::GPTConfig tinyConfig() {
    config::GPTConfig c;
    c.numLayers = 2;
    c.hiddenSize = 32;
    c.numAttentionHeads = 4;
    c.ffnHiddenSize = 128;
    c.seqLength = 16;
    c.microBatchSize = 2;
    c.vocabSize = 128;
    c.maxPositionEmbeddings = 16;
    c.hiddenDropout = 0.1;
    c.attentionDropout = 0.1;
    c.embeddingDropout = 0.1;
    return c;
  }

  func::FuncOp build(const config::GPTConfig &c) {
    module = buildGPTForwardGraph(c, &context, UnknownLoc::get(&context));
    EXPECT_TRUE(succeeded(verify(*module)));
    return cast<func::FuncOp>(module->getBody()->front());
  }

  /// Counts the ops of each name in `func`.
  static std::map<std::string, int> countOps(func::FuncOp func) {
    std::map<std::string, int> counts;
    func.walk([&](Operation *op) {
      if (op != func.getOperation())
        ++counts[op->getName().getStringRef().str()];
    });
    return counts;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(GraphBuilderTest, OpCountsOfADropoutModel) {
  func::FuncOp func = build(tinyConfig());
  auto counts = countOps(func);
  // Per layer: 2 norms, 4 linears, 3 dropouts, 2 adds, 1 of each attention
  // piece and GeLU; plus embedding (+dropout), final norm, head, loss.
  EXPECT_EQ(counts["xf.layer_norm"], 2 * 2 + 1);
  EXPECT_EQ(counts["xf.linear"], 2 * 4 + 1);
  EXPECT_EQ(counts["xf.dropout"], 2 * 3 + 1);
  EXPECT_EQ(counts["xf.add"], 2 * 2);
  EXPECT_EQ(counts["xf.split_heads"], 2);
  EXPECT_EQ(counts["xf.attention_scores"], 2);
  EXPECT_EQ(counts["xf.softmax"], 2);
  EXPECT_EQ(counts["xf.attention_context"], 2);
  EXPECT_EQ(counts["xf.merge_heads"], 2);
  EXPECT_EQ(counts["xf.gelu"], 2);
  EXPECT_EQ(counts["xf.embedding"], 1);
  EXPECT_EQ(counts["xf.cross_entropy"], 1);
  EXPECT_EQ(counts["func.return"], 1);
}

TEST_F(GraphBuilderTest, ZeroDropoutLeavesDropoutOut) {
  config::GPTConfig c = tinyConfig();
  c.hiddenDropout = c.attentionDropout = c.embeddingDropout = 0.0;
  auto counts = countOps(build(c));
  EXPECT_EQ(counts.count("xf.dropout"), 0u);
  EXPECT_EQ(counts["xf.add"], 4);
}

TEST_F(GraphBuilderTest, ArgumentsHaveRolesAndMegatronNames) {
  func::FuncOp func = build(tinyConfig());
  // tokens, labels, 2 embeddings, 12 per layer, 2 for the final norm.
  ASSERT_EQ(func.getNumArguments(), 2u + 2 + 12 * 2 + 2);
  auto role = [&](unsigned i) {
    return func.getArgAttrOfType<StringAttr>(i, "xf.role").getValue();
  };
  auto name = [&](unsigned i) {
    return func.getArgAttrOfType<StringAttr>(i, "xf.name").getValue();
  };
  EXPECT_EQ(role(0), "tokens");
  EXPECT_EQ(role(1), "labels");
  EXPECT_EQ(role(2), "parameter");
  EXPECT_EQ(name(2), "embedding.word_embeddings.weight");
  EXPECT_EQ(name(3), "embedding.position_embeddings.weight");
  EXPECT_EQ(name(4), "decoder.layers.0.input_layernorm.weight");
  EXPECT_EQ(name(16), "decoder.layers.1.input_layernorm.weight");
  EXPECT_EQ(name(29), "decoder.final_layernorm.bias");
  EXPECT_EQ(func.getFunctionType().getResult(0),
            RankedTensorType::get({}, Float32Type::get(&context)));
}

TEST_F(GraphBuilderTest, UntiedHeadAndNoBias) {
  config::GPTConfig c = tinyConfig();
  c.untieEmbeddingsAndOutputWeights = true;
  c.addBiasLinear = false;
  func::FuncOp func = build(c);
  // 4 linear biases fewer per layer, one output weight more.
  EXPECT_EQ(func.getNumArguments(), 2u + 2 + 8 * 2 + 2 + 1);
  unsigned last = func.getNumArguments() - 1;
  EXPECT_EQ(func.getArgAttrOfType<StringAttr>(last, "xf.name").getValue(),
            "output_layer.weight");
  xf::LinearOp head;
  func.walk([&](xf::LinearOp op) {
    EXPECT_FALSE(op.getBias()) << "no linear has a bias";
    if (xf::getModule(op) == "head")
      head = op;
  });
  ASSERT_TRUE(head);
  EXPECT_EQ(head.getWeight(), func.getArgument(last));
}

TEST_F(GraphBuilderTest, EveryOpIsTaggedAndLayersAreInOrder) {
  func::FuncOp func = build(tinyConfig());
  std::map<std::string, int> perModule;
  int64_t lastLayer = -1;
  func.walk([&](Operation *op) {
    if (!isa<xf::XFDialect>(op->getDialect()))
      return;
    StringRef module = xf::getModule(op);
    EXPECT_TRUE(xf::isKnownModuleName(module)) << module.str();
    ++perModule[module.str()];
    if (auto layer = xf::getLayer(op)) {
      EXPECT_GE(*layer, lastLayer) << "layers appear in order";
      lastLayer = *layer;
    } else {
      EXPECT_TRUE(module == "embedding" || module == "layernorm" ||
                  module == "head" || module == "loss")
          << module.str() << " ops belong to a layer";
    }
  });
  EXPECT_EQ(lastLayer, 1);
  // Per layer: core_attn = scores, softmax, dropout, context, merge.
  EXPECT_EQ(perModule["core_attn"], 2 * 5);
  // Per layer: linear_proj, its dropout, the residual add.
  EXPECT_EQ(perModule["attn_proj"], 2 * 3);
  // Per layer: fc1, gelu, fc2, dropout, residual add.
  EXPECT_EQ(perModule["mlp"], 2 * 5);
  // Per layer: the QKV linear and the head split.
  EXPECT_EQ(perModule["qkv"], 2 * 2);
  EXPECT_EQ(perModule["layernorm"], 2 * 2 + 1);
  EXPECT_EQ(perModule["embedding"], 2);
}

TEST_F(GraphBuilderTest, DropoutStreamsAreUnique) {
  func::FuncOp func = build(tinyConfig());
  std::set<int64_t> streams;
  int count = 0;
  func.walk([&](xf::DropoutOp op) {
    streams.insert(op.getRngStreamAttr().getInt());
    ++count;
  });
  EXPECT_EQ(static_cast<int>(streams.size()), count);
}

TEST_F(GraphBuilderTest, ImportReportsErrorsAsDiagnostics) {
  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    messages.push_back(diag.str());
    return success();
  });
  auto module =
      importModelConfig(R"({"num_layers": 0})", "bad.json", {}, &context);
  EXPECT_FALSE(module);
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "/num_layers: num_layers must be a positive integer, "
                      "got 0"),
            messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "missing required field 'hidden_size' (Megatron "
                      "TransformerConfig)"),
            messages.end());
}

TEST_F(GraphBuilderTest, ImportOfOddShapes) {
  // h not a power of two, one head, a single token.
  auto module = importModelConfig(
      R"({"num_layers": 1, "hidden_size": 30, "num_attention_heads": 1,
          "seq_length": 1, "vocab_size": 7, "make_vocab_size_divisible_by": 1,
          "hidden_dropout": 0.0, "attention_dropout": 0.0})",
      "odd.json", {}, &context);
  ASSERT_TRUE(module);
  auto func = cast<func::FuncOp>(module->getBody()->front());
  xf::SplitHeadsOp split;
  func.walk([&](xf::SplitHeadsOp op) { split = op; });
  ASSERT_TRUE(split);
  EXPECT_EQ(split.getQuery().getType().getShape(),
            (ArrayRef<int64_t>{1, 1, 1, 30}));
}

} // namespace
