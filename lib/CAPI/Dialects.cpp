//===- Dialects.cpp - Dialect handles and pass registration for C ---------===//

#include "ckpt-c/Dialects.h"

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/CAPI/Registration.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(XF, xf, ckpt::xf::XFDialect)
MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Ckpt, ckpt, ckpt::CkptDialect)

void ckptRegisterAllDialects(MlirDialectRegistry registry) {
  unwrap(registry)
      ->insert<ckpt::xf::XFDialect, ckpt::CkptDialect,
               mlir::func::FuncDialect>();
}

void ckptRegisterPasses(void) {
  // MLIR's registry rejects a second registration of a name.
  static bool registered = [] {
    ckpt::registerCkptPasses();
    ckpt::registerCompilePipeline();
    return true;
  }();
  (void)registered;
}
