//===- ConfigImport.cpp - model config to xf translation ------------------===//

#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Options/CommandLineOptions.h"
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

bool ckpt::reportConfigDiagnostics(const config::ConfigParseResult &parsed,
                                   llvm::StringRef filename,
                                   MLIRContext *context) {
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
  return parsed.succeeded();
}

OwningOpRef<ModuleOp> ckpt::buildForwardGraph(const config::GPTConfig &config,
                                              llvm::StringRef filename,
                                              int64_t stage,
                                              MLIRContext *context) {
  context->loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = buildGPTForwardGraph(
      config, context, FileLineColLoc::get(context, filename, 1, 1), stage);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp>
ckpt::importModelConfig(llvm::StringRef text, llvm::StringRef filename,
                        const config::ConfigOverrides &overrides,
                        MLIRContext *context) {
  context->loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  config::ConfigParseResult parsed =
      config::parseGPTConfig({text.data(), text.size()}, overrides);
  if (!reportConfigDiagnostics(parsed, filename, context))
    return nullptr;
  return buildForwardGraph(*parsed.config, filename,
                           overrides.pipelineStage.value_or(0), context);
}

namespace {
/// The flags that override a config's fields (the option table's Import
/// rows), registered once for every tool that imports configs.
struct OverrideFlags {
  llvm::cl::OptionCategory category{"Model config import options"};
  options::CommandLineOptions flags{options::Import, category, category};
};

OverrideFlags &overrideFlags() {
  static OverrideFlags flags;
  return flags;
}
} // namespace

std::string ckpt::setConfigOverride(config::ConfigOverrides &overrides,
                                    const options::OptionSpec &spec,
                                    llvm::StringRef text) {
  if (std::string problem = options::checkValue(spec, text); !problem.empty())
    return problem;
  int64_t number = 0;
  (void)text.getAsInteger(10, number);
  switch (spec.id) {
  case options::OptionId::SeqLength:
    overrides.seqLength = number;
    break;
  case options::OptionId::MicroBatchSize:
    overrides.microBatchSize = number;
    break;
  case options::OptionId::TensorModelParallelSize:
    overrides.tensorParallelSize = number;
    break;
  case options::OptionId::PipelineModelParallelSize:
    overrides.pipelineParallelSize = number;
    break;
  case options::OptionId::VirtualPipelineModelParallelSize:
    overrides.virtualPipelineSize = number;
    break;
  case options::OptionId::NumMicrobatches:
    overrides.numMicroBatches = number;
    break;
  case options::OptionId::PipelineStage:
    overrides.pipelineStage = number;
    break;
  case options::OptionId::SequenceParallel:
    overrides.sequenceParallel = options::flagValue(text);
    break;
  case options::OptionId::Dtype:
    overrides.dtype = config::parseDType(text);
    break;
  case options::OptionId::AttentionBackend:
    overrides.attentionBackend = text.str();
    break;
  default:
    return "option " + spec.name.str() + " is not an override of the config";
  }
  return "";
}

std::string ckpt::parseConfigOverrideText(llvm::StringRef text,
                                          config::ConfigOverrides &overrides) {
  llvm::SmallVector<std::pair<llvm::StringRef, llvm::StringRef>> words;
  std::string error;
  if (!options::splitOptionText(text, words, error))
    return "overrides: " + error;
  for (auto [key, value] : words) {
    const options::OptionSpec *spec = options::findOption(key);
    if (!spec || !(spec->scopes & options::Import))
      return "overrides: unknown key '" + key.str() +
             "' (allowed: " + options::describeOptions(options::Import) + ")";
    if (std::string problem = setConfigOverride(overrides, *spec, value);
        !problem.empty())
      return "overrides: bad value '" + value.str() + "' for " + key.str() +
             ": " + problem;
  }
  return "";
}

void ckpt::registerConfigOverrideFlags() { (void)overrideFlags(); }

llvm::cl::OptionCategory &ckpt::configOverrideCategory() {
  return overrideFlags().category;
}

bool ckpt::readConfigOverrideFlags(llvm::StringRef tool,
                                   config::ConfigOverrides &overrides) {
  std::string problem = overrideFlags().flags.forEachGiven(
      [&](const options::OptionSpec &spec, llvm::StringRef text) {
        std::string problem = setConfigOverride(overrides, spec, text);
        // As llvm::cl words a flag's bad value.
        llvm::StringRef rest(problem);
        if (problem.empty() || !rest.consume_front(spec.name))
          return problem;
        return ("for the --" + spec.name + " option:" + rest).str();
      });
  if (problem.empty())
    return true;
  llvm::errs() << tool << ": " << problem << "\n";
  return false;
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
