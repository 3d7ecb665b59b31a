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

Phase ckpt::getPhase(Operation *op) {
  auto phase = op->getAttrOfType<StringAttr>(xf::XFDialect::kPhaseAttrName);
  if (!phase)
    return Phase::Forward;
  return phase.getValue() == "recompute" ? Phase::Recompute : Phase::Backward;
}

namespace {
void addCost(OpCost &total, const OpCost &cost) {
  total.matmulFlops += cost.matmulFlops;
  total.otherFlops += cost.otherFlops;
}

/// The op that really reads `value` through `reader`: inside a recompute
/// region, the first op that uses the matching block argument.
Operation *effectiveReader(Operation *reader, Value value) {
  auto region = dyn_cast<RecomputeOp>(reader);
  if (!region)
    return reader;
  Block &block = region.getBody().front();
  for (auto [input, arg] :
       llvm::zip(region.getInputs(), block.getArguments())) {
    if (input != value)
      continue;
    Operation *first = nullptr;
    for (Operation *user : arg.getUsers())
      if (!first || user->isBeforeInBlock(first))
        first = user;
    if (first)
      return first;
  }
  return reader;
}

/// Cost of an op, summing the bodies of recompute regions.
OpCost totalCost(Operation *op) {
  if (auto region = dyn_cast<RecomputeOp>(op)) {
    OpCost cost;
    region.getBody().walk([&](Operation *inner) {
      if (!isa<YieldOp>(inner))
        addCost(cost, getOpCost(inner));
    });
    return cost;
  }
  return getOpCost(op);
}

LayerActivations &layerEntry(std::map<int64_t, LayerActivations> &layers,
                             int64_t layer) {
  LayerActivations &entry = layers[layer];
  entry.layer = layer;
  return entry;
}
} // namespace

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

