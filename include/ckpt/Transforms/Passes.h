//===- Passes.h - ckpt-opt passes -------------------------------*- C++ -*-===//

#ifndef CKPT_TRANSFORMS_PASSES_H
#define CKPT_TRANSFORMS_PASSES_H

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Options/CompileOptions.h"
#include "ckpt/Rewrite/PipelineUnroll.h"
#include "ckpt/Rewrite/StepLookup.h"
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

namespace plan {
struct PlacementPlan;
} // namespace plan

/// Receives the placement plan --ckpt-remat decided (a driver that writes
/// the plan file with its other outputs).
using PlacementPlanSink = std::function<void(plan::PlacementPlan)>;
/// --ckpt-remat, its options read from the pass options (Options.def).
std::unique_ptr<mlir::Pass> createCkptRemat();
/// --ckpt-remat with the typed `options` a driver chose, handing its
/// decision to `sink` (when given).
std::unique_ptr<mlir::Pass> createCkptRemat(CompileOptions options,
                                            PlacementPlanSink sink = nullptr);

/// --ckpt-plan-memory with the typed planning options a driver chose
/// (alignment, plan-seconds, plan-search-work).
std::unique_ptr<mlir::Pass> createCkptPlanMemory(const CompileOptions &options);

#define GEN_PASS_REGISTRATION
#include "ckpt/Transforms/Passes.h.inc"

} // namespace ckpt

#endif // CKPT_TRANSFORMS_PASSES_H
