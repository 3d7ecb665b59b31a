//===- Executor.h - Runs a program on a backend -----------------*- C++ -*-===//
//
// The executor walks a program's instructions in order: it gives each
// output a buffer (its planned place in one arena, or an allocation of its
// own), calls the backend's kernel for the instruction's op, and frees
// every tensor after its last use. It knows no kernel and no device: both
// are the backend's (Backend.h).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_EXECUTOR_H
#define CKPT_RUNTIME_EXECUTOR_H

#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/Communicator.h"
#include "ckpt/runtime/Program.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace ckpt::rt {

/// An error while running (a token id out of range, a bad parameter file).
class RuntimeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct ExecutorOptions {
  uint64_t seed = 1234; ///< Keys dropout masks.
  Precision precision = Precision::Program;
  bool profile = false; ///< Time every instruction.
  /// Place activations and temporaries in one arena at their planned
  /// offsets when the program has a memory plan (and the precision is the
  /// program's); otherwise every tensor has its own allocation.
  bool useArena = true;
  /// The ranks of a tensor-parallel program; null: one process alone.
  Communicator *communicator = nullptr;
  /// A pipeline stage's peers: rank i of this communicator runs stage i
  /// (at the same tensor-parallel position). Needed by programs that send
  /// or receive.
  Communicator *pipeline = nullptr;
  /// Where to run; null: a CPU backend of the executor's own.
  Backend *backend = nullptr;
  /// Fuse adjacent element-wise pairs into one pass each (Fusion.h): the
  /// same bits and the same planned memory, less traffic.
  bool fuse = true;
};

struct MemoryStats {
  int64_t parameterBytes = 0; ///< Parameters and inputs, held throughout.
  int64_t peakBytes = 0;      ///< Peak of everything else alive at once.
  int64_t gradientBytes = 0;  ///< Gradients and loss at the end of the step.
  bool arena = false;         ///< Whether the run used the planned arena.
  int64_t arenaBytes = 0;     ///< Size of the arena allocated.
  /// Peak of activations and temporaries alive at once, each counted with
  /// its size rounded to the plan's alignment (what the plan's peak counts).
  int64_t arenaPeakBytes = 0;
};

struct StepResult {
  double loss = 0;
  double seconds = 0;
  MemoryStats memory;
  /// Seconds spent in each instruction (filled when profiling).
  std::vector<double> instructionSeconds;
};

/// FLOPs of one instruction from the op table: the compiler's cost model.
ops::OpCost instructionCost(const Program &program, const Instruction &inst);

class Executor {
public:
  explicit Executor(const Program &program, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  Backend &backend() const { return *backend_; }

  /// The program as it runs: the one given, with fused pairs
  /// (ExecutorOptions::fuse); instruction indices (profiles) refer to it.
  const Program &program() const { return program_; }
  /// The storage type of a tensor (f64 for every float under Precision::F64).
  DType storageType(int id) const;

  /// Deterministic parameters from `seed`: weight matrices N(0, 0.02²),
  /// layer-norm weights 1 + N(0, 0.1²), biases N(0, 0.02²).
  void initParameters(uint64_t seed);
  /// Token ids and labels uniform in [0, vocab) from `seed`.
  void initInputs(uint64_t seed);

  /// Sets a parameter or input from values (converted to its storage type);
  /// throws RuntimeError when the size is wrong.
  void setTensor(int id, const std::vector<double> &values);
  /// Reads any defined tensor as doubles.
  std::vector<double> getTensor(int id) const;
  /// Megatron's loss mask ([b, s] of 0 and 1, flattened) on the labels: a
  /// position whose mask is 0 gets the loss's ignore_index, so it counts in
  /// neither the loss nor its mean. Throws RuntimeError for another size,
  /// a value other than 0 and 1, or a pipelined step (whose micro-batches'
  /// labels are drawn).
  void maskLabels(const std::vector<double> &mask);
  /// The raw bytes of a defined tensor.
  std::vector<unsigned char> rawTensor(int id) const;
  /// Whether runs place activations and temporaries in the planned arena.
  bool usesArena() const;

  /// Runs the step once; parameters and inputs must be set.
  StepResult run();

private:
  /// Gives tensor `id` a buffer of `bytes`, reusing a cached one of that
  /// size; contents are undefined (every kernel writes all its outputs).
  void allocate(int id, size_t bytes);
  /// Returns tensor `id`'s buffer to the cache.
  void release(int id);
  /// Device bytes of tensor `id` in its storage type.
  size_t storageBytes(int id) const;
  /// The call of instruction `index` over the current buffers.
  KernelCall callOf(size_t index, double *loss);

  /// A tensor's device memory: its own allocation, or a place in the arena.
  Kernel transferKernel(const ops::OpDef &def);

  struct Buffer {
    void *ptr = nullptr;
    size_t bytes = 0;
    bool owned = false;
  };
  bool inArena(int id) const;

  Program program_;
  ExecutorOptions options_;
  std::unique_ptr<Communicator> ownedCommunicator_;
  Communicator *comm_ = nullptr;
  std::unique_ptr<Backend> ownedBackend_;
  Backend *backend_ = nullptr;
  std::vector<Kernel> kernels_; ///< One per instruction.
  std::vector<Buffer> buffers_;
  void *arena_ = nullptr;
  size_t arenaSize_ = 0;
  std::vector<bool> alive_;
  std::vector<bool>
      gradientOutput_; ///< By tensor: a gradient the step returns.
  std::vector<int> lastUse_;
  /// Freed buffers by size, reused by later steps: without it every step
  /// would allocate its memory from the device again.
  std::multimap<size_t, void *> cache_;
  double loss_ = 0;
};

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_EXECUTOR_H
