//===- PlanEvaluator.h - What a plan keeps and costs, without the rewrite -===//
//
// The figures of a remat plan read from the step graph it was decided on,
// without cloning or rewriting the IR: which forward values the rewritten
// step keeps for its backward (and which as 1/t shards), and what its
// regions re-run. It follows applyRematPlan's rules (ApplyRematPlan.cpp)
// step for step: the region of a group starts just before the first
// backward reader of what it discards, re-runs only the ops whose values
// are needed (a dropout whose output nothing reads regenerates its mask
// alone), reads a value the backward keeps anyway when it is still alive
// there, and with distributed saved activations starts from shards.
// PlanEvaluatorTest checks on every bundled model and policy that these
// figures equal the report of the rewritten step.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_PLANEVALUATOR_H
#define CKPT_REWRITE_PLANEVALUATOR_H

#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Rewrite/RematPlan.h"

#include <cstdint>
#include <vector>

namespace ckpt {

class RecomputeCost;

/// One recompute region of the rewritten step, as the evaluator sees it.
struct EvaluatedRegion {
  int group = 0;             ///< Its group in the plan.
  std::vector<int> ops;      ///< The group's nodes it re-runs, in order.
  std::vector<int> maskOnly; ///< Of those, dropouts it regenerates the mask of.
  std::vector<int> inputs;   ///< The tensors it starts from, in order.
  int64_t producedBytes = 0; ///< Every value it computes (with gathers).
};

struct PlanEvaluation {
  /// The tensors the rewritten step keeps for its backward, in order:
  /// forward values its backward or a region reads.
  std::vector<int> kept;
  /// Of the distributed region inputs, each kept as a 1/t shard.
  std::vector<int> sharded;
  /// The kept bytes, as the activation report counts them (a shard 1/t).
  int64_t keptBytes = 0;
  /// What the regions re-run, as the report's recompute FLOPs.
  ops::OpCost recompute;
  /// The same under `cost` (FLOPs or a profile's times).
  int64_t recomputeCost = 0;
  std::vector<EvaluatedRegion> regions;
  /// With planning options: the rewritten step as --ckpt-schedule orders
  /// it, planned as --ckpt-plan-memory plans it (one micro-batch's step: a
  /// pipeline stage's schedule is not unrolled here). -1 without options.
  int64_t steps = -1;
  int64_t arenaBytes = -1;
  int64_t lowerBoundBytes = -1;
};

/// The figures of `plan` on `graph` (a step without recompute regions), as
/// applyRematPlan with RegionOps::Needed would make them; with `options`,
/// also the planned arena of the scheduled step.
PlanEvaluation evaluatePlan(const StepGraph &graph, const RematPlan &plan,
                            const RecomputeCost *cost = nullptr,
                            const PlanOptions *options = nullptr);

} // namespace ckpt

#endif // CKPT_REWRITE_PLANEVALUATOR_H
