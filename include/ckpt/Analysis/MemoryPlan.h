//===- MemoryPlan.h - Liveness and arena offsets of a step ------*- C++ -*-===//
//
// The schedule of a training step is its ops in block order with recompute
// regions flattened in place, exactly the order in which the runtime runs
// the lowered program. A tensor is live from the step that writes it to the
// last step that reads it, inclusive (the runtime frees inputs after the
// instruction and never-read outputs right away). Activations, recomputed
// values and temporaries share one arena; parameters, inputs, gradients and
// the loss live in the persistent region.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_ANALYSIS_MEMORYPLAN_H
#define CKPT_ANALYSIS_MEMORYPLAN_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>
#include <vector>

namespace ckpt {

class StepGraph;

enum class TensorKind { Kept, Recomputed, Workspace };

struct PlannedTensor {
  mlir::Value value;
  int tensor = -1; ///< In the step graph.
  TensorKind kind = TensorKind::Workspace;
  int64_t bytes = 0;  ///< Rounded up to the alignment.
  int64_t start = 0;  ///< Schedule step that writes it.
  int64_t end = 0;    ///< One past the last step that reads it.
  int64_t offset = 0; ///< In the arena.
};

struct PlanOptions {
  int64_t alignment = 64; ///< Every arena buffer starts and ends aligned.
  /// Wall-clock guard of the offset search when not deterministic.
  double seconds = 1.0;
  /// Bound the offset search by work alone (search nodes), so that one step
  /// always gets one plan on any machine (the budget solver's check equals
  /// the final plan); otherwise `seconds` guards it too.
  bool deterministic = true;
  /// Steps the exact offset search may take (planner::SearchOptions::work);
  /// 0 keeps the greedy plan.
  int64_t searchWork = 20000000;
  bool useDistributedOptimizer = false;
  int64_t dataParallelSize = 1;
};

/// Sets the data-parallel layout of `options` from the `xf.model` of
/// `op`'s module (the config's data_parallel_size and
/// use_distributed_optimizer); leaves it as it is without one.
void applyModelLayout(mlir::Operation *op, PlanOptions &options);

/// Checks the options a user gave: a power-of-two alignment and at least one
/// data-parallel rank; emits the problem at `loc`.
mlir::LogicalResult checkPlanOptions(const PlanOptions &options,
                                     mlir::Location loc);

struct MemoryPlan {
  std::vector<PlannedTensor> tensors;
  int64_t steps = 0;
  int64_t alignment = 64;
  int64_t arenaBytes = 0;      ///< Height of the offset assignment.
  int64_t lowerBoundBytes = 0; ///< Largest live total: the measured peak.
  /// When the arena is above the lower bound: by how much and why.
  std::string arenaNote;
  int64_t parameterCount = 0;          ///< Elements of all parameters.
  int64_t runtimePersistentBytes = 0;  ///< Parameters, inputs, gradients, loss.
  int64_t trainingPersistentBytes = 0; ///< Megatron: 18 (or 6 + 12/d) B/param.
  /// Live arena bytes at each step, per kind (the memory timeline), and the
  /// gradients produced so far.
  std::vector<int64_t> liveKept, liveRecomputed, liveWorkspace, liveGradients;

  double fragmentation() const {
    return lowerBoundBytes ? static_cast<double>(arenaBytes) / lowerBoundBytes
                           : 1.0;
  }
};

/// The elements of the step's parameters.
int64_t countParameters(const StepGraph &graph);
/// Megatron's bytes of weights, gradients and optimizer state for
/// `parameters` parameters: 18 a parameter replicated, 6 + 12/d with the
/// distributed optimizer over d data-parallel ranks.
int64_t trainingPersistentBytes(int64_t parameters, const PlanOptions &options);

/// Plans the step: liveness over the step graph's schedule and an offset for
/// every arena tensor.
MemoryPlan planMemory(const StepGraph &graph, const PlanOptions &options = {});

/// Writes the plan into the IR: `ckpt.offsets` (per result, -1 outside the
/// arena) on every scheduled op and `ckpt.memory` on the function.
void annotatePlan(const StepGraph &graph, const MemoryPlan &plan);

/// The alignment of the plan the step carries (`ckpt.memory`), or nullopt
/// without one.
std::optional<int64_t> getPlanAlignment(mlir::func::FuncOp step);

/// The plan annotatePlan wrote into the IR of the graph's step, checked:
/// every arena tensor at an offset aligned to `options.alignment`, inside
/// `ckpt.memory`'s arena, and no two tensors live at the same time
/// overlapping. Emits an error at the offending op.
mlir::FailureOr<MemoryPlan> readPlan(const StepGraph &graph,
                                     const PlanOptions &options = {});

/// readPlan on a step whose graph is built first.
mlir::LogicalResult verifyPlan(mlir::func::FuncOp step, int64_t alignment = 64);

} // namespace ckpt

#endif // CKPT_ANALYSIS_MEMORYPLAN_H
