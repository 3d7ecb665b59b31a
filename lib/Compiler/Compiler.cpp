//===- Compiler.cpp - From a model config to a planned program ------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Rewrite/PipelineSchedule.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Target/Program/ProgramExport.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/Transforms/TablePassOptions.h"

#include "mlir/IR/Threading.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ckpt;

void ckpt::buildCompilePipeline(OpPassManager &pm,
                                const CompileOptions &options,
                                PlacementPlanSink sink) {
  pm.addPass(createXFTrainingStep());
  pm.addPass(createCkptRemat(options, std::move(sink)));
  if (!options.planMemory)
    return;
  pm.addPass(createCkptSchedule());
  pm.addPass(createCkptPipelineSchedule());
  pm.addPass(createCkptPlanMemory(options));
}

namespace {
/// The pipeline's options for its --help: the option table's Compile ones.
struct CompilePipelineOptions
    : public PassPipelineOptions<CompilePipelineOptions> {
  CompilePipelineOptions() : table(*this, options::Compile) {}
  TablePassOptions table;
};
} // namespace

FailureOr<CompileOptions> ckpt::parseCompileOptions(
    StringRef text, function_ref<LogicalResult(const Twine &)> errorHandler) {
  CompileOptions options;
  if (std::string problem = parseOptionText(text, options::Compile, options);
      !problem.empty()) {
    (void)errorHandler(problem);
    return failure();
  }
  return options;
}

void ckpt::registerCompilePipeline() {
  // The registry's lower-level form, whose builder can report an error.
  registerPassPipeline(
      "ckpt-compile",
      "From an imported forward graph to a planned training step: "
      "--xf-training-step, --ckpt-remat, --ckpt-schedule, --ckpt-plan-memory",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        FailureOr<CompileOptions> options =
            parseCompileOptions(text, errorHandler);
        if (failed(options))
          return failure();
        buildCompilePipeline(pm, *options);
        return success();
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(CompilePipelineOptions());
      });
}

namespace {
/// One graph (the model, or one pipeline stage) compiled: the report of one
/// micro-batch's step; the plan and program of the stage's whole schedule.
FailureOr<CompileResult> compileGraph(const config::GPTConfig &config,
                                      StringRef name, int64_t stage,
                                      const CompileOptions &options,
                                      MLIRContext *context) {
  CompileResult result;
  result.module = buildForwardGraph(config, name, stage, context);
  if (!result.module)
    return failure();
  ModuleOp module = *result.module;
  PlanOptions plan;
  plan.alignment = options.alignment;
  plan.seconds = options.planSeconds;
  plan.searchWork = options.planSearchWork;
  applyModelLayout(module, plan);
  if (options.useDistributedOptimizer)
    plan.useDistributedOptimizer = *options.useDistributedOptimizer;
  if (options.dataParallelSize)
    plan.dataParallelSize = *options.dataParallelSize;
  if (failed(checkPlanOptions(plan, module.getLoc())))
    return failure();
  // The passes up to the schedule; the plan is made here, with the same
  // functions as --ckpt-plan-memory, so that the report describes the very
  // plan written into the IR and the program.
  CompileOptions passes = options;
  passes.planMemory = false;
  // The plans are returned, for the caller to write with its outputs.
  passes.savePlan.clear();
  PassManager pm(context);
  auto sink = [&](plan::PlacementPlan placements) {
    result.placements.push_back(std::move(placements));
  };
  buildCompilePipeline(pm, passes, sink);
  if (options.planMemory)
    pm.addPass(createCkptSchedule());
  if (failed(pm.run(module)))
    return failure();

  func::FuncOp step = lookupTrainingStep(module, "train_step");
  if (!step)
    return failure();
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  // What one micro-batch keeps; then, for a pipelined step, the schedule of
  // all of them, which the plan and the program describe.
  result.report = analyzeActivations(*graph);
  if (getPipelineShape(module)) {
    graph = unrolledStepGraph(module, "train_step");
    if (failed(graph))
      return failure();
    step = graph->step;
  }
  llvm::raw_string_ostream table(result.reportTable);
  printActivationTable(result.report, table);
  if (options.planMemory) {
    result.plan = planMemory(*graph, plan);
    annotatePlan(*graph, result.plan);
    if (failed(readPlan(*graph, plan)))
      return failure();
    printMemoryLines(result.plan, table);
    result.timelineTitle = "Memory over the schedule: @" + step.getName().str();
  }
  result.reportJson = activationReportToJson(
      result.report, options.planMemory ? &result.plan : nullptr);
  llvm::raw_string_ostream program(result.program);
  if (failed(exportProgram(module, "train_step", program)))
    return failure();
  return result;
}

/// A stage's figures for the pipeline's table.
PipelineStageMemory stageMemory(const config::GPTConfig &config, int64_t stage,
                                const CompileResult &result) {
  PipelineStageMemory memory;
  memory.stage = stage;
  int64_t p = config.pipelineParallelSize, v = config.virtualPipelineSize;
  for (int64_t chunk = stage; chunk < p * v; chunk += p)
    memory.layers.push_back(config.chunkLayers(chunk));
  memory.inFlight = pipeline::maxInFlight(
      pipeline::stageSchedule(stage, p, v, config.numMicroBatches));
  memory.keptPerMicroBatch = result.report.keptBytes;
  const MemoryPlan &plan = result.plan;
  for (int64_t kept : plan.liveKept)
    memory.keptInFlight = std::max(memory.keptInFlight, kept);
  memory.peakBytes = plan.lowerBoundBytes;
  memory.arenaBytes = plan.arenaBytes;
  memory.persistentBytes = plan.trainingPersistentBytes;
  memory.recomputeFlops = result.report.recompute.total();
  memory.stepFlops =
      result.report.forward.total() + result.report.backward.total();
  return memory;
}
} // namespace

