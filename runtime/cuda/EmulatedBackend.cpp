//===- EmulatedBackend.cpp - The CUDA backend's ops on the host -----------===//

#include "CudaBackends.h"
#include "DeviceContext.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace ckpt;
using namespace ckpt::rt;
using namespace ckpt::rt::device;

DeviceContext::~DeviceContext() = default;

namespace {

class EmulatedCudaBackend : public Backend, public DeviceContext {
public:
  ~EmulatedCudaBackend() override { deallocate(scratch_, scratchBytes_); }

  std::string name() const override { return "cuda-emulated"; }

  void copyToDevice(void *device, const void *host, size_t bytes) override {
    std::memcpy(device, host, bytes);
  }
  void copyToHost(void *host, const void *device, size_t bytes) override {
    std::memcpy(host, device, bytes);
  }

  Kernel kernel(const ops::OpDef &def) const override {
    auto it = emulatedDeviceOps().find(def.name);
    if (it == emulatedDeviceOps().end())
      return Kernel();
    DeviceOp op = it->second;
    auto *self = const_cast<EmulatedCudaBackend *>(this);
    return [op, self](const KernelCall &call) { op(call, *self); };
  }

  // DeviceContext
  void gemm(const ColumnMajorGemm &gemm) override { emulatedGemm(gemm); }
  void *scratch(size_t bytes) override {
    if (bytes > scratchBytes_) {
      deallocate(scratch_, scratchBytes_);
      scratch_ = allocate(bytes);
      scratchBytes_ = bytes;
    }
    return scratch_;
  }
  void toHost(void *host, const void *device, size_t bytes) override {
    copyToHost(host, device, bytes);
  }
  void toDevice(void *device, const void *host, size_t bytes) override {
    copyToDevice(device, host, bytes);
  }
  bool hostMemory() const override { return true; }

protected:
  void *allocateDevice(size_t bytes) override {
    size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    return std::aligned_alloc(256, rounded);
  }
  void deallocateDevice(void *ptr, size_t) override { std::free(ptr); }

private:
  void *scratch_ = nullptr;
  size_t scratchBytes_ = 0;
};

} // namespace

std::unique_ptr<Backend> ckpt::rt::createEmulatedCudaBackend() {
  return std::make_unique<EmulatedCudaBackend>();
}
