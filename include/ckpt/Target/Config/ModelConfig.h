//===- ModelConfig.h - GPT model configs from JSON --------------*- C++ -*-===//
//
// Reads a model config in Megatron-LM's TransformerConfig / argument names or
// in Hugging Face GPT-2 `config.json` names into one plain struct. No MLIR
// here: the graph builder consumes the struct, and unit tests exercise every
// rule without building IR.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_TARGET_CONFIG_MODELCONFIG_H
#define CKPT_TARGET_CONFIG_MODELCONFIG_H

#include "ckpt/OpTable/OpTable.h"
#include "ckpt/OpTable/Rope.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::config {

/// Element type of activations and parameters: the op table's element
/// types (its name and size come from there), of which a config names f32,
/// bf16 or f16.
using DType = ops::ElementType;

/// The element type a config's dtype names: f32/float32/fp32,
/// bf16/bfloat16, f16/fp16/float16/half, each optionally prefixed by
/// "torch.". None for anything else (f64 and the integer types included).
std::optional<DType> parseDType(std::string_view name);

enum class ConfigFormat { Megatron, HuggingFace };
const char *formatName(ConfigFormat format);

/// The recompute policy a Megatron config names as its own
/// (recompute_granularity, recompute_method, recompute_num_layers,
/// recompute_modules, distribute_saved_activations): the default of the
/// tools, which their command-line options replace.
struct RecomputeDefaults {
  bool given = false;      ///< Some field was in the config.
  std::string granularity; ///< "full", "selective" or "" (none).
  std::string method;      ///< "uniform", "block" or "".
  std::optional<int64_t> numLayers;
  std::vector<std::string> modules;
  bool distributeSavedActivations = false;
};

/// A decoder-only transformer (pre-norm; GPT's LayerNorm and GeLU MLP, or
/// RMSNorm and a gated MLP) and the shape of one micro-batch.
struct GPTConfig {
  ConfigFormat format = ConfigFormat::Megatron;
  /// The model family: "gpt" (Megatron's GPT model, any variant) or a
  /// Hugging Face model_type (gpt2 is "gpt"; llama, mistral, qwen2).
  std::string family = "gpt";
  int64_t numLayers = 0;
  int64_t hiddenSize = 0;
  int64_t numAttentionHeads = 0;
  int64_t ffnHiddenSize = 0;
  int64_t seqLength = 0;
  int64_t microBatchSize = 1;
  int64_t vocabSize = 0; ///< Padded vocabulary: rows of the embedding.
  /// Megatron's make_vocab_size_divisible_by when vocab_size is padded to a
  /// multiple of it times t (0: given as is, padded_vocab_size or Hugging
  /// Face); applied once t is final (the command line may set it).
  int64_t vocabPaddingMultiple = 0;
  /// Megatron's data-parallel layout, for the persistent bytes of the
  /// reports (the step of one rank does not depend on it).
  int64_t dataParallelSize = 1;
  bool useDistributedOptimizer = false;
  int64_t maxPositionEmbeddings = 0;
  double hiddenDropout = 0.0;
  double attentionDropout = 0.0;
  double embeddingDropout = 0.0;
  double layernormEpsilon = 1e-5;
  DType dtype = DType::F32;
  bool untieEmbeddingsAndOutputWeights = false;
  bool addBiasLinear = true;
  /// Whether the QKV projection has a bias (Megatron's add_qkv_bias); none:
  /// as addBiasLinear.
  std::optional<bool> addQkvBias;
  bool qkvBias() const { return addQkvBias.value_or(addBiasLinear); }
  /// Whether the MLP's fc1 and fc2 have biases (LLaMA's mlp_bias, apart
  /// from attention_bias); none: as addBiasLinear.
  std::optional<bool> addMlpBias;
  bool mlpBias() const { return addMlpBias.value_or(addBiasLinear); }
  /// Sliding-window attention's window (Mistral), or 0 for none; accepted
  /// only when the sequence fits in it, where it is full causal attention.
  int64_t slidingWindow = 0;
  std::string geluApproximate = "none"; ///< "none" (erf) or "tanh".
  /// "LayerNorm", or "RMSNorm" (LLaMA: no centring, no bias).
  std::string normalization = "LayerNorm";
  /// A gated MLP: fc1 makes 2·ffn_hidden_size (gate and up), act(gate)·up.
  bool gatedLinearUnit = false;
  /// The MLP activation: "gelu", or "silu" (with a gated unit: SwiGLU).
  std::string activation = "gelu";
  /// "learned_absolute" (a position table), "rope" (rotary embeddings of
  /// the queries and keys) or "none".
  std::string positionEmbeddingType = "learned_absolute";
  double rotaryBase = 10000.0;
  double rotaryPercent = 1.0; ///< Share of each head's channels rotated.
  /// Scaled rotary frequencies (its scaling fields; base and rotary_dim
  /// are rotaryBase and rotaryDim()). "dynamic" is Hugging Face's dynamic
  /// NTK scaling, which rope() resolves for the sequence length.
  ops::RopeSpec ropeScaling;
  /// The attributes of the graph's xf.rope ops.
  ops::RopeSpec rope() const;
  /// Channels of each head that rotary embeddings turn (even).
  int64_t rotaryDim() const {
    return static_cast<int64_t>(static_cast<double>(headDim()) *
                                rotaryPercent) /
           2 * 2;
  }
  /// The config's own recompute policy (Megatron's fields).
  RecomputeDefaults recompute;
  /// The graph one rank runs: tensor-parallel size t, sequence parallelism.
  int64_t tensorParallelSize = 1;
  bool sequenceParallel = false;

