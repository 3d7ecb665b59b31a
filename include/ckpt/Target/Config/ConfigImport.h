//===- ConfigImport.h - model config to xf translation ----------*- C++ -*-===//

#ifndef CKPT_TARGET_CONFIG_CONFIGIMPORT_H
#define CKPT_TARGET_CONFIG_CONFIGIMPORT_H

#include "ckpt/Target/Config/ModelConfig.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

namespace ckpt {

/// Parses the config in `text` (named `filename` in diagnostics), reports its
/// warnings and errors as MLIR diagnostics located at the offending field,
/// and builds the forward graph. Returns null after any error.
mlir::OwningOpRef<mlir::ModuleOp>
importModelConfig(llvm::StringRef text, llvm::StringRef filename,
                  const config::ConfigOverrides &overrides,
                  mlir::MLIRContext *context);

/// Registers `--import-config` (with `--seq-length`, `--micro-batch-size` and
/// `--dtype`) with mlir-translate's registry.
void registerConfigImportTranslation();

} // namespace ckpt

#endif // CKPT_TARGET_CONFIG_CONFIGIMPORT_H
