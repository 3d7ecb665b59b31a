//===- ImportBench.cpp - Import and parse speed of model graphs -----------===//
//
// Measures the two steps every ckpt-opt run pays for: turning a config into
// printed xf IR, and parsing + verifying that IR again.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Target/Config/ConfigImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <benchmark/benchmark.h>

using namespace mlir;

namespace {

std::string readExample(const char *name) {
  std::string path = std::string(CKPT_EXAMPLES_DIR) + "/" + name;
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    llvm::errs() << "cannot read " << path << "\n";
    std::exit(1);
  }
  return (*buffer)->getBuffer().str();
}

std::string importToText(MLIRContext &context, const std::string &config,
                         const char *name) {
  OwningOpRef<ModuleOp> module =
      ckpt::importModelConfig(config, name, {}, &context);
  if (!module) {
    llvm::errs() << "import of " << name << " failed\n";
    std::exit(1);
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

void importBenchmark(benchmark::State &state, const char *name) {
  std::string config = readExample(name);
  MLIRContext context;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = importToText(context, config, name);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["ir_bytes"] = static_cast<double>(bytes);
}

void parseVerifyBenchmark(benchmark::State &state, const char *name) {
  MLIRContext context;
  context.loadDialect<ckpt::xf::XFDialect, func::FuncDialect>();
  std::string text = importToText(context, readExample(name), name);
  for (auto _ : state) {
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(text, ParserConfig(&context));
    if (!module || failed(verify(*module)))
      state.SkipWithError("parse or verify failed");
    benchmark::DoNotOptimize(module.get());
  }
  state.counters["ir_bytes"] = static_cast<double>(text.size());
}

} // namespace

BENCHMARK_CAPTURE(importBenchmark, gpt3_175b_96_layers, "gpt3-175b.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(parseVerifyBenchmark, gpt3_175b_96_layers, "gpt3-175b.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(importBenchmark, megatron_1_3b_24_layers,
                  "megatron-gpt-1.3b.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(parseVerifyBenchmark, megatron_1_3b_24_layers,
                  "megatron-gpt-1.3b.json")
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
