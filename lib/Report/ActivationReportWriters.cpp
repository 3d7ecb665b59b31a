//===- ActivationReportWriters.cpp - The report as a table and JSON -------===//

#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Support/AtomicOutput.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cstdlib>

using namespace mlir;
using namespace ckpt;

void ckpt::printActivationTable(const ActivationReport &report,
                                llvm::raw_ostream &os) {
  os << "== Activation report: @" << report.function << "\n";
  if (!report.model.empty()) {
    os << "model:";
    for (auto &[key, value] : report.model)
      os << " " << key << "=" << value;
    os << "\n";
  }
  auto field = [&](StringRef key) -> std::string {
    for (auto &[name, value] : report.model)
      if (name == key)
        return value;
    return "";
  };
  if (field("moe_expert_capacity_factor") == "dropless") {
    // moe_capacity is s·b when dropless: the most one expert can take.
    long long rows = std::atoll(field("moe_capacity").c_str()) *
                     std::atoll(field("moe_router_topk").c_str());
    os << "note: dropless routing: the experts share one grouped buffer of "
          "s·b·k = "
       << rows
       << " rows (a row per choice, sorted by expert, as Megatron permutes "
          "tokens for its grouped GEMM); how many each expert takes is "
          "decided at run time\n";
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
  if (report.recomputeRegions)
    os << llvm::formatv(
        "recompute regions: {0}, largest {1} ({2} bytes); re-running each "
        "checkpointed span whole, as Megatron-LM does: {3} FLOPs (matmul {4}), "
        "largest {5} bytes\n",
        report.recomputeRegions, report.largestRecomputeLabel,
        report.largestRecomputeBytes, report.spanRecompute.total(),
        report.spanRecompute.matmulFlops, report.largestSpanBytes);
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
    json.attribute("span_recompute_flops", report.spanRecompute.total());
    json.attribute("span_recompute_matmul_flops",
                   report.spanRecompute.matmulFlops);
    json.attribute("largest_span_bytes", report.largestSpanBytes);
    if (plan) {
      json.attribute("peak_bytes", plan->lowerBoundBytes);
      json.attribute("arena_bytes", plan->arenaBytes);
      json.attribute("lower_bound_bytes", plan->lowerBoundBytes);
      if (!plan->arenaNote.empty())
        json.attribute("arena_note", plan->arenaNote);
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

void ckpt::printMemoryLines(const MemoryPlan &plan, llvm::raw_ostream &os) {
  os << "memory plan: peak " << formatBytes(plan.lowerBoundBytes) << " ("
     << plan.lowerBoundBytes << " bytes, the lower bound) in an arena of "
     << formatBytes(plan.arenaBytes) << " (" << plan.arenaBytes
     << " bytes, fragmentation "
     << llvm::formatv("{0:F4}", plan.fragmentation()) << ")\n";
  if (!plan.arenaNote.empty())
    os << "memory plan note: " << plan.arenaNote << "\n";
  os << "persistent: " << plan.parameterCount << " parameters, "
     << formatBytes(plan.trainingPersistentBytes)
     << " for weights, gradients and Adam state (Megatron's accounting); "
     << "total "
     << formatBytes(plan.trainingPersistentBytes + plan.lowerBoundBytes)
     << "\n";
}
