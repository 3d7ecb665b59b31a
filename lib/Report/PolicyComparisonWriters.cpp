//===- PolicyComparisonWriters.cpp - The comparison as tables and JSON ----===//

#include "ckpt/Report/Report.h"
#include "ckpt/Support/AtomicOutput.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

namespace {
std::string mib(int64_t bytes) { return formatBytes(bytes); }

double percent(int64_t part, int64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / whole : 0.0;
}
} // namespace

void ckpt::printPolicyComparison(const std::vector<PolicyComparisonRow> &rows,
                                 llvm::raw_ostream &os) {
  const ActivationReport &base = rows.front().report;
  int64_t stepFlops = base.forward.total() + base.backward.total();
  int64_t stepMatmul = base.forward.matmulFlops + base.backward.matmulFlops;
  os << "== Recompute policies: @" << base.function << "\n";
  os << llvm::formatv("{0,-36} {1,16} {2,16} {3,24} {4,18} {5,20} {6,20}\n",
                      "strategy", "kept activations", "per layer (L0)",
                      "memory saved", "largest region", "compute overhead",
                      "Megatron re-exec");
  auto overhead = [&](const OpCost &cost) {
    return llvm::formatv("{0:F2}% ({1:F2}% mm)",
                         percent(cost.total(), stepFlops),
                         percent(cost.matmulFlops, stepMatmul))
        .str();
  };
  for (const PolicyComparisonRow &row : rows) {
    const ActivationReport &r = row.report;
    int64_t saved = base.keptBytes - r.keptBytes;
    int64_t layer0 = r.perLayer.empty() ? 0 : r.perLayer.front().keptBytes;
    os << llvm::formatv("{0,-36} {1,16} {2,16} {3,24} {4,18} {5,20} {6,20}\n",
                        row.strategy, mib(r.keptBytes),
                        r.perLayer.empty() ? "-" : std::to_string(layer0),
                        llvm::formatv("{0} ({1:F1}%)", mib(saved),
                                      percent(saved, base.keptBytes))
                            .str(),
                        mib(r.largestRecomputeBytes), overhead(r.recompute),
                        overhead(r.spanRecompute));
  }
  os << "(kept activations without layer-norm statistics; overhead: "
        "recompute FLOPs over the step's forward + backward FLOPs, all and "
        "matrix multiplies only; Megatron re-exec: the same policy when each "
        "checkpointed span is re-run whole)\n";
  const MemoryPlan &basePlan = rows.front().plan;
  int64_t baseTotal =
      basePlan.trainingPersistentBytes + basePlan.lowerBoundBytes;
  os << "== Memory plans (persistent: "
     << formatBytes(basePlan.trainingPersistentBytes)
     << " of weights, gradients and optimizer state)\n";
  os << llvm::formatv("{0,-36} {1,16} {2,16} {3,16} {4,14} {5,16} {6,14}\n",
                      "strategy", "kept peak", "lower bound", "arena",
                      "fragmentation", "total peak", "total saved");
  for (const PolicyComparisonRow &row : rows) {
    const MemoryPlan &p = row.plan;
    int64_t total = p.trainingPersistentBytes + p.lowerBoundBytes;
    os << llvm::formatv(
        "{0,-36} {1,16} {2,16} {3,16} {4,14} {5,16} {6,14}\n", row.strategy,
        mib(*std::max_element(p.liveKept.begin(), p.liveKept.end())),
        mib(p.lowerBoundBytes), mib(p.arenaBytes),
        llvm::formatv("{0:F4}", p.fragmentation()).str(), mib(total),
        llvm::formatv("{0:F1}%", percent(baseTotal - total, baseTotal)).str());
  }
}

std::string
ckpt::policyComparisonToJson(const std::vector<PolicyComparisonRow> &rows) {
  const ActivationReport &base = rows.front().report;
  int64_t stepFlops = base.forward.total() + base.backward.total();
  int64_t stepMatmul = base.forward.matmulFlops + base.backward.matmulFlops;
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os, 2);
  json.object([&] {
    json.attribute("schema", "ckpt-policy-comparison");
    json.attribute("version", 1);
    json.attribute("step_flops", stepFlops);
    json.attribute("step_matmul_flops", stepMatmul);
    json.attributeArray("policies", [&] {
      for (const PolicyComparisonRow &row : rows) {
        const ActivationReport &r = row.report;
        json.object([&] {
          json.attribute("strategy", row.strategy);
          json.attribute("recompute_granularity", row.granularity);
          if (!row.method.empty())
            json.attribute("recompute_method", row.method);
          if (row.numLayers > 0)
            json.attribute("recompute_num_layers", row.numLayers);
          if (row.granularity == "selective")
            json.attributeArray("recompute_modules", [&] {
              for (const std::string &m : row.modules)
                json.value(m);
            });
          json.attribute("kept_activation_bytes", r.keptBytes);
          json.attributeArray("per_layer_kept_bytes", [&] {
            for (const LayerActivations &layer : r.perLayer)
              json.value(layer.keptBytes);
          });
          json.attribute("layernorm_statistics_bytes",
                         r.layerNormStatisticsBytes);
          json.attribute("saved_bytes", base.keptBytes - r.keptBytes);
          json.attribute("saved_percent",
                         percent(base.keptBytes - r.keptBytes, base.keptBytes));
          json.attribute("recompute_regions", r.recomputeRegions);
          json.attribute("largest_recompute_region_bytes",
                         r.largestRecomputeBytes);
          json.attribute("recompute_flops", r.recompute.total());
          json.attribute("recompute_matmul_flops", r.recompute.matmulFlops);
          json.attribute("overhead_percent",
                         percent(r.recompute.total(), stepFlops));
          json.attribute("matmul_overhead_percent",
                         percent(r.recompute.matmulFlops, stepMatmul));
          json.attribute(
              "matmul_overhead_percent_of_forward",
              percent(r.recompute.matmulFlops, base.forward.matmulFlops));
          json.attribute("span_recompute_flops", r.spanRecompute.total());
          json.attribute("span_recompute_matmul_flops",
                         r.spanRecompute.matmulFlops);
          json.attribute("span_overhead_percent",
                         percent(r.spanRecompute.total(), stepFlops));
          json.attribute("span_matmul_overhead_percent",
                         percent(r.spanRecompute.matmulFlops, stepMatmul));
          json.attribute("largest_span_bytes", r.largestSpanBytes);
        });
      }
    });
  });
  os << "\n";
  return text;
}
