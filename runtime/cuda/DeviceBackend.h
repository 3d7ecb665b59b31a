//===- DeviceBackend.h - What the GPU and its emulation share ---*- C++ -*-===//
//
// A backend whose kernels are the device ops (DeviceOps.inc): each op of the
// table is looked up in the build's table and called with this backend as
// its DeviceContext; scratch grows through the backend's counted
// allocations. Subclasses bring memory, copies and the GEMM.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_CUDA_DEVICEBACKEND_H
#define CKPT_RUNTIME_CUDA_DEVICEBACKEND_H

#include "DeviceContext.h"

namespace ckpt::rt::device {

class DeviceBackend : public Backend, public DeviceContext {
public:
  using OpTable = std::map<std::string, DeviceOp, std::less<>>;
  explicit DeviceBackend(const OpTable &ops) : ops_(ops) {}

  Kernel kernel(const ops::OpDef &def) const override {
    auto it = ops_.find(def.name);
    if (it == ops_.end())
      return Kernel();
    DeviceOp op = it->second;
    auto *self = const_cast<DeviceBackend *>(this);
    return [op, self](const KernelCall &call) { op(call, *self); };
  }

  void *scratch(size_t bytes) override {
    if (bytes > scratchBytes_) {
      synchronize(); // Kernels launched earlier may still read it.
      releaseScratch();
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

protected:
  /// Subclasses call this from their destructors, while their
  /// deallocateDevice can still run.
  void releaseScratch() {
    deallocate(scratch_, scratchBytes_);
    scratch_ = nullptr;
    scratchBytes_ = 0;
  }

private:
  const OpTable &ops_;
  void *scratch_ = nullptr;
  size_t scratchBytes_ = 0;
};

} // namespace ckpt::rt::device

#endif // CKPT_RUNTIME_CUDA_DEVICEBACKEND_H
