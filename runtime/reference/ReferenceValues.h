//===- ReferenceValues.h - Tensors as doubles for the reference kernels -*- C++
//-*-===//
//
// The reference backend computes on plain vectors of doubles: operands are
// loaded from their storage type and results stored back into theirs.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_REFERENCE_REFERENCEVALUES_H
#define CKPT_RUNTIME_REFERENCE_REFERENCEVALUES_H

#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/DType.h"

#include <vector>

namespace ckpt::rt::reference {

using Values = std::vector<double>;

inline Values load(const TensorArg &t) {
  Values values(t.elements);
  for (int64_t i = 0; i < t.elements; ++i)
    values[i] = loadElement(t.data, t.storage, i);
  return values;
}

inline void store(const TensorArg &t, const Values &values) {
  for (int64_t i = 0; i < t.elements; ++i)
    storeElement(t.data, t.storage, i, values[i]);
}

inline const std::vector<int64_t> &dims(const TensorArg &t) { return *t.shape; }

} // namespace ckpt::rt::reference

#endif // CKPT_RUNTIME_REFERENCE_REFERENCEVALUES_H
