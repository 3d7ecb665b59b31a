//===- CudaBackend.cpp - The GPU backend ----------------------------------===//
//
// Device memory through cudaMalloc (counted, so the executor's one arena is
// the step's only allocation), kernels from DeviceOpsCuda.cu on the default
// stream, GEMMs through cuBLAS with atomics disallowed and a fixed
// workspace: the same bits on every run.
//
//===----------------------------------------------------------------------===//

#include "CudaBackends.h"
#include "DeviceBackend.h"

#include "ckpt/runtime/Executor.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdlib>

using namespace ckpt;
using namespace ckpt::rt;
using namespace ckpt::rt::device;

namespace {

void check(cudaError_t status, const char *what) {
  if (status != cudaSuccess)
    throw RuntimeError(std::string("cuda: ") + what + ": " +
                       cudaGetErrorString(status));
}

void check(cublasStatus_t status, const char *what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw RuntimeError(std::string("cublas: ") + what + ": " +
                       cublasGetStatusString(status));
}

int asInt(int64_t value, const char *what) {
  if (value < 0 || value > INT_MAX)
    throw RuntimeError(std::string("cublas: ") + what + " " +
                       std::to_string(value) + " does not fit an int");
  return static_cast<int>(value);
}

cudaDataType_t cudaType(DType type) {
  switch (type) {
  case DType::F32:
    return CUDA_R_32F;
  case DType::F64:
    return CUDA_R_64F;
  case DType::BF16:
    return CUDA_R_16BF;
  case DType::F16:
    return CUDA_R_16F;
  default:
    throw RuntimeError(std::string("cublas: no matrix product of ") +
                       dtypeName(type));
  }
}

/// The process's rank among those on this machine, from the MPI launcher.
int localRank(int &localSize) {
  for (auto [rank, size] :
       {std::pair{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
        std::pair{"MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
        std::pair{"SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"}}) {
    const char *r = std::getenv(rank), *s = std::getenv(size);
    if (r && s) {
      localSize = std::atoi(s);
      return std::atoi(r);
    }
  }
  localSize = 1;
  return 0;
}

/// cuBLAS's workspace, allocated once: without it cuBLAS would allocate
/// during the step.
constexpr size_t kCublasWorkspace = 32u << 20;

class CudaBackend : public DeviceBackend {
public:
  explicit CudaBackend(int device) : DeviceBackend(cudaDeviceOps()) {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cublasCreate(&handle_), "cublasCreate");
    check(cublasSetAtomicsMode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED),
          "cublasSetAtomicsMode");
    check(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    workspace_ = allocate(kCublasWorkspace);
    check(cublasSetWorkspace(handle_, workspace_, kCublasWorkspace),
          "cublasSetWorkspace");
  }
  ~CudaBackend() override {
    cudaDeviceSynchronize();
    cublasDestroy(handle_);
    deallocate(workspace_, kCublasWorkspace);
    releaseScratch();
  }

  std::string name() const override { return "cuda"; }

  void copyToDevice(void *device, const void *host, size_t bytes) override {
    check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice),
          "copy to the device");
  }
  void copyToHost(void *host, const void *device, size_t bytes) override {
    check(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost),
          "copy from the device");
  }

  void synchronize() override {
    check(cudaDeviceSynchronize(), "a kernel failed");
  }

  void gemm(const ColumnMajorGemm &g) override {
    cudaDataType_t type = cudaType(g.type);
    bool f64 = g.type == DType::F64;
    float alpha32 = static_cast<float>(g.alpha),
          beta32 = static_cast<float>(g.beta);
    const void *alpha = f64 ? static_cast<const void *>(&g.alpha) : &alpha32;
    const void *beta = f64 ? static_cast<const void *>(&g.beta) : &beta32;
    check(cublasGemmStridedBatchedEx(
              handle_, g.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
              g.transB ? CUBLAS_OP_T : CUBLAS_OP_N, asInt(g.m, "m"),
              asInt(g.n, "n"), asInt(g.k, "k"), alpha, g.a, type,
              asInt(g.lda, "lda"), g.strideA, g.b, type, asInt(g.ldb, "ldb"),
              g.strideB, beta, g.c, type, asInt(g.ldc, "ldc"), g.strideC,
              asInt(g.batch, "batch"),
              f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
              CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx");
  }
  bool hostMemory() const override { return false; }

protected:
  void *allocateDevice(size_t bytes) override {
    void *ptr = nullptr;
    if (cudaMalloc(&ptr, std::max<size_t>(bytes, 1)) != cudaSuccess) {
      cudaGetLastError(); // Clears the error: the caller reports it.
      return nullptr;
    }
    return ptr;
  }
  void deallocateDevice(void *ptr, size_t) override { cudaFree(ptr); }

private:
  cublasHandle_t handle_ = nullptr;
  void *workspace_ = nullptr;
};

} // namespace

std::unique_ptr<Backend> ckpt::rt::createCudaBackend(std::string &error) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    error = std::string("the cuda backend found no CUDA device (") +
            (status != cudaSuccess ? cudaGetErrorString(status)
                                   : "the device count is 0") +
            ")";
    return nullptr;
  }
  int localSize = 1, rank = localRank(localSize);
  if (localSize > count) {
    error =
        "the cuda backend runs one rank per GPU: " + std::to_string(localSize) +
        " ranks on this machine, " + std::to_string(count) + " CUDA device" +
        (count == 1 ? "" : "s");
    return nullptr;
  }
  try {
    return std::make_unique<CudaBackend>(rank);
  } catch (const RuntimeError &e) {
    error = e.what();
    return nullptr;
  }
}
