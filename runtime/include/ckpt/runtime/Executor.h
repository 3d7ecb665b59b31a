//===- Executor.h - Runs a program on the CPU -------------------*- C++ -*-===//

#ifndef CKPT_RUNTIME_EXECUTOR_H
#define CKPT_RUNTIME_EXECUTOR_H

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

/// Compute precision: the program's own types (f32 compute, 16-bit types
/// stored as such and converted around each kernel), or everything in f64
/// (for gradient checks against finite differences).
enum class Precision { Program, F64 };

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
  /// The raw bytes of a defined tensor.
  std::vector<unsigned char> rawTensor(int id) const;
  /// Whether runs place activations and temporaries in the planned arena.
  bool usesArena() const;

  /// Runs the step once; parameters and inputs must be set.
  StepResult run();

private:
  template <typename Real> void execute(size_t index);
  /// Gives tensor `id` a buffer of `bytes`, reusing a cached one of that
  /// size; contents are undefined (every kernel writes all its outputs).
  void allocate(int id, size_t bytes);
  /// Returns tensor `id`'s buffer to the cache.
  void release(int id);

  /// A tensor's memory: its own allocation, or a place in the arena.
  struct Buffer {
    std::vector<unsigned char> owned;
    unsigned char *ptr = nullptr;
    size_t bytes = 0;
    unsigned char *data() const { return ptr; }
    size_t size() const { return bytes; }
  };
  bool inArena(int id) const;

  const Program &program_;
  ExecutorOptions options_;
  std::unique_ptr<Communicator> ownedCommunicator_;
  Communicator *comm_ = nullptr;
  std::vector<Buffer> buffers_;
  std::vector<unsigned char> arena_;
  std::vector<bool> alive_;
  std::vector<int> lastUse_;
  /// Freed buffers by size, reused by later steps: without it every step
  /// would fault its memory in from the OS again.
  std::multimap<size_t, std::vector<unsigned char>> cache_;
  double loss_ = 0;
};

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_EXECUTOR_H
