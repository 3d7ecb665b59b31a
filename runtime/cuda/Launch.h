//===- Launch.h - How the CUDA ops run their loops --------------*- C++ -*-===//
//
// Two ways to run a kernel body, chosen when the op code is compiled:
// - forEach(n, f): f(i) for every i < n, one GPU thread each;
// - forEachRow(rows, f): f(row, lanes) with one block of kRowLanes threads
//   per row; the lanes stride over the row and combine with laneSum and
//   laneMax, which every lane must reach.
// Under CKPT_DEVICE_EMULATION both are plain loops on the host, one lane per
// row. Block sums add in a fixed order, so results repeat bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CUDA_LAUNCH_H
#define CKPT_RUNTIME_CUDA_LAUNCH_H

#include "ckpt/runtime/HostDevice.h"

#include <cmath>
#include <cstdint>
#include <string>

namespace ckpt::rt::device {

struct Lanes {
  int lane = 0;
  int count = 1;
};

#if defined(CKPT_DEVICE_EMULATION)

#define CKPT_KERNEL_LAMBDA [=]

template <typename F> void forEach(int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i)
    f(i);
}

template <typename F> void forEachRow(int64_t rows, F f) {
  for (int64_t r = 0; r < rows; ++r)
    f(r, Lanes{0, 1});
}

template <typename R> R laneSum(R value) { return value; }
template <typename R> R laneMax(R value) { return value; }

#else // The GPU.

#define CKPT_KERNEL_LAMBDA [=] __host__ __device__

/// Throws RuntimeError naming `what` when the last launch failed.
void checkLaunch(const char *what);

constexpr int kEachThreads = 256;
constexpr int kRowLanes = 256;

template <typename F> __global__ void eachKernel(int64_t n, F f) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n)
    f(i);
}

template <typename F> void forEach(int64_t n, F f) {
  if (n <= 0)
    return;
  int64_t blocks = (n + kEachThreads - 1) / kEachThreads;
  eachKernel<<<static_cast<unsigned>(blocks), kEachThreads>>>(n, f);
  checkLaunch("forEach");
}

template <typename F> __global__ void rowKernel(F f) {
  f(static_cast<int64_t>(blockIdx.x),
    Lanes{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)});
}

template <typename F> void forEachRow(int64_t rows, F f) {
  if (rows <= 0)
    return;
  rowKernel<<<static_cast<unsigned>(rows), kRowLanes>>>(f);
  checkLaunch("forEachRow");
}

/// Combines one value per lane: a butterfly within each warp, then every
/// lane adds the warps' results in warp order (the same order on every
/// lane and every run).
template <typename R, typename Op> __device__ R laneReduce(R value, Op op) {
  __shared__ double partial[kRowLanes / 32];
  for (int offset = 16; offset > 0; offset /= 2)
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  __syncthreads(); // Earlier reductions have read `partial`.
  if (threadIdx.x % 32 == 0)
    partial[threadIdx.x / 32] = static_cast<double>(value);
  __syncthreads();
  R result = static_cast<R>(partial[0]);
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w)
    result = op(result, static_cast<R>(partial[w]));
  return result;
}

template <typename R> __device__ R laneSum(R value) {
  return laneReduce(value, [](R a, R b) { return a + b; });
}
template <typename R> __device__ R laneMax(R value) {
  return laneReduce(value, [](R a, R b) { return a > b ? a : b; });
}

#endif

} // namespace ckpt::rt::device

#endif // CKPT_RUNTIME_CUDA_LAUNCH_H
