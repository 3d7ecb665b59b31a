//===- Fusion.cpp - Adjacent element-wise work in one pass ----------------===//

#include "ckpt/runtime/Fusion.h"

#include <vector>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

/// Who reads each tensor, and where each is last read.
struct Readers {
  std::vector<int> count, last;
  explicit Readers(const Program &program)
      : count(program.tensors.size(), 0), last(program.tensors.size(), -1) {
    for (size_t i = 0; i < program.instructions.size(); ++i)
      for (int id : program.instructions[i].inputs) {
        ++count[id];
        last[id] = static_cast<int>(i);
      }
  }
};

/// Whether the executor frees `id` after its last reader: activations and
/// temporaries (gradients, the loss, parameters and inputs stay).
bool freedAfterLastUse(const Program &program, int id) {
  TensorRole role = program.tensors[id].role;
  return role == TensorRole::Activation || role == TensorRole::Temporary;
}

/// Whether `a` and `b` share no byte (tensors without a place in the arena
/// have their own allocations).
bool apart(const Program &program, int a, int b) {
  const TensorInfo &x = program.tensors[a], &y = program.tensors[b];
  if (x.offset < 0 || y.offset < 0)
    return true;
  return x.offset + program.arenaSize(x) <= y.offset ||
         y.offset + program.arenaSize(y) <= x.offset;
}

/// Whether `a` and `b` sit on exactly the same bytes, or on none in common.
bool sameOrApart(const Program &program, int a, int b) {
  const TensorInfo &x = program.tensors[a], &y = program.tensors[b];
  bool same = x.offset >= 0 && x.offset == y.offset &&
              program.arenaSize(x) == program.arenaSize(y);
  return same || apart(program, a, b);
}

/// dropout(x) -> (d, mask) then add(.., d ..) -> y.
bool fuseDropoutAdd(const Program &program, const Readers &readers,
                    const Instruction &drop, const Instruction &add,
                    Instruction &fused) {
  if (drop.op != "dropout" || add.op != "add" || drop.outputs.size() != 2)
    return false;
  int x = drop.inputs[0], d = drop.outputs[0], y = add.outputs[0];
  int lhs = add.inputs[0], rhs = add.inputs[1];
  if ((lhs == d) == (rhs == d)) // d is one operand, exactly.
    return false;
  int residual = lhs == d ? rhs : lhs;
  int i = readers.last[x];
  if (readers.count[d] != 1 || !freedAfterLastUse(program, d) ||
      !freedAfterLastUse(program, x))
    return false;
  // x must be last read by the dropout: its index is where `drop` sits.
  if (i < 0 || &program.instructions[i] != &drop)
    return false;
  // One pass reads x and writes y and the mask. A mask nobody reads (a
  // recompute region draws it again) is freed at once in the plan, and y
  // may take its bytes: then they cannot be written together.
  if (!sameOrApart(program, x, y) || !apart(program, y, drop.outputs[1]))
    return false;
  fused = drop;
  fused.op = "dropout_add";
  fused.inputs = {x, residual};
  fused.outputs = {y, drop.outputs[1]};
  return true;
}

/// linear(x, w, b) -> h then gelu(h) -> g.
bool fuseLinearGelu(const Program &program, const Readers &readers,
                    const Instruction &linear, const Instruction &gelu,
                    Instruction &fused) {
  if (linear.op != "linear" || gelu.op != "gelu" || linear.inputs.size() != 3 ||
      gelu.inputs[0] != linear.outputs[0])
    return false;
  int x = linear.inputs[0];
  // x alive after the linear: read again later, or never freed.
  if (freedAfterLastUse(program, x) &&
      &program.instructions[readers.last[x]] == &linear)
    return false;
  if (!apart(program, linear.outputs[0], gelu.outputs[0]))
    return false;
  fused = linear;
  fused.op = "linear_gelu";
  fused.outputs = {linear.outputs[0], gelu.outputs[0]};
  fused.attrs = gelu.attrs;
  return true;
}

} // namespace

Program ckpt::rt::fuseElementwise(const Program &program, int *fusions) {
  Program result = program;
  result.instructions.clear();
  Readers readers(program);
  int count = 0;
  const std::vector<Instruction> &code = program.instructions;
  for (size_t i = 0; i < code.size(); ++i) {
    Instruction fused;
    if (i + 1 < code.size() &&
        (fuseDropoutAdd(program, readers, code[i], code[i + 1], fused) ||
         fuseLinearGelu(program, readers, code[i], code[i + 1], fused))) {
      result.instructions.push_back(std::move(fused));
      ++count;
      ++i;
      continue;
    }
    result.instructions.push_back(code[i]);
  }
  if (fusions)
    *fusions = count;
  return result;
}
