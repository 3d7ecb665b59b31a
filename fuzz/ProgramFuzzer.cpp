//===- ProgramFuzzer.cpp - libFuzzer target: the program loader -----------===//
//
// Any text is a valid program or a ProgramError: no other exception, crash
// or undefined behaviour, whatever the file holds.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Program.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    ckpt::rt::parseProgram(
        std::string(reinterpret_cast<const char *>(data), size));
  } catch (const ckpt::rt::ProgramError &) {
  }
  return 0;
}
