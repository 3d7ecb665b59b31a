//===- ckpt-opt.cpp - The ckpt-opt driver ---------------------------------===//
//
// mlir-opt with the ckpt-opt dialects and passes registered, plus MLIR's
// generic transforms (canonicalize, cse, print-op-stats, ...).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Pipeline/Pipeline.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Support/Version.h"
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

/// Source lines longer than this are not echoed whole under a diagnostic:
/// a printed training step's first line holds the whole module signature.
constexpr size_t kLongLine = 512;

/// Prints a diagnostic located in a long line of `text` as
/// "file:line:col: error: message" with an excerpt around the column;
/// declines (failure) any other, which MLIR's handler then prints.
mlir::LogicalResult printLongLineDiagnostic(mlir::Diagnostic &diag,
                                            llvm::StringRef text) {
  auto loc = mlir::dyn_cast<mlir::FileLineColLoc>(diag.getLocation());
  if (!loc || loc.getLine() == 0)
    return mlir::failure();
  llvm::StringRef rest = text;
  for (unsigned line = 1; line < loc.getLine() && !rest.empty(); ++line)
    rest = rest.split('\n').second;
  llvm::StringRef sourceLine = rest.split('\n').first;
  if (sourceLine.size() <= kLongLine)
    return mlir::failure();
  const char *kind =
      diag.getSeverity() == mlir::DiagnosticSeverity::Error     ? "error"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Warning ? "warning"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Note    ? "note"
                                                                : "remark";
  size_t column = loc.getColumn() ? loc.getColumn() - 1 : 0;
  size_t from = column > 40 ? column - 40 : 0;
  llvm::StringRef excerpt = sourceLine.substr(from, 80);
  // The message may quote the long text too (an unknown op's name).
  std::string message = diag.str();
  if (message.size() > kLongLine)
    message = message.substr(0, kLongLine / 2) + "... (" +
              std::to_string(message.size()) + " characters)";
  llvm::errs() << loc.getFilename().getValue() << ":" << loc.getLine() << ":"
               << loc.getColumn() << ": " << kind << ": " << message << "\n"
               << (from ? "..." : "") << excerpt
               << (from + excerpt.size() < sourceLine.size() ? "..." : "")
               << "  (line of " << sourceLine.size() << " characters)\n"
               << std::string((from ? 3 : 0) + column - from, ' ') << "^\n";
  for (mlir::Diagnostic &note : diag.getNotes())
    if (failed(printLongLineDiagnostic(note, text)))
      llvm::errs() << note.getLocation() << ": note: " << note.str() << "\n";
  return mlir::success();
}

/// The input's text while ckpt-opt runs (null with -verify-diagnostics,
/// whose handler must see every diagnostic).
std::shared_ptr<std::string> inputText;

/// Puts the long-line printer above MLIR's own handler. Registered as a
/// dialect extension, it runs when the parser loads the xf or func dialect,
/// after MlirOptMain has set up its handler, so that it also sees the parse
/// errors that follow (and, from the pass pipeline's setup, the passes').
void installLongLineHandler(mlir::MLIRContext *context) {
  if (!inputText)
    return;
  context->getDiagEngine().registerHandler(
      [text = inputText](mlir::Diagnostic &diag) {
        return printLongLineDiagnostic(diag, *text);
      });
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
  // An input with a long line is parsed once up front with the long-line
  // printer on top, so that even an error before any of our dialects is
  // loaded shows an excerpt; MlirOptMain then parses it again.
  if (inputText && config.inputSplitMarker().empty() &&
      llvm::any_of(llvm::split(*inputText, '\n'), [](llvm::StringRef line) {
        return line.size() > kLongLine;
      })) {
    mlir::MLIRContext context(registry);
    context.allowUnregisteredDialects(config.shouldAllowUnregisteredDialects());
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(
                                     *inputText, input->getBufferIdentifier()),
                                 llvm::SMLoc());
    mlir::SourceMgrDiagnosticHandler fallback(sourceMgr, &context);
    mlir::ScopedDiagnosticHandler longLines(
        &context, [](mlir::Diagnostic &diag) {
          return printLongLineDiagnostic(diag, *inputText);
        });
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
