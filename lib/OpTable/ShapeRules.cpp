//===- ShapeRules.cpp - Shape rules shared by several ops -----------------===//

#include "OpRules.h"

#include <limits>
#include <sstream>

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

std::string detail::formatNumber(double value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

int64_t detail::elements(const TensorDesc &tensor) {
  return numElements(tensor.shape).value_or(0);
}

int64_t detail::rows(const TensorDesc &tensor) {
  if (tensor.shape.empty() || tensor.shape.back() == 0)
    return 0;
  return elements(tensor) / tensor.shape.back();
}

int64_t detail::product(std::initializer_list<int64_t> factors) {
  int64_t total = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(total, f, &total))
      return std::numeric_limits<int64_t>::max();
  return total;
}

bool detail::embeddingShape(RuleContext &r, const Shape &tokens,
                            const Shape &word, const Shape *maybePositions,
                            Shape &out) {
  if (!r.rank(tokens, 2, "tokens", "[b, s]") ||
      !r.rank(word, 2, "word embeddings", "[v, h]"))
    return false;
  out = {tokens[1], tokens[0], word[1]};
  if (!maybePositions)
    return true;
  const Shape &positions = *maybePositions;
  if (!r.rank(positions, 2, "position embeddings", "[p, h]"))
    return false;
  if (word[1] != positions[1])
    return r.fail("word and position embeddings must have the same hidden "
                  "size, got " +
                  std::to_string(word[1]) + " and " +
                  std::to_string(positions[1]));
  if (positions[0] < tokens[1])
    return r.fail("position embeddings have " + std::to_string(positions[0]) +
                  " rows but the sequence has " + std::to_string(tokens[1]) +
                  " tokens; need at least " + std::to_string(tokens[1]));
  out = {tokens[1], tokens[0], word[1]};
  return true;
}

bool detail::layerNormShape(RuleContext &r, const Shape &input,
                            const Shape &weight, const Shape &bias,
                            Shape &out) {
  if (input.empty())
    return r.fail("input must have rank >= 1, got a 0-d tensor");
  int64_t features = input.back();
  for (auto [name, param] :
       {std::pair<const char *, const Shape *>{"weight", &weight},
        {"bias", &bias}})
    if (param->size() != 1 || (*param)[0] != features)
      return r.fail(
          std::string(name) + " must be [" + std::to_string(features) +
          "] (the input's last dimension), got " + formatShape(*param));
  out = input;
  return true;
}

bool detail::linearShape(RuleContext &r, const Shape &input,
                         const Shape &weight, const Shape *bias, Shape &out) {
  if (input.empty())
    return r.fail("input must have rank >= 1 ([..., in_features]), got a 0-d "
                  "tensor");
  if (!r.rank(weight, 2, "weight", "[out_features, in_features]"))
    return false;
  if (weight[1] != input.back())
    return r.fail("weight " + formatShape(weight) +
                  " must have in_features = " + std::to_string(input.back()) +
                  " (the input's last dimension), got " +
                  std::to_string(weight[1]));
  if (bias && (bias->size() != 1 || (*bias)[0] != weight[0]))
    return r.fail("bias must be [" + std::to_string(weight[0]) +
                  "] (out_features), got " + formatShape(*bias));
  out = input;
  out.back() = weight[0];
  return true;
}

bool detail::splitHeadsShape(RuleContext &r, const Shape &qkv, int64_t heads,
                             int64_t groups, Shape &query, Shape &keyValue) {
  if (!r.rank(qkv, 3, "qkv", "[s, b, (a + 2g) * d]"))
    return false;
  if (heads <= 0)
    return r.fail("num_heads must be positive, got " + std::to_string(heads));
  if (groups < 0 || (groups > 0 && heads % groups != 0))
    return r.fail("num_query_groups must divide num_heads (" +
                  std::to_string(heads) + "), got " + std::to_string(groups));
  int64_t g = groups > 0 ? groups : heads;
  if (qkv[2] % (heads + 2 * g) != 0)
    return r.fail("qkv's last dimension (" + std::to_string(qkv[2]) +
                  ") must be divisible by num_heads + 2 * num_query_groups = " +
                  std::to_string(heads + 2 * g));
  int64_t d = qkv[2] / (heads + 2 * g);
  query = {qkv[1], heads, qkv[0], d};
  keyValue = {qkv[1], g, qkv[0], d};
  return true;
}

