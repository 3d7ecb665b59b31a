//===- Executor.cpp - Runs a program on a backend -------------------------===//

#include "ckpt/runtime/Executor.h"
#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/runtime/Fusion.h"
#include "ckpt/runtime/Philox.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

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

/// Every micro-batch's inputs (a program built in memory may give only
/// `tokens` and `labels`).
std::vector<MicroBatchInputs> microBatches(const Program &program) {
  if (!program.microBatchInputs.empty())
    return program.microBatchInputs;
  return {{program.tokens, program.labels}};
}

/// FNV-1a of a parameter's name: its initialisation stream in pipelines.
uint32_t nameStream(const std::string &name) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : name)
    hash = (hash ^ c) * 16777619u;
  return hash;
}

} // namespace

Executor::Executor(const Program &program, ExecutorOptions options)
    : program_(options.fuse ? fuseElementwise(program) : program),
      options_(options), buffers_(program.tensors.size()),
      alive_(program.tensors.size(), false),
      gradientOutput_(program.tensors.size(), false),
      lastUse_(program.tensors.size(), -1) {
  comm_ = options.communicator;
  if (!comm_) {
    ownedCommunicator_ = makeSingleProcessCommunicator();
    comm_ = ownedCommunicator_.get();
  }
  backend_ = options.backend;
  if (!backend_) {
    std::string error;
    ownedBackend_ = createBackend("cpu", error);
    backend_ = ownedBackend_.get();
  }
  for (const GradientOutput &g : program_.gradients)
    gradientOutput_[g.gradient] = true;
  // Every instruction's kernel, looked up through the op table once.
  for (size_t i = 0; i < program_.instructions.size(); ++i) {
    const Instruction &inst = program_.instructions[i];
    for (int id : inst.inputs)
      lastUse_[id] = static_cast<int>(i);
    const ops::OpDef *def = ops::lookupOp(inst.op);
    Kernel kernel;
    if (def && def->opClass == ops::OpClass::PointToPoint)
      kernel = transferKernel(*def);
    else if (def)
      kernel = backend_->kernel(*def);
    if (!kernel)
      throw RuntimeError("the " + backend_->name() +
                         " backend has no kernel for op '" + inst.op + "'");
    kernels_.push_back(std::move(kernel));
  }
}

/// A pipeline transfer goes to the peer stage's rank of the pipeline
/// communicator: from the tensor itself where the host can address the
/// backend's memory, else through a host buffer.
Kernel Executor::transferKernel(const ops::OpDef &def) {
  bool send = def.name == "send";
  return [this, send](const KernelCall &c) {
    Communicator *pipeline = options_.pipeline;
    if (!pipeline || !program_.pipeline ||
        pipeline->size() != program_.pipeline->stages)
      throw RuntimeError(
          "a pipeline stage's program runs with one rank per stage (start it "
          "with mpirun -np stages x tensor-parallel size)");
    int peer = static_cast<int>(c.inst->getI64("stage"));
    int tag = static_cast<int>(c.inst->getI64("tag"));
    const TensorArg &t = send ? c.inputs[0] : c.outputs[0];
    size_t bytes = static_cast<size_t>(t.elements) * dtypeSize(t.storage);
    if (backend_->hostAddressable()) {
      backend_->synchronize();
      if (send)
        pipeline->postSend(t.data, static_cast<int64_t>(bytes), peer, tag);
      else
        pipeline->recvBytes(t.data, static_cast<int64_t>(bytes), peer, tag);
      return;
    }
    std::vector<unsigned char> host(bytes);
    if (send) {
      backend_->synchronize();
      backend_->copyToHost(host.data(), t.data, bytes);
      pipeline->postSend(host.data(), static_cast<int64_t>(bytes), peer, tag);
    } else {
      pipeline->recvBytes(host.data(), static_cast<int64_t>(bytes), peer, tag);
      backend_->copyToDevice(t.data, host.data(), bytes);
    }
  };
}

