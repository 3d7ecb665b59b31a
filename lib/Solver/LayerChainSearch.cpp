//===- LayerChainSearch.cpp - The cheapest choice per layer under a cap ---===//
//
// The budget solver's dynamic program over the layer chain (cheapestWithin)
// and its feasibility check (fitsWithin): each layer's frontier of choices,
// and the chains of layers recomputed as one, combined under the peak
// estimate's cap. BudgetPolicy.cpp judges what they pick with the planner.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Solver/BudgetPolicy.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <climits>
#include <map>
#include <optional>
#include <tuple>

using namespace ckpt;

namespace {

/// A chain placed on the layer chain: the positions it covers, and the
/// estimate's segment at its backward (its region rebuilds all its layers
/// at the top one's backward: the largest segment of its layers bounds it).
struct PlacedChain {
  size_t first, last;
  const LayerModel *chain;
  int64_t segment;
};

/// The chains that lie within `models`, by the position of their first
/// layer.
std::vector<PlacedChain> placeChains(const std::vector<LayerModel> &models,
                                     const PeakEstimate &calibration,
                                     const std::vector<LayerModel> &chains) {
  std::map<int64_t, size_t> positionOf;
  for (auto [position, model] : llvm::enumerate(models))
    positionOf[model.layer] = position;
  std::vector<PlacedChain> placed;
  for (const LayerModel &chain : chains) {
    auto it = positionOf.find(chain.layer);
    if (it == positionOf.end() || it->second + chain.span > models.size())
      continue;
    PlacedChain one{it->second, it->second + chain.span - 1, &chain, INT64_MIN};
    for (size_t l = one.first; l <= one.last; ++l)
      one.segment = std::max(one.segment, calibration.segment[l]);
    placed.push_back(one);
  }
  return placed;
}

/// A layer's choices that can win a bucket from a state, by how much
/// backward peak the state leaves room for. From one state two fitting
/// choices land at kept bytes and cost in the same order, and the DP keeps
/// per bucket the cheapest (a state above a cheaper one is pruned), so a
/// choice that keeps no fewer bytes for no less cost than another that
/// fits never wins: only each room's staircase of kept bytes against cost
/// is offered, and of the steps that land in one bucket only the last
/// (the cheapest).
struct ChoiceStaircases {
  /// The staircases of `frontier`'s choices, for buckets `width` wide.
  ChoiceStaircases(const std::vector<LayerChoice> &frontier, int64_t width)
      : width(width) {
    for (const LayerChoice &choice : frontier) {
      kept.push_back(choice.keptBytes);
      remainder.push_back(choice.keptBytes % width);
    }
    std::vector<uint32_t> byPeak(frontier.size());
    for (uint32_t i = 0; i < byPeak.size(); ++i)
      byPeak[i] = i;
    std::stable_sort(byPeak.begin(), byPeak.end(), [&](uint32_t a, uint32_t b) {
      return frontier[a].internalPeak < frontier[b].internalPeak;
    });
    // The choices that fit, in increasing kept bytes, then cost; among
    // equal kept bytes and cost the first in frontier order, which the full
    // loop would offer first and so keep.
    std::vector<uint32_t> order;
    auto before = [&](uint32_t a, uint32_t b) {
      return std::make_tuple(frontier[a].keptBytes, frontier[a].cost, a) <
             std::make_tuple(frontier[b].keptBytes, frontier[b].cost, b);
    };
    for (uint32_t index : byPeak) {
      peaks.push_back(frontier[index].internalPeak);
      order.insert(std::upper_bound(order.begin(), order.end(), index, before),
                   index);
      Staircase stairs;
      for (uint32_t i : order)
        if (stairs.steps.empty() ||
            frontier[i].cost < frontier[stairs.steps.back()].cost) {
          if (stairs.steps.empty() ||
              frontier[i].keptBytes / width !=
                  frontier[stairs.steps.back()].keptBytes / width) {
            stairs.groups.push_back(stairs.steps.size());
            stairs.quotients.push_back(frontier[i].keptBytes / width);
          }
          stairs.steps.push_back(i);
        }
      stairs.groups.push_back(stairs.steps.size());
      byRoom.push_back(std::move(stairs));
    }
  }

