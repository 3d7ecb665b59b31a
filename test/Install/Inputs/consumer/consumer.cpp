//===- consumer.cpp - ckpt-opt used from another project ------------------===//
//
// Registers the dialects and passes, imports a model config, runs
// --xf-training-step and --ckpt-remat through a pass manager, then compiles
// the same config with the compiler library and runs the program on the
// CPU runtime. Prints what each step gives.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"
#include "ckpt/runtime/Executor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: consumer CONFIG.json\n";
    return 2;
  }
  auto file = llvm::MemoryBuffer::getFile(argv[1]);
  if (!file) {
    llvm::errs() << "cannot read " << argv[1] << "\n";
    return 1;
  }
  ckpt::registerCkptPasses();
  mlir::DialectRegistry registry;
  registry.insert<ckpt::xf::XFDialect, ckpt::CkptDialect,
                  mlir::func::FuncDialect>();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // The passes by their registered names, as mlir-opt would run them.
  mlir::OwningOpRef<mlir::ModuleOp> module =
      ckpt::importModelConfig((*file)->getBuffer(), argv[1], {}, &context);
  if (!module)
    return 1;
  auto pm = mlir::PassManager::on<mlir::ModuleOp>(&context);
  if (mlir::failed(mlir::parsePassPipeline(
          "xf-training-step,ckpt-remat{recompute-granularity=selective}",
          pm)) ||
      mlir::failed(pm.run(*module)))
    return 1;
  int regions = 0;
  module->walk([&](ckpt::RecomputeOp) { ++regions; });
  llvm::outs() << "passes: @train_step with " << regions
               << " recompute regions\n";

  // The compiler library, then the runtime.
  ckpt::CompileOptions options;
  options.remat.granularity = "selective";
  mlir::FailureOr<ckpt::CompileResult> compiled = ckpt::compileModelConfig(
      (*file)->getBuffer(), argv[1], {}, options, &context);
  if (mlir::failed(compiled))
    return 1;
  llvm::outs() << "pipeline: kept " << compiled->report.keptBytes
               << " bytes, planned peak " << compiled->plan.lowerBoundBytes
               << " bytes\n";
  ckpt::rt::Program program = ckpt::rt::parseProgram(compiled->program);
  ckpt::rt::Executor executor(program);
  executor.initParameters(1);
  executor.initInputs(1);
  ckpt::rt::StepResult step = executor.run();
  llvm::outs() << "runtime: loss " << step.loss << ", measured peak "
               << step.memory.arenaPeakBytes << " bytes\n";
  return step.memory.arenaPeakBytes == compiled->plan.lowerBoundBytes ? 0 : 1;
}
