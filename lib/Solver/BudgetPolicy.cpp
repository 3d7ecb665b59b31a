//===- BudgetPolicy.cpp - The cheapest recompute plan under a byte budget -===//
//
// The layers' frontiers (BudgetLayerModel.cpp) are combined by a dynamic
// program over the layer chain: during layer l's backward the peak is a
// constant taken from the keep-all plan's timeline, plus the kept bytes of
// the layers below, plus layer l's own backward peak. The memory planner
// judges every candidate (never the estimate), a search on the estimate's
// cap keeps the cheapest plan that fits, and Megatron's presets are
// candidates too. The same solver draws the budget-cost frontier.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Rewrite/PipelineSchedule.h"
#include "ckpt/Rewrite/PipelineUnroll.h"
#include "ckpt/Rewrite/PlanEvaluator.h"
#include "ckpt/Rewrite/RematPlan.h"
#include "ckpt/Solver/MonotoneSearch.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Threading.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <map>
#include <mutex>

using namespace mlir;
using namespace ckpt;

FailureOr<int64_t>
ckpt::plannedArenaBytes(const StepGraph &graph, const RematPlan &plan,
                        const PlanOptions &options, int64_t *persistent,
                        int64_t *recomputeCost, const RecomputeCost &cost,
                        int64_t microBatches) {
  auto module = graph.step->getParentOfType<ModuleOp>();
  if (!module)
    return failure();
  // A step of one micro-batch under FLOPs: the evaluator's figures, which
  // PlanEvaluatorTest holds equal to the rewritten, planned step's, without
  // rewriting a copy. (A stage's schedule and a profile's times for the
  // regions' gathers still go through the rewrite.)
  if (!getPipelineShape(module) && !cost.measured()) {
    PlanEvaluation evaluation = evaluatePlan(graph, plan, nullptr, &options);
    if (recomputeCost)
      *recomputeCost = evaluation.recomputeCost;
    if (persistent)
      *persistent = trainingPersistentBytes(countParameters(graph), options);
    return evaluation.arenaBytes;
  }
  OwningOpRef<ModuleOp> copy = module.clone();
  auto step = copy->lookupSymbol<func::FuncOp>(graph.step.getName());
  FailureOr<StepGraph> copyGraph = StepGraph::build(step);
  if (failed(copyGraph) || failed(applyRematPlan(*copyGraph, plan)))
    return failure();
  scheduleRecomputeRegions(step);
  FailureOr<StepGraph> planned = StepGraph::build(step);
  if (failed(planned))
    return failure();
  if (recomputeCost) {
    *recomputeCost = 0;
    for (auto [index, node] : llvm::enumerate(planned->nodes))
      if (node.phase == Phase::Recompute) {
        int64_t one = cost.of(*planned, static_cast<int>(index));
        if (one < 0)
          return failure();
        *recomputeCost += one;
      }
  }
  // A stage's arena is its schedule's: the micro-batches in flight overlap.
  if (getPipelineShape(*copy)) {
    if (microBatches > 0) {
      auto shape = (*copy)->getAttrOfType<DictionaryAttr>(
          CkptDialect::kPipelineAttrName);
      NamedAttrList fields(shape);
      fields.set("micro_batches",
                 IntegerAttr::get(IntegerType::get(copy->getContext(), 64),
                                  microBatches));
      (*copy)->setAttr(CkptDialect::kPipelineAttrName,
                       fields.getDictionary(copy->getContext()));
    }
    planned = unrolledStepGraph(*copy, graph.step.getName());
    if (failed(planned))
      return failure();
  }
  MemoryPlan memory = planMemory(*planned, options);
  if (persistent)
    *persistent = memory.trainingPersistentBytes;
  return memory.arenaBytes;
}

