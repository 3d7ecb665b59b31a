//===- OffsetAssignment.cpp - Buffers in one arena ------------------------===//

#include "ckpt/Planner/OffsetAssignment.h"
#include "ckpt/Planner/ExactPacking.h"

#include <algorithm>
#include <cstdio>
#include <list>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
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

/// The placed buffers, so that a buffer's neighbours in time are found
/// without scanning every placed buffer, in the order of their offsets.
/// Those that live a few windows or less (temporaries, and the saved
/// activations of one micro-batch of a long pipeline schedule) are listed in
/// the windows of time their lives touch; the long-lived ones, in one list
/// that every query scans. Every list is kept
/// sorted by (offset, end), so that a short buffer's neighbours come in
/// offset order by merging its window lists with the long-lived one; a long
/// buffer's are sorted, and one that spans most of the timeline scans a list
/// of every placed buffer, which costs less than sorting nearly all of them
/// for each of the many saved activations of a deep model. The neighbours
/// found, and so every plan, are the same as a scan of all placed buffers
/// would find.
class PlacedByTime {
public:
  /// The windows a timeline is cut into.
  static constexpr int64_t kWindows = 256;
  /// A buffer that lives this many windows or fewer is listed in each; a
  /// longer one in the long-lived list, which every query scans.
  static constexpr int64_t kListedWindows = 32;

  PlacedByTime(const std::vector<Buffer> &buffers,
               const std::vector<int64_t> &offsets)
      : buffers(buffers), offsets(offsets), seen(buffers.size(), 0) {
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (const Buffer &b : buffers) {
      first = std::min(first, b.lower);
      last = std::max(last, b.upper);
    }
    origin = buffers.empty() ? 0 : first;
    int64_t span = buffers.empty() ? 1 : std::max<int64_t>(1, last - first);
    width = std::max<int64_t>(1, span / kWindows);
    windows.resize(static_cast<size_t>(span / width + 1));
  }

  /// Records buffer `id`, placed at its offset.
  void add(int id) {
    const Buffer &b = buffers[id];
    insertSorted(all, id);
    if (b.upper - b.lower > width * kListedWindows) {
      insertSorted(longLived, id);
      return;
    }
    for (size_t w = window(b.lower); w <= lastWindow(b); ++w)
      insertSorted(windows[w], id);
  }

  /// Calls `fn(offset, end)` for each placed buffer live at some time with
  /// `id`, in increasing (offset, end), until `fn` returns false.
  template <typename Fn> void forEachOverlappingByOffset(int id, Fn fn) {
    const Buffer &b = buffers[id];
    ++stamp;
    auto overlaps = [&](int other) {
      return seen[other] != stamp && overlapInTime(b, buffers[other]);
    };
    if (spansMany(b)) {
      // Most of the timeline: every placed buffer in offset order, those
      // that overlap it in time.
      for (int other : all)
        if (overlapInTime(b, buffers[other]) &&
            !fn(offsets[other], endOf(other)))
          return;
      return;
    }
    if (isLong(b)) {
      // Many windows: their buffers gathered and sorted, then merged with
      // the long-lived list, sorted already.
      taken.clear();
      for (size_t w = window(b.lower); w <= lastWindow(b); ++w)
        for (int other : windows[w])
          if (overlaps(other)) {
            seen[other] = stamp;
            taken.emplace_back(offsets[other], endOf(other));
          }
      std::sort(taken.begin(), taken.end());
      size_t next = 0;
      for (int other : longLived) {
        if (!overlapInTime(b, buffers[other]))
          continue;
        std::pair<int64_t, int64_t> key{offsets[other], endOf(other)};
        for (; next < taken.size() && taken[next] < key; ++next)
          if (!fn(taken[next].first, taken[next].second))
            return;
        if (!fn(key.first, key.second))
          return;
      }
      for (; next < taken.size(); ++next)
        if (!fn(taken[next].first, taken[next].second))
          return;
      return;
    }
    // At most two windows and the long-lived list, each sorted: merged.
    const std::vector<int> *lists[3] = {&longLived, &windows[window(b.lower)],
                                        nullptr};
    if (lastWindow(b) != window(b.lower))
      lists[2] = &windows[lastWindow(b)];
    size_t at[3] = {0, 0, 0};
    while (true) {
      int best = -1;
      std::pair<int64_t, int64_t> key;
      for (int l = 0; l < 3; ++l) {
        if (!lists[l])
          continue;
        const std::vector<int> &list = *lists[l];
        while (at[l] < list.size() && !overlaps(list[at[l]]))
          ++at[l];
        if (at[l] == list.size())
          continue;
        int other = list[at[l]];
        std::pair<int64_t, int64_t> candidate{offsets[other], endOf(other)};
        if (best < 0 || candidate < key) {
          best = l;
          key = candidate;
        }
      }
      if (best < 0)
        return;
      seen[(*lists[best])[at[best]]] = stamp;
      ++at[best];
      if (!fn(key.first, key.second))
        return;
    }
  }

private:
  bool isLong(const Buffer &b) const { return b.upper - b.lower > width; }
  /// Sorting what its windows hold would cost more than a scan of all.
  bool spansMany(const Buffer &b) const {
    return b.upper - b.lower > width * (kWindows / 64);
  }
  int64_t endOf(int id) const { return offsets[id] + buffers[id].size; }
  void insertSorted(std::vector<int> &list, int id) {
    std::pair<int64_t, int64_t> key{offsets[id], endOf(id)};
    auto it = std::upper_bound(
        list.begin(), list.end(), key,
        [&](const std::pair<int64_t, int64_t> &k, int other) {
          return k < std::make_pair(offsets[other], endOf(other));
        });
    list.insert(it, id);
  }
  size_t window(int64_t time) const {
    return std::min(
        windows.size() - 1,
        static_cast<size_t>(std::max<int64_t>(0, time - origin) / width));
  }
  /// The window of the buffer's last live step.
  size_t lastWindow(const Buffer &b) const {
    return window(std::max(b.lower, b.upper - 1));
  }

