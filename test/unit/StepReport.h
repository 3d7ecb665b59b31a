//===- StepReport.h - A config's step and its report, for formula tests -*- C++
//-*-===//

#ifndef CKPT_TEST_UNIT_STEPREPORT_H
#define CKPT_TEST_UNIT_STEPREPORT_H

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include <gtest/gtest.h>

namespace ckpt::test {

/// Imports `config`, builds its training step, applies `policy` and reports
/// what the backward keeps; any failure fails the test. `module` keeps the
/// IR the report refers to alive.
inline ActivationReport stepReport(mlir::MLIRContext &context,
                                   const std::string &config,
                                   const MegatronPolicy &policy,
                                   mlir::OwningOpRef<mlir::ModuleOp> &module) {
  module = importModelConfig(config, "config.json", {}, &context);
  EXPECT_TRUE(module);
  if (!module)
    return {};
  auto forward = module->lookupSymbol<mlir::func::FuncOp>("forward");
  mlir::FailureOr<mlir::func::FuncOp> step =
      buildTrainingStep(forward, "train_step");
  EXPECT_TRUE(mlir::succeeded(step));
  if (mlir::failed(step))
    return {};
  EXPECT_TRUE(mlir::succeeded(applyRemat(*step, policy)));
  mlir::FailureOr<ActivationReport> report = analyzeActivations(*step);
  EXPECT_TRUE(mlir::succeeded(report));
  return mlir::succeeded(report) ? *report : ActivationReport();
}

} // namespace ckpt::test

#endif // CKPT_TEST_UNIT_STEPREPORT_H
