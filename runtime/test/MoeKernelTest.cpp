//===- MoeKernelTest.cpp - Routing by hand, gradients by finite differences
//===//

#include "../cpu/MoeKernels.h"

#include "ckpt/runtime/IndexChecks.h"

#include <gtest/gtest.h>

#include <random>

using namespace ckpt::rt;
using namespace ckpt::rt::kernels;

namespace {

std::vector<double> randomVector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> v(n);
  for (double &x : v)
    x = uniform(rng);
  return v;
}

// Four tokens, three experts. Token 1 ties experts 0 and 2: the lower wins.
const std::vector<double> kLogits = {
    3, 1, 2, // token 0: experts 0, 2
    1, 0, 1, // token 1: experts 0, 2 (tie broken to the lower)
    0, 5, 1, // token 2: experts 1, 2
    4, 0, 1, // token 3: experts 0, 2
};

TEST(MoeRoutingTest, TopKTiesAndWeightsByHand) {
  Routing r = routeTokens(kLogits, 4, 3, 2, /*capacity=*/8, true);
  EXPECT_EQ(r.experts, (std::vector<int64_t>{0, 2, 0, 2, 1, 2, 0, 2}));
  // softmax over two logits a > b: 1 / (1 + e^(b - a)).
  EXPECT_DOUBLE_EQ(r.weights[0], 1 / (1 + std::exp(-1.0)));
  EXPECT_DOUBLE_EQ(r.weights[2], 0.5);
  EXPECT_DOUBLE_EQ(r.weights[4], 1 / (1 + std::exp(-4.0)));
  // Nothing dropped; each expert numbers its rows in token order.
  EXPECT_EQ(r.slots, (std::vector<int64_t>{0, 16, 1, 17, 8, 18, 2, 19}));
}

TEST(MoeRoutingTest, CapacityDropsByPositionOrByWeight) {
  // Capacity 2: expert 0 has three choices (tokens 0, 1, 3) and expert 2
  // four (tokens 0, 1, 2, 3).
  Routing byPosition = routeTokens(kLogits, 4, 3, 2, 2, false);
  EXPECT_EQ(byPosition.slots,
            (std::vector<int64_t>{0, 4, 1, 5, 2, -1, -1, -1}));
  // By weight: expert 0 keeps tokens 0 (0.73) and 3 (0.95), drops token 1
  // (0.5); expert 2 keeps token 1 (0.5) and token 0 (0.27), drops token 2
  // (0.018) and token 3 (0.047). Kept rows are numbered in token order.
  Routing byWeight = routeTokens(kLogits, 4, 3, 2, 2, true);
  EXPECT_EQ(byWeight.slots, (std::vector<int64_t>{0, 4, -1, 5, 2, -1, 1, -1}));
}

TEST(MoeRoutingTest, DroplessCapacityDropsNothing) {
  auto logits = randomVector(16 * 5, 3);
  // Every token may pick the same expert: capacity = tokens.
  Routing r = routeTokens(logits, 16, 5, 2, 16, true);
  for (int64_t slot : r.slots)
    EXPECT_GE(slot, 0);
}

TEST(MoeRoutingTest, DroplessGroupsTheChoicesByExpertByHand) {
  // Capacity 0: one row per choice, expert 0's three (tokens 0, 1, 3) in
  // rows 0-2, expert 1's one (token 2) in row 3, expert 2's four in rows
  // 4-7, each expert's in token order.
  Routing r = routeTokens(kLogits, 4, 3, 2, /*capacity=*/0, true);
  EXPECT_EQ(r.slots, (std::vector<int64_t>{0, 4, 1, 5, 3, 6, 2, 7}));
  EXPECT_EQ(groupedRowStarts(r.experts, 3), (std::vector<int64_t>{0, 3, 4, 8}));
  // A routing map naming no expert 3 of 4 leaves it an empty group.
  EXPECT_EQ(groupedRowStarts({0, 2, 2, 0}, 4),
            (std::vector<int64_t>{0, 2, 2, 4, 4}));
  EXPECT_THROW(groupedRowStarts({0, 4}, 4), std::exception);
}

/// The layer as one function of the logits, the input and the expert
/// weights: route (fixed), dispatch, expert linear, combine, plus the
/// aux loss; probed by a random direction of the output. Per-expert
/// buffers of `capacity` rows, or grouped (capacity 0).
struct Layer {
  int64_t tokens = 6, experts = 3, k = 2, capacity = 3, h = 4, f = 5;
  double coeff = 0.3;
  std::vector<double> probe = randomVector(6 * 4, 9);

  int64_t rows() const {
    return capacity == 0 ? tokens * k : experts * capacity;
  }
  std::vector<int64_t> starts(const Routing &r) const {
    if (capacity == 0)
      return groupedRowStarts(r.experts, experts);
    std::vector<int64_t> starts(experts + 1);
    for (int64_t e = 0; e <= experts; ++e)
      starts[e] = e * capacity;
    return starts;
  }

