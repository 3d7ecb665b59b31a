//===- ckpt-translate.cpp - The ckpt-translate driver ---------------------===//
//
// mlir-translate with the ckpt-opt translations: model configs to xf graphs
// (and, as they come, xf graphs to runtime programs).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Support/Version.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Target/Program/ProgramExport.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  ckpt::setVersionPrinter("ckpt-translate");
  ckpt::hideLibraryOptions();
  ckpt::registerConfigImportTranslation();
  ckpt::registerProgramExportTranslation();
  return ckpt::runWithAtomicOutput(argc, argv, [](int n, char **args) {
    return mlir::failed(mlir::mlirTranslateMain(
               n, args, "ckpt-translate: ckpt-opt translations\n"))
               ? 1
               : 0;
  });
}