bool detail::attentionScoresShape(RuleContext &r, const Shape &query,
                                  const Shape &key, Shape &out) {
  if (!r.rank(query, 4, "query", "[b, a, s, d]") ||
      !r.rank(key, 4, "key", "[b, g, s, d]"))
    return false;
  if (query[0] != key[0] || query[3] != key[3] || key[1] <= 0 ||
      query[1] % key[1] != 0)
    return r.fail("query " + formatShape(query) + " and key " +
                  formatShape(key) +
                  " must agree in batch and head size, and the key's heads "
                  "must divide the query's");
  out = {query[0], query[1], query[2], key[2]};
  return true;
}

bool detail::attentionContextShape(RuleContext &r, const Shape &probs,
                                   const Shape &value, Shape &out) {
  if (!r.rank(probs, 4, "probs", "[b, a, sq, sk]") ||
      !r.rank(value, 4, "value", "[b, g, sk, d]"))
    return false;
  if (probs[0] != value[0] || value[1] <= 0 || probs[1] % value[1] != 0 ||
      probs[3] != value[2])
    return r.fail("probs " + formatShape(probs) + " and value " +
                  formatShape(value) +
                  " must agree in batch, value's heads must divide probs' "
                  "and probs' key length must equal value's sequence length");
  out = {probs[0], probs[1], probs[2], value[3]};
  return true;
}

bool detail::mergeHeadsShape(RuleContext &r, const Shape &input, Shape &out) {
  if (!r.rank(input, 4, "input", "[b, a, s, d]"))
    return false;
  out = {input[2], input[0], input[1] * input[3]};
  return true;
}

bool detail::crossEntropyShape(RuleContext &r, const Shape &logits,
                               const Shape &labels) {
  if (!r.rank(logits, 3, "logits", "[s, b, v]") ||
      !r.rank(labels, 2, "labels", "[b, s]"))
    return false;
  if (labels[0] != logits[1] || labels[1] != logits[0])
    return r.fail("labels must be [" + std::to_string(logits[1]) + ", " +
                  std::to_string(logits[0]) + "] ([b, s] for logits " +
                  formatShape(logits) + "), got " + formatShape(labels));
  if (int64_t m = r.i64("micro_batches"); m < 1)
    return r.fail("micro_batches must be >= 1, got " + std::to_string(m));
  return vocabShards(r);
}

bool detail::vocabShards(RuleContext &r) {
  if (int64_t t = r.i64("vocab_shards"); t < 1)
    return r.fail("vocab_shards must be >= 1, got " + std::to_string(t));
  return true;
}

AttrSpec ckpt::ops::vocabShardsAttrSpec() {
  return {"vocab_shards", AttrKind::Int, AttrValue(int64_t(1))};
}

int64_t ckpt::ops::readVocabShards(const AttrMap &attrs) {
  if (auto it = attrs.find("vocab_shards"); it != attrs.end())
    if (auto *i = std::get_if<int64_t>(&it->second))
      return *i;
  return 1;
}

std::vector<AttrSpec> ckpt::ops::lossAttrSpecs() {
  const LossSpec defaults;
  return {{"ignore_index", AttrKind::Int, AttrValue(defaults.ignoreIndex)},
          {"micro_batches", AttrKind::Int, AttrValue(defaults.microBatches)},
          vocabShardsAttrSpec()};
}

LossSpec ckpt::ops::readLossSpec(const AttrMap &attrs) {
  LossSpec spec;
  auto read = [&](const char *name, int64_t &value) {
    if (auto it = attrs.find(name); it != attrs.end())
      if (auto *i = std::get_if<int64_t>(&it->second))
        value = *i;
  };
  read("ignore_index", spec.ignoreIndex);
  read("micro_batches", spec.microBatches);
  spec.vocabShards = readVocabShards(attrs);
  return spec;
}

bool detail::softmaxShape(RuleContext &r, const Shape &input, bool causal) {
  if (input.empty())
    return r.fail("input must have rank >= 1, got a 0-d tensor");
  if (!causal)
    return true;
  if (input.size() < 2)
    return r.fail("a causal softmax needs rank >= 2 ([.., sq, sk]), got " +
                  formatShape(input));
  if (input[input.size() - 2] != input.back())
    return r.fail("a causal softmax needs equal query and key lengths in the "
                  "last two dimensions, got " +
                  formatShape(input));
  return true;
}

bool detail::checkEpsilon(RuleContext &r) {
  double epsilon = r.f64("epsilon");
  if (epsilon > 0.0)
    return true;
  return r.fail("epsilon must be > 0, got " + formatNumber(epsilon));
}

bool detail::checkProbability(RuleContext &r) {
  double p = r.f64("probability");
  if (p >= 0.0 && p < 1.0)
    return true;
  return r.fail("probability must be in [0, 1), got " + formatNumber(p));
}

