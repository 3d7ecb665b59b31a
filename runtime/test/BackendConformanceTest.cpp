//===- BackendConformanceTest.cpp - Every op on every backend -------------===//
//
// A backend proves itself here: it has a kernel for every op of the op table,
// and each kernel agrees with the reference backend's plain f64 loops on a
// small case of every op: to 1e-12 computing in f64, to f32 rounding in f32
// and to bf16 rounding in bf16 storage. Dropout masks agree bit for bit. A
// new op must bring a case: the test fails for an op without one.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/Executor.h"

#include "TestedBackends.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

using ops::Shape;
using ops::TensorDesc;

TensorDesc f(Shape shape) { return {std::move(shape), DType::F32}; }
TensorDesc idx(Shape shape) { return {std::move(shape), DType::I64}; }
TensorDesc mask(Shape shape) { return {std::move(shape), DType::I1}; }

struct Case {
  std::string op;
  std::vector<TensorDesc> inputs, outputs;
  ops::AttrMap attrs;
  int64_t indexBound = 1; ///< Token ids and labels lie in [0, indexBound).
  /// Values of inputs that must be consistent (a routing map): input i
  /// takes given[i] when it is there and not empty.
  std::vector<std::vector<double>> given = {};
  /// Operands and results that a program keeps in f32 whatever its type
  /// (the loss's softmax): f32 storage unless the mode computes in f64.
  std::vector<unsigned> f32Inputs = {}, f32Outputs = {};
};

/// A routing of 6 tokens [3, 2] to top-2 of 4 experts with 2 rows each:
/// each token's experts are distinct, each kept choice owns its row, some
/// choices are dropped (-1) and buffer row 5 stays empty.
const std::vector<double> kExperts = {0, 1, 2, 3, 1, 0, 3, 2, 0, 2, 1, 3};
/// Expert choices with uneven counts (4, 3, 3, 2) for the load-balancing
/// loss: with even counts its gradient is zero and only rounding is left
/// to compare.
const std::vector<double> kUnevenExperts = {0, 1, 2, 3, 1, 0, 3, 0, 0, 2, 1, 2};
const std::vector<double> kSlots = {0, 2, 4, 6, 3, 1, 7, -1, -1, -1, -1, -1};
/// Dropless: a grouped buffer of the 12 choices sorted by expert, expert
/// 0's five (rows 0-4), expert 1's three (5-7), expert 2's four (8-11)
/// and none of expert 3, each expert's in token order.
const std::vector<double> kGroupedExperts = {0, 1, 2, 0, 1, 0,
                                             2, 1, 0, 2, 0, 2};
const std::vector<double> kGroupedSlots = {0, 5, 8, 1,  6, 2,
                                           9, 7, 3, 10, 4, 11};