FailureOr<CompileResult>
ckpt::compileModelConfig(StringRef text, StringRef name,
                         const config::ConfigOverrides &overrides,
                         const CompileOptions &options, MLIRContext *context) {
  // The config parsed once, its warnings reported once, whatever the
  // number of stages.
  config::ConfigParseResult parsed =
      config::parseGPTConfig({text.data(), text.size()}, overrides);
  if (!reportConfigDiagnostics(parsed, name, context))
    return failure();
  const config::GPTConfig &config = *parsed.config;
  // One stage asked for, or no pipeline: one graph.
  if (overrides.pipelineStage || config.pipelineParallelSize == 1)
    return compileGraph(config, name, overrides.pipelineStage.value_or(0),
                        options, context);

  // Every stage on its own; the program file holds them all, and the report
  // tells them apart and names the stage that limits the job.
  PipelineMemory pipeline;
  pipeline.stages = config.pipelineParallelSize;
  pipeline.virtualStages = config.virtualPipelineSize;
  pipeline.microBatches = config.numMicroBatches;
  std::vector<CompileResult> stages(pipeline.stages);
  auto compileStage = [&](size_t stage) -> LogicalResult {
    FailureOr<CompileResult> compiled = compileGraph(
        config, name, static_cast<int64_t>(stage), options, context);
    if (failed(compiled))
      return failure();
    stages[stage] = std::move(*compiled);
    return success();
  };
  // Stage 0 first, which loads every dialect the stages use (loading is
  // not thread-safe); then the others on the context's threads. Each stage
  // is compiled alone, so the results do not depend on the threads, and
  // the diagnostics come in stage order.
  if (failed(compileStage(0)) ||
      failed(failableParallelForEachN(context, 1, stages.size(), compileStage)))
    return failure();
  for (auto [stage, compiled] : llvm::enumerate(stages))
    pipeline.perStage.push_back(
        stageMemory(config, static_cast<int64_t>(stage), compiled));

  CompileResult result;
  int64_t limiting = options.planMemory ? pipeline.limitingStage() : 0;
  std::vector<std::string> reports;
  llvm::raw_string_ostream table(result.reportTable), program(result.program);
  program << "{\"format\": \"" << ops::kProgramFormatName
          << "\", \"version\": " << ops::kProgramFormatVersion
          << ", \"stages\": [\n";
  for (auto [stage, compiled] : llvm::enumerate(stages)) {
    table << "== pipeline stage " << stage << " of " << pipeline.stages
          << " ==\n"
          << compiled.reportTable;
    program << (stage ? ",\n" : "") << compiled.program;
    reports.push_back(compiled.reportJson);
  }
  program << "]}\n";
  if (options.planMemory)
    printPipelineTable(pipeline, table);
  result.reportJson = pipelineReportToJson(pipeline, reports);
  for (CompileResult &compiled : stages)
    for (plan::PlacementPlan &placements : compiled.placements)
      result.placements.push_back(std::move(placements));
  result.pipeline = pipeline;
  // The limiting stage's step, report, plan and picture stand for the job.
  CompileResult &limit = stages[limiting];
  result.module = std::move(limit.module);
  result.report = std::move(limit.report);
  result.plan = std::move(limit.plan);
  if (!limit.timelineTitle.empty())
    result.timelineTitle = "Memory over the schedule: pipeline stage " +
                           std::to_string(limiting) + " of " +
                           std::to_string(pipeline.stages) + ", @train_step";
  return result;
}

std::string ckpt::CompileResult::timelineSvg() const {
  if (timelineTitle.empty())
    return "";
  return renderTimelineSvg(plan, timelineTitle);
}
