//===- CanonicalSearch.cpp - Exact packing at one capacity ----------------===//

#include "CanonicalSearch.h"

#include <algorithm>
#include <numeric>
#include <pthread.h>

using namespace ckpt::planner;
using namespace ckpt::planner::detail;

PackingInstance
ckpt::planner::detail::prepareInstance(const std::vector<Buffer> &buffers) {
  PackingInstance instance;
  instance.numOriginal = static_cast<int>(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].size > 0 && buffers[i].lower < buffers[i].upper) {
      instance.buffers.push_back(buffers[i]);
      instance.original.push_back(static_cast<int>(i));
    }
  const std::vector<Buffer> &list = instance.buffers;
  const int n = static_cast<int>(list.size());

  std::vector<int64_t> times;
  times.reserve(2 * n);
  for (const Buffer &b : list) {
    times.push_back(b.lower);
    times.push_back(b.upper);
  }
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  instance.numSections = times.empty() ? 0 : static_cast<int>(times.size()) - 1;
  instance.members.assign(instance.numSections, {});
  instance.sectionLoad.assign(instance.numSections, 0);
  instance.span.resize(n);
  auto sectionOf = [&](int64_t time) {
    return static_cast<int>(std::lower_bound(times.begin(), times.end(), time) -
                            times.begin());
  };
  for (int i = 0; i < n; ++i) {
    instance.span[i] = {sectionOf(list[i].lower), sectionOf(list[i].upper)};
    for (int s = instance.span[i].first; s < instance.span[i].second; ++s) {
      instance.members[s].push_back(i);
      instance.sectionLoad[s] += list[i].size;
    }
  }
  for (int64_t load : instance.sectionLoad)
    instance.load = std::max(instance.load, load);
  instance.crowd.assign(n, 0);
  for (int i = 0; i < n; ++i)
    for (int s = instance.span[i].first; s < instance.span[i].second; ++s)
      instance.crowd[i] = std::max(instance.crowd[i], instance.sectionLoad[s]);

  // Overlapping pairs by a sweep in start order: every buffer still live
  // when another starts overlaps it.
  instance.overlaps.assign(n, {});
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return list[a].lower != list[b].lower ? list[a].lower < list[b].lower
                                          : a < b;
  });
  std::vector<int> live;
  for (int id : order) {
    size_t kept = 0;
    for (int other : live)
      if (list[other].upper > list[id].lower) {
        live[kept++] = other;
        instance.overlaps[id].push_back(other);
        instance.overlaps[other].push_back(id);
      }
    live.resize(kept);
    live.push_back(id);
  }
  return instance;
}

std::vector<TieBreak> ckpt::planner::detail::tieBreaks() {
  // Each puts first what is hardest to fit late: long-lived buffers, those
  // in the most crowded sections, or large ones.
  using K = TieBreakKey;
  return {{K::Width, K::Area, K::Crowd},
          {K::Crowd, K::Area, K::Width},
          {K::Crowd, K::Width, K::Area}};
}

namespace {

/// An unplaced buffer as the search orders them: lowest offset first, then
/// by the static rank.
struct Entry {
  int64_t offset;
  int rank;
  int id;
  bool operator<(const Entry &other) const {
    if (offset != other.offset)
      return offset < other.offset;
    return rank != other.rank ? rank < other.rank : id < other.id;
  }
};

/// A set of unplaced buffers that shares no section boundary with any other
/// unplaced buffer: an independent problem over sections [lo, hi).
struct Part {
  int lo = 0, hi = 0;
  std::vector<int> ids;
  /// Its unplaced buffers in search order, kept current by placements and
  /// restored exactly by their undoing.
  std::vector<Entry> order;
};

class Search {
public:
  Search(const PackingInstance &instance, int64_t capacity,
         const TieBreak &tieBreak, int64_t maxNodes, Deadline deadline)
      : in(instance), capacity(capacity), tieBreak(tieBreak),
        maxNodes(maxNodes), deadline(deadline) {
    const int n = static_cast<int>(in.buffers.size());
    rank.assign(n, 0);
    maxDepth = 2 * n + 64;
    placed.assign(n, 0);
    minOffset.assign(n, 0);
    floor.assign(in.numSections, 0);
    witness.assign(in.numSections, -1);
    mark.assign(n, 0);
    total = in.sectionLoad;
    cuts.assign(std::max(0, in.numSections - 1), 0);
    for (int i = 0; i < n; ++i)
      for (int b = in.span[i].first; b + 1 < in.span[i].second; ++b)
        ++cuts[b];
    solution.assign(in.numOriginal, 0);
    unplaced = in.members;
    position.resize(n);
    for (int i = 0; i < n; ++i)
      position[i].resize(in.span[i].second - in.span[i].first);
    for (int s = 0; s < in.numSections; ++s)
      for (size_t k = 0; k < unplaced[s].size(); ++k) {
        int id = unplaced[s][k];
        position[id][s - in.span[id].first] = static_cast<int>(k);
      }
  }

