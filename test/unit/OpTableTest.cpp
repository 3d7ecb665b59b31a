//===- OpTableTest.cpp - Tests of the op table ----------------------------===//
//
// Shape rules by inference and verification, costs worked out by hand, the
// saved values of the Korthikanti accounting, and the checks an untrusted
// program must pass (arity, element kinds, attributes).
//
//===----------------------------------------------------------------------===//

#include "ckpt/OpTable/OpTable.h"

#include <gtest/gtest.h>

using namespace ckpt::ops;

namespace {

constexpr ElementType kF32 = ElementType::F32;

TensorDesc f32(Shape shape) { return {std::move(shape), kF32}; }
TensorDesc i64(Shape shape) { return {std::move(shape), ElementType::I64}; }

const OpDef &op(std::string_view name) {
  const OpDef *def = lookupOp(name);
  EXPECT_NE(def, nullptr) << name;
  return *def;
}

/// The first result shape on success, or the error with an empty shape.
std::pair<Shape, std::string> infer(std::string_view name,
                                    std::vector<TensorDesc> inputs,
                                    AttrMap attrs = {}) {
  Inference result = inferResults(op(name), {std::move(inputs), {}, attrs});
  if (!result.error.empty())
    return {{}, result.error};
  return {result.outputs.front().shape, ""};
}

TEST(OpTableTest, ElementTypesAndFormatting) {
  EXPECT_EQ(formatShape({}), "[]");
  EXPECT_EQ(formatShape({2, 16, 32}), "[2, 16, 32]");
  EXPECT_EQ(formatTensorType(f32({4, 8})), "'tensor<4x8xf32>'");
  EXPECT_EQ(formatTensorType({{}, ElementType::BF16}), "'tensor<bf16>'");
  for (const char *name : {"f32", "f64", "bf16", "f16", "i32", "i64", "i1"})
    EXPECT_EQ(elementTypeName(*parseElementType(name)), std::string(name));
  EXPECT_FALSE(parseElementType("other"));
  EXPECT_FALSE(parseElementType("f8"));
  EXPECT_EQ(elementTypeBytes(ElementType::I1), 1);
  EXPECT_EQ(elementTypeBytes(ElementType::BF16), 2);
  EXPECT_EQ(numElements({3, 0, 5}), 0);
  EXPECT_FALSE(numElements({int64_t(1) << 40, int64_t(1) << 40}));
}

TEST(OpTableTest, EveryOpHasARuleAndACost) {
  EXPECT_GE(allOps().size(), 31u);
  for (const OpDef &def : allOps()) {
    EXPECT_EQ(lookupOp(def.name), &def);
    EXPECT_NE(def.rule, nullptr) << def.name;
    EXPECT_NE(def.cost, nullptr) << def.name;
    for (unsigned i : def.savedInputs)
      EXPECT_LT(i, def.inputs.size()) << def.name;
    for (unsigned i : def.savedOutputs)
      EXPECT_LT(i, def.outputs.size()) << def.name;
  }
  EXPECT_EQ(lookupOp("convolution"), nullptr);
}

// An op that draws a mask names an op that regenerates it alone: one
// output, a mask like the op's, from attributes the op has (so a region
// copies them over: the same probability and random stream).
TEST(OpTableTest, AMaskDrawnByAnOpIsRegeneratedByItsMaskOp) {
  int drawing = 0;
  for (const OpDef &def : allOps()) {
    if (def.maskOutput < 0) {
      EXPECT_TRUE(def.maskOp.empty()) << def.name;
      continue;
    }
    ++drawing;
    ASSERT_LT(static_cast<size_t>(def.maskOutput), def.outputs.size())
        << def.name;
    EXPECT_EQ(def.outputs[def.maskOutput].kind, TensorKind::Mask) << def.name;
    const OpDef *maskOp = lookupOp(def.maskOp);
    ASSERT_NE(maskOp, nullptr) << def.name;
    EXPECT_TRUE(maskOp->inputs.empty()) << def.name;
    ASSERT_EQ(maskOp->outputs.size(), 1u) << def.name;
    EXPECT_EQ(maskOp->outputs[0].kind, TensorKind::Mask) << def.name;
    for (const AttrSpec &attr : maskOp->attrs)
      EXPECT_NE(def.attr(attr.name), nullptr) << def.name << " " << attr.name;
  }
  EXPECT_EQ(drawing, 1); // xf.dropout.
  // A region that needs the dropout's result re-runs it; one that needs
  // only its mask regenerates the mask.
  const OpDef &dropout = op("dropout");
  EXPECT_TRUE(
      dropout.regeneratesMaskAlone(2, [](unsigned i) { return i == 1; }));
  EXPECT_FALSE(
      dropout.regeneratesMaskAlone(2, [](unsigned i) { return i == 0; }));
  EXPECT_FALSE(dropout.regeneratesMaskAlone(2, [](unsigned) { return true; }));
  EXPECT_FALSE(
      op("add").regeneratesMaskAlone(1, [](unsigned) { return true; }));
}

TEST(OpTableTest, EmbeddingIsSequenceFirst) {
  EXPECT_EQ(
      infer("embedding", {i64({2, 16}), f32({128, 32}), f32({20, 32})}).first,
      (Shape{16, 2, 32}));
  EXPECT_EQ(
      infer("embedding", {i64({2, 16}), f32({128, 32}), f32({15, 32})}).second,
      "position embeddings have 15 rows but the sequence has 16 "
      "tokens; need at least 16");
  EXPECT_NE(
      infer("embedding", {i64({2, 16}), f32({128, 32}), f32({16, 31})}).second,
      "");
}

TEST(OpTableTest, Linear) {
  EXPECT_EQ(infer("linear", {f32({16, 2, 32}), f32({96, 32})}).first,
            (Shape{16, 2, 96}));
  EXPECT_EQ(infer("linear", {f32({5, 32}), f32({96, 32}), f32({96})}).first,
            (Shape{5, 96}));
  EXPECT_EQ(infer("linear", {f32({5, 32}), f32({96, 32}), f32({32})}).second,
            "bias must be [96] (out_features), got [32]");
  // A rank-1 input works like a single row.
  EXPECT_EQ(infer("linear", {f32({32}), f32({7, 32})}).first, (Shape{7}));
  EXPECT_EQ(infer("linear", {f32({5})}).second, "expects 2 or 3 inputs, has 1");
}

TEST(OpTableTest, SplitAndMergeHeadsAreInverse) {
  // h = 32, a = 4, d = 8: qkv [16, 2, 96] -> [2, 4, 16, 8] each.
  auto split = infer("split_heads", {f32({16, 2, 96})}, {{"num_heads", 4}});
  EXPECT_EQ(split.first, (Shape{2, 4, 16, 8}));
  EXPECT_EQ(infer("merge_heads", {f32(split.first)}).first, (Shape{16, 2, 32}));
  EXPECT_EQ(infer("split_heads", {f32({3, 1, 30})}, {{"num_heads", 1}}).first,
            (Shape{1, 1, 3, 10}));
  EXPECT_NE(infer("split_heads", {f32({16, 2, 96})}, {{"num_heads", 5}}).second,
            "");
  EXPECT_NE(infer("split_heads", {f32({16, 2, 96})}, {{"num_heads", 0}}).second,
            "");
  EXPECT_EQ(infer("split_heads", {f32({16, 2, 96})}).second,
            "lacks attribute 'num_heads'");
}

TEST(OpTableTest, Attention) {
  AttrMap scale = {{"scale", 0.5}};
  EXPECT_EQ(
      infer("attention_scores", {f32({2, 4, 16, 8}), f32({2, 4, 12, 8})}, scale)
          .first,
      (Shape{2, 4, 16, 12}));
  EXPECT_EQ(infer("attention_scores", {f32({2, 4, 16, 8}), f32({2, 4, 12, 8})},
                  {{"scale", -1.0}})
                .second,
            "scale must be > 0, got -1");
  EXPECT_EQ(
      infer("attention_context", {f32({2, 4, 16, 12}), f32({2, 4, 12, 8})})
          .first,
      (Shape{2, 4, 16, 8}));
  EXPECT_NE(
      infer("attention_context", {f32({2, 4, 16, 12}), f32({2, 4, 16, 8})})
          .second,
      "");
  AttrMap causal = {{"causal", true}};
  EXPECT_EQ(infer("softmax", {f32({2, 4, 16, 16})}, causal).first,
            (Shape{2, 4, 16, 16}));
  EXPECT_NE(infer("softmax", {f32({2, 4, 16, 12})}, causal).second, "");
  EXPECT_EQ(infer("softmax", {f32({2, 4, 16, 12})}).first,
            (Shape{2, 4, 16, 12}));
  // s = 1: a single token attends to itself.
  EXPECT_EQ(infer("softmax", {f32({1, 1, 1, 1})}, causal).first,
            (Shape{1, 1, 1, 1}));
}

TEST(OpTableTest, LayerNormAndLoss) {
  EXPECT_EQ(infer("layer_norm", {f32({16, 2, 30}), f32({30}), f32({30})}).first,
            (Shape{16, 2, 30}));
  EXPECT_NE(
      infer("layer_norm", {f32({16, 2, 30}), f32({30}), f32({31})}).second, "");
  EXPECT_EQ(infer("layer_norm", {f32({16, 2, 30}), f32({30}), f32({30})},
                  {{"epsilon", 0.0}})
                .second,
            "epsilon must be > 0, got 0");
  Inference loss =
      inferResults(op("cross_entropy"), {{f32({16, 2, 100}), i64({2, 16})}});
  ASSERT_EQ(loss.error, "");
  EXPECT_EQ(loss.outputs[0].shape, Shape{});
  EXPECT_EQ(loss.outputs[0].type, kF32);
  EXPECT_EQ(infer("cross_entropy", {f32({16, 2, 100}), i64({16, 2})}).second,
            "labels must be [2, 16] ([b, s] for logits [16, 2, 100]), got "
            "[16, 2]");
}

TEST(OpTableTest, GroupedQueryAttention) {
  // 6 query heads in 2 groups of head size 4: (6 + 2·2)·4 = 40 columns.
  Inference split = inferResults(
      op("split_heads"),
      {{f32({16, 2, 40})},
       {},
       {{"num_heads", int64_t(6)}, {"num_query_groups", int64_t(2)}}});
  ASSERT_EQ(split.error, "");
  EXPECT_EQ(split.outputs[0].shape, (Shape{2, 6, 16, 4}));
  EXPECT_EQ(split.outputs[1].shape, (Shape{2, 2, 16, 4}));
  EXPECT_EQ(split.outputs[2].shape, (Shape{2, 2, 16, 4}));
  EXPECT_EQ(infer("split_heads", {f32({16, 2, 40})},
                  {{"num_heads", int64_t(6)}, {"num_query_groups", int64_t(4)}})
                .second,
            "num_query_groups must divide num_heads (6), got 4");
  // Each key head serves 3 query heads; the scores are per query head.
  EXPECT_EQ(infer("attention_scores", {f32({2, 6, 16, 4}), f32({2, 2, 16, 4})},
                  {{"scale", 0.5}})
                .first,
            (Shape{2, 6, 16, 16}));
  EXPECT_NE(infer("attention_scores", {f32({2, 6, 16, 4}), f32({2, 4, 16, 4})},
                  {{"scale", 0.5}})
                .second,
            "");
  EXPECT_EQ(
      infer("attention_context", {f32({2, 6, 16, 16}), f32({2, 2, 16, 4})})
          .first,
      (Shape{2, 6, 16, 4}));
  // The scores' GEMM counts every query head: 2·b·a·s·s·d.
  OpInstance scores{{f32({1, 6, 3, 4}), f32({1, 2, 3, 4})},
                    {f32({1, 6, 3, 3})},
                    {{"scale", 0.5}}};
  EXPECT_EQ(costOf(op("attention_scores"), scores).matmulFlops,
            2 * 6 * 3 * 3 * 4);
}

TEST(OpTableTest, FlashAttention) {
  // Grouped: 6 query heads over 2 key/value heads; the statistics are f32
  // per row whatever the activation type.
  Inference flash = inferResults(
      op("flash_attention"), {{TensorDesc{{2, 6, 16, 8}, ElementType::BF16},
                               TensorDesc{{2, 2, 16, 8}, ElementType::BF16},
                               TensorDesc{{2, 2, 16, 8}, ElementType::BF16}},
                              {},
                              {{"scale", 0.35}}});
  ASSERT_EQ(flash.error, "");
  EXPECT_EQ(flash.outputs[0].shape, (Shape{2, 6, 16, 8}));
  EXPECT_EQ(flash.outputs[0].type, ElementType::BF16);
  EXPECT_EQ(flash.outputs[1].shape, (Shape{2, 6, 16}));
  EXPECT_EQ(flash.outputs[1].type, kF32);
  EXPECT_EQ(infer("flash_attention",
                  {f32({2, 6, 16, 8}), f32({2, 2, 12, 8}), f32({2, 2, 12, 8})},
                  {{"scale", 0.35}})
                .second,
            "causal attention needs equal query and key lengths, got 16 and "
            "12");
  // It keeps its three inputs, its result and the statistics: no s² value.
  for (unsigned i : {0u, 1u, 2u})
    EXPECT_TRUE(op("flash_attention").backwardNeedsInput(i));
  EXPECT_TRUE(op("flash_attention").backwardNeedsOutput(0));
  EXPECT_TRUE(op("flash_attention").backwardNeedsOutput(1));
  // Forward: two products of 2·b·a·s·s·d; backward five (the recomputed
  // scores among them), against the unfused backward's four.
  OpInstance forward{{f32({1, 2, 3, 4}), f32({1, 2, 3, 4}), f32({1, 2, 3, 4})},
                     {f32({1, 2, 3, 4}), f32({1, 2, 3})},
                     {{"scale", 0.5}}};
  EXPECT_EQ(costOf(op("flash_attention"), forward).matmulFlops,
            2 * (2 * 2 * 3 * 3 * 4));
  OpInstance backward{{f32({1, 2, 3, 4}), f32({1, 2, 3, 4}), f32({1, 2, 3, 4}),
                       f32({1, 2, 3, 4}), f32({1, 2, 3}), f32({1, 2, 3, 4})},
                      {f32({1, 2, 3, 4}), f32({1, 2, 3, 4}), f32({1, 2, 3, 4})},
                      {{"scale", 0.5}}};
  EXPECT_EQ(costOf(op("flash_attention_grad"), backward).matmulFlops,
            5 * (2 * 2 * 3 * 3 * 4));
}

TEST(OpTableTest, RmsNormAndGatedLinearUnits) {
  EXPECT_EQ(infer("rms_norm", {f32({16, 2, 30}), f32({30})}).first,
            (Shape{16, 2, 30}));
  EXPECT_EQ(infer("rms_norm", {f32({16, 2, 30}), f32({31})}).second,
            "weight must be [30] (the input's last dimension), got [31]");
  EXPECT_EQ(
      infer("rms_norm", {f32({16, 2, 30}), f32({30})}, {{"epsilon", -1.0}})
          .second,
      "epsilon must be > 0, got -1");
  // The gate and the up projection are the two halves of the last dimension.
  EXPECT_EQ(infer("glu", {f32({16, 2, 256})}).first, (Shape{16, 2, 128}));
  EXPECT_EQ(infer("glu", {f32({16, 2, 7})}).second,
            "input must be [..., 2f] (the gate and up halves), got [16, 2, 7]");
  EXPECT_EQ(
      infer("glu", {f32({4, 8})}, {{"activation", std::string("relu")}}).second,
      "activation must be \"silu\" or \"gelu\", got \"relu\"");
  // Both keep their input for the backward; RMS norm its weight too.
  EXPECT_TRUE(op("rms_norm").backwardNeedsInput(0));
  EXPECT_TRUE(op("glu").backwardNeedsInput(0));
  EXPECT_TRUE(op("glu").savedOutputs.empty());
  // Costs: RMS norm 4 FLOPs per element; SwiGLU 5 and GeGLU 9 per output
  // element; their gradients 8 per element, and 8 or 14 per output element.
  OpInstance norm{{f32({2, 5}), f32({5})}, {f32({2, 5})}, {}};
  EXPECT_EQ(costOf(op("rms_norm"), norm).otherFlops, 40);
  OpInstance swiglu{
      {f32({2, 6})}, {f32({2, 3})}, {{"activation", std::string("silu")}}};
  EXPECT_EQ(costOf(op("glu"), swiglu).otherFlops, 30);
  OpInstance geglu{
      {f32({2, 6})}, {f32({2, 3})}, {{"activation", std::string("gelu")}}};
  EXPECT_EQ(costOf(op("glu"), geglu).otherFlops, 54);
  OpInstance swigluGrad{{f32({2, 6}), f32({2, 3})},
                        {f32({2, 6})},
                        {{"activation", std::string("silu")}}};
  EXPECT_EQ(costOf(op("glu_grad"), swigluGrad).otherFlops, 48);
}

TEST(OpTableTest, DropoutMakesAMaskAndChecksItsStream) {
  Inference result = inferResults(
      op("dropout"),
      {{f32({4, 8})}, {}, {{"probability", 0.1}, {"rng_stream", int64_t(3)}}});
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.outputs[1].type, ElementType::I1);
  EXPECT_EQ(result.outputs[1].shape, (Shape{4, 8}));
  EXPECT_EQ(infer("dropout", {f32({4})},
                  {{"probability", 0.1}, {"rng_stream", int64_t(1) << 32}})
                .second,
            "rng_stream must be < 2^32 (the generator's streams are 32 bits), "
            "got 4294967296");
  EXPECT_EQ(infer("dropout", {f32({4})},
                  {{"probability", 1.0}, {"rng_stream", int64_t(0)}})
                .second,
            "probability must be in [0, 1), got 1");
}

