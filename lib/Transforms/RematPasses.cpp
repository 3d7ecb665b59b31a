//===- RematPasses.cpp - --ckpt-remat and --ckpt-verify-remat -------------===//

#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTREMAT
#define GEN_PASS_DEF_CKPTVERIFYREMAT
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptRematPass : public ckpt::impl::CkptRematBase<CkptRematPass> {
  using CkptRematBase::CkptRematBase;
  explicit CkptRematPass(PlacementPlanSink sink) : sink(std::move(sink)) {}

  PlacementPlanSink sink;

  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    std::optional<RegionOps> ops = parseRegionOps(regionOps);
    if (!ops) {
      mlir::emitError(getOperation().getLoc())
          << "region-ops must be needed or all, got '" << regionOps << "'";
      return signalPassFailure();
    }
    RematOptions options;
    options.granularity = granularity;
    options.method = method;
    // Given or not (a default of -1 would be indistinguishable from -1).
    if (numLayers.hasValue())
      options.numLayers = numLayers;
    options.modules.assign(modules.begin(), modules.end());
    options.distributeSavedActivations = distributeSavedActivations;
    options.memoryBudget = memoryBudget;
    options.deviceMemory = deviceMemory;
    options.cost = cost;
    options.planFile = planFile;
    // No policy option: the policy the model's config named, if any.
    bool policyGiven =
        policyName.hasValue() || granularity.hasValue() || method.hasValue() ||
        numLayers.hasValue() || modules.hasValue() ||
        distributeSavedActivations.hasValue() || memoryBudget.hasValue() ||
        deviceMemory.hasValue() || planFile.hasValue();
    if (!policyGiven)
      if (std::optional<RematOptions> configured =
              configuredRematOptions(getOperation()))
        options = *configured;
    // A budget selects the budget solver in place of Megatron's presets.
    std::string name = policyName;
    if (name == "megatron" && (!memoryBudget.empty() || !deviceMemory.empty()))
      name = "budget";
    // So does a plan file, in place of any deciding.
    if (name == "megatron" && !planFile.empty())
      name = "plan";
    if (name == "budget" && *ops == RegionOps::All) {
      mlir::emitError(getOperation().getLoc())
          << "memory-budget plans regions that re-run only what the backward "
             "reads; it cannot be combined with region-ops=all";
      return signalPassFailure();
    }
    std::string error;
    std::unique_ptr<RematPolicy> policy =
        createRematPolicy(name, options, error);
    if (!policy) {
      mlir::emitError(getOperation().getLoc()) << error;
      return signalPassFailure();
    }
    plan::PlacementPlan placements;
    bool describe = sink || !savePlan.empty();
    if (failed(
            applyRemat(step, *policy, *ops, describe ? &placements : nullptr)))
      return signalPassFailure();
    if (sink)
      sink(placements);
    if (savePlan.empty())
      return;
    std::string problem =
        writeFileAtomically(savePlan, plan::formatPlanFile(placements));
    if (!problem.empty()) {
      mlir::emitError(getOperation().getLoc())
          << "save-plan: cannot write '" << savePlan << "': " << problem;
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

std::unique_ptr<Pass> ckpt::createCkptRemat(PlacementPlanSink sink) {
  return std::make_unique<CkptRematPass>(std::move(sink));
}
