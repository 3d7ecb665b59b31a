//===- CpuBackend.h - The CPU backend ---------------------------*- C++ -*-===//
//
// Host memory, OpenBLAS GEMMs and OpenMP kernels; the runtime's default.
// OpenBLAS and OpenMP are private to this folder.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CPU_CPUBACKEND_H
#define CKPT_RUNTIME_CPU_CPUBACKEND_H

#include "ckpt/runtime/Backend.h"

namespace ckpt::rt {
std::unique_ptr<Backend> createCpuBackend();
} // namespace ckpt::rt

#endif // CKPT_RUNTIME_CPU_CPUBACKEND_H
