//===- ModelConfig.cpp - GPT model configs from JSON ----------------------===//
//
// Built with exceptions (nlohmann/json throws); none escape this file.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Target/Config/ModelConfig.h"
#include "ckpt/Target/Config/MegatronFields.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace ckpt::config;
using json = nlohmann::json;

std::optional<DType> ckpt::config::parseDType(std::string_view name) {
  if (name.substr(0, 6) == "torch.")
    name.remove_prefix(6);
  if (name == "f32" || name == "float32" || name == "fp32" || name == "float")
    return DType::F32;
  if (name == "bf16" || name == "bfloat16")
    return DType::BF16;
  if (name == "f16" || name == "fp16" || name == "float16" || name == "half")
    return DType::F16;
  return std::nullopt;
}

const char *ckpt::config::formatName(ConfigFormat format) {
  return format == ConfigFormat::Megatron ? "Megatron TransformerConfig"
                                          : "Hugging Face config.json";
}

size_t ConfigParseResult::count(ConfigDiagnostic::Kind kind) const {
  return std::count_if(
      diagnostics.begin(), diagnostics.end(),
      [&](const ConfigDiagnostic &d) { return d.kind == kind; });
}

std::pair<unsigned, unsigned> ckpt::config::lineAndColumn(std::string_view text,
                                                          size_t offset) {
  offset = std::min(offset, text.size());
  unsigned line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

ckpt::ops::RopeSpec GPTConfig::rope() const {
  ops::RopeSpec spec = ropeScaling;
  spec.base = rotaryBase;
  spec.rotaryDim = rotaryDim();
  if (spec.scaling == "dynamic") {
    // transformers' dynamic NTK scaling: the default rotation up to
    // max_position_embeddings, a larger base past it
    // (_compute_dynamic_ntk_parameters).
    spec.scaling = "default";
    if (seqLength > maxPositionEmbeddings && spec.rotaryDim > 2) {
      double d = static_cast<double>(spec.rotaryDim);
      spec.base *= std::pow(spec.factor * static_cast<double>(seqLength) /
                                    static_cast<double>(maxPositionEmbeddings) -
                                (spec.factor - 1.0),
                            d / (d - 2.0));
    }
    spec.factor = 1.0;
    spec.originalMaxPosition = 0;
  }
  return spec;
}

namespace {

/// Hugging Face fields known to change neither the memory, the compute nor
/// the values of a training step of these models (PretrainedConfig's
/// bookkeeping, token ids, inference and generation settings, heads other
/// than the causal LM's; docs/models.md lists them). Any other field the
/// readers do not read is an error.
const std::set<std::string> kHuggingFaceIgnored = {
    "_name_or_path",
    "architectures",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "sep_token_id",
    "decoder_start_token_id",
    "initializer_range",
    "use_cache",
    "output_past",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "torchscript",
    "use_bfloat16",
    "tf_legacy_loss",
    "id2label",
    "label2id",
    "problem_type",
    "finetuning_task",
    "task_specific_params",
    "tokenizer_class",
    "prefix",
    "chunk_size_feed_forward",
    "pretraining_tp",
    "summary_activation",
    "summary_first_dropout",
    "summary_proj_to_labels",
    "summary_type",
    "summary_use_proj",
    "max_length",
    "min_length",
    "do_sample",
    "early_stopping",
    "num_beams",
    "num_beam_groups",
    "diversity_penalty",
    "temperature",
    "top_k",
    "top_p",
    "typical_p",
    "repetition_penalty",
    "length_penalty",
    "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size",
    "bad_words_ids",
    "num_return_sequences",
    "output_scores",
    "return_dict_in_generate",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "remove_invalid_values",
    "exponential_decay_length_penalty",
    "suppress_tokens",
    "begin_suppress_tokens",
};

class ConfigReader {
public:
  ConfigReader(std::string_view text, const json &doc,
               std::vector<ConfigDiagnostic> &diags)
      : text(text), doc(doc), diags(diags) {}

  void error(const std::string &key, const std::string &message) {
    report(ConfigDiagnostic::Kind::Error, key, message);
  }
  void warning(const std::string &key, const std::string &message) {
    report(ConfigDiagnostic::Kind::Warning, key, message);
  }
  bool hasErrors() const {
    return std::any_of(diags.begin(), diags.end(), [](const auto &d) {
      return d.kind == ConfigDiagnostic::Kind::Error;
    });
  }

  /// Whether the key is in the document at all, null included.
  bool present(const std::string &key) { return doc.find(key) != doc.end(); }

  bool has(const std::string &key) {
    auto it = doc.find(key);
    return it != doc.end() && !it->is_null();
  }

  /// Reads an integer field; `fallback` when absent or null.
  std::optional<int64_t> integer(const std::string &key,
                                 std::optional<int64_t> fallback = {}) {
    used.insert(key);
    if (!has(key))
      return fallback;
    const json &value = doc.at(key);
    if (!value.is_number_integer()) {
      error(key, "must be an integer, got " + describe(value));
      return std::nullopt;
    }
    return value.get<int64_t>();
  }

  std::optional<double> number(const std::string &key,
                               std::optional<double> fallback = {}) {
    used.insert(key);
    if (!has(key))
      return fallback;
    const json &value = doc.at(key);
    if (!value.is_number()) {
      error(key, "must be a number, got " + describe(value));
      return std::nullopt;
    }
    return value.get<double>();
  }

  std::optional<bool> boolean(const std::string &key,
                              std::optional<bool> fallback = {}) {
    used.insert(key);
    if (!has(key))
      return fallback;
    const json &value = doc.at(key);
    if (!value.is_boolean()) {
      error(key, "must be true or false, got " + describe(value));
      return std::nullopt;
    }
    return value.get<bool>();
  }

  std::optional<std::string> string(const std::string &key) {
    used.insert(key);
    if (!has(key))
      return std::nullopt;
    const json &value = doc.at(key);
    if (!value.is_string()) {
      error(key, "must be a string, got " + describe(value));
      return std::nullopt;
    }
    return value.get<std::string>();
  }

  void markUsed(const std::string &key) { used.insert(key); }
  /// The raw value of a present key.
  const json &value(const std::string &key) { return doc.at(key); }

  /// Marks keys as read (known to the importer, ignored on purpose).
  void ignore(const std::set<std::string> &keys) {
    used.insert(keys.begin(), keys.end());
  }

  /// Ends the reading at a refusal that makes the rest meaningless: no
  /// later check, and no field is reported unknown.
  void stop() { stopped = true; }
  bool isStopped() const { return stopped; }

  /// Reports every field that nothing read as an error: a field is read,
  /// or known to change nothing (docs/models.md lists both).
  void reportUnknown(ConfigFormat format) {
    if (stopped)
      return;
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (used.count(it.key()))
        continue;
      error(it.key(), "unknown field '" + it.key() + "': not a " +
                          formatName(format) +
                          " field that the importer reads, nor one known "
                          "to change nothing (docs/models.md lists both)");
    }
  }

  static std::string describe(const json &value) {
    std::string kind = value.type_name();
    std::string dumped = value.dump();
    if (dumped.size() > 40)
      dumped = dumped.substr(0, 37) + "...";
    return kind + " " + dumped;
  }

private:
  void report(ConfigDiagnostic::Kind kind, const std::string &key,
              const std::string &message) {
    ConfigDiagnostic diag;
    diag.kind = kind;
    diag.message = message;
    if (!key.empty() && key[0] == '-') {
      diag.path = key; // A command-line flag.
    } else if (!key.empty()) {
      diag.path = "/" + key;
      locate(key, diag);
    }
    diags.push_back(std::move(diag));
  }

  /// Finds `"key"` followed by a colon at the top level of the text.
  void locate(const std::string &key, ConfigDiagnostic &diag) {
    std::string quoted = "\"" + key + "\"";
    for (size_t pos = text.find(quoted); pos != std::string_view::npos;
         pos = text.find(quoted, pos + 1)) {
      size_t after = pos + quoted.size();
      while (after < text.size() && std::isspace((unsigned char)text[after]))
        ++after;
      if (after < text.size() && text[after] == ':') {
        std::tie(diag.line, diag.column) = lineAndColumn(text, pos);
        return;
      }
    }
  }

  std::string_view text;
  const json &doc;
  std::vector<ConfigDiagnostic> &diags;
  std::set<std::string> used;
  bool stopped = false;
};

/// Requires a positive value for a size field.
void requirePositive(ConfigReader &reader, const std::string &key,
                     std::optional<int64_t> value) {
  if (value && *value <= 0)
    reader.error(key, key + " must be a positive integer, got " +
                          std::to_string(*value));
}

void requireProbability(ConfigReader &reader, const std::string &key,
                        std::optional<double> value) {
  if (value && !(*value >= 0.0 && *value < 1.0)) {
    std::ostringstream os;
    os << key << " must be a probability in [0, 1), got " << *value;
    reader.error(key, os.str());
  }
}

/// The config's own recompute policy, with Megatron's rules between the
/// fields (each error at the field that breaks one).
void readRecomputeDefaults(ConfigReader &reader, GPTConfig &config,
                           int64_t layers) {
  RecomputeDefaults &r = config.recompute;
  for (const char *key :
       {"recompute_granularity", "recompute_method", "recompute_num_layers",
        "recompute_modules", "distribute_saved_activations"})
    r.given |= reader.has(key);
  if (auto granularity = reader.string("recompute_granularity")) {
    if (*granularity == "full" || *granularity == "selective")
      r.granularity = *granularity;
    else
      reader.error("recompute_granularity",
                   "recompute_granularity must be full, selective or null, "
                   "got \"" +
                       *granularity + "\"");
  }
  bool full = r.granularity == "full";
  if (auto method = reader.string("recompute_method")) {
    if (*method != "uniform" && *method != "block")
      reader.error("recompute_method",
                   "recompute_method must be uniform, block or null, got \"" +
                       *method + "\"");
    else if (!full)
      reader.error("recompute_method",
                   "recompute_method needs recompute_granularity = full");
    else
      r.method = *method;
  }
  if (auto n = reader.integer("recompute_num_layers")) {
    if (!full)
      reader.error("recompute_num_layers",
                   "recompute_num_layers needs recompute_granularity = full");
    else if (*n < 1 || (layers > 0 && *n > layers))
      reader.error("recompute_num_layers",
                   "recompute_num_layers must be in [1, " +
                       std::to_string(layers) + "] (the model's layers), got " +
                       std::to_string(*n));
    else
      r.numLayers = *n;
  }
  if (full && !reader.has("recompute_method"))
    reader.error("recompute_granularity",
                 "recompute_granularity = full needs recompute_method "
                 "(uniform or block)");
  reader.markUsed("recompute_modules");
  if (reader.has("recompute_modules")) {
    bool moe = reader.has("num_moe_experts") &&
               reader.value("num_moe_experts").is_number_integer() &&
               reader.value("num_moe_experts").get<int64_t>() > 0;
    const json &modules = reader.value("recompute_modules");
    bool ok = modules.is_array();
    if (ok)
      for (const json &module : modules) {
        if (!module.is_string()) {
          ok = false;
          break;
        }
        std::string name = module.get<std::string>();
        bool known = name == "core_attn" || name == "layernorm" ||
                     (moe ? name == "moe" || name == "moe_act" ||
                                name == "shared_experts"
                          : name == "mlp");
        if (!known) {
          reader.error("recompute_modules",
                       moe ? "recompute_modules may name core_attn, "
                             "layernorm, moe, moe_act and shared_experts "
                             "(this model's MLPs are mixtures of experts), "
                             "got \"" +
                                 name + "\""
                           : "recompute_modules may name core_attn, mlp and "
                             "layernorm (this model has no MoE or MLA "
                             "layers), got \"" +
                                 name + "\"");
          continue;
        }
        r.modules.push_back(name);
      }
    if (!ok)
      reader.error("recompute_modules",
                   "recompute_modules must be a list of module names, got " +
                       ConfigReader::describe(modules));
    else if (r.granularity != "selective")
      reader.error("recompute_modules",
                   "recompute_modules needs recompute_granularity = selective");
  }
  if (auto distribute = reader.boolean("distribute_saved_activations")) {
    r.distributeSavedActivations = *distribute;
    if (*distribute && !full)
      reader.error("distribute_saved_activations",
                   "distribute_saved_activations needs "
                   "recompute_granularity = full");
  }
}

/// Reads a required integer; reports its absence naming `format`.
std::optional<int64_t> required(ConfigReader &reader, const std::string &key,
                                ConfigFormat format) {
  std::optional<int64_t> value = reader.integer(key);
  if (!value && !reader.has(key))
    reader.error("", std::string("missing required field '") + key + "' (" +
                         formatName(format) + ")");
  return value;
}

void readMegatronMoe(ConfigReader &reader, GPTConfig &config, bool bias);

/// The Megatron fields that change nothing, and those accepted only at the
/// value that leaves the model as built (MegatronFields.h).
void readMegatronVettedFields(ConfigReader &reader) {
  reader.ignore(megatronFieldsWithoutEffect());
  for (const NeutralField &field : megatronNeutralFields()) {
    if (!reader.present(field.key))
      continue;
    reader.markUsed(field.key);
    if (reader.value(field.key) != json::parse(field.neutral))
      reader.error(field.key, field.key + " = " +
                                  reader.value(field.key).dump() + " " +
                                  field.effect +
                                  ", which the importer does not model; only " +
                                  field.neutral + " is read");
  }
}

/// Megatron's sizes, each checked positive (ffn_hidden_size defaults to
/// 4 * hidden_size, max_position_embeddings to seq_length).
struct MegatronSizes {
  std::optional<int64_t> layers, hidden, heads, ffn, seq, mbs, maxPos;
};

MegatronSizes readMegatronSizes(ConfigReader &reader) {
  const ConfigFormat fmt = ConfigFormat::Megatron;
  MegatronSizes sizes;
  auto &[layers, hidden, heads, ffn, seq, mbs, maxPos] = sizes;
  layers = required(reader, "num_layers", fmt);
  hidden = required(reader, "hidden_size", fmt);
  heads = required(reader, "num_attention_heads", fmt);
  // The default (4 * hidden_size) is only derived from a valid hidden size,
  // so a bad hidden_size is not reported twice.
  ffn =
      reader.integer("ffn_hidden_size",
                     hidden && *hidden > 0 ? std::optional<int64_t>(4 * *hidden)
                                           : std::nullopt);
  seq = reader.integer("seq_length");
  mbs = reader.integer("micro_batch_size", 1);
  maxPos = reader.integer("max_position_embeddings", seq);
  for (auto &[key, value] :
       {std::pair<std::string, std::optional<int64_t>>{"num_layers", layers},
        {"hidden_size", hidden},
        {"num_attention_heads", heads},
        {"ffn_hidden_size", ffn},
        {"seq_length", seq},
        {"micro_batch_size", mbs},
        {"max_position_embeddings", maxPos}})
    requirePositive(reader, key, value);

  return sizes;
}

/// Tensor parallelism and the vocabulary, padded as Megatron pads it.
void readMegatronVocabulary(ConfigReader &reader, GPTConfig &config) {
  // Megatron pads vocab_size up to a multiple of
  // make_vocab_size_divisible_by * tensor_model_parallel_size.
  auto tp = reader.integer("tensor_model_parallel_size", 1);
  requirePositive(reader, "tensor_model_parallel_size", tp);
  auto sp = reader.boolean("sequence_parallel", false);
  config.tensorParallelSize = tp && *tp > 0 ? *tp : 1;
  config.sequenceParallel = sp.value_or(false);
  auto padded = reader.integer("padded_vocab_size");
  auto vocab = reader.integer("vocab_size");
  auto divisor = reader.integer("make_vocab_size_divisible_by", 128);
  requirePositive(reader, "padded_vocab_size", padded);
  requirePositive(reader, "vocab_size", vocab);
  requirePositive(reader, "make_vocab_size_divisible_by", divisor);
  if (padded) {
    config.vocabSize = *padded;
  } else if (vocab && divisor && *vocab > 0 && *divisor > 0) {
    // Padded in checkConsistency, once the command line has set t.
    config.vocabSize = *vocab;
    config.vocabPaddingMultiple = *divisor;
  } else if (!reader.has("vocab_size")) {
    reader.error("", "missing required field 'vocab_size' or "
                     "'padded_vocab_size' (Megatron TransformerConfig)");
  }
}

/// Dropout, the norm's epsilon and the element type.
void readMegatronNumerics(ConfigReader &reader, GPTConfig &config) {
  auto hiddenDropout = reader.number("hidden_dropout", 0.1);
  auto attentionDropout = reader.number("attention_dropout", 0.1);
  requireProbability(reader, "hidden_dropout", hiddenDropout);
  requireProbability(reader, "attention_dropout", attentionDropout);
  auto eps = reader.number("layernorm_epsilon", 1e-5);
  if (eps && !(*eps > 0.0))
    reader.error("layernorm_epsilon", "layernorm_epsilon must be > 0");

  // Element type: params_dtype, or the bf16 / fp16 flags.
  DType dtype = DType::F32;
  auto bf16 = reader.boolean("bf16", false);
  auto fp16 = reader.boolean("fp16", false);
  if (bf16 && fp16 && *bf16 && *fp16)
    reader.error("fp16", "bf16 and fp16 cannot both be true");
  else if (bf16 && *bf16)
    dtype = DType::BF16;
  else if (fp16 && *fp16)
    dtype = DType::F16;
  if (auto name = reader.string("params_dtype")) {
    auto parsed = parseDType(*name);
    if (!parsed)
      reader.error("params_dtype", "params_dtype must be float32, bfloat16 "
                                   "or float16, got \"" +
                                       *name + "\"");
    else if ((bf16 && *bf16 && *parsed != DType::BF16) ||
             (fp16 && *fp16 && *parsed != DType::F16))
      reader.error("params_dtype", "params_dtype \"" + *name +
                                       "\" contradicts the " +
                                       (*bf16 ? "bf16" : "fp16") + " flag");
    else
      dtype = *parsed;
  }
  config.hiddenDropout = hiddenDropout.value_or(0);
  config.attentionDropout = attentionDropout.value_or(0);
  config.embeddingDropout = config.hiddenDropout;
  config.layernormEpsilon = eps.value_or(1e-5);
  config.dtype = dtype;
}

/// The layer's variant: attention heads and groups, the norm, the MLP's
/// activation and gating, the attention backend.
void readMegatronLayerVariant(ConfigReader &reader, GPTConfig &config,
                              const MegatronSizes &sizes) {
  const std::optional<int64_t> &hidden = sizes.hidden, &heads = sizes.heads;
  // Features of other model families: rejected until they are supported.
  if (auto kv = reader.integer("kv_channels");
      kv && hidden && heads && *heads > 0 && *kv != *hidden / *heads)
    reader.error("kv_channels",
                 "kv_channels must equal hidden_size / num_attention_heads = " +
                     std::to_string(*hidden / *heads) + ", got " +
                     std::to_string(*kv));
  if (auto groups = reader.integer("num_query_groups")) {
    if (*groups <= 0 || (heads && *heads > 0 && *heads % *groups != 0))
      reader.error("num_query_groups",
                   "num_query_groups must be a positive divisor of "
                   "num_attention_heads (" +
                       std::to_string(heads.value_or(0)) + "), got " +
                       std::to_string(*groups));
    else if (heads && *groups != *heads)
      config.numQueryGroups = *groups;
  }
  if (auto norm = reader.string("normalization")) {
    if (*norm == "LayerNorm" || *norm == "RMSNorm")
      config.normalization = *norm;
    else
      reader.error("normalization",
                   "normalization must be \"LayerNorm\" or \"RMSNorm\", got "
                   "\"" +
                       *norm + "\"");
  }
  // Megatron's --swiglu sets both a gated unit and SiLU.
  auto swiglu = reader.boolean("swiglu", false);
  auto glu = reader.boolean("gated_linear_unit", swiglu.value_or(false));
  if (swiglu && *swiglu && glu && !*glu)
    reader.error("gated_linear_unit",
                 "gated_linear_unit = false contradicts swiglu = true");
  config.gatedLinearUnit = glu.value_or(false);
  config.activation = swiglu.value_or(false) ? "silu" : "gelu";
  if (auto act = reader.string("activation_func")) {
    // Megatron's value is a function; configs write its name.
    std::string name = *act;
    for (const char *prefix : {"torch.nn.functional.", "F."})
      if (name.rfind(prefix, 0) == 0)
        name = name.substr(std::string(prefix).size());
    if (name == "gelu" || name == "silu")
      config.activation = name;
    else
      reader.error("activation_func",
                   "activation_func must be gelu or silu, got \"" + *act +
                       "\"");
    if (swiglu && *swiglu && name != "silu")
      reader.error("activation_func", "activation_func \"" + *act +
                                          "\" contradicts swiglu = true");
  }
  if (config.activation == "silu" && !config.gatedLinearUnit)
    reader.error(reader.has("activation_func") ? "activation_func" : "swiglu",
                 "a SiLU MLP without a gated linear unit is not supported: "
                 "set gated_linear_unit = true (SwiGLU) or activation_func = "
                 "gelu");
  if (auto backend = reader.string("attention_backend")) {
    // Megatron's AttnBackend, written by name (AttnBackend.flash or flash).
    std::string name = *backend;
    if (name.rfind("AttnBackend.", 0) == 0)
      name = name.substr(12);
    if (name == "flash" || name == "unfused")
      config.attentionBackend = name;
    else
      reader.error("attention_backend",
                   "attention_backend must be flash or unfused (fused, local "
                   "and auto are not modelled), got \"" +
                       *backend + "\"");
  }
}

/// Positions: learned, none, or rotary with its base, share and scaling.
void readMegatronPositions(ConfigReader &reader, GPTConfig &config) {
  // Megatron's older flag for rotary embeddings.
  auto legacyRope = reader.boolean("use_rotary_position_embeddings", false);
  if (legacyRope && *legacyRope)
    config.positionEmbeddingType = "rope";
  if (auto pos = reader.string("position_embedding_type")) {
    if (*pos == "learned_absolute" || *pos == "rope" || *pos == "none")
      config.positionEmbeddingType = *pos;
    else
      reader.error("position_embedding_type",
                   "position_embedding_type must be \"learned_absolute\", "
                   "\"rope\" or \"none\", got \"" +
                       *pos + "\"");
    if (legacyRope && *legacyRope && *pos != "rope")
      reader.error("position_embedding_type",
                   "position_embedding_type \"" + *pos +
                       "\" contradicts use_rotary_position_embeddings = true");
  }
  auto rotaryBase = reader.number("rotary_base", 10000.0);
  if (rotaryBase && !(*rotaryBase > 0.0))
    reader.error("rotary_base", "rotary_base must be > 0");
  auto rotaryPercent = reader.number("rotary_percent", 1.0);
  if (rotaryPercent && !(*rotaryPercent > 0.0 && *rotaryPercent <= 1.0))
    reader.error("rotary_percent", "rotary_percent must be in (0, 1]");
  config.rotaryBase = rotaryBase.value_or(10000.0);
  config.rotaryPercent = rotaryPercent.value_or(1.0);
  // Llama 3.1's scaling as Megatron-Core applies it (rope_scaling, or the
  // argument use_rope_scaling): factor rope_scaling_factor, low and high
  // frequency factors 1 and 4 over an original 8192 positions.
  std::optional<bool> scaled;
  std::string scaledKey;
  for (const char *key : {"rope_scaling", "use_rope_scaling"})
    if (auto value = reader.boolean(key); value && !scaled) {
      scaled = value;
      scaledKey = key;
    }
  auto scalingFactor = reader.number("rope_scaling_factor", 8.0);
  if (scalingFactor && !(*scalingFactor >= 1.0))
    reader.error("rope_scaling_factor", "rope_scaling_factor must be >= 1");
  if (scaled && *scaled) {
    if (config.positionEmbeddingType != "rope")
      reader.error(scaledKey, scaledKey + " needs position_embedding_type "
                                          "= \"rope\"");
    config.ropeScaling.scaling = "llama3";
    config.ropeScaling.factor = scalingFactor.value_or(8.0);
    config.ropeScaling.lowFreqFactor = 1.0;
    config.ropeScaling.highFreqFactor = 4.0;
    config.ropeScaling.originalMaxPosition = 8192;
  }
}

void readMegatron(ConfigReader &reader, GPTConfig &config) {
  readMegatronVettedFields(reader);
  // The distributed optimizer changes the persistent bytes only (the step's
  // graph is the same): the reports count it.
  config.useDistributedOptimizer =
      reader.boolean("use_distributed_optimizer").value_or(false);
  MegatronSizes sizes = readMegatronSizes(reader);
  readMegatronVocabulary(reader, config);
  readMegatronNumerics(reader, config);
  auto untie = reader.boolean("untie_embeddings_and_output_weights", false);
  auto bias = reader.boolean("add_bias_linear", true);
  auto openaiGelu = reader.boolean("openai_gelu", false);

  readMegatronLayerVariant(reader, config, sizes);
  readRecomputeDefaults(reader, config, sizes.layers.value_or(0));
  readMegatronPositions(reader, config);
  readMegatronMoe(reader, config, bias.value_or(true));
  if (auto post = reader.boolean("apply_residual_connection_post_layernorm");
      post && *post)
    reader.error("apply_residual_connection_post_layernorm",
                 "only pre-LayerNorm residuals are supported (false)");

  config.format = ConfigFormat::Megatron;
  config.numLayers = sizes.layers.value_or(0);
  config.hiddenSize = sizes.hidden.value_or(0);
  config.numAttentionHeads = sizes.heads.value_or(0);
  config.ffnHiddenSize = sizes.ffn.value_or(0);
  config.seqLength = sizes.seq.value_or(0);
  config.microBatchSize = sizes.mbs.value_or(1);
  config.maxPositionEmbeddings = sizes.maxPos.value_or(0);
  config.untieEmbeddingsAndOutputWeights = untie.value_or(false);
  config.addBiasLinear = bias.value_or(true);
  if (auto qkvBias = reader.boolean("add_qkv_bias"))
    config.addQkvBias = *qkvBias;
  config.geluApproximate = openaiGelu.value_or(false) ? "tanh" : "none";
  if (config.positionEmbeddingType == "rope" && config.numAttentionHeads > 0 &&
      config.hiddenSize % config.numAttentionHeads == 0 &&
      config.rotaryDim() < 2)
    reader.error(reader.has("rotary_percent") ? "rotary_percent"
                                              : "position_embedding_type",
                 "rotary embeddings need at least 2 channels per head: "
                 "head dimension " +
                     std::to_string(config.headDim()) +
                     " times rotary_percent " +
                     std::to_string(config.rotaryPercent) + " leaves " +
                     std::to_string(config.rotaryDim()));
}

/// Megatron's mixture-of-experts fields. Every field that changes the
/// graph or its memory is modelled or refused; performance-only switches
/// (grouped GEMM, dispatcher kind, overlap) are read and have no effect.
void readMegatronMoe(ConfigReader &reader, GPTConfig &config, bool bias) {
  reader.ignore({"moe_grouped_gemm", "moe_token_dispatcher_type",
                 "moe_shared_expert_overlap", "moe_router_dtype",
                 "moe_permute_fusion", "moe_router_fusion",
                 "moe_pad_expert_input_to_capacity"});
  auto experts = reader.integer("num_moe_experts");
  auto topk = reader.integer("moe_router_topk", 2);
  auto ffn = reader.integer("moe_ffn_hidden_size");
  auto shared = reader.integer("moe_shared_expert_intermediate_size");
  auto factor = reader.number("moe_expert_capacity_factor");
  auto coeff = reader.number("moe_aux_loss_coeff", 0.0);
  auto balancing = reader.string("moe_router_load_balancing_type");
  auto policy = reader.string("moe_token_drop_policy");
  if (!experts || *experts == 0) {
    // Dense: Megatron writes the other fields with defaults too.
    reader.ignore({"moe_z_loss_coeff", "moe_router_pre_softmax",
                   "moe_router_score_function", "moe_layer_freq",
                   "expert_model_parallel_size", "moe_input_jitter_eps",
                   "moe_router_topk_scaling_factor", "moe_router_num_groups",
                   "moe_router_group_topk", "moe_shared_expert_gate"});
    return;
  }
  if (*experts < 0) {
    reader.error("num_moe_experts", "num_moe_experts must be >= 0, got " +
                                        std::to_string(*experts));
    return;
  }
  config.numMoeExperts = *experts;
  if (topk && (*topk < 1 || *topk > *experts))
    reader.error("moe_router_topk",
                 "moe_router_topk must be in [1, " + std::to_string(*experts) +
                     "] (num_moe_experts), got " + std::to_string(*topk));
  config.moeRouterTopk = topk.value_or(2);
  requirePositive(reader, "moe_ffn_hidden_size", ffn);
  config.moeFfnHiddenSize = ffn.value_or(0); // 0: ffn_hidden_size, below.
  if (shared && *shared < 0)
    reader.error("moe_shared_expert_intermediate_size",
                 "moe_shared_expert_intermediate_size must be >= 0");
  config.moeSharedExpertIntermediateSize = shared.value_or(0);
  if (factor && !(*factor > 0.0))
    reader.error("moe_expert_capacity_factor",
                 "moe_expert_capacity_factor must be > 0 (or null: dropless)");
  config.moeExpertCapacityFactor = factor;
  if (coeff && !(*coeff >= 0.0))
    reader.error("moe_aux_loss_coeff", "moe_aux_loss_coeff must be >= 0");
  if (balancing && *balancing != "aux_loss" && *balancing != "none")
    reader.error("moe_router_load_balancing_type",
                 "moe_router_load_balancing_type must be aux_loss or none "
                 "(seq_aux_loss and sinkhorn are not modelled), got \"" +
                     *balancing + "\"");
  config.moeAuxLossCoeff =
      balancing && *balancing == "none" ? 0.0 : coeff.value_or(0.0);
  if (policy && *policy != "probs" && *policy != "position")
    reader.error("moe_token_drop_policy",
                 "moe_token_drop_policy must be probs or position, got \"" +
                     *policy + "\"");
  config.moeTokenDropPolicy = policy.value_or("probs");
  if (bias)
    reader.error(reader.has("add_bias_linear") ? "add_bias_linear"
                                               : "num_moe_experts",
                 "mixture-of-experts layers are modelled without linear "
                 "biases: set add_bias_linear = false");
  // What would change the router or the layers: refused, never ignored.
  if (auto z = reader.number("moe_z_loss_coeff"); z && *z != 0.0)
    reader.error("moe_z_loss_coeff",
                 "the router z-loss is not modelled; it must be null or 0");
  if (auto pre = reader.boolean("moe_router_pre_softmax"); pre && *pre)
    reader.error("moe_router_pre_softmax",
                 "only top-k before softmax (false) is modelled");
  if (auto score = reader.string("moe_router_score_function");
      score && *score != "softmax")
    reader.error("moe_router_score_function",
                 "only the softmax score function is modelled, got \"" +
                     *score + "\"");
  if (reader.has("moe_layer_freq")) {
    auto freq = reader.integer("moe_layer_freq");
    if (freq && *freq != 1)
      reader.error("moe_layer_freq", "every layer must be a mixture of experts "
                                     "(moe_layer_freq = 1)");
  } else {
    reader.ignore({"moe_layer_freq"});
  }
  if (auto ep = reader.integer("expert_model_parallel_size"); ep && *ep > 1)
    reader.error("expert_model_parallel_size",
                 "expert parallelism is not modelled (the experts are "
                 "replicated on every rank); it must be 1");
  for (const char *key :
       {"moe_input_jitter_eps", "moe_router_topk_scaling_factor",
        "moe_router_num_groups", "moe_router_group_topk"})
    if (reader.has(key))
      reader.error(key, std::string(key) + " changes the router and is not "
                                           "modelled; it must be null");
    else
      reader.ignore({key});
  if (auto gate = reader.boolean("moe_shared_expert_gate"); gate && *gate)
    reader.error("moe_shared_expert_gate",
                 "a gated shared expert is not modelled (false)");
}

/// Mixtral's sparse MLP: num_local_experts SwiGLU experts of
/// intermediate_size, top-k routing, dropless (no capacity factor).
void readMixtralExperts(ConfigReader &reader, GPTConfig &config) {
  auto experts = reader.integer("num_local_experts", 8);
  auto topk = reader.integer("num_experts_per_tok", 2);
  requirePositive(reader, "num_local_experts", experts);
  if (experts && *experts > 0 && topk && (*topk < 1 || *topk > *experts))
    reader.error("num_experts_per_tok", "num_experts_per_tok must be in [1, " +
                                            std::to_string(*experts) +
                                            "] (num_local_experts), got " +
                                            std::to_string(*topk));
  // Hugging Face adds the balancing loss only with output_router_logits.
  auto coeff = reader.number("router_aux_loss_coef", 0.001);
  auto withLoss = reader.boolean("output_router_logits", false);
  if (coeff && !(*coeff >= 0.0))
    reader.error("router_aux_loss_coef", "router_aux_loss_coef must be >= 0");
  if (auto jitter = reader.number("router_jitter_noise"); jitter && *jitter)
    reader.error("router_jitter_noise",
                 "router jitter is random and not modelled; it must be 0");
  config.numMoeExperts = experts.value_or(8);
  config.moeRouterTopk = topk.value_or(2);
  config.moeAuxLossCoeff = withLoss.value_or(false) ? coeff.value_or(0) : 0.0;
  config.moeAuxLossPooled = true;
}

} // namespace

