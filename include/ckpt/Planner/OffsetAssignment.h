//===- OffsetAssignment.h - Buffers in one arena ----------------*- C++ -*-===//
//
// Static memory allocation: every buffer is live over a half-open interval
// of logical time [lower, upper) and needs `size` bytes; buffers live at the
// same time must not overlap in memory. The height of a plan is the largest
// offset + size; no plan is lower than LOAD, the largest total of sizes live
// at one time. Plain C++ on arrays (no MLIR), so the same code plans a
// training step and solves the benchmark instances of ckpt-dsa.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLANNER_OFFSETASSIGNMENT_H
#define CKPT_PLANNER_OFFSETASSIGNMENT_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::planner {

struct Buffer {
  int64_t lower = 0; ///< First step the buffer is live.
  int64_t upper = 0; ///< One past the last step.
  int64_t size = 0;  ///< Bytes.
};

/// Whether two buffers are live at some common time.
inline bool overlapInTime(const Buffer &a, const Buffer &b) {
  return a.lower < b.upper && b.lower < a.upper;
}

/// LOAD: the largest total size live at one time.
int64_t lowerBound(const std::vector<Buffer> &buffers);

/// The height of a plan: max(offset + size), 0 for no buffers.
int64_t planHeight(const std::vector<Buffer> &buffers,
                   const std::vector<int64_t> &offsets);

/// A description of the first two buffers that are live at the same time
/// and overlap in memory (or a negative offset), or "" for a valid plan.
std::string checkPlan(const std::vector<Buffer> &buffers,
                      const std::vector<int64_t> &offsets);

/// The first pair of buffers (in time order) that are live together and
/// overlap in memory, if any.
std::optional<std::pair<int, int>>
findConflict(const std::vector<Buffer> &buffers,
             const std::vector<int64_t> &offsets);

/// Greedy best fit: buffers in decreasing size (ties: longer life first,
/// then index), each at the lowest-waste gap among the buffers already
/// placed that it overlaps in time, as in XLA's heap simulator and TFLite's
/// arena planner.
std::vector<int64_t> bestFitDecreasing(const std::vector<Buffer> &buffers);

/// Places buffers in the given order, each at the lowest offset where it
/// fits (first fit).
std::vector<int64_t> firstFitInOrder(const std::vector<Buffer> &buffers,
                                     const std::vector<int> &order);

/// The largest instance planOffsets also places greedily by size (a
/// quadratic pass); larger ones use only the O(n log n) heap simulation.
constexpr size_t kGreedyBySizeLimit = 8000;

struct SearchOptions {
  double seconds = 1.0;  ///< Wall-clock budget.
  int64_t maxNodes = -1; ///< Node budget (-1: none).
  bool stopAtLowerBound = true;
  bool byArea = false; ///< Search branching: by size × lifetime, not size.
  /// planOffsets only: bound the improvement by work, not by the clock
  /// (`seconds` is ignored), so that a plan depends on its buffers alone:
  /// search nodes times the instance's time sections (a node's cost) up to
  /// `totalWork`, and `firstFitOrders` shuffled first-fit orders.
  bool deterministic = false;
  int64_t totalWork = 40000000;
  int firstFitOrders = 8;
};

struct SearchResult {
  std::vector<int64_t> offsets;
  int64_t height = 0;
  bool provedOptimal = false; ///< The search finished, or hit LOAD.
  int64_t nodes = 0;
};

/// Branch and bound over canonical placements (each buffer on the lowest
/// floor of the time sections it spans, lowest floor first), pruned by the
/// sum of unplaced sizes per section. Returns a plan no higher than
/// `capacity`, or nothing when none exists or the budget ran out.
std::optional<SearchResult>
searchWithCapacity(const std::vector<Buffer> &buffers, int64_t capacity,
                   const SearchOptions &options);

/// The planner: best fit by decreasing size, then improvement within the
/// budget: first-fit repacking in other orders, and the search above at
/// capacities from LOAD upward. Returns the lowest plan found.
SearchResult planOffsets(const std::vector<Buffer> &buffers,
                         const SearchOptions &options = {});

/// The exact optimum by exhaustive search (for tests on small graphs).
SearchResult optimalOffsets(const std::vector<Buffer> &buffers);

} // namespace ckpt::planner

#endif // CKPT_PLANNER_OFFSETASSIGNMENT_H
