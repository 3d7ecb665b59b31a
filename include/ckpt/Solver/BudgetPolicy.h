//===- BudgetPolicy.h - The cheapest recompute plan under a byte budget ---===//
//
// A memory budget instead of a preset: the solver returns the plan with the
// least recompute cost whose planned arena peak fits. Its decision space is
// per layer and per value: every forward value of a layer that the backward
// reads may be kept or discarded (and rebuilt in a recompute region), except
// the layer's output, which bounds those regions to their layer; and chains
// of consecutive layers recomputed whole from the chain's input. Mixed plans
// (selective on some layers, full on others, chains elsewhere, any set of
// values) are reachable. docs/policies.md ("Memory budget") states what it
// guarantees.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_SOLVER_BUDGETPOLICY_H
#define CKPT_SOLVER_BUDGETPOLICY_H

#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Plan/FrontierPoint.h"
#include "ckpt/Rewrite/RecomputeCost.h"
#include "ckpt/Rewrite/RematPolicy.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// One choice for a layer: the set of its candidates it discards (a bit per
/// candidate; every bit for a chain), the bytes it keeps and the recompute
/// cost its regions run.
struct LayerChoice {
  uint64_t discard = 0;
  /// Rounded to the plan's alignment, as planned: the kept candidates, the
  /// layer's output (kept in every choice), less what distributed saved
  /// activations shard of the values its regions start from.
  int64_t keptBytes = 0;
  int64_t cost = 0;
  /// The peak of the layer's own bytes during its backward: kept values,
  /// the backward's temporaries and the regions' values.
  int64_t internalPeak = 0;
};

/// A layer, or a chain of consecutive layers, as the solver sees it.
struct LayerModel {
  int64_t layer = 0; ///< The first layer it covers.
  /// The layers it covers: 1, or a chain of `span` layers recomputed as one
  /// region from the chain's input (Megatron's full recompute of N layers),
  /// whose only choice discards everything but the chain's output.
  int64_t span = 1;
  /// Megatron's distribute_saved_activations: the values its regions start
  /// from are kept as 1/t shards and all-gathered in the region (t, or 1).
  int64_t distribute = 1;
  /// Layers with one structure (ops, shapes, edges) share a number, and so
  /// their frontiers and chains.
  int structure = -1;
  std::vector<int> nodes;      ///< Its forward nodes, in order.
  std::vector<int> candidates; ///< Tensors it makes that the backward reads.
  /// Candidates whose producer is annotated ckpt.remat = "recompute" (must
  /// be discarded) or "save" (must be kept), a bit each.
  uint64_t mustDiscard = 0, mustKeep = 0;
  /// The groups its regions come from: maximal runs of consecutive nodes
  /// with one module tag (a norm, the QKV projection, core attention, ...);
  /// one run for a chain.
  std::vector<std::vector<int>> runs;
  std::vector<std::string> runLabels;
  /// Every choice that no other beats on kept bytes, backward peak and cost
  /// at once, cheapest first (so the first keeps all); a chain's one choice.
  std::vector<LayerChoice> frontier;
  /// The first candidate of its second half when its subsets were
  /// enumerated as two halves that the backward reads apart, else -1.
  int halvesAt = -1;
};

/// The layers of `graph` with their frontiers, from every subset of each
/// layer's candidates (layers whose structure repeats share the work).
/// Fails with `error` when a layer has more candidates than the solver
/// enumerates (24). `distribute` is the tensor-parallel size when saved
/// activations are distributed, else 1.
mlir::FailureOr<std::vector<LayerModel>> buildLayerModels(
    const StepGraph &graph, std::string &error, int64_t alignment = 64,
    const RecomputeCost &cost = RecomputeCost(), int64_t distribute = 1);

/// Chains of 2 to `maxSpan` consecutive layers over `layers` (from
/// buildLayerModels), each with its one choice: everything discarded but
/// the chain's output. Chains that would re-run an op annotated "save" are
/// left out.
std::vector<LayerModel>
buildChainModels(const StepGraph &graph, const std::vector<LayerModel> &layers,
                 int64_t maxSpan, int64_t alignment = 64,
                 const RecomputeCost &cost = RecomputeCost());

/// The frontier of `model` from every subset of its candidates, never as
/// two halves (what buildLayerModels' frontier is checked against).
std::vector<LayerChoice>
frontierOfEverySubset(const StepGraph &graph, const LayerModel &model,
                      int64_t alignment = 64,
                      const RecomputeCost &cost = RecomputeCost());

/// What choice `discard` of `model` keeps and costs (a frontier point or
/// any other subset; ignored for a chain, which discards everything).
LayerChoice evaluateLayerChoice(const StepGraph &graph, const LayerModel &model,
                                uint64_t discard, int64_t alignment = 64,
                                const RecomputeCost &cost = RecomputeCost());

/// One model's choice in a plan: a layer's subset or a chain.
struct LayerPick {
  const LayerModel *model = nullptr;
  uint64_t discard = 0;
};

/// The plan that applies the picks: one group per module run of a layer
/// that discards anything, one group per chain.
RematPlan makeLayerPlan(const StepGraph &graph,
                        const std::vector<LayerPick> &picks);