  const std::vector<Buffer> &buffers;
  const std::vector<int64_t> &offsets;
  std::vector<std::vector<int>> windows;
  std::vector<int> longLived;
  std::vector<int> all; ///< Every placed buffer.
  std::vector<uint32_t> seen;
  std::vector<std::pair<int64_t, int64_t>> taken;
  uint32_t stamp = 0;
  int64_t origin = 0, width = 1;
};

/// The lowest offset where `b` fits among the placed buffers that overlap
/// it in time; with `bestFit`, the gap that leaves the least room instead.
int64_t findOffset(const std::vector<Buffer> &buffers, PlacedByTime &placed,
                   int id, bool bestFit) {
  const Buffer &b = buffers[id];
  int64_t cursor = 0, best = -1, bestWaste = INT64_MAX;
  bool found = false;
  placed.forEachOverlappingByOffset(id, [&](int64_t start, int64_t end) {
    if (start - cursor >= b.size) {
      if (!bestFit) {
        found = true;
        return false;
      }
      int64_t waste = start - cursor - b.size;
      if (waste < bestWaste) {
        bestWaste = waste;
        best = cursor;
      }
    }
    cursor = std::max(cursor, end);
    return true;
  });
  if (found)
    return cursor;
  return best >= 0 ? best : cursor;
}

/// Places `order`'s buffers one by one around those already `placed`.
void placeAround(const std::vector<Buffer> &buffers,
                 const std::vector<int> &order, bool bestFit,
                 std::vector<int64_t> &offsets, PlacedByTime &placed) {
  for (int id : order) {
    offsets[id] = findOffset(buffers, placed, id, bestFit);
    placed.add(id);
  }
}

std::vector<int64_t> placeInOrder(const std::vector<Buffer> &buffers,
                                  const std::vector<int> &order, bool bestFit) {
  std::vector<int64_t> offsets(buffers.size(), 0);
  PlacedByTime placed(buffers, offsets);
  placeAround(buffers, order, bestFit, offsets, placed);
  return offsets;
}

} // namespace

