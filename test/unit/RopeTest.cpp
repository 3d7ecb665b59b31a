//===- RopeTest.cpp - Scaled rotary frequencies
//----------------------------===//
//
// The frequencies of xf.rope's scalings on small heads whose values follow
// by hand from transformers' formulas (modeling_rope_utils), and the
// importer's reading of Hugging Face's and Megatron's scaling fields.
//
//===----------------------------------------------------------------------===//

#include "ckpt/OpTable/Rope.h"
#include "ckpt/Target/Config/ModelConfig.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ckpt;
using ckpt::config::parseGPTConfig;

namespace {

/// base 10000 over 8 channels: pairs turn by 1, 0.1, 0.01 and 0.001.
ops::RopeSpec eightChannels(const char *scaling, double factor) {
  ops::RopeSpec spec;
  spec.rotaryDim = 8;
  spec.scaling = scaling;
  spec.factor = factor;
  spec.originalMaxPosition = 1000;
  return spec;
}

void expectFrequencies(const ops::RopeSpec &spec,
                       const std::vector<double> &expected) {
  std::vector<double> got = ops::ropeInverseFrequencies(spec);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-12 * expected[i])
        << spec.scaling << " pair " << i;
}

TEST(RopeTest, DefaultAndLinear) {
  expectFrequencies(eightChannels("default", 1.0), {1, 0.1, 0.01, 0.001});
  // Every frequency divided by the factor.
  expectFrequencies(eightChannels("linear", 4.0),
                    {0.25, 0.025, 0.0025, 0.00025});
}

TEST(RopeTest, Llama3KeepsHighFrequenciesAndBlendsTheMiddle) {
  // Original 1000 positions, factors 1 and 4: wavelengths 2π/f are 6.3,
  // 63, 628 and 6283. Below 1000/4 kept, above 1000/1 divided by 8, the
  // third blended with smooth = (1000/628.3 - 1) / 3 = 0.19718.
  ops::RopeSpec spec = eightChannels("llama3", 8.0);
  double smooth = (1000.0 / (2 * M_PI / 0.01) - 1.0) / 3.0;
  EXPECT_NEAR(smooth, 0.19718, 1e-5);
  expectFrequencies(
      spec, {1, 0.1, (1 - smooth) * 0.01 / 8 + smooth * 0.01, 0.001 / 8});
}

TEST(RopeTest, YarnRampsBetweenTheCorrectionDimensions) {
  // Pairs turning 32 and 1 times in 1000 positions sit at
  // 8·ln(1000/(2π·r)) / (2·ln 10000): 0.70 and 2.20, truncated to 0 and 3.
  ops::RopeSpec spec = eightChannels("yarn", 4.0);
  auto [first, last] = ops::yarnRampRange(spec);
  EXPECT_EQ(first, 0.0);
  EXPECT_EQ(last, 3.0);
  // Ramp i/3: pair 1 is 2/3 kept and 1/3 divided, pair 3 all divided.
  expectFrequencies(spec, {1, 0.075, 0.005, 0.00025});
  spec.truncate = false;
  auto [exactFirst, exactLast] = ops::yarnRampRange(spec);
  EXPECT_NEAR(exactFirst,
              8 * std::log(1000 / (64 * M_PI)) / (2 * std::log(10000.0)),
              1e-12);
  EXPECT_NEAR(exactLast,
              8 * std::log(1000 / (2 * M_PI)) / (2 * std::log(10000.0)), 1e-12);
}

TEST(RopeTest, InvalidSpecsAreNamed) {
  ops::RopeSpec spec = eightChannels("longrope", 2.0);
  EXPECT_NE(ops::checkRopeSpec(spec, 8).find("scaling must be default"),
            std::string::npos);
  spec = eightChannels("llama3", 8.0);
  spec.lowFreqFactor = 4.0;
  EXPECT_NE(ops::checkRopeSpec(spec, 8).find("low_freq_factor"),
            std::string::npos);
  spec = eightChannels("yarn", 0.0);
  EXPECT_NE(ops::checkRopeSpec(spec, 8).find("factor must be > 0"),
            std::string::npos);
  spec = eightChannels("yarn", 2.0);
  spec.originalMaxPosition = 0;
  EXPECT_NE(ops::checkRopeSpec(spec, 8).find("original_max_position"),
            std::string::npos);
  EXPECT_EQ(ops::checkRopeSpec(eightChannels("yarn", 2.0), 8), "");
  EXPECT_NE(ops::checkRopeSpec(eightChannels("default", 1.0), 6), "");
}

std::string errors(const config::ConfigParseResult &result) {
  std::string text;
  for (const auto &d : result.diagnostics)
    text += d.path + ": " + d.message + "\n";
  return text;
}

const char *kLlama = R"({"model_type": "llama", "hidden_size": 64,
  "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 128,
  "vocab_size": 128, "max_position_embeddings": 64, )";

