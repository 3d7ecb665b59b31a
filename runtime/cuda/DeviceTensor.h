//===- DeviceTensor.h - Operands of the CUDA backend's kernels --*- C++ -*-===//
//
// A kernel reads and writes each operand in its storage type through a view:
// loads widen to the compute type (float, or double under Precision::F64)
// and stores round to nearest even, element by element, so 16-bit tensors
// need no converted copies (and no allocations) around a kernel. The type
// switch is the same for every thread of a launch.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CUDA_DEVICETENSOR_H
#define CKPT_RUNTIME_CUDA_DEVICETENSOR_H

#include "ckpt/runtime/DType.h"

namespace ckpt::rt::device {

struct Tensor {
  void *data = nullptr;
  DType type = DType::F32;

  template <typename R> CKPT_HOST_DEVICE R get(int64_t i) const {
    return loadAs<R>(data, type, i);
  }

  CKPT_HOST_DEVICE int64_t index(int64_t i) const {
    switch (type) {
    case DType::I32:
      return static_cast<const int32_t *>(data)[i];
    case DType::I64:
      return static_cast<const int64_t *>(data)[i];
    default:
      return static_cast<int64_t>(get<double>(i));
    }
  }

  template <typename R> CKPT_HOST_DEVICE void put(int64_t i, R value) const {
    storeAs<R>(data, type, i, value);
  }
};

} // namespace ckpt::rt::device

#endif // CKPT_RUNTIME_CUDA_DEVICETENSOR_H