  double objective(const std::vector<double> &logits,
                   const std::vector<double> &x,
                   const std::vector<double> &w) const {
    Routing r = routeTokens(logits, tokens, experts, k, capacity, true);
    int64_t rows = this->rows();
    std::vector<double> buffer(rows * h), hidden(rows * f), y(tokens * f);
    moeDispatch<double>(x.data(), r.slots.data(), tokens, k, h, rows,
                        buffer.data());
    std::vector<int64_t> starts = this->starts(r);
    expertLinear<double>(buffer.data(), w.data(), starts.data(), experts, f, h,
                         hidden.data());
    std::vector<double> out(tokens * f);
    moeCombine<double>(hidden.data(), r.weights.data(), r.slots.data(), tokens,
                       k, f, out.data());
    double total = moeAuxLoss<double>(logits.data(), r.experts.data(), nullptr,
                                      tokens, experts, k, coeff);
    for (size_t i = 0; i < out.size(); ++i)
      total += out[i] * probe[i % probe.size()];
    return total;
  }
};

class MoeKernelTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(MoeKernelTest, LayerGradientsMatchFiniteDifferences) {
  Layer layer;
  layer.capacity = GetParam();
  layer.probe = randomVector(layer.tokens * layer.f, 9);
  auto logits = randomVector(layer.tokens * layer.experts, 1);
  auto x = randomVector(layer.tokens * layer.h, 2);
  auto w = randomVector(layer.experts * layer.f * layer.h, 3);
  int64_t rows = layer.rows(), k = layer.k;
  Routing r =
      routeTokens(logits, layer.tokens, layer.experts, k, layer.capacity, true);
  // With 12 choices and 9 rows, some choices are dropped; grouped, none.
  EXPECT_EQ(std::count(r.slots.begin(), r.slots.end(), -1) > 0,
            layer.capacity > 0);
  std::vector<int64_t> starts = layer.starts(r);

  // Backward, as the training step chains the gradient kernels.
  std::vector<double> buffer(rows * layer.h), hidden(rows * layer.f);
  moeDispatch<double>(x.data(), r.slots.data(), layer.tokens, k, layer.h, rows,
                      buffer.data());
  expertLinear<double>(buffer.data(), w.data(), starts.data(), layer.experts,
                       layer.f, layer.h, hidden.data());
  std::vector<double> dhidden(rows * layer.f), dweights(layer.tokens * k);
  moeCombineGrad<double>(hidden.data(), r.weights.data(), r.slots.data(),
                         layer.probe.data(), layer.tokens, k, layer.f, rows,
                         dhidden.data(), dweights.data());
  std::vector<double> dbuffer(rows * layer.h), dw(w.size()), dx(x.size());
  expertLinearGradInput<double>(dhidden.data(), w.data(), starts.data(),
                                layer.experts, layer.f, layer.h,
                                dbuffer.data());
  expertLinearGradWeight<double>(dhidden.data(), buffer.data(), starts.data(),
                                 layer.experts, layer.f, layer.h, dw.data());
  moeDispatchGrad<double>(r.slots.data(), dbuffer.data(), layer.tokens, k,
                          layer.h, dx.data());
  std::vector<double> dlogits(logits.size()), daux(logits.size());
  moeRouteGrad<double>(logits.data(), r.experts.data(), dweights.data(),
                       layer.tokens, layer.experts, k, dlogits.data());
  moeAuxLossGrad<double>(logits.data(), r.experts.data(), nullptr, layer.tokens,
                         layer.experts, k, layer.coeff, daux.data());

  const double eps = 1e-6;
  auto check = [&](std::vector<double> &values, const std::vector<double> &grad,
                   const char *what, auto evaluate) {
    for (size_t i = 0; i < values.size(); ++i) {
      double saved = values[i];
      values[i] = saved + eps;
      double plus = evaluate();
      values[i] = saved - eps;
      double minus = evaluate();
      values[i] = saved;
      EXPECT_NEAR(grad[i], (plus - minus) / (2 * eps), 1e-7)
          << what << " element " << i;
    }
  };
  auto evaluate = [&] { return layer.objective(logits, x, w); };
  std::vector<double> dlogitsTotal(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    dlogitsTotal[i] = dlogits[i] + daux[i];
  check(logits, dlogitsTotal, "logit", evaluate);
  check(x, dx, "input", evaluate);
  check(w, dw, "expert weight", evaluate);
}

INSTANTIATE_TEST_SUITE_P(Buffers, MoeKernelTest,
                         ::testing::Values(int64_t(3), int64_t(0)),
                         [](const auto &info) {
                           return info.param == 0 ? std::string("Grouped")
                                                  : std::string("Capacity");
                         });

} // namespace
