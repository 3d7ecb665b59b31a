//===- Replication.cpp - Which values every tensor-parallel rank holds whole //
//
// One pass over the step's block in order: a value's replication follows
// from its producer's operands, which come before it.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/Replication.h"
#include "ckpt/Interfaces/OpTableAdapter.h"

using namespace mlir;
using namespace ckpt;

llvm::DenseSet<Value> ckpt::replicatedValues(func::FuncOp step) {
  llvm::DenseSet<Value> replicated;
  Block &block = step.getBody().front();
  for (BlockArgument argument : block.getArguments())
    replicated.insert(argument);
  for (Operation &op : block) {
    const ops::OpDef *def = lookupOpDef(&op);
    ops::TensorParallelResult kind =
        def ? def->tensorParallelResult
            : ops::TensorParallelResult::LikeOperands;
    bool whole = kind == ops::TensorParallelResult::Replicated;
    if (kind == ops::TensorParallelResult::LikeOperands)
      whole = llvm::all_of(op.getOperands(), [&](Value operand) {
        return replicated.contains(operand);
      });
    if (whole)
      for (Value result : op.getResults())
        replicated.insert(result);
  }
  return replicated;
}

bool ckpt::isDistributable(Value value, int64_t t,
                           const llvm::DenseSet<Value> &replicated) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return value.getDefiningOp() && replicated.contains(value) && type &&
         type.getRank() > 0 && type.getDimSize(0) % t == 0;
}
