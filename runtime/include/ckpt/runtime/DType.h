//===- DType.h - Element types of runtime tensors ---------------*- C++ -*-===//

#ifndef CKPT_RUNTIME_DTYPE_H
#define CKPT_RUNTIME_DTYPE_H

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace ckpt::rt {

/// Storage types. i1 is a dropout mask: one byte per element.
enum class DType { F32, F64, BF16, F16, I32, I64, I1 };

std::optional<DType> parseDType(const std::string &name);
const char *dtypeName(DType dtype);
size_t dtypeSize(DType dtype);
bool isFloat(DType dtype);

/// bfloat16: the top half of an f32, rounded to nearest even.
inline uint16_t floatToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN stays a quiet NaN.
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float bf16ToFloat(uint16_t value) {
  uint32_t bits = static_cast<uint32_t>(value) << 16;
  float result;
  std::memcpy(&result, &bits, 4);
  return result;
}

/// IEEE binary16, rounded to nearest even.
uint16_t floatToF16(float value);
float f16ToFloat(uint16_t value);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_DTYPE_H
