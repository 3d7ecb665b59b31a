//===- ModelConfigTest.cpp - Tests of the config reader -------------------===//

#include "ckpt/Target/Config/ModelConfig.h"
#include "ckpt/Target/Config/MegatronFields.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace ckpt::config;

namespace {

const char *kTinyMegatron = R"({
  "num_layers": 2, "hidden_size": 32, "num_attention_heads": 4,
  "seq_length": 16, "padded_vocab_size": 128
})";

/// The messages of all errors, joined, for assertion output.
std::string errors(const ConfigParseResult &result) {
  std::string text;
  for (const ConfigDiagnostic &d : result.diagnostics)
    if (d.kind == ConfigDiagnostic::Kind::Error)
      text += d.path + ": " + d.message + "\n";
  return text;
}

const ConfigDiagnostic *findDiagnostic(const ConfigParseResult &result,
                                       const std::string &path) {
  for (const ConfigDiagnostic &d : result.diagnostics)
    if (d.path == path)
      return &d;
  return nullptr;
}

TEST(DTypeTest, ParsesEverySpelling) {
  EXPECT_EQ(parseDType("f32"), DType::F32);
  EXPECT_EQ(parseDType("float32"), DType::F32);
  EXPECT_EQ(parseDType("torch.float32"), DType::F32);
  EXPECT_EQ(parseDType("bf16"), DType::BF16);
  EXPECT_EQ(parseDType("torch.bfloat16"), DType::BF16);
  EXPECT_EQ(parseDType("fp16"), DType::F16);
  EXPECT_EQ(parseDType("half"), DType::F16);
  EXPECT_FALSE(parseDType("f64").has_value());
  EXPECT_FALSE(parseDType("").has_value());
  // The same enum as the op table's, which names and sizes it.
  EXPECT_EQ(ckpt::ops::elementTypeBytes(*parseDType("torch.float16")), 2);
  EXPECT_STREQ(ckpt::ops::elementTypeName(*parseDType("bfloat16")), "bf16");
  EXPECT_FALSE(parseDType("i64").has_value());
}

TEST(LineAndColumnTest, CountsFromOne) {
  EXPECT_EQ(lineAndColumn("abc", 0), std::make_pair(1u, 1u));
  EXPECT_EQ(lineAndColumn("abc\ndef", 5), std::make_pair(2u, 2u));
  // Offsets past the end clamp to the end.
  EXPECT_EQ(lineAndColumn("a\n", 99), std::make_pair(2u, 1u));
}

TEST(MegatronConfigTest, ReadsFieldsAndDefaults) {
  ConfigParseResult result = parseGPTConfig(kTinyMegatron);
  ASSERT_TRUE(result.succeeded()) << errors(result);
  const GPTConfig &c = *result.config;
  EXPECT_EQ(c.format, ConfigFormat::Megatron);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.hiddenSize, 32);
  EXPECT_EQ(c.numAttentionHeads, 4);
  EXPECT_EQ(c.headDim(), 8);
  EXPECT_EQ(c.ffnHiddenSize, 128); // 4 * hidden_size by default.
  EXPECT_EQ(c.seqLength, 16);
  EXPECT_EQ(c.maxPositionEmbeddings, 16); // Defaults to seq_length.
  EXPECT_EQ(c.microBatchSize, 1);
  EXPECT_EQ(c.vocabSize, 128);
  EXPECT_DOUBLE_EQ(c.hiddenDropout, 0.1); // Megatron's defaults.
  EXPECT_DOUBLE_EQ(c.attentionDropout, 0.1);
  EXPECT_DOUBLE_EQ(c.embeddingDropout, 0.1);
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_FALSE(c.untieEmbeddingsAndOutputWeights);
  EXPECT_EQ(c.geluApproximate, "none");
  EXPECT_TRUE(result.diagnostics.empty());
}

TEST(MegatronConfigTest, PadsVocabularyLikeMegatron) {
  auto result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 50257})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->vocabSize, 50304); // Next multiple of 128.

  result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 100,
    "make_vocab_size_divisible_by": 64})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->vocabSize, 128);

  // An exact multiple stays as it is.
  result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 256})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->vocabSize, 256);
}