FailureOr<ActivationReport> ckpt::analyzeActivations(func::FuncOp step) {
  ActivationReport report;
  report.function = step.getName().str();
  std::map<int64_t, LayerActivations> layers;

  report.model = describeModel(step);

  for (Operation &op : step.getBody().front()) {
    Phase phase = getPhase(&op);
    OpCost cost = totalCost(&op);
    if (auto region = dyn_cast<RecomputeOp>(op)) {
      ++report.recomputeRegions;
      int64_t bytes = 0;
      region.getBody().walk([&](Operation *inner) {
        for (Value value : inner->getResults())
          bytes += getTensorBytes(value.getType());
      });
      if (bytes > report.largestRecomputeBytes) {
        report.largestRecomputeBytes = bytes;
        report.largestRecomputeLabel = region.getLabel().value_or("").str();
      }
    }
    addCost(phase == Phase::Forward    ? report.forward
            : phase == Phase::Backward ? report.backward
                                       : report.recompute,
            cost);
    if (phase != Phase::Forward)
      continue;
    for (Value result : op.getResults()) {
      // The first backward reader decides the attribution (the op whose
      // gradient needs the value); failing that, the first recompute region.
      Operation *reader = nullptr;
      for (Phase wanted : {Phase::Backward, Phase::Recompute}) {
        for (Operation *user : result.getUsers())
          if (getPhase(user) == wanted &&
              (!reader || user->isBeforeInBlock(reader)))
            reader = user;
        if (reader)
          break;
      }
      if (!reader)
        continue;
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (!type || !type.hasStaticShape())
        return op.emitOpError()
               << "keeps a value of type " << result.getType()
               << " for the backward; only statically shaped tensors can be "
                  "accounted";
      Operation *attributed = effectiveReader(reader, result);
      KeptValue kept{result, getTensorBytes(type), xf::getLayer(attributed),
                     xf::getModule(attributed).str()};
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
  }

  // Layer-norm statistics: mean and inverse deviation, f32, per row, for
  // every layer norm the backward differentiates and that is not recomputed
  // (a recompute marks it ckpt.remat = "recompute"; it then recomputes its
  // statistics too).
  for (xf::LayerNormOp norm : step.getOps<xf::LayerNormOp>()) {
    if (getPhase(norm) != Phase::Forward)
      continue;
    auto remat = norm->getAttrOfType<StringAttr>(CkptDialect::kRematAttrName);
    if (remat && remat.getValue() == "recompute")
      continue;
    bool kept = llvm::any_of(norm.getInput().getUsers(), [](Operation *user) {
      return getPhase(user) != Phase::Forward;
    });
    if (!kept)
      continue;
    auto type = cast<RankedTensorType>(norm.getInput().getType());
    int64_t rows = type.getNumElements() / type.getShape().back();
    int64_t bytes = 2 * rows * 4;
    report.layerNormStatisticsBytes += bytes;
    if (auto layer = xf::getLayer(norm))
      layerEntry(layers, *layer).layerNormStatisticsBytes += bytes;
  }

  for (auto &[index, entry] : layers)
    report.perLayer.push_back(entry);
  return report;
}

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

void ckpt::printActivationTable(const ActivationReport &report,
                                llvm::raw_ostream &os) {
  os << "== Activation report: @" << report.function << "\n";
  if (!report.model.empty()) {
    os << "model:";
    for (auto &[key, value] : report.model)
      os << " " << key << "=" << value;
    os << "\n";
  }
  // Columns: every module that appears in some layer, in model order.
  SmallVector<std::string> columns;
  for (llvm::StringLiteral name : xf::getKnownModuleNames())
    for (const LayerActivations &layer : report.perLayer)
      if (layer.modules.count(name.str())) {
        columns.push_back(name.str());
        break;
      }
  os << "kept for the backward, bytes per layer (layer-norm statistics "
        "apart):\n";
  os << llvm::formatv("{0,6}", "layer");
  for (const std::string &column : columns)
    os << llvm::formatv(" {0,12}", column);
  os << llvm::formatv(" {0,14} {1,10}\n", "kept", "ln stats");
  for (const LayerActivations &layer : report.perLayer) {
    os << llvm::formatv("{0,6}", layer.layer);
    for (const std::string &column : columns) {
      auto it = layer.modules.find(column);
      os << llvm::formatv(" {0,12}",
                          it == layer.modules.end() ? 0 : it->second);
    }
    os << llvm::formatv(" {0,14} {1,10}\n", layer.keptBytes,
                        layer.layerNormStatisticsBytes);
  }
  if (!report.outsideLayers.empty()) {
    os << "outside the layers:";
    for (auto &[module, bytes] : report.outsideLayers)
      os << " " << module << " " << bytes;
    os << "\n";
  }
  auto mib = [](int64_t bytes) { return bytes / (1024.0 * 1024.0); };
  os << llvm::formatv("total kept activations: {0} bytes ({1:F2} MiB); "
                      "layer-norm statistics: {2} bytes\n",
                      report.keptBytes, mib(report.keptBytes),
                      report.layerNormStatisticsBytes);
  os << llvm::formatv("FLOPs: forward {0} (matmul {1}), backward {2} (matmul "
                      "{3})",
                      report.forward.total(), report.forward.matmulFlops,
                      report.backward.total(), report.backward.matmulFlops);
  if (report.recompute.total())
    os << llvm::formatv(", recompute {0} (matmul {1})",
                        report.recompute.total(), report.recompute.matmulFlops);
  os << "\n";
}

std::string ckpt::activationReportToJson(const ActivationReport &report,
                                         const MemoryPlan *plan) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os, 2);
  json.object([&] {
    json.attribute("schema", "ckpt-report");
    json.attribute("version", 1);
    json.attribute("function", report.function);
    json.attributeObject("model", [&] {
      for (auto &[key, value] : report.model)
        json.attribute(key, value);
    });
    json.attribute("kept_activation_bytes", report.keptBytes);
    json.attribute("layernorm_statistics_bytes",
                   report.layerNormStatisticsBytes);
    json.attributeArray("per_layer", [&] {
      for (const LayerActivations &layer : report.perLayer)
        json.object([&] {
          json.attribute("layer", layer.layer);
          json.attribute("kept_bytes", layer.keptBytes);
          json.attributeObject("modules", [&] {
            for (auto &[module, bytes] : layer.modules)
              json.attribute(module, bytes);
          });
          json.attribute("layernorm_statistics_bytes",
                         layer.layerNormStatisticsBytes);
        });
    });
    json.attributeObject("outside_layers", [&] {
      for (auto &[module, bytes] : report.outsideLayers)
        json.attribute(module, bytes);
    });
    json.attribute("forward_flops", report.forward.total());
    json.attribute("forward_matmul_flops", report.forward.matmulFlops);
    json.attribute("backward_flops", report.backward.total());
    json.attribute("backward_matmul_flops", report.backward.matmulFlops);
    json.attribute("recompute_flops", report.recompute.total());
    json.attribute("recompute_matmul_flops", report.recompute.matmulFlops);
    json.attribute("recompute_regions", report.recomputeRegions);
    json.attribute("largest_recompute_region_bytes",
                   report.largestRecomputeBytes);
    if (plan) {
      json.attribute("peak_bytes", plan->lowerBoundBytes);
      json.attribute("arena_bytes", plan->arenaBytes);
      json.attribute("lower_bound_bytes", plan->lowerBoundBytes);
      json.attribute("fragmentation", plan->fragmentation());
      json.attribute("parameter_count", plan->parameterCount);
      json.attribute("persistent_bytes", plan->trainingPersistentBytes);
      json.attribute("runtime_persistent_bytes", plan->runtimePersistentBytes);
      json.attribute("total_bytes",
                     plan->trainingPersistentBytes + plan->lowerBoundBytes);
      json.attributeArray("timeline", [&] {
        for (int64_t i = 0; i < plan->steps; ++i)
          json.object([&] {
            json.attribute("kept", plan->liveKept[i]);
            json.attribute("recomputed", plan->liveRecomputed[i]);
            json.attribute("workspace", plan->liveWorkspace[i]);
            json.attribute("gradients", plan->liveGradients[i]);
          });
      });
    }
  });
  os << "\n";
  return text;
}
