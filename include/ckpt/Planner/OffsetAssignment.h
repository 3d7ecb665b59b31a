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
  /// Buffers of one group (in a pipeline stage, the activations one
  /// micro-batch's model chunk saves for its backward) may be laid out
  /// together by slottedPacking; -1 for none. It changes no answer.
  int group = -1;

  bool operator==(const Buffer &other) const {
    return lower == other.lower && upper == other.upper && size == other.size &&
           group == other.group;
  }
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

/// First fit by decreasing size (ties: longer life first, then index).
std::vector<int64_t> firstFitDecreasing(const std::vector<Buffer> &buffers);

/// Allocation in time order with best fit among free blocks, as a heap
/// allocator would do it (O(n log n)).
std::vector<int64_t> bestFitInTimeOrder(const std::vector<Buffer> &buffers);

/// The groups' layout of a pipeline stage: each group's buffers stacked in
/// the order they start, the groups in slots that groups live at the same
/// time never share (interval colouring: as many slots as groups are ever
/// live at once), then every other buffer, largest first, at the lowest
/// gap around them (quadratic, like first fit by size). The micro-batches
/// of a steady state then reuse one another's places instead of
/// fragmenting the arena as time-ordered best fit does. Empty without
/// groups.
std::vector<int64_t> slottedPacking(const std::vector<Buffer> &buffers);

/// A greedy packing with its name and height.
struct GreedyPacking {
  std::string name;
  std::vector<int64_t> offsets;
  int64_t height = 0;
};

/// The greedy baselines the exact search starts from: best fit by size,
/// first fit by decreasing size (both quadratic, so only up to
/// kGreedyBySizeLimit buffers), best fit in time order and, when some
/// buffer has a group, the slotted packings. The lowest first (earlier ones
/// win ties).
std::vector<GreedyPacking> greedyPackings(const std::vector<Buffer> &buffers);

/// The largest instance planOffsets also places greedily by size (a
/// quadratic pass); larger ones use only the O(n log n) heap simulation.
constexpr size_t kGreedyBySizeLimit = 8000;

struct SearchOptions {
  /// Budget of the exact search in steps: setting it up costs a step per
  /// section membership and per overlapping pair, and a search node about
  /// one per buffer and per time section. When one full descent does not
  /// fit, the search is skipped; 0 keeps the greedy plan. Counted, not
  /// timed, so that the plan depends on the buffers alone.
  int64_t work = 20000000;
  /// Wall-clock guard in seconds, 0 for none (then the plan is the same on
  /// any machine).
  double seconds = 0;
};

struct SearchResult {
  std::vector<int64_t> offsets;
  int64_t height = 0;
  int64_t lowerBound = 0;       ///< LOAD.
  int64_t provenLowerBound = 0; ///< No plan is lower (>= LOAD).
  bool provedOptimal = false;   ///< height == provenLowerBound.
  int64_t nodes = 0;
  /// Empty at the lower bound; otherwise by how much the plan is above it
  /// and why.
  std::string note;
};

/// The planner: the best greedy packing, then, when it is above LOAD, the
/// exact search of ExactPacking.h within the budget. It remembers its last
/// few answers for large instances: the same buffers and options give the
/// same plan without planning again (and, under a clock guard, the same
/// plan as the first time).
SearchResult planOffsets(const std::vector<Buffer> &buffers,
                         const SearchOptions &options = {});

/// The exact optimum by exhaustive search (for tests on small graphs).
SearchResult optimalOffsets(const std::vector<Buffer> &buffers);

} // namespace ckpt::planner

#endif // CKPT_PLANNER_OFFSETASSIGNMENT_H