/// Small cases, with odd sizes, for every op of the table.
std::vector<Case> cases() {
  ops::AttrMap tp = {
      {"group", std::string("tp")}, {"size", int64_t(1)}, {"dim", int64_t(0)}};
  ops::AttrMap tpNoDim = {{"group", std::string("tp")}, {"size", int64_t(1)}};
  return {
      {"embedding", {idx({2, 3}), f({5, 4}), f({3, 4})}, {f({3, 2, 4})}, {}, 5},
      // Without a position table (rotary or no position embeddings).
      {"embedding", {idx({2, 3}), f({5, 4})}, {f({3, 2, 4})}, {}, 5},
      {"embedding_grad", {idx({2, 3}), f({3, 2, 4})}, {f({5, 4})}, {}, 5},
      {"embedding_grad",
       {idx({2, 3}), f({3, 2, 4})},
       {f({5, 4}), f({3, 4})},
       {},
       5},
      {"layer_norm",
       {f({3, 2, 4}), f({4}), f({4})},
       {f({3, 2, 4})},
       {{"epsilon", 1e-5}}},
      {"layer_norm_grad",
       {f({3, 2, 4}), f({4}), f({3, 2, 4})},
       {f({3, 2, 4}), f({4}), f({4})},
       {{"epsilon", 1e-5}}},
      {"rms_norm", {f({3, 2, 5}), f({5})}, {f({3, 2, 5})}, {{"epsilon", 1e-6}}},
      {"rms_norm_grad",
       {f({3, 2, 5}), f({5}), f({3, 2, 5})},
       {f({3, 2, 5}), f({5})},
       {{"epsilon", 1e-6}}},
      {"glu", {f({3, 2, 6})}, {f({3, 2, 3})}},
      {"glu",
       {f({3, 2, 6})},
       {f({3, 2, 3})},
       {{"activation", std::string("gelu")}}},
      {"glu_grad", {f({3, 2, 6}), f({3, 2, 3})}, {f({3, 2, 6})}},
      {"glu_grad",
       {f({3, 2, 6}), f({3, 2, 3})},
       {f({3, 2, 6})},
       {{"activation", std::string("gelu")}}},
      {"rope",
       {f({2, 3, 5, 6})},
       {f({2, 3, 5, 6})},
       {{"rotary_dim", int64_t(6)}, {"base", 10000.0}}},
      // rotary_percent < 1: the last channels pass through.
      {"rope",
       {f({1, 2, 7, 8})},
       {f({1, 2, 7, 8})},
       {{"rotary_dim", int64_t(4)}, {"base", 500.0}}},
      {"rope_grad",
       {f({2, 3, 5, 6})},
       {f({2, 3, 5, 6})},
       {{"rotary_dim", int64_t(6)}, {"base", 10000.0}}},
      // Scaled frequencies (ckpt/OpTable/Rope.h): llama3 with a kept, a
      // blended and a divided band of pairs; yarn's ramp and magnitude.
      {"rope",
       {f({1, 2, 9, 8})},
       {f({1, 2, 9, 8})},
       {{"rotary_dim", int64_t(8)},
        {"scaling", std::string("llama3")},
        {"factor", 8.0},
        {"original_max_position", int64_t(1000)}}},
      {"rope",
       {f({1, 2, 9, 8})},
       {f({1, 2, 9, 8})},
       {{"rotary_dim", int64_t(8)},
        {"scaling", std::string("linear")},
        {"factor", 4.0}}},
      {"rope_grad",
       {f({1, 2, 9, 10})},
       {f({1, 2, 9, 10})},
       {{"rotary_dim", int64_t(8)},
        {"scaling", std::string("yarn")},
        {"factor", 4.0},
        {"original_max_position", int64_t(1000)},
        {"attention_factor", 1.25}}},
      // A gradient's running sum (f32 in a bf16 program).
      {"convert", {f({3, 4})}, {f({3, 4})}},
      {"accumulate", {f({3, 4}), f({3, 4})}, {f({3, 4})}},
      {"linear", {f({3, 2, 4}), f({5, 4}), f({5})}, {f({3, 2, 5})}},
      {"linear", {f({7, 4}), f({5, 4})}, {f({7, 5})}},
      {"linear_grad_input", {f({3, 2, 5}), f({5, 4})}, {f({3, 2, 4})}},
      {"linear_grad_weight", {f({3, 2, 5}), f({3, 2, 4})}, {f({5, 4})}},
      {"bias_grad", {f({3, 2, 5})}, {f({5})}},
      // Enough rows that the CUDA op code sums columns in several chunks
      // (32 rows or more each, the last one shorter).
      {"bias_grad", {f({50, 2, 5})}, {f({5})}},
      {"layer_norm_grad",
       {f({25, 4, 7}), f({7}), f({25, 4, 7})},
       {f({25, 4, 7}), f({7}), f({7})},
       {{"epsilon", 1e-5}}},
      {"rms_norm_grad",
       {f({34, 3, 5}), f({5}), f({34, 3, 5})},
       {f({34, 3, 5}), f({5})},
       {{"epsilon", 1e-6}}},
      {"gelu", {f({2, 7})}, {f({2, 7})}},
      {"gelu",
       {f({2, 7})},
       {f({2, 7})},
       {{"approximate", std::string("tanh")}}},
      {"gelu_grad", {f({2, 7}), f({2, 7})}, {f({2, 7})}},
      {"gelu_grad",
       {f({2, 7}), f({2, 7})},
       {f({2, 7})},
       {{"approximate", std::string("tanh")}}},
      {"add", {f({2, 7}), f({2, 7})}, {f({2, 7})}},
      {"bias_add", {f({3, 2, 5}), f({5})}, {f({3, 2, 5})}},
      {"dropout",
       {f({4, 5})},
       {f({4, 5}), mask({4, 5})},
       {{"probability", 0.3}, {"rng_stream", int64_t(7)}}},
      {"dropout_mask",
       {},
       {mask({4, 5})},
       {{"probability", 0.3}, {"rng_stream", int64_t(7)}}},
      {"dropout_grad",
       {mask({4, 5}), f({4, 5})},
       {f({4, 5})},
       {{"probability", 0.3}}},
      // The fused pairs (Fusion.h).
      {"dropout_add",
       {f({4, 5}), f({4, 5})},
       {f({4, 5}), mask({4, 5})},
       {{"probability", 0.3}, {"rng_stream", int64_t(7)}}},
      {"linear_gelu",
       {f({3, 2, 4}), f({5, 4}), f({5})},
       {f({3, 2, 5}), f({3, 2, 5})}},
      {"linear_gelu",
       {f({3, 2, 4}), f({5, 4}), f({5})},
       {f({3, 2, 5}), f({3, 2, 5})},
       {{"approximate", std::string("tanh")}}},
      {"split_heads",
       {f({3, 2, 12})},
       {f({2, 2, 3, 2}), f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {{"num_heads", int64_t(2)}}},
      {"split_heads_grad",
       {f({2, 2, 3, 2}), f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {f({3, 2, 12})}},
      // Grouped-query attention: 6 query heads in 2 groups.
      {"split_heads",
       {f({3, 2, 20})},
       {f({2, 6, 3, 2}), f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {{"num_heads", int64_t(6)}, {"num_query_groups", int64_t(2)}}},
      {"split_heads_grad",
       {f({2, 6, 3, 2}), f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {f({3, 2, 20})}},
      {"attention_scores",
       {f({2, 6, 3, 2}), f({2, 2, 4, 2})},
       {f({2, 6, 3, 4})},
       {{"scale", 0.7}}},
      {"attention_scores_grad",
       {f({2, 6, 3, 2}), f({2, 2, 4, 2}), f({2, 6, 3, 4})},
       {f({2, 6, 3, 2}), f({2, 2, 4, 2})},
       {{"scale", 0.7}}},
      {"attention_context",
       {f({2, 6, 3, 4}), f({2, 2, 4, 5})},
       {f({2, 6, 3, 5})}},
      {"attention_context_grad",
       {f({2, 6, 3, 4}), f({2, 2, 4, 5}), f({2, 6, 3, 5})},
       {f({2, 6, 3, 4}), f({2, 2, 4, 5})}},
      // Fused attention: causal, grouped, and with dropout.
      {"flash_attention",
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3})},
       {f({2, 6, 5, 3}), f({2, 6, 5})},
       {{"scale", 0.6},
        {"causal", true},
        {"probability", 0.0},
        {"rng_stream", int64_t(0)}}},
      {"flash_attention",
       {f({1, 2, 3, 4}), f({1, 2, 5, 4}), f({1, 2, 5, 4})},
       {f({1, 2, 3, 4}), f({1, 2, 3})},
       {{"scale", 0.6},
        {"causal", false},
        {"probability", 0.3},
        {"rng_stream", int64_t(7)}}},
      {"flash_attention_grad",
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3}), f({2, 6, 5, 3}),
        f({2, 6, 5}), f({2, 6, 5, 3})},
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3})},
       {{"scale", 0.6},
        {"causal", true},
        {"probability", 0.3},
        {"rng_stream", int64_t(3)}}},
      // The result in [s, b, a·d], Megatron's view of the context.
      {"flash_attention",
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3})},
       {f({5, 2, 18}), f({2, 6, 5})},
       {{"scale", 0.6},
        {"probability", 0.3},
        {"rng_stream", int64_t(7)},
        {"merge_heads", true}}},
      {"flash_attention_grad",
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3}), f({5, 2, 18}),
        f({2, 6, 5}), f({5, 2, 18})},
       {f({2, 6, 5, 3}), f({2, 2, 5, 3}), f({2, 2, 5, 3})},
       {{"scale", 0.6},
        {"probability", 0.3},
        {"rng_stream", int64_t(3)},
        {"merge_heads", true}}},
      {"merge_heads", {f({2, 2, 3, 2})}, {f({3, 2, 4})}},
      {"merge_heads_grad", {f({3, 2, 4})}, {f({2, 2, 3, 2})}},
      {"attention_scores",
       {f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {f({2, 2, 3, 3})},
       {{"scale", 0.7}}},
      {"attention_scores_grad",
       {f({2, 2, 3, 2}), f({2, 2, 3, 2}), f({2, 2, 3, 3})},
       {f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {{"scale", 0.7}}},
      {"softmax", {f({2, 2, 3, 3})}, {f({2, 2, 3, 3})}, {{"causal", true}}},
      {"softmax", {f({3, 5})}, {f({3, 5})}},
      {"softmax_grad", {f({3, 5}), f({3, 5})}, {f({3, 5})}},
      {"attention_context",
       {f({2, 2, 3, 3}), f({2, 2, 3, 2})},
       {f({2, 2, 3, 2})}},
      {"attention_context_grad",
       {f({2, 2, 3, 3}), f({2, 2, 3, 2}), f({2, 2, 3, 2})},
       {f({2, 2, 3, 3}), f({2, 2, 3, 2})}},
      {"cross_entropy",
       {f({3, 2, 5}), idx({2, 3})},
       {f({}), f({3, 2, 5})},
       {},
       5,
       {},
       {},
       {1}},
      {"cross_entropy_grad",
       {f({3, 2, 5}), idx({2, 3})},
       {f({3, 2, 5})},
       {},
       5,
       {},
       {0}},
      // Class 2 marked out (ignore_index), over 3 micro-batches.
      {"cross_entropy",
       {f({4, 3, 5}), idx({3, 4})},
       {f({}), f({4, 3, 5})},
       {{"ignore_index", int64_t(2)}, {"micro_batches", int64_t(3)}},
       5,
       {},
       {},
       {1}},
      {"cross_entropy_grad",
       {f({4, 3, 5}), idx({3, 4})},
       {f({4, 3, 5})},
       {{"ignore_index", int64_t(2)}, {"micro_batches", int64_t(3)}},
       5,
       {},
       {0}},
      {"tp_copy", {f({4, 3})}, {f({4, 3})}, tpNoDim},
      {"all_reduce", {f({4, 3})}, {f({4, 3})}, tpNoDim},
      {"all_gather", {f({4, 3})}, {f({4, 3})}, tp},
      {"reduce_scatter", {f({4, 3})}, {f({4, 3})}, tp},
      {"shard", {f({4, 3})}, {f({4, 3})}, tp},
      // Capacity 2 of 12 choices over 4 experts: some are dropped.
      {"moe_route",
       {f({3, 2, 4})},
       {f({3, 2, 2}), idx({3, 2, 2}), idx({3, 2, 2})},
       {{"top_k", int64_t(2)},
        {"capacity", int64_t(2)},
        {"drop_policy", std::string("probs")}}},
      {"moe_route",
       {f({3, 2, 4})},
       {f({3, 2, 3}), idx({3, 2, 3}), idx({3, 2, 3})},
       {{"top_k", int64_t(3)},
        {"capacity", int64_t(3)},
        {"drop_policy", std::string("position")}}},
      {"moe_route_grad",
       {f({3, 2, 4}), idx({3, 2, 2}), f({3, 2, 2})},
       {f({3, 2, 4})},
       {},
       1,
       {{}, kExperts}},
      {"moe_aux_loss",
       {f({3, 2, 4}), idx({3, 2, 2})},
       {f({})},
       {{"coeff", 0.25}},
       1,
       {{}, kUnevenExperts}},
      {"moe_aux_loss_grad",
       {f({3, 2, 4}), idx({3, 2, 2})},
       {f({3, 2, 4})},
       {{"coeff", 0.25}},
       1,
       {{}, kUnevenExperts}},
      // transformers' pooled loss: the counts of every layer given.
      {"moe_aux_loss",
       {f({3, 2, 4}), idx({3, 2, 2}), f({4})},
       {f({})},
       {{"coeff", 0.25}},
       1,
       {{}, kUnevenExperts, {5, 2, 7, 10}}},
      {"moe_aux_loss_grad",
       {f({3, 2, 4}), idx({3, 2, 2}), f({4})},
       {f({3, 2, 4})},
       {{"coeff", 0.25}},
       1,
       {{}, kUnevenExperts, {5, 2, 7, 10}}},
      {"moe_expert_counts",
       {idx({3, 2, 2})},
       {f({4})},
       {{"num_experts", int64_t(4)}},
       1,
       {kUnevenExperts}},
      {"moe_dispatch",
       {f({3, 2, 5}), idx({3, 2, 2})},
       {f({4, 2, 5})},
       {{"num_experts", int64_t(4)}, {"capacity", int64_t(2)}},
       1,
       {{}, kSlots}},
      {"moe_dispatch_grad",
       {idx({3, 2, 2}), f({4, 2, 5})},
       {f({3, 2, 5})},
       {},
       1,
       {kSlots}},
      {"moe_combine",
       {f({4, 2, 5}), f({3, 2, 2}), idx({3, 2, 2})},
       {f({3, 2, 5})},
       {},
       1,
       {{}, {}, kSlots}},
      {"moe_combine_grad",
       {f({4, 2, 5}), f({3, 2, 2}), idx({3, 2, 2}), f({3, 2, 5})},
       {f({4, 2, 5}), f({3, 2, 2})},
       {},
       1,
       {{}, {}, kSlots}},
      // Dropless: every choice a row of the grouped buffer.
      {"moe_route",
       {f({3, 2, 4})},
       {f({3, 2, 2}), idx({3, 2, 2}), idx({3, 2, 2})},
       {{"top_k", int64_t(2)}, {"capacity", int64_t(0)}}},
      {"moe_dispatch",
       {f({3, 2, 5}), idx({3, 2, 2})},
       {f({12, 5})},
       {{"num_experts", int64_t(4)}, {"capacity", int64_t(0)}},
       1,
       {{}, kGroupedSlots}},
      {"moe_dispatch_grad",
       {idx({3, 2, 2}), f({12, 5})},
       {f({3, 2, 5})},
       {},
       1,
       {kGroupedSlots}},
      {"moe_combine",
       {f({12, 5}), f({3, 2, 2}), idx({3, 2, 2})},
       {f({3, 2, 5})},
       {},
       1,
       {{}, {}, kGroupedSlots}},
      {"moe_combine_grad",
       {f({12, 5}), f({3, 2, 2}), idx({3, 2, 2}), f({3, 2, 5})},
       {f({12, 5}), f({3, 2, 2})},
       {},
       1,
       {{}, {}, kGroupedSlots}},
      {"expert_linear",
       {f({12, 5}), f({4, 6, 5}), idx({3, 2, 2})},
       {f({12, 6})},
       {},
       1,
       {{}, {}, kGroupedExperts}},
      {"expert_linear_grad_input",
       {f({12, 6}), f({4, 6, 5}), idx({3, 2, 2})},
       {f({12, 5})},
       {},
       1,
       {{}, {}, kGroupedExperts}},
      // Expert 3 has no rows: its gradient is zero.
      {"expert_linear_grad_weight",
       {f({12, 6}), f({12, 5}), idx({3, 2, 2})},
       {f({4, 6, 5})},
       {},
       1,
       {{}, {}, kGroupedExperts}},
      {"expert_linear", {f({3, 4, 5}), f({3, 6, 5})}, {f({3, 4, 6})}},
      {"expert_linear_grad_input",
       {f({3, 4, 6}), f({3, 6, 5})},
       {f({3, 4, 5})}},
      {"expert_linear_grad_weight",
       {f({3, 4, 6}), f({3, 4, 5})},
       {f({3, 6, 5})}},
  };
}