bool detail::checkApproximate(RuleContext &r) {
  const std::string &approximate = r.str("approximate");
  if (approximate == "none" || approximate == "tanh")
    return true;
  return r.fail("approximate must be \"none\" or \"tanh\", got \"" +
                approximate + "\"");
}

bool detail::checkScale(RuleContext &r) {
  double scale = r.f64("scale");
  if (scale > 0.0)
    return true;
  return r.fail("scale must be > 0, got " + formatNumber(scale));
}

double detail::numberAttr(const OpInstance &op, std::string_view name,
                          double fallback) {
  auto it = op.attrs.find(name);
  if (it == op.attrs.end())
    return fallback;
  if (const double *real = std::get_if<double>(&it->second))
    return *real;
  if (const int64_t *integer = std::get_if<int64_t>(&it->second))
    return static_cast<double>(*integer);
  return fallback;
}

bool detail::isGeluGlu(const OpInstance &op) {
  auto it = op.attrs.find("activation");
  const std::string *name =
      it == op.attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
  return name && *name == "gelu";
}

bool detail::checkGluActivation(RuleContext &r) {
  const std::string &activation = r.str("activation");
  if (activation == "silu" || activation == "gelu")
    return true;
  return r.fail("activation must be \"silu\" or \"gelu\", got \"" + activation +
                "\"");
}

bool detail::gluShape(RuleContext &r, const Shape &input, Shape &out) {
  if (input.empty() || input.back() % 2 != 0)
    return r.fail("input must be [..., 2f] (the gate and up halves), got " +
                  formatShape(input));
  out = input;
  out.back() /= 2;
  return true;
}

bool detail::rmsNormShape(RuleContext &r, const Shape &input,
                          const Shape &weight, Shape &out) {
  if (input.empty())
    return r.fail("input must have rank >= 1, got a 0-d tensor");
  if (weight.size() != 1 || weight[0] != input.back())
    return r.fail("weight must be [" + std::to_string(input.back()) +
                  "] (the input's last dimension), got " + formatShape(weight));
  out = input;
  return true;
}

bool detail::checkRope(RuleContext &r, const Shape &input) {
  if (!r.rank(input, 4, "input", "[b, a, s, d]"))
    return false;
  std::string error = checkRopeSpec(readRopeSpec(r.attrs()), input[3]);
  return error.empty() || r.fail(error);
}

bool detail::flashAttentionShape(RuleContext &r, const Shape &query,
                                 const Shape &key, const Shape &value) {
  // The scores' rule for query and key (the fused op never makes them).
  Shape scores;
  if (!attentionScoresShape(r, query, key, scores) ||
      !r.rank(value, 4, "value", "[b, g, s, d]"))
    return false;
  if (key != value)
    return r.fail("key " + formatShape(key) + " and value " +
                  formatShape(value) + " must have one shape");
  if (r.flag("causal") && query[2] != key[2])
    return r.fail("causal attention needs equal query and key lengths, got " +
                  std::to_string(query[2]) + " and " + std::to_string(key[2]));
  return checkScale(r) && checkProbability(r);
}

std::vector<AttrSpec> detail::flashAttentionAttrs() {
  return {{"scale", AttrKind::Float, std::nullopt},
          {"causal", AttrKind::Bool, AttrValue(true)},
          {"probability", AttrKind::Float, AttrValue(0.0)},
          {"rng_stream", AttrKind::Int, AttrValue(int64_t(0))},
          {"merge_heads", AttrKind::Bool, AttrValue(false)}};
}

Shape detail::flashAttentionResultShape(const RuleContext &r,
                                        const Shape &query) {
  if (r.flag("merge_heads"))
    return {query[2], query[0], query[1] * query[3]};
  return query;
}

OpCost detail::flashAttentionCost(const OpInstance &op, int64_t products,
                                  int64_t perScore) {
  const Shape &q = op.inputs[0].shape;
  int64_t sk = op.inputs[1].shape[2];
  bool dropout = numberAttr(op, "probability", 0.0) > 0.0;
  return {product({2 * products, q[0], q[1], q[2], sk, q[3]}),
          product({dropout ? perScore + 2 : perScore, q[0], q[1], q[2], sk})};
}

OpCost detail::ropeCost(const OpInstance &op) {
  const Shape &x = op.inputs[0].shape;
  auto dim = static_cast<int64_t>(numberAttr(op, "rotary_dim", x[3]));
  return {0, product({3, x[0], x[1], x[2], dim})};
}
