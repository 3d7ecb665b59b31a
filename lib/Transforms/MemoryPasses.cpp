//===- MemoryPasses.cpp - Schedule, plan and verify memory ----------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Rewrite/RematPlan.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

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
  CkptPlanMemoryPass() = default;
  CkptPlanMemoryPass(const CkptPlanMemoryPass &other)
      : CkptPlanMemoryBase(other), preset(other.preset) {}
  explicit CkptPlanMemoryPass(CompileOptions preset)
      : preset(std::move(preset)) {
    table.show(*this->preset);
  }

  /// The options of the option table's PlanMemory scope.
  TablePassOptions table{*this, options::PlanMemory};

  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    if (failed(CkptPlanMemoryBase::initializeOptions(options, errorHandler)))
      return failure();
    // plan-seconds and its older spelling seconds print one value.
    table.syncSpellings();
    return success();
  }
  /// Options a driver handed over typed, in place of the text ones.
  std::optional<CompileOptions> preset;

  void runOnOperation() override {
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step)
      return signalPassFailure();
    FailureOr<CompileOptions> given =
        preset ? *preset : table.read(getOperation().getLoc());
    if (failed(given))
      return signalPassFailure();
    PlanOptions options;
    options.alignment = given->alignment;
    options.seconds = given->planSeconds;
    options.deterministic = deterministic;
    options.searchWork = given->planSearchWork;
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
  CkptVerifyPlanPass() = default;
  CkptVerifyPlanPass(const CkptVerifyPlanPass &other)
      : CkptVerifyPlanBase(other) {}

  /// The options of the option table's VerifyPlan scope.
  TablePassOptions table{*this, options::VerifyPlan};

  void runOnOperation() override {
    FailureOr<CompileOptions> given = table.read(getOperation().getLoc());
    if (failed(given))
      return signalPassFailure();
    func::FuncOp step = lookupTrainingStep(getOperation(), stepName);
    if (!step || failed(verifyPlan(step, given->alignment)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace

std::unique_ptr<Pass>
ckpt::createCkptPlanMemory(const CompileOptions &options) {
  return std::make_unique<CkptPlanMemoryPass>(options);
}