/// Inputs of a case: floats that bf16 holds exactly (so every storage type
/// starts from the same values), indices in range, random masks.
std::vector<std::vector<double>> inputsOf(const Case &c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<std::vector<double>> values;
  for (const TensorDesc &t : c.inputs) {
    size_t index = values.size();
    if (index < c.given.size() && !c.given[index].empty()) {
      values.push_back(c.given[index]);
      continue;
    }
    std::vector<double> v(*ops::numElements(t.shape));
    for (double &x : v) {
      if (t.type == DType::I64)
        x = static_cast<double>(rng() % c.indexBound);
      else if (t.type == DType::I1)
        x = rng() % 2;
      else
        x = bf16ToFloat(floatToBF16(static_cast<float>(uniform(rng))));
    }
    values.push_back(std::move(v));
  }
  return values;
}

struct Outcome {
  std::vector<std::vector<double>> outputs;
  double loss = 0;
};

/// Runs case `c` on `backend`, floats stored as `storage`.
Outcome run(Backend &backend, const Case &c, DType storage,
            Precision precision) {
  Instruction inst;
  inst.op = c.op;
  inst.attrs = c.attrs;
  std::unique_ptr<Communicator> comm = makeSingleProcessCommunicator();
  KernelCall call;
  call.inst = &inst;
  call.precision = precision;
  call.seed = 1234;
  call.comm = comm.get();
  Outcome outcome;
  call.loss = &outcome.loss;
  std::vector<std::pair<void *, size_t>> buffers;
  auto arg = [&](const TensorDesc &t, bool keptF32) {
    DType type = isFloat(t.type) ? storage : t.type;
    if (keptF32 && storage != DType::F64)
      type = DType::F32;
    int64_t count = *ops::numElements(t.shape);
    size_t bytes = std::max<size_t>(1, count * dtypeSize(type));
    void *data = backend.allocate(bytes);
    buffers.emplace_back(data, bytes);
    return TensorArg{data, type, &t.shape, count};
  };
  std::vector<std::vector<double>> inputs = inputsOf(c, 99);
  auto listed = [](const std::vector<unsigned> &list, size_t i) {
    return std::find(list.begin(), list.end(), i) != list.end();
  };
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    TensorArg a = arg(c.inputs[i], listed(c.f32Inputs, i));
    std::vector<unsigned char> host(buffers.back().second);
    for (int64_t e = 0; e < a.elements; ++e)
      storeElement(host.data(), a.storage, e, inputs[i][e]);
    backend.copyToDevice(a.data, host.data(), host.size());
    call.inputs.push_back(a);
  }
  for (size_t i = 0; i < c.outputs.size(); ++i)
    call.outputs.push_back(arg(c.outputs[i], listed(c.f32Outputs, i)));
  const ops::OpDef *def = ops::lookupOp(c.op);
  backend.kernel (*def)(call);
  backend.synchronize();
  for (const TensorArg &a : call.outputs) {
    std::vector<unsigned char> host(a.elements * dtypeSize(a.storage));
    backend.copyToHost(host.data(), a.data, host.size());
    std::vector<double> values(a.elements);
    for (int64_t e = 0; e < a.elements; ++e)
      values[e] = loadElement(host.data(), a.storage, e);
    outcome.outputs.push_back(std::move(values));
  }
  for (auto [data, bytes] : buffers)
    backend.deallocate(data, bytes);
  return outcome;
}