PeakEstimate ckpt::calibratePeakEstimate(const StepGraph &graph,
                                         const std::vector<LayerModel> &models,
                                         const MemoryPlan &keepAllPlan) {
  const MemoryPlan &plan = keepAllPlan;
  std::vector<int64_t> live(plan.steps);
  for (int64_t t = 0; t < plan.steps; ++t)
    live[t] = plan.liveKept[t] + plan.liveRecomputed[t] + plan.liveWorkspace[t];
  std::vector<char> inSegment(plan.steps, 0);
  // Each layer's backward nodes, found in one pass over the graph.
  std::map<int64_t, std::vector<int>> backwardOf;
  for (auto [index, node] : llvm::enumerate(graph.nodes))
    if (node.phase == Phase::Backward && node.layer)
      backwardOf[*node.layer].push_back(static_cast<int>(index));
  // Layers of one structure keep the same with no discards.
  std::map<int, LayerChoice> keptOf;
  PeakEstimate calibration;
  int64_t below = 0;
  for (const LayerModel &model : models) {
    auto [known, inserted] = keptOf.try_emplace(model.structure);
    if (inserted || model.structure < 0)
      known->second =
          evaluateLayerChoice(graph, model, 0, keepAllPlan.alignment);
    const LayerChoice &kept = known->second;
    int64_t peak = 0;
    for (int index : backwardOf[model.layer]) {
      peak = std::max(peak, live[index]);
      inSegment[index] = 1;
    }
    calibration.segment.push_back(peak - below - kept.internalPeak);
    below += kept.keptBytes;
  }
  int64_t head = 0;
  for (int64_t t = 0; t < plan.steps; ++t)
    if (!inSegment[t])
      head = std::max(head, live[t]);
  calibration.head = head - below;
  return calibration;
}

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
template <bool inFlight>
std::optional<std::vector<LayerPick>>
cheapestLayerPicks(const std::vector<LayerModel> &models,
                   const PeakEstimate &calibration, int64_t cap,
                   const std::vector<LayerModel> &chains, bool everyChoice) {
  // A state: the kept bytes of the layers so far (`below`), the largest
  // peak of their backwards without the other micro-batches in flight
  // (`need`), and the cost.
  struct State {
    int64_t below, need, cost;
    int parentLevel, parent;
    const LayerModel *model;
    uint32_t choice;
  };
  if (cap < 0)
    return std::nullopt; // Device memory below the persistent state.
  // Chains by the position of their top layer.
  std::vector<std::vector<PlacedChain>> endingAt(models.size());
  for (const PlacedChain &placed : placeChains(models, calibration, chains))
    endingAt[placed.last].push_back(placed);
  // Without other micro-batches in flight each layer's peak is checked when
  // the layer is chosen and `need` plays no part. With them, every peak
  // grows with the final kept bytes T, known only at the end: `need`
  // carries the largest, checked against what the others hold once T is
  // known (and against what they hold at least, T >= below, as it grows).
  // States are bucketed by their kept bytes (and need), 1/2048 of the cap
  // wide, the cheapest kept per bucket (which bounds the work on deep
  // models; the feasibility of every state is still checked exactly).
  int64_t width = std::max<int64_t>(1, cap / 2048);
  auto bucketOf = [&](int64_t bytes) {
    return static_cast<size_t>(std::max<int64_t>(bytes, 0) / width);
  };
  size_t buckets = bucketOf(cap) + 2;
  size_t needBuckets = inFlight ? buckets : 1;
  // A need past the cap fits where the others in flight hold negative
  // bytes (a choice that shards more than it keeps): such needs share the
  // last bucket, which keeps the pairs' keys and the Fenwick tree in range.
  auto needBucketOf = [&](int64_t bytes) {
    return std::min(bucketOf(bytes), needBuckets - 1);
  };
  // levels[p]: the states after the first p layers.
  std::vector<std::vector<State>> levels = {{{0, 0, 0, -1, -1, nullptr, 0}}};
  // The cheapest offer per bucket: a table by kept bytes when need plays
  // no part (every offer costs O(1), deep models offer many), else a list
  // sorted by both afterwards.
  std::vector<State> table(inFlight ? 0 : buckets);
  // The table's costs and kept bytes apart from its states: most offers
  // lose, and they read these only (small enough for the L1 cache).
  std::vector<int64_t> tableCost(table.size()), tableBelow(table.size());
  std::vector<State> offered;
  llvm::DenseMap<uint64_t, uint32_t> cellOf; ///< Bucket pair -> offered.
  std::vector<int64_t> cheapestUpTo(needBuckets + 1);
  std::map<int, ChoiceStaircases> staircasesOf; // By layer structure.
  for (size_t layer = 0; layer < models.size(); ++layer) {
    offered.clear();
    cellOf.clear();
    std::fill(tableCost.begin(), tableCost.end(), INT64_MAX);
    auto offer = [&](size_t level, const LayerModel &model, int64_t segment) {
      // Without `need` the states come in increasing kept bytes, one per
      // bucket: past the most any choice leaves room for, none fits.
      int64_t room = INT64_MIN;
      for (const LayerChoice &point : model.frontier)
        room =
            std::max(room, std::min(cap - segment - point.internalPeak,
                                    cap - calibration.head - point.keptBytes));
      // The staircases assume kept bytes >= 0 (the state's too, below).
      const ChoiceStaircases *stairs = nullptr;
      if (!inFlight && !everyChoice && model.frontier.size() > 1 &&
          llvm::none_of(model.frontier, [](const LayerChoice &choice) {
            return choice.keptBytes < 0;
          })) {
        auto it = staircasesOf.find(model.structure);
        if (it == staircasesOf.end() || model.structure < 0)
          it = staircasesOf
                   .insert_or_assign(model.structure,
                                     ChoiceStaircases(model.frontier, width))
                   .first;
        stairs = &it->second;
      }
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
          if (need + others > cap || calibration.head + below + others > cap)
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
            // The cheapest per bucket of both (then the fewest kept bytes,
            // the least need; on a tie the first offered).
            uint64_t key =
                uint64_t(bucketOf(below)) * needBuckets + needBucketOf(need);
            auto [it, inserted] =
                cellOf.try_emplace(key, static_cast<uint32_t>(offered.size()));
            if (inserted) {
              offered.push_back(next());
            } else {
              State &held = offered[it->second];
              if (std::tie(cost, below, need) <
                  std::tie(held.cost, held.below, held.need))
                held = next();
            }
          } else {
            if (bucket == SIZE_MAX)
              bucket = bucketOf(below);
            // The cheapest per bucket, then the fewest kept bytes.
            if (cost < tableCost[bucket] ||
                (cost == tableCost[bucket] && below < tableBelow[bucket])) {
              tableCost[bucket] = cost;
              tableBelow[bucket] = below;
              table[bucket] = next();
            }
          }
        };
        if (!stairs || state.below < 0) {
          for (uint32_t choice = 0; choice < model.frontier.size(); ++choice)
            tryChoice(choice);
          continue;
        }
        stairs->lastPerBucket(cap - segment - state.below,
                              cap - calibration.head - state.below, state.below,
                              tryChoice);
      }
    };
    offer(layer, models[layer], calibration.segment[layer]);
    for (const PlacedChain &placed : endingAt[layer])
      offer(placed.first, *placed.chain, placed.segment);
    // With need: the cheapest per bucket of both, then only states no
    // other beats on kept bytes, need and cost at once: in bucket order, a
    // state is kept when it is cheaper than every kept one with no more need (a
    // prefix minimum over the need buckets, as a Fenwick tree).
    std::vector<State> pruned;
    if constexpr (!inFlight) {
      // Only states no other beats on both kept bytes and cost.
      for (size_t bucket = 0; bucket < table.size(); ++bucket)
        if (tableCost[bucket] != INT64_MAX &&
            (pruned.empty() || table[bucket].cost < pruned.back().cost))
          pruned.push_back(table[bucket]);
      levels.push_back(std::move(pruned));
      continue;
    }
    // One state per bucket pair, in bucket order.
    std::sort(offered.begin(), offered.end(),
              [&](const State &a, const State &b) {
                return std::make_pair(bucketOf(a.below), needBucketOf(a.need)) <
                       std::make_pair(bucketOf(b.below), needBucketOf(b.need));
              });
    std::fill(cheapestUpTo.begin(), cheapestUpTo.end(), INT64_MAX);
    for (const State &state : offered) {
      size_t needBucket = needBucketOf(state.need);
      int64_t cheapest = INT64_MAX;
      for (size_t at = needBucket + 1; at > 0; at -= at & (~at + 1))
        cheapest = std::min(cheapest, cheapestUpTo[at]);
      if (cheapest <= state.cost)
        continue;
      pruned.push_back(state);
      for (size_t at = needBucket + 1; at <= needBuckets; at += at & (~at + 1))
        cheapestUpTo[at] = std::min(cheapestUpTo[at], state.cost);
    }
    levels.push_back(std::move(pruned));
  }
  // Every state that reached the end was checked with its final T.
  const State *best = nullptr;
  for (const State &state : levels.back())
    if (!best || state.cost < best->cost)
      best = &state;
  if (!best)
    return std::nullopt;
  std::vector<LayerPick> picks;
  for (const State *state = best; state->model;
       state = &levels[state->parentLevel][state->parent])
    picks.push_back(
        {state->model, state->model->frontier[state->choice].discard});
  std::reverse(picks.begin(), picks.end());
  return picks;
}

} // namespace

