//===- DeviceOpsCuda.cu - The CUDA ops on the GPU -------------------------===//
//
// The CUDA backend's op code (DeviceOps.inc) compiled for the GPU: its loops
// become kernel launches (Launch.h).
//
//===----------------------------------------------------------------------===//

#include "DeviceContext.h"
#include "DeviceMath.h"
#include "DeviceTensor.h"
#include "Launch.h"

#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/Rope.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/IndexChecks.h"
#include "ckpt/runtime/Philox.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

namespace ckpt::rt::device {

void checkLaunch(const char *what) {
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw RuntimeError(std::string("cuda: launching ") + what +
                       " failed: " + cudaGetErrorString(status));
}

namespace gpu {
#include "DeviceOps.inc"
} // namespace gpu

const std::map<std::string, DeviceOp, std::less<>> &cudaDeviceOps() {
  return gpu::deviceOps();
}

} // namespace ckpt::rt::device
