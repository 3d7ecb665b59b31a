//===- ExecutorBackendTest.cpp - The executor through the backend seam ----===//
//
// The executor allocates only through its backend: a planned step takes one
// arena and, from the second step on, no new allocation at all. A whole step
// on the reference backend gives the CPU backend's loss and gradients.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ckpt::rt;

namespace {

std::unique_ptr<Backend> backendNamed(const std::string &name) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend(name, error);
  EXPECT_TRUE(backend) << error;
  return backend;
}

TEST(ExecutorBackendTest, ASecondStepAllocatesNothing) {
  Program program = loadProgram(CKPT_TINY_PLANNED_PROGRAM);
  ASSERT_GE(program.arenaBytes, 0);
  for (const std::string &name : availableBackends()) {
    std::unique_ptr<Backend> backend = backendNamed(name);
    ExecutorOptions options;
    options.backend = backend.get();
    Executor executor(program, options);
    executor.initParameters(1);
    executor.initInputs(2);
    int64_t beforeStep = backend->allocations();
    StepResult first = executor.run();
    EXPECT_TRUE(first.memory.arena) << name;
    EXPECT_EQ(first.memory.arenaBytes, program.arenaBytes) << name;
    EXPECT_EQ(first.memory.arenaPeakBytes, program.plannedPeakBytes) << name;
    EXPECT_GT(backend->allocations(), beforeStep) << name;
    int64_t afterFirst = backend->allocations();
    StepResult second = executor.run();
    EXPECT_EQ(backend->allocations(), afterFirst) << name;
    EXPECT_EQ(second.loss, first.loss) << name;
  }
}

TEST(ExecutorBackendTest, UnknownBackendsAreErrors) {
  std::string error;
  EXPECT_FALSE(createBackend("tpu", error));
  EXPECT_EQ(error, "unknown backend 'tpu' (this build has: cpu, reference)");
}

TEST(ExecutorBackendTest, TheReferenceBackendRunsTheSameStep) {
  Program program = loadProgram(CKPT_TINY_DROPOUT_PROGRAM);
  std::vector<std::vector<double>> grads[2];
  double loss[2];
  const char *names[2] = {"cpu", "reference"};
  for (int b = 0; b < 2; ++b) {
    std::unique_ptr<Backend> backend = backendNamed(names[b]);
    ExecutorOptions options;
    options.backend = backend.get();
    options.precision = Precision::F64;
    Executor executor(program, options);
    executor.initParameters(5);
    executor.initInputs(6);
    loss[b] = executor.run().loss;
    for (const GradientOutput &g : program.gradients)
      grads[b].push_back(executor.getTensor(g.gradient));
  }
  // Both compute in f64: they differ only in summation order.
  EXPECT_NEAR(loss[0], loss[1], 1e-12 * std::fabs(loss[1]));
  for (size_t i = 0; i < grads[0].size(); ++i) {
    double err = 0, scale = 1e-300;
    for (size_t e = 0; e < grads[0][i].size(); ++e) {
      err = std::max(err, std::fabs(grads[0][i][e] - grads[1][i][e]));
      scale = std::max(scale, std::fabs(grads[1][i][e]));
    }
    EXPECT_LE(err / scale, 1e-10)
        << program.tensors[program.gradients[i].gradient].name;
  }
}

} // namespace
