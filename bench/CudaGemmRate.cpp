//===- CudaGemmRate.cpp - The step's GEMM rate on the GPU against cuBLAS --===//
//
//   ckpt-cuda-gemm-rate PROGRAM [--repeat=N]
//
// Runs the program's step on the cuda backend with profiling (each
// instruction waited for) and sums the time of its matrix multiplies; then
// replays the same GEMM calls (shapes, transposes, one strided batch per
// call) straight into cublasGemmStridedBatchedEx in the program's element
// type with f32 sums, on warm buffers, each timed as the fastest of N.
// Both figures come from one run of this program; the ratio says how much
// of cuBLAS's own rate the runtime keeps on the same shapes.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Program.h"

#include "GemmCalls.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace ckpt::rt;
using ckpt::bench::Gemm;
using ckpt::bench::gemmsOf;

namespace {

[[noreturn]] void fail(const std::string &what) {
  std::fprintf(stderr, "ckpt-cuda-gemm-rate: %s\n", what.c_str());
  std::exit(1);
}

void check(cudaError_t status, const char *what) {
  if (status != cudaSuccess)
    fail(std::string(what) + ": " + cudaGetErrorString(status));
}

/// The element type of the program's first float matrix.
DType gemmType(const Program &program) {
  for (const Instruction &inst : program.instructions)
    if (inst.op == "linear")
      return program.tensors[inst.inputs[1]].dtype;
  return DType::F32;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    fail("usage: ckpt-cuda-gemm-rate PROGRAM [--repeat=N]");
  int repeat = 3;
  if (argc > 2 && std::string(argv[2]).rfind("--repeat=", 0) == 0)
    repeat = std::max(1, std::atoi(argv[2] + 9));
  Program program;
  try {
    program = loadProgram(argv[1]);
  } catch (const std::exception &e) {
    fail(e.what());
  }

  // 1. The runtime: the fastest profiled step on the GPU.
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cuda", error);
  if (!backend)
    fail(error);
  ckpt::bench::ProfiledGemms runtime =
      ckpt::bench::profileGemms(program, backend.get(), repeat);
  double runtimeSeconds = runtime.gemmSeconds,
         stepSeconds = runtime.stepSeconds;
  int64_t flops = runtime.gemmFlops;

  // 2. cuBLAS alone on the same calls.
  DType type = gemmType(program);
  cudaDataType_t cudaType = type == DType::BF16  ? CUDA_R_16BF
                            : type == DType::F16 ? CUDA_R_16F
                                                 : CUDA_R_32F;
  size_t element = dtypeSize(type);
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS)
    fail("cublasCreate failed");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  double blasSeconds = 0;
  float one = 1, zero = 0;
  for (const Instruction &inst : program.instructions)
    for (const Gemm &g : gemmsOf(program, inst)) {
      void *a, *b, *c;
      check(cudaMalloc(&a, g.count * g.m * g.k * element), "cudaMalloc");
      check(cudaMalloc(&b, g.count * g.k * g.n * element), "cudaMalloc");
      check(cudaMalloc(&c, g.count * g.m * g.n * element), "cudaMalloc");
      check(cudaMemset(a, 0, g.count * g.m * g.k * element), "cudaMemset");
      check(cudaMemset(b, 0, g.count * g.k * g.n * element), "cudaMemset");
      float fastest = 1e30f;
      for (int r = 0; r <= repeat; ++r) { // The first run warms up.
        check(cudaEventRecord(start), "cudaEventRecord");
        // Row-major C = op(A)·op(B) as column-major Cᵀ = op(B)ᵀ·op(A)ᵀ.
        cublasStatus_t status = cublasGemmStridedBatchedEx(
            handle, g.transB ? CUBLAS_OP_T : CUBLAS_OP_N,
            g.transA ? CUBLAS_OP_T : CUBLAS_OP_N, g.n, g.m, g.k, &one, b,
            cudaType, g.transB ? g.k : g.n, g.k * g.n, a, cudaType,
            g.transA ? g.m : g.k, g.m * g.k, &zero, c, cudaType, g.n, g.m * g.n,
            g.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (status != CUBLAS_STATUS_SUCCESS)
          fail("cublasGemmStridedBatchedEx failed");
        check(cudaEventRecord(stop), "cudaEventRecord");
        check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        if (r > 0)
          fastest = std::min(fastest, ms);
      }
      blasSeconds += fastest / 1e3;
      cudaFree(a);
      cudaFree(b);
      cudaFree(c);
    }
  cublasDestroy(handle);

  std::printf("program: %s (%s GEMMs)\n", argv[1], dtypeName(type));
  std::printf("step time: %.2f ms (profiled), of which matrix multiplies "
              "%.2f ms\n",
              stepSeconds * 1e3, runtimeSeconds * 1e3);
  std::printf("GEMM FLOPs per step: %lld\n", static_cast<long long>(flops));
  std::printf("runtime GEMM rate: %.1f TFLOP/s\n",
              flops / runtimeSeconds / 1e12);
  std::printf("cuBLAS alone, same calls: %.1f TFLOP/s\n",
              flops / blasSeconds / 1e12);
  std::printf("ratio (runtime / cuBLAS): %.3f\n", blasSeconds / runtimeSeconds);
  return 0;
}
