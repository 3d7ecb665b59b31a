//===- CkptOps.td - The ckpt dialect -----------------------*- tablegen -*-===//
//
// What the rematerialization passes introduce into a training step.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_DIALECT_CKPT_CKPTOPS_TD
#define CKPT_DIALECT_CKPT_CKPTOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

def Ckpt_Dialect : Dialect {
  let name = "ckpt";
  let cppNamespace = "::ckpt";
  let summary = "Rematerialization: recompute regions";
  let description = [{
    The `ckpt` dialect holds what the rematerialization passes add to a
    training step. `ckpt.recompute` is a region that recomputes, in the
    backward, forward values that the policy chose not to keep.

    The discardable attribute `ckpt.remat` on a forward op is either an
    annotation (`"save"`: its results must be kept; `"recompute"`: they must
    be recomputed, as PyTorch's selective checkpointing's MUST_SAVE and
    MUST_RECOMPUTE) or, after `--ckpt-remat`, the record of the decision:
    every forward op whose results the backward no longer reads directly
    carries `ckpt.remat = "recompute"`. `--ckpt-verify-remat` checks that no
    backward op reads a result of such an op.
  }];
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    static constexpr ::llvm::StringLiteral kRematAttrName = "ckpt.remat";
  }];
}

class Ckpt_Op<string mnemonic, list<Trait> traits = []>
    : Op<Ckpt_Dialect, mnemonic, traits>;

def Ckpt_RecomputeOp : Ckpt_Op<"recompute", [
    IsolatedFromAbove, SingleBlockImplicitTerminator<"YieldOp">,
    RecursiveMemoryEffects]> {
  let summary = "recompute forward values for the backward";
  let description = [{
    The body is a copy of forward ops (tagged `xf.phase = "recompute"`). Its
    block arguments are the region's operands: the kept values it starts
    from (and the parameters it reads); its results are the yielded copies,
    which replace the discarded forward values in the backward ops that
    follow. Because the region is isolated from above, its operands are
    exactly what the recomputation reads. Dropout copies keep their
    `rng_stream`, so they reproduce the forward masks.

    ```mlir
    %probs, %mask = ckpt.recompute(%q, %k) {label = "layer 0 core_attn"}
        : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>)
        -> (tensor<2x4x16x16xf32>, tensor<2x4x16x16xi1>) {
    ^bb0(%q1: tensor<2x4x16x8xf32>, %k1: tensor<2x4x16x8xf32>):
      ...
      ckpt.yield %p, %m : tensor<2x4x16x16xf32>, tensor<2x4x16x16xi1>
    }
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$inputs,
                       OptionalAttr<StrAttr>:$label);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::mlir::TypeRange":$resultTypes,
                   "::mlir::ValueRange":$inputs,
                   "::llvm::StringRef":$label)>
  ];
}

def Ckpt_YieldOp : Ckpt_Op<"yield", [Pure, Terminator,
    HasParent<"RecomputeOp">, ReturnLike]> {
  let summary = "the values a recompute region produces";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
  let builders = [OpBuilder<(ins), [{ /* nothing */ }]>];
}

#endif // CKPT_DIALECT_CKPT_CKPTOPS_TD