/// max |got - want| / max(max |want|, 1e-30).
double relativeError(const std::vector<double> &got,
                     const std::vector<double> &want) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return err / scale;
}

class BackendConformanceTest : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    std::string error;
    backend = createBackend(GetParam(), error);
    ASSERT_TRUE(backend) << error;
    reference = createBackend("reference", error);
    ASSERT_TRUE(reference) << error;
  }
  std::unique_ptr<Backend> backend, reference;
};

/// Pipeline transfers are no backend's kernels: the executor passes their
/// bytes through the host the same way on every backend (Executor.cpp), and
/// test/Runtime/pipeline.test runs them.
bool isKernelOp(const ops::OpDef &def) {
  return def.opClass != ops::OpClass::PointToPoint;
}

TEST_P(BackendConformanceTest, HasAKernelForEveryOpOfTheTable) {
  for (const ops::OpDef &def : ops::allOps())
    if (isKernelOp(def)) {
      EXPECT_TRUE(backend->kernel(def)) << def.name;
    }
}

TEST(BackendConformanceCases, EveryOpHasAValidCase) {
  std::vector<Case> all = cases();
  for (const ops::OpDef &def : ops::allOps())
    EXPECT_TRUE(!isKernelOp(def) ||
                std::any_of(all.begin(), all.end(),
                            [&](const Case &c) { return c.op == def.name; }))
        << def.name;
  for (const Case &c : all)
    EXPECT_EQ(
        ops::verifyOp(*ops::lookupOp(c.op), {c.inputs, c.outputs, c.attrs}), "")
        << c.op;
}

