//===- DType.cpp - Element types of runtime tensors -----------------------===//

#include "ckpt/runtime/DType.h"

#include <cmath>

using namespace ckpt::rt;

uint16_t ckpt::rt::floatToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) // NaN
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (magnitude >= 0x477ff000u) // Rounds to infinity (>= 65520).
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {                   // Subnormal or zero in f16.
    float scaled = std::fabs(value) * 16777216.0f; // 2^24
    uint32_t rounded = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | rounded);
  }
  uint32_t exponent = (magnitude >> 23) - 127 + 15;
  uint32_t mantissa = magnitude & 0x7fffffu;
  uint32_t result = (exponent << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u)))
    ++result; // Carries into the exponent correctly.
  return static_cast<uint16_t>(sign | result);
}

float ckpt::rt::f16ToFloat(uint16_t value) {
  uint32_t sign = static_cast<uint32_t>(value & 0x8000u) << 16;
  uint32_t exponent = (value >> 10) & 0x1fu;
  uint32_t mantissa = value & 0x3ffu;
  if (exponent == 0) {
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  uint32_t bits;
  if (exponent == 31)
    bits = sign | 0x7f800000u | (mantissa << 13);
  else
    bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  float result;
  std::memcpy(&result, &bits, 4);
  return result;
}

double ckpt::rt::loadElement(const void *ptr, DType dtype, int64_t i) {
  auto *data = static_cast<const unsigned char *>(ptr);
  switch (dtype) {
  case DType::F32:
    return reinterpret_cast<const float *>(data)[i];
  case DType::F64:
    return reinterpret_cast<const double *>(data)[i];
  case DType::BF16:
    return bf16ToFloat(reinterpret_cast<const uint16_t *>(data)[i]);
  case DType::F16:
    return f16ToFloat(reinterpret_cast<const uint16_t *>(data)[i]);
  case DType::I32:
    return reinterpret_cast<const int32_t *>(data)[i];
  case DType::I64:
    return static_cast<double>(reinterpret_cast<const int64_t *>(data)[i]);
  case DType::I1:
    return data[i];
  case DType::Other: // Refused when the program is parsed.
    break;
  }
  return 0;
}

void ckpt::rt::storeElement(void *ptr, DType dtype, int64_t i, double value) {
  auto *data = static_cast<unsigned char *>(ptr);
  switch (dtype) {
  case DType::F32:
    reinterpret_cast<float *>(data)[i] = static_cast<float>(value);
    break;
  case DType::F64:
    reinterpret_cast<double *>(data)[i] = value;
    break;
  case DType::BF16:
    reinterpret_cast<uint16_t *>(data)[i] =
        floatToBF16(static_cast<float>(value));
    break;
  case DType::F16:
    reinterpret_cast<uint16_t *>(data)[i] =
        floatToF16(static_cast<float>(value));
    break;
  case DType::I32:
    reinterpret_cast<int32_t *>(data)[i] = static_cast<int32_t>(value);
    break;
  case DType::I64:
    reinterpret_cast<int64_t *>(data)[i] = static_cast<int64_t>(value);
    break;
  case DType::I1:
    data[i] = value != 0;
    break;
  case DType::Other: // Refused when the program is parsed.
    break;
  }
}
