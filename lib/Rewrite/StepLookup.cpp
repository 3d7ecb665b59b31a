//===- StepLookup.cpp - The training step a rewrite works on --------------===//

#include "ckpt/Rewrite/StepLookup.h"

using namespace mlir;
using namespace ckpt;

func::FuncOp ckpt::lookupTrainingStep(ModuleOp module, StringRef name) {
  auto step = module.lookupSymbol<func::FuncOp>(name);
  if (!step)
    mlir::emitError(module.getLoc())
        << "no training step @" << name << "; run --xf-training-step first";
  return step;
}

FailureOr<StepGraph> ckpt::buildStepWithoutRegions(ModuleOp module,
                                                   func::FuncOp step,
                                                   StringRef what) {
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  if (!graph->regions.empty())
    return mlir::emitError(module.getLoc())
           << "@" << step.getName() << " already has recompute regions; "
           << what << " the step before --ckpt-remat";
  return graph;
}
