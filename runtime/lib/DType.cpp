//===- DType.cpp - Element types of runtime tensors -----------------------===//

#include "ckpt/runtime/DType.h"

#include <cmath>

using namespace ckpt::rt;

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
