//===- ConfigImport.cpp - model config to xf translation ------------------===//

#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Target/Config/GPTGraphBuilder.h"
#include "ckpt/Tools/LongLineDiagnostics.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

OwningOpRef<ModuleOp>
ckpt::importModelConfig(llvm::StringRef text, llvm::StringRef filename,
                        const config::ConfigOverrides &overrides,
                        MLIRContext *context) {
  context->loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  config::ConfigParseResult parsed =
      config::parseGPTConfig({text.data(), text.size()}, overrides);

  for (const config::ConfigDiagnostic &diag : parsed.diagnostics) {
    // A field's diagnostic points at its key; a document-wide one (or one
    // about an override) at the file's start.
    bool isFlag = !diag.path.empty() && diag.path[0] == '-';
    Location loc = FileLineColLoc::get(
        context, filename, std::max(diag.line, 1u), std::max(diag.column, 1u));
    std::string message = diag.path.empty() || isFlag
                              ? diag.message
                              : diag.path + ": " + diag.message;
    if (diag.kind == config::ConfigDiagnostic::Kind::Warning)
      emitWarning(loc) << message;
    else
      emitError(loc) << message;
  }
  if (!parsed.succeeded())
    return nullptr;

  OwningOpRef<ModuleOp> module = buildGPTForwardGraph(
      *parsed.config, context, FileLineColLoc::get(context, filename, 1, 1),
      overrides.pipelineStage.value_or(0));
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

namespace {
/// The flags that override a config's fields, registered once for every tool
/// that imports configs.
struct OverrideFlags {
  llvm::cl::OptionCategory category{"Model config import options"};
  llvm::cl::opt<std::string> seqLength{
      "seq-length",
      llvm::cl::desc("Sequence length (overrides the config's seq_length or "
                     "n_positions)"),
      llvm::cl::value_desc("n"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> microBatchSize{
      "micro-batch-size",
      llvm::cl::desc("Micro-batch size (overrides micro_batch_size; default "
                     "1)"),
      llvm::cl::value_desc("n"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> tensorParallel{
      "tensor-model-parallel-size",
      llvm::cl::desc("Build the graph of one of t tensor-parallel ranks "
                     "(overrides tensor_model_parallel_size)"),
      llvm::cl::value_desc("t"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> pipelineParallel{
      "pipeline-model-parallel-size",
      llvm::cl::desc("Split the layers over p pipeline stages (overrides "
                     "pipeline_model_parallel_size)"),
      llvm::cl::value_desc("p"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> virtualPipeline{
      "virtual-pipeline-model-parallel-size",
      llvm::cl::desc("Model chunks per stage, for the interleaved schedule "
                     "(overrides virtual_pipeline_model_parallel_size)"),
      llvm::cl::value_desc("v"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> microBatches{
      "num-microbatches",
      llvm::cl::desc("Micro-batches per step, their gradients accumulated "
                     "(overrides num_microbatches; default 1)"),
      llvm::cl::value_desc("m"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> pipelineStage{
      "pipeline-stage",
      llvm::cl::desc("The pipeline stage whose graph to build (default 0)"),
      llvm::cl::value_desc("i"), llvm::cl::cat(category)};
  llvm::cl::opt<bool> sequenceParallel{
      "sequence-parallel",
      llvm::cl::desc("With tensor parallelism, shard layer norm, dropout and "
                     "residual along the sequence (overrides "
                     "sequence_parallel)"),
      llvm::cl::cat(category)};
  llvm::cl::opt<std::string> dtype{
      "dtype",
      llvm::cl::desc("Element type of activations and parameters: f32, bf16 "
                     "or f16 (overrides params_dtype / bf16 / fp16 / "
                     "torch_dtype)"),
      llvm::cl::value_desc("type"), llvm::cl::cat(category)};
  llvm::cl::opt<std::string> attentionBackend{
      "attention-backend",
      llvm::cl::desc("Core attention: unfused (the s² probabilities are "
                     "kept) or flash (fused; they are recomputed in the "
                     "backward) (overrides attention_backend / "
                     "attn_implementation)"),
      llvm::cl::value_desc("kind"), llvm::cl::cat(category)};
};

OverrideFlags &overrideFlags() {
  static OverrideFlags flags;
  return flags;
}

/// Reads a size flag given as text; reports a bad value the way
/// llvm::cl reports its own errors.
bool readPositiveFlag(llvm::StringRef tool, llvm::cl::opt<std::string> &flag,
                      std::optional<int64_t> &out) {
  if (!flag.getNumOccurrences())
    return true;
  int64_t value = 0;
  if (llvm::StringRef(flag).getAsInteger(10, value) || value <= 0) {
    llvm::errs() << tool << ": for the --" << flag.ArgStr
                 << " option: must be a positive integer, got '" << flag
                 << "'\n";
    return false;
  }
  out = value;
  return true;
}
} // namespace

void ckpt::registerConfigOverrideFlags() { (void)overrideFlags(); }

llvm::cl::OptionCategory &ckpt::configOverrideCategory() {
  return overrideFlags().category;
}

bool ckpt::readConfigOverrideFlags(llvm::StringRef tool,
                                   config::ConfigOverrides &overrides) {
  OverrideFlags &flags = overrideFlags();
  if (!readPositiveFlag(tool, flags.seqLength, overrides.seqLength) ||
      !readPositiveFlag(tool, flags.microBatchSize, overrides.microBatchSize) ||
      !readPositiveFlag(tool, flags.tensorParallel,
                        overrides.tensorParallelSize) ||
      !readPositiveFlag(tool, flags.pipelineParallel,
                        overrides.pipelineParallelSize) ||
      !readPositiveFlag(tool, flags.virtualPipeline,
                        overrides.virtualPipelineSize) ||
      !readPositiveFlag(tool, flags.microBatches, overrides.numMicroBatches))
    return false;
  if (flags.pipelineStage.getNumOccurrences()) {
    int64_t stage = 0;
    if (llvm::StringRef(flags.pipelineStage).getAsInteger(10, stage) ||
        stage < 0) {
      llvm::errs() << tool
                   << ": for the --pipeline-stage option: must be a "
                      "non-negative integer, got '"
                   << flags.pipelineStage << "'\n";
      return false;
    }
    overrides.pipelineStage = stage;
  }
  if (flags.sequenceParallel.getNumOccurrences())
    overrides.sequenceParallel = flags.sequenceParallel;
  if (flags.dtype.getNumOccurrences()) {
    overrides.dtype = config::parseDType(flags.dtype.getValue());
    if (!overrides.dtype) {
      llvm::errs() << tool
                   << ": for the --dtype option: must be f32, bf16 or f16, "
                      "got '"
                   << flags.dtype << "'\n";
      return false;
    }
  }
  if (flags.attentionBackend.getNumOccurrences()) {
    llvm::StringRef kind = flags.attentionBackend.getValue();
    if (kind != "flash" && kind != "unfused") {
      llvm::errs() << tool
                   << ": for the --attention-backend option: must be flash "
                      "or unfused, got '"
                   << kind << "'\n";
      return false;
    }
    overrides.attentionBackend = kind.str();
  }
  return true;
}

void ckpt::registerConfigImportTranslation() {
  registerConfigOverrideFlags();
  TranslateToMLIRRegistration registration(
      "import-config",
      "Import a model config (Megatron TransformerConfig names or a "
      "Hugging Face config.json) as an xf forward graph",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        config::ConfigOverrides overrides;
        if (!readConfigOverrideFlags("ckpt-translate", overrides))
          return nullptr;
        OwningOpRef<ModuleOp> module = importModelConfig(
            buffer->getBuffer(), buffer->getBufferIdentifier(), overrides,
            context);
        if (!module)
          return nullptr;
        return OwningOpRef<Operation *>(module.release());
      },
      [](DialectRegistry &registry) {
        registry.insert<xf::XFDialect, CkptDialect, func::FuncDialect>();
        // Under ckpt-translate: excerpts of very long source lines, above
        // the translation's own handler (the dialect loads after it).
        registry.addExtension(+[](MLIRContext *context, xf::XFDialect *) {
          installLongLineDiagnostics(context);
        });
      });
}
