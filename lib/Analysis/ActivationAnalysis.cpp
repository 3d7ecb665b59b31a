//===- ActivationAnalysis.cpp - What the backward keeps -------------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/OpTable.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace ckpt;

std::vector<std::pair<std::string, std::string>>
ckpt::describeModel(func::FuncOp step) {
  std::vector<std::pair<std::string, std::string>> fields;
  xf::ModelAttr model = xf::getModel(step);
  if (!model)
    return fields;
  auto number = [](int64_t value) { return std::to_string(value); };
  auto real = [](FloatAttr value) {
    return llvm::formatv("{0}", value.getValueAsDouble()).str();
  };
  auto boolean = [](bool value) { return value ? "true" : "false"; };
  std::string dtype;
  llvm::raw_string_ostream(dtype) << model.getParamsDtype();
  fields = {
      {"attention_dropout", real(model.getAttentionDropout())},
      {"family", model.getFamily().str()},
      {"ffn_hidden_size", number(model.getFfnHiddenSize())},
      {"hidden_dropout", real(model.getHiddenDropout())},
      {"hidden_size", number(model.getHiddenSize())},
      {"max_position_embeddings", number(model.getMaxPositionEmbeddings())},
      {"micro_batch_size", number(model.getMicroBatchSize())},
      {"num_attention_heads", number(model.getNumAttentionHeads())},
      {"num_layers", number(model.getNumLayers())},
      {"params_dtype", dtype},
      {"seq_length", number(model.getSeqLength())},
      {"source", model.getSource().str()},
      {"untie_embeddings_and_output_weights",
       boolean(model.getUntieEmbeddingsAndOutputWeights().getValue())},
      {"vocab_size", number(model.getVocabSize())},
  };
  // The layer's variant, when it is not GPT's.
  if (model.getNormalization() != "LayerNorm")
    fields.push_back({"normalization", model.getNormalization().str()});
  if (model.isGated())
    fields.push_back({"gated_linear_unit", "true"});
  if (model.getActivationFunc() != "gelu")
    fields.push_back({"activation_func", model.getActivationFunc().str()});
  if (model.getPositionEmbeddingType() != "learned_absolute")
    fields.push_back(
        {"position_embedding_type", model.getPositionEmbeddingType().str()});
  if (model.getAttentionBackend() != "unfused")
    fields.push_back({"attention_backend", model.getAttentionBackend().str()});
  if (model.getNumQueryGroups() > 0)
    fields.push_back({"num_query_groups", number(model.getNumQueryGroups())});
  if (model.getRotaryBase())
    fields.push_back({"rotary_base", real(model.getRotaryBase())});
  if (model.getRotaryPercent())
    fields.push_back({"rotary_percent", real(model.getRotaryPercent())});
  if (model.isMoe()) {
    fields.push_back({"num_moe_experts", number(model.getNumMoeExperts())});
    fields.push_back({"moe_router_topk", number(model.getMoeRouterTopk())});
    fields.push_back(
        {"moe_ffn_hidden_size", number(model.getMoeFfnHiddenSize())});
    fields.push_back({"moe_capacity", number(model.getMoeCapacity())});
    fields.push_back({"moe_expert_capacity_factor",
                      model.isDropless()
                          ? std::string("dropless")
                          : real(model.getMoeExpertCapacityFactor())});
    if (model.getMoeSharedExpertIntermediateSize() > 0)
      fields.push_back({"moe_shared_expert_intermediate_size",
                        number(model.getMoeSharedExpertIntermediateSize())});
  }
  // One rank's graph of a tensor-parallel model says so.
  if (model.getTensorModelParallelSize() > 1) {
    fields.push_back(
        {"sequence_parallel", boolean(model.isSequenceParallel())});
    fields.push_back({"tensor_model_parallel_size",
                      number(model.getTensorModelParallelSize())});
  }
  llvm::sort(fields);
  return fields;
}