// The fused pairs (runtime/lib/Fusion.cpp) check what their two ops check
// and cost what they cost together.
TEST(OpTableTest, FusedOpsCheckAndCostLikeTheirPairs) {
  AttrMap drop = {{"probability", 0.1}, {"rng_stream", int64_t(3)}};
  Inference added =
      inferResults(op("dropout_add"), {{f32({4, 8}), f32({4, 8})}, {}, drop});
  ASSERT_EQ(added.error, "");
  EXPECT_EQ(added.outputs[0].shape, (Shape{4, 8}));
  EXPECT_EQ(added.outputs[1].type, ElementType::I1);
  EXPECT_EQ(infer("dropout_add", {f32({4, 8}), f32({8, 4})}, drop).second,
            "input and residual must have one shape, got [4, 8] and [8, 4]");
  EXPECT_EQ(infer("dropout_add", {f32({4}), f32({4})},
                  {{"probability", 1.0}, {"rng_stream", int64_t(0)}})
                .second,
            "probability must be in [0, 1), got 1");
  // Two per element for the dropout, one for the add.
  OpInstance pair{{f32({4, 8}), f32({4, 8})},
                  {f32({4, 8}), {{4, 8}, ElementType::I1}},
                  drop};
  EXPECT_EQ(costOf(op("dropout_add"), pair).otherFlops, 3 * 32);

  AttrMap tanh = {{"approximate", std::string("tanh")}};
  Inference both = inferResults(
      op("linear_gelu"), {{f32({5, 32}), f32({96, 32}), f32({96})}, {}, tanh});
  ASSERT_EQ(both.error, "");
  EXPECT_EQ(both.outputs[0].shape, (Shape{5, 96}));
  EXPECT_EQ(both.outputs[1].shape, (Shape{5, 96}));
  EXPECT_EQ(infer("linear_gelu", {f32({5, 32}), f32({96, 32}), f32({32})}, tanh)
                .second,
            "bias must be [96] (out_features), got [32]");
  EXPECT_NE(infer("linear_gelu", {f32({5, 32}), f32({96, 32}), f32({96})},
                  {{"approximate", std::string("fast")}})
                .second,
            "");
  // The bias is what the fusion folds into the GeLU pass: required.
  EXPECT_NE(infer("linear_gelu", {f32({5, 32}), f32({96, 32})}, tanh).second,
            "");
  OpInstance fused{{f32({5, 32}), f32({96, 32}), f32({96})},
                   {f32({5, 96}), f32({5, 96})},
                   tanh};
  OpCost cost = costOf(op("linear_gelu"), fused);
  EXPECT_EQ(cost.matmulFlops, 2 * 5 * 96 * 32);
  EXPECT_EQ(cost.otherFlops, 5 * 96 + 8 * 5 * 96); // Bias, then GeLU.
  fused.outputs[1] = f32({5, 95});
  EXPECT_EQ(verifyOp(op("linear_gelu"), fused),
            "activation type 'tensor<5x95xf32>' must equal the result type "
            "'tensor<5x96xf32>'");
}