const std::set<std::string> &ckpt::config::huggingFaceHarmlessFields() {
  return kHuggingFaceIgnored;
}

namespace {

/// PretrainedConfig fields that would make another model: accepted at the
/// value that changes nothing.
void readHuggingFaceCommon(ConfigReader &reader) {
  for (const char *key :
       {"is_encoder_decoder", "is_decoder", "add_cross_attention"})
    if (auto value = reader.boolean(key); value && *value)
      reader.error(key, std::string(key) +
                            " = true makes an encoder-decoder or "
                            "cross-attention model; only decoder-only "
                            "models are read (false)");
  reader.markUsed("cross_attention_hidden_size");
  reader.markUsed("pruned_heads");
  if (reader.has("pruned_heads")) {
    const auto &pruned = reader.value("pruned_heads");
    if (!pruned.is_object() || !pruned.empty())
      reader.error("pruned_heads",
                   "pruned attention heads are not modelled; pruned_heads "
                   "must be {}");
  }
}

/// Hugging Face's parameter type: `dtype` as transformers 5 writes it,
/// `torch_dtype` as earlier versions did (both read; given together, they
/// must agree); f32 when absent.
DType readTorchDtype(ConfigReader &reader) {
  std::optional<DType> found;
  std::string foundKey, foundName;
  for (const char *key : {"dtype", "torch_dtype"}) {
    auto name = reader.string(key);
    if (!name)
      continue;
    std::optional<DType> parsed = parseDType(*name);
    if (!parsed) {
      reader.error(key, std::string(key) +
                            " must be float32, bfloat16 or float16, got \"" +
                            *name + "\"");
      continue;
    }
    if (found && *found != *parsed)
      reader.error(key, std::string(key) + " (\"" + *name + "\") and " +
                            foundKey + " (\"" + foundName +
                            "\") disagree: transformers 5 writes dtype, "
                            "earlier versions torch_dtype; give one");
    if (!found) {
      found = parsed;
      foundKey = key;
      foundName = *name;
    }
  }
  return found.value_or(DType::F32);
}

/// One rotary-embedding object of a LLaMA-family config: transformers 5's
/// `rope_parameters` or the older `rope_scaling`, as transformers'
/// standardize_rope_params and modeling_rope_utils read them. Sets the
/// scaling of `config`; returns the rope_theta it gives, if any.
std::optional<double> readRopeObject(ConfigReader &reader,
                                     const std::string &field,
                                     int64_t maxPositions, GPTConfig &config) {
  const json &params = reader.value(field);
  auto fail = [&](const std::string &message) {
    reader.error(field, field + message);
    return std::nullopt;
  };
  if (!params.is_object())
    return fail(" must be an object ({\"rope_type\": ..., \"factor\": ...}) "
                "or null, got " +
                std::string(params.type_name()));
  auto number = [&](const char *key) -> std::optional<double> {
    auto it = params.find(key);
    if (it == params.end() || it->is_null())
      return std::nullopt;
    if (!it->is_number()) {
      reader.error(field,
                   field + "." + key + " must be a number, got " + it->dump());
      return std::nullopt;
    }
    return it->get<double>();
  };
  // rope_type, or "type" as configs before transformers 4.45 wrote it.
  std::string type = "default";
  for (const char *key : {"rope_type", "type"})
    if (auto it = params.find(key); it != params.end()) {
      if (!it->is_string())
        return fail(std::string(".") + key + " must be a string, got " +
                    it->dump());
      type = it->get<std::string>();
      break;
    }
  static const std::map<std::string, std::set<std::string>> kFields = {
      {"default", {}},
      {"linear", {"factor"}},
      {"dynamic", {"factor", "original_max_position_embeddings"}},
      {"llama3",
       {"factor", "low_freq_factor", "high_freq_factor",
        "original_max_position_embeddings"}},
      {"yarn",
       {"factor", "original_max_position_embeddings", "attention_factor",
        "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate"}},
  };
  auto known = kFields.find(type);
  if (known == kFields.end())
    return fail(".rope_type \"" + type +
                "\" is not modelled; default, linear, dynamic, llama3 and "
                "yarn are");
  bool ok = true;
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string &key = it.key();
    if (key == "rope_type" || key == "type" || key == "rope_theta" ||
        known->second.count(key))
      continue;
    // partial_rotary_factor, longrope's factors, ...: refused, not ignored.
    reader.error(field, field + "." + key + " is not read with rope_type \"" +
                            type + "\" (it changes the rotation); remove it");
    ok = false;
  }
  std::optional<double> theta = number("rope_theta");
  if (!ok || type == "default")
    return theta;

