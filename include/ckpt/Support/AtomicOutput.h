//===- AtomicOutput.h - Replace -o files only on success --------*- C++ -*-===//
//
// MLIR's tool drivers open the `-o` file before they run, so a failed run
// would destroy a file that was already there. These helpers point the
// driver at a staged output (ckpt/Output/OutputFiles.h: a temporary renamed
// over a regular file, a device or FIFO written in place, "-" standard
// output) and move it into place only when the driver succeeds.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_SUPPORT_ATOMICOUTPUT_H
#define CKPT_SUPPORT_ATOMICOUTPUT_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace ckpt {

/// Runs `driver` with `argv`, where a `-o FILE` / `-o=FILE` / `--o...`
/// argument naming a file (not "-") is redirected to a staged output. Every
/// writeFileAtomically() during the run joins the same set. When `driver`
/// returns 0 the set is committed; otherwise no output changes. Returns the
/// driver's exit code (1 if an output cannot be staged or committed).
int runWithAtomicOutput(int argc, char **argv,
                        llvm::function_ref<int(int, char **)> driver);

/// Writes `contents` to `path` (see ckpt/Output/OutputFiles.h), or stages it
/// in the running tool's outputs (runWithAtomicOutput). Returns an error
/// message, or an empty string on success.
std::string writeFileAtomically(llvm::StringRef path, llvm::StringRef contents);

/// A byte count for people: "512 B", "43.99 KiB", "2.41 GiB".
std::string formatBytes(int64_t bytes);

} // namespace ckpt

#endif // CKPT_SUPPORT_ATOMICOUTPUT_H
