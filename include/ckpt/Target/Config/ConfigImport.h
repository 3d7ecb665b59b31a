//===- ConfigImport.h - model config to xf translation ----------*- C++ -*-===//

#ifndef CKPT_TARGET_CONFIG_CONFIGIMPORT_H
#define CKPT_TARGET_CONFIG_CONFIGIMPORT_H

#include "ckpt/Options/OptionTable.h"
#include "ckpt/Target/Config/ModelConfig.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"

namespace ckpt {

/// Parses the config in `text` (named `filename` in diagnostics), reports its
/// warnings and errors as MLIR diagnostics located at the offending field,
/// and builds the forward graph. Returns null after any error.
mlir::OwningOpRef<mlir::ModuleOp>
importModelConfig(llvm::StringRef text, llvm::StringRef filename,
                  const config::ConfigOverrides &overrides,
                  mlir::MLIRContext *context);

/// Reports `parsed`'s warnings and errors as diagnostics of `context`,
/// located at their fields of the file `filename`; whether it succeeded.
bool reportConfigDiagnostics(const config::ConfigParseResult &parsed,
                             llvm::StringRef filename,
                             mlir::MLIRContext *context);
/// The verified forward graph of pipeline stage `stage` of a parsed
/// config (importModelConfig without the parsing); null after an error.
mlir::OwningOpRef<mlir::ModuleOp>
buildForwardGraph(const config::GPTConfig &config, llvm::StringRef filename,
                  int64_t stage, mlir::MLIRContext *context);

/// Registers `--import-config` (with the override flags) with
/// mlir-translate's registry.
void registerConfigImportTranslation();

/// Sets the override of option `spec` (the option table's Import rows:
/// seq-length, micro-batch-size, the parallel sizes, num-microbatches,
/// pipeline-stage, sequence-parallel, dtype, attention-backend) from `text`;
/// "" on success, else the table's words for what is wrong.
std::string setConfigOverride(config::ConfigOverrides &overrides,
                              const options::OptionSpec &spec,
                              llvm::StringRef text);
/// Overrides from "key=value" words (the C API's); "" on success, else
/// "overrides: ..." naming the key and what is allowed.
std::string parseConfigOverrideText(llvm::StringRef text,
                                    config::ConfigOverrides &overrides);

/// Registers the flags that override a config's fields (the option table's
/// Import rows) with llvm::cl; call before parsing the command line.
void registerConfigOverrideFlags();
/// Their llvm::cl category (to show them in a tool's --help).
llvm::cl::OptionCategory &configOverrideCategory();
/// Reads those flags into `overrides`; prints the problem (prefixed with
/// `tool`) and returns false for a bad value.
bool readConfigOverrideFlags(llvm::StringRef tool,
                             config::ConfigOverrides &overrides);

} // namespace ckpt

#endif // CKPT_TARGET_CONFIG_CONFIGIMPORT_H
