//===- StepGraph.h - The compact graph of a training step -------*- C++ -*-===//
//
// Built once from the IR of a training step: its ops in execution order
// (recompute regions flattened in place, exactly as the runtime runs the
// lowered program), every tensor with its bytes, phase, layer and module,
// producer and readers, its role, and whether the backward keeps it. The
// activation report, liveness and the memory planner, the policy comparison,
// the program export and the recompute policies read this structure, so a
// fact such as "kept" has one definition (StepGraph.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_ANALYSIS_STEPGRAPH_H
#define CKPT_ANALYSIS_STEPGRAPH_H

#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/OpTable/ProgramFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// The phase of an op in a training step: forward ops carry no `xf.phase`;
/// every op inside a recompute region is a recompute op.
enum class Phase { Forward, Backward, Recompute };
Phase getPhase(mlir::Operation *op);
const char *phaseName(Phase phase);

/// What a tensor is to the step: the program format's roles.
using TensorRole = ops::TensorRole;

struct StepTensor {
  mlir::Value value;           ///< The IR value (an argument or an op result).
  int64_t bytes = 0;           ///< Elements times element size (i1: one byte).
  int producer = -1;           ///< Node index; -1 for an argument.
  llvm::ArrayRef<int> readers; ///< Nodes that read it, in order, once each.
  Phase phase = Phase::Forward;
  TensorRole role = TensorRole::Temporary;
  /// A forward value that a backward or recompute op reads: it stays alive
  /// from the forward into the backward.
  bool kept = false;
  bool isArgument() const { return producer < 0; }
};

struct StepNode {
  mlir::Operation *op = nullptr;
  Phase phase = Phase::Forward;
  std::optional<int64_t> layer;
  llvm::StringRef module;      ///< The xf.module tag ("" without one).
  llvm::ArrayRef<int> inputs;  ///< Tensor ids, region aliases resolved.
  llvm::ArrayRef<int> outputs; ///< Tensor ids.
  int region = -1;             ///< The recompute region it belongs to, or -1.
};

struct StepRegion {
  mlir::Operation *op = nullptr; ///< The ckpt.recompute op.
  std::string label;
  int firstNode = 0, endNode = 0; ///< Its nodes: [firstNode, endNode).
  int64_t producedBytes = 0;      ///< Bytes of every value it computes.
};

/// Whether a training step's first result is its loss: every gradient names
/// its parameter (xf.grad_of); a pipeline stage without the head returns
/// gradients only.
bool returnsLoss(mlir::func::FuncOp step);

class StepGraph {
public:
  StepGraph() = default;
  StepGraph(StepGraph &&) = default;
  StepGraph &operator=(StepGraph &&) = default;
  StepGraph(const StepGraph &) = delete;
  StepGraph &operator=(const StepGraph &) = delete;

  /// Builds the graph of `step`. Fails with a diagnostic at the op whose
  /// value is not a statically shaped tensor.
  static mlir::FailureOr<StepGraph> build(mlir::func::FuncOp step);

  /// An op handle: a value whose methods are not const.
  mutable mlir::func::FuncOp step;
  std::vector<StepNode> nodes;
  std::vector<StepTensor> tensors; ///< Arguments first, then node outputs.
  std::vector<StepRegion> regions;
  std::vector<int> results; ///< The returned tensors; the loss first.
  /// Whether results[0] is the loss (a pipeline stage without the head
  /// returns only gradients).
  bool hasLoss = true;

  /// The tensor a value stands for (through region arguments and results),
  /// or -1.
  int tensorOf(mlir::Value value) const;
  /// Whether a backward or recompute node reads the tensor.
  bool isReadOutsideForward(int tensor) const;
  /// The node a reader of a tensor is attributed to: the first backward
  /// reader, else the first recompute reader, else -1.
  int attributedReader(int tensor) const;
  /// The FLOPs of node `node` (the op's CostOpInterface, computed on first
  /// request: planning never needs them).
  const OpCost &cost(int node) const;
  /// Computes every node's FLOPs now, so that cost() only reads after it
  /// (threads may then share the graph).
  void computeAllCosts() const;

private:
  friend struct StepGraphAccess;
  llvm::DenseMap<mlir::Value, int> index_;
  std::vector<int> operands_; ///< Every node's inputs, then its outputs.
  std::vector<int> readers_;  ///< Every tensor's readers, tensor by tensor.
  mutable std::vector<std::optional<OpCost>> costs_;
};

} // namespace ckpt

#endif // CKPT_ANALYSIS_STEPGRAPH_H