std::optional<std::vector<LayerPick>>
ckpt::cheapestWithin(const std::vector<LayerModel> &models,
                     const PeakEstimate &calibration, int64_t cap,
                     const std::vector<LayerModel> &chains, bool everyChoice) {
  if (calibration.inFlightChunks > calibration.chunks)
    return cheapestLayerPicks<true>(models, calibration, cap, chains,
                                    everyChoice);
  return cheapestLayerPicks<false>(models, calibration, cap, chains,
                                   everyChoice);
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

namespace {

/// How many of the longest affordable full blocks the solver plans when
/// looking for one that fits (BudgetSolver::cheapestBlockWithin).
constexpr int64_t kBlockTopTries = 4;

/// The longest chain of layers the solver recomputes as one region: enough
/// for the lowest peaks of deep models (the optimum for L layers is near
/// sqrt(L)), few enough to keep the dynamic program fast.
constexpr int64_t kMaxChainSpan = 16;

/// A candidate plan as the pass would apply and plan it: its arena and what
/// its regions cost (RecomputeCost: FLOPs, or profiled nanoseconds).
struct Candidate {
  RematPlan plan;
  int64_t arena = INT64_MAX, cost = INT64_MAX;
  std::string what;    ///< How an error or the frontier names it.
  bool preset = false; ///< One of Megatron's presets.
  /// A preset's arena is planned when first asked for (arenaKnown false
  /// until then): a preset no cheaper than the solver's plan needs none.
  bool arenaKnown = true;
  /// The micro-batch count its stage's schedule was judged at, when not
  /// the step's own (BudgetSolver::searchMicroBatches); else 0.
  int64_t judgedAt = 0;
};

/// The solver's state for one step: the layers' frontiers, the estimate's
/// constants, and Megatron's presets as planned candidates. solve() runs
/// for one cap; the frontier runs it for many.
class BudgetSolver {
public:
  BudgetSolver(const StepGraph &graph, const PlanOptions &options,
               const RecomputeCost &cost, bool distribute,
               bool searchOnOwnSchedule = false)
      : graph(graph), options(options), cost(cost), distribute(distribute),
        searchOnOwnSchedule(searchOnOwnSchedule) {}

  LogicalResult init(std::string &error) {
    if (solvesInParallel())
      graph.computeAllCosts(); // cost() then only reads.
    int64_t tensorParallel = 1;
    std::string distributeError =
        distributeSavedActivationsError(graph, tensorParallel);
    if (distribute && !distributeError.empty()) {
      error = distributeError;
      return failure();
    }
    shards = distribute ? tensorParallel : 1;
    FailureOr<std::vector<LayerModel>> built =
        buildLayerModels(graph, error, options.alignment, cost, shards);
    if (failed(built))
      return failure();
    models = std::move(*built);
    chains =
        buildChainModels(graph, models, kMaxChainSpan, options.alignment, cost);
    keepAllPlan = planMemory(graph, options);
    calibration = calibratePeakEstimate(graph, models, keepAllPlan);
    keepAllArena = keepAllPlan.arenaBytes;
    keepAllPersistent = keepAllPlan.trainingPersistentBytes;
    // Ops outside the layers annotated ckpt.remat = "recompute" are
    // recomputed in every plan, as the presets do.
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Forward && node.region < 0 && !node.layer &&
          getRematAnnotation(node.op) == RematAnnotation::Recompute) {
        RecomputeGroup group = makeRecomputeGroup(
            graph, "outside " + node.module.str() + " (annotated)",
            std::nullopt, {static_cast<int>(index)}, true);
        if (!group.discarded.empty())
          fixed.push_back(std::move(group));
      }
    annotated = !fixed.empty() || llvm::any_of(models, [](const LayerModel &m) {
      return m.mustDiscard != 0;
    });
    // A pipeline stage: the estimate charges its micro-batches in flight,
    // and its own arena and state are the unrolled step's, keeping all but
    // what must be recomputed.
    auto module = graph.step->getParentOfType<ModuleOp>();
    if (std::optional<PipelineShape> stage = getPipelineShape(module)) {
      calibration.chunks = stage->virtualStages;
      calibration.inFlightChunks = pipeline::maxInFlight(
          pipeline::stageSchedule(stage->stage, stage->stages,
                                  stage->virtualStages, stage->microBatches));
      // Many micro-batches under 1F1B: the search judges its candidates
      // (the presets and keeping all too) on a schedule of 2p, whose steady
      // state holds as many in flight (the plans are the same for every m,
      // and unrolling m costs m times one), and the answer on the stage's
      // own. Interleaved schedules are searched on their own count: their
      // packing differs between 2p and m enough to move a plan (on 175B,
      // p=8, v=2, m=64, stage 2's plan cost 0.004% more).
      int64_t fewer = 2 * stage->stages;
      if (!searchOnOwnSchedule && stage->virtualStages == 1 &&
          stage->microBatches > fewer &&
          pipeline::maxInFlight(pipeline::stageSchedule(
              stage->stage, stage->stages, stage->virtualStages, fewer)) ==
              calibration.inFlightChunks)
        searchMicroBatches = fewer;
      for (const LayerModel &model : models)
        keepAllPicks.push_back({&model, model.frontier.front().discard});
      std::string what;
      FailureOr<int64_t> arena = plannedArenaBytes(
          graph, planFromPicks(keepAllPicks, what), options, &keepAllPersistent,
          nullptr, cost, searchMicroBatches);
      if (failed(arena)) {
        error = "the stage's step, keeping all it may, cannot be planned";
        return failure();
      }
      keepAllArena = *arena;
      where = "on pipeline stage " + std::to_string(stage->stage) + " of " +
              std::to_string(stage->stages) + ", whose arena holds " +
              std::to_string(calibration.inFlightChunks) +
              (stage->virtualStages > 1 ? " model chunk" : " micro-batch") +
              (calibration.inFlightChunks == 1 ? ""
               : stage->virtualStages > 1      ? "s"
                                               : "es") +
              " at once, ";
    }
    xf::ModelAttr model = xf::getModel(graph.step);
    bool distributable = distributeError.empty();
    std::vector<MegatronPolicy> standard;
    for (MegatronPolicy preset : standardMegatronPolicies(
             countLayers(graph), distributable, model && model.isMoe())) {
      // Distributed: the full presets in their distributed form.
      if (distribute && preset.granularity == RecomputeGranularity::Full) {
        if (preset.distributeSavedActivations)
          continue; // Already there.
        preset.distributeSavedActivations = true;
      }
      standard.push_back(preset);
    }
    std::vector<std::optional<Candidate>> judged(standard.size());
    forEachIndex(standard.size(), [&](size_t i) {
      std::string ignored;
      FailureOr<RematPlan> plan = standard[i].decide(graph, ignored);
      if (failed(plan) || plan->groups.empty())
        return;
      judged[i] = judgeCost(std::move(*plan), standard[i].describe());
      judged[i]->preset = true;
    });
    for (std::optional<Candidate> &preset : judged)
      if (preset)
        presets.push_back(std::move(*preset));
    return success();
  }

  /// The planned arena and persistent bytes of the step that keeps all.
  int64_t keepAllArenaBytes() const { return keepAllArena; }
  /// "on pipeline stage i of p, ... " for a stage's errors, else empty.
  const std::string &stageText() const { return where; }
  int64_t keepAllPersistentBytes() const { return keepAllPersistent; }
  /// Megatron's presets, each judged on the stage's own schedule.
  std::vector<Candidate> presetCandidates() {
    std::vector<Candidate> own;
    for (Candidate &preset : presets)
      own.push_back(onOwnSchedule(planArena(preset)));
    return own;
  }

  /// Whether solve() may run for several budgets at once: it then only
  /// reads the solver's state but for the caches, which cacheMutex guards.
  /// A pipeline stage's candidates are judged on clones of its module, and
  /// one searched on fewer micro-batches may search again on its own count
  /// (which moves the search's state): those are solved one at a time.
  bool solvesInParallel() const {
    return !getPipelineShape(graph.step->getParentOfType<ModuleOp>()) &&
           !cost.measured();
  }

  /// `work(i)` for i in [0, count): on the context's threads where budgets
  /// may be solved in parallel (solvesInParallel), else in order.
  void forEachIndex(size_t count, llvm::function_ref<void(size_t)> work) {
    if (solvesInParallel()) {
      mlir::parallelFor(graph.step->getContext(), 0, count, work);
      return;
    }
    for (size_t i = 0; i < count; ++i)
      work(i);
  }

  /// The cheapest candidate whose planned arena is within `cap`. On a
  /// stage searched on fewer micro-batches, the answer is judged on the
  /// stage's own schedule, and searched there when it does not fit.
  std::optional<Candidate> solve(int64_t cap) {
    std::optional<Candidate> best = searchWithin(cap);
    if (!best || best->judgedAt == 0)
      return best;
    Candidate own = onOwnSchedule(*best);
    if (own.arena <= cap)
      return own;
    int64_t searched = searchMicroBatches, searchedKeepAll = keepAllArena;
    searchMicroBatches = 0;
    std::string what;
    FailureOr<int64_t> arena =
        plannedArenaBytes(graph, planFromPicks(keepAllPicks, what), options,
                          nullptr, nullptr, cost);
    keepAllArena = succeeded(arena) ? *arena : INT64_MAX;
    best = searchWithin(cap);
    searchMicroBatches = searched;
    keepAllArena = searchedKeepAll;
    return best;
  }

  /// The cheapest candidate whose planned arena, as judged at
  /// searchMicroBatches, is within `cap`.
  std::optional<Candidate> searchWithin(int64_t cap) {
    if (cap < 0)
      return std::nullopt;
    if (!annotated && keepAllArena <= cap) {
      Candidate keepAll{RematPlan(), keepAllArena, 0, "keep all"};
      keepAll.judgedAt = searchMicroBatches;
      return keepAll;
    }
    std::optional<Candidate> best;
    auto consider = [&](const Candidate &candidate) {
      if (candidate.arena <= cap && (!best || candidate.cost < best->cost))
        best = candidate;
    };
    // The estimate decides, the planner judges. A cap on the estimate gives
    // no plan (too low), a plan the planner finds too large (too high), or
    // one that fits, of which the cheapest is kept; the search moves the
    // cap by the planner's difference, doubling while it stays on one
    // side, then halves the interval between a low and a high cap.
    std::optional<int64_t> low, high;
    int64_t estimateCap = cap, step = 0;
    int64_t tolerance = std::max<int64_t>(1, cap / 512);
    for (int round = 0; round < 12; ++round) {
      std::optional<std::vector<LayerPick>> picks =
          cheapestWithin(models, calibration, estimateCap, chains);
      bool tooHigh = false;
      int64_t difference = 0; // What the cap may move by.
      if (picks) {
        Candidate candidate = fromPicks(*picks);
        tooHigh = candidate.arena > cap;
        difference = candidate.arena == INT64_MAX ? 0 : cap - candidate.arena;
        consider(candidate);
        if (candidate.arena == cap)
          break;
      }
      (tooHigh ? high : low) = estimateCap;
      if (low && high) {
        if (*high - *low <= tolerance)
          break;
        estimateCap = *low + (*high - *low) / 2;
        continue;
      }
      if (!picks) {
        // Nothing under this cap, nothing over one yet: the estimate is
        // pessimistic here; the keep-all arena bounds the search.
        if (estimateCap >= keepAllArena)
          break;
        difference = std::max<int64_t>(tolerance, cap / 16);
      }
      if (difference == 0)
        break;
      step =
          step != 0 && (difference > 0) == (step > 0) ? 2 * step : difference;
      estimateCap += step;
    }
    // Megatron's presets are candidates too (block recompute, say, lies
    // outside the solver's space): the answer never costs more than a
    // preset that fits. Only one cheaper than the answer so far is planned.
    std::vector<Candidate *> cheaper;
    for (Candidate &preset : presets)
      if (!best || preset.cost < best->cost)
        cheaper.push_back(&preset);
    planArenas(cheaper);
    for (Candidate *preset : cheaper)
      consider(planArena(*preset));
    if (std::optional<Candidate> block =
            cheapestBlockWithin(cap, best ? best->cost : INT64_MAX))
      consider(*block);
    return best;
  }

  /// The lowest planned peak the estimate or a preset reaches.
  Candidate lowest() {
    // The smallest cap the estimate admits any choice under bounds the
    // search from below (cheapestWithin finds nothing under it), and it
    // costs far less to check: the dynamic program usually first finds
    // picks right there.
    int64_t lo = 0, hi = keepAllArena;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (fitsWithin(models, calibration, mid, chains))
        hi = mid;
      else
        lo = mid + 1;
    }
    std::optional<std::vector<LayerPick>> picks =
        cheapestWithin(models, calibration, lo, chains);
    if (!picks) {
      for (hi = keepAllArena, ++lo; lo < hi;) {
        int64_t mid = lo + (hi - lo) / 2;
        if (auto found = cheapestWithin(models, calibration, mid, chains)) {
          hi = mid;
          picks = std::move(found);
        } else {
          lo = mid + 1;
        }
      }
      if (!picks) // Not found below the keep-all arena.
        picks = cheapestWithin(models, calibration, hi, chains);
    }
    Candidate least =
        picks ? fromPicks(*picks)
              : Candidate{RematPlan(), keepAllArena, 0, "keeping all"};
    // The presets and the longest full blocks (whose arena is the lowest of
    // any N) are planned at once.
    std::vector<Candidate *> planned;
    for (Candidate &preset : presets)
      planned.push_back(&preset);
    int64_t layers = static_cast<int64_t>(models.size());
    for (int64_t n = std::max<int64_t>(2, layers - kBlockTopTries + 1);
         n <= layers; ++n)
      if (Candidate *candidate = block(n))
        planned.push_back(candidate);
    planArenas(planned);
    for (Candidate *candidate : planned)
      if (Candidate judged = planArena(*candidate); judged.arena < least.arena)
        least = std::move(judged);
    return onOwnSchedule(std::move(least));
  }

private:
  /// Megatron's full block recompute of the first N layers, for every N:
  /// the cheapest whose arena fits `cap`, if it costs less than `below`.
  /// Its cost grows with N: a search finds the largest N under `below`. Its
  /// arena shrinks with N, except near N = L, where the last layers'
  /// regions can raise it again (on 175B with t = 8 and SP, N = 96 needs
  /// more than N = 95): there the top few N are tried for one that fits,
  /// and below it a search finds the smallest N that fits. (Both searches
  /// interpolate, MonotoneSearch.h: each probe evaluates a whole step.)
  std::optional<Candidate> cheapestBlockWithin(int64_t cap, int64_t below) {
    int64_t layers = static_cast<int64_t>(models.size());
    if (layers < 2 || blockUnavailable)
      return std::nullopt;
    auto costOf = [&](int64_t n) {
      Candidate *candidate = block(n);
      return candidate ? candidate->cost : INT64_MAX;
    };
    if (costOf(1) >= below)
      return std::nullopt;
    int64_t top = costOf(layers);
    int64_t most =
        top < below
            ? layers
            : firstReaching(2, layers, below, costOf, costOf(1), top) - 1;
    for (int64_t tries = 1; planArena(*block(most)).arena > cap; ++tries) {
      // Below the last few layers a smaller N needs more: none fits.
      if (most == 1 || tries == kBlockTopTries ||
          most <= layers - kBlockTopTries)
        return std::nullopt;
      --most;
    }
    // The smallest N that fits: where -arena, nondecreasing, reaches -cap
    // (keeping all, N = 0, guides the first probe).
    auto lessArena = [&](int64_t n) { return -planArena(*block(n)).arena; };
    int64_t least = firstReaching(1, most, -cap, lessArena, -keepAllArena,
                                  -planArena(*block(most)).arena);
    return planArena(*block(least));
  }

  /// Full block recompute of the first `n` layers as a candidate (its
  /// cost known, its arena planned when asked), or null where the preset
  /// does not apply to this step.
  Candidate *block(int64_t n) {
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto it = blocks.find(n);
      if (it != blocks.end())
        return it->second ? &*it->second : nullptr;
    }
    MegatronPolicy preset;
    preset.granularity = RecomputeGranularity::Full;
    preset.method = RecomputeMethod::Block;
    preset.numLayers = n;
    preset.distributeSavedActivations = distribute;
    std::string ignored;
    FailureOr<RematPlan> plan = preset.decide(graph, ignored);
    std::optional<Candidate> made;
    if (succeeded(plan) && !plan->groups.empty()) {
      made = judgeCost(std::move(*plan), preset.describe());
      made->preset = true;
    }
    std::lock_guard<std::mutex> lock(cacheMutex);
    auto it = blocks.try_emplace(n, std::move(made)).first;
    if (!it->second)
      blockUnavailable = true;
    return it->second ? &*it->second : nullptr;
  }

  /// `candidate` judged on the stage's own micro-batch count, where the
  /// search judged it on fewer.
  Candidate onOwnSchedule(Candidate candidate) {
    if (candidate.judgedAt == 0)
      return candidate;
    bool preset = candidate.preset;
    Candidate own = judge(std::move(candidate.plan), std::move(candidate.what));
    own.preset = preset;
    return own;
  }

  /// The candidate's cost and planned arena, its stage's schedule unrolled
  /// for `microBatches` (0: the step's own count).
  Candidate judge(RematPlan plan, std::string what, int64_t microBatches = 0) {
    Candidate candidate{std::move(plan), INT64_MAX, INT64_MAX, std::move(what)};
    FailureOr<int64_t> arena =
        plannedArenaBytes(graph, candidate.plan, options, nullptr,
                          &candidate.cost, cost, microBatches);
    if (succeeded(arena))
      candidate.arena = *arena;
    candidate.judgedAt = microBatches;
    return candidate;
  }

  /// A candidate with its cost only, or judged whole where the cost needs
  /// the rewrite (a profile's times for the regions' gathers).
  Candidate judgeCost(RematPlan plan, std::string what) {
    if (cost.measured())
      return judge(std::move(plan), std::move(what), searchMicroBatches);
    Candidate candidate{std::move(plan), INT64_MAX, INT64_MAX, std::move(what)};
    candidate.cost = evaluatePlan(graph, candidate.plan).recomputeCost;
    candidate.arenaKnown = false;
    return candidate;
  }

  /// A preset's arena, planned as the search judges (on its micro-batch
  /// count): the candidate, copied under the lock (another budget's search
  /// may plan it at the same time, to the same arena).
  Candidate planArena(Candidate &candidate) {
    int64_t at = searchMicroBatches;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      if (candidate.arenaKnown && candidate.judgedAt == at)
        return candidate;
    }
    FailureOr<int64_t> arena = plannedArenaBytes(graph, candidate.plan, options,
                                                 nullptr, nullptr, cost, at);
    std::lock_guard<std::mutex> lock(cacheMutex);
    candidate.arena = succeeded(arena) ? *arena : INT64_MAX;
    candidate.arenaKnown = true;
    candidate.judgedAt = at;
    return candidate;
  }

  /// Plans the arenas of `candidates`, in parallel where it may.
  void planArenas(llvm::ArrayRef<Candidate *> candidates) {
    forEachIndex(candidates.size(),
                 [&](size_t i) { planArena(*candidates[i]); });
  }

  /// The judged plan of `picks`; the search and the frontier's budgets
  /// often arrive at the same picks again.
  Candidate fromPicks(const std::vector<LayerPick> &picks) {
    std::vector<std::pair<const LayerModel *, uint64_t>> key;
    key.reserve(picks.size());
    for (const LayerPick &pick : picks)
      key.emplace_back(pick.model, pick.discard);
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto &cache = judged[searchMicroBatches];
      auto it = cache.find(key);
      if (it != cache.end())
        return it->second;
    }
    // Judged outside the lock: another budget's search may judge the same
    // picks meanwhile, to the same result.
    std::string what;
    RematPlan plan = planFromPicks(picks, what);
    Candidate candidate = judge(std::move(plan), what, searchMicroBatches);
    std::lock_guard<std::mutex> lock(cacheMutex);
    return judged[searchMicroBatches]
        .try_emplace(std::move(key), std::move(candidate))
        .first->second;
  }

  /// The plan of `picks` with the annotated ops outside the layers, and
  /// how an error or the frontier names it.
  RematPlan planFromPicks(const std::vector<LayerPick> &picks,
                          std::string &what) const {
    int discarded = 0, candidates = 0;
    int64_t chained = 0, chainCount = 0;
    for (const LayerPick &pick : picks) {
      if (pick.model->span > 1) {
        chained += pick.model->span;
        ++chainCount;
        continue;
      }
      discarded += llvm::popcount(pick.discard);
      candidates += static_cast<int>(pick.model->candidates.size());
    }
    RematPlan plan = makeLayerPlan(graph, picks);
    plan.distributeInputs = shards > 1;
    plan.tensorParallelSize = shards;
    if (!fixed.empty()) {
      plan.groups.insert(plan.groups.end(), fixed.begin(), fixed.end());
      llvm::sort(plan.groups,
                 [](const RecomputeGroup &a, const RecomputeGroup &b) {
                   return a.nodes.front() < b.nodes.front();
                 });
    }
    what.clear();
    if (chained < static_cast<int64_t>(models.size()))
      what = "discarding " + std::to_string(discarded) + " of the " +
             std::to_string(candidates) + " values the backward reads in " +
             (chained ? "the other " : "its ") +
             std::to_string(models.size() - chained) + " layers";
    if (chained)
      what = "recomputing " + std::to_string(chained) + " layers whole in " +
             std::to_string(chainCount) + " chains" +
             (what.empty() ? "" : ", " + what);
    if (shards > 1)
      what += ", region inputs distributed over " + std::to_string(shards) +
              " ranks";
    return plan;
  }

  const StepGraph &graph;
  PlanOptions options;
  RecomputeCost cost;
  bool distribute;
  int64_t shards = 1; ///< Ranks the region inputs are distributed over.
  std::vector<LayerModel> models;
  std::vector<LayerModel> chains; ///< Of 2 to kMaxChainSpan layers.
  MemoryPlan keepAllPlan;         ///< One micro-batch's, which calibrates.
  int64_t keepAllArena = 0, keepAllPersistent = 0;
  /// A stage's choices that keep all they may.
  std::vector<LayerPick> keepAllPicks;
  std::string where;
  PeakEstimate calibration;
  std::vector<Candidate> presets;
  /// Full block recompute of N layers, by N, as cheapestBlockWithin asks.
  std::map<int64_t, std::optional<Candidate>> blocks;
  std::atomic<bool> blockUnavailable = false;
  /// Guards the caches (the presets' and blocks' arenas, the blocks, the
  /// judged picks) where budgets are solved in parallel.
  std::mutex cacheMutex;
  /// Judged picks, by the micro-batch count they were judged at.
  std::map<
      int64_t,
      std::map<std::vector<std::pair<const LayerModel *, uint64_t>>, Candidate>>
      judged;
  /// A stage of many micro-batches is searched on a schedule of 2p (its
  /// steady state is reached: as many in flight, the same arena), and the
  /// answer judged on its own; 0: on its own count.
  int64_t searchMicroBatches = 0;
  bool searchOnOwnSchedule;
  std::vector<RecomputeGroup> fixed; ///< Annotated ops outside the layers.
  bool annotated = false; ///< Some op must be recomputed in every plan.
};

} // namespace

