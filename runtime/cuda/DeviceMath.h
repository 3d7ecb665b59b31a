//===- DeviceMath.h - Math functions for host and device code ---*- C++ -*-===//
//
// The C library's float and double functions, which both the host compiler
// and nvcc's device pass provide, picked by the compute type.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CUDA_DEVICEMATH_H
#define CKPT_RUNTIME_CUDA_DEVICEMATH_H

#include "ckpt/runtime/HostDevice.h"

#include <math.h>
#include <type_traits>

namespace ckpt::rt::device::math {

#define CKPT_MATH_1(NAME)                                                      \
  template <typename R> CKPT_HOST_DEVICE inline R NAME(R x) {                  \
    if constexpr (std::is_same_v<R, float>)                                    \
      return ::NAME##f(x);                                                     \
    else                                                                       \
      return ::NAME(x);                                                        \
  }
CKPT_MATH_1(exp)
CKPT_MATH_1(log)
CKPT_MATH_1(sqrt)
CKPT_MATH_1(tanh)
CKPT_MATH_1(erfc)
CKPT_MATH_1(sin)
CKPT_MATH_1(cos)
CKPT_MATH_1(fabs)
#undef CKPT_MATH_1

template <typename R> CKPT_HOST_DEVICE inline R pow(R x, R y) {
  if constexpr (std::is_same_v<R, float>)
    return ::powf(x, y);
  else
    return ::pow(x, y);
}

template <typename R> CKPT_HOST_DEVICE inline R max(R a, R b) {
  return a > b ? a : b;
}

template <typename R> CKPT_HOST_DEVICE inline R infinity() {
  return static_cast<R>(HUGE_VAL);
}

} // namespace ckpt::rt::device::math

#endif // CKPT_RUNTIME_CUDA_DEVICEMATH_H
