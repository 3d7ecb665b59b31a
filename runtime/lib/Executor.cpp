//===- Executor.cpp - Runs a program on the CPU ---------------------------===//

#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Philox.h"

#include "Kernels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <type_traits>

using namespace ckpt::rt;

namespace {

template <typename Real> constexpr DType realType() {
  return std::is_same_v<Real, double> ? DType::F64 : DType::F32;
}

double loadElement(const unsigned char *data, DType dtype, int64_t i) {
  switch (dtype) {
  case DType::F32:
    return reinterpret_cast<const float *>(data)[i];
  case DType::F64:
    return reinterpret_cast<const double *>(data)[i];
  case DType::BF16:
    return bf16ToFloat(reinterpret_cast<const uint16_t *>(data)[i]);
  case DType::F16:
    return f16ToFloat(reinterpret_cast<const uint16_t *>(data)[i]);
  case DType::I32:
    return reinterpret_cast<const int32_t *>(data)[i];
  case DType::I64:
    return static_cast<double>(reinterpret_cast<const int64_t *>(data)[i]);
  case DType::I1:
    return data[i];
  case DType::Other: // Refused when the program is parsed.
    break;
  }
  return 0;
}

void storeElement(unsigned char *data, DType dtype, int64_t i, double value) {
  switch (dtype) {
  case DType::F32:
    reinterpret_cast<float *>(data)[i] = static_cast<float>(value);
    break;
  case DType::F64:
    reinterpret_cast<double *>(data)[i] = value;
    break;
  case DType::BF16:
    reinterpret_cast<uint16_t *>(data)[i] =
        floatToBF16(static_cast<float>(value));
    break;
  case DType::F16:
    reinterpret_cast<uint16_t *>(data)[i] =
        floatToF16(static_cast<float>(value));
    break;
  case DType::I32:
    reinterpret_cast<int32_t *>(data)[i] = static_cast<int32_t>(value);
    break;
  case DType::I64:
    reinterpret_cast<int64_t *>(data)[i] = static_cast<int64_t>(value);
    break;
  case DType::I1:
    data[i] = value != 0;
    break;
  case DType::Other: // Refused when the program is parsed.
    break;
  }
}

/// Normal numbers from Philox: Box-Muller on two uniforms in (0, 1].
double normal(uint64_t seed, uint32_t stream, uint64_t index) {
  uint32_t a = randomBits(seed, RngDomain::Init, stream, 2 * index);
  uint32_t b = randomBits(seed, RngDomain::Init, stream, 2 * index + 1);
  double u1 = (static_cast<double>(a) + 1.0) / 4294967296.0;
  double u2 = static_cast<double>(b) / 4294967296.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

Executor::Executor(const Program &program, ExecutorOptions options)
    : program_(program), options_(options), buffers_(program.tensors.size()),
      alive_(program.tensors.size(), false),
      lastUse_(program.tensors.size(), -1) {
  comm_ = options.communicator;
  if (!comm_) {
    ownedCommunicator_ = makeSingleProcessCommunicator();
    comm_ = ownedCommunicator_.get();
  }
  for (size_t i = 0; i < program.instructions.size(); ++i)
    for (int id : program.instructions[i].inputs)
      lastUse_[id] = static_cast<int>(i);
}

DType Executor::storageType(int id) const {
  DType dtype = program_.tensors[id].dtype;
  if (options_.precision == Precision::F64 && isFloat(dtype))
    return DType::F64;
  return dtype;
}

void Executor::setTensor(int id, const std::vector<double> &values) {
  const TensorInfo &info = program_.tensors[id];
  if (static_cast<int64_t>(values.size()) != info.numElements())
    throw RuntimeError("tensor '" + info.name + "' has " +
                       std::to_string(info.numElements()) + " elements, got " +
                       std::to_string(values.size()));
  DType dtype = storageType(id);
  Buffer &buffer = buffers_[id];
  buffer.owned.assign(info.numElements() * dtypeSize(dtype), 0);
  buffer.ptr = buffer.owned.data();
  buffer.bytes = buffer.owned.size();
  for (size_t i = 0; i < values.size(); ++i)
    storeElement(buffers_[id].data(), dtype, i, values[i]);
  alive_[id] = true;
}

std::vector<double> Executor::getTensor(int id) const {
  if (!alive_[id])
    throw RuntimeError("tensor '" + program_.tensors[id].name +
                       "' is not available (never written, or freed after "
                       "its last use)");
  int64_t count = program_.tensors[id].numElements();
  std::vector<double> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = loadElement(buffers_[id].data(), storageType(id), i);
  return values;
}

std::vector<unsigned char> Executor::rawTensor(int id) const {
  if (!alive_[id])
    throw RuntimeError("tensor '" + program_.tensors[id].name +
                       "' is not available");
  return {buffers_[id].data(), buffers_[id].data() + buffers_[id].size()};
}

bool Executor::usesArena() const {
  return options_.useArena && program_.arenaBytes >= 0 &&
         options_.precision == Precision::Program;
}

bool Executor::inArena(int id) const {
  return usesArena() && program_.tensors[id].offset >= 0;
}

void Executor::initParameters(uint64_t seed) {
  std::vector<int> params = program_.parameters();
  for (size_t p = 0; p < params.size(); ++p) {
    const TensorInfo &info = program_.tensors[params[p]];
    std::vector<double> values(info.numElements());
    bool isNormWeight = info.shape.size() == 1 && endsWith(info.name, "weight");
    for (size_t i = 0; i < values.size(); ++i) {
      double z = normal(seed, static_cast<uint32_t>(p), i);
      values[i] = isNormWeight ? 1.0 + 0.1 * z : 0.02 * z;
    }
    setTensor(params[p], values);
  }
}

void Executor::initInputs(uint64_t seed) {
  // The vocabulary is the row count of the word embedding table, which the
  // validator tied to the embedding instruction.
  int64_t vocab = 0;
  for (const Instruction &inst : program_.instructions)
    if (inst.op == "embedding")
      vocab = program_.tensors[inst.inputs[1]].shape[0];
  if (vocab <= 0)
    throw RuntimeError("the program has no embedding to take the vocabulary "
                       "size from; give tokens and labels from files");
  for (int id : {program_.tokens, program_.labels}) {
    std::vector<double> values(program_.tensors[id].numElements());
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = static_cast<double>(
          randomBits(seed, RngDomain::Inputs, static_cast<uint32_t>(id), i) %
          static_cast<uint64_t>(vocab));
    setTensor(id, values);
  }
}

namespace {

/// Gives kernels Real pointers: a tensor stored as Real is used in place;
/// others (16-bit floats) are converted into scratch and back.
template <typename Real> class Operands {
public:
  Operands(const Program &program, std::function<unsigned char *(int)> buf,
           std::function<DType(int)> storage)
      : program(program), buffers(buf), storage(std::move(storage)) {}

  ~Operands() = default;

  const Real *in(int id) {
    if (storage(id) == realType<Real>())
      return reinterpret_cast<const Real *>(buffers(id));
    auto &scratch = scratches.emplace_back(program.tensors[id].numElements());
    for (size_t i = 0; i < scratch.size(); ++i)
      scratch[i] = static_cast<Real>(loadElement(buffers(id), storage(id), i));
    return scratch.data();
  }

  Real *out(int id) {
    if (storage(id) == realType<Real>())
      return reinterpret_cast<Real *>(buffers(id));
    auto &scratch = scratches.emplace_back(program.tensors[id].numElements());
    pending.emplace_back(id, scratches.size() - 1);
    return scratch.data();
  }

  /// Writes converted outputs back into their 16-bit storage.
  void finish() {
    for (auto [id, index] : pending) {
      auto &scratch = scratches[index];
      for (size_t i = 0; i < scratch.size(); ++i)
        storeElement(buffers(id), storage(id), i, scratch[i]);
    }
  }

  std::vector<int64_t> indices(int id) {
    std::vector<int64_t> values(program.tensors[id].numElements());
    for (size_t i = 0; i < values.size(); ++i)
      values[i] =
          static_cast<int64_t>(loadElement(buffers(id), storage(id), i));
    return values;
  }

private:
  const Program &program;
  std::function<unsigned char *(int)> buffers;
  std::function<DType(int)> storage;
  std::deque<std::vector<Real>> scratches;
  std::vector<std::pair<int, size_t>> pending;
};

void checkIndices(const std::vector<int64_t> &ids, int64_t limit,
                  const std::string &what) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= limit)
      throw RuntimeError(what + " " + std::to_string(ids[i]) + " at position " +
                         std::to_string(i) + " is outside [0, " +
                         std::to_string(limit) + ")");
}

} // namespace