  /// Calls `offer(choice, bucket)` for the choices that fit a state of
  /// kept bytes `below` (>= 0; every choice keeps >= 0) whose backward
  /// peak leaves `room` and whose kept bytes `keptRoom`, and are the last
  /// step of their staircase to land in their bucket. The steps whose kept
  /// bytes have one quotient by the width (a group) land in at most two
  /// buckets: with or without a carry of the state's remainder. (The
  /// buckets come from the quotients: most of the work is offers, and a
  /// division costs more than the rest of one.)
  template <typename Offer>
  void lastPerBucket(int64_t room, int64_t keptRoom, int64_t below,
                     Offer offer) const {
    size_t fitting =
        std::upper_bound(peaks.begin(), peaks.end(), room) - peaks.begin();
    if (fitting == 0)
      return;
    const Staircase &stairs = byRoom[fitting - 1];
    size_t end =
        std::partition_point(stairs.steps.begin(), stairs.steps.end(),
                             [&](uint32_t i) { return kept[i] <= keptRoom; }) -
        stairs.steps.begin();
    int64_t quotient = below / width;
    int64_t carryFrom = width - (below - quotient * width); // These carry.
    for (size_t g = 0; g + 1 < stairs.groups.size(); ++g) {
      size_t begin = stairs.groups[g];
      if (begin >= end)
        break;
      size_t groupEnd = std::min(stairs.groups[g + 1], end);
      size_t carried =
          std::partition_point(
              stairs.steps.begin() + begin, stairs.steps.begin() + groupEnd,
              [&](uint32_t i) { return remainder[i] < carryFrom; }) -
          stairs.steps.begin();
      size_t bucket = static_cast<size_t>(quotient + stairs.quotients[g]);
      if (carried > begin)
        offer(stairs.steps[carried - 1], bucket);
      if (carried < groupEnd)
        offer(stairs.steps[groupEnd - 1], bucket + 1);
    }
  }

private:
  struct Staircase {
    /// Frontier indices in increasing kept bytes (and decreasing cost).
    std::vector<uint32_t> steps;
    /// Where each run of one quotient of kept bytes by the width starts,
    /// and the end; and each run's quotient.
    std::vector<size_t> groups;
    std::vector<int64_t> quotients;
  };

