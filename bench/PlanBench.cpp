//===- PlanBench.cpp - Speed of remat + memory planning -------------------===//
//
// Plans the training step of GPT-3 175B-shaped models (h = 12288, a = 96,
// s = 2048) with 12, 96 and 1000 layers, under each policy: the time of
// --ckpt-remat + --ckpt-plan-memory on an already built training step.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/MLIRContext.h"

#include <benchmark/benchmark.h>

using namespace mlir;
using namespace ckpt;

namespace {

OwningOpRef<ModuleOp> buildStep(MLIRContext &context, int64_t layers) {
  context.loadDialect<CkptDialect>();
  std::string config = "{\"num_layers\": " + std::to_string(layers) +
                       ", \"hidden_size\": 12288, \"num_attention_heads\": 96, "
                       "\"seq_length\": 2048, \"padded_vocab_size\": 51200, "
                       "\"bf16\": true}";
  OwningOpRef<ModuleOp> module =
      importModelConfig(config, "bench.json", {}, &context);
  auto forward = module->lookupSymbol<func::FuncOp>("forward");
  if (failed(buildTrainingStep(forward, "train_step")))
    std::abort();
  return module;
}

MegatronPolicy policyNamed(int index) {
  MegatronPolicy p;
  switch (index) {
  case 0:
    break;
  case 1:
    p.granularity = RecomputeGranularity::Selective;
    break;
  case 2:
    p.granularity = RecomputeGranularity::Full;
    p.method = RecomputeMethod::Uniform;
    p.numLayers = 1;
    break;
  case 3:
    p.granularity = RecomputeGranularity::Full;
    p.method = RecomputeMethod::Block;
    p.numLayers = 1;
    break;
  }
  return p;
}

void planBenchmark(benchmark::State &state) {
  MLIRContext context;
  int64_t layers = state.range(0);
  OwningOpRef<ModuleOp> module = buildStep(context, layers);
  MegatronPolicy policy = policyNamed(state.range(1));
  state.SetLabel(policy.describe());
  double fragmentation = 0, tensors = 0;
  for (auto _ : state) {
    state.PauseTiming();
    OwningOpRef<ModuleOp> copy = module->clone();
    auto step = copy->lookupSymbol<func::FuncOp>("train_step");
    state.ResumeTiming();
    FailureOr<RematResult> remat = applyRemat(step, policy);
    if (failed(remat))
      state.SkipWithError("remat failed");
    PlanOptions options;
    options.seconds = 0.2;
    MemoryPlan plan = planMemory(*remat->graph, options);
    fragmentation = plan.fragmentation();
    tensors = static_cast<double>(plan.tensors.size());
  }
  state.counters["fragmentation"] = fragmentation;
  state.counters["tensors"] = tensors;
}

/// Building the step graph alone (what every analysis starts from).
void stepGraphBenchmark(benchmark::State &state) {
  MLIRContext context;
  OwningOpRef<ModuleOp> module = buildStep(context, state.range(0));
  auto step = module->lookupSymbol<func::FuncOp>("train_step");
  double nodes = 0;
  for (auto _ : state) {
    FailureOr<StepGraph> graph = StepGraph::build(step);
    if (failed(graph))
      state.SkipWithError("graph failed");
    nodes = static_cast<double>(graph->nodes.size());
  }
  state.counters["nodes"] = nodes;
}

} // namespace

BENCHMARK(stepGraphBenchmark)
    ->Arg(96)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);

BENCHMARK(planBenchmark)
    ->ArgsProduct({{12, 96, 1000}, {0, 1, 2, 3}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);

BENCHMARK_MAIN();
