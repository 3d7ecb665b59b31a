//===- RematPasses.cpp - --ckpt-remat and --ckpt-verify-remat -------------===//

#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTREMAT
#define GEN_PASS_DEF_CKPTVERIFYREMAT
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptRematPass : public ckpt::impl::CkptRematBase<CkptRematPass> {
  CkptRematPass() : table(*this, options::Remat) {}
  CkptRematPass(const CkptRematPass &other)
      : CkptRematBase(other), table(*this, options::Remat),
        preset(other.preset), sink(other.sink) {}
  CkptRematPass(CompileOptions preset, PlacementPlanSink sink)
      : table(*this, options::Remat), preset(std::move(preset)),
        sink(std::move(sink)) {
    table.show(*this->preset);
  }

  /// The policy's options, declared from the option table.
  TablePassOptions table;
  /// Options a driver handed over typed, in place of the text ones.
  std::optional<CompileOptions> preset;
  PlacementPlanSink sink;

  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    CompileOptions options;
    if (preset) {
      options = *preset;
    } else if (std::string problem = table.readInto(options);
               !problem.empty()) {
      mlir::emitError(getOperation().getLoc()) << problem;
      return signalPassFailure();
    }
    // No policy option: the policy the model's config named, if any.
    if (options.policyFromConfig)
      if (std::optional<RematOptions> configured =
              configuredRematOptions(getOperation()))
        options.remat = *configured;
    std::string name = options.policyToRun();
    if (name == "budget" && options.regionOps == RegionOps::All) {
      mlir::emitError(getOperation().getLoc())
          << "memory-budget plans regions that re-run only what the backward "
             "reads; it cannot be combined with region-ops=all";
      return signalPassFailure();
    }
    std::string error;
    std::unique_ptr<RematPolicy> policy =
        createRematPolicy(name, options.remat, error);
    if (!policy) {
      mlir::emitError(getOperation().getLoc()) << error;
      return signalPassFailure();
    }
    plan::PlacementPlan placements;
    bool describe = sink || !options.savePlan.empty();
    if (failed(applyRemat(step, *policy, options.regionOps,
                          describe ? &placements : nullptr)))
      return signalPassFailure();
    if (sink)
      sink(placements);
    if (options.savePlan.empty())
      return;
    std::string problem =
        writeFileAtomically(options.savePlan, plan::formatPlanFile(placements));
    if (!problem.empty()) {
      mlir::emitError(getOperation().getLoc())
          << "save-plan: cannot write '" << options.savePlan
          << "': " << problem;
      signalPassFailure();
    }
  }
};

struct CkptVerifyRematPass
    : public ckpt::impl::CkptVerifyRematBase<CkptVerifyRematPass> {
  using CkptVerifyRematBase::CkptVerifyRematBase;
  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step || failed(verifyRemat(step)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace

std::unique_ptr<Pass> ckpt::createCkptRemat() {
  return std::make_unique<CkptRematPass>();
}

std::unique_ptr<Pass> ckpt::createCkptRemat(CompileOptions options,
                                            PlacementPlanSink sink) {
  return std::make_unique<CkptRematPass>(std::move(options), std::move(sink));
}
