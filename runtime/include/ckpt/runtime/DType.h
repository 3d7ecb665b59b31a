//===- DType.h - Element types of runtime tensors ---------------*- C++ -*-===//

#ifndef CKPT_RUNTIME_DTYPE_H
#define CKPT_RUNTIME_DTYPE_H

#include "ckpt/OpTable/OpTable.h"

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

/// Element `i` of `data` (of type `dtype`) as a double, and back (rounded
/// to nearest even for 16-bit floats).
double loadElement(const void *data, DType dtype, int64_t i);
void storeElement(void *data, DType dtype, int64_t i, double value);

/// IEEE binary16, rounded to nearest even.
uint16_t floatToF16(float value);
float f16ToFloat(uint16_t value);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_DTYPE_H