std::string BudgetPolicy::describe() const {
  std::string text = "budget";
  if (distributeSavedActivations)
    text += " distributed";
  if (memoryBudget >= 0)
    text += " arena<=" + formatBytes(memoryBudget);
  if (deviceMemory >= 0)
    text += " device<=" + formatBytes(deviceMemory);
  return text;
}

FailureOr<RematPlan> BudgetPolicy::decide(const StepGraph &graph,
                                          std::string &error) const {
  // device-memory counts the persistent bytes of the config's data-parallel
  // layout (its distributed optimizer, if any).
  PlanOptions options = planOptions;
  if (graph.step)
    applyModelLayout(graph.step, options);
  BudgetSolver solver(graph, options, cost, distributeSavedActivations,
                      searchOnOwnSchedule);
  if (failed(solver.init(error)))
    return failure();
  int64_t cap = memoryBudget >= 0 ? memoryBudget : INT64_MAX;
  int64_t persistent = solver.keepAllPersistentBytes();
  if (deviceMemory >= 0)
    cap = std::min(cap, deviceMemory - persistent);
  if (deviceMemory >= 0 && cap < 0) {
    // Nothing is left for the arena: say so, not "leaves -N bytes".
    Candidate lowest = solver.lowest();
    error = solver.stageText() + "device-memory of " +
            std::to_string(deviceMemory) + " bytes (" +
            formatBytes(deviceMemory) + ") does not hold the " +
            std::to_string(persistent) + " bytes (" + formatBytes(persistent) +
            ") of weights, gradients and optimizer state alone (Megatron's "
            "accounting); the smallest plan needs at least " +
            std::to_string(persistent + lowest.arena) + " bytes (" +
            formatBytes(persistent + lowest.arena) + ")";
    return failure();
  }
  if (std::optional<Candidate> best = solver.solve(cap))
    return std::move(best->plan);
  Candidate lowest = solver.lowest();
  std::string what =
      deviceMemory >= 0
          ? "device-memory of " + std::to_string(deviceMemory) +
                " bytes leaves " + std::to_string(cap) +
                " bytes for the arena after " + std::to_string(persistent) +
                " bytes of weights, gradients and optimizer state (Megatron's "
                "accounting)"
          : "memory-budget of " + std::to_string(cap) + " bytes";
  error =
      solver.stageText() + what +
      ", below the smallest planned peak the solver reaches, " +
      std::to_string(lowest.arena) + " bytes (" + formatBytes(lowest.arena) +
      "), " +
      (lowest.preset ? "with Megatron's " + lowest.what : "by " + lowest.what) +
      " and recomputing " + std::to_string(lowest.cost) +
      (cost.measured() ? " ns (profiled)" : " FLOPs");
  return failure();
}

