//===- MonotoneSearch.h - Where a nondecreasing function reaches a value --===//
//
// The solver searches Megatron's full block recompute over N = 1..L: its cost
// grows with N and, below the last few layers, its arena shrinks with N.
// Each probe evaluates (and may plan) a whole step, so the search
// interpolates: on a model of repeated layers both are nearly linear in N
// and the answer is found in two or three probes, where bisection takes
// log2(L) (ten at 1000 layers). Two interpolations in a row that do not
// halve the interval are followed by a bisection, so no search takes more
// than about three times bisection's probes.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_SOLVER_MONOTONESEARCH_H
#define CKPT_SOLVER_MONOTONESEARCH_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

namespace ckpt {

/// The first n in [lo, hi) with value(n) >= target, or hi if none, for a
/// `value` nondecreasing on [lo, hi). `below` and `at` are value(lo - 1) and
/// value(hi) where the caller knows them (they guide the first probe).
template <typename Value>
int64_t firstReaching(int64_t lo, int64_t hi, int64_t target, Value value,
                      std::optional<int64_t> below = std::nullopt,
                      std::optional<int64_t> at = std::nullopt) {
  int misses = 0; // Interpolations in a row that did not halve the interval.
  while (lo < hi) {
    bool bisect = misses == 2;
    int64_t mid = lo + (hi - lo) / 2;
    if (!bisect && below && at && *at > *below) {
      // Where the line through (lo - 1, below) and (hi, at) reaches target.
      using Real = long double; // No overflow near INT64_MAX.
      Real x = Real(lo - 1) + (Real(target) - Real(*below)) *
                                  Real(hi - lo + 1) /
                                  (Real(*at) - Real(*below));
      Real first = std::ceil(x);
      mid = first <= lo       ? lo
            : first >= hi - 1 ? hi - 1
                              : static_cast<int64_t>(first);
    }
    int64_t width = hi - lo;
    int64_t v = value(mid);
    if (v >= target) {
      hi = mid;
      at = v;
    } else {
      lo = mid + 1;
      below = v;
    }
    misses = bisect || 2 * (hi - lo) <= width ? 0 : misses + 1;
  }
  return lo;
}

} // namespace ckpt

#endif // CKPT_SOLVER_MONOTONESEARCH_H
