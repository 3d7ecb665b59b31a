//===- Report.h - Tables, JSON and pictures of the analyses -----*- C++ -*-===//
//
// Everything the tools print or write about a step: the activation table,
// the memory lines, the report JSON (docs/report.md), the memory-timeline
// SVG, and the policy comparison as a table and JSON. The analyses compute;
// this component only presents their results.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REPORT_REPORT_H
#define CKPT_REPORT_REPORT_H

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Plan/FrontierPoint.h"

#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace ckpt {

/// The readable table of the report.
void printActivationTable(const ActivationReport &report,
                          llvm::raw_ostream &os);

/// The memory plan's peak, arena and persistent bytes, two lines.
void printMemoryLines(const MemoryPlan &plan, llvm::raw_ostream &os);

/// The report as JSON (schema in docs/report.md), with the memory plan's
/// figures when one is given.
std::string activationReportToJson(const ActivationReport &report,
                                   const MemoryPlan *plan = nullptr);

/// One pipeline stage's memory: its layers, the micro-batches it holds at
/// once under its schedule, and its plan.
struct PipelineStageMemory {
  int64_t stage = 0;
  std::vector<std::pair<int64_t, int64_t>> layers; ///< [begin, end) per chunk.
  int64_t inFlight = 0;          ///< Model chunks' activations held at once.
  int64_t keptPerMicroBatch = 0; ///< Saved activations of one micro-batch.
  int64_t keptInFlight = 0;      ///< The most saved activations live at once.
  int64_t peakBytes = 0;         ///< Planned peak (the lower bound).
  int64_t arenaBytes = 0;
  int64_t persistentBytes = 0; ///< Megatron's weights, gradients, Adam.
  /// One micro-batch's recompute FLOPs, and its forward + backward's.
  int64_t recomputeFlops = 0, stepFlops = 0;
  int64_t totalBytes() const { return arenaBytes + persistentBytes; }
};

struct PipelineMemory {
  int64_t stages = 1, virtualStages = 1, microBatches = 1;
  std::vector<PipelineStageMemory> perStage;
  /// The stage that needs the most memory (arena and persistent state).
  int64_t limitingStage() const;
};

/// The per-stage table and the line that names the limiting stage.
void printPipelineTable(const PipelineMemory &pipeline, llvm::raw_ostream &os);

/// {"schema": "ckpt-pipeline-report", "pipeline": {...}, "stages": [...]}:
/// the per-stage figures, each stage with its own report (`stageReports`,
/// activationReportToJson's text).
std::string pipelineReportToJson(const PipelineMemory &pipeline,
                                 const std::vector<std::string> &stageReports);

/// An SVG picture of the memory timeline: live bytes per kind over the
/// schedule, the peak marked.
std::string renderTimelineSvg(const MemoryPlan &plan, const std::string &title);

/// The frontier as a table, as JSON and as an SVG plot (planned arena
/// against recompute overhead, the presets marked); overheads are FLOPs over
/// `stepFlops`, the step's forward + backward FLOPs.
void printFrontier(const std::vector<FrontierPoint> &points, int64_t stepFlops,
                   const std::string &function, llvm::raw_ostream &os);
std::string frontierToJson(const std::vector<FrontierPoint> &points,
                           int64_t stepFlops);
std::string renderFrontierSvg(const std::vector<FrontierPoint> &points,
                              int64_t stepFlops, const std::string &title);

/// One policy of a comparison: how it is named and what it gives.
struct PolicyComparisonRow {
  std::string strategy;             ///< "none", "selective(core_attn)", ...
  std::string granularity;          ///< Megatron's recompute_granularity.
  std::string method;               ///< recompute_method, or empty.
  int64_t numLayers = -1;           ///< recompute_num_layers, or -1.
  std::vector<std::string> modules; ///< recompute_modules (selective).
  ActivationReport report;
  MemoryPlan plan;
};

/// The comparison as tables (activations, then memory plans); the first
/// row is the baseline the others are measured against.
void printPolicyComparison(const std::vector<PolicyComparisonRow> &rows,
                           llvm::raw_ostream &os);
/// The same as JSON (schema "ckpt-policy-comparison").
std::string
policyComparisonToJson(const std::vector<PolicyComparisonRow> &rows);

} // namespace ckpt

#endif // CKPT_REPORT_REPORT_H
