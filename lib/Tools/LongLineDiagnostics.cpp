//===- LongLineDiagnostics.cpp - Excerpts of very long source lines ------===//

#include "ckpt/Tools/LongLineDiagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace ckpt;

/// Prints a diagnostic located in a long line of `text` as
/// "file:line:col: error: message" with an excerpt around the column;
/// declines (failure) any other, which MLIR's handler then prints.
mlir::LogicalResult ckpt::printLongLineDiagnostic(mlir::Diagnostic &diag,
                                                  llvm::StringRef text) {
  auto loc = mlir::dyn_cast<mlir::FileLineColLoc>(diag.getLocation());
  if (!loc || loc.getLine() == 0)
    return mlir::failure();
  llvm::StringRef rest = text;
  for (unsigned line = 1; line < loc.getLine() && !rest.empty(); ++line)
    rest = rest.split('\n').second;
  llvm::StringRef sourceLine = rest.split('\n').first;
  size_t column = loc.getColumn() ? loc.getColumn() - 1 : 0;
  const char *kind =
      diag.getSeverity() == mlir::DiagnosticSeverity::Error     ? "error"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Warning ? "warning"
      : diag.getSeverity() == mlir::DiagnosticSeverity::Note    ? "note"
                                                                : "remark";
  // A pass's verdict on the whole module (an impossible budget, a report
  // that cannot be written) is located at the module, whose header line
  // (its model attributes) says nothing about it: no excerpt.
  if (column < sourceLine.size() &&
      sourceLine.substr(column).starts_with("module")) {
    llvm::errs() << loc.getFilename().getValue() << ":" << loc.getLine() << ":"
                 << loc.getColumn() << ": " << kind << ": " << diag.str()
                 << "\n";
    for (mlir::Diagnostic &note : diag.getNotes())
      if (failed(printLongLineDiagnostic(note, text)))
        llvm::errs() << note.getLocation() << ": note: " << note.str() << "\n";
    return mlir::success();
  }
  if (sourceLine.size() <= kLongLine)
    return mlir::failure();
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

bool ckpt::hasLongLineBeforeDialects(llvm::StringRef text) {
  for (llvm::StringRef line : llvm::split(text, '\n')) {
    llvm::StringRef op = line.ltrim(" \t").ltrim('"');
    if (op.starts_with("func.") || op.starts_with("xf."))
      return false;
    if (line.size() > kLongLine)
      return true;
  }
  return false;
}

void ckpt::installLongLineDiagnostics(mlir::MLIRContext *context,
                                      std::shared_ptr<const std::string> text) {
  context->getDiagEngine().registerHandler(
      [text, cache = std::make_shared<std::string>()](
          mlir::Diagnostic &diag) -> mlir::LogicalResult {
        if (text)
          return printLongLineDiagnostic(diag, *text);
        // The diagnostic's file, read once.
        auto loc = mlir::dyn_cast<mlir::FileLineColLoc>(diag.getLocation());
        if (!loc)
          return mlir::failure();
        if (cache->empty()) {
          auto buffer =
              llvm::MemoryBuffer::getFile(loc.getFilename().getValue());
          if (!buffer)
            return mlir::failure();
          *cache = (*buffer)->getBuffer().str();
        }
        return printLongLineDiagnostic(diag, *cache);
      });
}