  SearchStatus run() {
    if (in.load > capacity)
      return SearchStatus::Exhausted;
    Part all;
    all.lo = 0;
    all.hi = in.numSections;
    all.ids.resize(in.buffers.size());
    std::iota(all.ids.begin(), all.ids.end(), 0);
    rankPiece(all);
    for (int id : all.ids)
      all.order.push_back({0, rank[id], id});
    std::sort(all.order.begin(), all.order.end());
    std::vector<int> bounds = {0};
    for (int b = 0; b + 1 < in.numSections; ++b)
      if (cuts[b] == 0)
        bounds.push_back(b + 1);
    bounds.push_back(in.numSections);
    return solveParts(all, bounds, 0);
  }

  std::vector<int64_t> solution; ///< Offsets of the caller's buffers.
  int64_t nodes = 0;

private:
  /// Solves the pieces of `part` between consecutive `bounds` one after the
  /// other: they share no unplaced buffer, so each stands alone.
  SearchStatus solveParts(const Part &part, const std::vector<int> &bounds,
                          int depth) {
    // Every unplaced buffer lies within one piece: the one its first
    // section falls in.
    std::vector<Part> pieces(bounds.size() - 1);
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      pieces[k].lo = bounds[k];
      pieces[k].hi = bounds[k + 1];
    }
    for (int id : part.ids)
      if (!placed[id]) {
        size_t k =
            std::upper_bound(bounds.begin(), bounds.end(), in.span[id].first) -
            bounds.begin() - 1;
        pieces[k].ids.push_back(id);
      }
    for (Part &piece : pieces) {
      if (piece.ids.empty())
        continue;
      // The piece ranks its buffers afresh; the enclosing search reads
      // their old ranks again once it returns.
      std::vector<int> outerRanks;
      if (fixedRanks()) {
        // The part's order, filtered, is the piece's.
        ++epoch;
        for (int id : piece.ids)
          mark[id] = epoch;
        for (const Entry &e : part.order)
          if (mark[e.id] == epoch)
            piece.order.push_back(e);
      } else {
        for (int id : piece.ids)
          outerRanks.push_back(rank[id]);
        rankPiece(piece);
        for (int id : piece.ids)
          piece.order.push_back({minOffset[id], rank[id], id});
        std::sort(piece.order.begin(), piece.order.end());
      }
      SearchStatus status =
          dfs(piece, /*lastOffset=*/0, /*lastRank=*/-1, depth + 1);
      for (size_t k = 0; k < outerRanks.size(); ++k)
        rank[piece.ids[k]] = outerRanks[k];
      if (status != SearchStatus::Found)
        return status;
      piece.order = {}; // solved: free it before the next piece
    }
    return SearchStatus::Found;
  }

