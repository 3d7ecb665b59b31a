//===- DType.cpp - Element types of runtime tensors -----------------------===//

#include "ckpt/runtime/DType.h"

#include <cmath>

using namespace ckpt::rt;

double ckpt::rt::loadElement(const void *data, DType dtype, int64_t i) {
  return loadAs<double>(data, dtype, i);
}

void ckpt::rt::storeElement(void *data, DType dtype, int64_t i, double value) {
  storeAs<double>(data, dtype, i, value);
}
