//===- Validate.cpp - Checks that a program can run -----------------------===//
//
// The runtime trusts nothing in a program file: every id, every dtype and
// every shape relation of every instruction is checked before anything runs,
// so a corrupt file is an error message, never a crash.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Program.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

using namespace ckpt::rt;

namespace {

using Shape = std::vector<int64_t>;

std::string format(const Shape &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

/// Checks one instruction; `expect` throws with the instruction's position.
class InstructionChecker {
public:
  InstructionChecker(const Program &program, const Instruction &inst,
                     size_t index)
      : program(program), inst(inst), index(index) {}

  [[noreturn]] void fail(const std::string &message) const {
    throw ProgramError("/instructions/" + std::to_string(index) + " ('" +
                       inst.op + "'): " + message);
  }
  void expect(bool condition, const std::string &message) const {
    if (!condition)
      fail(message);
  }

  void arity(size_t inputs, size_t outputs) const {
    expect(inst.inputs.size() == inputs && inst.outputs.size() == outputs,
           "expects " + std::to_string(inputs) + " inputs and " +
               std::to_string(outputs) + " outputs, has " +
               std::to_string(inst.inputs.size()) + " and " +
               std::to_string(inst.outputs.size()));
  }

  const TensorInfo &in(size_t i) const {
    return program.tensors[inst.inputs[i]];
  }
  const TensorInfo &out(size_t i) const {
    return program.tensors[inst.outputs[i]];
  }
  const Shape &inShape(size_t i) const { return in(i).shape; }
  const Shape &outShape(size_t i) const { return out(i).shape; }

  void shapeIs(const TensorInfo &t, const Shape &expected,
               const std::string &what) const {
    expect(t.shape == expected, what + " has shape " + format(t.shape) +
                                    ", expected " + format(expected));
  }
  void rank(const TensorInfo &t, size_t r, const std::string &what) const {
    expect(t.shape.size() == r, what + " must have rank " + std::to_string(r) +
                                    ", has shape " + format(t.shape));
  }
  void floatType(const TensorInfo &t, const std::string &what) const {
    expect(isFloat(t.dtype),
           what + " must be a float tensor, is " + dtypeName(t.dtype));
  }
  void indexType(const TensorInfo &t, const std::string &what) const {
    expect(t.dtype == DType::I32 || t.dtype == DType::I64,
           what + " must be i32 or i64, is " + dtypeName(t.dtype));
  }
  void maskType(const TensorInfo &t, const std::string &what) const {
    expect(t.dtype == DType::I1,
           what + " must be i1, is " + dtypeName(t.dtype));
  }
  /// All float tensors among inputs and outputs share one dtype.
  void sameFloatDType(bool skipFirstOutput = false) const {
    std::optional<DType> seen;
    auto visit = [&](const TensorInfo &t) {
      if (!isFloat(t.dtype))
        return;
      if (!seen)
        seen = t.dtype;
      expect(*seen == t.dtype, std::string("mixes float dtypes ") +
                                   dtypeName(*seen) + " and " +
                                   dtypeName(t.dtype));
    };
    for (size_t i = 0; i < inst.inputs.size(); ++i)
      visit(in(i));
    for (size_t i = skipFirstOutput ? 1 : 0; i < inst.outputs.size(); ++i)
      visit(out(i));
  }
  void probability() const {
    double p = inst.getF64("probability");
    expect(p >= 0.0 && p < 1.0, "probability must be in [0, 1)");
  }

  void check() const;

private:
  const Program &program;
  const Instruction &inst;
  size_t index;
};

void InstructionChecker::check() const {
  const std::string &op = inst.op;
  if (op == "embedding" || op == "embedding_grad") {
    bool grad = op == "embedding_grad";
    arity(grad ? 2 : 3, grad ? 2 : 1);
    indexType(in(0), "tokens");
    rank(in(0), 2, "tokens");
    const TensorInfo &word = grad ? out(0) : in(1);
    const TensorInfo &pos = grad ? out(1) : in(2);
    rank(word, 2, "word embeddings");
    rank(pos, 2, "position embeddings");
    expect(word.shape[1] == pos.shape[1],
           "word and position embeddings differ in hidden size");
    expect(pos.shape[0] >= inShape(0)[1],
           "fewer position embeddings than tokens in a sequence");
    Shape hidden = {inShape(0)[1], inShape(0)[0], word.shape[1]};
    shapeIs(grad ? in(1) : out(0), hidden, grad ? "grad_output" : "result");
    floatType(word, "word embeddings");
    sameFloatDType();
  } else if (op == "layer_norm" || op == "layer_norm_grad") {
    bool grad = op == "layer_norm_grad";
    arity(3, grad ? 3 : 1);
    floatType(in(0), "input");
    expect(!inShape(0).empty(), "input must have rank >= 1");
    Shape feature = {inShape(0).back()};
    shapeIs(in(1), feature, "weight");
    if (grad) {
      shapeIs(in(2), inShape(0), "grad_output");
      shapeIs(out(0), inShape(0), "grad_input");
      shapeIs(out(1), feature, "grad_weight");
      shapeIs(out(2), feature, "grad_bias");
    } else {
      shapeIs(in(2), feature, "bias");
      shapeIs(out(0), inShape(0), "result");
    }
    expect(inst.getF64("epsilon") > 0.0, "epsilon must be > 0");
    sameFloatDType();
  } else if (op == "linear") {
    expect(inst.inputs.size() == 2 || inst.inputs.size() == 3,
           "expects 2 or 3 inputs");
    arity(inst.inputs.size(), 1);
    floatType(in(0), "input");
    expect(!inShape(0).empty(), "input must have rank >= 1");
    rank(in(1), 2, "weight");
    expect(inShape(1)[1] == inShape(0).back(), "weight in_features mismatch");
    if (inst.inputs.size() == 3)
      shapeIs(in(2), {inShape(1)[0]}, "bias");
    Shape result = inShape(0);
    result.back() = inShape(1)[0];
    shapeIs(out(0), result, "result");
    sameFloatDType();
  } else if (op == "linear_grad_input") {
    arity(2, 1);
    rank(in(1), 2, "weight");
    expect(!inShape(0).empty() && inShape(0).back() == inShape(1)[0],
           "grad_output's last dimension must be out_features");
    Shape result = inShape(0);
    result.back() = inShape(1)[1];
    shapeIs(out(0), result, "result");
    floatType(in(0), "grad_output");
    sameFloatDType();
  } else if (op == "linear_grad_weight") {
    arity(2, 1);
    rank(out(0), 2, "result");
    Shape dy = inShape(1);
    expect(!dy.empty() && dy.back() == outShape(0)[1],
           "input's last dimension must be in_features");
    dy.back() = outShape(0)[0];
    shapeIs(in(0), dy, "grad_output");
    floatType(in(0), "grad_output");
    sameFloatDType();
  } else if (op == "bias_grad") {
    arity(1, 1);
    expect(!inShape(0).empty(), "grad_output must have rank >= 1");
    shapeIs(out(0), {inShape(0).back()}, "result");
    floatType(in(0), "grad_output");
    sameFloatDType();
  } else if (op == "gelu" || op == "softmax") {
    arity(1, 1);
    floatType(in(0), "input");
    shapeIs(out(0), inShape(0), "result");
    if (op == "gelu") {
      std::string approx = inst.getString("approximate", "none");
      expect(approx == "none" || approx == "tanh",
             "approximate must be none or tanh");
    } else {
      expect(!inShape(0).empty(), "input must have rank >= 1");
      if (inst.getBool("causal"))
        expect(inShape(0).size() >= 2 &&
                   inShape(0)[inShape(0).size() - 2] == inShape(0).back(),
               "a causal softmax needs square trailing dimensions");
    }
    sameFloatDType();
  } else if (op == "bias_add") {
    arity(2, 1);
    floatType(in(0), "input");
    expect(!inShape(0).empty(), "input must have rank >= 1");
    shapeIs(in(1), {inShape(0).back()}, "bias");
    shapeIs(out(0), inShape(0), "result");
    sameFloatDType();
  } else if (op == "tp_copy" || op == "all_reduce" || op == "all_gather" ||
             op == "reduce_scatter" || op == "shard") {
    arity(1, 1);
    floatType(in(0), "input");
    int64_t size = inst.getI64("size");
    expect(size == program.tensorParallelSize,
           "group size " + std::to_string(size) +
               " differs from the program's tensor_parallel_size " +
               std::to_string(program.tensorParallelSize));
    if (op == "tp_copy" || op == "all_reduce") {
      shapeIs(out(0), inShape(0), "result");
    } else {
      // This runtime splits and joins along the first dimension, where the
      // pieces are contiguous.
      expect(inst.getI64("dim") == 0, "only dim = 0 is supported");
      expect(!inShape(0).empty(), "input must have rank >= 1");
      Shape expected = inShape(0);
      if (op == "all_gather")
        expected[0] *= size;
      else {
        expect(expected[0] % size == 0,
               "the first dimension must divide by the group size");
        expected[0] /= size;
      }
      shapeIs(out(0), expected, "result");
    }
    sameFloatDType();
  } else if (op == "gelu_grad" || op == "softmax_grad" || op == "add") {
    arity(2, 1);
    floatType(in(0), "input");
    shapeIs(in(1), inShape(0), "second input");
    shapeIs(out(0), inShape(0), "result");
    if (op == "gelu_grad") {
      std::string approx = inst.getString("approximate", "none");
      expect(approx == "none" || approx == "tanh",
             "approximate must be none or tanh");
    }
    sameFloatDType();
  } else if (op == "dropout") {
    arity(1, 2);
    floatType(in(0), "input");
    shapeIs(out(0), inShape(0), "result");
    shapeIs(out(1), inShape(0), "mask");
    maskType(out(1), "mask");
    probability();
    int64_t stream = inst.getI64("rng_stream");
    expect(stream >= 0 && stream <= 0xffffffffLL,
           "rng_stream must be in [0, 2^32)");
    sameFloatDType();
  } else if (op == "dropout_grad") {
    arity(2, 1);
    maskType(in(0), "mask");
    floatType(in(1), "grad_output");
    shapeIs(in(0), inShape(1), "mask");
    shapeIs(out(0), inShape(1), "result");
    probability();
    sameFloatDType();
  } else if (op == "split_heads" || op == "split_heads_grad") {
    bool grad = op == "split_heads_grad";
    arity(grad ? 3 : 1, grad ? 1 : 3);
    const TensorInfo &qkv = grad ? out(0) : in(0);
    const TensorInfo &q = grad ? in(0) : out(0);
    rank(qkv, 3, "qkv");
    rank(q, 4, "query");
    int64_t heads = q.shape[1];
    expect(heads > 0 && qkv.shape[2] % (3 * heads) == 0,
           "qkv's last dimension must be divisible by 3 * heads");
    if (!grad)
      expect(inst.getI64("num_heads") == heads, "num_heads disagrees with "
                                                "the result shape");
    Shape head = {qkv.shape[1], heads, qkv.shape[0],
                  qkv.shape[2] / (3 * heads)};
    for (size_t i = 0; i < 3; ++i)
      shapeIs(grad ? in(i) : out(i), head, "per-head tensor");
    floatType(qkv, "qkv");
    sameFloatDType();
  } else if (op == "merge_heads" || op == "merge_heads_grad") {
    arity(1, 1);
    bool grad = op == "merge_heads_grad";
    const TensorInfo &heads = grad ? out(0) : in(0);
    rank(heads, 4, "per-head tensor");
    const Shape &h = heads.shape;
    shapeIs(grad ? in(0) : out(0), {h[2], h[0], h[1] * h[3]}, "hidden states");
    floatType(in(0), "input");
    sameFloatDType();
  } else if (op == "attention_scores" || op == "attention_scores_grad") {
    bool grad = op == "attention_scores_grad";
    arity(grad ? 3 : 2, grad ? 2 : 1);
    rank(in(0), 4, "query");
    rank(in(1), 4, "key");
    const Shape &q = inShape(0), &k = inShape(1);
    expect(q[0] == k[0] && q[1] == k[1] && q[3] == k[3],
           "query and key disagree in batch, heads or head size");
    Shape scores = {q[0], q[1], q[2], k[2]};
    if (grad) {
      shapeIs(in(2), scores, "grad_output");
      shapeIs(out(0), q, "grad_query");
      shapeIs(out(1), k, "grad_key");
    } else {
      shapeIs(out(0), scores, "result");
    }
    expect(inst.getF64("scale") > 0.0, "scale must be > 0");
    floatType(in(0), "query");
    sameFloatDType();
  } else if (op == "attention_context" || op == "attention_context_grad") {
    bool grad = op == "attention_context_grad";
    arity(grad ? 3 : 2, grad ? 2 : 1);
    rank(in(0), 4, "probs");
    rank(in(1), 4, "value");
    const Shape &p = inShape(0), &v = inShape(1);
    expect(p[0] == v[0] && p[1] == v[1] && p[3] == v[2],
           "probs and value disagree");
    Shape context = {p[0], p[1], p[2], v[3]};
    if (grad) {
      shapeIs(in(2), context, "grad_output");
      shapeIs(out(0), p, "grad_probs");
      shapeIs(out(1), v, "grad_value");
    } else {
      shapeIs(out(0), context, "result");
    }
    floatType(in(0), "probs");
    sameFloatDType();
  } else if (op == "cross_entropy" || op == "cross_entropy_grad") {
    bool grad = op == "cross_entropy_grad";
    arity(2, 1);
    rank(in(0), 3, "logits");
    floatType(in(0), "logits");
    indexType(in(1), "labels");
    shapeIs(in(1), {inShape(0)[1], inShape(0)[0]}, "labels");
    if (grad) {
      shapeIs(out(0), inShape(0), "result");
      sameFloatDType();
    } else {
      shapeIs(out(0), {}, "loss");
      expect(out(0).dtype == DType::F32, "the loss must be f32");
      sameFloatDType(/*skipFirstOutput=*/true);
    }
  } else {
    fail("unknown op (this runtime knows the xf ops and their gradients)");
  }
}

} // namespace

namespace {
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
  // Sweep in time; neighbours in offset order must not overlap.
  std::sort(placed.begin(), placed.end(),
            [](const Placed &a, const Placed &b) { return a.start < b.start; });
  std::map<int64_t, const Placed *> live; // offset -> tensor
  std::multimap<int64_t, const Placed *> ends;
  for (const Placed &p : placed) {
    while (!ends.empty() && ends.begin()->first <= p.start) {
      live.erase(ends.begin()->second->offset);
      ends.erase(ends.begin());
    }
    auto next = live.lower_bound(p.offset);
    const Placed *clash = nullptr;
    if (next != live.end() && next->first < p.offset + p.size)
      clash = next->second;
    if (!clash && next != live.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second->size > p.offset)
        clash = prev->second;
    }
    if (clash)
      throw ProgramError("/memory_plan: tensors '" +
                         program.tensors[clash->id].name + "' and '" +
                         program.tensors[p.id].name +
                         "' are live at the same time and overlap in the "
                         "arena");
    live[p.offset] = &p;
    ends.emplace(p.end, &p);
  }
}
} // namespace