Executor::~Executor() {
  for (size_t id = 0; id < buffers_.size(); ++id)
    if (buffers_[id].owned)
      backend_->deallocate(buffers_[id].ptr, buffers_[id].bytes);
  for (auto &[bytes, ptr] : cache_)
    backend_->deallocate(ptr, bytes);
  if (arena_)
    backend_->deallocate(arena_, arenaSize_);
}

size_t Executor::storageBytes(int id) const {
  return static_cast<size_t>(program_.tensors[id].numElements()) *
         dtypeSize(storageType(id));
}

DType Executor::storageType(int id) const {
  DType dtype = program_.tensors[id].dtype;
  if (options_.precision == Precision::F64 && isFloat(dtype))
    return DType::F64;
  return dtype;
}

namespace {
/// f(begin, end) over [0, n) in chunks on the machine's threads: parameter
/// initialisation and conversion of billions of values (a GPT-3 layer) would
/// take minutes on one. Each value depends only on its index, so the result
/// does not depend on the thread count.
template <typename F> void parallelChunks(int64_t n, F f) {
  constexpr int64_t kChunk = 1 << 20;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  int64_t workers = std::min<int64_t>(
      chunks, std::max(1u, std::thread::hardware_concurrency()));
  if (workers <= 1) {
    f(int64_t(0), n);
    return;
  }
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c = next++; c < chunks; c = next++)
      f(c * kChunk, std::min(n, (c + 1) * kChunk));
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < workers; ++t)
    threads.emplace_back(work);
  work();
  for (std::thread &t : threads)
    t.join();
}
} // namespace

void Executor::setTensor(int id, const std::vector<double> &values) {
  const TensorInfo &info = program_.tensors[id];
  if (static_cast<int64_t>(values.size()) != info.numElements())
    throw RuntimeError("tensor '" + info.name + "' has " +
                       std::to_string(info.numElements()) + " elements, got " +
                       std::to_string(values.size()));
  DType dtype = storageType(id);
  std::vector<unsigned char> host(storageBytes(id));
  parallelChunks(static_cast<int64_t>(values.size()),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t i = begin; i < end; ++i)
                     storeElement(host.data(), dtype, i, values[i]);
                 });
  Buffer &buffer = buffers_[id];
  if (!buffer.owned || buffer.bytes != host.size()) {
    if (buffer.owned)
      backend_->deallocate(buffer.ptr, buffer.bytes);
    buffer.ptr = backend_->allocate(host.size());
    buffer.bytes = host.size();
    buffer.owned = true;
  }
  backend_->copyToDevice(buffer.ptr, host.data(), host.size());
  alive_[id] = true;
}

void Executor::maskLabels(const std::vector<double> &mask) {
  if (program_.pipeline)
    throw RuntimeError("a pipelined step draws its micro-batches' labels "
                       "itself; a loss mask masks one");
  int64_t ignore = ops::LossSpec().ignoreIndex;
  for (const Instruction &inst : program_.instructions)
    if (inst.op == "cross_entropy")
      ignore = ops::readLossSpec(inst.attrs).ignoreIndex;
  std::vector<double> labels = getTensor(program_.labels);
  if (mask.size() != labels.size())
    throw RuntimeError("the loss mask has " + std::to_string(mask.size()) +
                       " values, the labels " + std::to_string(labels.size()));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (mask[i] != 0.0 && mask[i] != 1.0)
      throw RuntimeError("loss mask values must be 0 or 1, got " +
                         std::to_string(mask[i]) + " at position " +
                         std::to_string(i));
    if (mask[i] == 0.0)
      labels[i] = static_cast<double>(ignore);
  }
  setTensor(program_.labels, labels);
}

std::vector<double> Executor::getTensor(int id) const {
  if (!alive_[id])
    throw RuntimeError("tensor '" + program_.tensors[id].name +
                       "' is not available (never written, or freed after "
                       "its last use)");
  std::vector<unsigned char> host = rawTensor(id);
  int64_t count = program_.tensors[id].numElements();
  std::vector<double> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = loadElement(host.data(), storageType(id), i);
  return values;
}