namespace {
void addCost(OpCost &total, const OpCost &cost) {
  total.matmulFlops += cost.matmulFlops;
  total.otherFlops += cost.otherFlops;
}

LayerActivations &layerEntry(std::map<int64_t, LayerActivations> &layers,
                             int64_t layer) {
  LayerActivations &entry = layers[layer];
  entry.layer = layer;
  return entry;
}
} // namespace

ActivationReport ckpt::analyzeActivations(const StepGraph &graph) {
  ActivationReport report;
  report.function = graph.step.getName().str();
  report.model = describeModel(graph.step);
  std::map<int64_t, LayerActivations> layers;

  for (auto [index, node] : llvm::enumerate(graph.nodes))
    addCost(node.phase == Phase::Forward    ? report.forward
            : node.phase == Phase::Backward ? report.backward
                                            : report.recompute,
            graph.cost(static_cast<int>(index)));
  report.recomputeRegions = static_cast<int>(graph.regions.size());
  for (const StepRegion &region : graph.regions) {
    if (region.producedBytes > report.largestRecomputeBytes) {
      report.largestRecomputeBytes = region.producedBytes;
      report.largestRecomputeLabel = region.label;
    }
    auto recompute = cast<RecomputeOp>(region.op);
    int64_t spanBytes = region.producedBytes;
    IntegerAttr matmul = recompute.getSpanMatmulFlopsAttr(),
                other = recompute.getSpanOtherFlopsAttr(),
                bytes = recompute.getSpanBytesAttr();
    if (matmul && other && bytes) {
      addCost(report.spanRecompute, {matmul.getInt(), other.getInt()});
      spanBytes = bytes.getInt();
    } else {
      for (int node = region.firstNode; node < region.endNode; ++node)
        addCost(report.spanRecompute, graph.cost(node));
    }
    report.largestSpanBytes = std::max(report.largestSpanBytes, spanBytes);
  }

  // Each kept value is attributed to the op whose gradient needs it.
  for (const StepTensor &tensor : graph.tensors) {
    if (!tensor.kept)
      continue;
    const StepNode &reader = graph.nodes[graph.attributedReader(
        static_cast<int>(&tensor - graph.tensors.data()))];
    KeptValue kept{tensor.value, tensor.bytes, reader.layer,
                   reader.module.str()};
    if (kept.module.empty())
      kept.module = "untagged";
    report.keptBytes += kept.bytes;
    if (kept.layer) {
      LayerActivations &entry = layerEntry(layers, *kept.layer);
      entry.keptBytes += kept.bytes;
      entry.modules[kept.module] += kept.bytes;
    } else {
      report.outsideLayers[kept.module] += kept.bytes;
    }
    report.kept.push_back(std::move(kept));
  }

  // Norm statistics (the op table's statisticsPerRow, f32 per row: a layer
  // norm's mean and inverse deviation, an RMS norm's inverse root mean
  // square), for every norm the backward differentiates and that is not
  // recomputed (a recompute marks it ckpt.remat = "recompute"; it then
  // recomputes its statistics too).
  for (const StepNode &node : graph.nodes) {
    const ops::OpDef *def = lookupOpDef(node.op);
    if (!def || def->statisticsPerRow == 0 || node.phase != Phase::Forward)
      continue;
    if (getRematAnnotation(node.op) == RematAnnotation::Recompute ||
        !graph.isReadOutsideForward(node.inputs[0]))
      continue;
    auto type = cast<RankedTensorType>(node.op->getOperand(0).getType());
    int64_t rows = type.getNumElements() / type.getShape().back();
    int64_t bytes = def->statisticsPerRow * rows * 4;
    report.layerNormStatisticsBytes += bytes;
    if (node.layer)
      layerEntry(layers, *node.layer).layerNormStatisticsBytes += bytes;
  }

  for (auto &[index, entry] : layers)
    report.perLayer.push_back(entry);
  return report;
}

FailureOr<ActivationReport> ckpt::analyzeActivations(func::FuncOp step) {
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  return analyzeActivations(*graph);
}
