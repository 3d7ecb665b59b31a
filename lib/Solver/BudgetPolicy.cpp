//===- BudgetPolicy.cpp - The cheapest recompute plan under a byte budget -===//
//
// The layers' frontiers (BudgetLayerModel.cpp) are combined by a dynamic
// program over the layer chain (LayerChainSearch.cpp): during layer l's
// backward the peak is a constant taken from the keep-all plan's timeline
// (calibratePeakEstimate, here), plus the kept bytes of the layers below,
// plus layer l's own backward peak. The memory planner
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
