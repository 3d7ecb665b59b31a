//===- CkptInterfaces.td - Differentiation and cost --------*- tablegen -*-===//
//
// The training-step, remat and memory passes ask ops through these
// interfaces, never by op type, so another dialect can attach external
// models and run the passes unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_INTERFACES_CKPTINTERFACES_TD
#define CKPT_INTERFACES_CKPTINTERFACES_TD

include "mlir/IR/OpBase.td"

def DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::ckpt";
  let description = [{
    An op that knows its own gradient. `emitGradient` emits, at the builder's
    insertion point, the ops that compute the gradients of the op's operands
    from the gradients of its results, and may read only the operands and
    results for which `backwardNeedsOperand` / `backwardNeedsResult` hold:
    that is what defines the values kept for the backward pass exactly. The
    training-step pass checks the contract on every op.
  }];
  let methods = [
    InterfaceMethod<[{
        Whether the gradient ops read operand `index` (in the forward graph).
      }], "bool", "backwardNeedsOperand", (ins "unsigned":$index)>,
    InterfaceMethod<[{
        Whether the gradient ops read result `index`.
      }], "bool", "backwardNeedsResult", (ins "unsigned":$index)>,
    InterfaceMethod<[{
        Emits the gradient ops. `resultGrads` has one entry per result; a
        null entry means that result has no gradient (it is not used on the
        way to the loss). Returns one entry per operand: its gradient, or
        null where the operand is not differentiable (token ids, labels).
      }], "::mlir::FailureOr<::llvm::SmallVector<::mlir::Value>>",
      "emitGradient",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::ValueRange":$resultGrads)>,
  ];
}

def CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::ckpt";
  let description = [{
    The arithmetic an op performs: matrix-multiply FLOPs (2·m·n·k per GEMM)
    and other FLOPs (elementwise and reductions, per the table in
    docs/cost-model.md). Ops without this interface get the default estimate
    of `ckpt::getOpCost`: one FLOP per result element.
  }];
  let methods = [
    InterfaceMethod<"The op's cost.", "::ckpt::OpCost", "getCost">,
  ];
}

#endif // CKPT_INTERFACES_CKPTINTERFACES_TD
