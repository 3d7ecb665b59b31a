//===- Version.h - What --version prints ------------------------*- C++ -*-===//

#ifndef CKPT_SUPPORT_VERSION_H
#define CKPT_SUPPORT_VERSION_H

#include "llvm/ADT/StringRef.h"

namespace ckpt {
/// Makes --version print "TOOL VERSION (MLIR/LLVM X.Y.Z)" instead of LLVM's
/// own version text.
void setVersionPrinter(llvm::StringRef tool);

/// Hides from --help every option registered so far (LLVM's code-generation
/// options, which libLLVM registers when it loads) except --help, --version
/// and their kin; call before registering the tool's own. The options still
/// work, and --help-hidden lists them.
void hideLibraryOptions();
} // namespace ckpt

#endif // CKPT_SUPPORT_VERSION_H
