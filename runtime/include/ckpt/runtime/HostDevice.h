//===- HostDevice.h - Functions shared by host and device code --*- C++ -*-===//
//
// The CUDA backend's kernels call the same element conversions and random
// numbers as the CPU: one definition each, marked for both sides when nvcc
// compiles it.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_HOSTDEVICE_H
#define CKPT_RUNTIME_HOSTDEVICE_H

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define CKPT_HOST_DEVICE __host__ __device__
#else
#define CKPT_HOST_DEVICE
#endif

namespace ckpt::rt {

CKPT_HOST_DEVICE inline uint32_t floatBits(float value) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
#endif
}

CKPT_HOST_DEVICE inline float floatFromBits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
#endif
}

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_HOSTDEVICE_H
