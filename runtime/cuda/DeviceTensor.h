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
    switch (type) {
    case DType::F32:
      return static_cast<R>(static_cast<const float *>(data)[i]);
    case DType::F64:
      return static_cast<R>(static_cast<const double *>(data)[i]);
    case DType::BF16:
      return static_cast<R>(
          bf16ToFloat(static_cast<const uint16_t *>(data)[i]));
    case DType::F16:
      return static_cast<R>(f16ToFloat(static_cast<const uint16_t *>(data)[i]));
    case DType::I32:
      return static_cast<R>(static_cast<const int32_t *>(data)[i]);
    case DType::I64:
      return static_cast<R>(static_cast<const int64_t *>(data)[i]);
    case DType::I1:
      return static_cast<R>(static_cast<const uint8_t *>(data)[i]);
    default:
      return R(0);
    }
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
    switch (type) {
    case DType::F32:
      static_cast<float *>(data)[i] = static_cast<float>(value);
      break;
    case DType::F64:
      static_cast<double *>(data)[i] = static_cast<double>(value);
      break;
    case DType::BF16:
      static_cast<uint16_t *>(data)[i] = floatToBF16(static_cast<float>(value));
      break;
    case DType::F16:
      static_cast<uint16_t *>(data)[i] = floatToF16(static_cast<float>(value));
      break;
    case DType::I32:
      static_cast<int32_t *>(data)[i] = static_cast<int32_t>(value);
      break;
    case DType::I64:
      static_cast<int64_t *>(data)[i] = static_cast<int64_t>(value);
      break;
    case DType::I1:
      static_cast<uint8_t *>(data)[i] = value != R(0);
      break;
    default:
      break;
    }
  }
};

} // namespace ckpt::rt::device

#endif // CKPT_RUNTIME_CUDA_DEVICETENSOR_H
