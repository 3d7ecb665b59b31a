//===- Collectives.cpp - Tensor-parallel collectives ----------------------===//
//
// Verifiers, gradients and costs of Megatron's tensor-parallel mappings. The
// gradient of each collective is its conjugate: copy <-> all-reduce,
// all-gather <-> reduce-scatter, shard -> all-gather.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace ckpt;

namespace {
using Grads = FailureOr<SmallVector<Value>>;

/// Checks that `result` is `input` with dimension `dim` multiplied (gather)
/// or divided (scatter) by `size`.
LogicalResult verifyResized(Operation *op, Value input, Value result,
                            int64_t dim, int64_t size, bool gather) {
  auto in = cast<RankedTensorType>(input.getType());
  auto out = cast<RankedTensorType>(result.getType());
  if (in.getElementType() != out.getElementType())
    return op->emitOpError("keeps the element type");
  if (dim >= in.getRank())
    return op->emitOpError() << "dim " << dim << " is outside the rank-"
                             << in.getRank() << " operand";
  if (in.getRank() != out.getRank())
    return op->emitOpError("keeps the rank");
  for (int64_t d = 0; d < in.getRank(); ++d) {
    int64_t expected = in.getDimSize(d);
    if (d == dim) {
      if (!gather && expected % size != 0)
        return op->emitOpError()
               << "dimension " << dim << " (" << expected
               << ") must be divisible by the group size " << size;
      expected = gather ? expected * size : expected / size;
    }
    if (out.getDimSize(d) != expected)
      return op->emitOpError() << "result dimension " << d << " must be "
                               << expected << ", got " << out.getDimSize(d);
  }
  return success();
}

} // namespace

LogicalResult TpCopyOp::verify() {
  if (getGroup().empty())
    return emitOpError("needs a group name");
  return success();
}
LogicalResult AllReduceOp::verify() {
  if (getGroup().empty())
    return emitOpError("needs a group name");
  return success();
}
LogicalResult AllGatherOp::verify() {
  return verifyResized(*this, getInput(), getResult(), getDim(), getSize(),
                       /*gather=*/true);
}
LogicalResult ReduceScatterOp::verify() {
  return verifyResized(*this, getInput(), getResult(), getDim(), getSize(),
                       /*gather=*/false);
}
LogicalResult ShardOp::verify() {
  return verifyResized(*this, getInput(), getResult(), getDim(), getSize(),
                       /*gather=*/false);
}

// None of them reads its forward values in the backward.
#define CKPT_NO_SAVED(OP)                                                      \
  bool OP::backwardNeedsOperand(unsigned) { return false; }                    \
  bool OP::backwardNeedsResult(unsigned) { return false; }
CKPT_NO_SAVED(TpCopyOp)
CKPT_NO_SAVED(AllReduceOp)
CKPT_NO_SAVED(AllGatherOp)
CKPT_NO_SAVED(ReduceScatterOp)
CKPT_NO_SAVED(ShardOp)
#undef CKPT_NO_SAVED

Grads TpCopyOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  Value sum = b.create<AllReduceOp>(getLoc(), grads[0].getType(), grads[0],
                                    getGroupAttr(), getSizeAttr());
  return SmallVector<Value>{sum};
}

Grads AllReduceOp::emitGradient(OpBuilder &, ValueRange grads) {
  return SmallVector<Value>{grads[0]};
}

Grads AllGatherOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (!grads[0])
    return SmallVector<Value>{Value()};
  // A tensor-parallel consumer leaves partial gradients to sum; a
  // replicated one gives every rank the whole gradient to split.
  Value grad;
  if (getTensorParallelOutputGrad())
    grad =
        b.create<ReduceScatterOp>(getLoc(), getInput().getType(), grads[0],
                                  getGroupAttr(), getSizeAttr(), getDimAttr());
  else
    grad = b.create<ShardOp>(getLoc(), getInput().getType(), grads[0],
                             getGroupAttr(), getSizeAttr(), getDimAttr());
  return SmallVector<Value>{grad};
}

/// The backward of a scatter (reduce-scatter or shard): all-gather the
/// gradient of the piece back to the whole.
static Grads gatherGradient(OpBuilder &b, Location loc, Type wholeType,
                            Value grad, StringAttr group, IntegerAttr size,
                            IntegerAttr dim) {
  if (!grad)
    return SmallVector<Value>{Value()};
  Value whole = b.create<AllGatherOp>(loc, wholeType, grad, group, size, dim,
                                      b.getBoolAttr(true));
  return SmallVector<Value>{whole};
}

Grads ReduceScatterOp::emitGradient(OpBuilder &b, ValueRange grads) {
  return gatherGradient(b, getLoc(), getInput().getType(), grads[0],
                        getGroupAttr(), getSizeAttr(), getDimAttr());
}

Grads ShardOp::emitGradient(OpBuilder &b, ValueRange grads) {
  return gatherGradient(b, getLoc(), getInput().getType(), grads[0],
                        getGroupAttr(), getSizeAttr(), getDimAttr());
}

// Communication, not arithmetic: reductions count one addition per element.
OpCost TpCopyOp::getCost() { return {}; }
OpCost AllReduceOp::getCost() {
  return {0, getNumElements(getResult().getType())};
}
OpCost AllGatherOp::getCost() { return {}; }
OpCost ReduceScatterOp::getCost() {
  return {0, getNumElements(getInput().getType())};
}
OpCost ShardOp::getCost() { return {}; }
