//===- DeviceContext.h - What the CUDA ops ask of their device --*- C++ -*-===//
//
// The op code of the CUDA backend (DeviceOps.inc) is compiled twice: by nvcc
// for the GPU, and by the host compiler for the emulated device that the
// conformance test runs on machines without a GPU. Everything that differs
// between the two sits behind this interface or in Launch.h: memory copies,
// scratch memory and the GEMM, which has cuBLAS's column-major contract on
// both sides so that the emulation checks the arguments the ops pass.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CUDA_DEVICECONTEXT_H
#define CKPT_RUNTIME_CUDA_DEVICECONTEXT_H

#include "ckpt/runtime/Backend.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace ckpt::rt::device {

/// cublasGemmStridedBatchedEx's contract, column-major: for z < batch,
/// C_z = alpha·op(A_z)·op(B_z) + beta·C_z with op(A_z) m×k, op(B_z) k×n,
/// C_z m×n; X_z starts strideX elements after X_{z-1}. A, B and C share
/// `type`; sums are in f32 (f64 for f64).
struct ColumnMajorGemm {
  DType type = DType::F32;
  bool transA = false, transB = false;
  int64_t m = 0, n = 0, k = 0;
  const void *a = nullptr;
  int64_t lda = 0, strideA = 0;
  const void *b = nullptr;
  int64_t ldb = 0, strideB = 0;
  void *c = nullptr;
  int64_t ldc = 0, strideC = 0;
  int64_t batch = 1;
  double alpha = 1, beta = 0;
};

class DeviceContext {
public:
  virtual ~DeviceContext();
  virtual void gemm(const ColumnMajorGemm &gemm) = 0;
  /// Device memory of at least `bytes`, valid until the next call; it
  /// grows through the backend's counted allocations, so a step that
  /// needed scratch once allocates none the next time.
  virtual void *scratch(size_t bytes) = 0;
  virtual void toHost(void *host, const void *device, size_t bytes) = 0;
  virtual void toDevice(void *device, const void *host, size_t bytes) = 0;
  /// Whether device pointers are host pointers (the emulated device), so a
  /// host communicator can use them directly.
  virtual bool hostMemory() const = 0;
};

/// One op of the table on a device.
using DeviceOp = void (*)(const KernelCall &call, DeviceContext &device);

/// The ops of the GPU build (DeviceOpsCuda.cu) and of the emulated device
/// (DeviceOpsEmulated.cpp), by op name.
const std::map<std::string, DeviceOp, std::less<>> &cudaDeviceOps();
const std::map<std::string, DeviceOp, std::less<>> &emulatedDeviceOps();

/// The emulated device's GEMM: cuBLAS's contract in plain loops.
void emulatedGemm(const ColumnMajorGemm &gemm);

} // namespace ckpt::rt::device

#endif // CKPT_RUNTIME_CUDA_DEVICECONTEXT_H
