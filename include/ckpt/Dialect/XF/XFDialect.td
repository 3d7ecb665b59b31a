//===- XFDialect.td - The xf dialect definition ------------*- tablegen -*-===//
//
// The xf dialect models transformer forward graphs with value semantics on
// statically shaped builtin tensors.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_DIALECT_XF_XFDIALECT_TD
#define CKPT_DIALECT_XF_XFDIALECT_TD

include "mlir/IR/OpBase.td"

def XF_Dialect : Dialect {
  let name = "xf";
  let cppNamespace = "::ckpt::xf";
  let summary = "Transformer forward graphs with static shapes";
  let description = [{
    The `xf` dialect describes the forward pass of a Megatron-style GPT model
    as a graph of coarse operations (embedding, layer norm, linear, GeLU,
    dropout, the pieces of attention, residual add, cross-entropy loss) on
    statically shaped builtin `tensor` values. Every op is free of side
    effects: dropout is a pure function of its input, its probability and its
    `rng_stream`, so that recomputing it reproduces the same mask.

    **Layouts.** Activations are sequence-first as in Megatron-LM:
    hidden states are `[s, b, h]` (sequence, micro-batch, hidden). Token ids
    and labels are `[b, s]` integers. Per-head tensors are `[b, a, s, d]`
    (heads `a`, head size `d = h / a`), attention scores and probabilities are
    `[b, a, s, s]`. Weights follow PyTorch's `nn.Linear`: `[out, in]`.

    **Element types.** Floating-point activations and parameters are `f32`,
    `bf16` or `f16`; the loss is an `f32` scalar. Dropout masks are tensors
    of `i1`; **a mask element occupies one byte** in every size computation
    of this project (memory accounting, program files, runtime buffers),
    as in Megatron-LM, which stores masks as `torch.bool`/`uint8`.

    **Tags.** Every forward op carries the discardable attributes
    `xf.module` (a string naming its module: `embedding`, `layernorm`,
    `qkv`, `core_attn`, `attn_proj`, `mlp`, `head`, `loss`) and, when it
    belongs to a transformer layer, `xf.layer` (the 0-based layer index, an
    `i64`). They are discardable attributes so that ops of other dialects can
    carry them too; the dialect verifies their form wherever they appear.
    Ops that passes add to the training step carry `xf.phase`:
    `"backward"` for gradient computation, `"recompute"` for recomputed
    forward ops; an op without it is part of the forward pass.
    Function arguments may carry `xf.role` (`tokens`, `labels`, `parameter`)
    and `xf.name` (the Megatron-core parameter name); results of the training
    step carry `xf.role = "loss"` or `xf.grad_of` (the name of the parameter
    whose gradient they are). A module may carry `xf.model`, an
    `#xf.model` attribute describing the model it was imported from.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Names of the discardable attributes this dialect defines.
    static constexpr ::llvm::StringLiteral kLayerAttrName = "xf.layer";
    static constexpr ::llvm::StringLiteral kModuleAttrName = "xf.module";
    static constexpr ::llvm::StringLiteral kRoleAttrName = "xf.role";
    static constexpr ::llvm::StringLiteral kNameAttrName = "xf.name";
    static constexpr ::llvm::StringLiteral kModelAttrName = "xf.model";
    static constexpr ::llvm::StringLiteral kPhaseAttrName = "xf.phase";
    static constexpr ::llvm::StringLiteral kGradOfAttrName = "xf.grad_of";
  }];
}

class XF_Op<string mnemonic, list<Trait> traits = []>
    : Op<XF_Dialect, mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def XF_FloatElement : AnyTypeOf<[F32, BF16, F16]>;

def XF_FloatTensor : StaticShapeTensorOf<[F32, BF16, F16]> {
  let summary = "statically shaped tensor of f32, bf16 or f16";
}

def XF_IndexTensor : StaticShapeTensorOf<[I32, I64]> {
  let summary = "statically shaped tensor of i32 or i64 token ids";
}

def XF_MaskTensor : StaticShapeTensorOf<[I1]> {
  let summary = "statically shaped tensor of i1 (one byte per element)";
}

def XF_LossTensor : 0DTensorOf<[F32]> {
  let summary = "0-d tensor of f32";
}

def XF_ProbsTensor : StaticShapeTensorOf<[F32]> {
  let summary = "statically shaped tensor of f32";
}

#endif // CKPT_DIALECT_XF_XFDIALECT_TD
