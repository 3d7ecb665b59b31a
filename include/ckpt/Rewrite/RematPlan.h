//===- RematPlan.h - What to recompute, and the rewrite that does it -*- C++
//-*-===//
//
// A remat plan says, over the step graph, which forward values the backward
// no longer keeps and which forward ops each recompute region re-runs to
// rebuild them. Policies decide plans (RematPolicy.h); one rewrite applies
// any plan to the IR. Keeping the two apart lets a new policy (a memory
// budget solver) reuse the rewrite, and lets a plan be inspected before it
// is applied.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_REMATPLAN_H
#define CKPT_REWRITE_REMATPLAN_H

#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Options/CompileOptions.h"

#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// One recompute region: the forward ops it re-runs and the kept values it
/// replaces in the backward.
struct RecomputeGroup {
  std::string label;
  std::optional<int64_t> layer; ///< The region's layer tag.
  std::vector<int> nodes;       ///< Forward nodes to re-run, in order.
  std::vector<int> discarded;   ///< Tensors the backward reads from it.
};

struct RematPlan {
  std::vector<RecomputeGroup> groups; ///< In the order of their first op.
  /// Megatron's distribute_saved_activations: every region input whose
  /// first dimension divides by `tensorParallelSize` is kept as a 1/t shard
  /// and all-gathered at the start of the region.
  bool distributeInputs = false;
  int64_t tensorParallelSize = 1;
  /// The tensors a plan file places as shards: the rewrite must shard
  /// exactly these (none: whatever distributeInputs shards).
  std::optional<std::vector<int>> expectedShards;
};

/// A group over `candidates` (forward nodes, in order): the nodes it re-runs
/// (all but those annotated `ckpt.remat = "save"`) and the kept values they
/// produce that it discards, i.e. all of them but the group's outputs (values
/// that forward ops outside the group read) unless `discardOutputs`.
RecomputeGroup makeRecomputeGroup(const StepGraph &graph, std::string label,
                                  std::optional<int64_t> layer,
                                  const std::vector<int> &candidates,
                                  bool discardOutputs);

struct RematResult {
  int regions = 0;
  int64_t largestTransientBytes = 0; ///< Values produced in one region.
  int removedOps = 0; ///< Group ops that no region re-runs (Needed).
  std::string largestLabel;
  /// The tensors (of the graph the plan was decided on) kept as 1/t shards,
  /// in order.
  std::vector<int> sharded;
  /// The graph of the rewritten step (built once to mark the producers),
  /// for a caller that analyses or plans next without moving ops.
  std::optional<StepGraph> graph;
};

/// Applies `plan` (decided on `graph`, the graph of `step`): each group
/// becomes a `ckpt.recompute` region before the first backward reader of
/// its discarded values, whose results replace them in the backward; the
/// forward ops whose results the backward no longer reads are marked
/// `ckpt.remat = "recompute"`. The region re-runs the group's ops that
/// `regionOps` selects and records the cost of the whole group (span_*
/// attributes). The result is checked as by verifyRemat.
mlir::FailureOr<RematResult>
applyRematPlan(const StepGraph &graph, const RematPlan &plan,
               RegionOps regionOps = RegionOps::Needed);

/// Moves each recompute region of `step` just before its first reader
/// (--ckpt-schedule).
void scheduleRecomputeRegions(mlir::func::FuncOp step);

/// Checks that no backward op reads a result of a forward op marked
/// `ckpt.remat = "recompute"`; emits an error at each offending op.
mlir::LogicalResult verifyRemat(mlir::func::FuncOp step);

} // namespace ckpt

#endif // CKPT_REWRITE_REMATPLAN_H