  SearchStatus dfs(Part &part, int64_t lastOffset, int lastRank, int depth) {
    if (nodes >= maxNodes || depth > maxDepth)
      return SearchStatus::OutOfNodes;
    ++nodes;
    if ((nodes & 255) == 0 && std::chrono::steady_clock::now() > deadline)
      return SearchStatus::OutOfTime;
    std::vector<Entry> &order = part.order;
    if (order.empty())
      return SearchStatus::Found;
    // Dominance: no buffer goes at or above the lowest top an unplaced
    // buffer can have; that buffer would fit below it, first.
    int64_t lowestTop = INT64_MAX;
    for (const Entry &e : order)
      lowestTop = std::min(lowestTop, e.offset + in.buffers[e.id].size);

    int64_t admitted = -1;
    // Canonical order: offsets never decrease, equal ones go by rank. The
    // order is changed below and restored exactly, so the next candidate is
    // found again by key.
    size_t k = std::lower_bound(order.begin(), order.end(),
                                Entry{lastOffset, lastRank, -1}) -
               order.begin();
    while (k < order.size() && order[k].offset < lowestTop) {
      const Entry e = order[k];
      // What fails at this offset before any placement fails after every
      // placement at it or above (see admits): no candidate is left.
      if (e.offset != admitted) {
        if (!admits(part, e.offset))
          break;
        admitted = e.offset;
      }
      Trail saved = trailMark();
      bool hatless = true, overflow = false;
      std::vector<int> newCuts;
      place(part, e, hatless, overflow, newCuts);
      SearchStatus status = SearchStatus::Exhausted;
      if (!overflow && fitsAbove(part, e.offset, e.rank)) {
        size_t takenFrom = takenOut.size();
        orderAfterPlacing(part, e, saved);
        if (!splitsWell(part, newCuts)) {
          status = dfs(part, e.offset, e.rank, depth + 1);
        } else {
          std::vector<int> bounds = {part.lo};
          bounds.insert(bounds.end(), newCuts.begin(), newCuts.end());
          bounds.push_back(part.hi);
          status = solveParts(part, bounds, depth + 1);
        }
        orderBeforePlacing(part, e, takenFrom);
      }
      unplace(e, saved);
      if (status != SearchStatus::Exhausted)
        return status;
      // Nothing unplaced overlaps it: its subtree failed for reasons no
      // other choice here changes.
      if (hatless)
        break;
      k = std::upper_bound(order.begin(), order.end(), e) - order.begin();
    }
    return SearchStatus::Exhausted;
  }

  /// Whether to solve the pieces apart after a placement opened `newCuts`.
  /// On large parts only when no piece keeps most of the buffers: each
  /// piece copies its buffers into its own order, and peeling off a few
  /// at a time would copy the part once per placement.
  bool splitsWell(const Part &part, const std::vector<int> &newCuts) const {
    if (newCuts.empty())
      return false;
    if (part.order.size() <= kFreshCrowdLimit)
      return true;
    std::vector<size_t> sizes(newCuts.size() + 1, 0);
    for (const Entry &e : part.order)
      ++sizes[std::upper_bound(newCuts.begin(), newCuts.end(),
                               in.span[e.id].first) -
              newCuts.begin()];
    return 4 * *std::max_element(sizes.begin(), sizes.end()) <=
           3 * part.order.size();
  }

  /// Past this many buffers (training steps, which split into pieces after
  /// nearly every placement) the ranks use the instance's initial loads,
  /// fixed for the whole search, and large parts split only when it pays.
  static constexpr size_t kFreshCrowdLimit = 1000;
  bool fixedRanks() const { return in.buffers.size() > kFreshCrowdLimit; }

  /// Ranks the buffers of a new piece by the tie-break keys, with the
  /// crowding of its sections as it is now (or, past kFreshCrowdLimit, as
  /// it was at the start).
  void rankPiece(const Part &piece) {
    // With the initial loads every key is fixed: the ranks of the whole
    // instance already order any piece.
    if (fixedRanks()) {
      if (staticRank.empty()) {
        Part all;
        all.ids.resize(in.buffers.size());
        std::iota(all.ids.begin(), all.ids.end(), 0);
        rankBy(all, in.crowd);
        staticRank = rank;
      }
      for (int id : piece.ids)
        rank[id] = staticRank[id];
      return;
    }
    // A pass over every section of every buffer of the piece.
    std::vector<int64_t> &crowd = scratch;
    crowd.resize(in.buffers.size());
    for (int id : piece.ids) {
      crowd[id] = 0;
      for (int s = in.span[id].first; s < in.span[id].second; ++s)
        crowd[id] = std::max(crowd[id], total[s]);
    }
    rankBy(piece, crowd);
  }