TEST_P(BackendConformanceTest, EveryOpAgreesWithTheReference) {
  struct Mode {
    DType storage;
    Precision precision;
    double tolerance;
  } modes[] = {{DType::F64, Precision::F64, 1e-12},
               {DType::F32, Precision::Program, 2e-6},
               {DType::BF16, Precision::Program, 2e-2}};
  for (const Case &c : cases()) {
    Outcome want = run(*reference, c, DType::F64, Precision::F64);
    for (const Mode &mode : modes) {
      Outcome got = run(*backend, c, mode.storage, mode.precision);
      std::string where = c.op + " in " + dtypeName(mode.storage);
      for (size_t i = 0; i < want.outputs.size(); ++i) {
        if (c.outputs[i].type == DType::I1) {
          EXPECT_EQ(got.outputs[i], want.outputs[i]) << where << " mask";
          continue;
        }
        EXPECT_LE(relativeError(got.outputs[i], want.outputs[i]),
                  mode.tolerance)
            << where << " result #" << i;
      }
      if (c.op == "cross_entropy" || c.op == "moe_aux_loss") {
        EXPECT_NEAR(got.loss, want.loss, mode.tolerance * want.loss) << where;
      }
    }
  }
}

// A recompute region regenerates a dropout's mask without its input: the
// mask must be the dropout's, bit for bit.
TEST_P(BackendConformanceTest, DropoutMaskIsTheDropoutsMask) {
  std::vector<Case> all = cases();
  auto find = [&](const std::string &op) {
    return *std::find_if(all.begin(), all.end(),
                         [&](const Case &c) { return c.op == op; });
  };
  Case dropout = find("dropout"), mask = find("dropout_mask");
  ASSERT_EQ(dropout.attrs, mask.attrs);
  ASSERT_EQ(dropout.outputs[1].shape, mask.outputs[0].shape);
  for (DType storage : {DType::F32, DType::BF16}) {
    Outcome full = run(*backend, dropout, storage, Precision::Program);
    Outcome alone = run(*backend, mask, storage, Precision::Program);
    EXPECT_EQ(alone.outputs[0], full.outputs[1]) << dtypeName(storage);
    // Some elements dropped and some kept, so the comparison means something.
    EXPECT_TRUE(
        std::count(alone.outputs[0].begin(), alone.outputs[0].end(), 0.0) > 0);
    EXPECT_TRUE(
        std::count(alone.outputs[0].begin(), alone.outputs[0].end(), 1.0) > 0);
  }
}