TEST(RopeTest, HuggingFaceSpellingsGiveOneRotation) {
  // transformers 5's rope_parameters and the older rope_theta +
  // rope_scaling (with "type" or "rope_type") describe one rotation.
  auto modern = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
          "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 32}})");
  auto older = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_theta": 500000.0, "rope_scaling": {"type": "llama3",
          "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 32}})");
  ASSERT_TRUE(modern.succeeded()) << errors(modern);
  ASSERT_TRUE(older.succeeded()) << errors(older);
  for (const auto *result : {&modern, &older}) {
    ops::RopeSpec spec = result->config->rope();
    EXPECT_EQ(spec.scaling, "llama3");
    EXPECT_EQ(spec.base, 500000.0);
    EXPECT_EQ(spec.rotaryDim, 16);
    EXPECT_EQ(spec.factor, 8.0);
    EXPECT_EQ(spec.originalMaxPosition, 32);
    EXPECT_EQ(ops::checkRopeSpec(spec, 16), "");
  }
}

TEST(RopeTest, YarnTakesTransformersDefaults) {
  // No original length: max_position_embeddings; no attention_factor:
  // 0.1·ln(factor) + 1.
  auto yarn = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_parameters": {"rope_type": "yarn", "factor": 4.0}})");
  ASSERT_TRUE(yarn.succeeded()) << errors(yarn);
  ops::RopeSpec spec = yarn.config->rope();
  EXPECT_EQ(spec.originalMaxPosition, 64);
  EXPECT_DOUBLE_EQ(spec.attentionFactor, 0.1 * std::log(4.0) + 1.0);
  EXPECT_EQ(spec.betaFast, 32.0);
  EXPECT_TRUE(spec.truncate);
  // mscale and mscale_all_dim: their ratio.
  auto ratio =
      parseGPTConfig(std::string(kLlama) +
                     R"("rope_parameters": {"rope_type": "yarn", "factor": 4.0,
          "mscale": 2.0, "mscale_all_dim": 1.0, "truncate": false}})");
  ASSERT_TRUE(ratio.succeeded()) << errors(ratio);
  EXPECT_DOUBLE_EQ(ratio.config->rope().attentionFactor,
                   (0.2 * std::log(4.0) + 1.0) / (0.1 * std::log(4.0) + 1.0));
  EXPECT_FALSE(ratio.config->rope().truncate);
}

TEST(RopeTest, DynamicChangesNothingAtTheTrainingLength) {
  auto dynamic = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_scaling": {"rope_type": "dynamic", "factor": 2.0}})");
  ASSERT_TRUE(dynamic.succeeded()) << errors(dynamic);
  ops::RopeSpec spec = dynamic.config->rope();
  EXPECT_EQ(spec.scaling, "default");
  EXPECT_EQ(spec.base, 10000.0);
  // Past max_position_embeddings (64) the base grows:
  // base · (factor·s/64 - (factor - 1))^(d/(d-2)) = base · 3^(16/14).
  config::GPTConfig longer = *dynamic.config;
  longer.seqLength = 128;
  EXPECT_NEAR(longer.rope().base, 10000.0 * std::pow(3.0, 16.0 / 14.0), 1e-9);
}

TEST(RopeTest, UnmodelledRopeFieldsAreRefused) {
  auto longrope = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_parameters": {"rope_type": "longrope", "short_factor": [1]}})");
  EXPECT_FALSE(longrope.succeeded());
  EXPECT_NE(errors(longrope).find("longrope"), std::string::npos);
  auto partial = parseGPTConfig(std::string(kLlama) +
                                R"("rope_parameters": {"rope_type": "default",
          "partial_rotary_factor": 0.5}})");
  EXPECT_FALSE(partial.succeeded());
  EXPECT_NE(errors(partial).find("partial_rotary_factor"), std::string::npos);
  auto both = parseGPTConfig(std::string(kLlama) +
                             R"("rope_parameters": {"rope_type": "default"},
          "rope_scaling": {"rope_type": "linear", "factor": 2.0}})");
  EXPECT_FALSE(both.succeeded());
  EXPECT_NE(errors(both).find("give one"), std::string::npos);
  auto small = parseGPTConfig(
      std::string(kLlama) +
      R"("rope_scaling": {"rope_type": "linear", "factor": 0.5}})");
  EXPECT_FALSE(small.succeeded());
  EXPECT_NE(errors(small).find("factor must be >= 1"), std::string::npos);
}

TEST(RopeTest, MegatronRopeScalingIsLlama31) {
  auto scaled = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 32,
    "num_attention_heads": 4, "seq_length": 4, "vocab_size": 128,
    "position_embedding_type": "rope", "rope_scaling": true,
    "rope_scaling_factor": 32.0})");
  ASSERT_TRUE(scaled.succeeded()) << errors(scaled);
  ops::RopeSpec spec = scaled.config->rope();
  EXPECT_EQ(spec.scaling, "llama3");
  EXPECT_EQ(spec.factor, 32.0);
  EXPECT_EQ(spec.lowFreqFactor, 1.0);
  EXPECT_EQ(spec.highFreqFactor, 4.0);
  EXPECT_EQ(spec.originalMaxPosition, 8192);
  auto learned = parseGPTConfig(R"({"num_layers": 1, "hidden_size": 32,
    "num_attention_heads": 4, "seq_length": 4, "vocab_size": 128,
    "rope_scaling": true})");
  EXPECT_FALSE(learned.succeeded());
}

} // namespace
