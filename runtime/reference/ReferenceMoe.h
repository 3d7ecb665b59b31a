//===- ReferenceMoe.h - Plain f64 loops for the mixture-of-experts ops -*- C++
//-*-===//

#ifndef CKPT_RUNTIME_REFERENCE_REFERENCEMOE_H
#define CKPT_RUNTIME_REFERENCE_REFERENCEMOE_H

#include "ckpt/runtime/Backend.h"

#include <map>
#include <string>

namespace ckpt::rt {
/// The reference kernels of the moe_* and expert_linear* ops, by op name.
const std::map<std::string, Kernel, std::less<>> &referenceMoeKernels();
} // namespace ckpt::rt

#endif // CKPT_RUNTIME_REFERENCE_REFERENCEMOE_H
