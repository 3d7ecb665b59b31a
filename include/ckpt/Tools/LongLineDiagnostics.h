//===- LongLineDiagnostics.h - Excerpts of very long source lines -*- C++
//-*-===//
//
// MLIR's source-manager handler prints a diagnostic's whole source line
// under it; a printed step's first line holds the whole module signature,
// and a malformed input can be one line of megabytes. The tools install
// this handler above MLIR's: a diagnostic located in a line longer than
// kLongLine characters is printed with an excerpt around its column.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_TOOLS_LONGLINEDIAGNOSTICS_H
#define CKPT_TOOLS_LONGLINEDIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"

#include <memory>
#include <string>

namespace ckpt {

constexpr size_t kLongLine = 512;

/// Prints `diag` as "file:line:col: error: message" with an excerpt when it
/// is located in a line of `text` longer than kLongLine (its message cut
/// too when long); declines (failure) any other diagnostic.
mlir::LogicalResult printLongLineDiagnostic(mlir::Diagnostic &diag,
                                            llvm::StringRef text);

/// Registers the printer on `context`, above the handlers registered so far.
/// The source is `text` when given, else the diagnostic's file, read when a
/// diagnostic needs it.
void installLongLineDiagnostics(mlir::MLIRContext *context,
                                std::shared_ptr<const std::string> text = {});

/// Whether `text` has a line longer than kLongLine before (above) the first
/// line that opens an op of the func or xf dialect. Parsing that op loads
/// its dialect, which installs the long-line printer (a dialect extension);
/// only a long line above it can give a diagnostic that the printer misses.
bool hasLongLineBeforeDialects(llvm::StringRef text);

} // namespace ckpt

#endif // CKPT_TOOLS_LONGLINEDIAGNOSTICS_H