void ckpt::rt::validateProgram(const Program &program) {
  size_t count = program.tensors.size();
  std::vector<bool> defined(count, false);
  for (size_t i = 0; i < count; ++i) {
    TensorRole role = program.tensors[i].role;
    defined[i] = role == TensorRole::Input || role == TensorRole::Parameter;
  }
  for (size_t i = 0; i < program.instructions.size(); ++i) {
    const Instruction &inst = program.instructions[i];
    InstructionChecker checker(program, inst, i);
    checker.expect(inst.phase == "forward" || inst.phase == "backward" ||
                       inst.phase == "recompute",
                   "phase must be forward, backward or recompute");
    for (int id : inst.inputs)
      checker.expect(defined[id], "reads tensor " + std::to_string(id) + " ('" +
                                      program.tensors[id].name +
                                      "') before any instruction writes it");
    checker.check();
    for (int id : inst.outputs) {
      checker.expect(!defined[id], "writes tensor " + std::to_string(id) +
                                       " ('" + program.tensors[id].name +
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
  expectRole(program.tokens, TensorRole::Input, "/inputs/tokens");
  expectRole(program.labels, TensorRole::Input, "/inputs/labels");
  expectRole(program.loss, TensorRole::Loss, "/outputs/loss");
  for (const GradientOutput &g : program.gradients) {
    expectRole(g.parameter, TensorRole::Parameter, "/outputs/gradients");
    expectRole(g.gradient, TensorRole::Gradient, "/outputs/gradients");
    if (program.tensors[g.parameter].shape != program.tensors[g.gradient].shape)
      throw ProgramError("/outputs/gradients: the gradient of '" +
                         program.tensors[g.parameter].name +
                         "' has another shape than the parameter");
  }
}
