//===- CanonicalSearch.h - Exact packing at one capacity --------*- C++ -*-===//
//
// The branch and bound behind fitInCapacity. Private to lib/Planner: the
// public entry points are in ckpt/Planner/ExactPacking.h.
//
// The search builds canonical packings only: buffers are placed in order of
// non-decreasing offset (ties by a static rank), each at the lowest offset
// its placed neighbours in time allow. Every packing can be pushed down into
// such a form without growing, so exhausting the canonical packings proves
// that none fits. Around that core:
//  - inference: in every time section, the unplaced buffers stack above the
//    section's floor, so floor + their total must fit the capacity;
//  - dominance: a buffer is never placed at or above the top of another
//    unplaced buffer's lowest position (that one could go below it first);
//  - a buffer that no unplaced buffer overlaps ("hatless") leaves the others
//    as they were, so when its subtree fails no other choice can succeed;
//  - decomposition: once no unplaced buffer crosses a section boundary, the
//    two sides are independent problems, solved one after the other.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_LIB_PLANNER_CANONICALSEARCH_H
#define CKPT_LIB_PLANNER_CANONICALSEARCH_H

#include "ckpt/Planner/OffsetAssignment.h"

#include <chrono>
#include <cstdint>
#include <vector>

namespace ckpt::planner::detail {

/// What the search reads and never changes: the buffers of positive size,
/// their time sections and who overlaps whom.
struct PackingInstance {
  std::vector<Buffer> buffers; ///< Only those of positive size.
  std::vector<int> original;   ///< Index of each in the caller's list.
  int numOriginal = 0;
  int numSections = 0;
  std::vector<std::pair<int, int>> span;  ///< Sections [first, last + 1).
  std::vector<std::vector<int>> overlaps; ///< Buffers live at a common time.
  std::vector<std::vector<int>> members;  ///< Buffers live in each section.
  std::vector<int64_t> sectionLoad;       ///< Total size live in a section.
  std::vector<int64_t> crowd; ///< Per buffer: its most crowded section's load.
  int64_t load = 0;           ///< LOAD.
};

/// Builds the instance; O(n log n + overlapping pairs + section members).
PackingInstance prepareInstance(const std::vector<Buffer> &buffers);

/// What ranks buffers at equal offsets, key by key, larger first: the
/// total size live in the most crowded section of the buffer's lifetime
/// (as it stands when a piece of the problem starts), the lifetime, the
/// area (size × lifetime) or the size.
enum class TieBreakKey { Crowd, Width, Area, Size };
using TieBreak = std::vector<TieBreakKey>;

/// The tie-breaks the search takes turns with.
std::vector<TieBreak> tieBreaks();

enum class SearchStatus { Found, Exhausted, OutOfNodes, OutOfTime };

struct SearchRun {
  SearchStatus status = SearchStatus::Exhausted;
  std::vector<int64_t> offsets; ///< For the caller's buffers, when Found.
  int64_t nodes = 0;
};

using Deadline = std::chrono::steady_clock::time_point;

/// One depth-first search at `capacity` with `tieBreak`, at most
/// `maxNodes` nodes, and a wall-clock guard (`deadline`, max() for none).
SearchRun searchCanonical(const PackingInstance &instance, int64_t capacity,
                          const TieBreak &tieBreak, int64_t maxNodes,
                          Deadline deadline);

} // namespace ckpt::planner::detail

#endif // CKPT_LIB_PLANNER_CANONICALSEARCH_H
