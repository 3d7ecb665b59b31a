//===- TestedBackends.h - The backends a test binary checks -----*- C++ -*-===//
//
// The runtime's tests check every backend that runs on any machine; the
// same sources built as ckpt-cuda-tests (ctest label `cuda`, run where a GPU
// is: scripts/device-check.sh) check the GPU. A machine without one never
// runs that binary, so a missing GPU cannot pass for a passing test.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_TEST_TESTEDBACKENDS_H
#define CKPT_RUNTIME_TEST_TESTEDBACKENDS_H

#include "ckpt/runtime/Backend.h"

#include <cstdlib>
#include <string>
#include <vector>

inline std::vector<std::string> testedBackends() {
#ifdef CKPT_GPU_TESTS
  return {"cuda"};
#else
  return ckpt::rt::hostBackends();
#endif
}

/// A backend's name as a test name (gtest takes letters, digits and _).
inline std::string testNameOf(std::string name) {
  for (char &c : name)
    if (c == '-')
      c = '_';
  return name;
}

/// A test program's path: the build's, or the same file name under
/// $CKPT_TEST_PROGRAM_DIR (the GPU tests run from a bundle on a machine
/// without the build folder: scripts/device-check.sh).
inline std::string testProgram(const std::string &built) {
  const char *dir = std::getenv("CKPT_TEST_PROGRAM_DIR");
  if (!dir || !*dir)
    return built;
  return std::string(dir) + "/" + built.substr(built.rfind('/') + 1);
}

#endif // CKPT_RUNTIME_TEST_TESTEDBACKENDS_H