/// The same with one choice per layer (`discards[i]` for `models[i]`).
RematPlan makeLayerPlan(const StepGraph &graph,
                        const std::vector<LayerModel> &models,
                        const std::vector<uint64_t> &discards);

/// The estimate the solver plans with: during layer l's backward the peak
/// is segment[l] + the kept bytes of the layers below l + layer l's own
/// backward peak (for a chain: the largest segment of its layers + the kept
/// bytes below the chain + the chain's backward peak); outside the layers'
/// backward it is head + the kept bytes of every layer. On a pipeline stage
/// the other micro-batches in flight add their kept bytes to every term.
struct PeakEstimate {
  std::vector<int64_t> segment;
  int64_t head = 0;
  /// At a stage's peak its micro-batches in flight hold `inFlightChunks`
  /// model chunks, each 1/`chunks` of the step's layers (v chunks a
  /// micro-batch when interleaved): besides the micro-batch the terms above
  /// follow, (inFlightChunks - chunks) / chunks copies of its kept bytes.
  /// 1 / 1 for a step of one micro-batch at a time.
  int64_t inFlightChunks = 1, chunks = 1;

  /// What the other micro-batches in flight hold when one keeps `kept`.
  int64_t othersInFlight(int64_t kept) const {
    return kept * (inFlightChunks - chunks) / chunks;
  }
};

/// The estimate's constants, from the timeline of the plan that keeps all.
PeakEstimate calibratePeakEstimate(const StepGraph &graph,
                                   const std::vector<LayerModel> &models,
                                   const MemoryPlan &keepAllPlan);

/// The cheapest choice per layer (`models[i].frontier`), or chain covering
/// it (`chains`), whose estimated peak stays within `cap`, as picks in
/// layer order; none when no choice does. Dynamic programming over the
/// layer chain on the kept bytes of the layers so far, states bucketed at
/// 1/2048 of the cap (the cheapest per bucket). With other micro-batches
/// in flight every term grows with the total kept bytes T, known at the
/// end: the states also carry the largest backward peak so far, bucketed
/// alike, and are checked against T as it grows. Without other
/// micro-batches in flight a state is offered only the choices that can
/// win a bucket from it; `everyChoice` offers every choice (the reference
/// it is tested against: the same picks).
std::optional<std::vector<LayerPick>>
cheapestWithin(const std::vector<LayerModel> &models,
               const PeakEstimate &estimate, int64_t cap,
               const std::vector<LayerModel> &chains = {},
               bool everyChoice = false);

/// Whether any choice per layer (or chain) keeps the estimated peak within
/// `cap`, whatever it costs: exactly the caps at which cheapestWithin,
/// offering every choice and keeping every state, would find picks. With
/// other micro-batches in flight it checks each layer's own peak, not the
/// largest so far, against the final kept bytes, so it may admit a cap
/// cheapestWithin does not (never the reverse): a lower bound either way.
bool fitsWithin(const std::vector<LayerModel> &models,
                const PeakEstimate &estimate, int64_t cap,
                const std::vector<LayerModel> &chains = {});

/// The planned arena of the graph's step under `plan`, applied to a copy
/// with regions that re-run only what the backward reads, scheduled and
/// planned as --ckpt-schedule and --ckpt-plan-memory do; a pipeline stage's
/// step is unrolled into its micro-batches first, as
/// --ckpt-pipeline-schedule does, so the arena is the stage's. Also the
/// report's persistent bytes (Megatron's accounting) and the recompute cost
/// of one micro-batch's step (its recompute ops under `cost`), when asked
/// for. `microBatches` > 0 unrolls a stage's schedule for that many
/// micro-batches instead of the module's.
mlir::FailureOr<int64_t> plannedArenaBytes(
    const StepGraph &graph, const RematPlan &plan, const PlanOptions &options,
    int64_t *persistent = nullptr, int64_t *recomputeCost = nullptr,
    const RecomputeCost &cost = RecomputeCost(), int64_t microBatches = 0);

/// The solver's plans at `points` budgets spread evenly from the lowest
/// planned peak it reaches to the keep-all arena, then the presets.
mlir::FailureOr<std::vector<FrontierPoint>>
budgetFrontier(const StepGraph &graph, const PlanOptions &options, int points,
               std::string &error, bool distributeSavedActivations = false);

class BudgetPolicy : public RematPolicy {
public:
  int64_t memoryBudget = -1; ///< Cap on the planned arena, or -1.
  RecomputeCost cost;        ///< What the solver minimizes.
  int64_t deviceMemory = -1; ///< Cap on arena + persistent state, or -1.
  /// Region inputs kept as 1/t shards (a tensor-parallel graph without
  /// sequence parallelism), as Megatron's distribute_saved_activations.
  bool distributeSavedActivations = false;
  PlanOptions planOptions; ///< As --ckpt-plan-memory plans.
  /// A 1F1B stage of more than 2p micro-batches is searched on a schedule
  /// of 2p (as many in flight) and the answer judged on its own; true
  /// judges every candidate on its own schedule (the reference the
  /// shortcut is tested against).
  bool searchOnOwnSchedule = false;

  std::string describe() const override;
  mlir::FailureOr<RematPlan> decide(const StepGraph &graph,
                                    std::string &error) const override;
};

} // namespace ckpt

#endif // CKPT_SOLVER_BUDGETPOLICY_H
