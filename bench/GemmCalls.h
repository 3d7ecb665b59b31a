//===- GemmCalls.h - The GEMM calls of a program's step ---------*- C++ -*-===//
//
// The matrix multiplies each instruction of a program makes, as row-major
// calls: what the GEMM-rate benchmarks replay straight into the libraries
// (oneDNN for the CPU, cuBLAS for the GPU).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_BENCH_GEMMCALLS_H
#define CKPT_BENCH_GEMMCALLS_H

#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Program.h"

#include <vector>

namespace ckpt::bench {

using rt::Instruction;
using rt::Program;

struct Gemm {
  bool transA, transB;
  int64_t m, n, k, count;
};

/// The GEMM calls of one instruction: `count` products of op(A) m×k by
/// op(B) k×n (one per attention head).
inline std::vector<Gemm> gemmsOf(const Program &program,
                                 const Instruction &inst) {
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

/// The fastest of `repeat` profiled steps of `program` on `backend` (null:
/// the CPU): its time, and the time and FLOPs of its matrix multiplies.
struct ProfiledGemms {
  double stepSeconds = 0, gemmSeconds = 0;
  int64_t gemmFlops = 0;
};
inline ProfiledGemms profileGemms(const Program &program, rt::Backend *backend,
                                  int repeat) {
  rt::ExecutorOptions options;
  options.profile = true;
  options.backend = backend;
  // Unfused, so that a GEMM instruction's time is the product's alone
  // (linear_gelu would add its GeLU pass).
  options.fuse = false;
  rt::Executor executor(program, options);
  executor.initParameters(1);
  executor.initInputs(2);
  rt::StepResult best = executor.run();
  for (int i = 1; i < repeat; ++i) {
    rt::StepResult again = executor.run();
    if (again.seconds < best.seconds)
      best = again;
  }
  ProfiledGemms result;
  result.stepSeconds = best.seconds;
  const Program &ran = executor.program();
  for (size_t i = 0; i < ran.instructions.size(); ++i) {
    int64_t flops = rt::instructionCost(ran, ran.instructions[i]).matmulFlops;
    if (flops) {
      result.gemmSeconds += best.instructionSeconds[i];
      result.gemmFlops += flops;
    }
  }
  return result;
}

} // namespace ckpt::bench

#endif // CKPT_BENCH_GEMMCALLS_H