TEST(OpTableTest, DropoutMaskTakesItsShapeFromItsResult) {
  AttrMap attrs = {{"probability", 0.1}, {"rng_stream", int64_t(3)}};
  // No operand: the shape cannot be inferred, only checked.
  EXPECT_NE(inferResults(op("dropout_mask"), {{}, {}, attrs}).error, "");
  OpInstance mask{{}, {{{4, 8}, ElementType::I1}}, attrs};
  EXPECT_EQ(verifyOp(op("dropout_mask"), mask), "");
  // One comparison per element, the dropout's two without the scaling.
  OpCost cost = costOf(op("dropout_mask"), mask);
  EXPECT_EQ(cost.matmulFlops, 0);
  EXPECT_EQ(cost.otherFlops, 32);
  mask.outputs[0].type = ElementType::F32;
  EXPECT_NE(verifyOp(op("dropout_mask"), mask), "");
  mask.outputs[0].type = ElementType::I1;
  mask.attrs["rng_stream"] = int64_t(-1);
  EXPECT_EQ(verifyOp(op("dropout_mask"), mask),
            "rng_stream must be >= 0, got -1");
}

TEST(OpTableTest, VerificationComparesTheGivenResults) {
  OpInstance linear{{f32({2, 4}), f32({8, 4})}, {f32({2, 8})}, {}};
  EXPECT_EQ(verifyOp(op("linear"), linear), "");
  linear.outputs[0] = f32({8, 2});
  EXPECT_EQ(verifyOp(op("linear"), linear),
            "result #0 has shape [8, 2] but the operands give [2, 8]");
  linear.outputs[0] = {{2, 8}, ElementType::BF16};
  EXPECT_EQ(verifyOp(op("linear"), linear),
            "all floating-point operands and results must have one element "
            "type, got 'f32' and 'bf16'");
  linear.inputs[0].type = ElementType::I32;
  EXPECT_EQ(verifyOp(op("linear"), linear),
            "input must be a float tensor (f32, f64, bf16 or f16), is i32");
  // A gradient op's results follow from what it is the gradient of.
  OpInstance dx{{f32({2, 8}), f32({8, 4})}, {f32({2, 4})}, {}};
  EXPECT_EQ(verifyOp(op("linear_grad_input"), dx), "");
  dx.outputs[0] = f32({2, 5});
  EXPECT_EQ(verifyOp(op("linear_grad_input"), dx),
            "weight [8, 4] must have in_features = 5 (the input's last "
            "dimension), got 4");
  EXPECT_NE(inferResults(op("linear_grad_input"), dx).error, "");
}