  ckpt::ops::RopeSpec &spec = config.ropeScaling;
  std::optional<double> factor = number("factor");
  std::optional<double> original = number("original_max_position_embeddings");
  if (type == "yarn" && !factor && original && *original > 0)
    factor = static_cast<double>(maxPositions) / *original;
  if (!factor)
    return fail(".factor is required with rope_type \"" + type + "\"");
  if (!(*factor >= 1.0))
    return fail(".factor must be >= 1, got " + std::to_string(*factor));
  spec.factor = *factor;
  // transformers takes max_position_embeddings for a missing original.
  double originalLength =
      original ? *original : static_cast<double>(maxPositions);
  if (!(originalLength >= 1.0) || originalLength != std::floor(originalLength))
    return fail(".original_max_position_embeddings must be a positive "
                "integer");
  spec.originalMaxPosition = static_cast<int64_t>(originalLength);
  spec.scaling = type;
  if (type == "llama3") {
    auto low = number("low_freq_factor"), high = number("high_freq_factor");
    if (!low || !high || !(*low > 0.0) || !(*high > *low))
      return fail(" needs 0 < low_freq_factor < high_freq_factor with "
                  "rope_type \"llama3\"");
    spec.lowFreqFactor = *low;
    spec.highFreqFactor = *high;
  } else if (type == "yarn") {
    // transformers' defaults: beta 32 and 1 (for null or 0 as well).
    auto fast = number("beta_fast"), slow = number("beta_slow");
    spec.betaFast = fast && *fast ? *fast : 32.0;
    spec.betaSlow = slow && *slow ? *slow : 1.0;
    if (auto it = params.find("truncate"); it != params.end()) {
      if (!it->is_boolean())
        return fail(".truncate must be true or false");
      spec.truncate = it->get<bool>();
    }
    // YaRN's magnitude, 0.1·m·ln(factor) + 1 (yarn_get_mscale).
    auto magnitude = [&](double m) {
      return spec.factor <= 1.0 ? 1.0 : 0.1 * m * std::log(spec.factor) + 1.0;
    };
    auto mscale = number("mscale"), mscaleAll = number("mscale_all_dim");
    if (auto given = number("attention_factor"))
      spec.attentionFactor = *given;
    else if (mscale && *mscale && mscaleAll && *mscaleAll)
      spec.attentionFactor = magnitude(*mscale) / magnitude(*mscaleAll);
    else
      spec.attentionFactor = magnitude(1.0);
    if (!(spec.attentionFactor > 0.0))
      return fail(".attention_factor must be > 0");
  }
  return theta;
}