  /// Pipeline parallelism: p stages, v model chunks per stage (the
  /// interleaved schedule when v > 1), m micro-batches per step; the layers
  /// of the first and last stage when they are not an even share.
  int64_t pipelineParallelSize = 1;
  int64_t virtualPipelineSize = 1;
  int64_t numMicroBatches = 1;
  std::optional<int64_t> firstStageLayers;
  std::optional<int64_t> lastStageLayers;
  /// Whether the step runs more than one micro-batch or stage.
  bool pipelined() const {
    return pipelineParallelSize > 1 || numMicroBatches > 1;
  }
  /// Layers [begin, end) of model chunk `chunk` (0 .. p·v-1, Megatron's
  /// order: chunk k sits on stage k % p as its virtual chunk k / p).
  std::pair<int64_t, int64_t> chunkLayers(int64_t chunk) const;

  /// Core attention: "unfused" (scores, softmax and context, the s²
  /// probabilities kept) or "flash" (one fused op that recomputes them).
  std::string attentionBackend = "unfused";
  /// Key and value heads (grouped-query attention); 0: one per query head.
  int64_t numQueryGroups = 0;

  /// Mixture of experts (every layer's MLP): experts per layer, 0 for a
  /// dense MLP. The experts are replicated on the tensor-parallel ranks
  /// (no expert parallelism).
  int64_t numMoeExperts = 0;
  int64_t moeRouterTopk = 2;
  /// Each expert's hidden size (Megatron's moe_ffn_hidden_size).
  int64_t moeFfnHiddenSize = 0;
  /// The shared expert's hidden size, 0 for none.
  int64_t moeSharedExpertIntermediateSize = 0;
  /// None: dropless routing, planned for its worst case.
  std::optional<double> moeExpertCapacityFactor;
  double moeAuxLossCoeff = 0.0; ///< 0: no load-balancing loss.
  /// The balancing loss pooled over the layers as transformers'
  /// load_balancing_loss_func computes it (a Hugging Face config), or per
  /// layer as Megatron's (false).
  bool moeAuxLossPooled = false;
  std::string moeTokenDropPolicy = "probs"; ///< "probs" or "position".
  bool moe() const { return numMoeExperts > 0; }
  /// Whether the embedding, head and loss split the vocabulary over the
  /// tensor-parallel ranks, as Megatron's do: with t > 1 when t divides it.
  bool vocabParallel() const {
    return tensorParallelSize > 1 && vocabSize % tensorParallelSize == 0;
  }
  /// Rows of each expert's buffer: ceil(s·b·k / E · factor) as Megatron's
  /// get_capacity (at most s·b, the most one expert can receive), or s·b
  /// when dropless (every token routed to the same expert).
  int64_t moeCapacity() const;
  /// Rows of the expert buffer: E·capacity, or s·b·k dropless (a grouped
  /// buffer of one row per choice, Megatron's permuted tokens).
  int64_t moeBufferRows() const;

  int64_t headDim() const { return hiddenSize / numAttentionHeads; }
  int64_t queryGroups() const {
    return numQueryGroups > 0 ? numQueryGroups : numAttentionHeads;
  }
};

/// Values given on the command line; they win over the file.
struct ConfigOverrides {
  std::optional<int64_t> seqLength;
  std::optional<int64_t> microBatchSize;
  std::optional<DType> dtype;
  std::optional<int64_t> tensorParallelSize;
  std::optional<bool> sequenceParallel;
  std::optional<std::string> attentionBackend; ///< "flash" or "unfused".
  std::optional<int64_t> pipelineParallelSize;
  std::optional<int64_t> virtualPipelineSize;
  std::optional<int64_t> numMicroBatches;
  /// Not a field: which pipeline stage's graph to build (default 0).
  std::optional<int64_t> pipelineStage;
};

struct ConfigDiagnostic {
  enum class Kind { Error, Warning };
  Kind kind = Kind::Error;
  /// JSON pointer of the field ("/num_layers"), a flag ("--seq-length"), or
  /// empty for the whole document.
  std::string path;
  std::string message;
  /// 1-based position in the text; 0 when unknown.
  unsigned line = 0;
  unsigned column = 0;
};

struct ConfigParseResult {
  std::optional<GPTConfig> config; ///< Set only when there is no error.
  std::vector<ConfigDiagnostic> diagnostics;

  bool succeeded() const { return config.has_value(); }
  /// Number of diagnostics of the given kind.
  size_t count(ConfigDiagnostic::Kind kind) const;
};

/// Parses and validates `text`. Never throws; every problem is a diagnostic.
ConfigParseResult parseGPTConfig(std::string_view text,
                                 const ConfigOverrides &overrides = {});

/// The Hugging Face fields known to change neither memory, compute nor
/// values (accepted unread; docs/models.md lists them). Any other field a
/// Hugging Face config holds is read, or an error.
const std::set<std::string> &huggingFaceHarmlessFields();

/// 1-based line and column of byte `offset` in `text`.
std::pair<unsigned, unsigned> lineAndColumn(std::string_view text,
                                            size_t offset);

} // namespace ckpt::config

#endif // CKPT_TARGET_CONFIG_MODELCONFIG_H
