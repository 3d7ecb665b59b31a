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

#include "GemmCalls.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace ckpt::rt;

namespace {
using ckpt::bench::Gemm;
using ckpt::bench::gemmsOf;

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
  ckpt::bench::ProfiledGemms runtime =
      ckpt::bench::profileGemms(program, nullptr, repeat);
  double runtimeSeconds = runtime.gemmSeconds;
  int64_t flops = runtime.gemmFlops;

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
              runtime.stepSeconds * 1e3, runtimeSeconds * 1e3);
  std::printf("GEMM FLOPs per step: %lld\n", static_cast<long long>(flops));
  std::printf("runtime GEMM rate: %.2f GFLOP/s\n",
              flops / runtimeSeconds / 1e9);
  std::printf("oneDNN alone, same calls: %.2f GFLOP/s\n",
              flops / blasSeconds / 1e9);
  std::printf("ratio (runtime / oneDNN): %.3f\n", blasSeconds / runtimeSeconds);
  return 0;
}
