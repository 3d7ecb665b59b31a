//===- MemoryPasses.cpp - Schedule, plan and verify memory ----------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Rewrite/RematPlan.h"
#include "ckpt/Transforms/Passes.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTSCHEDULE
#define GEN_PASS_DEF_CKPTPLANMEMORY
#define GEN_PASS_DEF_CKPTVERIFYPLAN
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptSchedulePass
    : public ckpt::impl::CkptScheduleBase<CkptSchedulePass> {
  using CkptScheduleBase::CkptScheduleBase;
  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    scheduleRecomputeRegions(step);
  }
};

struct CkptPlanMemoryPass
    : public ckpt::impl::CkptPlanMemoryBase<CkptPlanMemoryPass> {
  using CkptPlanMemoryBase::CkptPlanMemoryBase;
  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    PlanOptions options;
    options.alignment = alignment;
    options.seconds = seconds;
    options.deterministic = deterministic;
    options.searchWork = searchWork;
    if (failed(checkPlanOptions(options, getOperation().getLoc())))
      return signalPassFailure();
    FailureOr<StepGraph> graph = StepGraph::build(step);
    if (failed(graph))
      return signalPassFailure();
    annotatePlan(*graph, planMemory(*graph, options));
    if (failed(readPlan(*graph, options)))
      return signalPassFailure();
  }
};

struct CkptVerifyPlanPass
    : public ckpt::impl::CkptVerifyPlanBase<CkptVerifyPlanPass> {
  using CkptVerifyPlanBase::CkptVerifyPlanBase;
  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step || failed(verifyPlan(step, alignment)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace
