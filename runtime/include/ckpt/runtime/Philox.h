//===- Philox.h - Counter-based random numbers ------------------*- C++ -*-===//
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011). A pure function of (key, counter): the runtime keys it with
// the run's seed and counts with (element index, stream), so a dropout mask
// depends only on the seed, the op's rng_stream and the element, and a
// recomputed dropout reproduces the forward mask on every backend.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_PHILOX_H
#define CKPT_RUNTIME_PHILOX_H

#include "ckpt/runtime/HostDevice.h"

#include <array>
#include <cstdint>

namespace ckpt::rt {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

CKPT_HOST_DEVICE inline PhiloxCounter philox4x32_10(PhiloxCounter counter,
                                                    PhiloxKey key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t product0 = static_cast<uint64_t>(kMul0) * counter[0];
    uint64_t product1 = static_cast<uint64_t>(kMul1) * counter[2];
    uint32_t hi0 = static_cast<uint32_t>(product0 >> 32);
    uint32_t lo0 = static_cast<uint32_t>(product0);
    uint32_t hi1 = static_cast<uint32_t>(product1 >> 32);
    uint32_t lo1 = static_cast<uint32_t>(product1);
    counter = {hi1 ^ counter[1] ^ key[0], lo1, hi0 ^ counter[3] ^ key[1], lo0};
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  return counter;
}

/// Random-number domains: the fourth counter word keeps dropout masks,
/// parameter initialisation and synthetic inputs apart.
enum class RngDomain : uint32_t { Dropout = 0, Init = 1, Inputs = 2 };

/// 32 random bits for element `index` of `stream` in `domain`.
CKPT_HOST_DEVICE inline uint32_t randomBits(uint64_t seed, RngDomain domain,
                                            uint32_t stream, uint64_t index) {
  PhiloxCounter counter = {static_cast<uint32_t>(index),
                           static_cast<uint32_t>(index >> 32), stream,
                           static_cast<uint32_t>(domain)};
  PhiloxKey key = {static_cast<uint32_t>(seed),
                   static_cast<uint32_t>(seed >> 32)};
  return philox4x32_10(counter, key)[0];
}

/// A uniform number in [0, 1) with 24 random bits (exact in f32).
CKPT_HOST_DEVICE inline float uniformFromBits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

/// Whether dropout keeps element `index` of the op with `stream`.
CKPT_HOST_DEVICE inline bool dropoutKeeps(uint64_t seed, uint32_t stream,
                                          uint64_t index, double probability) {
  return uniformFromBits(randomBits(seed, RngDomain::Dropout, stream, index)) >=
         probability;
}

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_PHILOX_H
