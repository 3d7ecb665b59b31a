//===- Validate.cpp - Checks that a program can run -----------------------===//
//
// The runtime trusts nothing in a program file: every id, every dtype and
// every shape relation of every instruction is checked before anything runs,
// so a corrupt file is an error message, never a crash. What an op requires
// is the op table's (the same rules the compiler's verifiers apply).
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Program.h"

#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Planner/OffsetAssignment.h"

#include <algorithm>
#include <map>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

/// Checks one instruction: everything the op table says about its op, then
/// what is particular to this runtime (collectives over the program's own
/// ranks, split along the first dimension).
void checkInstruction(const Program &program, const Instruction &inst,
                      size_t index) {
  auto fail = [&](const std::string &message) {
    throw ProgramError("/instructions/" + std::to_string(index) + " ('" +
                       inst.op + "'): " + message);
  };
  const ops::OpDef *def = ops::lookupOp(inst.op);
  if (!def)
    fail("unknown op (this runtime knows the ops of the op table: the xf ops, "
         "their gradients and the ckpt collectives)");
  if (std::string error =
          ops::verifyOp(*def, describeInstruction(program, inst));
      !error.empty())
    fail(error);
  if (def->opClass == ops::OpClass::PointToPoint) {
    // A transfer meets a stage of the same pipeline, never its own.
    int64_t peer = inst.getI64("stage");
    if (!program.pipeline)
      fail("a transfer between pipeline stages in a program that is no "
           "pipeline stage (it has no \"pipeline\" entry)");
    if (peer >= program.pipeline->stages || peer == program.pipeline->stage)
      fail("stage " + std::to_string(peer) + " is not another stage of the " +
           std::to_string(program.pipeline->stages) +
           "-stage pipeline (this is stage " +
           std::to_string(program.pipeline->stage) + ")");
    return;
  }
  // A vocabulary split over the tensor-parallel group: each rank's share is
  // found from its place in the group, so the group must be the program's.
  if (def->attr("vocab_shards")) {
    int64_t shards = ops::readVocabShards(inst.attrs);
    if (shards > 1 && shards != program.tensorParallelSize)
      fail("vocab_shards " + std::to_string(shards) +
           " differs from the program's tensor_parallel_size " +
           std::to_string(program.tensorParallelSize) +
           " (the vocabulary is split over the tensor-parallel group)");
  }
  if (def->opClass != ops::OpClass::Collective)
    return;
  int64_t size = inst.getI64("size");
  if (size != program.tensorParallelSize)
    fail("group size " + std::to_string(size) +
         " differs from the program's tensor_parallel_size " +
         std::to_string(program.tensorParallelSize));
  if (def->attr("dim") && inst.getI64("dim") != 0)
    fail("only dim = 0 is supported (this runtime splits and joins along the "
         "first dimension, where the pieces are contiguous)");
}

/// The arena: every planned tensor inside it, aligned, and no two tensors
/// live at the same time (over the instruction list) overlapping.
void validatePlan(const Program &program) {
  bool planned = program.arenaBytes >= 0;
  std::vector<int64_t> first(program.tensors.size(), -1),
      last(program.tensors.size(), -1);
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    for (int id : program.instructions[i].outputs) {
      first[id] = static_cast<int64_t>(i);
      last[id] = std::max<int64_t>(last[id], i);
    }
    for (int id : program.instructions[i].inputs)
      last[id] = std::max<int64_t>(last[id], i);
  }
  struct Placed {
    int64_t start, end, offset, size;
    int id;
  };
  std::vector<Placed> placed;
  for (size_t id = 0; id < program.tensors.size(); ++id) {
    const TensorInfo &t = program.tensors[id];
    std::string where =
        "/tensors/" + std::to_string(id) + " ('" + t.name + "')";
    bool inArena =
        t.role == TensorRole::Activation || t.role == TensorRole::Temporary;
    if (!planned) {
      if (t.offset >= 0)
        throw ProgramError(where + ": has an offset but the program has no "
                                   "memory_plan");
      continue;
    }
    if (!inArena) {
      if (t.offset >= 0)
        throw ProgramError(where + ": a " + roleName(t.role) +
                           " lives outside the arena and takes no offset");
      continue;
    }
    int64_t size = program.arenaSize(t);
    if (t.offset < 0 || t.offset % program.alignment != 0 ||
        t.offset + size > program.arenaBytes)
      throw ProgramError(where + ": offset " + std::to_string(t.offset) +
                         " (+" + std::to_string(size) +
                         " bytes) is not an aligned place inside the arena "
                         "of " +
                         std::to_string(program.arenaBytes) + " bytes");
    placed.push_back(
        {first[id], last[id] + 1, t.offset, size, static_cast<int>(id)});
  }
  // An arena larger than its tensors reach would be allocated for nothing
  // (or fail to allocate): it must be what the plan needs.
  int64_t reach = 0;
  for (const Placed &p : placed)
    reach = std::max(reach, p.offset + p.size);
  if (planned && program.arenaBytes > reach)
    throw ProgramError(
        "/memory_plan/arena_bytes: " + std::to_string(program.arenaBytes) +
        " is more than its tensors reach (" + std::to_string(reach) +
        " bytes)");
  if (planned && (program.plannedPeakBytes < 0 ||
                  program.plannedPeakBytes > program.arenaBytes))
    throw ProgramError(
        "/memory_plan/peak_bytes: " + std::to_string(program.plannedPeakBytes) +
        " must lie in [0, arena_bytes = " + std::to_string(program.arenaBytes) +
        "]");
  std::vector<planner::Buffer> buffers;
  std::vector<int64_t> offsets;
  for (const Placed &p : placed) {
    buffers.push_back({p.start, p.end, p.size});
    offsets.push_back(p.offset);
  }
  if (auto clash = planner::findConflict(buffers, offsets))
    throw ProgramError("/memory_plan: tensors '" +
                       program.tensors[placed[clash->first].id].name +
                       "' and '" +
                       program.tensors[placed[clash->second].id].name +
                       "' are live at the same time and overlap in the "
                       "arena");
}
} // namespace

