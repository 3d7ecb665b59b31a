//===- ckpt-compile.cpp - From a model config to a runnable program -------===//
//
//   ckpt-compile CONFIG -o PROGRAM.json [import flags] [policy flags]
//                [--json=FILE.json] [--svg=FILE.svg] [--emit-mlir=FILE]
//
// The compiler library (ckpt/Compiler/Compiler.h) as one command: imports
// the config, builds the training step, applies the remat policy, plans
// memory, and writes the program for ckpt-run; prints the report. Output
// files are written only when everything succeeded, each in one piece.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Options/CommandLineOptions.h"
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
cl::opt<bool> quiet("quiet", cl::desc("Alias for --table=false"),
                    cl::cat(toolCategory));
cl::opt<bool> noPlan("no-plan", cl::desc("Alias for --plan-memory=false"),
                     cl::cat(toolCategory));
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
  // The policy and planning flags: the option table's (Options.def).
  options::CommandLineOptions tableFlags(options::Compile | options::Tool,
                                         policyCategory, toolCategory);
  cl::HideUnrelatedOptions(
      {&toolCategory, &policyCategory, &configOverrideCategory()});
  cl::ParseCommandLineOptions(
      argc, argv,
      "ckpt-compile: from a model config to a planned program for ckpt-run\n");

  config::ConfigOverrides overrides;
  if (!readConfigOverrideFlags("ckpt-compile", overrides))
    return 1;
  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(configFile);
  if (!buffer) {
    llvm::errs() << "ckpt-compile: cannot open '" << configFile
                 << "': " << buffer.getError().message() << "\n";
    return 1;
  }

  CompileOptions options;
  if (std::string problem = tableFlags.readInto(options); !problem.empty()) {
    llvm::errs() << "ckpt-compile: " << problem << "\n";
    return 2;
  }
  if (noPlan)
    options.planMemory = false;
  if (quiet)
    options.printTable = false;
  const std::string &reportFile = options.jsonFile, &svgFile = options.svgFile;
  if (!options.planMemory && !svgFile.empty()) {
    llvm::errs() << "ckpt-compile: --svg draws the memory plan; it cannot be "
                    "combined with --no-plan\n";
    return 2;
  }
  // The plan file is written with the other outputs, all or none.
  std::string savePlan = std::move(options.savePlan);
  options.savePlan.clear();

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
      !stage(outputs, svgFile, svgFile.empty() ? "" : result->timelineSvg()) ||
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
  if (options.printTable && !outputOnStdout)
    llvm::outs() << result->reportTable;
  return 0;
}