/// The rotary embedding of a LLaMA-family config: `rope_theta` and
/// `rope_scaling`, or transformers 5's `rope_parameters` {rope_type,
/// rope_theta, ...}. Returns the rotary base it gives, if any.
std::optional<double> readRope(ConfigReader &reader, int64_t maxPositions,
                               GPTConfig &config) {
  std::optional<double> theta = reader.number("rope_theta");
  const char *given = nullptr;
  for (const char *field : {"rope_parameters", "rope_scaling"}) {
    reader.markUsed(field);
    if (!reader.has(field))
      continue;
    if (given) {
      reader.error(field, std::string(field) + " and " + given +
                              " both describe the rotary embedding; give "
                              "one (transformers 5 writes rope_parameters)");
      continue;
    }
    given = field;
    std::optional<double> inner =
        readRopeObject(reader, field, maxPositions, config);
    if (inner && theta && *inner != *theta)
      reader.error(field, std::string(field) + ".rope_theta (" +
                              std::to_string(*inner) +
                              ") and rope_theta disagree; give one");
    if (inner)
      theta = inner;
  }
  return theta;
}

/// What transformers' config class of a LLaMA-family model_type gives a
/// field the config.json leaves out (LlamaConfig, MistralConfig,
/// Qwen2Config, MixtralConfig, transformers 5).
struct HuggingFaceDefaults {
  int64_t vocab, hidden, intermediate, layers, heads;
  int64_t kvHeads; ///< 0: one per query head.
  int64_t positions;
  double rmsNormEps, ropeTheta;
  int64_t slidingWindow; ///< 0: none.
};

