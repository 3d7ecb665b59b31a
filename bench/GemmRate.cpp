//===- GemmRate.cpp - The step's GEMM rate against oneDNN alone -----------===//
//
//   ckpt-gemm-rate PROGRAM [--repeat=N]
//
// Runs the program's step with profiling and sums the time of its matrix
// multiplies; then replays the same GEMM calls (shapes, transposes, batch
// counts) straight into oneDNN's sgemm, the library the CPU backend uses for
// f32, on warm buffers. The ratio says how much of the library's own rate
// the runtime achieves on the same shapes. Both figures
// come from one run of this program.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Program.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace ckpt::rt;

namespace {
struct Gemm {
  bool transA, transB;
  int64_t m, n, k, count;
};

/// The GEMM calls the CPU executor makes for one instruction.
std::vector<Gemm> gemmsOf(const Program &program, const Instruction &inst) {
  auto shape = [&](int id) { return program.tensors[id].shape; };
  auto rows = [&](int id) {
    return program.tensors[id].numElements() / shape(id).back();
  };
  const std::string &op = inst.op;
  if (op == "linear") {
    auto w = shape(inst.inputs[1]);
    return {{false, true, rows(inst.inputs[0]), w[0], w[1], 1}};
  }
  if (op == "linear_grad_input") {
    auto w = shape(inst.inputs[1]);
    return {{false, false, rows(inst.inputs[0]), w[1], w[0], 1}};
  }
  if (op == "linear_grad_weight") {
    auto w = shape(inst.outputs[0]);
    return {{true, false, w[0], w[1], rows(inst.inputs[1]), 1}};
  }
  auto q = shape(inst.inputs[0]), o = shape(inst.inputs[1]);
  int64_t batches = q[0] * q[1];
  if (op == "attention_scores")
    return {{false, true, q[2], o[2], q[3], batches}};
  if (op == "attention_scores_grad")
    return {{false, false, q[2], q[3], o[2], batches},
            {true, false, o[2], q[3], q[2], batches}};
  if (op == "attention_context")
    return {{false, false, q[2], o[3], q[3], batches}};
  if (op == "attention_context_grad")
    return {{false, true, q[2], q[3], o[3], batches},
            {true, false, q[3], o[3], q[2], batches}};
  return {};
}

double seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ckpt-gemm-rate PROGRAM [--repeat=N]\n");
    return 2;
  }
  int repeat = 3;
  if (argc > 2 && std::string(argv[2]).rfind("--repeat=", 0) == 0)
    repeat = std::max(1, std::atoi(argv[2] + 9));
  Program program = loadProgram(argv[1]);

  // 1. The runtime: fastest profiled step.
  ExecutorOptions options;
  options.profile = true;
  Executor executor(program, options);
  executor.initParameters(1);
  executor.initInputs(2);
  StepResult best = executor.run();
  for (int i = 1; i < repeat; ++i) {
    StepResult again = executor.run();
    if (again.seconds < best.seconds)
      best = again;
  }
  double runtimeSeconds = 0;
  int64_t flops = 0;
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    int64_t f = instructionCost(program, program.instructions[i]).matmulFlops;
    if (f) {
      runtimeSeconds += best.instructionSeconds[i];
      flops += f;
    }
  }

  // 2. oneDNN alone on the same calls, each timed as the fastest of
  // `repeat` runs on warm buffers.
  double blasSeconds = 0;
  for (const Instruction &inst : program.instructions)
    for (const Gemm &g : gemmsOf(program, inst)) {
      std::vector<float> a(g.m * g.k, 0.5f), b(g.k * g.n, 0.25f), c(g.m * g.n);
      double fastest = 1e30;
      for (int r = 0; r < repeat; ++r) {
        auto start = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < g.count; ++i)
          dnnl_sgemm(g.transA ? 'T' : 'N', g.transB ? 'T' : 'N', g.m, g.n, g.k,
                     1.0f, a.data(), g.transA ? g.m : g.k, b.data(),
                     g.transB ? g.k : g.n, 0.0f, c.data(), g.n);
        fastest = std::min(fastest, seconds(start));
      }
      blasSeconds += fastest;
    }

  std::printf("program: %s\n", argv[1]);
  std::printf("step time: %.1f ms, of which matrix multiplies %.1f ms\n",
              best.seconds * 1e3, runtimeSeconds * 1e3);
  std::printf("GEMM FLOPs per step: %lld\n", static_cast<long long>(flops));
  std::printf("runtime GEMM rate: %.2f GFLOP/s\n",
              flops / runtimeSeconds / 1e9);
  std::printf("oneDNN alone, same calls: %.2f GFLOP/s\n",
              flops / blasSeconds / 1e9);
  std::printf("ratio (runtime / oneDNN): %.3f\n", blasSeconds / runtimeSeconds);
  return 0;
}
