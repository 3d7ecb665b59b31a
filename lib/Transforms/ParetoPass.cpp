//===- ParetoPass.cpp - --ckpt-pareto: the memory-budget frontier ---------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTPARETO
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptParetoPass : public ckpt::impl::CkptParetoBase<CkptParetoPass> {
  using CkptParetoBase::CkptParetoBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp step = lookupTrainingStep(module, stepName);
    if (!step)
      return signalPassFailure();
    if (points < 2 || points > 1000) {
      mlir::emitError(module.getLoc())
          << "--ckpt-pareto: points must be in [2, 1000], got "
          << static_cast<int>(points);
      return signalPassFailure();
    }
    FailureOr<StepGraph> graph =
        buildStepWithoutRegions(module, step, "draw the frontier of");
    if (failed(graph))
      return signalPassFailure();
    std::string error;
    FailureOr<std::vector<FrontierPoint>> frontier = budgetFrontier(
        *graph, PlanOptions(), points, error, distributeSavedActivations);
    if (failed(frontier)) {
      mlir::emitError(module.getLoc()) << error;
      return signalPassFailure();
    }
    ActivationReport report = analyzeActivations(*graph);
    int64_t stepFlops = report.forward.total() + report.backward.total();
    if (table)
      printFrontier(*frontier, stepFlops, stepName, llvm::errs());
    for (auto [file, text] :
         {std::pair(jsonFile.getValue(), frontierToJson(*frontier, stepFlops)),
          std::pair(
              svgFile.getValue(),
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