const HuggingFaceDefaults &huggingFaceDefaults(const std::string &type) {
  static const std::map<std::string, HuggingFaceDefaults> table = {
      {"llama", {32000, 4096, 11008, 32, 32, 0, 2048, 1e-6, 1e4, 0}},
      {"mistral", {32000, 4096, 14336, 32, 32, 8, 131072, 1e-6, 1e4, 4096}},
      {"qwen2", {151936, 4096, 22016, 32, 32, 0, 32768, 1e-6, 1e4, 0}},
      {"mixtral", {32000, 4096, 14336, 32, 32, 8, 131072, 1e-5, 1e6, 0}},
  };
  return table.at(type);
}

/// The LLaMA family's attention window: Mistral's and Qwen2's sliding
/// window (Qwen2's only with use_sliding_window, and, with transformers 5's
/// layer_types, only when some layer slides), or none (0 or absent).
/// `classDefault`: the window of transformers' config class when the field
/// is absent.
std::optional<int64_t> readSlidingWindow(ConfigReader &reader,
                                         const std::string &type,
                                         std::optional<int64_t> layers,
                                         int64_t classDefault) {
  // Sliding-window attention (Mistral, Qwen2) is full causal attention when
  // the sequence fits in the window; longer sequences are refused.
  std::optional<int64_t> window;
  bool qwen = type == "qwen2";
  bool windowed =
      !qwen || reader.boolean("use_sliding_window", false).value_or(false);
  reader.ignore({"use_sliding_window", "max_window_layers"});
  if (reader.has("sliding_window")) {
    window = reader.integer("sliding_window");
    requirePositive(reader, "sliding_window", window);
  } else {
    // Absent: the class default (Mistral's 4096); null: no window.
    if (!reader.present("sliding_window") && classDefault)
      window = classDefault;
    reader.ignore({"sliding_window"});
  }
  if (!windowed)
    window.reset();
  // Qwen2's layer_types (transformers 5): the window applies to the
  // sliding_attention layers only; with none of them, nowhere.
  if (qwen && reader.has("layer_types")) {
    const json &types = reader.value("layer_types");
    reader.markUsed("layer_types");
    bool valid = types.is_array();
    bool sliding = false;
    for (const json &kind : valid ? types : json::array()) {
      if (kind == "sliding_attention")
        sliding = true;
      else if (kind != "full_attention")
        valid = false;
    }
    if (valid && layers && types.size() != static_cast<size_t>(*layers))
      reader.error("layer_types", "layer_types must name each of the " +
                                      std::to_string(*layers) +
                                      " layers, got " +
                                      std::to_string(types.size()));
    else if (!valid)
      reader.error("layer_types",
                   "layer_types must be a list of \"full_attention\" and "
                   "\"sliding_attention\"");
    else if (!sliding)
      window.reset();
  } else if (qwen) {
    reader.ignore({"layer_types"});
  }
  return window;
}

/// attn_implementation (or transformers' private _attn_implementation):
/// eager is the unfused attention, flash_attention_2 the flash backend.
void readAttnImplementation(ConfigReader &reader, GPTConfig &config) {
  for (const char *key : {"attn_implementation", "_attn_implementation"})
    if (auto kind = reader.string(key)) {
      if (*kind == "flash_attention_2")
        config.attentionBackend = "flash";
      else if (*kind != "eager")
        reader.error(key, std::string(key) +
                              " must be eager (unfused) or flash_attention_2, "
                              "got \"" +
                              *kind + "\"");
    }
}

/// Hugging Face's LLaMA family (llama, mistral, qwen2; mixtral is refused
/// until mixture-of-experts layers land): RMSNorm, SwiGLU, rotary
/// embeddings, grouped-query attention, no biases but Qwen2's QKV bias.
void readHuggingFaceLlama(ConfigReader &reader, GPTConfig &config,
                          const std::string &type) {
  const ConfigFormat fmt = ConfigFormat::HuggingFace;
  reader.ignore(kHuggingFaceIgnored);
  reader.ignore({"model_type"});
  // A missing field takes the default of transformers' config class for
  // the model_type (python/tests/test_transformers_defaults.py checks them).
  const HuggingFaceDefaults &d = huggingFaceDefaults(type);
  auto layers = reader.integer("num_hidden_layers", d.layers);
  auto hidden = reader.integer("hidden_size", d.hidden);
  auto heads = reader.integer("num_attention_heads", d.heads);
  auto ffn = reader.integer("intermediate_size", d.intermediate);
  auto vocab = reader.integer("vocab_size", d.vocab);
  auto positions = reader.integer("max_position_embeddings", d.positions);
  auto kvHeads =
      reader.integer("num_key_value_heads", d.kvHeads ? d.kvHeads : heads);
  for (auto &[key, value] : {std::pair<std::string, std::optional<int64_t>>{
                                 "num_hidden_layers", layers},
                             {"hidden_size", hidden},
                             {"num_attention_heads", heads},
                             {"intermediate_size", ffn},
                             {"vocab_size", vocab},
                             {"max_position_embeddings", positions},
                             {"num_key_value_heads", kvHeads}})
    requirePositive(reader, key, value);
  if (kvHeads && heads && *kvHeads > 0 && *heads > 0 && *heads % *kvHeads != 0)
    reader.error("num_key_value_heads",
                 "num_key_value_heads must divide num_attention_heads (" +
                     std::to_string(*heads) + "), got " +
                     std::to_string(*kvHeads));
  if (auto headDim = reader.integer("head_dim");
      headDim && hidden && heads && *heads > 0 && *headDim != *hidden / *heads)
    reader.error("head_dim", "head_dim must equal hidden_size / "
                             "num_attention_heads = " +
                                 std::to_string(*hidden / *heads) + ", got " +
                                 std::to_string(*headDim));
  auto eps = reader.number("rms_norm_eps", d.rmsNormEps);
  if (eps && !(*eps > 0.0))
    reader.error("rms_norm_eps", "rms_norm_eps must be > 0");
  std::optional<double> theta =
      readRope(reader, positions.value_or(d.positions), config);
  if (!theta)
    theta = d.ropeTheta;
  if (theta && !(*theta > 0.0))
    reader.error("rope_theta", "rope_theta must be > 0");
  auto attention = reader.number("attention_dropout", 0.0);
  requireProbability(reader, "attention_dropout", attention);
  if (auto act = reader.string("hidden_act"); act && *act != "silu")
    reader.error("hidden_act",
                 "hidden_act must be \"silu\" (SwiGLU), got \"" + *act + "\"");
  // Biases: LLaMA's attention_bias covers Q, K, V and the output
  // projection, mlp_bias gate, up and down, each on its own; Qwen2 always
  // biases Q, K and V, nothing else.
  bool qwen = type == "qwen2";
  // Only LlamaConfig has these fields; elsewhere they are unknown.
  std::optional<bool> attentionBias, mlpBias;
  if (type == "llama") {
    attentionBias = reader.boolean("attention_bias", false);
    mlpBias = reader.boolean("mlp_bias", false);
  }
  std::optional<int64_t> window =
      readSlidingWindow(reader, type, layers, d.slidingWindow);
  if (type == "mixtral")
    readMixtralExperts(reader, config);
  DType dtype = readTorchDtype(reader);
  auto tie = reader.boolean("tie_word_embeddings", false);
  readAttnImplementation(reader, config);
  config.format = fmt;
  config.family = type;
  config.numLayers = layers.value_or(0);
  config.hiddenSize = hidden.value_or(0);
  config.numAttentionHeads = heads.value_or(0);
  config.ffnHiddenSize = ffn.value_or(0);
  config.maxPositionEmbeddings = positions.value_or(0);
  config.seqLength = config.maxPositionEmbeddings;
  config.slidingWindow = window.value_or(0);
  config.microBatchSize = 1;
  config.vocabSize = vocab.value_or(0);
  config.hiddenDropout = 0;
  config.attentionDropout = attention.value_or(0);
  config.embeddingDropout = 0;
  config.layernormEpsilon = eps.value_or(1e-6);
  config.dtype = dtype;
  config.untieEmbeddingsAndOutputWeights = !tie.value_or(false);
  config.addBiasLinear = !qwen && attentionBias.value_or(false);
  config.addQkvBias = qwen || attentionBias.value_or(false);
  config.addMlpBias = !qwen && mlpBias.value_or(false);
  config.normalization = "RMSNorm";
  config.gatedLinearUnit = true;
  config.activation = "silu";
  config.positionEmbeddingType = "rope";
  config.rotaryBase = theta.value_or(10000.0);
  config.rotaryPercent = 1.0;
  if (kvHeads && heads && *kvHeads != *heads)
    config.numQueryGroups = *kvHeads;
}