template <typename Real> void Executor::execute(size_t index) {
  namespace k = kernels;
  const Instruction &inst = program_.instructions[index];
  const auto &tensors = program_.tensors;
  Operands<Real> ops(
      program_, [this](int id) { return buffers_[id].data(); },
      [this](int id) { return storageType(id); });
  auto shape = [&](int id) -> const std::vector<int64_t> & {
    return tensors[id].shape;
  };
  auto count = [&](int id) { return tensors[id].numElements(); };
  auto rowsOf = [&](int id) { return count(id) / shape(id).back(); };
  const std::vector<int> &in = inst.inputs;
  const std::vector<int> &out = inst.outputs;
  const std::string &op = inst.op;

  if (op == "embedding") {
    const auto &t = shape(in[0]);
    std::vector<int64_t> tokens = ops.indices(in[0]);
    checkIndices(tokens, shape(in[1])[0], "token id");
    k::embedding<Real>(tokens.data(), t[0], t[1], shape(in[1])[1],
                       ops.in(in[1]), ops.in(in[2]), ops.out(out[0]));
  } else if (op == "embedding_grad") {
    const auto &t = shape(in[0]);
    std::vector<int64_t> tokens = ops.indices(in[0]);
    checkIndices(tokens, shape(out[0])[0], "token id");
    k::embeddingGrad<Real>(tokens.data(), t[0], t[1], shape(out[0])[1],
                           shape(out[0])[0], shape(out[1])[0], ops.in(in[1]),
                           ops.out(out[0]), ops.out(out[1]));
  } else if (op == "layer_norm") {
    k::layerNorm<Real>(ops.in(in[0]), ops.in(in[1]), ops.in(in[2]),
                       rowsOf(in[0]), shape(in[0]).back(),
                       inst.getF64("epsilon"), ops.out(out[0]));
  } else if (op == "layer_norm_grad") {
    k::layerNormGrad<Real>(ops.in(in[0]), ops.in(in[1]), ops.in(in[2]),
                           rowsOf(in[0]), shape(in[0]).back(),
                           inst.getF64("epsilon"), ops.out(out[0]),
                           ops.out(out[1]), ops.out(out[2]));
  } else if (op == "linear") {
    const Real *bias = in.size() == 3 ? ops.in(in[2]) : nullptr;
    k::linear<Real>(ops.in(in[0]), ops.in(in[1]), bias, rowsOf(in[0]),
                    shape(in[1])[0], shape(in[1])[1], ops.out(out[0]));
  } else if (op == "linear_grad_input") {
    k::linearGradInput<Real>(ops.in(in[0]), ops.in(in[1]), rowsOf(in[0]),
                             shape(in[1])[0], shape(in[1])[1], ops.out(out[0]));
  } else if (op == "linear_grad_weight") {
    k::linearGradWeight<Real>(ops.in(in[0]), ops.in(in[1]), rowsOf(in[0]),
                              shape(out[0])[0], shape(out[0])[1],
                              ops.out(out[0]));
  } else if (op == "bias_grad") {
    k::biasGrad<Real>(ops.in(in[0]), rowsOf(in[0]), shape(in[0]).back(),
                      ops.out(out[0]));
  } else if (op == "gelu") {
    k::gelu<Real>(ops.in(in[0]), count(in[0]),
                  inst.getString("approximate", "none") == "tanh",
                  ops.out(out[0]));
  } else if (op == "gelu_grad") {
    k::geluGrad<Real>(ops.in(in[0]), ops.in(in[1]), count(in[0]),
                      inst.getString("approximate", "none") == "tanh",
                      ops.out(out[0]));
  } else if (op == "add") {
    k::add<Real>(ops.in(in[0]), ops.in(in[1]), count(in[0]), ops.out(out[0]));
  } else if (op == "dropout") {
    k::dropout<Real>(ops.in(in[0]), count(in[0]), inst.getF64("probability"),
                     options_.seed,
                     static_cast<uint32_t>(inst.getI64("rng_stream")),
                     ops.out(out[0]), buffers_[out[1]].data());
  } else if (op == "dropout_grad") {
    k::dropoutGrad<Real>(buffers_[in[0]].data(), ops.in(in[1]), count(in[1]),
                         inst.getF64("probability"), ops.out(out[0]));
  } else if (op == "split_heads") {
    const auto &q = shape(out[0]); // [b, a, s, d]
    k::splitHeads<Real>(ops.in(in[0]), q[2], q[0], q[1], q[3], ops.out(out[0]),
                        ops.out(out[1]), ops.out(out[2]));
  } else if (op == "split_heads_grad") {
    const auto &q = shape(in[0]);
    k::splitHeadsGrad<Real>(ops.in(in[0]), ops.in(in[1]), ops.in(in[2]), q[2],
                            q[0], q[1], q[3], ops.out(out[0]));
  } else if (op == "merge_heads") {
    const auto &x = shape(in[0]);
    k::mergeHeads<Real>(ops.in(in[0]), x[0], x[1], x[2], x[3], ops.out(out[0]));
  } else if (op == "merge_heads_grad") {
    const auto &x = shape(out[0]);
    k::mergeHeadsGrad<Real>(ops.in(in[0]), x[0], x[1], x[2], x[3],
                            ops.out(out[0]));
  } else if (op == "attention_scores") {
    const auto &q = shape(in[0]);
    k::attentionScores<Real>(ops.in(in[0]), ops.in(in[1]), q[0] * q[1], q[2],
                             shape(in[1])[2], q[3], inst.getF64("scale"),
                             ops.out(out[0]));
  } else if (op == "attention_scores_grad") {
    const auto &q = shape(in[0]);
    k::attentionScoresGrad<Real>(ops.in(in[0]), ops.in(in[1]), ops.in(in[2]),
                                 q[0] * q[1], q[2], shape(in[1])[2], q[3],
                                 inst.getF64("scale"), ops.out(out[0]),
                                 ops.out(out[1]));
  } else if (op == "softmax") {
    const auto &x = shape(in[0]);
    int64_t causalRows = inst.getBool("causal") ? x[x.size() - 2] : 0;
    k::softmax<Real>(ops.in(in[0]), rowsOf(in[0]), x.back(), causalRows,
                     ops.out(out[0]));
  } else if (op == "softmax_grad") {
    k::softmaxGrad<Real>(ops.in(in[0]), ops.in(in[1]), rowsOf(in[0]),
                         shape(in[0]).back(), ops.out(out[0]));
  } else if (op == "attention_context") {
    const auto &p = shape(in[0]);
    k::attentionContext<Real>(ops.in(in[0]), ops.in(in[1]), p[0] * p[1], p[2],
                              p[3], shape(in[1])[3], ops.out(out[0]));
  } else if (op == "attention_context_grad") {
    const auto &p = shape(in[0]);
    k::attentionContextGrad<Real>(ops.in(in[0]), ops.in(in[1]), ops.in(in[2]),
                                  p[0] * p[1], p[2], p[3], shape(in[1])[3],
                                  ops.out(out[0]), ops.out(out[1]));
  } else if (op == "bias_add") {
    const Real *x = ops.in(in[0]);
    const Real *bias = ops.in(in[1]);
    Real *y = ops.out(out[0]);
    int64_t n = shape(in[0]).back(), rows = rowsOf(in[0]);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c)
        y[r * n + c] = x[r * n + c] + bias[c];
  } else if (op == "tp_copy" || op == "all_reduce") {
    const Real *x = ops.in(in[0]);
    Real *y = ops.out(out[0]);
    std::copy(x, x + count(in[0]), y);
    if (op == "all_reduce")
      comm_->allReduceSum(y, count(out[0]));
  } else if (op == "all_gather") {
    comm_->allGather(ops.in(in[0]), ops.out(out[0]), count(in[0]));
  } else if (op == "reduce_scatter") {
    comm_->reduceScatter(ops.in(in[0]), ops.out(out[0]), count(out[0]));
  } else if (op == "shard") {
    const Real *x = ops.in(in[0]) + comm_->rank() * count(out[0]);
    std::copy(x, x + count(out[0]), ops.out(out[0]));
  } else if (op == "cross_entropy" || op == "cross_entropy_grad") {
    const auto &l = shape(in[0]);
    std::vector<int64_t> labels = ops.indices(in[1]);
    checkIndices(labels, l[2], "label");
    if (op == "cross_entropy_grad") {
      k::crossEntropyGrad<Real>(ops.in(in[0]), labels.data(), l[0], l[1], l[2],
                                ops.out(out[0]));
    } else {
      loss_ =
          k::crossEntropy<Real>(ops.in(in[0]), labels.data(), l[0], l[1], l[2]);
      storeElement(buffers_[out[0]].data(), storageType(out[0]), 0, loss_);
    }
  } else {
    throw RuntimeError("unknown op '" + op + "'");
  }
  ops.finish();
}

