//===- OffsetAssignment.cpp - Buffers in one arena ------------------------===//

#include "ckpt/Planner/OffsetAssignment.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <set>

using namespace ckpt::planner;

int64_t ckpt::planner::lowerBound(const std::vector<Buffer> &buffers) {
  // Half-open intervals: at equal times, frees come before allocations.
  std::vector<std::pair<int64_t, int64_t>> events;
  events.reserve(2 * buffers.size());
  for (const Buffer &b : buffers) {
    events.emplace_back(b.lower, b.size);
    events.emplace_back(b.upper, -b.size);
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (auto [time, delta] : events) {
    live += delta;
    peak = std::max(peak, live);
  }
  return peak;
}

int64_t ckpt::planner::planHeight(const std::vector<Buffer> &buffers,
                                  const std::vector<int64_t> &offsets) {
  int64_t height = 0;
  for (size_t i = 0; i < buffers.size(); ++i)
    height = std::max(height, offsets[i] + buffers[i].size);
  return height;
}

std::optional<std::pair<int, int>>
ckpt::planner::findConflict(const std::vector<Buffer> &buffers,
                            const std::vector<int64_t> &offsets) {
  // Sweep over time; the live buffers, kept sorted by offset, must not
  // overlap, so checking each new buffer against its neighbours suffices.
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return buffers[a].lower < buffers[b].lower; });
  std::set<std::pair<int64_t, int>> live; // (offset, id)
  std::multimap<int64_t, int> ends;       // upper -> id
  for (int id : order) {
    const Buffer &b = buffers[id];
    while (!ends.empty() && ends.begin()->first <= b.lower) {
      int gone = ends.begin()->second;
      live.erase({offsets[gone], gone});
      ends.erase(ends.begin());
    }
    if (b.size == 0 || b.upper <= b.lower)
      continue;
    auto it = live.lower_bound({offsets[id], -1});
    if (it != live.end() && it->first < offsets[id] + b.size)
      return std::make_pair(it->second, id);
    if (it != live.begin()) {
      auto prev = std::prev(it);
      if (prev->first + buffers[prev->second].size > offsets[id])
        return std::make_pair(prev->second, id);
    }
    live.insert({offsets[id], id});
    ends.emplace(b.upper, id);
  }
  return std::nullopt;
}

std::string ckpt::planner::checkPlan(const std::vector<Buffer> &buffers,
                                     const std::vector<int64_t> &offsets) {
  if (offsets.size() != buffers.size())
    return "the plan has " + std::to_string(offsets.size()) + " offsets for " +
           std::to_string(buffers.size()) + " buffers";
  for (size_t i = 0; i < buffers.size(); ++i)
    if (offsets[i] < 0)
      return "buffer " + std::to_string(i) + " has a negative offset";
  auto conflict = findConflict(buffers, offsets);
  if (!conflict)
    return "";
  auto text = [&](int i) {
    return "buffer " + std::to_string(i) + " [" +
           std::to_string(buffers[i].lower) + ", " +
           std::to_string(buffers[i].upper) + ") at " +
           std::to_string(offsets[i]) + " + " + std::to_string(buffers[i].size);
  };
  return text(conflict->second) + " overlaps " + text(conflict->first);
}

