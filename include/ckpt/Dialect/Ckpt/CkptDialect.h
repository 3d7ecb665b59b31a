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

namespace ckpt {
/// The op's `ckpt.remat` ("save" or "recompute"), or "" without one.
llvm::StringRef getRematAnnotation(mlir::Operation *op);
} // namespace ckpt

#endif // CKPT_DIALECT_CKPT_CKPTDIALECT_H
