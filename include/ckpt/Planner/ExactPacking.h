//===- ExactPacking.h - Offsets by exact search -----------------*- C++ -*-===//
//
// Static memory allocation solved by branch and bound over canonical
// packings (see lib/Planner/CanonicalSearch.h for the search itself). The
// work is bounded by a count of search nodes, never by the clock, so that
// the answer depends on the buffers alone and not on the machine; a
// wall-clock guard may be set on top, and the result says when it fired.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLANNER_EXACTPACKING_H
#define CKPT_PLANNER_EXACTPACKING_H

#include "ckpt/Planner/OffsetAssignment.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::planner {

struct ExactOptions {
  /// Search nodes for the whole call. fitInCapacity spends them on its one
  /// capacity; minimizeHeight spreads them over the capacities it tries.
  int64_t nodes = 2000000;
  /// Wall-clock guard in seconds, 0 for none. When it fires, the result
  /// depends on the machine's speed, and says so (stoppedByClock).
  double guardSeconds = 0;
};

/// The most entries (overlapping pairs, twice, plus the buffers' section
/// memberships) the exact search holds (4 bytes each, beside its indices). A
/// larger instance keeps its greedy packing, and the result says why.
constexpr int64_t kMaxSearchEntries = 50000000;

/// The entries the exact search would hold for `buffers`, counted in
/// O(n log n) without building them.
int64_t searchEntries(const std::vector<Buffer> &buffers);

/// Why the exact search was not run on `buffers` (too large), or "".
std::string searchRefusal(const std::vector<Buffer> &buffers);

enum class FitVerdict {
  Fits,    ///< A packing within the capacity (in `offsets`).
  NoFit,   ///< Proved: the search explored every canonical packing.
  Unknown, ///< The node budget (or the guard) ran out first.
};

struct FitResult {
  FitVerdict verdict = FitVerdict::Unknown;
  std::vector<int64_t> offsets; ///< When it fits.
  int64_t height = 0;           ///< Of `offsets`.
  int64_t nodes = 0;            ///< Search nodes spent.
  /// How it was decided: "LOAD" (above the capacity), the greedy packing
  /// that fit ("best fit by size", ...) or "search".
  std::string decidedBy;
  bool stoppedByClock = false;
  /// Why no search ran (searchRefusal), or "".
  std::string skipped;
};

/// Decides whether the buffers pack within `capacity` bytes.
FitResult fitInCapacity(const std::vector<Buffer> &buffers, int64_t capacity,
                        const ExactOptions &options = {});

struct HeightResult {
  std::vector<int64_t> offsets;
  int64_t height = 0;
  int64_t load = 0;             ///< LOAD, the plain lower bound.
  int64_t provenLowerBound = 0; ///< No packing is lower (>= LOAD).
  int64_t nodes = 0;
  std::string greedy; ///< The best greedy packing, the search's start.
  int64_t greedyHeight = 0;
  bool stoppedByClock = false;
  /// Why no search ran (searchRefusal), or "".
  std::string skipped;
  bool optimal() const { return height == provenLowerBound; }
};

/// The lowest packing the search can find within its budget: the best
/// greedy packing first, then passes of bisection between the proved lower
/// bound (LOAD at first) and the best packing, each capacity with a node
/// budget that grows fourfold from pass to pass. A capacity proved
/// infeasible raises provenLowerBound.
HeightResult minimizeHeight(const std::vector<Buffer> &buffers,
                            const ExactOptions &options = {});

} // namespace ckpt::planner

#endif // CKPT_PLANNER_EXACTPACKING_H
