//===- Compiler.cpp - The compiler library behind a stable C API ----------===//
//
// Each call compiles in a context of its own, collects the diagnostics as
// text instead of printing them, and copies every output into the result.
//
//===----------------------------------------------------------------------===//

#include "ckpt-c/Compiler.h"

#include "ckpt-c/Dialects.h"
#include "ckpt/Compiler/Compiler.h"
#include "ckpt/Options/OptionTable.h"
#include "ckpt/Output/OutputFiles.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Target/Config/ConfigImport.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <new>
#include <optional>

using namespace mlir;

struct CkptCompileResult {
  bool succeeded = false;
  std::string messages, program, reportJson, reportTable, module, placementPlan;
  /// The compile's plan and its timeline's title; the SVG is drawn on the
  /// first ckptResultTimelineSvg call (drawing a long schedule costs as
  /// much as compiling it).
  ckpt::MemoryPlan plan;
  std::string timelineTitle;
  mutable std::optional<std::string> timelineSvg;
  /// What the passes of an in-memory run wrote, by path.
  std::map<std::string, std::string> outputs;
};

namespace {

/// "name:line:column" of the innermost file location, or "" without one.
std::string describe(Location loc) {
  std::string text;
  loc->walk([&](Location inner) {
    if (auto file = dyn_cast<FileLineColLoc>(inner)) {
      text = (file.getFilename().str() + ":" + llvm::Twine(file.getLine()) +
              ":" + llvm::Twine(file.getColumn()))
                 .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return text;
}

const char *severity(DiagnosticSeverity kind) {
  switch (kind) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Note:
    return "note";
  case DiagnosticSeverity::Remark:
    return "remark";
  }
  return "error";
}
} // namespace

const char *ckptVersion(void) { return CKPT_VERSION; }

namespace {
/// What both entry points share: the overrides parsed, a context of its own
/// whose diagnostics become the result's messages, then `body`.
CkptCompileResult *
withContext(const char *config, const char *overrides,
            llvm::function_ref<void(MLIRContext &,
                                    const ckpt::config::ConfigOverrides &,
                                    CkptCompileResult &, llvm::raw_ostream &)>
                body) {
  auto *result = new (std::nothrow) CkptCompileResult();
  if (!result)
    return nullptr;
  llvm::raw_string_ostream messages(result->messages);
  if (!config) {
    messages << "error: no config text (NULL)\n";
    return result;
  }
  ckpt::config::ConfigOverrides parsed;
  if (std::string error =
          ckpt::parseConfigOverrideText(overrides ? overrides : "", parsed);
      !error.empty()) {
    messages << "error: " << error << "\n";
    return result;
  }
  MLIRContext context;
  context.disableMultithreading();
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    std::string where = describe(diag.getLocation());
    if (!where.empty())
      messages << where << ": ";
    messages << severity(diag.getSeverity()) << ": " << diag << "\n";
    return success();
  });
  body(context, parsed, *result, messages);
  return result;
}

llvm::StringRef nameOr(const char *name) {
  return name && *name ? name : "config.json";
}
} // namespace

const char *ckptOptionTable(void) {
  static const std::string table = [] {
    std::string text;
    llvm::raw_string_ostream json(text);
    static const char *const kinds[] = {"text",    "file", "bytes", "choice",
                                        "integer", "real", "flag",  "list"};
    json << "[";
    bool first = true;
    static const char *const scopes[] = {
        "remat",  "compile",          "tool",   "plan-memory", "verify-plan",
        "report", "compare-policies", "pareto", "import"};
    for (const ckpt::options::OptionSpec &spec : ckpt::options::allOptions()) {
      json << (first ? "" : ",") << "\n {\"name\": \"" << spec.name
           << "\", \"kind\": \"" << kinds[static_cast<int>(spec.kind)]
           << "\", \"default\": \"" << spec.defaultValue
           << "\", \"choices\": [";
      for (auto [i, choice] : llvm::enumerate(spec.choiceList()))
        json << (i ? ", " : "") << "\"" << choice << "\"";
      json << "], \"help\": \"";
      for (char c : spec.help) // Help is plain text: escape JSON's two.
        json << (c == '"' || c == '\\' ? "\\" : "") << c;
      json << "\", \"chooses_policy\": "
           << (spec.choosesPolicy ? "true" : "false") << ", \"scopes\": [";
      bool firstScope = true;
      for (auto [bit, scope] : llvm::enumerate(scopes))
        if (spec.scopes & (1u << bit)) {
          json << (firstScope ? "" : ", ") << "\"" << scope << "\"";
          firstScope = false;
        }
      json << "]}";
      first = false;
    }
    json << "\n]\n";
    return text;
  }();
  return table.c_str();
}

