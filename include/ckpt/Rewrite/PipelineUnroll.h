//===- PipelineUnroll.h - A stage's micro-batches, unrolled ---*- C++ -*-===//

#ifndef CKPT_REWRITE_PIPELINEUNROLL_H
#define CKPT_REWRITE_PIPELINEUNROLL_H

#include "ckpt/Analysis/StepGraph.h"

#include "mlir/IR/BuiltinOps.h"

namespace ckpt {

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

} // namespace ckpt

#endif // CKPT_REWRITE_PIPELINEUNROLL_H