std::vector<unsigned char> Executor::rawTensor(int id) const {
  if (!alive_[id])
    throw RuntimeError("tensor '" + program_.tensors[id].name +
                       "' is not available");
  std::vector<unsigned char> host(buffers_[id].bytes);
  backend_->synchronize();
  backend_->copyToHost(host.data(), buffers_[id].ptr, host.size());
  return host;
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
    // A pipeline stage holds some of the parameters: key each by its name,
    // so that every stage and the one-rank reference draw the same values.
    uint32_t stream =
        program_.pipeline ? nameStream(info.name) : static_cast<uint32_t>(p);
    parallelChunks(info.numElements(), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double z = normal(seed, stream, i);
        values[i] = isNormWeight ? 1.0 + 0.1 * z : 0.02 * z;
      }
    });
    setTensor(params[p], values);
  }
}

void Executor::initInputs(uint64_t seed) {
  // Unpipelined programs key each input by its tensor id; pipelined ones by
  // micro-batch (2j: tokens, 2j + 1: labels), so that every stage and the
  // one-rank reference draw the same inputs.
  std::vector<std::pair<int, uint32_t>> inputs;
  std::vector<MicroBatchInputs> batches = microBatches(program_);
  for (size_t j = 0; j < batches.size(); ++j)
    for (auto [id, which] :
         {std::pair{batches[j].tokens, 0}, {batches[j].labels, 1}})
      if (id >= 0)
        inputs.push_back({id, program_.pipeline
                                  ? static_cast<uint32_t>(2 * j + which)
                                  : static_cast<uint32_t>(id)});
  if (inputs.empty())
    return; // A middle pipeline stage reads none.
  // The vocabulary: the rows of the word embedding table (which the
  // validator tied to the embedding instruction) or, on a pipeline stage
  // without the embedding, the logits' columns; each times the ranks it is
  // split over.
  int64_t vocab = 0;
  for (const Instruction &inst : program_.instructions)
    if (inst.op == "embedding")
      vocab = program_.tensors[inst.inputs[1]].shape[0] *
              ops::readVocabShards(inst.attrs);
    else if (inst.op == "cross_entropy" && vocab == 0)
      vocab = program_.tensors[inst.inputs[0]].shape.back() *
              ops::readVocabShards(inst.attrs);
  if (vocab <= 0)
    throw RuntimeError("the program has no embedding to take the vocabulary "
                       "size from; give tokens and labels from files");
  for (auto [id, stream] : inputs) {
    std::vector<double> values(program_.tensors[id].numElements());
    for (size_t i = 0; i < values.size(); ++i)
      values[i] =
          static_cast<double>(randomBits(seed, RngDomain::Inputs, stream, i) %
                              static_cast<uint64_t>(vocab));
    setTensor(id, values);
  }
}

KernelCall Executor::callOf(size_t index, double *loss) {
  const Instruction &inst = program_.instructions[index];
  KernelCall call;
  call.inst = &inst;
  call.precision = options_.precision;
  call.seed = options_.seed;
  call.comm = comm_;
  call.loss = loss;
  auto arg = [&](int id) {
    const TensorInfo &info = program_.tensors[id];
    return TensorArg{buffers_[id].ptr, storageType(id), &info.shape,
                     info.numElements()};
  };
  for (int id : inst.inputs)
    call.inputs.push_back(arg(id));
  for (int id : inst.outputs)
    call.outputs.push_back(arg(id));
  return call;
}

