//===- Replication.h - Which values every tensor-parallel rank holds whole
//-===//
//
// Distributed saved activations keep a 1/t shard of a value on each rank
// and all-gather it back: that rebuilds the value only if every rank held
// the same value (the layer input, a norm's output), never for a rank's own
// piece (a column-parallel linear's output, its attention heads).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_ANALYSIS_REPLICATION_H
#define CKPT_ANALYSIS_REPLICATION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"

namespace ckpt {

/// The values of `step`'s forward that are identical on every
/// tensor-parallel rank. Conservative: block arguments (tokens, labels,
/// parameters as the operands of non-linear ops) and the results of
/// all-reduce, all-gather and tp_copy are; xf.linear's results are not (its
/// weight may be a rank's slice); any other op's results are when all its
/// operands are.
llvm::DenseSet<mlir::Value> replicatedValues(mlir::func::FuncOp step);

/// Whether distributed saved activations can shard `value` over `t` ranks:
/// an activation (made by an op) that every rank holds whole (in
/// `replicated`) and whose first dimension splits into t pieces. The
/// rewrite and the budget solver's layer model ask the same question.
bool isDistributable(mlir::Value value, int64_t t,
                     const llvm::DenseSet<mlir::Value> &replicated);

} // namespace ckpt

#endif // CKPT_ANALYSIS_REPLICATION_H