// A fused op gives the bits of the pair it replaces, the pair's
// intermediate stored in its type: dropout then add (the residual on
// either side of the add), and linear then gelu in both forms.
TEST_P(BackendConformanceTest, FusedOpsGiveTheBitsOfTheirPairs) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> uniform(-2, 2);
  auto values = [&](int64_t n) {
    std::vector<double> v(n);
    for (double &x : v)
      x = bf16ToFloat(floatToBF16(static_cast<float>(uniform(rng))));
    return v;
  };
  ops::AttrMap drop = {{"probability", 0.3}, {"rng_stream", int64_t(7)}};
  for (DType storage : {DType::F32, DType::BF16, DType::F64}) {
    Precision precision =
        storage == DType::F64 ? Precision::F64 : Precision::Program;
    std::string where = dtypeName(storage);
    std::vector<double> x = values(20), r = values(20);
    Outcome fused = run(*backend,
                        {"dropout_add",
                         {f({4, 5}), f({4, 5})},
                         {f({4, 5}), mask({4, 5})},
                         drop,
                         1,
                         {x, r}},
                        storage, precision);
    Outcome dropped =
        run(*backend,
            {"dropout", {f({4, 5})}, {f({4, 5}), mask({4, 5})}, drop, 1, {x}},
            storage, precision);
    for (bool residualFirst : {true, false}) {
      std::vector<std::vector<double>> operands = {r, dropped.outputs[0]};
      if (!residualFirst)
        std::swap(operands[0], operands[1]);
      Outcome added =
          run(*backend,
              {"add", {f({4, 5}), f({4, 5})}, {f({4, 5})}, {}, 1, operands},
              storage, precision);
      EXPECT_EQ(fused.outputs[0], added.outputs[0])
          << "dropout_add in " << where;
    }
    EXPECT_EQ(fused.outputs[1], dropped.outputs[1]) << "mask in " << where;

    std::vector<double> in = values(24), w = values(20), b = values(5);
    for (const char *form : {"none", "tanh"}) {
      ops::AttrMap approx = {{"approximate", std::string(form)}};
      Outcome both = run(*backend,
                         {"linear_gelu",
                          {f({3, 2, 4}), f({5, 4}), f({5})},
                          {f({3, 2, 5}), f({3, 2, 5})},
                          approx,
                          1,
                          {in, w, b}},
                         storage, precision);
      Outcome h = run(*backend,
                      {"linear",
                       {f({3, 2, 4}), f({5, 4}), f({5})},
                       {f({3, 2, 5})},
                       {},
                       1,
                       {in, w, b}},
                      storage, precision);
      Outcome g = run(
          *backend,
          {"gelu", {f({3, 2, 5})}, {f({3, 2, 5})}, approx, 1, {h.outputs[0]}},
          storage, precision);
      EXPECT_EQ(both.outputs[0], h.outputs[0]) << "linear_gelu in " << where;
      EXPECT_EQ(both.outputs[1], g.outputs[0])
          << "linear_gelu (" << form << ") in " << where;
    }
  }
}

