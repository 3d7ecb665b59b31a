//===- Report.cpp - The activation report pass ----------------------------===//

#include "ckpt/Report/Report.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTREPORT
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {
struct CkptReportPass : public ckpt::impl::CkptReportBase<CkptReportPass> {
  using CkptReportBase::CkptReportBase;
  CkptReportPass() = default;
  CkptReportPass(const CkptReportPass &other) : CkptReportBase(other) {}

  /// The options of the option table's Report scope.
  TablePassOptions table{*this, options::Report};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<CompileOptions> given = table.read(module.getLoc());
    if (failed(given))
      return signalPassFailure();
    PlanOptions options;
    options.seconds = 0.5;
    // The config's data-parallel layout, unless the options say otherwise.
    applyModelLayout(getOperation(), options);
    if (given->useDistributedOptimizer)
      options.useDistributedOptimizer = *given->useDistributedOptimizer;
    if (given->dataParallelSize)
      options.dataParallelSize = *given->dataParallelSize;
    if (failed(checkPlanOptions(options, module.getLoc())))
      return signalPassFailure();
    func::FuncOp step = lookupTrainingStep(module, stepName);
    if (!step)
      return signalPassFailure();
    FailureOr<StepGraph> graph = StepGraph::build(step);
    if (failed(graph))
      return signalPassFailure();
    ActivationReport report = analyzeActivations(*graph);
    // The plan the step carries, else one made here.
    MemoryPlan plan;
    if (std::optional<int64_t> alignment = getPlanAlignment(step)) {
      options.alignment = *alignment;
      FailureOr<MemoryPlan> planned = readPlan(*graph, options);
      if (failed(planned))
        return signalPassFailure();
      plan = std::move(*planned);
    } else {
      plan = planMemory(*graph, options);
    }
    if (given->printTable) {
      printActivationTable(report, llvm::errs());
      printMemoryLines(plan, llvm::errs());
      llvm::errs().flush();
    }
    if (!given->svgFile.empty()) {
      std::string error = writeFileAtomically(
          given->svgFile,
          renderTimelineSvg(plan, "Memory over the schedule: @" +
                                      step.getName().str()));
      if (!error.empty()) {
        mlir::emitError(module.getLoc()) << "--ckpt-report: " << error;
        return signalPassFailure();
      }
    }
    if (!given->jsonFile.empty()) {
      std::string error = writeFileAtomically(
          given->jsonFile, activationReportToJson(report, &plan));
      if (!error.empty()) {
        mlir::emitError(module.getLoc()) << "--ckpt-report: " << error;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }
};
} // namespace