TEST(MegatronConfigTest, ElementTypeFromFlagsOrParamsDtype) {
  std::string base = R"("num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128)";
  auto parse = [&](const std::string &extra) {
    return parseGPTConfig("{" + base + extra + "}");
  };
  EXPECT_EQ(parse(R"(, "bf16": true)").config->dtype, DType::BF16);
  EXPECT_EQ(parse(R"(, "fp16": true)").config->dtype, DType::F16);
  EXPECT_EQ(parse(R"(, "params_dtype": "torch.float16")").config->dtype,
            DType::F16);
  EXPECT_EQ(
      parse(R"(, "bf16": true, "params_dtype": "bfloat16")").config->dtype,
      DType::BF16);
  auto conflict = parse(R"(, "bf16": true, "params_dtype": "float16")");
  EXPECT_FALSE(conflict.succeeded());
  const ConfigDiagnostic *d = findDiagnostic(conflict, "/params_dtype");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("contradicts the bf16 flag"), std::string::npos);
}

TEST(MegatronConfigTest, OptionalFeatures) {
  auto result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128,
    "untie_embeddings_and_output_weights": true, "add_bias_linear": false,
    "openai_gelu": true, "ffn_hidden_size": 20, "kv_channels": 4,
    "num_query_groups": 2})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_TRUE(result.config->untieEmbeddingsAndOutputWeights);
  EXPECT_FALSE(result.config->addBiasLinear);
  EXPECT_EQ(result.config->geluApproximate, "tanh");
  EXPECT_EQ(result.config->ffnHiddenSize, 20);
}

TEST(MegatronConfigTest, RmsNormAndGatedLinearUnits) {
  const char *base = R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128)";
  auto gpt = parseGPTConfig(std::string(base) + "}");
  ASSERT_TRUE(gpt.succeeded()) << errors(gpt);
  EXPECT_EQ(gpt.config->normalization, "LayerNorm");
  EXPECT_FALSE(gpt.config->gatedLinearUnit);
  EXPECT_EQ(gpt.config->activation, "gelu");
  // Megatron's --swiglu: a gated unit with SiLU.
  auto swiglu = parseGPTConfig(std::string(base) +
                               R"(, "normalization": "RMSNorm",
                                  "swiglu": true})");
  ASSERT_TRUE(swiglu.succeeded()) << errors(swiglu);
  EXPECT_EQ(swiglu.config->normalization, "RMSNorm");
  EXPECT_TRUE(swiglu.config->gatedLinearUnit);
  EXPECT_EQ(swiglu.config->activation, "silu");
  // TransformerConfig's own fields, the function written by name.
  auto geglu = parseGPTConfig(std::string(base) +
                              R"(, "gated_linear_unit": true,
                                 "activation_func": "F.gelu"})");
  ASSERT_TRUE(geglu.succeeded()) << errors(geglu);
  EXPECT_TRUE(geglu.config->gatedLinearUnit);
  EXPECT_EQ(geglu.config->activation, "gelu");
  auto silu =
      parseGPTConfig(std::string(base) + R"(, "activation_func": "silu"})");
  EXPECT_FALSE(silu.succeeded());
  EXPECT_NE(findDiagnostic(silu, "/activation_func"), nullptr);
}

