//===- Compiler.cpp - From a model config to a planned program ------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Rewrite/PipelineSchedule.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Target/Program/ProgramExport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/Threading.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace ckpt;

LogicalResult ckpt::buildCompilePipeline(
    OpPassManager &pm, const CompileOptions &options,
    function_ref<LogicalResult(const Twine &)> errorHandler,
    PlacementPlanSink sink) {
  pm.addPass(createXFTrainingStep());
  // The remat pass from an option string of only the options given: an
  // option set through the options struct counts as given, and -1 layers is
  // a value, not "no value". Each value is braced, so that the pass sees it
  // whole whatever it holds.
  auto option = [](StringRef name, StringRef value) {
    return (" " + name + "={" + value + "}").str();
  };
  // The pass itself turns Megatron's default policy into the budget solver
  // when a budget is given, and into the plan file's when a plan is.
  std::string remat;
  if (!options.policyFromConfig)
    remat = option("policy", options.policy) +
            option("recompute-granularity", options.remat.granularity);
  if (!options.remat.method.empty())
    remat += option("recompute-method", options.remat.method);
  if (options.remat.numLayers)
    remat += option("recompute-num-layers",
                    std::to_string(*options.remat.numLayers));
  if (!options.remat.modules.empty())
    remat +=
        option("recompute-modules", llvm::join(options.remat.modules, ","));
  if (options.remat.distributeSavedActivations)
    remat += option("distribute-saved-activations", "true");
  remat += option("region-ops", toString(options.regionOps));
  if (!options.remat.memoryBudget.empty())
    remat += option("memory-budget", options.remat.memoryBudget);
  if (!options.remat.deviceMemory.empty())
    remat += option("device-memory", options.remat.deviceMemory);
  if (!options.remat.cost.empty())
    remat += option("cost", options.remat.cost);
  if (!options.remat.planFile.empty())
    remat += option("plan", options.remat.planFile);
  if (!options.savePlan.empty())
    remat += option("save-plan", options.savePlan);
  std::unique_ptr<Pass> rematPass =
      sink ? createCkptRemat(std::move(sink)) : createCkptRemat();
  if (failed(rematPass->initializeOptions(remat, errorHandler)))
    return failure();
  pm.addPass(std::move(rematPass));
  if (!options.planMemory)
    return success();
  pm.addPass(createCkptSchedule());
  pm.addPass(createCkptPipelineSchedule());
  CkptPlanMemoryOptions plan;
  plan.alignment = options.alignment;
  plan.seconds = options.planSeconds;
  plan.searchWork = options.planSearchWork;
  pm.addPass(createCkptPlanMemory(plan));
  return success();
}

namespace {
struct CompilePipelineOptions
    : public PassPipelineOptions<CompilePipelineOptions> {
  Option<std::string> policy{*this, "policy",
                             llvm::cl::desc("The remat policy"),
                             llvm::cl::init("megatron")};
  Option<std::string> granularity{*this, "recompute-granularity",
                                  llvm::cl::desc("none, selective or full"),
                                  llvm::cl::init("none")};
  Option<std::string> method{*this, "recompute-method",
                             llvm::cl::desc("uniform or block (with full)")};
  Option<int64_t> numLayers{
      *this, "recompute-num-layers",
      llvm::cl::desc("Layers per chunk (uniform) or checkpointed (block)"),
      llvm::cl::init(-1)};
  ListOption<std::string> modules{
      *this, "recompute-modules",
      llvm::cl::desc("Modules recomputed by selective")};
  Option<bool> distribute{
      *this, "distribute-saved-activations",
      llvm::cl::desc("Shard full-recompute chunk inputs over the ranks"),
      llvm::cl::init(false)};
  Option<std::string> memoryBudget{
      *this, "memory-budget",
      llvm::cl::desc("Cap on the planned arena peak: the budget solver")};
  Option<std::string> deviceMemory{
      *this, "device-memory",
      llvm::cl::desc("Cap on the arena peak plus the persistent state")};
  Option<std::string> cost{
      *this, "cost",
      llvm::cl::desc("What the budget solver minimizes: flops or "
                     "profile:FILE")};
  Option<std::string> planFile{
      *this, "plan",
      llvm::cl::desc("A placement plan file to apply (the policy plan)")};
  Option<std::string> savePlan{
      *this, "save-plan",
      llvm::cl::desc("Write the decided placement plan to this file")};
  Option<std::string> regionOps{
      *this, "region-ops",
      llvm::cl::desc("What a recompute region re-runs: needed or all"),
      llvm::cl::init("needed")};
  Option<bool> planMemory{*this, "plan-memory",
                          llvm::cl::desc("Schedule and plan the arena"),
                          llvm::cl::init(true)};
  Option<int64_t> alignment{*this, "alignment",
                            llvm::cl::desc("Alignment of arena buffers"),
                            llvm::cl::init(64)};
  Option<double> planSeconds{
      *this, "plan-seconds",
      llvm::cl::desc("Clock guard of the offset search when it is not "
                     "deterministic"),
      llvm::cl::init(1.0)};
  Option<int64_t> planSearchWork{
      *this, "plan-search-work",
      llvm::cl::desc("Steps the exact offset search may take (0: greedy)"),
      llvm::cl::init(20000000)};
};
} // namespace

