//===- Version.h - What --version prints ------------------------*- C++ -*-===//

#ifndef CKPT_SUPPORT_VERSION_H
#define CKPT_SUPPORT_VERSION_H

#include "llvm/ADT/StringRef.h"

namespace ckpt {
/// Makes --version print "TOOL VERSION (MLIR/LLVM X.Y.Z)" instead of LLVM's
/// own version text.
void setVersionPrinter(llvm::StringRef tool);
} // namespace ckpt

#endif // CKPT_SUPPORT_VERSION_H
