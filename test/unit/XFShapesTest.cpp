//===- XFShapesTest.cpp - Tests of the xf shape rules ---------------------===//

#include "ckpt/Dialect/XF/XFShapes.h"

#include <gtest/gtest.h>

using namespace ckpt::xf;
using Shape = shapes::Shape;

namespace {

/// The shape on success, or the error message with an empty shape.
std::pair<Shape, std::string> run(llvm::Expected<Shape> result) {
  if (!result)
    return {{}, llvm::toString(result.takeError())};
  return {*result, ""};
}

TEST(XFShapesTest, Format) {
  EXPECT_EQ(shapes::format({}), "[]");
  EXPECT_EQ(shapes::format({2, 16, 32}), "[2, 16, 32]");
}

TEST(XFShapesTest, EmbeddingIsSequenceFirst) {
  EXPECT_EQ(run(shapes::embedding({2, 16}, {128, 32}, {20, 32})).first,
            (Shape{16, 2, 32}));
  EXPECT_EQ(run(shapes::embedding({2, 16}, {128, 32}, {15, 32})).second,
            "position embeddings have 15 rows but the sequence has 16 "
            "tokens; need at least 16");
  EXPECT_NE(run(shapes::embedding({2, 16}, {128, 32}, {16, 31})).second, "");
}

TEST(XFShapesTest, Linear) {
  EXPECT_EQ(run(shapes::linear({16, 2, 32}, {96, 32})).first,
            (Shape{16, 2, 96}));
  llvm::SmallVector<int64_t> bias = {96};
  EXPECT_EQ(run(shapes::linear({5, 32}, {96, 32}, llvm::ArrayRef(bias))).first,
            (Shape{5, 96}));
  llvm::SmallVector<int64_t> badBias = {32};
  EXPECT_EQ(
      run(shapes::linear({5, 32}, {96, 32}, llvm::ArrayRef(badBias))).second,
      "bias must be [96] (out_features), got [32]");
  // A rank-1 input works like a single row.
  EXPECT_EQ(run(shapes::linear({32}, {7, 32})).first, (Shape{7}));
}

TEST(XFShapesTest, SplitAndMergeHeadsAreInverse) {
  // h = 32, a = 4, d = 8: qkv [16, 2, 96] -> [2, 4, 16, 8] each.
  auto split = run(shapes::splitHeads({16, 2, 96}, 4));
  EXPECT_EQ(split.first, (Shape{2, 4, 16, 8}));
  EXPECT_EQ(run(shapes::mergeHeads(split.first)).first, (Shape{16, 2, 32}));
  // One head of the whole width.
  EXPECT_EQ(run(shapes::splitHeads({3, 1, 30}, 1)).first, (Shape{1, 1, 3, 10}));
  EXPECT_NE(run(shapes::splitHeads({16, 2, 96}, 5)).second, "");
  EXPECT_NE(run(shapes::splitHeads({16, 2, 96}, 0)).second, "");
}

TEST(XFShapesTest, Attention) {
  EXPECT_EQ(run(shapes::attentionScores({2, 4, 16, 8}, {2, 4, 12, 8})).first,
            (Shape{2, 4, 16, 12}));
  EXPECT_EQ(run(shapes::attentionContext({2, 4, 16, 12}, {2, 4, 12, 8})).first,
            (Shape{2, 4, 16, 8}));
  EXPECT_NE(run(shapes::attentionContext({2, 4, 16, 12}, {2, 4, 16, 8})).second,
            "");
  EXPECT_EQ(run(shapes::softmax({2, 4, 16, 16}, true)).first,
            (Shape{2, 4, 16, 16}));
  EXPECT_NE(run(shapes::softmax({2, 4, 16, 12}, true)).second, "");
  EXPECT_EQ(run(shapes::softmax({2, 4, 16, 12}, false)).first,
            (Shape{2, 4, 16, 12}));
  // s = 1: a single token attends to itself.
  EXPECT_EQ(run(shapes::softmax({1, 1, 1, 1}, true)).first,
            (Shape{1, 1, 1, 1}));
}

TEST(XFShapesTest, LayerNormAndLoss) {
  EXPECT_EQ(run(shapes::layerNorm({16, 2, 30}, {30}, {30})).first,
            (Shape{16, 2, 30}));
  EXPECT_NE(run(shapes::layerNorm({16, 2, 30}, {30}, {31})).second, "");
  EXPECT_EQ(run(shapes::crossEntropy({16, 2, 100}, {2, 16})).first, Shape{});
  EXPECT_EQ(run(shapes::crossEntropy({16, 2, 100}, {16, 2})).second,
            "labels must be [2, 16] ([b, s] for logits [16, 2, 100]), got "
            "[16, 2]");
}

} // namespace