void ckpt::rt::validateProgram(const Program &program) {
  size_t count = program.tensors.size();
  // Names identify tensors in files (--dump-grads, --params): unique.
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < count; ++i) {
    auto [previous, fresh] = names.emplace(program.tensors[i].name, i);
    if (!fresh)
      throw ProgramError("/tensors/" + std::to_string(i) + "/name: '" +
                         program.tensors[i].name +
                         "' is also the name of "
                         "/tensors/" +
                         std::to_string(previous->second) +
                         "; tensor names must be unique");
  }
  std::vector<bool> defined(count, false);
  for (size_t i = 0; i < count; ++i) {
    TensorRole role = program.tensors[i].role;
    defined[i] = role == TensorRole::Input || role == TensorRole::Parameter;
  }
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    const Instruction &inst = program.instructions[i];
    auto expect = [&](bool condition, const std::string &message) {
      if (!condition)
        throw ProgramError("/instructions/" + std::to_string(i) + " ('" +
                           inst.op + "'): " + message);
    };
    expect(inst.phase == "forward" || inst.phase == "backward" ||
               inst.phase == "recompute",
           "phase must be forward, backward or recompute");
    for (int id : inst.inputs)
      expect(defined[id], "reads tensor " + std::to_string(id) + " ('" +
                              program.tensors[id].name +
                              "') before any instruction writes it");
    checkInstruction(program, inst, i);
    for (int id : inst.outputs) {
      expect(!defined[id], "writes tensor " + std::to_string(id) + " ('" +
                               program.tensors[id].name +
                               "') that is already defined");
      defined[id] = true;
    }
  }
  auto expectRole = [&](int id, TensorRole role, const std::string &what) {
    if (program.tensors[id].role != role)
      throw ProgramError(what + ": tensor " + std::to_string(id) +
                         " has role " + roleName(program.tensors[id].role) +
                         ", expected " + roleName(role));
    if (!defined[id])
      throw ProgramError(what + ": tensor " + std::to_string(id) +
                         " is never written");
  };
  validatePlan(program);
  if (program.pipeline) {
    for (size_t j = 0; j < program.microBatchInputs.size(); ++j) {
      std::string path = "/inputs/micro_batches/" + std::to_string(j);
      const MicroBatchInputs &in = program.microBatchInputs[j];
      if (in.tokens >= 0)
        expectRole(in.tokens, TensorRole::Input, path + "/tokens");
      if (in.labels >= 0)
        expectRole(in.labels, TensorRole::Input, path + "/labels");
    }
    if (program.loss >= 0)
      expectRole(program.loss, TensorRole::Loss, "/outputs/loss");
  } else {
    expectRole(program.tokens, TensorRole::Input, "/inputs/tokens");
    expectRole(program.labels, TensorRole::Input, "/inputs/labels");
    expectRole(program.loss, TensorRole::Loss, "/outputs/loss");
  }
  for (const GradientOutput &g : program.gradients) {
    expectRole(g.parameter, TensorRole::Parameter, "/outputs/gradients");
    expectRole(g.gradient, TensorRole::Gradient, "/outputs/gradients");
    if (program.tensors[g.parameter].shape != program.tensors[g.gradient].shape)
      throw ProgramError("/outputs/gradients: the gradient of '" +
                         program.tensors[g.parameter].name +
                         "' has another shape than the parameter");
  }
}