StepResult Executor::run() {
  StepResult result;
  if (program_.tensorParallelSize != comm_->size())
    throw RuntimeError("the program was built for " +
                       std::to_string(program_.tensorParallelSize) +
                       " tensor-parallel ranks but runs on " +
                       std::to_string(comm_->size()) + " (start it with " +
                       "mpirun -np " +
                       std::to_string(program_.tensorParallelSize) + ")");
  for (int id : program_.parameters())
    if (!alive_[id])
      throw RuntimeError("parameter '" + program_.tensors[id].name +
                         "' has no value");
  for (int id : {program_.tokens, program_.labels})
    if (!alive_[id])
      throw RuntimeError("input '" + program_.tensors[id].name +
                         "' has no value");

  // Outputs of an earlier run are dropped first.
  for (size_t id = 0; id < buffers_.size(); ++id) {
    TensorRole role = program_.tensors[id].role;
    if (role == TensorRole::Parameter || role == TensorRole::Input)
      result.memory.parameterBytes += buffers_[id].size();
    else if (alive_[id])
      release(static_cast<int>(id));
  }

  bool arena = usesArena();
  result.memory.arena = arena;
  if (arena) {
    if (arena_.size() != static_cast<size_t>(program_.arenaBytes))
      arena_.assign(program_.arenaBytes, 0);
    result.memory.arenaBytes = static_cast<int64_t>(arena_.size());
  }
  auto start = std::chrono::steady_clock::now();
  int64_t live = 0, arenaLive = 0;
  for (size_t i = 0; i < program_.instructions.size(); ++i) {
    const Instruction &inst = program_.instructions[i];
    for (int id : inst.outputs) {
      allocate(id,
               program_.tensors[id].numElements() * dtypeSize(storageType(id)));
      live += buffers_[id].size();
      TensorRole role = program_.tensors[id].role;
      if (role == TensorRole::Activation || role == TensorRole::Temporary)
        arenaLive += program_.arenaSize(program_.tensors[id]);
    }
    result.memory.peakBytes = std::max(result.memory.peakBytes, live);
    result.memory.arenaPeakBytes =
        std::max(result.memory.arenaPeakBytes, arenaLive);
    auto instructionStart = std::chrono::steady_clock::now();
    if (options_.precision == Precision::F64)
      execute<double>(i);
    else
      execute<float>(i);
    if (options_.profile)
      result.instructionSeconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        instructionStart)
              .count());
    // Free what is dead: inputs after their last use, outputs never read.
    auto releaseIfDead = [&](int id) {
      TensorRole role = program_.tensors[id].role;
      if (role != TensorRole::Activation && role != TensorRole::Temporary)
        return;
      if (!alive_[id] || lastUse_[id] > static_cast<int>(i))
        return;
      live -= buffers_[id].size();
      arenaLive -= program_.arenaSize(program_.tensors[id]);
      release(id);
    };
    for (int id : inst.inputs)
      releaseIfDead(id);
    for (int id : inst.outputs)
      releaseIfDead(id);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.memory.gradientBytes = live;
  result.loss = loss_;
  return result;
}