TEST(MegatronConfigTest, PositionEmbeddings) {
  const char *base = R"({"num_layers": 1, "hidden_size": 32,
    "num_attention_heads": 4, "seq_length": 4, "vocab_size": 128)";
  auto gpt = parseGPTConfig(std::string(base) + "}");
  ASSERT_TRUE(gpt.succeeded()) << errors(gpt);
  EXPECT_EQ(gpt.config->positionEmbeddingType, "learned_absolute");
  auto rope = parseGPTConfig(std::string(base) +
                             R"(, "position_embedding_type": "rope",
                                "rotary_base": 500000, "rotary_percent": 0.5})");
  ASSERT_TRUE(rope.succeeded()) << errors(rope);
  EXPECT_EQ(rope.config->positionEmbeddingType, "rope");
  EXPECT_EQ(rope.config->rotaryBase, 500000.0);
  // Half of each head of 8 channels.
  EXPECT_EQ(rope.config->rotaryDim(), 4);
  auto legacy = parseGPTConfig(std::string(base) +
                               R"(, "use_rotary_position_embeddings": true})");
  ASSERT_TRUE(legacy.succeeded()) << errors(legacy);
  EXPECT_EQ(legacy.config->positionEmbeddingType, "rope");
  EXPECT_EQ(legacy.config->rotaryDim(), 8);
  // Fewer than 2 rotated channels per head.
  auto thin = parseGPTConfig(std::string(base) +
                             R"(, "position_embedding_type": "rope",
                                "rotary_percent": 0.1})");
  EXPECT_FALSE(thin.succeeded());
  EXPECT_NE(findDiagnostic(thin, "/rotary_percent"), nullptr);
}

TEST(MegatronConfigTest, ErrorsNameTheFieldAndItsPosition) {
  const char *text = "{\n  \"num_layers\": 2,\n  \"hidden_size\": 30,\n"
                     "  \"num_attention_heads\": 4,\n  \"seq_length\": 8,\n"
                     "  \"vocab_size\": 64\n}";
  auto result = parseGPTConfig(text);
  EXPECT_FALSE(result.succeeded());
  ASSERT_EQ(result.count(ConfigDiagnostic::Kind::Error), 1u) << errors(result);
  const ConfigDiagnostic &d = result.diagnostics[0];
  EXPECT_EQ(d.path, "/num_attention_heads");
  EXPECT_EQ(d.line, 4u);
  EXPECT_EQ(d.column, 3u);
  EXPECT_EQ(d.message, "hidden_size (30) must be divisible by "
                       "num_attention_heads (4)");
}

TEST(MegatronConfigTest, ReportsEveryErrorAtOnce) {
  auto result = parseGPTConfig(R"({"num_layers": -1, "hidden_size": 0,
    "num_attention_heads": "4", "seq_length": 4, "vocab_size": 128,
    "hidden_dropout": 2})");
  EXPECT_FALSE(result.succeeded());
  EXPECT_NE(findDiagnostic(result, "/num_layers"), nullptr);
  EXPECT_NE(findDiagnostic(result, "/hidden_size"), nullptr);
  EXPECT_NE(findDiagnostic(result, "/num_attention_heads"), nullptr);
  EXPECT_NE(findDiagnostic(result, "/hidden_dropout"), nullptr);
  EXPECT_EQ(result.count(ConfigDiagnostic::Kind::Error), 4u) << errors(result);
}

TEST(MegatronConfigTest, MissingSequenceLengthCanComeFromTheCommandLine) {
  const char *text = R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "vocab_size": 128})";
  auto missing = parseGPTConfig(text);
  EXPECT_FALSE(missing.succeeded());
  EXPECT_NE(errors(missing).find("missing required field 'seq_length'"),
            std::string::npos);

  ConfigOverrides overrides;
  overrides.seqLength = 12;
  auto given = parseGPTConfig(text, overrides);
  ASSERT_TRUE(given.succeeded()) << errors(given);
  EXPECT_EQ(given.config->seqLength, 12);
  EXPECT_EQ(given.config->maxPositionEmbeddings, 12);
}

TEST(OverridesTest, WinOverTheFile) {
  ConfigOverrides overrides;
  overrides.seqLength = 8;
  overrides.microBatchSize = 3;
  overrides.dtype = DType::BF16;
  auto result = parseGPTConfig(kTinyMegatron, overrides);
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->seqLength, 8);
  EXPECT_EQ(result.config->microBatchSize, 3);
  EXPECT_EQ(result.config->dtype, DType::BF16);
}

