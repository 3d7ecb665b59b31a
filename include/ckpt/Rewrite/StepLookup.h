//===- StepLookup.h - The training step a rewrite works on ----*- C++ -*-===//

#ifndef CKPT_REWRITE_STEPLOOKUP_H
#define CKPT_REWRITE_STEPLOOKUP_H

#include "ckpt/Analysis/StepGraph.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace ckpt {

/// The training step named `name`, or null after an error that tells the
/// user to run --xf-training-step.
mlir::func::FuncOp lookupTrainingStep(mlir::ModuleOp module,
                                      llvm::StringRef name);

/// The graph of `step`, which must have no recompute regions yet (the
/// comparisons start from the plain step); otherwise an error at the module
/// that says to run `what` before --ckpt-remat.
mlir::FailureOr<StepGraph> buildStepWithoutRegions(mlir::ModuleOp module,
                                                   mlir::func::FuncOp step,
                                                   llvm::StringRef what);

} // namespace ckpt

#endif // CKPT_REWRITE_STEPLOOKUP_H
