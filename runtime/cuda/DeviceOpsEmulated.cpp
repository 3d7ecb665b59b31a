//===- DeviceOpsEmulated.cpp - The CUDA ops on the host -------------------===//
//
// The CUDA backend's op code (DeviceOps.inc) with its loops run on the host
// and cuBLAS's GEMM contract in plain loops: what the conformance test
// checks on machines without a GPU.
//
//===----------------------------------------------------------------------===//

#define CKPT_DEVICE_EMULATION 1

#include "DeviceContext.h"
#include "DeviceMath.h"
#include "DeviceTensor.h"
#include "Launch.h"

#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/Rope.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/IndexChecks.h"
#include "ckpt/runtime/Philox.h"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

namespace ckpt::rt::device {
namespace emulated {
#include "DeviceOps.inc"
} // namespace emulated

const std::map<std::string, DeviceOp, std::less<>> &emulatedDeviceOps() {
  return emulated::deviceOps();
}

namespace {
template <typename Acc> void gemmIn(const ColumnMajorGemm &g) {
  Tensor a{const_cast<void *>(g.a), g.type}, b{const_cast<void *>(g.b), g.type},
      c{g.c, g.type};
  for (int64_t z = 0; z < g.batch; ++z)
    for (int64_t j = 0; j < g.n; ++j)
      for (int64_t i = 0; i < g.m; ++i) {
        Acc sum = 0;
        for (int64_t l = 0; l < g.k; ++l) {
          Acc x = a.get<Acc>(z * g.strideA +
                             (g.transA ? l + i * g.lda : i + l * g.lda));
          Acc y = b.get<Acc>(z * g.strideB +
                             (g.transB ? j + l * g.ldb : l + j * g.ldb));
          sum += x * y;
        }
        int64_t at = z * g.strideC + i + j * g.ldc;
        Acc result = static_cast<Acc>(g.alpha) * sum;
        if (g.beta != 0)
          result += static_cast<Acc>(g.beta) * c.get<Acc>(at);
        c.put(at, result);
      }
}
} // namespace

void emulatedGemm(const ColumnMajorGemm &gemm) {
  if (gemm.type == DType::F64)
    gemmIn<double>(gemm);
  else
    gemmIn<float>(gemm);
}

} // namespace ckpt::rt::device
