//===- Compiler.h - From a model config to a planned program ----*- C++ -*-===//
//
// The whole compiler as one call: import a model config, build the training
// step, let a remat policy decide and apply its plan, schedule, plan memory,
// and lower to a runtime program, with the report of what the step keeps and
// where every byte lives. The same passes are registered as the `ckpt-compile`
// pipeline of ckpt-opt, and the ckpt-compile tool runs this function.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_COMPILER_COMPILER_H
#define CKPT_COMPILER_COMPILER_H

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Options/CompileOptions.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ModelConfig.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"

#include <optional>
#include <string>

namespace ckpt {

/// The passes from an imported forward graph to a training step ready to
/// lower: --xf-training-step, --ckpt-remat, and with planMemory
/// --ckpt-schedule and --ckpt-plan-memory. The passes get the typed options
/// as they are (checked when they were set), and report what their policy
/// refuses when they run.
/// With `sink`, the remat pass hands it the placement plan it decided.
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const CompileOptions &options,
                          PlacementPlanSink sink = nullptr);

/// The options of `--ckpt-compile="..."` from their text
/// ("recompute-granularity=full recompute-method=uniform ...", the option
/// table's Compile options); fails through `errorHandler`.
mlir::FailureOr<CompileOptions> parseCompileOptions(
    llvm::StringRef text,
    llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)> errorHandler);

/// Registers the pipeline as `--ckpt-compile="recompute-granularity=..."`.
void registerCompilePipeline();

struct CompileResult {
  /// The planned training step (of a pipeline, the limiting stage's).
  mlir::OwningOpRef<mlir::ModuleOp> module;
  ActivationReport report; ///< One micro-batch's step.
  MemoryPlan plan;         ///< Empty without planMemory.
  /// A pipeline's stages (empty without one): each one's memory.
  PipelineMemory pipeline;
  std::string program;     ///< The program file (JSON) for ckpt-run.
  std::string reportTable; ///< The readable report and memory lines.
  std::string reportJson;  ///< docs/report.md's schema.
  /// The memory timeline's title; empty without a plan.
  std::string timelineTitle;
  /// The memory timeline (SVG), drawn when asked: at m = 64 micro-batches
  /// drawing it took as long as the rest of a compile. Empty without a
  /// plan.
  std::string timelineSvg() const;
  /// The placement plans the remat policy decided (docs/plan-format.md):
  /// one, or a pipeline's compiled stage by stage, one per stage.
  std::vector<plan::PlacementPlan> placements;
};

/// Compiles the model config in `text` (named `name` in diagnostics). With
/// pipeline parallelism (and no `pipelineStage` override) every stage is
/// compiled: the program file holds them all (`{"stages": [...]}`), the
/// table has a section per stage and the per-stage summary, and the report
/// JSON is a `ckpt-pipeline-report`.
/// Every problem is reported as a diagnostic of `context` (attach a handler
/// to collect them) and makes the result a failure; nothing aborts.
mlir::FailureOr<CompileResult>
compileModelConfig(llvm::StringRef text, llvm::StringRef name,
                   const config::ConfigOverrides &overrides,
                   const CompileOptions &options, mlir::MLIRContext *context);

} // namespace ckpt

#endif // CKPT_COMPILER_COMPILER_H