namespace {

/// The lowest offset where `b` fits among `placed` buffers that overlap it
/// in time; with `bestFit`, the gap that leaves the least room instead.
int64_t findOffset(const std::vector<Buffer> &buffers,
                   const std::vector<int64_t> &offsets,
                   const std::vector<int> &placed, int id, bool bestFit) {
  const Buffer &b = buffers[id];
  std::vector<std::pair<int64_t, int64_t>> taken; // (offset, end)
  for (int other : placed)
    if (overlapInTime(b, buffers[other]))
      taken.emplace_back(offsets[other], offsets[other] + buffers[other].size);
  std::sort(taken.begin(), taken.end());
  int64_t cursor = 0, best = -1, bestWaste = INT64_MAX;
  for (auto [start, end] : taken) {
    if (start - cursor >= b.size) {
      if (!bestFit)
        return cursor;
      int64_t waste = start - cursor - b.size;
      if (waste < bestWaste) {
        bestWaste = waste;
        best = cursor;
      }
    }
    cursor = std::max(cursor, end);
  }
  return best >= 0 ? best : cursor;
}

std::vector<int64_t> placeInOrder(const std::vector<Buffer> &buffers,
                                  const std::vector<int> &order, bool bestFit) {
  std::vector<int64_t> offsets(buffers.size(), 0);
  std::vector<int> placed;
  placed.reserve(buffers.size());
  for (int id : order) {
    offsets[id] = findOffset(buffers, offsets, placed, id, bestFit);
    placed.push_back(id);
  }
  return offsets;
}

/// Allocation in time order with best fit among free blocks: a heap
/// simulation, O(n log n), used for large graphs.
std::vector<int64_t> bestFitInTimeOrder(const std::vector<Buffer> &buffers) {
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (buffers[a].lower != buffers[b].lower)
      return buffers[a].lower < buffers[b].lower;
    return buffers[a].size > buffers[b].size;
  });
  std::vector<int64_t> offsets(buffers.size(), 0);
  std::map<int64_t, int64_t> freeByOffset;      // offset -> size
  std::set<std::pair<int64_t, int64_t>> bySize; // (size, offset)
  int64_t top = 0;
  std::multimap<int64_t, int> ends;
  auto addFree = [&](int64_t offset, int64_t size) {
    // Coalesce with the neighbours, and with the top.
    auto next = freeByOffset.lower_bound(offset);
    if (next != freeByOffset.end() && next->first == offset + size) {
      size += next->second;
      bySize.erase({next->second, next->first});
      next = freeByOffset.erase(next);
    }
    if (next != freeByOffset.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        size += prev->second;
        bySize.erase({prev->second, prev->first});
        freeByOffset.erase(prev);
      }
    }
    if (offset + size == top) {
      top = offset;
      return;
    }
    freeByOffset[offset] = size;
    bySize.insert({size, offset});
  };
  for (int id : order) {
    const Buffer &b = buffers[id];
    while (!ends.empty() && ends.begin()->first <= b.lower) {
      int gone = ends.begin()->second;
      addFree(offsets[gone], buffers[gone].size);
      ends.erase(ends.begin());
    }
    auto fit = bySize.lower_bound({b.size, INT64_MIN});
    if (fit != bySize.end()) {
      auto [size, offset] = *fit;
      bySize.erase(fit);
      freeByOffset.erase(offset);
      offsets[id] = offset;
      if (size > b.size) {
        freeByOffset[offset + b.size] = size - b.size;
        bySize.insert({size - b.size, offset + b.size});
      }
    } else {
      // Grow from the top, reusing a free block that ends there.
      int64_t start = top;
      if (!freeByOffset.empty()) {
        auto last = std::prev(freeByOffset.end());
        if (last->first + last->second == top) {
          start = last->first;
          bySize.erase({last->second, last->first});
          freeByOffset.erase(last);
        }
      }
      offsets[id] = start;
      top = start + b.size;
    }
    ends.emplace(b.upper, id);
  }
  return offsets;
}

using Clock = std::chrono::steady_clock;

/// Depth-first search over canonical placements; see searchWithCapacity.
class SkylineSearch {
public:
  SkylineSearch(const std::vector<Buffer> &buffers, int64_t capacity,
                const SearchOptions &options)
      : buffers(buffers), capacity(capacity), options(options),
        deadline(Clock::now() +
                 std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(options.seconds))) {
    std::vector<int64_t> times;
    for (const Buffer &b : buffers) {
      times.push_back(b.lower);
      times.push_back(b.upper);
    }
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    size_t sections = times.empty() ? 0 : times.size() - 1;
    floor.assign(sections, 0);
    load.assign(sections, 0);
    members.assign(sections, {});
    span.resize(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
      int lo = std::lower_bound(times.begin(), times.end(), buffers[i].lower) -
               times.begin();
      int hi = std::lower_bound(times.begin(), times.end(), buffers[i].upper) -
               times.begin();
      span[i] = {lo, hi};
      for (int s = lo; s < hi; ++s) {
        load[s] += buffers[i].size;
        members[s].push_back(static_cast<int>(i));
      }
    }
    // Larger buffers first, then longer ones: they are the hardest to fit.
    for (auto &list : members)
      std::sort(list.begin(), list.end(), [&](int a, int b) {
        // Areas in 128 bits: size × lifetime can pass 2^63.
        __int128 keyA = buffers[a].size, keyB = buffers[b].size;
        if (options.byArea) {
          keyA *= static_cast<__int128>(buffers[a].upper - buffers[a].lower);
          keyB *= static_cast<__int128>(buffers[b].upper - buffers[b].lower);
        }
        if (keyA != keyB)
          return keyA > keyB;
        return a < b;
      });
    placed.assign(buffers.size(), false);
    offsets.assign(buffers.size(), 0);
    remaining = static_cast<int>(buffers.size());
    // A buffer of no bytes fits anywhere: it sits at 0 and adds no load, so
    // the search, which follows the sections' load, never visits it.
    for (size_t i = 0; i < buffers.size(); ++i)
      if (buffers[i].size == 0) {
        placed[i] = true;
        --remaining;
      }
  }

  bool run() {
    for (size_t s = 0; s < floor.size(); ++s)
      if (load[s] > capacity)
        return false;
    return dfs();
  }

  std::vector<int64_t> offsets;
  int64_t nodes = 0;
  bool outOfBudget = false;
  int depth = 0;

