//===- DType.h - Element types of runtime tensors ---------------*- C++ -*-===//

#ifndef CKPT_RUNTIME_DTYPE_H
#define CKPT_RUNTIME_DTYPE_H

#include "ckpt/OpTable/OpTable.h"
#include "ckpt/runtime/HostDevice.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace ckpt::rt {

/// Storage types: the op table's element types (i1 is a dropout mask, one
/// byte per element). A program never holds ElementType::Other: parsing
/// refuses any type the table does not name.
using DType = ops::ElementType;

inline std::optional<DType> parseDType(const std::string &name) {
  return ops::parseElementType(name);
}
inline const char *dtypeName(DType dtype) {
  return ops::elementTypeName(dtype);
}
inline size_t dtypeSize(DType dtype) {
  return static_cast<size_t>(ops::elementTypeBytes(dtype));
}
using ops::isFloat;

/// bfloat16: the top half of an f32, rounded to nearest even.
CKPT_HOST_DEVICE inline uint16_t floatToBF16(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN stays a quiet NaN.
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

CKPT_HOST_DEVICE inline float bf16ToFloat(uint16_t value) {
  return floatFromBits(static_cast<uint32_t>(value) << 16);
}

/// IEEE binary16, rounded to nearest even.
CKPT_HOST_DEVICE inline uint16_t floatToF16(float value) {
  uint32_t bits = floatBits(value);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) // NaN
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (magnitude >= 0x477ff000u) // Rounds to infinity (>= 65520).
    return static_cast<uint16_t>(sign | 0x7c00u);
  uint32_t exponent = magnitude >> 23;
  if (exponent < 102) // Below 2^-25: rounds to zero.
    return static_cast<uint16_t>(sign);
  uint32_t mantissa = magnitude & 0x7fffffu;
  if (exponent < 113) {
    // Subnormal in f16: m·2^-24 with m the 24-bit significand shifted,
    // rounded to nearest even (m = 0x400 is the smallest normal, encoded
    // the same way).
    uint32_t significand = mantissa | 0x800000u;
    uint32_t shift = 126 - exponent; // 14..24
    uint32_t result = significand >> shift;
    uint32_t rest = significand & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (result & 1u)))
      ++result;
    return static_cast<uint16_t>(sign | result);
  }
  uint32_t result = ((exponent - 127 + 15) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u)))
    ++result; // Carries into the exponent correctly.
  return static_cast<uint16_t>(sign | result);
}

CKPT_HOST_DEVICE inline float f16ToFloat(uint16_t value) {
  uint32_t sign = static_cast<uint32_t>(value & 0x8000u) << 16;
  uint32_t exponent = (value >> 10) & 0x1fu;
  uint32_t mantissa = value & 0x3ffu;
  if (exponent == 0) {
    float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude; // 2^-24 per unit, exactly.
  }
  if (exponent == 31)
    return floatFromBits(sign | 0x7f800000u | (mantissa << 13));
  return floatFromBits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

/// Element `i` of `data` (of type `dtype`) as a double, and back (rounded
/// to nearest even for 16-bit floats).
double loadElement(const void *data, DType dtype, int64_t i);
void storeElement(void *data, DType dtype, int64_t i, double value);

/// The same in compute type R (float or double): one definition for the
/// host and for the CUDA backend's kernels, which read and write every
/// operand in its storage type through it.
template <typename R>
CKPT_HOST_DEVICE inline R loadAs(const void *data, DType dtype, int64_t i) {
  switch (dtype) {
  case DType::F32:
    return static_cast<R>(static_cast<const float *>(data)[i]);
  case DType::F64:
    return static_cast<R>(static_cast<const double *>(data)[i]);
  case DType::BF16:
    return static_cast<R>(bf16ToFloat(static_cast<const uint16_t *>(data)[i]));
  case DType::F16:
    return static_cast<R>(f16ToFloat(static_cast<const uint16_t *>(data)[i]));
  case DType::I32:
    return static_cast<R>(static_cast<const int32_t *>(data)[i]);
  case DType::I64:
    return static_cast<R>(static_cast<const int64_t *>(data)[i]);
  case DType::I1:
    return static_cast<R>(static_cast<const uint8_t *>(data)[i]);
  default: // Other: refused when the program is parsed.
    return R(0);
  }
}

/// `value` rounded to storage type `dtype` and widened back.
template <typename R> CKPT_HOST_DEVICE inline R roundTo(R value, DType dtype) {
  switch (dtype) {
  case DType::F32:
    return static_cast<R>(static_cast<float>(value));
  case DType::BF16:
    return static_cast<R>(bf16ToFloat(floatToBF16(static_cast<float>(value))));
  case DType::F16:
    return static_cast<R>(f16ToFloat(floatToF16(static_cast<float>(value))));
  default:
    return value;
  }
}

template <typename R>
CKPT_HOST_DEVICE inline void storeAs(void *data, DType dtype, int64_t i,
                                     R value) {
  switch (dtype) {
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
  default: // Other: refused when the program is parsed.
    break;
  }
}

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_DTYPE_H
