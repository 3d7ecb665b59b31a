//===- ActivationAnalysis.cpp - What the backward keeps -------------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace ckpt;

std::vector<std::pair<std::string, std::string>>
ckpt::describeModel(func::FuncOp step) {
  std::vector<std::pair<std::string, std::string>> fields;
  auto module = step->getParentOfType<ModuleOp>();
  auto model =
      module
          ? module->getAttrOfType<DictionaryAttr>(xf::XFDialect::kModelAttrName)
          : DictionaryAttr();
  if (!model)
    return fields;
  for (NamedAttribute field : model) {
    std::string text;
    llvm::raw_string_ostream os(text);
    Attribute value = field.getValue();
    if (auto str = dyn_cast<StringAttr>(value))
      os << str.getValue();
    else if (auto boolean = dyn_cast<BoolAttr>(value))
      os << (boolean.getValue() ? "true" : "false");
    else if (auto fp = dyn_cast<FloatAttr>(value))
      os << llvm::formatv("{0}", fp.getValueAsDouble());
    else if (auto integer = dyn_cast<IntegerAttr>(value))
      os << integer.getValue();
    else if (auto type = dyn_cast<TypeAttr>(value))
      os << type.getValue();
    else
      value.print(os, /*elideType=*/true);
    fields.emplace_back(field.getName().str(), text);
  }
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

  for (const StepNode &node : graph.nodes)
    addCost(node.phase == Phase::Forward    ? report.forward
            : node.phase == Phase::Backward ? report.backward
                                            : report.recompute,
            node.cost);
  report.recomputeRegions = static_cast<int>(graph.regions.size());
  for (const StepRegion &region : graph.regions)
    if (region.producedBytes > report.largestRecomputeBytes) {
      report.largestRecomputeBytes = region.producedBytes;
      report.largestRecomputeLabel = region.label;
    }

  // Each kept value is attributed to the op whose gradient needs it.
  for (const StepTensor &tensor : graph.tensors) {
    if (!tensor.kept)
      continue;
    const StepNode &reader = graph.nodes[graph.attributedReader(
        static_cast<int>(&tensor - graph.tensors.data()))];
    KeptValue kept{tensor.value, tensor.bytes, reader.layer, reader.module};
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

  // Layer-norm statistics: mean and inverse deviation, f32, per row, for
  // every layer norm the backward differentiates and that is not recomputed
  // (a recompute marks it ckpt.remat = "recompute"; it then recomputes its
  // statistics too).
  for (const StepNode &node : graph.nodes) {
    auto norm = dyn_cast<xf::LayerNormOp>(node.op);
    if (!norm || node.phase != Phase::Forward)
      continue;
    auto remat = norm->getAttrOfType<StringAttr>(CkptDialect::kRematAttrName);
    if (remat && remat.getValue() == "recompute")
      continue;
    const StepTensor &input = graph.tensors[node.inputs[0]];
    bool kept = llvm::any_of(input.readers, [&](int reader) {
      return graph.nodes[reader].phase != Phase::Forward;
    });
    if (!kept)
      continue;
    auto type = cast<RankedTensorType>(norm.getInput().getType());
    int64_t rows = type.getNumElements() / type.getShape().back();
    int64_t bytes = 2 * rows * 4;
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