  /// Ranks the buffers of `piece` by the tie-break keys.
  void rankBy(const Part &piece, const std::vector<int64_t> &crowd) {
    std::vector<int> ids = piece.ids;
    auto width = [&](int id) {
      return in.buffers[id].upper - in.buffers[id].lower;
    };
    // Areas in 128 bits: size × lifetime can pass 2^63.
    auto area = [&](int id) {
      return static_cast<__int128>(in.buffers[id].size) * width(id);
    };
    std::sort(ids.begin(), ids.end(), [&](int a, int b) {
      for (TieBreakKey key : tieBreak) {
        switch (key) {
        case TieBreakKey::Crowd:
          if (crowd[a] != crowd[b])
            return crowd[a] > crowd[b];
          break;
        case TieBreakKey::Width:
          if (width(a) != width(b))
            return width(a) > width(b);
          break;
        case TieBreakKey::Area:
          if (area(a) != area(b))
            return area(a) > area(b);
          break;
        case TieBreakKey::Size:
          if (in.buffers[a].size != in.buffers[b].size)
            return in.buffers[a].size > in.buffers[b].size;
          break;
        }
      }
      return a < b;
    });
    for (size_t k = 0; k < ids.size(); ++k)
      rank[ids[k]] = static_cast<int>(k);
  }

  struct Trail {
    size_t minOffsets, floors;
  };
  Trail trailMark() const { return {raisedIds.size(), savedFloors.size()}; }

  void place(const Part &part, const Entry &entry, bool &hatless,
             bool &overflow, std::vector<int> &newCuts) {
    const int id = entry.id;
    const int64_t offset = entry.offset;
    const int64_t size = in.buffers[id].size;
    const int64_t top = offset + size;
    placed[id] = 1;
    solution[in.original[id]] = offset;
    for (int other : in.overlaps[id]) {
      if (placed[other])
        continue;
      hatless = false;
      int64_t before = minOffset[other];
      if (before >= top)
        continue;
      raisedIds.push_back(other);
      raisedFrom.push_back(before);
      minOffset[other] = top;
      if (top + in.buffers[other].size > capacity)
        overflow = true;
    }
    auto [first, last] = in.span[id];
    savedFloors.insert(savedFloors.end(), floor.begin() + first,
                       floor.begin() + last);
    for (int s = first; s < last; ++s) {
      floor[s] = top;
      total[s] -= size;
      // Out of the section's unplaced list: the last one takes its slot.
      std::vector<int> &list = unplaced[s];
      int slot = position[id][s - first], moved = list.back();
      list[slot] = moved;
      position[moved][s - in.span[moved].first] = slot;
      list.pop_back();
    }
    for (int b = first; b + 1 < last; ++b)
      if (--cuts[b] == 0 && part.lo <= b && b + 1 < part.hi)
        newCuts.push_back(b + 1);
  }

  /// The order after `place`: without the placed buffer, the raised ones
  /// moved. Only done before descending (most placements fail inference).
  /// What it takes out goes to `takenOut`, still sorted, for the undo.
  void orderAfterPlacing(Part &part, const Entry &entry, Trail saved) {
    ++epoch;
    mark[entry.id] = epoch;
    for (size_t k = saved.minOffsets; k < raisedIds.size(); ++k)
      mark[raisedIds[k]] = epoch;
    // Every raised buffer now starts at the placed one's top: they go back
    // in by rank.
    moved.clear();
    const int64_t top = entry.offset + in.buffers[entry.id].size;
    std::vector<Entry> &order = part.order;
    size_t kept = 0;
    for (const Entry &e : order) {
      if (mark[e.id] != epoch) {
        order[kept++] = e;
        continue;
      }
      takenOut.push_back(e);
      if (e.id != entry.id)
        moved.push_back({top, e.rank, e.id});
    }
    order.resize(kept);
    sortByRank(moved);
    mergeIn(order, moved.begin(), moved.end());
  }