FailureOr<std::vector<FrontierPoint>>
ckpt::budgetFrontier(const StepGraph &graph, const PlanOptions &options,
                     int points, std::string &error,
                     bool distributeSavedActivations) {
  BudgetSolver solver(graph, options, RecomputeCost(),
                      distributeSavedActivations);
  if (failed(solver.init(error)))
    return failure();
  std::vector<FrontierPoint> frontier;
  int64_t low = solver.lowest().arena;
  int64_t high = solver.keepAllArenaBytes();
  points = std::max(points, 2);
  auto budgetAt = [&](size_t i) {
    return low + (high - low) * static_cast<int64_t>(i) / (points - 1);
  };
  // The budgets are independent: solved on the context's threads where the
  // solver allows it, each to the plan it has alone.
  std::vector<std::optional<Candidate>> solved(points);
  solver.forEachIndex(points,
                      [&](size_t i) { solved[i] = solver.solve(budgetAt(i)); });
  for (int i = 0; i < points; ++i) {
    int64_t budget = budgetAt(i);
    std::optional<Candidate> &best = solved[i];
    if (!best)
      continue;
    // A budget whose plan is the last one's adds nothing.
    if (!frontier.empty() && frontier.back().arena == best->arena &&
        frontier.back().cost == best->cost)
      continue;
    frontier.push_back(
        {budget, best->arena, best->cost, best->what, /*preset=*/false});
  }
  for (const Candidate &preset : solver.presetCandidates())
    frontier.push_back({preset.arena, preset.arena, preset.cost, preset.what,
                        /*preset=*/true});
  return frontier;
}
