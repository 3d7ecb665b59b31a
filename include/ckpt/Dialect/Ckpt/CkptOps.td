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
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "ckpt/Interfaces/CkptInterfaces.td"

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

    The discardable attribute `ckpt.policy` on a module is the recompute
    policy its model config named (Megatron's `recompute_granularity`,
    `recompute_method`, `recompute_num_layers`, `recompute_modules`,
    `distribute_saved_activations`, with those names): `--ckpt-remat` with
    no policy option applies it.
  }];
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let extraClassDeclaration = [{
    static constexpr ::llvm::StringLiteral kRematAttrName = "ckpt.remat";
    /// On a module: the recompute policy its config named.
    static constexpr ::llvm::StringLiteral kPolicyAttrName = "ckpt.policy";
    /// On a parameter argument: its gradient is partial on each of this many
    /// tensor-parallel ranks (a replicated parameter applied to a sequence
    /// shard) and the training step sums it over them.
    static constexpr ::llvm::StringLiteral kGradAllReduceAttrName =
        "ckpt.grad_all_reduce";
    /// On a module: its pipeline stage and schedule, a dictionary
    /// {stage, stages, virtual_stages, micro_batches} (pipelined configs).
    static constexpr ::llvm::StringLiteral kPipelineAttrName = "ckpt.pipeline";
    /// On an op of a pipelined graph: the stage's model chunk it belongs to
    /// (0 .. virtual_stages - 1).
    static constexpr ::llvm::StringLiteral kChunkAttrName = "ckpt.chunk";
    /// On an op of the unrolled step: its micro-batch.
    static constexpr ::llvm::StringLiteral kMicroBatchAttrName =
        "ckpt.micro_batch";
    /// On the sum of a parameter's gradient contributions (a parameter used
    /// in several places): the micro-batch schedule accumulates each
    /// contribution on its own and sums them once at the end.
    static constexpr ::llvm::StringLiteral kGradSumAttrName = "ckpt.grad_sum";
    /// On an add of the micro-batch schedule: it accumulates a parameter's
    /// gradient (its first operand and its result are that gradient's
    /// buffer, persistent as Megatron's main_grad, not arena memory).
    static constexpr ::llvm::StringLiteral kGradAccumulateAttrName =
        "ckpt.grad_accumulate";
    /// On a parameter argument: another stage holds the same parameter (the
    /// tied word embedding of the first and last stage); the step adds that
    /// stage's accumulated gradient to its own.
    static constexpr ::llvm::StringLiteral kTiedStageAttrName =
        "ckpt.tied_stage";
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
    `rng_stream`, so they reproduce the forward masks; a dropout whose value
    nothing reads becomes `xf.dropout_mask`, which regenerates the mask
    without the dropout's input.

    The body holds only ops whose results are yielded or read by a later op
    of the body: the verifier rejects a dead op. `whole_span` lifts the rule
    for a region that re-runs a checkpointed span whole, as Megatron-LM
    re-executes a checkpointed forward (`--ckpt-remat="region-ops=all"`, for
    comparisons). `span_matmul_flops`, `span_other_flops` and `span_bytes`
    record what re-running the whole span would cost (FLOPs, and bytes of
    every value it produces), so that reports can show the saving.

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
                       OptionalAttr<StrAttr>:$label,
                       UnitAttr:$whole_span,
                       OptionalAttr<I64Attr>:$span_matmul_flops,
                       OptionalAttr<I64Attr>:$span_other_flops,
                       OptionalAttr<I64Attr>:$span_bytes);
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

//===----------------------------------------------------------------------===//
// Tensor-parallel collectives (Megatron-LM's mappings). Each names its group
// and size; gather and scatter name the dimension. They are differentiable:
// the backward of a collective is its conjugate.
//===----------------------------------------------------------------------===//

class Ckpt_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Ckpt_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<DifferentiableOpInterface>,
        DeclareOpInterfaceMethods<CostOpInterface>])> {
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Ckpt_TpCopyOp : Ckpt_CollectiveOp<"tp_copy", [SameOperandsAndResultType]> {
  let summary = "enter a tensor-parallel region: identity, all-reduce backward";
  let description = [{
    Megatron's `copy_to_tensor_model_parallel_region` (its "f"): the forward
    is the identity; the backward sums the gradient over the group.
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$group,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ckpt_AllReduceOp : Ckpt_CollectiveOp<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "sum over the group; identity backward";
  let description = [{
    Megatron's `reduce_from_tensor_model_parallel_region` (its "g"), after a
    row-parallel linear without sequence parallelism.
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$group,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ckpt_AllGatherOp : Ckpt_CollectiveOp<"all_gather"> {
  let summary = "concatenate every rank's piece along a dimension";
  let description = [{
    The result's dimension `dim` is `size` times the input's, rank r's piece
    at [r·n, (r+1)·n). The backward is a reduce-scatter along `dim` when the
    consumer is tensor-parallel (each rank holds a partial gradient), or,
    with `tensor_parallel_output_grad = false` (Megatron's flag of the same
    name), a split: a replicated consumer gives every rank the whole
    gradient.
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$group,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$dim,
                       DefaultValuedAttr<BoolAttr, "true">:$tensor_parallel_output_grad);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Ckpt_ReduceScatterOp : Ckpt_CollectiveOp<"reduce_scatter"> {
  let summary = "sum over the group, each rank keeping its piece";
  let description = [{
    The result's dimension `dim` is the input's divided by `size`. The
    backward is an all-gather along `dim`.
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$group,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$dim);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Ckpt_ShardOp : Ckpt_CollectiveOp<"shard"> {
  let summary = "keep this rank's piece of a replicated tensor";
  let description = [{
    Megatron's `scatter_to_sequence_parallel_region`: rank r keeps
    [r·n, (r+1)·n) of dimension `dim`. No communication forward; the
    backward is an all-gather along `dim`.
  }];
  let arguments = (ins AnyRankedTensor:$input, StrAttr:$group,
                       ConfinedAttr<I64Attr, [IntPositive]>:$size,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$dim);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Pipeline stages: point-to-point transfers between the ranks of two stages
// (the same tensor-parallel position). They have effects, so no pass moves,
// merges or drops them; each send meets the peer's receive of the same
// type, in program order.
//===----------------------------------------------------------------------===//

class Ckpt_PointToPointOp<string mnemonic, list<Trait> traits = []>
    : Ckpt_Op<mnemonic, !listconcat(traits, [
        MemoryEffects<[MemRead, MemWrite]>,
        DeclareOpInterfaceMethods<DifferentiableOpInterface>,
        DeclareOpInterfaceMethods<CostOpInterface>])> {
  let hasVerifier = 1;
}

def Ckpt_SendOp : Ckpt_PointToPointOp<"send"> {
  let summary = "send a tensor to another pipeline stage";
  let description = [{
    Sends `input` to pipeline stage `stage` (Megatron's `send_forward` of a
    stage's output, or `send_backward` of its input's gradient). The
    backward receives the gradient of `input` from that stage. A send meets
    the receive with the same `tag` (the model chunk boundary it crosses;
    --ckpt-pipeline-schedule makes it unique per direction and
    micro-batch), so that transfers in both directions between two stages
    never meet the wrong receive.

    ```mlir
    ckpt.send %hidden {stage = 1 : i64} : tensor<16x2x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$stage,
                       DefaultValuedAttr<I64Attr, "0">:$tag);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Ckpt_RecvOp : Ckpt_PointToPointOp<"recv"> {
  let summary = "receive a tensor from another pipeline stage";
  let description = [{
    Receives the result from pipeline stage `stage` (`recv_forward` of the
    previous stage's output, or `recv_backward` of a gradient). The backward
    sends the result's gradient back to that stage.

    ```mlir
    %hidden = ckpt.recv {stage = 0 : i64} : tensor<16x2x64xf32>
    ```
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntNonNegative]>:$stage,
                       DefaultValuedAttr<I64Attr, "0">:$tag);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

#endif // CKPT_DIALECT_CKPT_CKPTOPS_TD
