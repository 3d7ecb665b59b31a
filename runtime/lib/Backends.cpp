//===- Backends.cpp - The backends of this build --------------------------===//

#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/Executor.h"

#include "../cpu/CpuBackend.h"
#include "../cuda/CudaBackends.h"
#include "../reference/ReferenceBackend.h"

using namespace ckpt::rt;

Backend::~Backend() = default;

void *Backend::allocate(size_t bytes) {
  ++allocations_;
  void *ptr = allocateDevice(bytes);
  if (!ptr)
    throw RuntimeError("the " + name() + " backend cannot allocate " +
                       std::to_string(bytes) + " bytes");
  return ptr;
}

void Backend::deallocate(void *ptr, size_t bytes) {
  if (ptr)
    deallocateDevice(ptr, bytes);
}

namespace {
struct BackendEntry {
  const char *name;
  std::unique_ptr<Backend> (*create)(std::string &error);
  /// Needs a device this machine may not have (a GPU).
  bool needsDevice;
};
/// Every backend of this build, in the order --help lists them.
const BackendEntry kBackends[] = {
    {"cpu", [](std::string &) { return createCpuBackend(); }, false},
    {"reference", [](std::string &) { return createReferenceBackend(); },
     false},
    {"cuda-emulated", [](std::string &) { return createEmulatedCudaBackend(); },
     false},
#ifdef CKPT_HAVE_CUDA
    {"cuda", createCudaBackend, true},
#endif
};
} // namespace

std::vector<std::string> ckpt::rt::availableBackends() {
  std::vector<std::string> names;
  for (const BackendEntry &entry : kBackends)
    names.push_back(entry.name);
  return names;
}

std::vector<std::string> ckpt::rt::hostBackends() {
  std::vector<std::string> names;
  for (const BackendEntry &entry : kBackends)
    if (!entry.needsDevice)
      names.push_back(entry.name);
  return names;
}

std::string ckpt::rt::checkBackendName(const std::string &name) {
  std::string list;
  for (const BackendEntry &entry : kBackends) {
    if (name == entry.name)
      return "";
    list += (list.empty() ? "" : ", ") + std::string(entry.name);
  }
  return "unknown backend '" + name + "' (this build has: " + list + ")";
}

std::unique_ptr<Backend> ckpt::rt::createBackend(const std::string &name,
                                                 std::string &error) {
  for (const BackendEntry &entry : kBackends)
    if (name == entry.name)
      return entry.create(error);
  error = checkBackendName(name);
  return nullptr;
}
