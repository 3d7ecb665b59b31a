//===- Report.cpp - The activation report pass ----------------------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"

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

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>(stepName);
    if (!step) {
      mlir::emitError(module.getLoc())
          << "no training step @" << stepName
          << " to report on; run --xf-training-step first";
      return signalPassFailure();
    }
    FailureOr<ActivationReport> report = analyzeActivations(step);
    if (failed(report))
      return signalPassFailure();
    if (printTable) {
      printActivationTable(*report, llvm::outs());
      llvm::outs().flush();
    }
    if (!jsonFile.empty()) {
      std::string error =
          writeFileAtomically(jsonFile, activationReportToJson(*report));
      if (!error.empty()) {
        mlir::emitError(module.getLoc()) << "--ckpt-report: " << error;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }
};
} // namespace