  int64_t width;
  /// Each choice's kept bytes, and their remainder by the width (apart from
  /// the frontier: the searches read these only, without dividing).
  std::vector<int64_t> kept, remainder;
  /// The choices' backward peaks, in increasing order.
  std::vector<int64_t> peaks;
  /// byRoom[k]: the staircase of the k + 1 choices of lowest peak.
  std::vector<Staircase> byRoom;
};

/// cheapestWithin, with other micro-batches in flight or not (a template
/// so the deep models' case, without, pays nothing for them).
///
/// A state: the kept bytes of the layers so far (`below`), the largest peak
/// of their backwards without the other micro-batches in flight (`need`),
/// and the cost. Without other micro-batches in flight each layer's peak is
/// checked when the layer is chosen and `need` plays no part. With them,
/// every peak grows with the final kept bytes T, known only at the end:
/// `need` carries the largest, checked against what the others hold once T
/// is known (and against what they hold at least, T >= below, as it
/// grows). States are bucketed by their kept bytes (and need), 1/2048 of
/// the cap wide, the cheapest kept per bucket (which bounds the work on
/// deep models; the feasibility of every state is still checked exactly).
template <bool inFlight> class CheapestPicks {
public:
  CheapestPicks(const std::vector<LayerModel> &models,
                const PeakEstimate &calibration, int64_t cap,
                const std::vector<LayerModel> &chains, bool everyChoice)
      : models(models), calibration(calibration), cap(cap),
        everyChoice(everyChoice), width(std::max<int64_t>(1, cap / 2048)),
        buckets(bucketOf(cap) + 2), needBuckets(inFlight ? buckets : 1),
        endingAt(models.size()), table(inFlight ? 0 : buckets),
        tableCost(table.size()), tableBelow(table.size()),
        cheapestUpTo(needBuckets + 1) {
    for (const PlacedChain &placed : placeChains(models, calibration, chains))
      endingAt[placed.last].push_back(placed);
  }

  std::optional<std::vector<LayerPick>> run() {
    if (cap < 0)
      return std::nullopt; // Device memory below the persistent state.
    levels = {{{0, 0, 0, -1, -1, nullptr, 0}}};
    for (size_t layer = 0; layer < models.size(); ++layer) {
      offered.clear();
      cellOf.clear();
      std::fill(tableCost.begin(), tableCost.end(), INT64_MAX);
      offer(layer, models[layer], calibration.segment[layer]);
      for (const PlacedChain &placed : endingAt[layer])
        offer(placed.first, *placed.chain, placed.segment);
      levels.push_back(inFlight ? keptWithNeed() : keptByBelow());
    }
    // Every state that reached the end was checked with its final T.
    const State *best = nullptr;
    for (const State &state : levels.back())
      if (!best || state.cost < best->cost)
        best = &state;
    if (!best)
      return std::nullopt;
    return picksTo(*best);
  }

private:
  struct State {
    int64_t below, need, cost;
    int parentLevel, parent;
    const LayerModel *model;
    uint32_t choice;
  };

  size_t bucketOf(int64_t bytes) const {
    return static_cast<size_t>(std::max<int64_t>(bytes, 0) / width);
  }
  /// A need past the cap fits where the others in flight hold negative
  /// bytes (a choice that shards more than it keeps): such needs share the
  /// last bucket, which keeps the pairs' keys and the Fenwick tree in
  /// range.
  size_t needBucketOf(int64_t bytes) const {
    return std::min(bucketOf(bytes), needBuckets - 1);
  }

  /// The staircases of `model`'s choices, shared by its structure; null
  /// where every choice is offered (with need, on request, or where a
  /// choice keeps negative bytes: the staircases assume kept bytes >= 0).
  const ChoiceStaircases *staircasesFor(const LayerModel &model) {
    if (inFlight || everyChoice || model.frontier.size() <= 1 ||
        llvm::any_of(model.frontier, [](const LayerChoice &choice) {
          return choice.keptBytes < 0;
        }))
      return nullptr;
    auto it = staircasesOf.find(model.structure);
    if (it == staircasesOf.end() || model.structure < 0)
      it = staircasesOf
               .insert_or_assign(model.structure,
                                 ChoiceStaircases(model.frontier, width))
               .first;
    return &it->second;
  }

  /// Offers `model`'s choices to the states after the first `level`
  /// layers, its backward at the estimate's `segment`. (The hot loop: the
  /// fields it reads are copied to locals, which the stores into the table
  /// cannot alias.)
  void offer(size_t level, const LayerModel &model, int64_t segment) {
    const int64_t cap = this->cap, head = calibration.head;
    // Without `need` the states come in increasing kept bytes, one per
    // bucket: past the most any choice leaves room for, none fits.
    int64_t room = INT64_MIN;
    for (const LayerChoice &point : model.frontier)
      room = std::max(room, std::min(cap - segment - point.internalPeak,
                                     cap - head - point.keptBytes));
    const ChoiceStaircases *stairs = staircasesFor(model);
    int64_t *costs = tableCost.data(), *belows = tableBelow.data();
    State *states = table.data();
    const int64_t width = this->width;
    for (auto [index, state] : llvm::enumerate(levels[level])) {
      if (!inFlight && state.below > room)
        break;
      // `bucket`: that of the offer's kept bytes, where the caller knows.
      auto tryChoice = [&](uint32_t choice, size_t bucket = SIZE_MAX) {
        const LayerChoice &point = model.frontier[choice];
        int64_t below = state.below + point.keptBytes;
        int64_t need = segment + state.below + point.internalPeak;
        // Kept bytes only grow: a state past a limit is dead.
        int64_t others = 0;
        if constexpr (inFlight) {
          need = std::max(need, state.need);
          others = calibration.othersInFlight(below);
        }
        if (need + others > cap || head + below + others > cap)
          return;
        int64_t cost = state.cost + point.cost;
        auto next = [&] {
          return State{below,
                       inFlight ? need : 0,
                       cost,
                       static_cast<int>(level),
                       static_cast<int>(index),
                       &model,
                       choice};
        };
        if constexpr (inFlight) {
          keepPerCell(next());
        } else {
          // The cheapest per bucket, then the fewest kept bytes. (The
          // table's costs and kept bytes lie apart from its states: most
          // offers lose, and they read these only, small enough for the L1
          // cache.)
          if (bucket == SIZE_MAX)
            bucket = static_cast<size_t>(std::max<int64_t>(below, 0) / width);
          if (cost < costs[bucket] ||
              (cost == costs[bucket] && below < belows[bucket])) {
            costs[bucket] = cost;
            belows[bucket] = below;
            states[bucket] = next();
          }
        }
      };
      if (!stairs || state.below < 0) {
        for (uint32_t choice = 0; choice < model.frontier.size(); ++choice)
          tryChoice(choice);
        continue;
      }
      stairs->lastPerBucket(cap - segment - state.below,
                            cap - head - state.below, state.below, tryChoice);
    }
  }

  /// With need: the cheapest per bucket of both (then the fewest kept
  /// bytes, the least need; on a tie the first offered).
  void keepPerCell(const State &next) {
    uint64_t key =
        uint64_t(bucketOf(next.below)) * needBuckets + needBucketOf(next.need);
    auto [it, inserted] =
        cellOf.try_emplace(key, static_cast<uint32_t>(offered.size()));
    if (inserted) {
      offered.push_back(next);
      return;
    }
    State &held = offered[it->second];
    if (std::tie(next.cost, next.below, next.need) <
        std::tie(held.cost, held.below, held.need))
      held = next;
  }

  /// Without need: only the states no other beats on both kept bytes and
  /// cost, in bucket order.
  std::vector<State> keptByBelow() const {
    std::vector<State> kept;
    for (size_t bucket = 0; bucket < table.size(); ++bucket)
      if (tableCost[bucket] != INT64_MAX &&
          (kept.empty() || table[bucket].cost < kept.back().cost))
        kept.push_back(table[bucket]);
    return kept;
  }

  /// With need: of the cheapest per pair of buckets, only the states no
  /// other beats on kept bytes, need and cost at once. In bucket order, a
  /// state is kept when it is cheaper than every kept one with no more need
  /// (a prefix minimum over the need buckets, as a Fenwick tree).
  std::vector<State> keptWithNeed() {
    std::sort(offered.begin(), offered.end(),
              [&](const State &a, const State &b) {
                return std::make_pair(bucketOf(a.below), needBucketOf(a.need)) <
                       std::make_pair(bucketOf(b.below), needBucketOf(b.need));
              });
    std::fill(cheapestUpTo.begin(), cheapestUpTo.end(), INT64_MAX);
    std::vector<State> kept;
    for (const State &state : offered) {
      size_t needBucket = needBucketOf(state.need);
      int64_t cheapest = INT64_MAX;
      for (size_t at = needBucket + 1; at > 0; at -= at & (~at + 1))
        cheapest = std::min(cheapest, cheapestUpTo[at]);
      if (cheapest <= state.cost)
        continue;
      kept.push_back(state);
      for (size_t at = needBucket + 1; at <= needBuckets; at += at & (~at + 1))
        cheapestUpTo[at] = std::min(cheapestUpTo[at], state.cost);
    }
    return kept;
  }

  /// The choices along the path to `last`, from the first layer.
  std::vector<LayerPick> picksTo(const State &last) const {
    std::vector<LayerPick> picks;
    for (const State *state = &last; state->model;
         state = &levels[state->parentLevel][state->parent])
      picks.push_back(
          {state->model, state->model->frontier[state->choice].discard});
    std::reverse(picks.begin(), picks.end());
    return picks;
  }

  const std::vector<LayerModel> &models;
  const PeakEstimate &calibration;
  int64_t cap;
  bool everyChoice;
  int64_t width;
  size_t buckets, needBuckets;
  /// Chains by the position of their top layer.
  std::vector<std::vector<PlacedChain>> endingAt;
  /// levels[p]: the states after the first p layers.
  std::vector<std::vector<State>> levels;
  /// The cheapest offer per bucket: a table by kept bytes when need plays
  /// no part (every offer costs O(1), deep models offer many), else a list
  /// sorted by both afterwards.
  std::vector<State> table;
  std::vector<int64_t> tableCost, tableBelow;
  std::vector<State> offered;
  llvm::DenseMap<uint64_t, uint32_t> cellOf; ///< Bucket pair -> offered.
  std::vector<int64_t> cheapestUpTo;
  std::map<int, ChoiceStaircases> staircasesOf; ///< By layer structure.
};

} // namespace