TEST(OpTableTest, CollectivesResizeOneDimension) {
  AttrMap attrs = {
      {"group", std::string("tp")}, {"size", int64_t(2)}, {"dim", int64_t(0)}};
  EXPECT_EQ(infer("all_gather", {f32({8, 2, 4})}, attrs).first,
            (Shape{16, 2, 4}));
  EXPECT_EQ(infer("reduce_scatter", {f32({8, 2, 4})}, attrs).first,
            (Shape{4, 2, 4}));
  EXPECT_EQ(infer("reduce_scatter", {f32({7, 2, 4})}, attrs).second,
            "dimension 0 (7) must be divisible by the group size 2");
  attrs["dim"] = int64_t(3);
  EXPECT_EQ(infer("shard", {f32({8, 2, 4})}, attrs).second,
            "dim 3 is outside the rank-3 operand");
  EXPECT_EQ(infer("tp_copy", {f32({8})}, {{"size", int64_t(2)}}).second,
            "lacks attribute 'group'");
}

TEST(OpTableTest, CostsWorkedOutByHand) {
  // A linear [3, 4] x [5, 4]^T + bias: 2·3·5·4 = 120 GEMM FLOPs, 15 adds.
  OpInstance linear{{f32({3, 4}), f32({5, 4}), f32({5})}, {f32({3, 5})}, {}};
  OpCost cost = costOf(op("linear"), linear);
  EXPECT_EQ(cost.matmulFlops, 120);
  EXPECT_EQ(cost.otherFlops, 15);
  // Q·K^T on b = 1, a = 2, s = 3, d = 4: 2·1·2·3·3·4 = 144, plus the scale.
  OpInstance scores{
      {f32({1, 2, 3, 4}), f32({1, 2, 3, 4})}, {f32({1, 2, 3, 3})}, {}};
  EXPECT_EQ(costOf(op("attention_scores"), scores).matmulFlops, 144);
  EXPECT_EQ(costOf(op("attention_scores"), scores).otherFlops, 18);
  // Its gradient runs two such products.
  OpInstance scoresGrad{
      {f32({1, 2, 3, 4}), f32({1, 2, 3, 4}), f32({1, 2, 3, 3})},
      {f32({1, 2, 3, 4}), f32({1, 2, 3, 4})},
      {}};
  EXPECT_EQ(costOf(op("attention_scores_grad"), scoresGrad).matmulFlops, 288);
  // Layer norm: 8 FLOPs per element.
  OpInstance norm{{f32({2, 5}), f32({5}), f32({5})}, {f32({2, 5})}, {}};
  EXPECT_EQ(costOf(op("layer_norm"), norm).otherFlops, 80);
}

