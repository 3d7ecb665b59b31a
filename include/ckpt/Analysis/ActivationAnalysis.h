//===- ActivationAnalysis.h - What the backward keeps -----------*- C++ -*-===//
//
// Sums up the values a training step keeps for its backward pass (the step
// graph's kept tensors) per layer and module, and its FLOPs per phase. Each
// kept value is attributed to the layer and module of its first backward
// reader, which is the op whose gradient needs it.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_ANALYSIS_ACTIVATIONANALYSIS_H
#define CKPT_ANALYSIS_ACTIVATIONANALYSIS_H

#include "ckpt/Analysis/StepGraph.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

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
  /// What re-running each region's whole checkpointed span would cost, as
  /// Megatron-LM re-executes a checkpointed forward (a region's `span_*`
  /// attributes; a region without them counts as its own span).
  OpCost spanRecompute;
  int64_t largestSpanBytes = 0; ///< Values produced by one whole span.
  /// The module's `xf.model`, if any, as (field, text) pairs.
  std::vector<std::pair<std::string, std::string>> model;
};

/// The module's `xf.model` as (field, text) pairs sorted by field, for
/// reports and program files; empty without one.
std::vector<std::pair<std::string, std::string>>
describeModel(mlir::func::FuncOp step);

/// The report of a step from its graph.
ActivationReport analyzeActivations(const StepGraph &graph);
/// The same on a step whose graph is built first; fails with a diagnostic on
/// a value that is not a statically shaped tensor.
mlir::FailureOr<ActivationReport> analyzeActivations(mlir::func::FuncOp step);

} // namespace ckpt

#endif // CKPT_ANALYSIS_ACTIVATIONANALYSIS_H
