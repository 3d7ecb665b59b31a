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

#include "ckpt/Transforms/BudgetPolicy.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/BuiltinOps.h"

#include <algorithm>
#include <climits>
#include <map>

using namespace mlir;
using namespace ckpt;

FailureOr<int64_t>
ckpt::plannedArenaBytes(const StepGraph &graph, const RematPlan &plan,
                        const PlanOptions &options, int64_t *persistent,
                        int64_t *recomputeCost, const RecomputeCost &cost) {
  auto module = graph.step->getParentOfType<ModuleOp>();
  if (!module)
    return failure();
  OwningOpRef<ModuleOp> copy = module.clone();
  auto step = copy->lookupSymbol<func::FuncOp>(graph.step.getName());
  FailureOr<StepGraph> copyGraph = StepGraph::build(step);
  if (failed(copyGraph) || failed(applyRematPlan(*copyGraph, plan)))
    return failure();
  scheduleRecomputeRegions(step);
  FailureOr<StepGraph> planned = StepGraph::build(step);
  if (failed(planned))
    return failure();
  MemoryPlan memory = planMemory(*planned, options);
  if (persistent)
    *persistent = memory.trainingPersistentBytes;
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
  PeakEstimate calibration;
  int64_t below = 0;
  for (const LayerModel &model : models) {
    LayerChoice kept =
        evaluateLayerChoice(graph, model, 0, keepAllPlan.alignment);
    int64_t peak = 0;
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Backward && node.layer == model.layer) {
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

std::optional<std::vector<LayerPick>>
ckpt::cheapestWithin(const std::vector<LayerModel> &models,
                     const PeakEstimate &calibration, int64_t cap,
                     const std::vector<LayerModel> &chains) {
  struct State {
    int64_t below, cost;
    int parentLevel, parent;
    const LayerModel *model;
    uint32_t choice;
  };
  if (cap < 0)
    return std::nullopt; // Device memory below the persistent state.
  // Chains by the position of their top layer.
  std::map<int64_t, size_t> positionOf;
  for (auto [position, model] : llvm::enumerate(models))
    positionOf[model.layer] = position;
  std::vector<std::vector<std::pair<size_t, const LayerModel *>>> endingAt(
      models.size());
  for (const LayerModel &chain : chains) {
    auto it = positionOf.find(chain.layer);
    if (it == positionOf.end() || it->second + chain.span > models.size())
      continue;
    endingAt[it->second + chain.span - 1].push_back({it->second, &chain});
  }
  // States are bucketed by their kept bytes, 1/2048 of the cap wide, the
  // cheapest kept per bucket (which bounds the work on deep models; the
  // feasibility of every state is still checked exactly).
  int64_t width = std::max<int64_t>(1, cap / 2048);
  size_t buckets = static_cast<size_t>(cap / width) + 2;
  std::vector<State> table(buckets);
  std::vector<char> used(buckets);
  // levels[p]: the states after the first p layers.
  std::vector<std::vector<State>> levels = {{{0, 0, -1, -1, nullptr, 0}}};
  for (size_t layer = 0; layer < models.size(); ++layer) {
    std::fill(used.begin(), used.end(), 0);
    auto offer = [&](size_t level, const LayerModel &model, int64_t segment) {
      for (auto [index, state] : llvm::enumerate(levels[level]))
        for (auto [choice, point] : llvm::enumerate(model.frontier)) {
          int64_t below = state.below + point.keptBytes;
          // Kept bytes only grow: a state past the head's limit is dead.
          if (segment + state.below + point.internalPeak > cap ||
              calibration.head + below > cap)
            continue;
          size_t bucket =
              static_cast<size_t>(std::max<int64_t>(below, 0) / width);
          State next{below,
                     state.cost + point.cost,
                     static_cast<int>(level),
                     static_cast<int>(index),
                     &model,
                     static_cast<uint32_t>(choice)};
          State &slot = table[bucket];
          if (!used[bucket] || std::tie(next.cost, next.below) <
                                   std::tie(slot.cost, slot.below)) {
            slot = next;
            used[bucket] = 1;
          }
        }
    };
    offer(layer, models[layer], calibration.segment[layer]);
    for (auto [first, chain] : endingAt[layer]) {
      // The chain's region rebuilds all its layers at the top one's
      // backward: the largest segment of its layers bounds it.
      int64_t segment = INT64_MIN;
      for (size_t l = first; l <= layer; ++l)
        segment = std::max(segment, calibration.segment[l]);
      offer(first, *chain, segment);
    }
    // Only states no other beats on both kept bytes and cost.
    std::vector<State> pruned;
    for (size_t bucket = 0; bucket < buckets; ++bucket)
      if (used[bucket] &&
          (pruned.empty() || table[bucket].cost < pruned.back().cost))
        pruned.push_back(table[bucket]);
    levels.push_back(std::move(pruned));
  }
  const State *best = nullptr;
  for (const State &state : levels.back())
    if (calibration.head + state.below <= cap &&
        (!best || state.cost < best->cost))
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

namespace {

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
};

/// The solver's state for one step: the layers' frontiers, the estimate's
/// constants, and Megatron's presets as planned candidates. solve() runs
/// for one cap; the frontier runs it for many.
class BudgetSolver {
public:
  BudgetSolver(const StepGraph &graph, const PlanOptions &options,
               const RecomputeCost &cost, bool distribute)
      : graph(graph), options(options), cost(cost), distribute(distribute) {}

  LogicalResult init(std::string &error) {
    xf::ModelAttr model = xf::getModel(graph.step);
    int64_t tensorParallel = model ? model.getTensorModelParallelSize() : 1;
    bool sequenceParallel = model && model.isSequenceParallel();
    if (distribute && (tensorParallel <= 1 || sequenceParallel)) {
      error = tensorParallel <= 1
                  ? "distribute-saved-activations needs a tensor-parallel "
                    "graph (tensor_model_parallel_size > 1)"
                  : "distribute-saved-activations cannot be combined with "
                    "sequence parallelism";
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
    // Ops outside the layers annotated ckpt.remat = "recompute" are
    // recomputed in every plan, as the presets do.
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Forward && node.region < 0 && !node.layer &&
          getRematAnnotation(node.op) == "recompute") {
        RecomputeGroup group = makeRecomputeGroup(
            graph, "outside " + node.module.str() + " (annotated)",
            std::nullopt, {static_cast<int>(index)}, true);
        if (!group.discarded.empty())
          fixed.push_back(std::move(group));
      }
    annotated = !fixed.empty() || llvm::any_of(models, [](const LayerModel &m) {
      return m.mustDiscard != 0;
    });
    bool distributable = tensorParallel > 1 && !sequenceParallel;
    for (MegatronPolicy preset : standardMegatronPolicies(
             countLayers(graph), distributable, model && model.isMoe())) {
      // Distributed: the full presets in their distributed form.
      if (distribute && preset.granularity == RecomputeGranularity::Full) {
        if (preset.distributeSavedActivations)
          continue; // Already there.
        preset.distributeSavedActivations = true;
      }
      std::string ignored;
      FailureOr<RematPlan> plan = preset.decide(graph, ignored);
      if (failed(plan) || plan->groups.empty())
        continue;
      presets.push_back(judge(std::move(*plan), preset.describe()));
      presets.back().preset = true;
    }
    return success();
  }

  const MemoryPlan &keepAll() const { return keepAllPlan; }
  const std::vector<Candidate> &presetCandidates() const { return presets; }

  /// The cheapest candidate whose planned arena is within `cap`.
  std::optional<Candidate> solve(int64_t cap) {
    if (cap < 0)
      return std::nullopt;
    if (!annotated && keepAllPlan.arenaBytes <= cap)
      return Candidate{RematPlan(), keepAllPlan.arenaBytes, 0, "keep all"};
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
        if (estimateCap >= keepAllPlan.arenaBytes)
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
    // preset that fits.
    for (const Candidate &preset : presets)
      consider(preset);
    return best;
  }

  /// The lowest planned peak the estimate or a preset reaches.
  Candidate lowest() {
    int64_t lo = 0, hi = keepAllPlan.arenaBytes;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cheapestWithin(models, calibration, mid, chains))
        hi = mid;
      else
        lo = mid + 1;
    }
    Candidate least =
        fromPicks(*cheapestWithin(models, calibration, hi, chains));
    for (const Candidate &preset : presets)
      if (preset.arena < least.arena)
        least = preset;
    return least;
  }

private:
  Candidate judge(RematPlan plan, std::string what) {
    Candidate candidate{std::move(plan), INT64_MAX, INT64_MAX, std::move(what)};
    FailureOr<int64_t> arena = plannedArenaBytes(
        graph, candidate.plan, options, nullptr, &candidate.cost, cost);
    if (succeeded(arena))
      candidate.arena = *arena;
    return candidate;
  }

  Candidate fromPicks(const std::vector<LayerPick> &picks) {
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
    std::string what;
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
    return judge(std::move(plan), what);
  }

  const StepGraph &graph;
  PlanOptions options;
  RecomputeCost cost;
  bool distribute;
  int64_t shards = 1; ///< Ranks the region inputs are distributed over.
  std::vector<LayerModel> models;
  std::vector<LayerModel> chains; ///< Of 2 to kMaxChainSpan layers.
  MemoryPlan keepAllPlan;
  PeakEstimate calibration;
  std::vector<Candidate> presets;
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
  BudgetSolver solver(graph, planOptions, cost, distributeSavedActivations);
  if (failed(solver.init(error)))
    return failure();
  int64_t cap = memoryBudget >= 0 ? memoryBudget : INT64_MAX;
  int64_t persistent = solver.keepAll().trainingPersistentBytes;
  if (deviceMemory >= 0)
    cap = std::min(cap, deviceMemory - persistent);
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
      what + ", below the smallest planned peak the solver reaches, " +
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
  int64_t high = solver.keepAll().arenaBytes;
  points = std::max(points, 2);
  for (int i = 0; i < points; ++i) {
    int64_t budget = low + (high - low) * i / (points - 1);
    std::optional<Candidate> best = solver.solve(budget);
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
