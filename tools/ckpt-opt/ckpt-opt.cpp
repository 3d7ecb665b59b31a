//===- ckpt-opt.cpp - The ckpt-opt driver ---------------------------------===//
//
// mlir-opt with the ckpt-opt dialects and passes registered, plus MLIR's
// generic transforms (canonicalize, cse, print-op-stats, ...).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Pipeline/Pipeline.h"
#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Support/Version.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  ckpt::setVersionPrinter("ckpt-opt");
  ckpt::hideLibraryOptions();
  mlir::registerTransformsPasses();
  ckpt::registerCkptPasses();
  ckpt::registerCompilePipeline();

  mlir::DialectRegistry registry;
  registry.insert<ckpt::xf::XFDialect, ckpt::CkptDialect,
                  mlir::arith::ArithDialect, mlir::func::FuncDialect>();

  return ckpt::runWithAtomicOutput(argc, argv, [&](int n, char **args) {
    return mlir::asMainReturnCode(mlir::MlirOptMain(
        n, args, "ckpt-opt: activation checkpointing compiler driver\n",
        registry));
  });
}