FailureOr<CompileOptions> ckpt::parseCompileOptions(
    StringRef text, function_ref<LogicalResult(const Twine &)> errorHandler) {
  CompilePipelineOptions pipeline;
  // The option parser reports through llvm::errs(); say what failed.
  if (failed(pipeline.parseFromString(text))) {
    (void)errorHandler("cannot parse the options '" + text + "'");
    return failure();
  }
  CompileOptions options;
  options.policy = pipeline.policy;
  options.remat.memoryBudget = pipeline.memoryBudget;
  options.remat.deviceMemory = pipeline.deviceMemory;
  options.remat.cost = pipeline.cost;
  options.remat.planFile = pipeline.planFile;
  options.savePlan = pipeline.savePlan;
  options.remat.granularity = pipeline.granularity;
  options.remat.method = pipeline.method;
  if (pipeline.numLayers.hasValue())
    options.remat.numLayers = pipeline.numLayers;
  options.remat.modules.assign(pipeline.modules.begin(),
                               pipeline.modules.end());
  options.remat.distributeSavedActivations = pipeline.distribute;
  std::optional<RegionOps> regionOps = parseRegionOps(pipeline.regionOps);
  if (!regionOps) {
    (void)errorHandler("region-ops must be needed or all, got '" +
                       pipeline.regionOps + "'");
    return failure();
  }
  options.regionOps = *regionOps;
  options.planMemory = pipeline.planMemory;
  options.alignment = pipeline.alignment;
  options.planSeconds = pipeline.planSeconds;
  options.planSearchWork = pipeline.planSearchWork;
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
        return buildCompilePipeline(pm, *options, errorHandler);
      },
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(CompilePipelineOptions());
      });
}

namespace {
/// One graph (the model, or one pipeline stage) compiled: the report of one
/// micro-batch's step; the plan and program of the stage's whole schedule.
FailureOr<CompileResult> compileGraph(StringRef text, StringRef name,
                                      const config::ConfigOverrides &overrides,
                                      const CompileOptions &options,
                                      MLIRContext *context) {
  CompileResult result;
  result.module = importModelConfig(text, name, overrides, context);
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
  PassManager pm(context);
  auto sink = [&](plan::PlacementPlan placements) {
    result.placements.push_back(std::move(placements));
  };
  if (failed(buildCompilePipeline(
          pm, passes,
          [&](const Twine &message) {
            return mlir::emitError(module.getLoc()) << message;
          },
          sink)))
    return failure();
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
    result.timelineSvg = renderTimelineSvg(
        result.plan, "Memory over the schedule: @" + step.getName().str());
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
  // One stage asked for, or no pipeline: one graph. (A config that does not
  // parse is reported by the import.)
  config::ConfigParseResult parsed =
      config::parseGPTConfig({text.data(), text.size()}, overrides);
  if (!parsed.succeeded() || overrides.pipelineStage ||
      parsed.config->pipelineParallelSize == 1)
    return compileGraph(text, name, overrides, options, context);

  // Every stage on its own; the program file holds them all, and the report
  // tells them apart and names the stage that limits the job.
  const config::GPTConfig &config = *parsed.config;
  PipelineMemory pipeline;
  pipeline.stages = config.pipelineParallelSize;
  pipeline.virtualStages = config.virtualPipelineSize;
  pipeline.microBatches = config.numMicroBatches;
  std::vector<CompileResult> stages(pipeline.stages);
  auto compileStage = [&](size_t stage) -> LogicalResult {
    config::ConfigOverrides stageOverrides = overrides;
    stageOverrides.pipelineStage = static_cast<int64_t>(stage);
    FailureOr<CompileResult> compiled =
        compileGraph(text, name, stageOverrides, options, context);
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
  if (!limit.timelineSvg.empty())
    result.timelineSvg = renderTimelineSvg(
        result.plan, "Memory over the schedule: pipeline stage " +
                         std::to_string(limiting) + " of " +
                         std::to_string(pipeline.stages) + ", @train_step");
  return result;
}