TEST_P(BackendConformanceTest, BadIndicesAreErrors) {
  Case c = cases().front(); // embedding with vocabulary 5
  c.indexBound = 1 << 20;   // ids far outside it
  bool threw = false;
  try {
    run(*backend, c, DType::F32, Precision::Program);
  } catch (const RuntimeError &e) {
    threw =
        std::string(e.what()).find("is outside [0, 5)") != std::string::npos;
  }
  EXPECT_TRUE(threw);
}

// A routing map from an untrusted program: a slot outside the expert
// buffers, or a row given twice, is an error, never a write out of bounds
// or a race.
TEST_P(BackendConformanceTest, BadSlotsAreErrors) {
  std::vector<Case> all = cases();
  for (const char *name : {"moe_dispatch", "moe_combine", "moe_combine_grad"}) {
    Case c = *std::find_if(all.begin(), all.end(),
                           [&](const Case &k) { return k.op == name; });
    for (std::vector<double> &values : c.given)
      if (!values.empty())
        values[3] = 99; // 4 experts x 2 rows: slots lie in [-1, 8).
    bool threw = false;
    try {
      run(*backend, c, DType::F32, Precision::Program);
    } catch (const RuntimeError &e) {
      threw = std::string(e.what()).find("slot 99 at position 3 is outside "
                                         "[-1, 8)") != std::string::npos;
    }
    EXPECT_TRUE(threw) << name;
    // Two choices in one row: each row of a buffer holds one choice.
    for (std::vector<double> &values : c.given)
      if (!values.empty())
        values[3] = values[0];
    threw = false;
    try {
      run(*backend, c, DType::F32, Precision::Program);
    } catch (const RuntimeError &e) {
      threw = std::string(e.what()).find("slot 0 at position 3 repeats "
                                         "position 0") != std::string::npos;
    }
    EXPECT_TRUE(threw) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformanceTest,
                         ::testing::ValuesIn(testedBackends()),
                         [](const auto &info) {
                           return testNameOf(info.param);
                         });

} // namespace
