//===- Passes.h - ckpt-opt passes -------------------------------*- C++ -*-===//

#ifndef CKPT_TRANSFORMS_PASSES_H
#define CKPT_TRANSFORMS_PASSES_H

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <functional>

namespace ckpt {

#define GEN_PASS_DECL
#include "ckpt/Transforms/Passes.h.inc"

/// Builds the training step named `stepName` from `forward` (see the
/// xf-training-step pass) and erases `forward`. Emits diagnostics and returns
/// failure when the function cannot be differentiated.
mlir::FailureOr<mlir::func::FuncOp>
buildTrainingStep(mlir::func::FuncOp forward, llvm::StringRef stepName);

/// The training step named `name`, or null after an error that tells the
/// user to run --xf-training-step.
mlir::func::FuncOp lookupTrainingStep(mlir::ModuleOp module,
                                      llvm::StringRef name);

class StepGraph;

/// The graph of `step`, which must have no recompute regions yet (the
/// comparisons start from the plain step); otherwise an error at the module
/// that says to run `what` before --ckpt-remat.
mlir::FailureOr<StepGraph> buildStepWithoutRegions(mlir::ModuleOp module,
                                                   mlir::func::FuncOp step,
                                                   llvm::StringRef what);

/// Unrolls the training step `stepName` of a pipeline stage (a module with
/// `ckpt.pipeline`) into its micro-batches in the stage's schedule, as
/// --ckpt-pipeline-schedule does: the step is replaced by one of the same
/// name. Nothing to do without `ckpt.pipeline` or once unrolled; fails with
/// a diagnostic on a shape the schedule cannot run.
mlir::LogicalResult unrollPipelineSchedule(mlir::ModuleOp module,
                                           llvm::StringRef stepName);
/// The graph of the step `stepName` once unrolled (the stage's whole
/// schedule, as the planner sees it).
mlir::FailureOr<StepGraph> unrolledStepGraph(mlir::ModuleOp module,
                                             llvm::StringRef stepName);

namespace plan {
struct PlacementPlan;
} // namespace plan

/// Receives the placement plan --ckpt-remat decided (a driver that writes
/// the plan file with its other outputs).
using PlacementPlanSink = std::function<void(plan::PlacementPlan)>;
/// --ckpt-remat with its default options, handing its decision to `sink`.
std::unique_ptr<mlir::Pass> createCkptRemat(PlacementPlanSink sink);

#define GEN_PASS_REGISTRATION
#include "ckpt/Transforms/Passes.h.inc"

} // namespace ckpt

#endif // CKPT_TRANSFORMS_PASSES_H
