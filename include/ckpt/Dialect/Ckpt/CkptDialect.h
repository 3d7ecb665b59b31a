//===- CkptDialect.h - The ckpt dialect -------------------------*- C++ -*-===//

#ifndef CKPT_DIALECT_CKPT_CKPTDIALECT_H
#define CKPT_DIALECT_CKPT_CKPTDIALECT_H

#include "ckpt/Interfaces/CkptInterfaces.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ckpt/Dialect/Ckpt/CkptOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "ckpt/Dialect/Ckpt/CkptOps.h.inc"

#include <optional>

namespace ckpt {
/// What a forward op's `ckpt.remat` says: nothing, keep its results
/// ("save") or recompute them ("recompute"). The IR spells it as a string,
/// as a user writes it by hand; the dialect verifies the spelling, and C++
/// reads and writes it only through these functions.
enum class RematAnnotation { None, Save, Recompute };
/// "save", "recompute" ("" for None).
llvm::StringRef toString(RematAnnotation annotation);
/// The op's annotation (None without one).
RematAnnotation getRematAnnotation(mlir::Operation *op);
/// Sets (or, with None, removes) the op's annotation.
void setRematAnnotation(mlir::Operation *op, RematAnnotation annotation);

/// A module's `ckpt.pipeline`: its stage and the schedule's size.
struct PipelineShape {
  int64_t stage = 0;
  int64_t stages = 1;
  int64_t virtualStages = 1;
  int64_t microBatches = 1;
};
/// The `ckpt.pipeline` of `module` (verified by the dialect), or nullopt
/// for a step of one micro-batch on one stage.
std::optional<PipelineShape> getPipelineShape(mlir::Operation *module);
} // namespace ckpt

#endif // CKPT_DIALECT_CKPT_CKPTDIALECT_H
