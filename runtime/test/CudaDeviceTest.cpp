//===- CudaDeviceTest.cpp - What only a GPU can show ----------------------===//
//
// Built into ckpt-cuda-tests (label `cuda`) beside the conformance and
// executor tests, which there run against the GPU: the device memory a
// planned step takes, read from the driver, is the arena and the
// parameters, inputs and gradients the executor reports, and no more grows
// during later steps.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"

#include "TestedBackends.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdio>

using namespace ckpt::rt;

namespace {

int64_t deviceBytesInUse() {
  size_t free = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  return static_cast<int64_t>(total - free);
}

TEST(CudaDeviceTest, ThereIsADevice) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cuda", error);
  ASSERT_TRUE(backend) << error;
  int device = -1;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  cudaDeviceProp props{};
  ASSERT_EQ(cudaGetDeviceProperties(&props, device), cudaSuccess);
  std::printf("device %d: %s, %d multiprocessors, %.1f GiB\n", device,
              props.name, props.multiProcessorCount,
              static_cast<double>(props.totalGlobalMem) / (1 << 30));
}

TEST(CudaDeviceTest, TheStepTakesThePlannedMemoryFromTheDevice) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend("cuda", error);
  ASSERT_TRUE(backend) << error;
  Program program = loadProgram(testProgram(CKPT_TINY_PLANNED_PROGRAM));
  int64_t before = deviceBytesInUse();
  ExecutorOptions options;
  options.backend = backend.get();
  Executor executor(program, options);
  executor.initParameters(1);
  executor.initInputs(2);
  StepResult first = executor.run();
  int64_t afterFirst = deviceBytesInUse();
  ASSERT_TRUE(first.memory.arena);
  EXPECT_EQ(first.memory.arenaBytes, program.arenaBytes);
  EXPECT_EQ(first.memory.arenaPeakBytes, program.plannedPeakBytes);
  int64_t expected = first.memory.arenaBytes + first.memory.parameterBytes +
                     first.memory.gradientBytes;
  int64_t grown = afterFirst - before;
  std::printf("device memory: %lld bytes taken by the step; arena %lld, "
              "parameters and inputs %lld, gradients %lld\n",
              static_cast<long long>(grown),
              static_cast<long long>(first.memory.arenaBytes),
              static_cast<long long>(first.memory.parameterBytes),
              static_cast<long long>(first.memory.gradientBytes));
  // The driver hands out memory in pages of up to 2 MiB per allocation.
  EXPECT_GE(grown, expected);
  EXPECT_LE(grown, expected + backend->allocations() * (2 << 20) + (64 << 20));
  int64_t allocations = backend->allocations();
  for (int i = 0; i < 3; ++i)
    executor.run();
  EXPECT_EQ(backend->allocations(), allocations);
  EXPECT_EQ(deviceBytesInUse(), afterFirst);
}

} // namespace
