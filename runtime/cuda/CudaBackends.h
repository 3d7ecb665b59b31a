//===- CudaBackends.h - The CUDA backend and its emulation ------*- C++ -*-===//

#ifndef CKPT_RUNTIME_CUDA_CUDABACKENDS_H
#define CKPT_RUNTIME_CUDA_CUDABACKENDS_H

#include "ckpt/runtime/Backend.h"

#include <memory>
#include <string>

namespace ckpt::rt {

/// The GPU: one CUDA device per process (the process's local rank picks
/// it), cuBLAS for GEMMs. Null with `error` set when there is no device,
/// fewer devices than ranks on this machine, or no CUDA in this build.
std::unique_ptr<Backend> createCudaBackend(std::string &error);

/// The CUDA backend's ops run on the host, one loop iteration per GPU
/// thread and cuBLAS's GEMM contract in plain loops: slow, but it checks
/// the GPU build's op code on machines without a GPU.
std::unique_ptr<Backend> createEmulatedCudaBackend();

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_CUDA_CUDABACKENDS_H
