//===- ComparePolicies.cpp - One table for all recompute policies ---------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Rewrite/RematPlan.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTCOMPAREPOLICIES
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptComparePoliciesPass
    : public ckpt::impl::CkptComparePoliciesBase<CkptComparePoliciesPass> {
  using CkptComparePoliciesBase::CkptComparePoliciesBase;
  CkptComparePoliciesPass() = default;
  CkptComparePoliciesPass(const CkptComparePoliciesPass &other)
      : CkptComparePoliciesBase(other) {}

  /// The options of the option table's ComparePolicies scope.
  TablePassOptions table{*this, options::ComparePolicies};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<CompileOptions> given = table.read(module.getLoc());
    if (failed(given))
      return signalPassFailure();
    PlanOptions options;
    options.seconds = 0.25;
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
    FailureOr<StepGraph> graph =
        buildStepWithoutRegions(module, step, "compare policies on");
    if (failed(graph))
      return signalPassFailure();
    std::vector<PolicyComparisonRow> rows;
    xf::ModelAttr model = xf::getModel(step);
    bool distributable = model && model.getTensorModelParallelSize() > 1 &&
                         !model.isSequenceParallel();
    for (const MegatronPolicy &policy : standardMegatronPolicies(
             countLayers(*graph), distributable, model && model.isMoe())) {
      OwningOpRef<ModuleOp> copy = module.clone();
      auto copyStep = copy->lookupSymbol<func::FuncOp>(stepName);
      FailureOr<RematResult> remat = applyRemat(copyStep, policy);
      if (failed(remat))
        return signalPassFailure();
      const StepGraph &rewritten = *remat->graph;
      PolicyComparisonRow row;
      row.strategy = policy.describe();
      row.granularity = toString(policy.granularity);
      row.method = toString(policy.method);
      row.numLayers = policy.numLayers;
      if (policy.granularity == RecomputeGranularity::Selective)
        for (RecomputeModule module : policy.selectiveModules())
          row.modules.push_back(toString(module));
      row.report = analyzeActivations(rewritten);
      if (!getPipelineShape(module)) {
        row.plan = planMemory(rewritten, options);
        rows.push_back(std::move(row));
        continue;
      }
      // A pipeline stage's memory is its schedule's, as ckpt-compile and
      // the budget solver plan it: the micro-batches in flight overlap.
      scheduleRecomputeRegions(copyStep);
      FailureOr<StepGraph> unrolled = unrolledStepGraph(*copy, stepName);
      if (failed(unrolled))
        return signalPassFailure();
      row.plan = planMemory(*unrolled, options);
      rows.push_back(std::move(row));
    }
    if (given->printTable) {
      printPolicyComparison(rows, llvm::errs());
      llvm::errs().flush();
    }
    if (!given->jsonFile.empty()) {
      std::string error =
          writeFileAtomically(given->jsonFile, policyComparisonToJson(rows));
      if (!error.empty()) {
        mlir::emitError(module.getLoc())
            << "--ckpt-compare-policies: " << error;
        return signalPassFailure();
      }
    }
    markAllAnalysesPreserved();
  }
};

} // namespace