private:
  bool budgetLeft() {
    if (options.maxNodes >= 0 && nodes >= options.maxNodes)
      return false;
    if ((nodes & 1023) == 0 && Clock::now() > deadline)
      outOfBudget = true;
    return !outOfBudget;
  }

  /// The search recurses once per placement or raised floor; past this
  /// depth it gives up as if out of budget, so that the stack stays bounded
  /// (a few MB even with AddressSanitizer's larger frames).
  static constexpr int kMaxDepth = 2500;

  bool dfs() {
    if (remaining == 0)
      return true;
    ++nodes;
    if (!budgetLeft() || depth >= kMaxDepth) {
      outOfBudget = true;
      return false;
    }
    struct Deeper {
      int &depth;
      explicit Deeper(int &depth) : depth(depth) { ++depth; }
      ~Deeper() { --depth; }
    } deeper(depth);
    // The lowest floor among sections that still have buffers to place.
    int section = -1;
    for (size_t s = 0; s < floor.size(); ++s)
      if (load[s] > 0 && (section < 0 || floor[s] < floor[section]))
        section = static_cast<int>(s);
    int64_t level = floor[section];

    for (int id : members[section]) {
      if (placed[id])
        continue;
      auto [lo, hi] = span[id];
      // The sections a buffer spans all hold it, so none is below `level`:
      // it sits at `level` only if none is higher.
      bool fits = true;
      for (int s = lo; s < hi && fits; ++s)
        fits = floor[s] == level;
      if (!fits)
        continue;
      // Place it and check every section it raises.
      std::vector<int64_t> saved(floor.begin() + lo, floor.begin() + hi);
      bool feasible = true;
      for (int s = lo; s < hi; ++s) {
        floor[s] = level + buffers[id].size;
        load[s] -= buffers[id].size;
        if (floor[s] + load[s] > capacity)
          feasible = false;
      }
      placed[id] = true;
      offsets[id] = level;
      --remaining;
      if (feasible && dfs())
        return true;
      ++remaining;
      placed[id] = false;
      for (int s = lo; s < hi; ++s) {
        floor[s] = saved[s - lo];
        load[s] += buffers[id].size;
      }
      if (outOfBudget)
        return false;
    }

    // Or leave a gap: raise this section to the next level where something
    // changes, a neighbour's floor or the lowest level at which one of its
    // buffers fits.
    int64_t raise = INT64_MAX;
    for (int s : {section - 1, section + 1})
      if (s >= 0 && s < static_cast<int>(floor.size()) && floor[s] > level)
        raise = std::min(raise, floor[s]);
    for (int id : members[section]) {
      if (placed[id])
        continue;
      int64_t fitsAt = level;
      for (int s = span[id].first; s < span[id].second; ++s)
        fitsAt = std::max(fitsAt, floor[s]);
      if (fitsAt > level)
        raise = std::min(raise, fitsAt);
    }
    if (raise == INT64_MAX || raise + load[section] > capacity)
      return false;
    floor[section] = raise;
    bool found = dfs();
    floor[section] = level;
    return found;
  }

  const std::vector<Buffer> &buffers;
  int64_t capacity;
  SearchOptions options;
  Clock::time_point deadline;
  std::vector<int64_t> floor, load;
  std::vector<std::vector<int>> members;
  std::vector<std::pair<int, int>> span;
  std::vector<bool> placed;
  int remaining = 0;
};

} // namespace

std::vector<int64_t>
ckpt::planner::firstFitInOrder(const std::vector<Buffer> &buffers,
                               const std::vector<int> &order) {
  return placeInOrder(buffers, order, /*bestFit=*/false);
}

std::vector<int64_t>
ckpt::planner::bestFitDecreasing(const std::vector<Buffer> &buffers) {
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (buffers[a].size != buffers[b].size)
      return buffers[a].size > buffers[b].size;
    return buffers[a].upper - buffers[a].lower >
           buffers[b].upper - buffers[b].lower;
  });
  return placeInOrder(buffers, order, /*bestFit=*/true);
}

std::optional<SearchResult>
ckpt::planner::searchWithCapacity(const std::vector<Buffer> &buffers,
                                  int64_t capacity,
                                  const SearchOptions &options) {
  SkylineSearch search(buffers, capacity, options);
  bool found = search.run();
  if (!found)
    return std::nullopt;
  SearchResult result;
  result.offsets = search.offsets;
  result.height = planHeight(buffers, result.offsets);
  result.nodes = search.nodes;
  return result;
}

