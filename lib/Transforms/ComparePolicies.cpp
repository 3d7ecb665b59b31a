//===- ComparePolicies.cpp - One table for all recompute policies ---------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/Remat.h"

#include "llvm/Support/FormatVariadic.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"
#include <algorithm>

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTCOMPAREPOLICIES
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct PolicyRow {
  RematPolicy policy;
  ActivationReport report;
  MemoryPlan plan;
};

/// The policies worth comparing for a model with `layers` layers.
std::vector<RematPolicy> standardPolicies(int64_t layers, bool distributable) {
  auto selective = [](std::vector<std::string> modules) {
    RematPolicy p;
    p.granularity = "selective";
    p.modules = std::move(modules);
    return p;
  };
  auto full = [](const char *method, int64_t n) {
    RematPolicy p;
    p.granularity = "full";
    p.method = method;
    p.numLayers = n;
    return p;
  };
  std::vector<RematPolicy> policies = {
      RematPolicy(), selective({"core_attn"}),
      selective({"core_attn", "layernorm"}), selective({"mlp"}),
      selective({"core_attn", "mlp", "layernorm"})};
  if (layers >= 1)
    policies.push_back(full("uniform", 1));
  if (layers >= 2)
    policies.push_back(full("uniform", 2));
  if (layers >= 2)
    policies.push_back(full("block", 1));
  if (layers >= 4)
    policies.push_back(full("block", layers / 2));
  // A tensor-parallel graph without sequence parallelism can also shard the
  // kept chunk inputs over its ranks.
  if (distributable && layers >= 1) {
    RematPolicy distributed = full("uniform", 1);
    distributed.distributeSavedActivations = true;
    policies.push_back(distributed);
  }
  return policies;
}

std::string mib(int64_t bytes) { return formatBytes(bytes); }

double percent(int64_t part, int64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / whole : 0.0;
}

