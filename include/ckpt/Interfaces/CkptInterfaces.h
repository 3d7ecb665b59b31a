//===- CkptInterfaces.h - Differentiation and cost --------------*- C++ -*-===//

#ifndef CKPT_INTERFACES_CKPTINTERFACES_H
#define CKPT_INTERFACES_CKPTINTERFACES_H

#include "ckpt/OpTable/OpTable.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

namespace ckpt {

/// The arithmetic of one op.
/// FLOPs of an op (the op table's type, docs/cost-model.md).
using OpCost = ops::OpCost;

/// Bytes of a tensor type's data: elements times element size, where i1 (a
/// dropout mask) takes one byte. 0 for non-tensor types.
int64_t getTensorBytes(mlir::Type type);

/// Elements of a statically shaped tensor type; 0 otherwise.
int64_t getNumElements(mlir::Type type);

} // namespace ckpt

#include "ckpt/Interfaces/CkptInterfaces.h.inc"

namespace ckpt {
/// The op's cost from CostOpInterface, or the default estimate (one FLOP per
/// result element) for ops without it.
OpCost getOpCost(mlir::Operation *op);
} // namespace ckpt

#endif // CKPT_INTERFACES_CKPTINTERFACES_H