SearchResult ckpt::planner::planOffsets(const std::vector<Buffer> &buffers,
                                        const SearchOptions &options) {
  auto start = Clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  // Whether the budget allows more work: the clock, or (deterministic)
  // the nodes spent so far.
  // A node costs about one step per time section (two per buffer).
  int64_t spent = 0;
  int64_t nodeBudget = std::max<int64_t>(
      1000, options.totalWork / std::max<int64_t>(1, 2 * buffers.size()));
  auto budgetLeft = [&](double fraction) {
    return options.deterministic ? spent < nodeBudget
                                 : elapsed() < options.seconds * fraction;
  };
  const int64_t load = lowerBound(buffers);
  SearchResult best;
  auto consider = [&](std::vector<int64_t> offsets) {
    int64_t height = planHeight(buffers, offsets);
    if (best.offsets.empty() || height < best.height) {
      best.offsets = std::move(offsets);
      best.height = height;
    }
  };
  consider(bestFitInTimeOrder(buffers));
  // Greedy by size scans every placed buffer for each one it places:
  // n²/2 checks, about 0.1 s at this bound. Past it the heap simulation
  // alone is used, so that planning time grows smoothly with size instead
  // of jumping below a larger bound.
  if (buffers.size() <= kGreedyBySizeLimit)
    consider(bestFitDecreasing(buffers));
  if (best.height <= load ||
      (options.stopAtLowerBound && best.height <= load)) {
    best.provedOptimal = true;
    return best;
  }
  // The search's nodes cost O(sections); past a few thousand buffers the
  // greedy plans (within 0.1% of LOAD on the bundled models) are kept.
  if (buffers.size() > 2000)
    return best;

  // Improvement: the search prunes well at tight capacities and wanders at
  // loose ones. Climb a ladder of capacities from LOAD with short budgets
  // until one succeeds; then retry the rungs below it with more time.
  std::vector<int64_t> ladder;
  for (double f : {1.0, 1.005, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08,
                   1.09, 1.10, 1.12, 1.15})
    ladder.push_back(static_cast<int64_t>(load * f));
  // Budgets in search nodes, not seconds, so that a plan does not depend on
  // the machine's speed (the time limit only guards the total). Each pass
  // climbs from LOAD to the first rung that succeeds, with twice the nodes
  // of the pass before.
  auto attemptRung = [&](size_t k, int64_t nodes) {
    // Two branching orders, larger buffers first or larger areas
    // (size × lifetime) first: instances differ in which finds a plan.
    for (bool byArea : {false, true}) {
      double left = options.seconds * 0.9 - elapsed();
      if (!budgetLeft(0.9) || ladder[k] >= best.height)
        return false;
      SearchOptions attempt = options;
      attempt.byArea = byArea;
      attempt.seconds = options.deterministic ? 1e9 : left;
      attempt.maxNodes =
          options.deterministic ? std::min(nodes, nodeBudget - spent) : nodes;
      if (auto found = searchWithCapacity(buffers, ladder[k], attempt)) {
        consider(found->offsets);
        best.nodes += found->nodes;
        spent += found->nodes;
        if (best.height <= load)
          best.provedOptimal = true;
        return true;
      }
      spent += attempt.maxNodes;
    }
    return false;
  };
  int64_t nodes = 100000;
  for (int pass = 0; pass < 8 && !best.provedOptimal && budgetLeft(0.9);
       ++pass, nodes *= 2)
    for (size_t k = 0; k < ladder.size() && ladder[k] < best.height; ++k)
      if (attemptRung(k, nodes))
        break;
  // Randomised first-fit orders with what remains.
  std::mt19937 rng(12345);
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  for (int orders = 0;
       !best.provedOptimal && buffers.size() <= 2000 &&
       (options.deterministic ? orders < options.firstFitOrders
                              : elapsed() < options.seconds * 0.95);
       ++orders) {
    std::shuffle(order.begin(), order.end(), rng);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return buffers[a].size > buffers[b].size;
    });
    // Swap a few neighbours to leave the pure size order.
    for (size_t k = 0; k + 1 < order.size(); ++k)
      if (rng() % 4 == 0)
        std::swap(order[k], order[k + 1]);
    consider(placeInOrder(buffers, order, /*bestFit=*/true));
    if (best.height <= load)
      best.provedOptimal = true;
  }
  return best;
}

SearchResult ckpt::planner::optimalOffsets(const std::vector<Buffer> &buffers) {
  // First fit in offset order reproduces any gravity-normalised optimum, so
  // the best first-fit plan over all orders is optimal.
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  SearchResult best;
  do {
    std::vector<int64_t> offsets = placeInOrder(buffers, order, false);
    int64_t height = planHeight(buffers, offsets);
    if (best.offsets.empty() || height < best.height) {
      best.offsets = offsets;
      best.height = height;
    }
    ++best.nodes;
  } while (std::next_permutation(order.begin(), order.end()));
  best.provedOptimal = true;
  return best;
}
