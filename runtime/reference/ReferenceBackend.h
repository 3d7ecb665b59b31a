//===- ReferenceBackend.h - Plain f64 loops for every op --------*- C++ -*-===//
//
// The semantics of every op of the table as straightforward loops in double
// precision, written apart from the CPU kernels: the yardstick of the
// backend conformance test, and a backend a program can run on
// (`ckpt-run --backend=reference`) to check a result by other means.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_REFERENCE_REFERENCEBACKEND_H
#define CKPT_RUNTIME_REFERENCE_REFERENCEBACKEND_H

#include "ckpt/runtime/Backend.h"

namespace ckpt::rt {
std::unique_ptr<Backend> createReferenceBackend();
} // namespace ckpt::rt

#endif // CKPT_RUNTIME_REFERENCE_REFERENCEBACKEND_H