TEST(OpTableTest, SavedValuesGiveKorthikantisAccounting) {
  // A linear keeps its input and weight, GeLU its input, softmax its output,
  // dropout its mask, the attention products both operands; the residual
  // add and the head reshapes keep nothing.
  EXPECT_TRUE(op("linear").backwardNeedsInput(0));
  EXPECT_FALSE(op("linear").backwardNeedsInput(2));
  EXPECT_TRUE(op("gelu").backwardNeedsInput(0));
  EXPECT_TRUE(op("softmax").backwardNeedsOutput(0));
  EXPECT_FALSE(op("softmax").backwardNeedsInput(0));
  EXPECT_TRUE(op("dropout").backwardNeedsOutput(1));
  EXPECT_FALSE(op("dropout").backwardNeedsOutput(0));
  EXPECT_TRUE(op("attention_context").backwardNeedsInput(0));
  EXPECT_TRUE(op("attention_context").backwardNeedsInput(1));
  for (std::string_view name : {"add", "split_heads", "merge_heads", "bias_add",
                                "tp_copy", "all_gather"}) {
    EXPECT_TRUE(op(name).savedInputs.empty()) << name;
    EXPECT_TRUE(op(name).savedOutputs.empty()) << name;
  }
}

TEST(OpTableTest, MixtureOfExperts) {
  // Route [s, b, E] -> weights, experts and slots [s, b, k] (indices i32).
  Inference route = inferResults(
      op("moe_route"), {{f32({16, 2, 8})},
                        {},
                        {{"top_k", int64_t(2)}, {"capacity", int64_t(8)}}});
  ASSERT_EQ(route.error, "");
  EXPECT_EQ(route.outputs[0].shape, (Shape{16, 2, 2}));
  EXPECT_EQ(route.outputs[1].type, ElementType::I32);
  EXPECT_EQ(route.outputs[2].shape, (Shape{16, 2, 2}));
  // Dispatch into [E, C, h]; the expert linears [E, C, in] x [E, out, in].
  EXPECT_EQ(infer("moe_dispatch", {f32({16, 2, 32}), i64({16, 2, 2})},
                  {{"num_experts", int64_t(8)}, {"capacity", int64_t(8)}})
                .first,
            (Shape{8, 8, 32}));
  EXPECT_EQ(infer("expert_linear", {f32({8, 8, 32}), f32({8, 96, 32})}).first,
            (Shape{8, 8, 96}));
  EXPECT_EQ(
      infer("moe_combine", {f32({8, 8, 32}), f32({16, 2, 2}), i64({16, 2, 2})})
          .first,
      (Shape{16, 2, 32}));
  // Costs by hand: 2·C·in·out per expert for the forward and both
  // gradients; a multiply-add per routed row and unit for the combine.
  OpInstance linear{{f32({3, 4, 5}), f32({3, 6, 5})}, {f32({3, 4, 6})}, {}};
  EXPECT_EQ(costOf(op("expert_linear"), linear).matmulFlops, 2 * 3 * 4 * 5 * 6);
  OpInstance gradInput{{f32({3, 4, 6}), f32({3, 6, 5})}, {f32({3, 4, 5})}, {}};
  EXPECT_EQ(costOf(op("expert_linear_grad_input"), gradInput).matmulFlops,
            2 * 3 * 4 * 5 * 6);
  OpInstance gradWeight{{f32({3, 4, 6}), f32({3, 4, 5})}, {f32({3, 6, 5})}, {}};
  EXPECT_EQ(costOf(op("expert_linear_grad_weight"), gradWeight).matmulFlops,
            2 * 3 * 4 * 5 * 6);
  OpInstance combine{
      {f32({3, 4, 5}), f32({2, 2, 2}), i64({2, 2, 2})}, {f32({2, 2, 5})}, {}};
  EXPECT_EQ(costOf(op("moe_combine"), combine).otherFlops, 2 * 2 * 2 * 2 * 5);
  // What the backward keeps: the route its logits and chosen experts,
  // dispatch only its slots, the combine all three operands.
  EXPECT_TRUE(op("moe_route").backwardNeedsInput(0));
  EXPECT_TRUE(op("moe_route").backwardNeedsOutput(1));
  EXPECT_FALSE(op("moe_route").backwardNeedsOutput(0));
  EXPECT_FALSE(op("moe_dispatch").backwardNeedsInput(0));
  EXPECT_TRUE(op("moe_dispatch").backwardNeedsInput(1));
  for (unsigned i : {0u, 1u, 2u})
    EXPECT_TRUE(op("moe_combine").backwardNeedsInput(i));
}

TEST(OpTableTest, PropertiesTheAnalysesAskComeFromTheTable) {
  // Norms (which Megatron's output-discarding checkpoint counts per layer)
  // are the ops that keep row statistics: layer norm and RMS norm only.
  std::vector<std::string_view> norms, maskOps, replicated, sharded;
  for (const OpDef &def : allOps()) {
    if (def.isNorm())
      norms.push_back(def.name);
    if (def.isMaskOp())
      maskOps.push_back(def.name);
    if (def.tensorParallelResult == TensorParallelResult::Replicated)
      replicated.push_back(def.name);
    if (def.tensorParallelResult == TensorParallelResult::Sharded)
      sharded.push_back(def.name);
  }
  EXPECT_EQ(norms, (std::vector<std::string_view>{"layer_norm", "rms_norm"}));
  // The op that regenerates dropout's mask alone.
  EXPECT_EQ(maskOps, (std::vector<std::string_view>{"dropout_mask"}));
  EXPECT_EQ(replicated, (std::vector<std::string_view>{"tp_copy", "all_reduce",
                                                       "all_gather"}));
  EXPECT_EQ(sharded, (std::vector<std::string_view>{"linear"}));
}

} // namespace
