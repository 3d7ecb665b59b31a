//===- MonotoneSearchTest.cpp - The interpolating search of block sizes ---===//

#include "ckpt/Solver/MonotoneSearch.h"

#include <gtest/gtest.h>
#include <random>
#include <vector>

using namespace ckpt;

namespace {

/// What bisection (or a scan) gives: the first index reaching target.
int64_t firstByScan(const std::vector<int64_t> &values, int64_t lo, int64_t hi,
                    int64_t target) {
  for (int64_t n = lo; n < hi; ++n)
    if (values[n] >= target)
      return n;
  return hi;
}

TEST(MonotoneSearchTest, FindsWhatAScanFindsOnAnyNondecreasingFunction) {
  std::mt19937_64 random(7);
  for (int trial = 0; trial < 2000; ++trial) {
    int64_t size = 1 + random() % 300;
    std::vector<int64_t> values(size + 1);
    int64_t v = static_cast<int64_t>(random() % 1000) - 500;
    for (int64_t &value : values) {
      // Flat runs, small and huge steps.
      int kind = random() % 4;
      v += kind == 0   ? 0
           : kind == 1 ? 1
           : kind == 2 ? random() % 50
                       : random() % 100000;
      value = v;
    }
    int64_t lo = random() % size, hi = lo + random() % (size - lo + 1);
    int64_t target = values[random() % values.size()] + random() % 3 - 1;
    std::optional<int64_t> below, at;
    if (lo > 0 && random() % 2)
      below = values[lo - 1];
    if (hi < static_cast<int64_t>(values.size()) && random() % 2)
      at = values[hi];
    int probes = 0;
    int64_t found = firstReaching(
        lo, hi, target,
        [&](int64_t n) {
          EXPECT_GE(n, lo);
          EXPECT_LT(n, hi);
          ++probes;
          return values[n];
        },
        below, at);
    ASSERT_EQ(found, firstByScan(values, lo, hi, target))
        << "trial " << trial << " [" << lo << ", " << hi << ") target "
        << target;
    // Never more than about three times bisection's probes.
    int bisection = 0;
    for (int64_t width = hi - lo; width > 0; width /= 2)
      ++bisection;
    EXPECT_LE(probes, 3 * bisection + 1);
  }
}

TEST(MonotoneSearchTest, ALinearFunctionTakesTwoProbes) {
  // cost(N) = 17 N + 5 over N = 1..1000: the largest N costing less than
  // 12345 is 725 (17 * 725 + 5 = 12330, 17 * 726 + 5 = 12347).
  auto cost = [](int64_t n) { return 17 * n + 5; };
  int probes = 0;
  int64_t first = firstReaching(
      2, 1000, 12345,
      [&](int64_t n) {
        ++probes;
        return cost(n);
      },
      cost(1), cost(1000));
  EXPECT_EQ(first - 1, 725);
  EXPECT_LE(probes, 2);
}

} // namespace