StepResult Executor::run() {
  StepResult result;
  // The loss kernels (cross_entropy, moe_aux_loss) add their terms here.
  loss_ = 0;
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
  for (const MicroBatchInputs &in : microBatches(program_))
    for (int id : {in.tokens, in.labels})
      if (id >= 0 && !alive_[id])
        throw RuntimeError("input '" + program_.tensors[id].name +
                           "' has no value");

  // Outputs of an earlier run are dropped first.
  for (size_t id = 0; id < buffers_.size(); ++id) {
    TensorRole role = program_.tensors[id].role;
    if (role == TensorRole::Parameter || role == TensorRole::Input)
      result.memory.parameterBytes += buffers_[id].bytes;
    else if (alive_[id])
      release(static_cast<int>(id));
  }

  bool arena = usesArena();
  result.memory.arena = arena;
  if (arena) {
    if (!arena_) {
      arenaSize_ = static_cast<size_t>(program_.arenaBytes);
      arena_ = backend_->allocate(arenaSize_);
    }
    result.memory.arenaBytes = static_cast<int64_t>(arenaSize_);
  }
  auto start = std::chrono::steady_clock::now();
  int64_t live = 0, arenaLive = 0;
  for (size_t i = 0; i < program_.instructions.size(); ++i) {
    const Instruction &inst = program_.instructions[i];
    for (int id : inst.outputs) {
      allocate(id, storageBytes(id));
      live += buffers_[id].bytes;
      TensorRole role = program_.tensors[id].role;
      if (role == TensorRole::Activation || role == TensorRole::Temporary)
        arenaLive += program_.arenaSize(program_.tensors[id]);
    }
    result.memory.peakBytes = std::max(result.memory.peakBytes, live);
    result.memory.arenaPeakBytes =
        std::max(result.memory.arenaPeakBytes, arenaLive);
    auto instructionStart = std::chrono::steady_clock::now();
    kernels_[i](callOf(i, &loss_));
    if (options_.profile) {
      backend_->synchronize();
      result.instructionSeconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        instructionStart)
              .count());
    }
    // Free what is dead: inputs after their last use, outputs never read.
    // (A gradient that is no output is a running sum of a micro-batch
    // schedule's accumulation, done with once the next sum is made.)
    auto releaseIfDead = [&](int id) {
      TensorRole role = program_.tensors[id].role;
      bool arenaRole =
          role == TensorRole::Activation || role == TensorRole::Temporary;
      if (!arenaRole && (role != TensorRole::Gradient || gradientOutput_[id]))
        return;
      if (!alive_[id] || lastUse_[id] > static_cast<int>(i))
        return;
      live -= buffers_[id].bytes;
      if (arenaRole)
        arenaLive -= program_.arenaSize(program_.tensors[id]);
      release(id);
    };
    for (int id : inst.inputs)
      releaseIfDead(id);
    for (int id : inst.outputs)
      releaseIfDead(id);
  }
  if (options_.pipeline)
    options_.pipeline->finishSends();
  backend_->synchronize();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.memory.gradientBytes = live;
  result.loss = loss_;
  // An overflow anywhere in the step ends in the loss: say so, instead of
  // printing a NaN as a result.
  if (!std::isfinite(loss_))
    throw RuntimeError("the step's loss is not finite (" +
                       std::to_string(loss_) +
                       "): an attribute or input made it overflow");
  return result;
}

ckpt::ops::OpCost ckpt::rt::instructionCost(const Program &program,
                                            const Instruction &inst) {
  const ops::OpDef *def = ops::lookupOp(inst.op);
  if (!def)
    return {};
  return ops::costOf(*def, describeInstruction(program, inst));
}

void Executor::allocate(int id, size_t bytes) {
  Buffer &buffer = buffers_[id];
  alive_[id] = true;
  buffer.bytes = bytes;
  buffer.owned = false;
  if (inArena(id)) {
    buffer.ptr =
        static_cast<unsigned char *>(arena_) + program_.tensors[id].offset;
    return;
  }
  auto it = cache_.find(bytes);
  if (it != cache_.end()) {
    buffer.ptr = it->second;
    cache_.erase(it);
  } else {
    buffer.ptr = backend_->allocate(bytes);
  }
  buffer.owned = true;
}

void Executor::release(int id) {
  Buffer &buffer = buffers_[id];
  if (buffer.owned)
    cache_.emplace(buffer.bytes, buffer.ptr);
  buffer = Buffer();
  alive_[id] = false;
}