void readHuggingFace(ConfigReader &reader, GPTConfig &config) {
  const ConfigFormat fmt = ConfigFormat::HuggingFace;
  reader.ignore(kHuggingFaceIgnored);
  if (auto type = reader.string("model_type")) {
    if (*type == "llama" || *type == "mistral" || *type == "qwen2" ||
        *type == "mixtral") {
      readHuggingFaceCommon(reader);
      return readHuggingFaceLlama(reader, config, *type);
    }
    if (*type != "gpt2") {
      // One message: another family's fields are neither missing GPT-2
      // fields nor unknown ones.
      reader.error("model_type", "model_type must be gpt2, llama, mistral, "
                                 "qwen2 or mixtral, got \"" +
                                     *type + "\"");
      reader.stop();
      return;
    }
  }
  readHuggingFaceCommon(reader);
  // A missing field takes GPT2Config's default, as transformers reads it
  // (python/tests/test_transformers_defaults.py checks them).
  auto layers = reader.integer("n_layer", 12);
  auto hidden = reader.integer("n_embd", 768);
  auto heads = reader.integer("n_head", 12);
  auto vocab = reader.integer("vocab_size", 50257);
  auto ctx = reader.integer("n_ctx");
  auto positions = reader.integer("n_positions", ctx ? ctx : 1024);
  auto inner = reader.integer("n_inner");
  for (auto &[key, value] :
       {std::pair<std::string, std::optional<int64_t>>{"n_layer", layers},
        {"n_embd", hidden},
        {"n_head", heads},
        {"vocab_size", vocab},
        {"n_positions", positions},
        {"n_ctx", ctx},
        {"n_inner", inner}})
    requirePositive(reader, key, value);

  auto resid = reader.number("resid_pdrop", 0.1);
  auto attn = reader.number("attn_pdrop", 0.1);
  auto embd = reader.number("embd_pdrop", 0.1);
  requireProbability(reader, "resid_pdrop", resid);
  requireProbability(reader, "attn_pdrop", attn);
  requireProbability(reader, "embd_pdrop", embd);
  auto eps = reader.number("layer_norm_epsilon", 1e-5);
  if (eps && !(*eps > 0.0))
    reader.error("layer_norm_epsilon", "layer_norm_epsilon must be > 0");

  std::string gelu = "tanh";
  if (auto act = reader.string("activation_function")) {
    if (*act == "gelu_new" || *act == "gelu_fast" ||
        *act == "gelu_pytorch_tanh")
      gelu = "tanh";
    else if (*act == "gelu")
      gelu = "none";
    else
      reader.error("activation_function",
                   "activation_function must be gelu, gelu_new, gelu_fast or "
                   "gelu_pytorch_tanh, got \"" +
                       *act + "\"");
  }
  DType dtype = readTorchDtype(reader);
  auto tie = reader.boolean("tie_word_embeddings", true);
  if (auto scale = reader.boolean("scale_attn_weights", true); scale && !*scale)
    reader.error("scale_attn_weights", "only scaled attention (true) is "
                                       "supported");
  if (auto byLayer = reader.boolean("scale_attn_by_inverse_layer_idx", false);
      byLayer && *byLayer)
    reader.error("scale_attn_by_inverse_layer_idx",
                 "per-layer attention scaling is not supported (false)");
  if (auto upcast = reader.boolean("reorder_and_upcast_attn", false);
      upcast && *upcast)
    reader.error("reorder_and_upcast_attn", "must be false");

  config.format = fmt;
  config.numLayers = layers.value_or(0);
  config.hiddenSize = hidden.value_or(0);
  config.numAttentionHeads = heads.value_or(0);
  config.ffnHiddenSize = inner.value_or(4 * hidden.value_or(0));
  config.maxPositionEmbeddings = positions.value_or(0);
  config.seqLength = config.maxPositionEmbeddings;
  config.microBatchSize = 1;
  config.vocabSize = vocab.value_or(0);
  config.hiddenDropout = resid.value_or(0);
  config.attentionDropout = attn.value_or(0);
  config.embeddingDropout = embd.value_or(0);
  config.layernormEpsilon = eps.value_or(1e-5);
  config.dtype = dtype;
  config.untieEmbeddingsAndOutputWeights = !tie.value_or(true);
  config.addBiasLinear = true;
  config.geluApproximate = gelu;
}

/// Rules that hold for every format, after the overrides are applied.
/// Every byte count and FLOP count of the model must fit in int64_t: the
/// largest tensors, a layer's kept activations and FLOPs, and the whole
/// step's. Products are taken in 128 bits; the first that does not fit is
/// reported at the field that makes it grow.
void checkSizesFit(ConfigReader &reader, const GPTConfig &c,
                   const ConfigOverrides &overrides) {
  using Wide = __int128;
  const Wide limit = std::numeric_limits<int64_t>::max();
  // GPT-2's config.json has names of its own; LLaMA's are Megatron-like.
  bool hf = c.format == ConfigFormat::HuggingFace && c.family == "gpt";
  bool llama = c.format == ConfigFormat::HuggingFace && c.family != "gpt";
  std::string seqKey = overrides.seqLength ? "--seq-length"
                       : hf                ? "n_positions"
                       : llama             ? "max_position_embeddings"
                                           : "seq_length";
  std::string batchKey =
      overrides.microBatchSize ? "--micro-batch-size" : "micro_batch_size";
  std::string hiddenKey = hf ? "n_embd" : "hidden_size";
  std::string ffnKey = hf      ? "n_embd"
                       : llama ? "intermediate_size"
                               : "ffn_hidden_size";
  std::string vocabKey = hf || llama ? "vocab_size" : "padded_vocab_size";
  std::string layersKey = hf      ? "n_layer"
                          : llama ? "num_hidden_layers"
                                  : "num_layers";
  std::string expertsKey = llama ? "num_local_experts" : "num_moe_experts";
  // Each factor is at most 2^63, so a product of two fits in 128 bits;
  // saturate at the limit before multiplying on.
  auto product = [&](std::initializer_list<int64_t> factors) {
    Wide total = 1;
    for (int64_t f : factors) {
      total *= static_cast<Wide>(std::max<int64_t>(f, 0));
      if (total > limit)
        return limit + 1;
    }
    return total;
  };
  int64_t e = ckpt::ops::elementTypeBytes(c.dtype), s = c.seqLength,
          b = c.microBatchSize, h = c.hiddenSize, a = c.numAttentionHeads,
          f = c.ffnHiddenSize, v = c.vocabSize, L = c.numLayers,
          m = std::max<int64_t>(c.numMicroBatches, 1);
  struct Check {
    const std::string &key;
    const char *what;
    Wide value;
  } checks[] = {
      {hiddenKey, "the hidden states [s, b, h]", product({s, b, h, e})},
      {ffnKey, "the MLP activations [s, b, ffn]", product({s, b, f, e})},
      {seqKey, "the attention scores [b, a, s, s]", product({b, a, s, s, e})},
      {vocabKey, "the logits [s, b, vocab]", product({s, b, v, e})},
      {vocabKey, "the embedding table [vocab, h]", product({v, h, e})},
      {ffnKey, "an MLP weight [ffn, h]",
       product({c.gatedLinearUnit ? 2 * f : f, h, e})},
      // A layer keeps about 34·s·b·h + 5·a·s²·b bytes (16-bit); its
      // forward is 24·b·s·h² + 4·b·s²·h FLOPs, the step three times that.
      {layersKey, "the activations kept by all layers",
       product({L, 40, s, b, h, e}) + product({L, 6, a, s, s, b, e})},
      {expertsKey, "the expert weights [E, ffn, h]",
       product({c.numMoeExperts, 2, c.moeFfnHiddenSize, h, e})},
      {expertsKey, "the expert buffers [rows, ffn]",
       product({2, c.moeBufferRows(), c.moeFfnHiddenSize, e})},
      // The step's FLOPs over all its micro-batches, with room (x4) for
      // the sums the reports take (forward + backward + recompute, the
      // elementwise work): the layers, the output layer and the experts.
      {layersKey, "the step's FLOPs",
       product({4, m, L, 3 * 24, b, s, h, h}) +
           product({4, m, L, 3 * 4, b, s, s, h})},
      {vocabKey, "the output layer's FLOPs over the step",
       product({4, m, 3 * 2, b, s, h, v})},
      {expertsKey, "the experts' FLOPs over the step",
       product({4, m, L, 3 * 6, c.moeBufferRows(), c.moeFfnHiddenSize, h})},
  };
  for (const Check &check : checks)
    if (check.value > limit) {
      reader.error(check.key, std::string("the model is too large to plan: ") +
                                  check.what +
                                  " would not fit in a 64-bit count (more than "
                                  "9.2e18); reduce " +
                                  check.key);
      return;
    }

  // The IR grows with the layers, whatever their width: compiling a step
  // takes about 80 KB a layer at its peak (remat and planning; measured at
  // 10,000 layers, docs/benchmarks.md). Refuse up front what this machine
  // cannot hold, rather than fail minutes later out of memory.
  const int64_t bytesPerLayer = 80 * 1024;
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0) {
    Wide estimate = product({L, bytesPerLayer});
    Wide memory = static_cast<Wide>(pages) * pageSize;
    if (estimate > memory) {
      auto gib = [](Wide bytes) {
        std::ostringstream os;
        os << std::fixed;
        os.precision(1);
        os << static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
        return os.str();
      };
      reader.error(
          layersKey,
          "the model is too large to build here: " + std::to_string(L) +
              " layers take about " + gib(estimate) +
              " GiB to compile (about 80 KB a " +
              "layer), more than this machine's " + gib(memory) + " GiB");
    }
  }
}

/// Megatron's micro-batch count m: num_microbatches, or derived from the
/// global batch. Megatron derives m as global_batch_size /
/// (micro_batch_size · data_parallel_size); given with num_microbatches, the
/// two must agree; --num-microbatches overrides both.
int64_t megatronMicroBatches(ConfigReader &reader, GPTConfig &config,
                             const ConfigOverrides &overrides, int64_t m) {
  std::optional<int64_t> d = reader.integer("data_parallel_size", 1);
  requirePositive(reader, "data_parallel_size", d);
  config.dataParallelSize = d && *d > 0 ? *d : 1;
  std::optional<int64_t> global = reader.integer("global_batch_size");
  requirePositive(reader, "global_batch_size", global);
  int64_t perStep = config.microBatchSize * d.value_or(1);
  if (global && *global > 0 && d && *d > 0 && perStep > 0 &&
      !overrides.numMicroBatches) {
    std::string formula = "micro_batch_size (" +
                          std::to_string(config.microBatchSize) +
                          ") x data_parallel_size (" + std::to_string(*d) + ")";
    if (*global % perStep != 0)
      reader.error("global_batch_size",
                   "global_batch_size (" + std::to_string(*global) +
                       ") must be a multiple of " + formula);
    else if (reader.has("num_microbatches") && m != *global / perStep)
      reader.error("num_microbatches",
                   "num_microbatches (" + std::to_string(m) +
                       ") differs from global_batch_size (" +
                       std::to_string(*global) + ") / " + formula + " = " +
                       std::to_string(*global / perStep));
    else
      m = *global / perStep;
  }
  return m;
}

