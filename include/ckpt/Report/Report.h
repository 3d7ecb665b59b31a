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

/// An SVG picture of the memory timeline: live bytes per kind over the
/// schedule, the peak marked.
std::string renderTimelineSvg(const MemoryPlan &plan, const std::string &title);

/// One point of the memory-budget frontier: for a budget, the solver's
/// plan (its planned arena and recompute FLOPs); or a Megatron preset.
struct FrontierPoint {
  int64_t budget = 0;
  int64_t arena = 0;
  int64_t cost = 0;
  std::string plan; ///< What the plan does, or the preset's name.
  bool preset = false;
};

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
