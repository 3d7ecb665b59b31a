//===- ProgramFormat.h - The contract of a program file ---------*- C++ -*-===//
//
// The compiler writes program files (ckpt-translate --mlir-to-program) and
// the runtime reads them (docs/program-format.md); both take the format's
// name and version from here.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_PROGRAMFORMAT_H
#define CKPT_OPTABLE_PROGRAMFORMAT_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::ops {

/// The value of a program file's "format" field.
constexpr const char *kProgramFormatName = "ckpt-program";
/// The schema version the tools write and the runtime reads.
constexpr int kProgramFormatVersion = 3;

/// What a tensor is to the training step: a program tensor's "role", and
/// the step graph's classification of its tensors.
enum class TensorRole : uint8_t {
  Input,      ///< Token ids or labels.
  Parameter,  ///< A model weight.
  Gradient,   ///< A parameter's gradient, an output of the step.
  Loss,       ///< The loss, an output of the step.
  Activation, ///< Computed in the forward, kept for the backward.
  Temporary,  ///< Everything else.
};
/// "input", "parameter", ... as program files spell them.
const char *tensorRoleName(TensorRole role);
std::optional<TensorRole> parseTensorRole(std::string_view name);

/// An arena buffer's size: `bytes` rounded up to the plan's `alignment`
/// (the planner places and the runtime measures buffers of this size).
constexpr int64_t alignedBytes(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

/// The name of the profile files `ckpt-run --profile=FILE` writes and the
/// memory-budget solver reads (`cost=profile:FILE`).
constexpr const char *kProfileFormatName = "ckpt-profile";

/// "op(2x3;3)->(2x3)": an op kind with the shapes of its operands and
/// results, the key a profile times ops by.
std::string profileKey(std::string_view op,
                       const std::vector<std::vector<int64_t>> &inputs,
                       const std::vector<std::vector<int64_t>> &outputs);

} // namespace ckpt::ops

#endif // CKPT_OPTABLE_PROGRAMFORMAT_H
