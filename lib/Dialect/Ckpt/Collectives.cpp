//===- Collectives.cpp - Tensor-parallel collectives ----------------------===//
//
// Gradients of Megatron's tensor-parallel mappings. The
// gradient of each collective is its conjugate: copy <-> all-reduce,
// all-gather <-> reduce-scatter, shard -> all-gather.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Interfaces/OpTableAdapter.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace ckpt;

using Grads = FailureOr<SmallVector<Value>>;

// Verifiers, costs and saved values come from the op table.
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(TpCopyOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(AllReduceOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(AllGatherOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(ReduceScatterOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(ShardOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(SendOp)
CKPT_DIFFERENTIABLE_OP_FROM_TABLE(RecvOp)

// A stage's output goes to the next stage; its gradient comes back from
// there, and the gradient of a received input goes back where it came from.
Grads SendOp::emitGradient(OpBuilder &b, ValueRange) {
  Value grad = b.create<RecvOp>(getLoc(), getInput().getType(), getStageAttr(),
                                getTagAttr());
  return SmallVector<Value>{grad};
}

Grads RecvOp::emitGradient(OpBuilder &b, ValueRange grads) {
  if (grads[0])
    b.create<SendOp>(getLoc(), grads[0], getStageAttr(), getTagAttr());
  return SmallVector<Value>{};
}

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
