//===- Program.h - The runtime's program format -----------------*- C++ -*-===//
//
// A program is a training step lowered to a flat list of instructions over
// statically shaped tensors (JSON, schema in docs/program-format.md). It is
// produced by `ckpt-translate --mlir-to-program` and run by `ckpt-run`.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_PROGRAM_H
#define CKPT_RUNTIME_PROGRAM_H

#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/runtime/DType.h"

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace ckpt::rt {

/// The schema version this runtime reads and the tools write.
constexpr int kProgramVersion = ops::kProgramFormatVersion;

/// The roles of the program format (ckpt/OpTable/ProgramFormat.h).
using TensorRole = ops::TensorRole;
inline const char *roleName(TensorRole role) {
  return ops::tensorRoleName(role);
}

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  TensorRole role = TensorRole::Temporary;
  int64_t offset = -1; ///< Place in the arena (planned programs), or -1.

  int64_t numElements() const;
  int64_t bytes() const { return numElements() * dtypeSize(dtype); }
};

using AttrValue = ops::AttrValue;

struct Instruction {
  std::string op;
  std::vector<int> inputs;
  std::vector<int> outputs;
  ops::AttrMap attrs;
  std::string phase = "forward"; ///< forward, backward or recompute.
  int64_t layer = -1;            ///< -1 outside the transformer layers.
  std::string module;

  double getF64(const std::string &name) const;
  int64_t getI64(const std::string &name) const;
  bool getBool(const std::string &name, bool fallback = false) const;
  std::string getString(const std::string &name,
                        const std::string &fallback = "") const;
};

struct GradientOutput {
  int parameter = -1;
  int gradient = -1;
};

/// One micro-batch's inputs: tensor ids, or -1 where the stage reads none
/// (the tokens after the first stage, the labels before the last).
struct MicroBatchInputs {
  int tokens = -1;
  int labels = -1;
};

/// The pipeline stage a program is, and its schedule's size.
struct PipelineInfo {
  int64_t stage = 0;
  int64_t stages = 1;
  int64_t virtualStages = 1;
  int64_t microBatches = 1;
};

struct Program {
  int version = kProgramVersion;
  std::string function;
  std::map<std::string, std::string> model;
  /// The ranks the program was built for (one rank's graph of a
  /// tensor-parallel model); it must run on exactly that many.
  int64_t tensorParallelSize = 1;
  std::vector<TensorInfo> tensors;
  std::vector<Instruction> instructions;
  /// Micro-batch 0's tokens and labels (-1 where a stage has none).
  int tokens = -1;
  int labels = -1;
  /// The step's loss; -1 on a pipeline stage without the head.
  int loss = -1;
  /// Set for a pipelined step (several micro-batches or stages): its stage,
  /// and every micro-batch's inputs.
  std::optional<PipelineInfo> pipeline;
  std::vector<MicroBatchInputs> microBatchInputs;
  std::vector<GradientOutput> gradients;

  /// The memory plan, when the program has one (arenaBytes >= 0): the
  /// arena's size, the planned peak of live arena bytes, and the alignment
  /// every arena buffer's size is rounded up to.
  int64_t arenaBytes = -1;
  int64_t plannedPeakBytes = -1;
  int64_t alignment = 1;
  int64_t arenaSize(const TensorInfo &t) const {
    return ops::alignedBytes(t.bytes(), alignment);
  }

  std::vector<int> parameters() const; ///< Tensor ids, in order.
};

/// Every problem with a program file: where (a JSON path or an instruction)
/// and what is wrong.
class ProgramError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Parses and validates a program; throws ProgramError.
Program parseProgram(const std::string &text);
Program loadProgram(const std::string &path);
/// A program file, or a pipeline's file of one program per stage
/// (`{"format", "version", "stages": [program, ...]}`), stage i at i.
std::vector<Program> parsePrograms(const std::string &text);
std::vector<Program> loadPrograms(const std::string &path);

/// Checks ids, single assignment, definition before use, and every
/// instruction's arity, dtypes and shapes; throws ProgramError.
void validateProgram(const Program &program);

/// Instruction `inst` as the op table sees it: its tensors' shapes and
/// types, and its attributes.
ops::OpInstance describeInstruction(const Program &program,
                                    const Instruction &inst);

/// Writes `program` as JSON.
std::string serializeProgram(const Program &program);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_PROGRAM_H
