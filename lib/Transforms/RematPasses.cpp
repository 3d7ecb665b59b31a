//===- RematPasses.cpp - --ckpt-remat and --ckpt-verify-remat -------------===//

#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/Remat.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTREMAT
#define GEN_PASS_DEF_CKPTVERIFYREMAT
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

func::FuncOp ckpt::lookupTrainingStep(ModuleOp module, StringRef name) {
  auto step = module.lookupSymbol<func::FuncOp>(name);
  if (!step)
    mlir::emitError(module.getLoc())
        << "no training step @" << name << "; run --xf-training-step first";
  return step;
}

namespace {

struct CkptRematPass : public ckpt::impl::CkptRematBase<CkptRematPass> {
  using CkptRematBase::CkptRematBase;
  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    RematPolicy policy;
    policy.granularity = granularity;
    policy.method = method;
    policy.numLayers = numLayers;
    policy.modules.assign(modules.begin(), modules.end());
    policy.distributeSavedActivations = distributeSavedActivations;
    if (failed(applyRemat(step, policy)))
      signalPassFailure();
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