TEST(OverridesTest, AreValidated) {
  ConfigOverrides overrides;
  overrides.microBatchSize = 0;
  auto result = parseGPTConfig(kTinyMegatron, overrides);
  EXPECT_FALSE(result.succeeded());
  EXPECT_NE(findDiagnostic(result, "--micro-batch-size"), nullptr);

  // Longer than the position table given in the file.
  ConfigOverrides tooLong;
  tooLong.seqLength = 32;
  auto bounded = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128,
    "max_position_embeddings": 16})",
                                tooLong);
  EXPECT_FALSE(bounded.succeeded());
  EXPECT_NE(findDiagnostic(bounded, "/max_position_embeddings"), nullptr);
}

TEST(HuggingFaceConfigTest, ReadsGPT2Names) {
  auto result = parseGPTConfig(R"({"model_type": "gpt2", "n_layer": 3,
    "n_embd": 48, "n_head": 6, "n_positions": 64, "vocab_size": 1000,
    "resid_pdrop": 0.2, "attn_pdrop": 0.3, "embd_pdrop": 0.4,
    "layer_norm_epsilon": 1e-6, "activation_function": "gelu_new",
    "n_inner": null, "architectures": ["GPT2LMHeadModel"]})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  const GPTConfig &c = *result.config;
  EXPECT_EQ(c.format, ConfigFormat::HuggingFace);
  EXPECT_EQ(c.numLayers, 3);
  EXPECT_EQ(c.hiddenSize, 48);
  EXPECT_EQ(c.numAttentionHeads, 6);
  EXPECT_EQ(c.ffnHiddenSize, 192); // n_inner null: 4 * n_embd.
  EXPECT_EQ(c.seqLength, 64);
  EXPECT_EQ(c.maxPositionEmbeddings, 64);
  EXPECT_EQ(c.vocabSize, 1000); // Hugging Face does not pad.
  EXPECT_DOUBLE_EQ(c.hiddenDropout, 0.2);
  EXPECT_DOUBLE_EQ(c.attentionDropout, 0.3);
  EXPECT_DOUBLE_EQ(c.embeddingDropout, 0.4);
  EXPECT_DOUBLE_EQ(c.layernormEpsilon, 1e-6);
  EXPECT_EQ(c.geluApproximate, "tanh");
  EXPECT_FALSE(c.untieEmbeddingsAndOutputWeights);
  EXPECT_EQ(result.count(ConfigDiagnostic::Kind::Warning), 0u);
}

TEST(HuggingFaceConfigTest, NCtxStandsInForNPositions) {
  auto result = parseGPTConfig(R"({"n_layer": 1, "n_embd": 8, "n_head": 2,
    "n_ctx": 32, "vocab_size": 50, "tie_word_embeddings": false,
    "activation_function": "gelu"})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->seqLength, 32);
  EXPECT_TRUE(result.config->untieEmbeddingsAndOutputWeights);
  EXPECT_EQ(result.config->geluApproximate, "none");
}

TEST(ConfigTest, UnknownFieldsAreErrors) {
  auto result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128,
    "hiden_size": 8, "lr": 0.1})");
  EXPECT_FALSE(result.succeeded());
  ASSERT_EQ(result.count(ConfigDiagnostic::Kind::Error), 1u);
  // "lr" is a known training field; only the typo is reported.
  EXPECT_EQ(result.diagnostics[0].path, "/hiden_size");
}

TEST(ConfigTest, MegatronSwitchesAreReadAtTheirNeutralValue) {
  // At Megatron's default a switch that would change the model is
  // accepted; at another value it is an error at its field.
  const std::string base = R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128, )";
  EXPECT_TRUE(parseGPTConfig(base + R"("qk_layernorm": false,
    "window_size": null, "context_parallel_size": 1})")
                  .succeeded());
  auto result = parseGPTConfig(base + R"("window_size": [128, 0]})");
  EXPECT_FALSE(result.succeeded());
  ASSERT_EQ(result.count(ConfigDiagnostic::Kind::Error), 1u);
  EXPECT_EQ(result.diagnostics[0].path, "/window_size");
}

