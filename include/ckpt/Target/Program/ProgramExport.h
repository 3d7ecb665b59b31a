//===- ProgramExport.h - Lower a training step to a program -----*- C++ -*-===//

#ifndef CKPT_TARGET_PROGRAM_PROGRAMEXPORT_H
#define CKPT_TARGET_PROGRAM_PROGRAMEXPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace ckpt {

/// Writes the function `functionName` of `module` (a training step) as a
/// runtime program (JSON, docs/program-format.md). Emits a diagnostic and
/// fails on anything the runtime cannot run.
mlir::LogicalResult exportProgram(mlir::ModuleOp module,
                                  llvm::StringRef functionName,
                                  llvm::raw_ostream &os);

/// Registers `--mlir-to-program` with mlir-translate's registry.
void registerProgramExportTranslation();

} // namespace ckpt

#endif // CKPT_TARGET_PROGRAM_PROGRAMEXPORT_H
