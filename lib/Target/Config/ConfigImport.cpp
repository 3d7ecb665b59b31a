//===- ConfigImport.cpp - model config to xf translation ------------------===//

#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Target/Config/GPTGraphBuilder.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace ckpt;

OwningOpRef<ModuleOp>
ckpt::importModelConfig(llvm::StringRef text, llvm::StringRef filename,
                        const config::ConfigOverrides &overrides,
                        MLIRContext *context) {
  context->loadDialect<xf::XFDialect, func::FuncDialect>();
  config::ConfigParseResult parsed =
      config::parseGPTConfig({text.data(), text.size()}, overrides);

  for (const config::ConfigDiagnostic &diag : parsed.diagnostics) {
    Location loc = diag.line > 0
                       ? Location(FileLineColLoc::get(context, filename,
                                                      diag.line, diag.column))
                       : Location(FileLineColLoc::get(context, filename, 0, 0));
    std::string message =
        diag.path.empty() ? diag.message : diag.path + ": " + diag.message;
    if (diag.kind == config::ConfigDiagnostic::Kind::Warning)
      emitWarning(loc) << message;
    else
      emitError(loc) << message;
  }
  if (!parsed.succeeded())
    return nullptr;

  OwningOpRef<ModuleOp> module = buildGPTForwardGraph(
      *parsed.config, context, FileLineColLoc::get(context, filename, 1, 1));
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void ckpt::registerConfigImportTranslation() {
  static llvm::cl::OptionCategory category("Model config import options");
  static llvm::cl::opt<int64_t> seqLength(
      "seq-length",
      llvm::cl::desc("Sequence length (overrides the config's seq_length or "
                     "n_positions)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<int64_t> microBatchSize(
      "micro-batch-size",
      llvm::cl::desc("Micro-batch size (overrides micro_batch_size; default "
                     "1)"),
      llvm::cl::cat(category));
  static llvm::cl::opt<config::DType> dtype(
      "dtype",
      llvm::cl::desc("Element type of activations and parameters (overrides "
                     "params_dtype / bf16 / fp16 / torch_dtype)"),
      llvm::cl::values(clEnumValN(config::DType::F32, "f32", "32-bit float"),
                       clEnumValN(config::DType::BF16, "bf16", "bfloat16"),
                       clEnumValN(config::DType::F16, "f16", "IEEE half")),
      llvm::cl::cat(category));

  TranslateToMLIRRegistration registration(
      "import-config",
      "Import a GPT model config (Megatron TransformerConfig names or a "
      "Hugging Face GPT-2 config.json) as an xf forward graph",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        config::ConfigOverrides overrides;
        if (seqLength.getNumOccurrences())
          overrides.seqLength = seqLength;
        if (microBatchSize.getNumOccurrences())
          overrides.microBatchSize = microBatchSize;
        if (dtype.getNumOccurrences())
          overrides.dtype = dtype;
        OwningOpRef<ModuleOp> module =
            importModelConfig(buffer->getBuffer(),
                              buffer->getBufferIdentifier(), overrides, context);
        if (!module)
          return nullptr;
        return OwningOpRef<Operation *>(module.release());
      },
      [](DialectRegistry &registry) {
        registry.insert<xf::XFDialect, func::FuncDialect>();
      });
}