TEST(ConfigTest, MegatronMicroBatchesFollowTheGlobalBatch) {
  // 48 / (micro-batch 2 x 3 data-parallel ranks) = 8 micro-batches.
  auto result = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 8,
    "num_attention_heads": 2, "seq_length": 4, "vocab_size": 128,
    "micro_batch_size": 2, "global_batch_size": 48,
    "data_parallel_size": 3})");
  ASSERT_TRUE(result.succeeded()) << errors(result);
  EXPECT_EQ(result.config->numMicroBatches, 8);
}

TEST(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  auto result = parseGPTConfig("{\n  \"num_layers\": 2,\n  oops\n}");
  EXPECT_FALSE(result.succeeded());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].line, 3u);
  EXPECT_EQ(result.diagnostics[0].column, 3u);
  EXPECT_EQ(result.diagnostics[0].message.rfind("invalid JSON: ", 0), 0u);
}

TEST(ConfigTest, RejectsNonObjectsAndEmptyInput) {
  EXPECT_FALSE(parseGPTConfig("42").succeeded());
  EXPECT_FALSE(parseGPTConfig("").succeeded());
  EXPECT_FALSE(parseGPTConfig("{}").succeeded());
  EXPECT_FALSE(
      parseGPTConfig(R"({"num_layers": 1, "n_layer": 1})").succeeded());
}

TEST(ConfigTest, ExtremeNumbersAreErrorsNotCrashes) {
  // 2^64 does not fit an int64: a type error, not an exception.
  auto result = parseGPTConfig(R"({"num_layers": 18446744073709551616,
    "hidden_size": 8, "num_attention_heads": 2, "seq_length": 4,
    "vocab_size": 128})");
  EXPECT_FALSE(result.succeeded());
  EXPECT_NE(findDiagnostic(result, "/num_layers"), nullptr);
}

} // namespace

/// docs/models.md's text.
std::string modelsDoc() {
  std::ifstream file(std::string(CKPT_DOCS_DIR) + "/models.md");
  EXPECT_TRUE(file) << "docs/models.md";
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// The backquoted names of docs/models.md from the comment `marker` to the
/// end of the paragraph or table after `from`.
std::vector<std::string> documentedNames(const std::string &doc,
                                         const std::string &marker,
                                         const std::string &from) {
  std::vector<std::string> names;
  size_t start = doc.find(marker);
  if (start == std::string::npos)
    return names;
  start = doc.find(from, start);
  if (start == std::string::npos)
    return names;
  size_t end = doc.find("\n\n", start);
  for (size_t open = doc.find('`', start); open < end;
       open = doc.find('`', open + 1)) {
    size_t close = doc.find('`', open + 1);
    names.push_back(doc.substr(open + 1, close - open - 1));
    open = close;
  }
  return names;
}

TEST(ModelConfigTest, HarmlessFieldsAreTheDocumentedOnes) {
  // docs/models.md lists the Hugging Face fields accepted unread; the list
  // and the importer's set are the same names.
  std::vector<std::string> documented = documentedNames(
      modelsDoc(), "<!-- harmless-fields", "accepted without being read:");
  EXPECT_EQ(std::set<std::string>(documented.begin(), documented.end()),
            ckpt::config::huggingFaceHarmlessFields());
}

TEST(ModelConfigTest, MegatronFieldsAreTheDocumentedOnes) {
  // docs/models.md lists the Megatron fields accepted unread, and those
  // accepted at one value (a table of field and value); both are the
  // importer's.
  std::string doc = modelsDoc();
  std::vector<std::string> harmless = documentedNames(
      doc, "<!-- megatron-harmless-fields", "accepted without being read:");
  EXPECT_EQ(std::set<std::string>(harmless.begin(), harmless.end()),
            ckpt::config::megatronFieldsWithoutEffect());
  std::vector<std::string> table =
      documentedNames(doc, "<!-- megatron-neutral-fields", "|---|");
  std::vector<std::string> expected;
  for (const ckpt::config::NeutralField &field :
       ckpt::config::megatronNeutralFields()) {
    expected.push_back(field.key);
    expected.push_back(field.neutral);
  }
  EXPECT_EQ(table, expected);
}