  /// Undoes orderAfterPlacing, whose first entry out was `takenOut[from]`.
  void orderBeforePlacing(Part &part, const Entry &entry, size_t from) {
    ++epoch;
    std::vector<Entry> &order = part.order;
    for (size_t k = from; k < takenOut.size(); ++k)
      mark[takenOut[k].id] = epoch;
    size_t kept = 0;
    for (const Entry &e : order)
      if (mark[e.id] != epoch)
        order[kept++] = e;
    order.resize(kept);
    mergeIn(order, takenOut.begin() + from, takenOut.end());
    takenOut.resize(from);
  }

  /// Sorts entries of one offset by rank: a pass over the ranks when there
  /// are many (ranks are below the number of buffers).
  void sortByRank(std::vector<Entry> &entries) {
    if (entries.size() < 256) {
      std::sort(entries.begin(), entries.end());
      return;
    }
    std::vector<int> &byRank = rankSlots;
    byRank.assign(in.buffers.size(), -1);
    for (const Entry &e : entries)
      byRank[e.rank] = e.id;
    int64_t offset = entries.front().offset;
    entries.clear();
    for (size_t r = 0; r < byRank.size(); ++r)
      if (byRank[r] >= 0)
        entries.push_back({offset, static_cast<int>(r), byRank[r]});
  }

  /// Merges sorted entries into the sorted order.
  template <typename Iterator>
  void mergeIn(std::vector<Entry> &order, Iterator first, Iterator last) {
    merged.clear();
    std::merge(order.begin(), order.end(), first, last,
               std::back_inserter(merged));
    order.swap(merged);
  }

  void unplace(const Entry &entry, Trail saved) {
    const int id = entry.id;
    auto [first, last] = in.span[id];
    for (int b = first; b + 1 < last; ++b)
      ++cuts[b];
    for (int s = first; s < last; ++s) {
      total[s] += in.buffers[id].size;
      // Undo the removal exactly (removals and restores nest).
      std::vector<int> &list = unplaced[s];
      int slot = position[id][s - first];
      if (slot == static_cast<int>(list.size())) {
        list.push_back(id);
      } else {
        int moved = list[slot];
        position[moved][s - in.span[moved].first] =
            static_cast<int>(list.size());
        list.push_back(moved);
        list[slot] = id;
      }
    }
    std::copy(savedFloors.begin() + saved.floors, savedFloors.end(),
              floor.begin() + first);
    savedFloors.resize(saved.floors);
    for (size_t k = raisedIds.size(); k-- > saved.minOffsets;)
      minOffset[raisedIds[k]] = raisedFrom[k];
    raisedIds.resize(saved.minOffsets);
    raisedFrom.resize(saved.minOffsets);
    placed[id] = 0;
  }

  /// Whether every section can still hold its unplaced buffers above its
  /// floor and above `offset`. A placement at `offset` or above cannot
  /// mend a section that fails this: in the sections it covers, the floor
  /// rises by exactly the size it takes off the total (so floor + total
  /// becomes offset + total); elsewhere nothing falls.
  bool admits(const Part &part, int64_t offset) const {
    for (int s = part.lo; s < part.hi; ++s)
      if (total[s] > 0 && std::max(offset, floor[s]) + total[s] > capacity)
        return false;
    return true;
  }