struct CkptComparePoliciesPass
    : public ckpt::impl::CkptComparePoliciesBase<CkptComparePoliciesPass> {
  using CkptComparePoliciesBase::CkptComparePoliciesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (dataParallelSize < 1) {
      mlir::emitError(module.getLoc())
          << "data-parallel-size must be >= 1, got "
          << static_cast<int64_t>(dataParallelSize);
      return signalPassFailure();
    }
    func::FuncOp step = lookupTrainingStep(module, stepName);
    if (!step)
      return signalPassFailure();
    if (step.walk([](RecomputeOp) { return WalkResult::interrupt(); })
            .wasInterrupted()) {
      mlir::emitError(module.getLoc())
          << "@" << stepName
          << " already has recompute regions; compare "
             "policies on the step before --ckpt-remat";
      return signalPassFailure();
    }
    std::vector<PolicyRow> rows;
    bool distributable = false;
    for (auto &[key, value] : describeModel(step)) {
      if (key == "tensor_model_parallel_size" && std::stoll(value) > 1)
        distributable = true;
      if (key == "sequence_parallel" && value == "true") {
        distributable = false;
        break;
      }
    }
    for (const RematPolicy &policy :
         standardPolicies(countLayers(step), distributable)) {
      OwningOpRef<ModuleOp> copy = module.clone();
      auto copyStep = copy->lookupSymbol<func::FuncOp>(stepName);
      if (failed(applyRemat(copyStep, policy)))
        return signalPassFailure();
      FailureOr<ActivationReport> report = analyzeActivations(copyStep);
      if (failed(report))
        return signalPassFailure();
      PlanOptions options;
      options.seconds = 0.25;
      options.useDistributedOptimizer = useDistributedOptimizer;
      options.dataParallelSize = dataParallelSize;
      FailureOr<MemoryPlan> plan = planMemory(copyStep, options);
      if (failed(plan))
        return signalPassFailure();
      rows.push_back({policy, *report, std::move(*plan)});
    }
    printTable(rows, llvm::outs());
    llvm::outs().flush();
    if (!jsonFile.empty()) {
      std::string error = writeFileAtomically(jsonFile, toJson(rows));
      if (!error.empty()) {
        mlir::emitError(module.getLoc())
            << "--ckpt-compare-policies: " << error;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }

  static void printTable(const std::vector<PolicyRow> &rows,
                         llvm::raw_ostream &os) {
    const ActivationReport &base = rows.front().report;
    int64_t stepFlops = base.forward.total() + base.backward.total();
    int64_t stepMatmul = base.forward.matmulFlops + base.backward.matmulFlops;
    os << "== Recompute policies: @" << base.function << "\n";
    os << llvm::formatv("{0,-36} {1,16} {2,16} {3,24} {4,18} {5,20}\n",
                        "strategy", "kept activations", "per layer (L0)",
                        "memory saved", "largest region", "compute overhead");
    for (const PolicyRow &row : rows) {
      const ActivationReport &r = row.report;
      int64_t saved = base.keptBytes - r.keptBytes;
      int64_t layer0 = r.perLayer.empty() ? 0 : r.perLayer.front().keptBytes;
      std::string overhead =
          llvm::formatv("{0:F2}% ({1:F2}% mm)",
                        percent(r.recompute.total(), stepFlops),
                        percent(r.recompute.matmulFlops, stepMatmul))
              .str();
      os << llvm::formatv("{0,-36} {1,16} {2,16} {3,24} {4,18} {5,20}\n",
                          row.policy.describe(), mib(r.keptBytes),
                          r.perLayer.empty() ? "-" : std::to_string(layer0),
                          llvm::formatv("{0} ({1:F1}%)", mib(saved),
                                        percent(saved, base.keptBytes))
                              .str(),
                          mib(r.largestRecomputeBytes), overhead);
    }
    os << "(kept activations without layer-norm statistics; overhead: "
          "recompute FLOPs over the step's forward + backward FLOPs, all and "
          "matrix multiplies only)\n";
    const MemoryPlan &basePlan = rows.front().plan;
    int64_t baseTotal =
        basePlan.trainingPersistentBytes + basePlan.lowerBoundBytes;
    os << "== Memory plans (persistent: "
       << formatBytes(basePlan.trainingPersistentBytes)
       << " of weights, gradients and optimizer state)\n";
    os << llvm::formatv("{0,-36} {1,16} {2,16} {3,16} {4,14} {5,16} {6,14}\n",
                        "strategy", "kept peak", "lower bound", "arena",
                        "fragmentation", "total peak", "total saved");
    for (const PolicyRow &row : rows) {
      const MemoryPlan &p = row.plan;
      int64_t total = p.trainingPersistentBytes + p.lowerBoundBytes;
      os << llvm::formatv(
          "{0,-36} {1,16} {2,16} {3,16} {4,14} {5,16} {6,14}\n",
          row.policy.describe(),
          mib(*std::max_element(p.liveKept.begin(), p.liveKept.end())),
          mib(p.lowerBoundBytes), mib(p.arenaBytes),
          llvm::formatv("{0:F4}", p.fragmentation()).str(), mib(total),
          llvm::formatv("{0:F1}%", percent(baseTotal - total, baseTotal))
              .str());
    }
  }

  static std::string toJson(const std::vector<PolicyRow> &rows) {
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
        for (const PolicyRow &row : rows) {
          const ActivationReport &r = row.report;
          json.object([&] {
            json.attribute("strategy", row.policy.describe());
            json.attribute("recompute_granularity", row.policy.granularity);
            if (!row.policy.method.empty())
              json.attribute("recompute_method", row.policy.method);
            if (row.policy.numLayers > 0)
              json.attribute("recompute_num_layers", row.policy.numLayers);
            if (row.policy.granularity == "selective")
              json.attributeArray("recompute_modules", [&] {
                for (const std::string &m : row.policy.selectiveModules())
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
            json.attribute(
                "saved_percent",
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
          });
        }
      });
    });
    os << "\n";
    return text;
  }
};

} // namespace
