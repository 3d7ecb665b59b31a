//===- ExactPacking.cpp - Offsets by exact search -------------------------===//

#include "ckpt/Planner/ExactPacking.h"

#include "CanonicalSearch.h"

#include <algorithm>

using namespace ckpt::planner;
using namespace ckpt::planner::detail;

namespace {

Deadline deadlineOf(const ExactOptions &options) {
  if (!(options.guardSeconds > 0))
    return Deadline::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(options.guardSeconds));
}

/// One capacity: the tie-break orders take turns with node limits that
/// double each round (an order that suits the instance usually finishes
/// early), until one decides or `budget` nodes are spent.
FitResult searchCapacity(const PackingInstance &instance, int64_t capacity,
                         int64_t budget, Deadline deadline) {
  FitResult result;
  result.decidedBy = "search";
  int64_t limit = std::max<int64_t>(
      1000, 2 * static_cast<int64_t>(instance.buffers.size()));
  const std::vector<TieBreak> turns = tieBreaks();
  for (; result.nodes < budget; limit *= 2) {
    for (size_t k = 0; k < turns.size(); ++k) {
      int64_t left = budget - result.nodes;
      if (left <= 0)
        break;
      // The whole limit, not a share of what is left: a descent needs a
      // node per buffer, and a share too small for one decides nothing.
      int64_t allowed = std::min(limit, left);
      SearchRun run =
          searchCanonical(instance, capacity, turns[k], allowed, deadline);
      result.nodes += run.nodes;
      if (run.status == SearchStatus::Found) {
        result.verdict = FitVerdict::Fits;
        result.offsets = std::move(run.offsets);
        return result;
      }
      if (run.status == SearchStatus::Exhausted) {
        result.verdict = FitVerdict::NoFit;
        return result;
      }
      if (run.status == SearchStatus::OutOfTime) {
        result.stoppedByClock = true;
        return result;
      }
    }
  }
  return result;
}

} // namespace

int64_t ckpt::planner::searchEntries(const std::vector<Buffer> &buffers) {
  std::vector<int64_t> lowers, uppers, times;
  for (const Buffer &b : buffers)
    if (b.size > 0 && b.lower < b.upper) {
      lowers.push_back(b.lower);
      uppers.push_back(b.upper);
      times.push_back(b.lower);
      times.push_back(b.upper);
    }
  std::sort(lowers.begin(), lowers.end());
  std::sort(uppers.begin(), uppers.end());
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  // A buffer overlaps each one started before it (in start order) that is
  // still live at its start: those started, less those ended by then.
  int64_t pairs = 0;
  for (size_t i = 0; i < lowers.size(); ++i)
    pairs += static_cast<int64_t>(i) -
             (std::upper_bound(uppers.begin(), uppers.end(), lowers[i]) -
              uppers.begin());
  auto section = [&](int64_t time) {
    return std::lower_bound(times.begin(), times.end(), time) - times.begin();
  };
  int64_t members = 0;
  for (const Buffer &b : buffers)
    if (b.size > 0 && b.lower < b.upper)
      members += section(b.upper) - section(b.lower);
  return 2 * pairs + members;
}

std::string ckpt::planner::searchRefusal(const std::vector<Buffer> &buffers) {
  int64_t entries = searchEntries(buffers);
  if (entries <= kMaxSearchEntries)
    return "";
  return "the instance is too large for the exact search: " +
         std::to_string(entries) +
         " overlap and section entries, more than the " +
         std::to_string(kMaxSearchEntries) + " it holds";
}

FitResult ckpt::planner::fitInCapacity(const std::vector<Buffer> &buffers,
                                       int64_t capacity,
                                       const ExactOptions &options) {
  FitResult result;
  if (lowerBound(buffers) > capacity) {
    result.verdict = FitVerdict::NoFit;
    result.decidedBy = "LOAD";
    return result;
  }
  for (GreedyPacking &greedy : greedyPackings(buffers))
    if (greedy.height <= capacity) {
      result.verdict = FitVerdict::Fits;
      result.decidedBy = greedy.name;
      result.offsets = std::move(greedy.offsets);
      result.height = greedy.height;
      return result;
    }
  if (std::string why = searchRefusal(buffers); !why.empty()) {
    result.skipped = why;
    return result;
  }
  PackingInstance instance = prepareInstance(buffers);
  result =
      searchCapacity(instance, capacity, options.nodes, deadlineOf(options));
  if (result.verdict == FitVerdict::Fits)
    result.height = planHeight(buffers, result.offsets);
  return result;
}

HeightResult ckpt::planner::minimizeHeight(const std::vector<Buffer> &buffers,
                                           const ExactOptions &options) {
  HeightResult result;
  result.load = result.provenLowerBound = lowerBound(buffers);
  std::vector<GreedyPacking> greedy = greedyPackings(buffers);
  result.greedy = greedy.front().name;
  result.greedyHeight = result.height = greedy.front().height;
  result.offsets = std::move(greedy.front().offsets);
  if (result.height <= result.load || options.nodes <= 0)
    return result;
  if (std::string why = searchRefusal(buffers); !why.empty()) {
    result.skipped = why;
    return result;
  }

  PackingInstance instance = prepareInstance(buffers);
  Deadline deadline = deadlineOf(options);
  auto tryCapacity = [&](int64_t capacity, int64_t budget) {
    budget = std::min(budget, options.nodes - result.nodes);
    FitResult fit = searchCapacity(instance, capacity, budget, deadline);
    result.nodes += fit.nodes;
    result.stoppedByClock |= fit.stoppedByClock;
    if (fit.verdict == FitVerdict::Fits) {
      int64_t height = planHeight(buffers, fit.offsets);
      if (height < result.height) {
        result.height = height;
        result.offsets = std::move(fit.offsets);
      }
    } else if (fit.verdict == FitVerdict::NoFit) {
      result.provenLowerBound = std::max(result.provenLowerBound, capacity + 1);
    }
    return fit.verdict;
  };
  // LOAD first, with half the budget: hard instances are often packable at
  // it, and the search prunes best at tight capacities. At least two
  // descents' worth (a descent places every buffer once) when the budget has
  // them.
  const int64_t n = static_cast<int64_t>(buffers.size());
  const int64_t atLoad = std::max(
      {int64_t(1000), options.nodes / 2, std::min(options.nodes, 2 * n)});
  tryCapacity(result.load, atLoad);
  // Then passes of bisection between the proved bound and the best packing.
  // Small budgets first: capacities well above the optimum decide quickly
  // and bring the best packing down; each later pass retries what was left
  // undecided with four times the nodes.
  int64_t perCapacity = std::max<int64_t>(1000, options.nodes / 64);
  while (result.nodes < options.nodes && !result.optimal() &&
         !result.stoppedByClock) {
    int64_t lo = result.provenLowerBound, hi = result.height - 1;
    // LOAD was tried with more nodes than this pass gives a capacity.
    if (lo == result.load && perCapacity <= atLoad)
      ++lo;
    while (lo <= hi && result.nodes < options.nodes && !result.stoppedByClock) {
      int64_t capacity = lo + (hi - lo) / 2;
      if (tryCapacity(capacity, perCapacity) == FitVerdict::Fits)
        hi = result.height - 1;
      else
        lo = capacity + 1;
    }
    perCapacity *= 4;
  }
  return result;
}
