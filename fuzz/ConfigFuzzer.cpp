//===- ConfigFuzzer.cpp - libFuzzer target: the model config parser -------===//
//
// Any text must give a config or diagnostics, never a crash, an uncaught
// exception or undefined behaviour (built with ASan and UBSan).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Target/Config/ModelConfig.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  ckpt::config::ConfigParseResult result =
      ckpt::config::parseGPTConfig(text, {});
  // A config that parses has every size positive and within 64-bit counts.
  if (result.succeeded()) {
    const ckpt::config::GPTConfig &c = *result.config;
    if (c.numLayers <= 0 || c.hiddenSize <= 0 || c.seqLength <= 0 ||
        c.numAttentionHeads <= 0 || c.hiddenSize % c.numAttentionHeads != 0)
      std::abort();
  }
  return 0;
}
