//===- XFAttrs.td - Attributes of the xf dialect -----------*- tablegen -*-===//

#ifndef CKPT_DIALECT_XF_XFATTRS_TD
#define CKPT_DIALECT_XF_XFATTRS_TD

include "ckpt/Dialect/XF/XFDialect.td"
include "mlir/IR/AttrTypeBase.td"

def XF_ModelAttr : AttrDef<XF_Dialect, "Model"> {
  let mnemonic = "model";
  let summary = "the model a module's graphs were imported from";
  let description = [{
    Carried by a `builtin.module` as `xf.model`: the model configuration
    behind its graphs, with Megatron-LM's field names. Reports print it,
    program files copy it, and the passes read it (the tensor-parallel size
    and sequence parallelism of a rank's graph). Every field is checked:
    sizes are at least 1, dropout probabilities lie in [0, 1), the
    parameter type is `f32`, `bf16` or `f16`, the hidden size divides into
    the heads, and `source` names the config format. A missing field is a
    parse error.

    ```mlir
    module attributes {xf.model = #xf.model<family = "gpt",
        source = "megatron", num_layers = 2, hidden_size = 32,
        num_attention_heads = 4, ffn_hidden_size = 128, seq_length = 16,
        micro_batch_size = 2, vocab_size = 128, max_position_embeddings = 16,
        hidden_dropout = 1.0e-01 : f64, attention_dropout = 1.0e-01 : f64,
        params_dtype = f32, untie_embeddings_and_output_weights = false>} {
    }
    ```

    `tensor_model_parallel_size` (default 1) and `sequence_parallel`
    (default absent, meaning false) describe one rank's graph of a
    tensor-parallel model. `normalization` (`"LayerNorm"` or `"RMSNorm"`),
    `gated_linear_unit` (absent: false) and `activation_func` (`"gelu"`, or
    `"silu"` with a gated linear unit: SwiGLU) describe the layer;
    `position_embedding_type` (`"learned_absolute"`, `"rope"` with
    `rotary_base` and `rotary_percent`, or `"none"`) the positions;
    `num_query_groups` the key and value heads of grouped-query attention
    (0: one per query head); `attention_backend` (`"unfused"` or `"flash"`)
    core attention. With `num_moe_experts > 0` every layer's MLP is a
    mixture of experts: `moe_router_topk` experts per token, each of
    `moe_ffn_hidden_size`, an optional shared expert of
    `moe_shared_expert_intermediate_size`, and `moe_capacity` rows per
    expert: from `moe_expert_capacity_factor`, or without it (dropless) the
    worst case, every token of the micro-batch. `data_parallel_size`
    (default 1) and `use_distributed_optimizer` (absent: false) are the
    config's data-parallel layout: the persistent bytes of the reports
    follow them unless their options say otherwise. They are printed only
    when they differ from GPT's.
  }];
  let parameters = (ins
    StringRefParameter<"model family">:$family,
    StringRefParameter<"config format: megatron or huggingface">:$source,
    "int64_t":$num_layers,
    "int64_t":$hidden_size,
    "int64_t":$num_attention_heads,
    "int64_t":$ffn_hidden_size,
    "int64_t":$seq_length,
    "int64_t":$micro_batch_size,
    "int64_t":$vocab_size,
    "int64_t":$max_position_embeddings,
    "::mlir::FloatAttr":$hidden_dropout,
    "::mlir::FloatAttr":$attention_dropout,
    "::mlir::Type":$params_dtype,
    "::mlir::BoolAttr":$untie_embeddings_and_output_weights,
    DefaultValuedParameter<"int64_t", "1">:$tensor_model_parallel_size,
    OptionalParameter<"::mlir::BoolAttr">:$sequence_parallel,
    StringRefParameter<"LayerNorm or RMSNorm", "\"LayerNorm\"">:$normalization,
    OptionalParameter<"::mlir::BoolAttr">:$gated_linear_unit,
    StringRefParameter<"the MLP activation: gelu or silu", "\"gelu\"">:$activation_func,
    StringRefParameter<"learned_absolute, rope or none", "\"learned_absolute\"">:$position_embedding_type,
    OptionalParameter<"::mlir::FloatAttr">:$rotary_base,
    OptionalParameter<"::mlir::FloatAttr">:$rotary_percent,
    DefaultValuedParameter<"int64_t", "0">:$num_query_groups,
    StringRefParameter<"unfused or flash", "\"unfused\"">:$attention_backend,
    DefaultValuedParameter<"int64_t", "0">:$num_moe_experts,
    DefaultValuedParameter<"int64_t", "0">:$moe_router_topk,
    DefaultValuedParameter<"int64_t", "0">:$moe_ffn_hidden_size,
    DefaultValuedParameter<"int64_t", "0">:$moe_shared_expert_intermediate_size,
    DefaultValuedParameter<"int64_t", "0">:$moe_capacity,
    OptionalParameter<"::mlir::FloatAttr">:$moe_expert_capacity_factor,
    DefaultValuedParameter<"int64_t", "1">:$data_parallel_size,
    OptionalParameter<"::mlir::BoolAttr">:$use_distributed_optimizer
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Whether the graph is one rank's of a sequence-parallel model.
    bool isSequenceParallel() const {
      return getSequenceParallel() && getSequenceParallel().getValue();
    }
    /// Whether the config shards the optimizer state over the data-parallel
    /// ranks (Megatron's distributed optimizer).
    bool isDistributedOptimizer() const {
      return getUseDistributedOptimizer() &&
             getUseDistributedOptimizer().getValue();
    }
    /// Whether every layer's MLP is a mixture of experts.
    bool isMoe() const { return getNumMoeExperts() > 0; }
    /// A mixture of experts without a capacity factor (planned for the
    /// worst case).
    bool isDropless() const {
      return isMoe() && !getMoeExpertCapacityFactor();
    }
    /// Key and value heads: num_query_groups, or one per query head.
    int64_t getQueryGroups() const {
      return getNumQueryGroups() > 0 ? getNumQueryGroups()
                                     : getNumAttentionHeads();
    }
    /// Whether queries and keys carry rotary position embeddings.
    bool isRotary() const { return getPositionEmbeddingType() == "rope"; }
    /// Whether the MLP is a gated linear unit (SwiGLU, GeGLU).
    bool isGated() const {
      return getGatedLinearUnit() && getGatedLinearUnit().getValue();
    }
  }];
}

#endif // CKPT_DIALECT_XF_XFATTRS_TD