std::vector<int64_t>
ckpt::planner::slottedPacking(const std::vector<Buffer> &buffers) {
  // Each group as a unit: its members in the order they start, its span of
  // time and its total size.
  struct Unit {
    int64_t lower = INT64_MAX, upper = INT64_MIN, size = 0;
    std::vector<int> members;
  };
  std::map<int, Unit> byGroup;
  for (size_t id = 0; id < buffers.size(); ++id) {
    const Buffer &b = buffers[id];
    if (b.group < 0)
      continue;
    Unit &unit = byGroup[b.group];
    unit.lower = std::min(unit.lower, b.lower);
    unit.upper = std::max(unit.upper, b.upper);
    unit.size += b.size;
    unit.members.push_back(static_cast<int>(id));
  }
  if (byGroup.empty())
    return {};
  std::vector<Unit *> units;
  for (auto &[group, unit] : byGroup) {
    std::stable_sort(
        unit.members.begin(), unit.members.end(),
        [&](int a, int b) { return buffers[a].lower < buffers[b].lower; });
    units.push_back(&unit);
  }
  std::stable_sort(
      units.begin(), units.end(),
      [](const Unit *a, const Unit *b) { return a->lower < b->lower; });
  // Interval colouring in start order: a unit takes the lowest slot no live
  // unit holds.
  std::vector<int64_t> slotSize, slotFree; // slotFree: when it frees
  std::vector<int> slotOf(units.size());
  for (size_t u = 0; u < units.size(); ++u) {
    size_t slot = 0;
    while (slot < slotFree.size() && slotFree[slot] > units[u]->lower)
      ++slot;
    if (slot == slotFree.size()) {
      slotFree.push_back(0);
      slotSize.push_back(0);
    }
    slotFree[slot] = units[u]->upper;
    slotSize[slot] = std::max(slotSize[slot], units[u]->size);
    slotOf[u] = static_cast<int>(slot);
  }
  std::vector<int64_t> base(slotSize.size(), 0);
  for (size_t slot = 1; slot < slotSize.size(); ++slot)
    base[slot] = base[slot - 1] + slotSize[slot - 1];
  std::vector<int64_t> offsets(buffers.size(), 0);
  PlacedByTime placed(buffers, offsets);
  for (size_t u = 0; u < units.size(); ++u) {
    int64_t cursor = base[slotOf[u]];
    for (int id : units[u]->members) {
      offsets[id] = cursor;
      cursor += buffers[id].size;
      placed.add(id);
    }
  }
  // The rest around them, first fit by decreasing size: a large temporary
  // (a replicated embedding's gradient) takes the slot a finished
  // micro-batch left before small ones split it.
  std::vector<int> rest;
  for (size_t id = 0; id < buffers.size(); ++id)
    if (buffers[id].group < 0)
      rest.push_back(static_cast<int>(id));
  std::stable_sort(rest.begin(), rest.end(), [&](int a, int b) {
    if (buffers[a].size != buffers[b].size)
      return buffers[a].size > buffers[b].size;
    return buffers[a].lower < buffers[b].lower;
  });
  placeAround(buffers, rest, /*bestFit=*/false, offsets, placed);
  return offsets;
}

std::vector<int64_t>
ckpt::planner::bestFitInTimeOrder(const std::vector<Buffer> &buffers) {
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

namespace {
/// Buffers by decreasing size, longer lives first among equals.
std::vector<int> bySizeDecreasing(const std::vector<Buffer> &buffers) {
  std::vector<int> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (buffers[a].size != buffers[b].size)
      return buffers[a].size > buffers[b].size;
    return buffers[a].upper - buffers[a].lower >
           buffers[b].upper - buffers[b].lower;
  });
  return order;
}
} // namespace

std::vector<int64_t>
ckpt::planner::bestFitDecreasing(const std::vector<Buffer> &buffers) {
  return placeInOrder(buffers, bySizeDecreasing(buffers), /*bestFit=*/true);
}

std::vector<int64_t>
ckpt::planner::firstFitDecreasing(const std::vector<Buffer> &buffers) {
  return placeInOrder(buffers, bySizeDecreasing(buffers), /*bestFit=*/false);
}

std::vector<GreedyPacking>
ckpt::planner::greedyPackings(const std::vector<Buffer> &buffers) {
  std::vector<GreedyPacking> packings;
  auto add = [&](std::string name, std::vector<int64_t> offsets) {
    int64_t height = planHeight(buffers, offsets);
    packings.push_back({std::move(name), std::move(offsets), height});
  };
  // Greedy by size checks the long-lived placed buffers for each one it
  // places (quadratic when most live long; about 0.1 s at the limit); past
  // it only the heap simulation runs, so planning time grows smoothly with
  // size.
  if (buffers.size() <= kGreedyBySizeLimit) {
    add("best fit by size", bestFitDecreasing(buffers));
    add("first fit by size", firstFitDecreasing(buffers));
  }
  add("best fit in time order", bestFitInTimeOrder(buffers));
  if (std::any_of(buffers.begin(), buffers.end(),
                  [](const Buffer &b) { return b.group >= 0; }))
    add("slotted", slottedPacking(buffers));
  std::stable_sort(packings.begin(), packings.end(),
                   [](const GreedyPacking &a, const GreedyPacking &b) {
                     return a.height < b.height;
                   });
  return packings;
}

