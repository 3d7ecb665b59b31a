//===- XFShapes.cpp - Shape rules of the xf ops ---------------------------===//

#include "ckpt/Dialect/XF/XFShapes.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace ckpt::xf::shapes;
using llvm::ArrayRef;
using llvm::Expected;

std::string ckpt::xf::shapes::format(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(shape, os);
  os << "]";
  return text;
}

namespace {
llvm::Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Checks that `shape` has `rank` dimensions, naming its role and layout.
llvm::Error expectRank(ArrayRef<int64_t> shape, size_t rank,
                       llvm::StringRef what, llvm::StringRef layout) {
  if (shape.size() == rank)
    return llvm::Error::success();
  return fail(llvm::formatv("{0} must have rank {1} ({2}), got rank {3} {4}",
                            what, rank, layout, shape.size(), format(shape)));
}
} // namespace

Expected<Shape> ckpt::xf::shapes::embedding(ArrayRef<int64_t> tokens,
                                            ArrayRef<int64_t> word,
                                            ArrayRef<int64_t> positions) {
  if (auto err = expectRank(tokens, 2, "tokens", "[b, s]"))
    return std::move(err);
  if (auto err = expectRank(word, 2, "word embeddings", "[v, h]"))
    return std::move(err);
  if (auto err = expectRank(positions, 2, "position embeddings", "[p, h]"))
    return std::move(err);
  if (word[1] != positions[1])
    return fail(llvm::formatv("word and position embeddings must have the same "
                              "hidden size, got {0} and {1}",
                              word[1], positions[1]));
  if (positions[0] < tokens[1])
    return fail(llvm::formatv("position embeddings have {0} rows but the "
                              "sequence has {1} tokens; need at least {1}",
                              positions[0], tokens[1]));
  return Shape{tokens[1], tokens[0], word[1]};
}

Expected<Shape> ckpt::xf::shapes::layerNorm(ArrayRef<int64_t> input,
                                            ArrayRef<int64_t> weight,
                                            ArrayRef<int64_t> bias) {
  if (input.empty())
    return fail("input must have rank >= 1, got a 0-d tensor");
  int64_t features = input.back();
  for (auto [name, param] :
       {std::pair<const char *, ArrayRef<int64_t>>{"weight", weight},
        {"bias", bias}}) {
    if (param.size() != 1 || param[0] != features)
      return fail(llvm::formatv("{0} must be [{1}] (the input's last "
                                "dimension), got {2}",
                                name, features, format(param)));
  }
  return Shape(input.begin(), input.end());
}

Expected<Shape>
ckpt::xf::shapes::linear(ArrayRef<int64_t> input, ArrayRef<int64_t> weight,
                         std::optional<ArrayRef<int64_t>> bias) {
  if (input.empty())
    return fail("input must have rank >= 1 ([..., in_features]), got a 0-d "
                "tensor");
  if (auto err = expectRank(weight, 2, "weight", "[out_features, in_features]"))
    return std::move(err);
  if (weight[1] != input.back())
    return fail(llvm::formatv("weight {0} must have in_features = {1} (the "
                              "input's last dimension), got {2}",
                              format(weight), input.back(), weight[1]));
  if (bias && (bias->size() != 1 || (*bias)[0] != weight[0]))
    return fail(llvm::formatv("bias must be [{0}] (out_features), got {1}",
                              weight[0], format(*bias)));
  Shape result(input.begin(), input.end());
  result.back() = weight[0];
  return result;
}

Expected<Shape> ckpt::xf::shapes::splitHeads(ArrayRef<int64_t> qkv,
                                             int64_t heads) {
  if (auto err = expectRank(qkv, 3, "qkv", "[s, b, 3h]"))
    return std::move(err);
  if (heads <= 0)
    return fail(llvm::formatv("num_heads must be positive, got {0}", heads));
  if (qkv[2] % (3 * heads) != 0)
    return fail(llvm::formatv("qkv's last dimension ({0}) must be divisible by "
                              "3 * num_heads = {1}",
                              qkv[2], 3 * heads));
  return Shape{qkv[1], heads, qkv[0], qkv[2] / (3 * heads)};
}

Expected<Shape> ckpt::xf::shapes::attentionScores(ArrayRef<int64_t> query,
                                                  ArrayRef<int64_t> key) {
  if (auto err = expectRank(query, 4, "query", "[b, a, s, d]"))
    return std::move(err);
  if (auto err = expectRank(key, 4, "key", "[b, a, s, d]"))
    return std::move(err);
  if (query[0] != key[0] || query[1] != key[1] || query[3] != key[3])
    return fail(llvm::formatv("query {0} and key {1} must agree in batch, "
                              "heads and head size",
                              format(query), format(key)));
  return Shape{query[0], query[1], query[2], key[2]};
}

Expected<Shape> ckpt::xf::shapes::softmax(ArrayRef<int64_t> input,
                                          bool causal) {
  if (input.empty())
    return fail("input must have rank >= 1, got a 0-d tensor");
  if (causal) {
    if (input.size() < 2)
      return fail(llvm::formatv("a causal softmax needs rank >= 2 ([.., sq, "
                                "sk]), got {0}",
                                format(input)));
    if (input[input.size() - 2] != input.back())
      return fail(llvm::formatv("a causal softmax needs equal query and key "
                                "lengths in the last two dimensions, got {0}",
                                format(input)));
  }
  return Shape(input.begin(), input.end());
}

Expected<Shape> ckpt::xf::shapes::attentionContext(ArrayRef<int64_t> probs,
                                                   ArrayRef<int64_t> value) {
  if (auto err = expectRank(probs, 4, "probs", "[b, a, sq, sk]"))
    return std::move(err);
  if (auto err = expectRank(value, 4, "value", "[b, a, sk, d]"))
    return std::move(err);
  if (probs[0] != value[0] || probs[1] != value[1] || probs[3] != value[2])
    return fail(llvm::formatv("probs {0} and value {1} must agree in batch and "
                              "heads, and probs' key length must equal "
                              "value's sequence length",
                              format(probs), format(value)));
  return Shape{probs[0], probs[1], probs[2], value[3]};
}

Expected<Shape> ckpt::xf::shapes::mergeHeads(ArrayRef<int64_t> input) {
  if (auto err = expectRank(input, 4, "input", "[b, a, s, d]"))
    return std::move(err);
  return Shape{input[2], input[0], input[1] * input[3]};
}

Expected<Shape> ckpt::xf::shapes::crossEntropy(ArrayRef<int64_t> logits,
                                               ArrayRef<int64_t> labels) {
  if (auto err = expectRank(logits, 3, "logits", "[s, b, v]"))
    return std::move(err);
  if (auto err = expectRank(labels, 2, "labels", "[b, s]"))
    return std::move(err);
  if (labels[0] != logits[1] || labels[1] != logits[0])
    return fail(llvm::formatv("labels must be [{0}, {1}] ([b, s] for logits "
                              "{2}), got {3}",
                              logits[1], logits[0], format(logits),
                              format(labels)));
  return Shape{};
}