ckpt::ops::OpCost ckpt::rt::instructionCost(const Program &program,
                                            const Instruction &inst) {
  const ops::OpDef *def = ops::lookupOp(inst.op);
  if (!def)
    return {};
  ops::OpInstance instance;
  for (int id : inst.inputs)
    instance.inputs.push_back(
        {program.tensors[id].shape, program.tensors[id].dtype});
  for (int id : inst.outputs)
    instance.outputs.push_back(
        {program.tensors[id].shape, program.tensors[id].dtype});
  return ops::costOf(*def, instance);
}

void Executor::allocate(int id, size_t bytes) {
  Buffer &buffer = buffers_[id];
  alive_[id] = true;
  buffer.bytes = bytes;
  if (inArena(id)) {
    buffer.ptr = arena_.data() + program_.tensors[id].offset;
    return;
  }
  auto it = cache_.find(bytes);
  if (it != cache_.end()) {
    buffer.owned = std::move(it->second);
    cache_.erase(it);
  } else {
    buffer.owned.resize(bytes);
  }
  buffer.ptr = buffer.owned.data();
}

void Executor::release(int id) {
  Buffer &buffer = buffers_[id];
  if (!buffer.owned.empty())
    cache_.emplace(buffer.owned.size(), std::move(buffer.owned));
  buffer = Buffer();
  alive_[id] = false;
}
