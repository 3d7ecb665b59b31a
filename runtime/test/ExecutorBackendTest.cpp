//===- ExecutorBackendTest.cpp - The executor through the backend seam ----===//
//
// The executor allocates only through its backend: a planned step takes one
// arena and, from the second step on, no new allocation at all. A whole step
// on the reference backend gives the CPU backend's loss and gradients.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Executor.h"

#include "TestedBackends.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

using namespace ckpt::rt;

namespace {

std::unique_ptr<Backend> backendNamed(const std::string &name) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend(name, error);
  EXPECT_TRUE(backend) << error;
  return backend;
}

TEST(ExecutorBackendTest, ASecondStepAllocatesNothing) {
  Program program = loadProgram(testProgram(CKPT_TINY_PLANNED_PROGRAM));
  ASSERT_GE(program.arenaBytes, 0);
  for (const std::string &name : testedBackends()) {
    std::unique_ptr<Backend> backend = backendNamed(name);
    ASSERT_TRUE(backend) << name;
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
  std::string list;
  for (const std::string &name : availableBackends())
    list += (list.empty() ? "" : ", ") + name;
  EXPECT_EQ(error, "unknown backend 'tpu' (this build has: " + list + ")");
  EXPECT_EQ(availableBackends().front(), "cpu");
}

TEST(ExecutorBackendTest, TheReferenceBackendRunsTheSameStep) {
  Program program = loadProgram(testProgram(CKPT_TINY_DROPOUT_PROGRAM));
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

/// Loss and gradients of one step of `program` on `backend`.
struct Step {
  double loss = 0;
  std::vector<std::vector<unsigned char>> bits;
  std::vector<std::vector<double>> grads;
};
Step runStep(const Program &program, const std::string &backendName,
             Precision precision, int repeats = 1) {
  std::unique_ptr<Backend> backend = backendNamed(backendName);
  if (!backend)
    throw std::runtime_error("no backend " + backendName);
  ExecutorOptions options;
  options.backend = backend.get();
  options.precision = precision;
  Executor executor(program, options);
  executor.initParameters(5);
  executor.initInputs(6);
  Step step;
  for (int r = 0; r < repeats; ++r)
    step.loss = executor.run().loss;
  for (const GradientOutput &g : program.gradients) {
    step.grads.push_back(executor.getTensor(g.gradient));
    step.bits.push_back(executor.rawTensor(g.gradient));
  }
  return step;
}

/// max |got - want| over max |want|, over every gradient.
double worstRelativeError(const Step &got, const Step &want) {
  double worst = 0;
  for (size_t i = 0; i < want.grads.size(); ++i) {
    double err = 0, scale = 1e-300;
    for (size_t e = 0; e < want.grads[i].size(); ++e) {
      err = std::max(err, std::fabs(got.grads[i][e] - want.grads[i][e]));
      scale = std::max(scale, std::fabs(want.grads[i][e]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

// Every bundled model family (GPT with and without dropout, planned, gated,
// LLaMA with and without flash attention, Qwen2, MoE and Mixtral) on every
// tested backend against the CPU: the same loss and gradients up to
// summation order in f64, within f32 rounding in the program's precision,
// and the same bits when a step runs again.
TEST(ExecutorBackendTest, EveryBackendRunsTheBundledModelsAsTheCpuDoes) {
  const char *programs[] = {
      CKPT_TINY_DROPOUT_PROGRAM, CKPT_TINY_PLANNED_PROGRAM,
      CKPT_TINY_GATED_PROGRAM,   CKPT_TINY_LLAMA_PROGRAM,
      CKPT_TINY_QWEN2_PROGRAM,   CKPT_TINY_MOE_PROGRAM,
      CKPT_TINY_MIXTRAL_PROGRAM, CKPT_TINY_LLAMA_FLASH_PROGRAM};
  for (const std::string &name : testedBackends()) {
    if (name == "cpu")
      continue;
    for (const char *path : programs) {
      Program program = loadProgram(testProgram(path));
      std::string where = name + " on " + path;
      Step want = runStep(program, "cpu", Precision::F64);
      Step got = runStep(program, name, Precision::F64);
      EXPECT_NEAR(got.loss, want.loss, 1e-10 * std::fabs(want.loss)) << where;
      EXPECT_LE(worstRelativeError(got, want), 1e-9) << where;

      Step want32 = runStep(program, "cpu", Precision::Program);
      Step got32 = runStep(program, name, Precision::Program);
      double err32 = worstRelativeError(got32, want32);
      std::printf("%s: f32 gradients within %.3g of the cpu's\n", where.c_str(),
                  err32);
      EXPECT_NEAR(got32.loss, want32.loss, 1e-5 * std::fabs(want32.loss))
          << where;
      EXPECT_LE(err32, 1e-3) << where;
      Step again = runStep(program, name, Precision::Program, 2);
      EXPECT_EQ(again.bits, got32.bits) << where << ": a second step differs";
    }
  }
}

} // namespace
