//===- AtomicOutput.h - Replace -o files only on success --------*- C++ -*-===//
//
// MLIR's tool drivers open the `-o` file before they run, so a failed run
// would destroy a file that was already there. These helpers point the
// driver at a temporary file beside the target and rename it over the target
// only when the driver succeeds.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_SUPPORT_ATOMICOUTPUT_H
#define CKPT_SUPPORT_ATOMICOUTPUT_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace ckpt {

/// Runs `driver` with `argv`, where a `-o FILE` / `-o=FILE` / `--o...`
/// argument naming a file (not "-") is redirected to a temporary file in the
/// same directory. When `driver` returns 0 the temporary replaces FILE;
/// otherwise it is removed and FILE is left as it was. Returns the driver's
/// exit code (1 if the temporary cannot be created or renamed).
int runWithAtomicOutput(int argc, char **argv,
                        llvm::function_ref<int(int, char **)> driver);

/// Writes `contents` to `path` through a temporary file in the same folder
/// and a rename, so `path` is either untouched or complete. Returns an error
/// message, or an empty string on success.
std::string writeFileAtomically(llvm::StringRef path, llvm::StringRef contents);

/// A byte count for people: "512 B", "43.99 KiB", "2.41 GiB".
std::string formatBytes(int64_t bytes);

} // namespace ckpt

#endif // CKPT_SUPPORT_ATOMICOUTPUT_H
