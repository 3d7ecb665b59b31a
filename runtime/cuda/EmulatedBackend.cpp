//===- EmulatedBackend.cpp - The CUDA backend's ops on the host -----------===//

#include "CudaBackends.h"
#include "DeviceBackend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace ckpt;
using namespace ckpt::rt;
using namespace ckpt::rt::device;

DeviceContext::~DeviceContext() = default;

namespace {

class EmulatedCudaBackend : public DeviceBackend {
public:
  EmulatedCudaBackend() : DeviceBackend(emulatedDeviceOps()) {}
  ~EmulatedCudaBackend() override { releaseScratch(); }

  std::string name() const override { return "cuda-emulated"; }

  void copyToDevice(void *device, const void *host, size_t bytes) override {
    std::memcpy(device, host, bytes);
  }
  void copyToHost(void *host, const void *device, size_t bytes) override {
    std::memcpy(host, device, bytes);
  }

  void gemm(const ColumnMajorGemm &gemm) override { emulatedGemm(gemm); }
  bool hostMemory() const override { return true; }

protected:
  void *allocateDevice(size_t bytes) override {
    size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    return std::aligned_alloc(256, rounded);
  }
  void deallocateDevice(void *ptr, size_t) override { std::free(ptr); }
};

} // namespace

std::unique_ptr<Backend> ckpt::rt::createEmulatedCudaBackend() {
  return std::make_unique<EmulatedCudaBackend>();
}