/// The first and last stage's layers, in Megatron's two spellings of an
/// uneven stage; given together, they must agree (which one would win is
/// nowhere written down).
void readUnevenStages(ConfigReader &reader, GPTConfig &config) {
  auto stageLayers = [&](const char *megatronKey, const char *otherKey,
                         std::optional<int64_t> &field) {
    std::optional<int64_t> first = reader.integer(megatronKey);
    std::optional<int64_t> second = reader.integer(otherKey);
    if (first)
      requirePositive(reader, megatronKey, first);
    if (second)
      requirePositive(reader, otherKey, second);
    if (first && second && *first != *second)
      reader.error(otherKey, std::string(otherKey) + " (" +
                                 std::to_string(*second) + ") and " +
                                 megatronKey + " (" + std::to_string(*first) +
                                 ") name the same layer count; give one, or "
                                 "both equal");
    if (first || second)
      field = first ? *first : *second;
  };
  stageLayers("decoder_first_pipeline_num_layers",
              "num_layers_in_first_pipeline_stage", config.firstStageLayers);
  stageLayers("decoder_last_pipeline_num_layers",
              "num_layers_in_last_pipeline_stage", config.lastStageLayers);
}

/// An uneven first or last stage: the other stages share what is left
/// evenly, each at least one layer; not with the interleaved schedule.
void checkUnevenStages(ConfigReader &reader, const GPTConfig &config, int64_t p,
                       int64_t v, int64_t layers) {
  int64_t first = config.firstStageLayers.value_or(0);
  int64_t last = config.lastStageLayers.value_or(0);
  int64_t even =
      p - (config.firstStageLayers ? 1 : 0) - (config.lastStageLayers ? 1 : 0);
  if (v > 1) {
    reader.error("decoder_first_pipeline_num_layers",
                 "an uneven first or last stage cannot be combined with "
                 "the interleaved schedule (virtual pipeline size " +
                     std::to_string(v) + ")");
    return;
  }
  int64_t rest = layers - first - last;
  std::string firstLast = std::to_string(first) + " + " + std::to_string(last) +
                          " = " + std::to_string(first + last);
  if (even == 0 && rest != 0) {
    reader.error("decoder_first_pipeline_num_layers",
                 "with " + std::to_string(p) +
                     " stages the first and last are all of them: their " +
                     firstLast + " layers must be the model's " +
                     std::to_string(layers));
    return;
  }
  if (even > 0 && rest <= 0) {
    reader.error("decoder_first_pipeline_num_layers",
                 "the first and last stage take " + firstLast +
                     " layers, leaving " + "none of the " +
                     std::to_string(layers) + " for the other " +
                     std::to_string(even) + (even == 1 ? " stage" : " stages") +
                     "; each stage needs at least one layer");
    return;
  }
  if (even > 0 && rest % even != 0)
    reader.error("decoder_first_pipeline_num_layers",
                 "the layers left after the first and last stage (" +
                     std::to_string(rest) +
                     ") must split evenly over the other " +
                     std::to_string(even) + " stages");
}

/// Pipeline parallelism with Megatron's names and rules: p stages of an
/// even share of the layers (or the given first and last stage's), v model
/// chunks per stage, m micro-batches (a multiple of p when interleaved).
void checkPipeline(ConfigReader &reader, GPTConfig &config,
                   const ConfigOverrides &overrides) {
  // An override is checked here, not only by the command line's parser:
  // the C API and Python reach this with whatever they were given.
  auto read = [&](const char *key, const char *flag,
                  const std::optional<int64_t> &override) {
    std::optional<int64_t> value = reader.integer(key, 1);
    requirePositive(reader, key, value);
    if (override) {
      value = override;
      requirePositive(reader, flag, value);
    }
    return value && *value > 0 ? *value : 1;
  };
  int64_t p =
      read("pipeline_model_parallel_size", "--pipeline-model-parallel-size",
           overrides.pipelineParallelSize);
  int64_t v = read("virtual_pipeline_model_parallel_size",
                   "--virtual-pipeline-model-parallel-size",
                   overrides.virtualPipelineSize);
  int64_t m =
      read("num_microbatches", "--num-microbatches", overrides.numMicroBatches);
  if (config.format == ConfigFormat::Megatron)
    m = megatronMicroBatches(reader, config, overrides, m);
  if (overrides.pipelineStage && *overrides.pipelineStage < 0)
    reader.error("--pipeline-stage",
                 "--pipeline-stage must be a stage number, 0 or more; got " +
                     std::to_string(*overrides.pipelineStage));
  auto pKey = [&] {
    return std::string(overrides.pipelineParallelSize
                           ? "--pipeline-model-parallel-size"
                           : "pipeline_model_parallel_size");
  };
  auto vKey = [&] {
    return std::string(overrides.virtualPipelineSize
                           ? "--virtual-pipeline-model-parallel-size"
                           : "virtual_pipeline_model_parallel_size");
  };
  auto mKey = [&] {
    return std::string(overrides.numMicroBatches ? "--num-microbatches"
                                                 : "num_microbatches");
  };
  config.pipelineParallelSize = p;
  config.virtualPipelineSize = v;
  config.numMicroBatches = m;
  if (overrides.pipelineStage && *overrides.pipelineStage >= p)
    reader.error("--pipeline-stage",
                 "--pipeline-stage must be in [0, " + std::to_string(p) +
                     "), the pipeline's stages; got " +
                     std::to_string(*overrides.pipelineStage));
  readUnevenStages(reader, config);
  int64_t layers = config.numLayers;
  if (v > 1 && p == 1)
    reader.error(vKey(), vKey() + " (" + std::to_string(v) +
                             ") needs pipeline_model_parallel_size > 1");
  if (v > 1 && m % p != 0)
    reader.error(mKey(), "the interleaved schedule needs " + mKey() + " (" +
                             std::to_string(m) + ") to be a multiple of " +
                             pKey() + " (" + std::to_string(p) + ")");
  if (p > 1 && config.moe() && config.moeAuxLossCoeff > 0.0) {
    // Named in the config's own spelling: Mixtral's switch is
    // output_router_logits.
    bool hf = config.format == ConfigFormat::HuggingFace;
    std::string field = hf ? "output_router_logits" : "moe_aux_loss_coeff";
    reader.error(field, "the load-balancing loss of a mixture of experts is "
                        "not supported with pipeline parallelism yet (a "
                        "stage without the head has no loss to add it to); "
                        "set " +
                            field + (hf ? " to false" : " to 0") + " or use " +
                            pKey() + " = 1");
  }
  if (layers <= 0 || p == 1) {
    if (p == 1 && (config.firstStageLayers || config.lastStageLayers))
      reader.error("decoder_first_pipeline_num_layers",
                   "the first and last stage's layers need "
                   "pipeline_model_parallel_size > 1");
    return;
  }
  if (p > layers) {
    reader.error(pKey(), pKey() + " (" + std::to_string(p) +
                             ") must not exceed the number of layers (" +
                             std::to_string(layers) + ")");
    return;
  }
  if (config.firstStageLayers || config.lastStageLayers) {
    checkUnevenStages(reader, config, p, v, layers);
    return;
  }
  if (layers % (p * v) != 0)
    reader.error(pKey(),
                 "the number of layers (" + std::to_string(layers) +
                     ") must be divisible by " + pKey() +
                     (v > 1 ? " times " + vKey() + " (" + std::to_string(p) +
                                  " x " + std::to_string(v) + ")"
                            : " (" + std::to_string(p) + ")"));
}

/// The command line's overrides, checked here too (the C API and Python
/// reach this with whatever they were given), and the gradient
/// accumulation a 16-bit model then needs.
void applyOverrides(ConfigReader &reader, GPTConfig &config,
                    const ConfigOverrides &overrides) {
  if (overrides.seqLength) {
    if (*overrides.seqLength <= 0)
      reader.error("--seq-length", "--seq-length must be a positive integer, "
                                   "got " +
                                       std::to_string(*overrides.seqLength));
    config.seqLength = *overrides.seqLength;
    // Megatron's max_position_embeddings defaults to the sequence length.
    if (config.format == ConfigFormat::Megatron &&
        !reader.has("max_position_embeddings"))
      config.maxPositionEmbeddings = config.seqLength;
  }
  if (overrides.microBatchSize) {
    if (*overrides.microBatchSize <= 0)
      reader.error("--micro-batch-size",
                   "--micro-batch-size must be a positive integer, got " +
                       std::to_string(*overrides.microBatchSize));
    config.microBatchSize = *overrides.microBatchSize;
  }
  if (overrides.dtype)
    config.dtype = *overrides.dtype;
  // Megatron accumulates 16-bit models' gradients in fp32 (its default for
  // bf16), as the step here does; 16-bit sums are not modelled.
  if (config.format == ConfigFormat::Megatron)
    if (auto fp32 = reader.boolean("accumulate_allreduce_grads_in_fp32");
        fp32 && !*fp32 && config.dtype != DType::F32)
      reader.error("accumulate_allreduce_grads_in_fp32",
                   "accumulate_allreduce_grads_in_fp32 = false sums a "
                   "16-bit model's gradients in 16 bits, which the importer "
                   "does not model (the step accumulates in fp32); only "
                   "true is read");
  if (overrides.tensorParallelSize) {
    if (*overrides.tensorParallelSize <= 0)
      reader.error("--tensor-model-parallel-size",
                   "--tensor-model-parallel-size must be a positive integer");
    else
      config.tensorParallelSize = *overrides.tensorParallelSize;
  }
  if (overrides.sequenceParallel)
    config.sequenceParallel = *overrides.sequenceParallel;
  if (overrides.attentionBackend)
    config.attentionBackend = *overrides.attentionBackend;
}

