//===- OpTableAdapter.h - MLIR ops as the op table sees them ----*- C++ -*-===//
//
// The bridge between MLIR and the MLIR-free op table: the xf and ckpt ops
// verify, cost and declare their saved values by asking the table through
// these functions, and the graph builders infer result types with it.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_INTERFACES_OPTABLEADAPTER_H
#define CKPT_INTERFACES_OPTABLEADAPTER_H

#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/OpTable/OpTable.h"

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"

namespace ckpt {

/// The table's element type of an MLIR type (Other for any other type).
ops::ElementType toElementType(mlir::Type type);

/// The table entry of an xf or ckpt op (by its name without the dialect),
/// or null.
const ops::OpDef *lookupOpDef(mlir::Operation *op);

/// `op` as the table sees it: operand and result tensors and its inherent
/// attributes; none when a value is not a statically shaped tensor.
std::optional<ops::OpInstance> describeOp(mlir::Operation *op);

/// Checks `op` with its table entry; the table's message becomes the op's
/// diagnostic.
mlir::LogicalResult verifyWithOpTable(mlir::Operation *op);

/// The cost of `op` from its table entry.
ops::OpCost costFromOpTable(mlir::Operation *op);

/// Whether the gradient of `op` reads operand / result `index`.
bool backwardNeedsOperandFromTable(mlir::Operation *op, unsigned index);
bool backwardNeedsResultFromTable(mlir::Operation *op, unsigned index);

/// The result types of op `name` on `operands` with `attrs` (inherent
/// attributes only), from the table's shape rule; fails with the rule's
/// message.
mlir::FailureOr<llvm::SmallVector<mlir::RankedTensorType>>
inferResultTypes(llvm::StringRef name, mlir::ValueRange operands,
                 llvm::ArrayRef<mlir::NamedAttribute> attrs,
                 std::string &error);

} // namespace ckpt

/// Defines the verifier and the cost of op class OP from its table entry.
#define CKPT_OP_FROM_TABLE(OP)                                                 \
  ::mlir::LogicalResult OP::verify() {                                         \
    return ::ckpt::verifyWithOpTable(*this);                                   \
  }                                                                            \
  ::ckpt::OpCost OP::getCost() { return ::ckpt::costFromOpTable(*this); }

/// The same, and the values its gradient reads (DifferentiableOpInterface).
#define CKPT_DIFFERENTIABLE_OP_FROM_TABLE(OP)                                  \
  CKPT_OP_FROM_TABLE(OP)                                                       \
  bool OP::backwardNeedsOperand(unsigned index) {                              \
    return ::ckpt::backwardNeedsOperandFromTable(*this, index);                \
  }                                                                            \
  bool OP::backwardNeedsResult(unsigned index) {                               \
    return ::ckpt::backwardNeedsResultFromTable(*this, index);                 \
  }

#endif // CKPT_INTERFACES_OPTABLEADAPTER_H
