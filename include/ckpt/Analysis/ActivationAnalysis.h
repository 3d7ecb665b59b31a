//===- ActivationAnalysis.h - What the backward keeps -----------*- C++ -*-===//
//
// Finds the values a training step keeps for its backward pass: every result
// of a forward op (an op without `xf.phase`) that a backward or recompute op
// reads. Each kept value is attributed to the layer and module of its first
// reader, which is the op whose gradient needs it.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_ANALYSIS_ACTIVATIONANALYSIS_H
#define CKPT_ANALYSIS_ACTIVATIONANALYSIS_H

#include "ckpt/Interfaces/CkptInterfaces.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// The phase of an op in a training step.
enum class Phase { Forward, Backward, Recompute };
Phase getPhase(mlir::Operation *op);

struct KeptValue {
  mlir::Value value;
  int64_t bytes = 0;
  std::optional<int64_t> layer;
  std::string module;
};

struct LayerActivations {
  int64_t layer = 0;
  int64_t keptBytes = 0; ///< Without the layer-norm statistics.
  std::map<std::string, int64_t> modules;
  int64_t layerNormStatisticsBytes = 0;
};

struct ActivationReport {
  std::string function;
  std::vector<KeptValue> kept;
  std::vector<LayerActivations> perLayer;       ///< Sorted by layer.
  std::map<std::string, int64_t> outsideLayers; ///< Module -> bytes.
  int64_t keptBytes = 0;                        ///< All kept values.
  int64_t layerNormStatisticsBytes = 0;         ///< All layer norms.
  OpCost forward, backward, recompute;
  int recomputeRegions = 0;
  int64_t largestRecomputeBytes = 0; ///< Values produced in one region.
  std::string largestRecomputeLabel;
  /// The `xf.model` dictionary of the module, if any, as key = value text.
  std::vector<std::pair<std::string, std::string>> model;
};

/// The module's `xf.model` record as (field, text) pairs, in order; empty
/// without one.
std::vector<std::pair<std::string, std::string>>
describeModel(mlir::func::FuncOp step);

/// Analyses `step`. Fails (with a diagnostic) when a kept value is not a
/// statically shaped tensor.
mlir::FailureOr<ActivationReport> analyzeActivations(mlir::func::FuncOp step);

/// The readable table of the report.
void printActivationTable(const ActivationReport &report,
                          llvm::raw_ostream &os);

struct MemoryPlan;

/// The report as JSON (schema in docs/report.md), with the memory plan's
/// figures when one is given.
std::string activationReportToJson(const ActivationReport &report,
                                   const MemoryPlan *plan = nullptr);

} // namespace ckpt

#endif // CKPT_ANALYSIS_ACTIVATIONANALYSIS_H
