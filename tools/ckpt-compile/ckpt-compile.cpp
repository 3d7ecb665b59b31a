//===- ckpt-compile.cpp - From a model config to a runnable program -------===//
//
//   ckpt-compile CONFIG -o PROGRAM.json [import flags] [policy flags]
//                [--report=FILE.json] [--svg=FILE.svg] [--emit-mlir=FILE]
//
// The compiler library (ckpt/Compiler/Compiler.h) as one command: imports
// the config, builds the training step, applies the remat policy, plans
// memory, and writes the program for ckpt-run; prints the report. Output
// files are written only when everything succeeded, each in one piece.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Output/OutputFiles.h"
#include "ckpt/Support/Version.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Tools/LongLineDiagnostics.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

using namespace mlir;
using namespace ckpt;
namespace cl = llvm::cl;

namespace {
cl::OptionCategory toolCategory("ckpt-compile options");
cl::OptionCategory policyCategory("Recompute policy (Megatron's names)");

cl::opt<std::string> configFile(cl::Positional, cl::Required,
                                cl::desc("<model config (JSON)>"),
                                cl::cat(toolCategory));
cl::opt<std::string> outputFile("o", cl::Required,
                                cl::desc("Write the program (JSON) here (- "
                                         "for standard output)"),
                                cl::value_desc("file"), cl::cat(toolCategory));
cl::opt<std::string> reportFile("report",
                                cl::desc("Write the report (JSON) here"),
                                cl::value_desc("file"), cl::cat(toolCategory));
cl::opt<std::string> svgFile("svg",
                             cl::desc("Draw the memory timeline (SVG) here"),
                             cl::value_desc("file"), cl::cat(toolCategory));
cl::opt<std::string> mlirFile("emit-mlir",
                              cl::desc("Write the planned training step's IR "
                                       "here"),
                              cl::value_desc("file"), cl::cat(toolCategory));
cl::opt<unsigned> jobs(
    "jobs",
    cl::desc("Pipeline stages compiled side by side, on as many threads (0: "
             "one per core; 1: one stage at a time). The output does not "
             "depend on it"),
    cl::value_desc("n"), cl::init(0), cl::cat(toolCategory));
cl::alias jobsShort("j", cl::desc("Alias for --jobs"), cl::aliasopt(jobs),
                    cl::cat(toolCategory));
cl::opt<bool> quiet("quiet", cl::desc("Print no report on stdout"),
                    cl::cat(toolCategory));
cl::opt<bool> noPlan("no-plan",
                     cl::desc("Lower without a memory plan (every tensor "
                              "gets its own allocation at run time)"),
                     cl::cat(toolCategory));
cl::opt<int64_t> alignment("alignment",
                           cl::desc("Bytes every arena buffer is aligned to"),
                           cl::init(64), cl::cat(toolCategory));
cl::opt<double> planSeconds(
    "plan-seconds",
    cl::desc("Clock guard of the offset search when it is not deterministic"),
    cl::init(1.0), cl::cat(toolCategory));
cl::opt<int64_t> planSearchWork(
    "plan-search-work",
    cl::desc("Steps the exact offset search may take (0: greedy only)"),
    cl::init(20000000), cl::cat(toolCategory));
cl::opt<bool> distributedOptimizer(
    "use-distributed-optimizer",
    cl::desc("Megatron's distributed optimizer in the persistent bytes"),
    cl::cat(toolCategory));
cl::opt<int64_t>
    dataParallelSize("data-parallel-size",
                     cl::desc("Data-parallel ranks sharing the optimizer"),
                     cl::init(1), cl::cat(toolCategory));

cl::opt<std::string>
    policy("policy",
           cl::desc("Remat policy (registered: megatron, budget, plan; a "
                    "memory budget selects budget, a plan file plan)"),
           cl::init("megatron"), cl::cat(policyCategory));
cl::opt<std::string> granularity("recompute-granularity",
                                 cl::desc("none, selective or full"),
                                 cl::init("none"), cl::cat(policyCategory));
cl::opt<std::string> method("recompute-method",
                            cl::desc("uniform or block (with full)"),
                            cl::cat(policyCategory));
cl::opt<int64_t> numLayers("recompute-num-layers",
                           cl::desc("Layers per chunk (uniform) or "
                                    "checkpointed layers (block)"),
                           cl::init(-1), cl::cat(policyCategory));
cl::list<std::string> modules("recompute-modules", cl::CommaSeparated,
                              cl::desc("Modules selective recomputes "
                                       "(core_attn, mlp, layernorm)"),
                              cl::cat(policyCategory));
cl::opt<bool> distribute(
    "distribute-saved-activations",
    cl::desc("Shard full-recompute chunk inputs over the tensor-parallel "
             "ranks"),
    cl::cat(policyCategory));

cl::opt<std::string> memoryBudget(
    "memory-budget",
    cl::desc("Cap on the planned arena peak (bytes, or KiB/MiB/GiB/TiB, "
             "KB/MB/GB/TB): the cheapest plan that fits"),
    cl::cat(policyCategory));
cl::opt<std::string> deviceMemory(
    "device-memory",
    cl::desc("Cap on the arena peak plus the persistent weights, gradients "
             "and optimizer state"),
    cl::cat(policyCategory));
cl::opt<std::string>
    costModel("cost",
              cl::desc("What the budget solver minimizes: flops (default) or "
                       "profile:FILE, the op times of ckpt-run --profile=FILE"),
              cl::cat(policyCategory));
cl::opt<std::string>
    planFile("plan",
             cl::desc("Apply this placement plan file (docs/plan-format.md) "
                      "as the policy"),
             cl::value_desc("file"), cl::cat(policyCategory));
cl::opt<std::string>
    savePlan("save-plan",
             cl::desc("Write the placement plan the policy decided "
                      "(docs/plan-format.md)"),
             cl::value_desc("file"), cl::cat(toolCategory));
cl::opt<std::string> regionOps(
    "region-ops",
    cl::desc("What a recompute region re-runs: needed (only what the "
             "backward reads) or all (the whole checkpointed span, as "
             "Megatron-LM re-executes it)"),
    cl::init("needed"), cl::cat(policyCategory));

/// Stages `text` for `path` (when given) in `outputs`; reports a failure.
bool stage(output::OutputSet &outputs, const std::string &path,
           llvm::StringRef text) {
  if (path.empty())
    return true;
  std::string error;
  if (outputs.add(path, std::string_view(text.data(), text.size()), error))
    return true;
  llvm::errs() << "ckpt-compile: " << error << "\n";
  return false;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  setVersionPrinter("ckpt-compile");
  registerConfigOverrideFlags();
  cl::HideUnrelatedOptions(
      {&toolCategory, &policyCategory, &configOverrideCategory()});
  cl::ParseCommandLineOptions(
      argc, argv,
      "ckpt-compile: from a model config to a planned program for ckpt-run\n");

  config::ConfigOverrides overrides;
  if (!readConfigOverrideFlags("ckpt-compile", overrides))
    return 1;
  if (noPlan && !svgFile.empty()) {
    llvm::errs() << "ckpt-compile: --svg draws the memory plan; it cannot be "
                    "combined with --no-plan\n";
    return 2;
  }
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(configFile);
  if (!buffer) {
    llvm::errs() << "ckpt-compile: cannot open '" << configFile
                 << "': " << buffer.getError().message() << "\n";
    return 1;
  }

  CompileOptions options;
  std::optional<RegionOps> parsedRegionOps = parseRegionOps(regionOps);
  if (!parsedRegionOps) {
    llvm::errs() << "ckpt-compile: --region-ops must be needed or all, got '"
                 << regionOps << "'\n";
    return 2;
  }
  options.regionOps = *parsedRegionOps;
  options.policy = policy;
  options.remat.memoryBudget = memoryBudget;
  options.remat.deviceMemory = deviceMemory;
  options.remat.cost = costModel;
  options.remat.planFile = planFile;

  options.remat.granularity = granularity;
  options.remat.method = method;
  if (numLayers.getNumOccurrences())
    options.remat.numLayers = numLayers;
  options.remat.modules.assign(modules.begin(), modules.end());
  options.remat.distributeSavedActivations = distribute;
  // Without a policy option, the config's own recompute fields decide.
  options.policyFromConfig =
      !policy.getNumOccurrences() && !granularity.getNumOccurrences() &&
      !method.getNumOccurrences() && !numLayers.getNumOccurrences() &&
      !modules.getNumOccurrences() && !distribute.getNumOccurrences() &&
      !memoryBudget.getNumOccurrences() && !deviceMemory.getNumOccurrences() &&
      !planFile.getNumOccurrences();
  options.planMemory = !noPlan;
  options.alignment = alignment;
  options.planSeconds = planSeconds;
  options.planSearchWork = planSearchWork;
  // Unset: the config's own data-parallel layout.
  if (distributedOptimizer.getNumOccurrences())
    options.useDistributedOptimizer = distributedOptimizer;
  if (dataParallelSize.getNumOccurrences())
    options.dataParallelSize = dataParallelSize;

  // Stages compile on the context's threads: one per core, or as many as
  // asked (none beside the main one with --jobs=1).
  MLIRContext context(MLIRContext::Threading::DISABLED);
  std::optional<llvm::DefaultThreadPool> pool;
  if (jobs != 1) {
    pool.emplace(jobs == 0 ? llvm::hardware_concurrency()
                           : llvm::hardware_concurrency(jobs));
    context.setThreadPool(*pool);
  }
  llvm::SourceMgr sourceMgr;
  llvm::StringRef text = (*buffer)->getBuffer();
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  ckpt::installLongLineDiagnostics(
      &context, std::make_shared<const std::string>(text.str()));
  FailureOr<CompileResult> result =
      compileModelConfig(text, configFile, overrides, options, &context);
  if (failed(result))
    return 1;

  std::string placements;
  if (!savePlan.empty())
    placements = plan::formatPlanFile(result->placements);
  std::string ir;
  if (!mlirFile.empty()) {
    llvm::raw_string_ostream os(ir);
    result->module->print(os);
  }
  // Every output or none: a report that cannot be written leaves the
  // program file as it was.
  output::OutputSet outputs;
  if (!stage(outputs, outputFile, result->program) ||
      !stage(outputs, reportFile, result->reportJson) ||
      !stage(outputs, svgFile, result->timelineSvg) ||
      !stage(outputs, mlirFile, ir) || !stage(outputs, savePlan, placements))
    return 1;
  std::string error;
  if (!outputs.commit(error)) {
    llvm::errs() << "ckpt-compile: " << error << "\n";
    return 1;
  }
  // An output on standard output is not mixed with the report table.
  bool outputOnStdout = outputFile == "-" || reportFile == "-" ||
                        svgFile == "-" || mlirFile == "-" || savePlan == "-";
  if (!quiet && !outputOnStdout)
    llvm::outs() << result->reportTable;
  return 0;
}