  /// Inference: the unplaced buffers of a section go one on top of another,
  /// above its placed ones (`floor`), above `offset` (offsets never
  /// decrease) and above the lowest offset any of them can take. A buffer
  /// that canonical order no longer allows at its lowest offset (below the
  /// last placement, (offset, rank)) must first be raised by a placement,
  /// so it lands above `offset`. The last bound is checked lazily: some
  /// unplaced buffer must be able to start low enough, and the one found
  /// last time usually still can.
  bool fitsAbove(const Part &part, int64_t offset, int lastRank) {
    auto lowestStart = [&](int id) {
      int64_t low = minOffset[id];
      if (low < offset || (low == offset && rank[id] < lastRank))
        return offset + 1;
      return low;
    };
    for (int s = part.lo; s < part.hi; ++s) {
      if (total[s] == 0)
        continue;
      int64_t room = capacity - total[s];
      if (std::max(offset, floor[s]) > room)
        return false;
      int known = witness[s];
      if (known >= 0 && !placed[known] && lowestStart(known) <= room)
        continue;
      auto low = std::find_if(unplaced[s].begin(), unplaced[s].end(),
                              [&](int id) { return lowestStart(id) <= room; });
      if (low == unplaced[s].end())
        return false;
      witness[s] = *low;
    }
    return true;
  }

  const PackingInstance &in;
  int64_t capacity;
  const TieBreak &tieBreak;
  std::vector<int> rank;       ///< Within the piece being started.
  std::vector<int> staticRank; ///< Large instances: one ranking for all.
  std::vector<int64_t> scratch;
  int64_t maxNodes;
  Deadline deadline;
  /// The search recurses once per placement and once per split, so never
  /// deeper than this; searchCanonical sizes the stack for it.
  int maxDepth = 0;
  std::vector<char> placed;
  std::vector<int64_t> minOffset;
  /// Per section: the top of its placed buffers and the total size of its
  /// unplaced ones.
  std::vector<int64_t> floor, total;
  std::vector<int> cuts;
  /// Per section, its unplaced buffers; per buffer, its slot in each of its
  /// sections' lists.
  std::vector<std::vector<int>> unplaced, position;
  /// Undo logs (separate arrays: cheap to append): buffers whose lowest
  /// offset rose and what it was, and the floors a placement covered.
  std::vector<int> raisedIds;
  std::vector<int64_t> raisedFrom, savedFloors;
  std::vector<int> witness; ///< Per section: a buffer that started low.
  /// Scratch of the order's updates, and what they took out (a stack).
  std::vector<Entry> moved, merged, takenOut;
  std::vector<int> rankSlots;
  std::vector<int64_t> mark; ///< Per buffer: marked in `epoch`.
  int64_t epoch = 0;
};

} // namespace

SearchRun ckpt::planner::detail::searchCanonical(
    const PackingInstance &instance, int64_t capacity, const TieBreak &tieBreak,
    int64_t maxNodes, Deadline deadline) {
  Search search(instance, capacity, tieBreak, maxNodes, deadline);
  SearchRun run;
  // The search recurses once per placement: deep on large instances, and
  // frames take a few KiB under AddressSanitizer (a 1,000-buffer plan of
  // the budget solver overflowed 8 MiB). Past a few hundred levels it runs
  // on a thread whose stack is sized for it (reserved, touched only as
  // used).
  const size_t depth = 2 * instance.buffers.size() + 64; // maxDepth
  constexpr size_t kBytesPerLevel = 16384;
  if (depth <= 512) {
    run.status = search.run();
  } else {
    struct Job {
      Search *search;
      SearchStatus status;
    } job{&search, SearchStatus::OutOfNodes};
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes,
                              (size_t(16) << 20) + depth * kBytesPerLevel);
    pthread_t thread;
    auto body = [](void *argument) -> void * {
      Job *job = static_cast<Job *>(argument);
      job->status = job->search->run();
      return nullptr;
    };
    if (pthread_create(&thread, &attributes, body, &job) == 0)
      pthread_join(thread, nullptr);
    else
      job.status = SearchStatus::OutOfNodes; // no thread: decide nothing
    pthread_attr_destroy(&attributes);
    run.status = job.status;
  }
  run.nodes = search.nodes;
  if (run.status == SearchStatus::Found)
    run.offsets = std::move(search.solution);
  return run;
}
