//===- Backends.cpp - The backends of this build --------------------------===//

#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/Executor.h"

#include "../cpu/CpuBackend.h"
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

std::vector<std::string> ckpt::rt::availableBackends() {
  return {"cpu", "reference"};
}

std::unique_ptr<Backend> ckpt::rt::createBackend(const std::string &name,
                                                 std::string &error) {
  if (name == "cpu")
    return createCpuBackend();
  if (name == "reference")
    return createReferenceBackend();
  error = "unknown backend '" + name + "' (this build has: cpu, reference)";
  return nullptr;
}
