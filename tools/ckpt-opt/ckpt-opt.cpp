//===- ckpt-opt.cpp - The ckpt-opt driver ---------------------------------===//
//
// mlir-opt with the ckpt-opt dialects and passes registered, plus MLIR's
// generic transforms (canonicalize, cse, print-op-stats, ...).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Support/Version.h"
#include "ckpt/Tools/LongLineDiagnostics.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include "mlir/Transforms/Passes.h"
#include <memory>
#include <string>

namespace {

/// The input's text while ckpt-opt runs (null with -verify-diagnostics,
/// whose handler must see every diagnostic).
std::shared_ptr<const std::string> inputText;

/// Puts the long-line printer above MLIR's own handler. Registered as a
/// dialect extension, it runs when the parser loads the xf or func dialect,
/// after MlirOptMain has set up its handler, so that it also sees the parse
/// errors that follow (and, from the pass pipeline's setup, the passes').
void installLongLineHandler(mlir::MLIRContext *context) {
  if (inputText)
    ckpt::installLongLineDiagnostics(context, inputText);
}

/// MlirOptMain, with two changes to what pass pipelines report. A pass
/// option that LLVM's option parser rejects (a non-integer number) is
/// reported once: the parser prints why, and the empty error MLIR then
/// adds ("<unknown>:0: error: ") is dropped. And a diagnostic of a pass
/// located in a long line shows an excerpt of it, not the whole line.
int runOpt(int argc, char **argv, mlir::DialectRegistry &registry) {
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "ckpt-opt: activation checkpointing compiler driver\n",
      registry);
  mlir::MlirOptMainConfig config =
      mlir::MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects())
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, inputFilename, outputFilename, registry));
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return 1;
  }
  if (!config.shouldVerifyDiagnostics())
    inputText = std::make_shared<std::string>(input->getBuffer().str());
  // An input with a long line above its first func or xf op is parsed once
  // up front with the long-line printer on top, so that even an error
  // before any of our dialects is loaded shows an excerpt; MlirOptMain then
  // parses it again. (A printed step's long lines are its signature and
  // its return, which lie below: those are parsed once.)
  if (inputText && config.inputSplitMarker().empty() &&
      ckpt::hasLongLineBeforeDialects(*inputText)) {
    mlir::MLIRContext context(registry);
    context.allowUnregisteredDialects(config.shouldAllowUnregisteredDialects());
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(
                                     *inputText, input->getBufferIdentifier()),
                                 llvm::SMLoc());
    mlir::SourceMgrDiagnosticHandler fallback(sourceMgr, &context);
    ckpt::installLongLineDiagnostics(&context, inputText);
    if (!mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context))
      return 1;
  }
  mlir::MlirOptMainConfig quiet = config;
  quiet.setPassPipelineSetupFn([config](mlir::PassManager &pm) {
    mlir::MLIRContext *context = pm.getContext();
    installLongLineHandler(context);
    mlir::ScopedDiagnosticHandler dropEmpty(
        context, [](mlir::Diagnostic &diag) {
          return mlir::success(diag.getSeverity() ==
                                   mlir::DiagnosticSeverity::Error &&
                               diag.str().empty());
        });
    return config.setupPassPipeline(pm);
  });
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return 1;
  }
  if (failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, quiet)))
    return 1;
  output->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  ckpt::setVersionPrinter("ckpt-opt");
  ckpt::hideLibraryOptions();
  mlir::registerTransformsPasses();
  ckpt::registerCkptPasses();
  ckpt::registerCompilePipeline();

  mlir::DialectRegistry registry;
  registry.insert<ckpt::xf::XFDialect, ckpt::CkptDialect,
                  mlir::arith::ArithDialect, mlir::func::FuncDialect>();
  registry.addExtension(+[](mlir::MLIRContext *context, ckpt::xf::XFDialect *) {
    installLongLineHandler(context);
  });
  registry.addExtension(
      +[](mlir::MLIRContext *context, mlir::func::FuncDialect *) {
        installLongLineHandler(context);
      });

  return ckpt::runWithAtomicOutput(argc, argv, [&](int n, char **args) {
    return runOpt(n, args, registry);
  });
}
