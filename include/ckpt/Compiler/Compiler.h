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

struct CompileOptions {
  std::string policy = "megatron"; ///< A registered remat policy.
  RematOptions remat;              ///< Its options (Megatron's names).
  /// Neither `policy` nor `remat` was chosen: the remat pass applies the
  /// policy the config names (its recompute_* fields), or none.
  bool policyFromConfig = false;
  /// What each recompute region re-runs (RematPlan.h).
  RegionOps regionOps = RegionOps::Needed;
  bool planMemory = true;   ///< Schedule and plan the arena.
  int64_t alignment = 64;   ///< Of every arena buffer (power of 2).
  double planSeconds = 1.0; ///< Clock guard of a non-deterministic search.
  /// Steps the exact offset search may take (PlanOptions::searchWork).
  int64_t planSearchWork = 20000000;
  /// Megatron's persistent-memory accounting in the report; unset: the
  /// config's (data_parallel_size, use_distributed_optimizer).
  std::optional<bool> useDistributedOptimizer;
  std::optional<int64_t> dataParallelSize;
  /// The remat pass writes its placement plan here (the --ckpt-compile
  /// pipeline; compileModelConfig returns it instead).
  std::string savePlan;
};

/// The passes from an imported forward graph to a training step ready to
/// lower: --xf-training-step, --ckpt-remat, and with planMemory
/// --ckpt-schedule and --ckpt-plan-memory. Fails, through `errorHandler`,
/// when the remat pass rejects the options.
/// With `sink`, the remat pass hands it the placement plan it decided.
mlir::LogicalResult buildCompilePipeline(
    mlir::OpPassManager &pm, const CompileOptions &options,
    llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)> errorHandler,
    PlacementPlanSink sink = nullptr);

/// The options of `--ckpt-compile="..."` from their text
/// ("recompute-granularity=full recompute-method=uniform ..."); fails
/// through `errorHandler`.
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
  std::string timelineSvg; ///< The memory timeline; empty without a plan.
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