CkptCompileResult *ckptCompile(const char *config, size_t length,
                               const char *name, const char *policy,
                               const char *overrides) {
  return withContext(
      config, overrides,
      [&](MLIRContext &context, const auto &parsed, CkptCompileResult &result,
          llvm::raw_ostream &messages) {
        llvm::StringRef policyText = policy ? policy : "";
        ckpt::CompileOptions options;
        if (policyText.trim().empty()) {
          options.policyFromConfig = true;
        } else {
          FailureOr<ckpt::CompileOptions> fromText = ckpt::parseCompileOptions(
              policyText, [&](const llvm::Twine &text) {
                messages << "error: policy: " << text << "\n";
                return failure();
              });
          if (failed(fromText))
            return;
          options = *fromText;
        }
        FailureOr<ckpt::CompileResult> compiled =
            ckpt::compileModelConfig(llvm::StringRef(config, length),
                                     nameOr(name), parsed, options, &context);
        if (failed(compiled))
          return;
        result.succeeded = true;
        result.program = std::move(compiled->program);
        result.reportJson = std::move(compiled->reportJson);
        result.reportTable = std::move(compiled->reportTable);
        result.plan = std::move(compiled->plan);
        result.timelineTitle = std::move(compiled->timelineTitle);
        if (!compiled->placements.empty())
          result.placementPlan =
              ckpt::plan::formatPlanFile(compiled->placements);
        llvm::raw_string_ostream module(result.module);
        compiled->module->print(module);
      });
}

namespace {
CkptCompileResult *runPasses(const char *config, size_t length,
                             const char *name, const char *passes,
                             const char *overrides) {
  return withContext(
      config, overrides,
      [&](MLIRContext &context, const auto &parsed, CkptCompileResult &result,
          llvm::raw_ostream &messages) {
        OwningOpRef<ModuleOp> module = ckpt::importModelConfig(
            llvm::StringRef(config, length), nameOr(name), parsed, &context);
        if (!module)
          return;
        ckptRegisterPasses();
        auto pm = PassManager::on<ModuleOp>(&context);
        std::string parseErrors;
        llvm::raw_string_ostream parseStream(parseErrors);
        if (failed(parsePassPipeline(passes ? passes : "", pm, parseStream))) {
          messages << "error: passes: " << parseErrors << "\n";
          return;
        }
        if (failed(pm.run(*module)))
          return;
        result.succeeded = true;
        llvm::raw_string_ostream text(result.module);
        module->print(text);
      });
}
} // namespace

CkptCompileResult *ckptRunPasses(const char *config, size_t length,
                                 const char *name, const char *passes,
                                 const char *overrides) {
  return runPasses(config, length, name, passes, overrides);
}

CkptCompileResult *ckptRunPassesInMemory(const char *config, size_t length,
                                         const char *name, const char *passes,
                                         const char *overrides) {
  ckpt::output::CapturedOutputs captured;
  CkptCompileResult *result;
  {
    ckpt::output::ScopedCapture capture(captured);
    result = runPasses(config, length, name, passes, overrides);
  }
  if (result && result->succeeded)
    result->outputs = captured.take();
  return result;
}

const char *ckptResultOutput(const CkptCompileResult *result,
                             const char *path) {
  if (!result || !path)
    return nullptr;
  auto it = result->outputs.find(path);
  return it == result->outputs.end() ? nullptr : it->second.c_str();
}

bool ckptResultSucceeded(const CkptCompileResult *result) {
  return result && result->succeeded;
}

#define CKPT_RESULT_STRING(FN, FIELD)                                          \
  const char *FN(const CkptCompileResult *result) {                            \
    return result ? result->FIELD.c_str() : "";                                \
  }
CKPT_RESULT_STRING(ckptResultMessages, messages)
CKPT_RESULT_STRING(ckptResultProgram, program)
CKPT_RESULT_STRING(ckptResultReportJson, reportJson)
CKPT_RESULT_STRING(ckptResultReportTable, reportTable)
CKPT_RESULT_STRING(ckptResultPlacementPlan, placementPlan)
CKPT_RESULT_STRING(ckptResultModule, module)
#undef CKPT_RESULT_STRING

const char *ckptResultTimelineSvg(const CkptCompileResult *result) {
  if (!result)
    return "";
  if (!result->timelineSvg)
    result->timelineSvg =
        result->timelineTitle.empty()
            ? std::string()
            : ckpt::renderTimelineSvg(result->plan, result->timelineTitle);
  return result->timelineSvg->c_str();
}

void ckptResultDestroy(CkptCompileResult *result) { delete result; }
