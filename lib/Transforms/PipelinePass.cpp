//===- PipelinePass.cpp - --ckpt-pipeline-schedule ------------------------===//
//
// The pass over unrollPipelineSchedule (lib/Rewrite/PipelineUnroll.cpp).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/PipelineUnroll.h"
#include "ckpt/Transforms/Passes.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_CKPTPIPELINESCHEDULE
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

struct CkptPipelineSchedulePass
    : public ckpt::impl::CkptPipelineScheduleBase<CkptPipelineSchedulePass> {
  using CkptPipelineScheduleBase::CkptPipelineScheduleBase;

  void runOnOperation() override {
    if (failed(unrollPipelineSchedule(getOperation(), stepName)))
      signalPassFailure();
  }
};

} // namespace
