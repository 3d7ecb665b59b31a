//===- Backend.h - Where a program runs -------------------------*- C++ -*-===//
//
// A backend owns device memory and the kernels of the op table's ops; the
// executor plans nothing and computes nothing itself, it only asks a backend.
// Each backend lives in its own folder (runtime/cpu, runtime/reference,
// runtime/cuda) and proves itself with the conformance test
// (runtime/test/BackendConformanceTest.cpp): every op of the table against
// the reference backend's plain f64 loops.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_BACKEND_H
#define CKPT_RUNTIME_BACKEND_H

#include "ckpt/runtime/Communicator.h"
#include "ckpt/runtime/Program.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::rt {

/// Compute precision: the program's own types (f32 compute, 16-bit types
/// stored as such and converted around each kernel), or everything in f64
/// (for gradient checks against finite differences).
enum class Precision { Program, F64 };

/// One operand or result of a kernel: device memory holding `elements`
/// values of `storage` type with the program tensor's shape.
struct TensorArg {
  void *data = nullptr;
  DType storage = DType::F32;
  const std::vector<int64_t> *shape = nullptr;
  int64_t elements = 0;
};

/// Everything a kernel reads: one instruction with its tensors.
struct KernelCall {
  const Instruction *inst = nullptr;
  std::vector<TensorArg> inputs;
  std::vector<TensorArg> outputs;
  Precision precision = Precision::Program;
  uint64_t seed = 0; ///< Keys dropout masks.
  Communicator *comm = nullptr;
  /// The step's loss in double: cross_entropy and moe_aux_loss add their
  /// terms here.
  double *loss = nullptr;
};

/// Runs one instruction; throws RuntimeError on bad data (a token id out
/// of range).
using Kernel = std::function<void(const KernelCall &)>;

class Backend {
public:
  virtual ~Backend();
  virtual std::string name() const = 0;

  /// Device memory. Every allocation is counted (allocations()), so a test
  /// can assert that a step allocates nothing beyond its plan.
  void *allocate(size_t bytes);
  void deallocate(void *ptr, size_t bytes);
  int64_t allocations() const { return allocations_; }

  virtual void copyToDevice(void *device, const void *host, size_t bytes) = 0;
  virtual void copyToHost(void *host, const void *device, size_t bytes) = 0;
  /// Whether its memory is the host's, so that the host may read and write
  /// it directly (no copy through a host buffer).
  virtual bool hostAddressable() const { return false; }

  /// The kernel of op `def` (an entry of the op table), or an empty
  /// function when this backend has none.
  virtual Kernel kernel(const ops::OpDef &def) const = 0;

  /// Waits until every kernel launched so far has finished.
  virtual void synchronize() {}
  /// Compute threads, where the backend has them (0: the default).
  virtual void setThreads(int threads) { (void)threads; }
  virtual int threads() const { return 1; }

protected:
  virtual void *allocateDevice(size_t bytes) = 0;
  virtual void deallocateDevice(void *ptr, size_t bytes) = 0;

private:
  int64_t allocations_ = 0;
};

/// The backends of this build, by name: "cpu", "reference",
/// "cuda-emulated" and, when built with nvcc, "cuda".
std::vector<std::string> availableBackends();
/// Those that run on any machine: all but the ones that need a GPU.
std::vector<std::string> hostBackends();
/// "" for a backend of this build, else an error naming those there are.
std::string checkBackendName(const std::string &name);
/// A new backend; null with `error` set for an unknown name or a backend
/// that cannot start here (no GPU).
std::unique_ptr<Backend> createBackend(const std::string &name,
                                       std::string &error);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_BACKEND_H
