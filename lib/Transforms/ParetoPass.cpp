//===- ParetoPass.cpp - --ckpt-pareto: the memory-budget frontier ---------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTPARETO
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptParetoPass : public ckpt::impl::CkptParetoBase<CkptParetoPass> {
  using CkptParetoBase::CkptParetoBase;
  CkptParetoPass() = default;
  CkptParetoPass(const CkptParetoPass &other) : CkptParetoBase(other) {}

  /// The options of the option table's Pareto scope.
  TablePassOptions table{*this, options::Pareto};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<CompileOptions> given = table.read(module.getLoc());
    if (failed(given))
      return signalPassFailure();
    func::FuncOp step = lookupTrainingStep(module, stepName);
    if (!step)
      return signalPassFailure();
    int64_t points = given->points;
    if (points < 2 || points > 1000) {
      mlir::emitError(module.getLoc())
          << "--ckpt-pareto: points must be in [2, 1000], got " << points;
      return signalPassFailure();
    }
    FailureOr<StepGraph> graph =
        buildStepWithoutRegions(module, step, "draw the frontier of");
    if (failed(graph))
      return signalPassFailure();
    std::string error;
    FailureOr<std::vector<FrontierPoint>> frontier =
        budgetFrontier(*graph, PlanOptions(), static_cast<int>(points), error,
                       given->remat.distributeSavedActivations);
    if (failed(frontier)) {
      mlir::emitError(module.getLoc()) << error;
      return signalPassFailure();
    }
    ActivationReport report = analyzeActivations(*graph);
    int64_t stepFlops = report.forward.total() + report.backward.total();
    if (given->printTable)
      printFrontier(*frontier, stepFlops, stepName, llvm::errs());
    for (auto [file, text] :
         {std::pair(given->jsonFile, frontierToJson(*frontier, stepFlops)),
          std::pair(
              given->svgFile,
              renderFrontierSvg(*frontier, stepFlops,
                                "Memory budget frontier: @" + stepName))}) {
      if (file.empty())
        continue;
      std::string failure = writeFileAtomically(file, text);
      if (!failure.empty()) {
        mlir::emitError(module.getLoc()) << "--ckpt-pareto: " << failure;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }
};

} // namespace