std::optional<std::vector<LayerPick>>
ckpt::cheapestWithin(const std::vector<LayerModel> &models,
                     const PeakEstimate &calibration, int64_t cap,
                     const std::vector<LayerModel> &chains, bool everyChoice) {
  if (calibration.inFlightChunks > calibration.chunks)
    return CheapestPicks<true>(models, calibration, cap, chains, everyChoice)
        .run();
  return CheapestPicks<false>(models, calibration, cap, chains, everyChoice)
      .run();
}

bool ckpt::fitsWithin(const std::vector<LayerModel> &models,
                      const PeakEstimate &calibration, int64_t cap,
                      const std::vector<LayerModel> &chains) {
  if (cap < 0)
    return false;
  // The fewest kept bytes after the first p layers: every check grows
  // with the kept bytes below (others in flight too), so the state that
  // keeps the fewest reaches every choice any other reaches.
  constexpr int64_t kNone = INT64_MAX;
  std::vector<int64_t> fewest(models.size() + 1, kNone);
  fewest[0] = 0;
  std::vector<std::vector<PlacedChain>> startingAt(models.size());
  for (const PlacedChain &placed : placeChains(models, calibration, chains))
    startingAt[placed.first].push_back(placed);
  auto offer = [&](size_t from, size_t to, const LayerModel &model,
                   int64_t segment) {
    int64_t below = fewest[from];
    for (const LayerChoice &point : model.frontier) {
      int64_t after = below + point.keptBytes;
      int64_t others = calibration.inFlightChunks > calibration.chunks
                           ? calibration.othersInFlight(after)
                           : 0;
      if (segment + below + point.internalPeak + others <= cap &&
          calibration.head + after + others <= cap)
        fewest[to] = std::min(fewest[to], after);
    }
  };
  for (size_t position = 0; position < models.size(); ++position) {
    if (fewest[position] == kNone)
      continue;
    offer(position, position + 1, models[position],
          calibration.segment[position]);
    for (const PlacedChain &placed : startingAt[position])
      offer(placed.first, placed.last + 1, *placed.chain, placed.segment);
  }
  return fewest.back() != kNone;
}
