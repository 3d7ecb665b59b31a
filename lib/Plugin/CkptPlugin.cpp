//===- CkptPlugin.cpp - The xf and ckpt dialects and passes for mlir-opt --===//
//
// One shared object that upstream mlir-opt loads twice over:
//   mlir-opt --load-dialect-plugin=CkptPlugin.so \
//            --load-pass-plugin=CkptPlugin.so ...
// The first call registers the dialects, the second the passes. The library
// is built from object files and leaves MLIR's symbols to the host (Debian's
// mlir-opt-19 links MLIR statically and exports it): loading libMLIR.so
// beside it would make two MLIRs whose type identities differ.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "ckpt-opt", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            registry->insert<ckpt::xf::XFDialect, ckpt::CkptDialect>();
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "ckpt-opt", LLVM_VERSION_STRING,
          []() { ckpt::registerCkptPasses(); }};
}
