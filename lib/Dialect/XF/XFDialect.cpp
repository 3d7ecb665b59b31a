//===- XFDialect.cpp - The xf dialect -------------------------------------===//

#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ckpt::xf;

#include "ckpt/Dialect/XF/XFOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ckpt/Dialect/XF/XFAttrs.cpp.inc"

void XFDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ckpt/Dialect/XF/XFOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ckpt/Dialect/XF/XFAttrs.cpp.inc"
      >();
}

ModelAttr ckpt::xf::getModel(Operation *op) {
  auto module =
      isa<ModuleOp>(op) ? cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  return module ? module->getAttrOfType<ModelAttr>(XFDialect::kModelAttrName)
                : ModelAttr();
}

LogicalResult ModelAttr::verify(
    llvm::function_ref<InFlightDiagnostic()> emitError, StringRef family,
    StringRef source, int64_t numLayers, int64_t hiddenSize,
    int64_t numAttentionHeads, int64_t ffnHiddenSize, int64_t seqLength,
    int64_t microBatchSize, int64_t vocabSize, int64_t maxPositionEmbeddings,
    FloatAttr hiddenDropout, FloatAttr attentionDropout, Type paramsDtype,
    BoolAttr untieEmbeddingsAndOutputWeights, int64_t tensorModelParallelSize,
    BoolAttr sequenceParallel, StringRef normalization,
    BoolAttr gatedLinearUnit, StringRef activationFunc,
    StringRef positionEmbeddingType, FloatAttr rotaryBase,
    FloatAttr rotaryPercent, int64_t numQueryGroups, StringRef attentionBackend,
    int64_t numMoeExperts, int64_t moeRouterTopk, int64_t moeFfnHiddenSize,
    int64_t moeSharedExpertIntermediateSize, int64_t moeCapacity,
    FloatAttr moeExpertCapacityFactor, int64_t dataParallelSize,
    BoolAttr useDistributedOptimizer) {
  if (dataParallelSize < 1)
    return emitError() << "data_parallel_size must be >= 1, got "
                       << dataParallelSize;
  if (family.empty())
    return emitError() << "family must name a model family, got \"\"";
  if (source != "megatron" && source != "huggingface")
    return emitError() << "source must be \"megatron\" or \"huggingface\", "
                          "got \""
                       << source << "\"";
  std::pair<const char *, int64_t> sizes[] = {
      {"num_layers", numLayers},
      {"hidden_size", hiddenSize},
      {"num_attention_heads", numAttentionHeads},
      {"ffn_hidden_size", ffnHiddenSize},
      {"seq_length", seqLength},
      {"micro_batch_size", microBatchSize},
      {"vocab_size", vocabSize},
      {"max_position_embeddings", maxPositionEmbeddings},
      {"tensor_model_parallel_size", tensorModelParallelSize}};
  for (auto [name, value] : sizes)
    if (value < 1)
      return emitError() << name << " must be >= 1, got " << value;
  if (hiddenSize % numAttentionHeads != 0)
    return emitError() << "hidden_size (" << hiddenSize
                       << ") must be divisible by num_attention_heads ("
                       << numAttentionHeads << ")";
  for (auto [name, p] :
       {std::pair<const char *, FloatAttr>{"hidden_dropout", hiddenDropout},
        {"attention_dropout", attentionDropout}}) {
    double value = p.getValueAsDouble();
    if (!(value >= 0.0 && value < 1.0))
      return emitError() << name << " must be in [0, 1), got " << value;
  }
  if (!paramsDtype.isF32() && !paramsDtype.isBF16() && !paramsDtype.isF16())
    return emitError() << "params_dtype must be f32, bf16 or f16, got "
                       << paramsDtype;
  if (sequenceParallel && sequenceParallel.getValue() &&
      tensorModelParallelSize < 2)
    return emitError() << "sequence_parallel needs tensor_model_parallel_size "
                          "> 1";
  if (normalization != "LayerNorm" && normalization != "RMSNorm")
    return emitError() << "normalization must be \"LayerNorm\" or "
                          "\"RMSNorm\", got \""
                       << normalization << "\"";
  bool gated = gatedLinearUnit && gatedLinearUnit.getValue();
  if (activationFunc != "gelu" && !(activationFunc == "silu" && gated))
    return emitError() << "activation_func must be \"gelu\", or \"silu\" "
                          "with gated_linear_unit = true, got \""
                       << activationFunc << "\"";
  if (positionEmbeddingType != "learned_absolute" &&
      positionEmbeddingType != "rope" && positionEmbeddingType != "none")
    return emitError() << "position_embedding_type must be "
                          "\"learned_absolute\", \"rope\" or \"none\", got \""
                       << positionEmbeddingType << "\"";
  if ((rotaryBase || rotaryPercent) && positionEmbeddingType != "rope")
    return emitError() << "rotary_base and rotary_percent need "
                          "position_embedding_type = \"rope\"";
  if (numQueryGroups < 0 ||
      (numQueryGroups > 0 && numAttentionHeads % numQueryGroups != 0))
    return emitError() << "num_query_groups must divide num_attention_heads ("
                       << numAttentionHeads << "), got " << numQueryGroups;
  if (attentionBackend != "unfused" && attentionBackend != "flash")
    return emitError() << "attention_backend must be \"unfused\" or "
                          "\"flash\", got \""
                       << attentionBackend << "\"";
  if (numMoeExperts < 0)
    return emitError() << "num_moe_experts must be >= 0, got " << numMoeExperts;
  if (numMoeExperts == 0) {
    if (moeRouterTopk || moeFfnHiddenSize || moeSharedExpertIntermediateSize ||
        moeCapacity || moeExpertCapacityFactor)
      return emitError() << "the moe_* fields need num_moe_experts > 0";
  } else {
    if (moeRouterTopk < 1 || moeRouterTopk > numMoeExperts)
      return emitError() << "moe_router_topk must be in [1, " << numMoeExperts
                         << "], got " << moeRouterTopk;
    if (moeFfnHiddenSize < 1 || moeCapacity < 1 ||
        moeSharedExpertIntermediateSize < 0)
      return emitError() << "moe_ffn_hidden_size and moe_capacity must be "
                            ">= 1 and moe_shared_expert_intermediate_size >= "
                            "0";
    if (moeExpertCapacityFactor &&
        !(moeExpertCapacityFactor.getValueAsDouble() > 0.0))
      return emitError() << "moe_expert_capacity_factor must be > 0";
  }
  if (rotaryBase && !(rotaryBase.getValueAsDouble() > 0.0))
    return emitError() << "rotary_base must be > 0, got "
                       << rotaryBase.getValueAsDouble();
  if (rotaryPercent && !(rotaryPercent.getValueAsDouble() > 0.0 &&
                         rotaryPercent.getValueAsDouble() <= 1.0))
    return emitError() << "rotary_percent must be in (0, 1], got "
                       << rotaryPercent.getValueAsDouble();
  return success();
}