namespace {

/// planOffsets without its memory.
SearchResult planOffsetsOnce(const std::vector<Buffer> &buffers,
                             const SearchOptions &options) {
  SearchResult result;
  result.lowerBound = lowerBound(buffers);
  // The exact search needs every section's buffers and every overlapping
  // pair, and one descent places every buffer at a cost of about one step
  // per buffer and per section; the budget in steps must cover that and
  // gives the rest to search nodes.
  int64_t memberships = 0, pairs = 0, sections = 0;
  {
    std::vector<std::pair<int64_t, int>> events;
    for (const Buffer &b : buffers)
      if (b.size > 0 && b.lower < b.upper) {
        events.push_back({b.lower, 1});
        events.push_back({b.upper, -1});
      }
    std::sort(events.begin(), events.end());
    int64_t live = 0;
    for (size_t k = 0; k < events.size(); ++k) {
      if (events[k].second > 0)
        pairs += live;
      live += events[k].second;
      if (k + 1 < events.size() && events[k + 1].first != events[k].first) {
        memberships += live;
        ++sections;
      }
    }
  }
  const int64_t n = static_cast<int64_t>(buffers.size());
  const int64_t perNode = std::max<int64_t>(1, n + sections);
  const int64_t descent = memberships + pairs + n * perNode;
  ExactOptions exact;
  exact.guardSeconds = options.seconds;
  exact.nodes = descent > options.work
                    ? 0
                    : (options.work - memberships - pairs) / perNode;
  HeightResult found = minimizeHeight(buffers, exact);
  result.offsets = std::move(found.offsets);
  result.height = found.height;
  result.provenLowerBound = found.provenLowerBound;
  result.provedOptimal = found.optimal();
  result.nodes = found.nodes;
  if (result.height > result.lowerBound) {
    char gap[32];
    std::snprintf(gap, sizeof(gap), "%.4f",
                  static_cast<double>(result.height) / result.lowerBound);
    std::string text = "the arena is " +
                       std::to_string(result.height - result.lowerBound) +
                       " bytes (" + gap + "x) above the lower bound: ";
    if (result.provedOptimal)
      text += "no packing is lower (proved by exhausting the search)";
    else if (options.work == 0)
      text += "the exact search is off";
    else if (exact.nodes == 0)
      text += "one descent of the exact search would take about " +
              std::to_string(descent) + " steps, over its budget of " +
              std::to_string(options.work) + " (plan-search-work=)";
    else
      text += "the exact search spent its budget (" +
              std::to_string(result.nodes) + " nodes)" +
              (result.provenLowerBound > result.lowerBound
                   ? ", proving no packing below " +
                         std::to_string(result.provenLowerBound) + " bytes"
                   : std::string()) +
              (found.stoppedByClock ? ", stopped by its time guard" : "");
    result.note = text;
  }
  return result;
}

/// planOffsets' last answers. A compile plans the same buffers more than
/// once: the budget solver judges its answer on a pipeline stage's own
/// schedule, and the compile then plans the step it rewrote, whose buffers
/// are the same; at 64 micro-batches that planning is a sixth of the
/// compile.
class RecentPlans {
public:
  std::optional<SearchResult> find(const std::vector<Buffer> &buffers,
                                   const SearchOptions &options, uint64_t key) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = entries.begin(); it != entries.end(); ++it)
      if (it->key == key && it->work == options.work &&
          it->seconds == options.seconds && it->buffers == buffers) {
        entries.splice(entries.begin(), entries, it); // Most recent first.
        return it->result;
      }
    return std::nullopt;
  }

  void add(const std::vector<Buffer> &buffers, const SearchOptions &options,
           uint64_t key, const SearchResult &result) {
    std::lock_guard<std::mutex> lock(mutex);
    entries.push_front({key, options.work, options.seconds, buffers, result});
    if (entries.size() > kEntries)
      entries.pop_back();
  }

private:
  static constexpr size_t kEntries = 4;
  struct Entry {
    uint64_t key;
    int64_t work;
    double seconds;
    std::vector<Buffer> buffers;
    SearchResult result;
  };
  std::mutex mutex;
  std::list<Entry> entries;
};

/// A hash of the buffers (a splitmix64 step per field), which settles most
/// lookups before the buffers are compared.
uint64_t hashBuffers(const std::vector<Buffer> &buffers) {
  auto mix = [](uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    return h;
  };
  uint64_t h = buffers.size();
  for (const Buffer &b : buffers) {
    h = mix(h, static_cast<uint64_t>(b.lower));
    h = mix(h, static_cast<uint64_t>(b.upper));
    h = mix(h, static_cast<uint64_t>(b.size));
    h = mix(h, static_cast<uint64_t>(b.group));
  }
  return h;
}

} // namespace

SearchResult ckpt::planner::planOffsets(const std::vector<Buffer> &buffers,
                                        const SearchOptions &options) {
  // Small instances plan faster than they are compared and copied.
  constexpr size_t kRemembered = 4096;
  if (buffers.size() < kRemembered)
    return planOffsetsOnce(buffers, options);
  static RecentPlans recent;
  uint64_t key = hashBuffers(buffers);
  if (std::optional<SearchResult> known = recent.find(buffers, options, key))
    return std::move(*known);
  SearchResult result = planOffsetsOnce(buffers, options);
  recent.add(buffers, options, key, result);
  return result;
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