/// The graph of one tensor-parallel rank: t must split heads, hidden and
/// MLP sizes (and, with sequence parallelism, the sequence); a vocabulary
/// it does not split stays whole on every rank.
void checkTensorParallel(ConfigReader &reader, const GPTConfig &config,
                         const ConfigOverrides &overrides, bool hf) {
  int64_t t = config.tensorParallelSize;
  std::string tKey = overrides.tensorParallelSize
                         ? "--tensor-model-parallel-size"
                         : "tensor_model_parallel_size";
  if (config.sequenceParallel && t == 1)
    reader.error(overrides.sequenceParallel ? "--sequence-parallel"
                                            : "sequence_parallel",
                 "sequence parallelism needs tensor_model_parallel_size > 1");
  if (t > 1) {
    auto divides = [&](int64_t value, const char *name) {
      if (value > 0 && value % t != 0)
        reader.error(tKey, tKey + " (" + std::to_string(t) + ") must divide " +
                               name + " (" + std::to_string(value) + ")");
    };
    divides(config.numAttentionHeads, hf ? "n_head" : "num_attention_heads");
    divides(config.hiddenSize, hf ? "n_embd" : "hidden_size");
    // A mixture of experts has no dense MLP to split (the experts are
    // replicated; the shared expert is checked above).
    if (!config.moe())
      divides(config.ffnHiddenSize,
              hf ? "n_inner"
                 : (config.format == ConfigFormat::HuggingFace
                        ? "intermediate_size"
                        : "ffn_hidden_size"));
    if (config.numQueryGroups > 0)
      divides(config.numQueryGroups, "num_query_groups");
    if (config.sequenceParallel)
      divides(config.seqLength, "the sequence length");
  }
  if (t > 1 && config.vocabSize > 0 && !config.vocabParallel()) {
    bool megatron = config.format == ConfigFormat::Megatron;
    // A Hugging Face vocabulary is kept as transformers reads it: there is
    // no field to pad it with.
    reader.warning(megatron ? "padded_vocab_size" : "vocab_size",
                   "the vocabulary (" + std::to_string(config.vocabSize) +
                       ") does not split over " + std::to_string(t) +
                       " tensor-parallel ranks: the embedding, the output "
                       "layer and the loss stay whole on every rank, where "
                       "Megatron pads the vocabulary to split it" +
                       (megatron ? " (set padded_vocab_size to a multiple of "
                                   "t)"
                                 : ""));
  }
}

void checkConsistency(ConfigReader &reader, GPTConfig &config,
                      const ConfigOverrides &overrides) {
  bool hf =
      config.format == ConfigFormat::HuggingFace && config.family == "gpt";
  std::string headsKey = hf ? "n_head" : "num_attention_heads";
  std::string hiddenKey = hf ? "n_embd" : "hidden_size";
  std::string posKey = hf ? "n_positions" : "max_position_embeddings";

  applyOverrides(reader, config, overrides);
  checkPipeline(reader, config, overrides);
  if (config.vocabPaddingMultiple > 0) {
    int64_t multiple = config.vocabPaddingMultiple *
                       std::max<int64_t>(1, config.tensorParallelSize);
    config.vocabSize = (config.vocabSize + multiple - 1) / multiple * multiple;
  }

  if (config.moe() && config.moeFfnHiddenSize == 0)
    config.moeFfnHiddenSize = config.ffnHiddenSize;
  if (config.moe() && config.moeSharedExpertIntermediateSize > 0 &&
      config.tensorParallelSize > 1 &&
      config.moeSharedExpertIntermediateSize % config.tensorParallelSize != 0)
    reader.error("moe_shared_expert_intermediate_size",
                 "the tensor-parallel size (" +
                     std::to_string(config.tensorParallelSize) +
                     ") must divide moe_shared_expert_intermediate_size (" +
                     std::to_string(config.moeSharedExpertIntermediateSize) +
                     ")");
  if (config.recompute.distributeSavedActivations &&
      (config.tensorParallelSize <= 1 || config.sequenceParallel))
    reader.error("distribute_saved_activations",
                 config.sequenceParallel
                     ? "distribute_saved_activations cannot be combined with "
                       "sequence parallelism"
                     : "distribute_saved_activations needs "
                       "tensor_model_parallel_size > 1");
  if (config.slidingWindow > 0 && config.seqLength > config.slidingWindow)
    reader.error(overrides.seqLength ? "--seq-length" : "sliding_window",
                 "sliding-window attention is not modelled: the sequence (" +
                     std::to_string(config.seqLength) +
                     " tokens) must fit in sliding_window (" +
                     std::to_string(config.slidingWindow) +
                     "), where it is full causal attention");

  checkTensorParallel(reader, config, overrides, hf);

  if (config.format == ConfigFormat::Megatron && config.seqLength == 0 &&
      !reader.has("seq_length"))
    reader.error("", "missing required field 'seq_length' (Megatron "
                     "TransformerConfig); give it in the file or with "
                     "--seq-length");
  if (config.format == ConfigFormat::Megatron &&
      config.maxPositionEmbeddings == 0 && config.seqLength > 0)
    config.maxPositionEmbeddings = config.seqLength;

  if (config.hiddenSize > 0 && config.numAttentionHeads > 0 &&
      config.hiddenSize % config.numAttentionHeads != 0)
    reader.error(headsKey, hiddenKey + " (" +
                               std::to_string(config.hiddenSize) +
                               ") must be divisible by " + headsKey + " (" +
                               std::to_string(config.numAttentionHeads) + ")");
  if (config.seqLength > 0 && config.maxPositionEmbeddings > 0 &&
      config.seqLength > config.maxPositionEmbeddings)
    reader.error(posKey,
                 "the sequence length (" + std::to_string(config.seqLength) +
                     (overrides.seqLength ? ", from --seq-length" : "") +
                     ") must not exceed " + posKey + " (" +
                     std::to_string(config.maxPositionEmbeddings) + ")");
  if (!reader.hasErrors())
    checkSizesFit(reader, config, overrides);
}

ConfigFormat detectFormat(const json &doc, ConfigReader &reader, bool &ok) {
  // model_type marks every Hugging Face config.json (LLaMA's shares
  // hidden_size with Megatron); GPT-2's own names mark it too.
  bool hf = doc.contains("n_layer") || doc.contains("n_embd") ||
            doc.contains("model_type");
  bool megatron =
      doc.contains("num_layers") || (doc.contains("hidden_size") && !hf);
  ok = true;
  if (megatron && hf) {
    reader.error("", "the config mixes Megatron names (num_layers, "
                     "hidden_size) with Hugging Face names (n_layer, "
                     "n_embd, model_type); use one set");
    ok = false;
  } else if (!megatron && !hf) {
    reader.error("", "cannot tell the config's format: expected Megatron "
                     "fields (num_layers, hidden_size, ...) or a Hugging Face "
                     "config.json (model_type, or GPT-2's n_layer, n_embd)");
    ok = false;
  }
  return hf ? ConfigFormat::HuggingFace : ConfigFormat::Megatron;
}

} // namespace

std::pair<int64_t, int64_t> GPTConfig::chunkLayers(int64_t chunk) const {
  int64_t p = pipelineParallelSize, chunks = p * virtualPipelineSize;
  if (chunks == 1)
    return {0, numLayers};
  if (!firstStageLayers && !lastStageLayers) {
    int64_t size = numLayers / chunks;
    return {chunk * size, (chunk + 1) * size};
  }
  // Uneven first or last stage (one chunk per stage): the others share the
  // rest evenly.
  int64_t first = firstStageLayers.value_or(0),
          last = lastStageLayers.value_or(0);
  int64_t even = p - (firstStageLayers ? 1 : 0) - (lastStageLayers ? 1 : 0);
  int64_t size = even > 0 ? (numLayers - first - last) / even : 0;
  auto layersOf = [&](int64_t stage) {
    if (stage == 0 && firstStageLayers)
      return first;
    if (stage == p - 1 && lastStageLayers)
      return last;
    return size;
  };
  int64_t begin = 0;
  for (int64_t stage = 0; stage < chunk; ++stage)
    begin += layersOf(stage);
  return {begin, begin + layersOf(chunk)};
}

int64_t GPTConfig::moeCapacity() const {
  // Saturated: the size checks report a model too large to plan.
  const int64_t limit = std::numeric_limits<int64_t>::max();
  int64_t tokens = seqLength > 0 && microBatchSize > limit / seqLength
                       ? limit
                       : seqLength * microBatchSize;
  if (!moeExpertCapacityFactor || numMoeExperts <= 0)
    return tokens;
  // Megatron's get_capacity(num_tokens = tokens · topk), in double so that
  // no product overflows; clamped to [1, tokens] before the conversion.
  double rows = std::ceil(
      static_cast<double>(tokens) * static_cast<double>(moeRouterTopk) /
      static_cast<double>(numMoeExperts) * *moeExpertCapacityFactor);
  if (!(rows < static_cast<double>(tokens)))
    return tokens;
  return std::max<int64_t>(static_cast<int64_t>(rows), 1);
}

int64_t GPTConfig::moeBufferRows() const {
  const int64_t limit = std::numeric_limits<int64_t>::max();
  auto times = [&](int64_t x, int64_t y) {
    return x > 0 && y > limit / x ? limit : x * y;
  };
  if (!moeExpertCapacityFactor)
    return times(times(seqLength, microBatchSize), moeRouterTopk);
  return times(numMoeExperts, moeCapacity());
}

ConfigParseResult
ckpt::config::parseGPTConfig(std::string_view text,
                             const ConfigOverrides &overrides) {
  ConfigParseResult result;
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error &e) {
    ConfigDiagnostic diag;
    // e.byte is the 1-based index of the character where parsing stopped.
    std::tie(diag.line, diag.column) =
        lineAndColumn(text, e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    // Keep nlohmann's explanation, drop its "[json.exception...]" prefix.
    size_t colon = what.find(": ");
    diag.message = "invalid JSON: " +
                   (colon == std::string::npos ? what : what.substr(colon + 2));
    result.diagnostics.push_back(std::move(diag));
    return result;
  } catch (const json::exception &e) {
    // A number too large for a double (1e999): nlohmann gives no position.
    ConfigDiagnostic diag;
    std::string what = e.what();
    size_t bracket = what.find("] ");
    diag.message =
        "invalid JSON: " +
        (bracket == std::string::npos ? what : what.substr(bracket + 2)) +
        " (every number must fit a double)";
    result.diagnostics.push_back(std::move(diag));
    return result;
  }

  json empty = json::object();
  ConfigReader topReader(text, doc.is_object() ? doc : empty,
                         result.diagnostics);
  if (!doc.is_object()) {
    topReader.error("", "the config must be a JSON object, got " +
                            std::string(doc.type_name()));
    return result;
  }

  try {
    bool formatKnown = false;
    GPTConfig config;
    config.format = detectFormat(doc, topReader, formatKnown);
    if (!formatKnown)
      return result;
    if (config.format == ConfigFormat::Megatron)
      readMegatron(topReader, config);
    else
      readHuggingFace(topReader, config);
    if (!topReader.isStopped())
      checkConsistency(topReader, config, overrides);
    topReader.reportUnknown(config.format);
    if (!topReader.hasErrors())
      result.config = config;
  } catch (const std::exception &e) {
    // Defensive: a nlohmann type error would be an importer bug, but it must
    // still end as a diagnostic rather than a crash.
    topReader.error("", std::string("internal error while reading the "
                                    "config: ") +
                            e.what());
    result.config.reset();
  }
  return result;
}