LogicalResult XFDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kLayerAttrName) {
    auto layer = dyn_cast<IntegerAttr>(attr.getValue());
    if (!layer || !layer.getType().isSignlessInteger(64) || layer.getInt() < 0)
      return op->emitError() << "'" << kLayerAttrName
                             << "' must be a non-negative i64 layer index, got "
                             << attr.getValue();
    // Under a model, a layer index names one of its layers.
    if (ModelAttr model = getModel(op))
      if (layer.getInt() >= model.getNumLayers())
        return op->emitError()
               << "'" << kLayerAttrName << "' is " << layer.getInt()
               << " but the model (xf.model) has " << model.getNumLayers()
               << (model.getNumLayers() == 1 ? " layer" : " layers")
               << ", numbered from 0";
    return success();
  }
  if (name == kModuleAttrName) {
    auto module = dyn_cast<StringAttr>(attr.getValue());
    if (!module || !isKnownModuleName(module.getValue()))
      return op->emitError()
             << "'" << kModuleAttrName << "' must be one of "
             << joinKnownModuleNames() << ", got " << attr.getValue();
    return success();
  }
  if (name == kPhaseAttrName) {
    auto phase = dyn_cast<StringAttr>(attr.getValue());
    if (!phase ||
        (phase.getValue() != "backward" && phase.getValue() != "recompute"))
      return op->emitError() << "'" << kPhaseAttrName
                             << "' must be \"backward\" or \"recompute\" "
                                "(forward ops carry none), got "
                             << attr.getValue();
    return success();
  }
  if (name == kModelAttrName) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << kModelAttrName
                             << "' is allowed only on a builtin.module";
    if (!isa<ModelAttr>(attr.getValue()))
      return op->emitError()
             << "'" << kModelAttrName
             << "' must be an #xf.model attribute, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "unknown xf attribute '" << name << "'; xf defines "
                         << kLayerAttrName << ", " << kModuleAttrName << ", "
                         << kPhaseAttrName << " and " << kModelAttrName
                         << " on operations";
}

LogicalResult XFDialect::verifyRegionArgAttribute(Operation *op,
                                                  unsigned regionIndex,
                                                  unsigned argIndex,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || !llvm::is_contained(
                     llvm::ArrayRef<StringRef>{"tokens", "labels", "parameter"},
                     role.getValue()))
      return op->emitError()
             << "argument #" << argIndex << ": '" << kRoleAttrName
             << "' must be \"tokens\", \"labels\" or "
                "\"parameter\", got "
             << attr.getValue();
    return success();
  }
  if (name == kNameAttrName) {
    auto str = dyn_cast<StringAttr>(attr.getValue());
    if (!str || str.getValue().empty())
      return op->emitError()
             << "argument #" << argIndex << ": '" << kNameAttrName
             << "' must be a non-empty string, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "argument #" << argIndex
                         << ": unknown xf argument attribute '" << name
                         << "'; xf defines " << kRoleAttrName << " and "
                         << kNameAttrName;
}

LogicalResult XFDialect::verifyRegionResultAttribute(Operation *op,
                                                     unsigned regionIndex,
                                                     unsigned resultIndex,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || role.getValue() != "loss")
      return op->emitError()
             << "result #" << resultIndex << ": '" << kRoleAttrName
             << "' must be \"loss\", got " << attr.getValue();
    return success();
  }
  if (name == kGradOfAttrName) {
    auto str = dyn_cast<StringAttr>(attr.getValue());
    if (!str || str.getValue().empty())
      return op->emitError()
             << "result #" << resultIndex << ": '" << kGradOfAttrName
             << "' must name a parameter, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "result #" << resultIndex
                         << ": unknown xf result attribute '" << name
                         << "'; xf defines " << kRoleAttrName << " and "
                         << kGradOfAttrName;
}
