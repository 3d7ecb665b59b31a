//===- DropoutMask.cpp - Dropout masks, many counters at once -------------===//
//
// The same Philox4x32-10 draw as ckpt/runtime/Philox.h (dropoutKeeps), for
// sixteen consecutive elements per pass in structure-of-arrays form, so that
// the compiler turns each round into vector multiplies: AVX-512 or AVX2
// where the CPU has them (a clone per target, chosen when the library
// loads), plain code elsewhere. The masks are bit-identical to the scalar
// draw (KernelTest.VectorDropoutMaskEqualsTheScalarDraw).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "ckpt/runtime/Philox.h"

#include <algorithm>
#include <cmath>

namespace ckpt::rt::kernels {

namespace {

/// uniformFromBits(bits) >= probability, as an integer test on the 24 bits:
/// the uniform is (bits >> 8) / 2^24 exactly, and probability · 2^24 is
/// exact in double, so the test is (bits >> 8) >= ceil(probability · 2^24).
uint32_t keepThreshold(double probability) {
  double scaled = std::ceil(probability * 16777216.0);
  return static_cast<uint32_t>(std::clamp(scaled, 0.0, 16777216.0));
}

/// Eight counters in the lanes of one vector (32-bit values in 64-bit
/// lanes, so that each round's 32 × 32 → 64-bit products stay in lane).
typedef uint64_t Lanes __attribute__((vector_size(64)));

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void
keepBlocks(uint64_t seed, uint32_t stream, uint64_t first, int64_t count,
           uint32_t threshold, uint8_t *keep) {
  constexpr int kLanes = 8;
  constexpr uint64_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  const uint64_t domain = static_cast<uint32_t>(RngDomain::Dropout);
  const Lanes low32 = Lanes{} + 0xFFFFFFFFu;
  for (int64_t base = 0; base < count; base += kLanes) {
    Lanes c0, c1, c2 = Lanes{} + stream, c3 = Lanes{} + domain;
    for (int l = 0; l < kLanes; ++l) {
      uint64_t index = first + static_cast<uint64_t>(base + l);
      c0[l] = index & 0xFFFFFFFFu;
      c1[l] = index >> 32;
    }
    uint32_t k0 = static_cast<uint32_t>(seed);
    uint32_t k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      Lanes product0 = c0 * kMul0, product1 = c2 * kMul1;
      Lanes next0 = (product1 >> 32) ^ c1 ^ k0;
      Lanes next2 = (product0 >> 32) ^ c3 ^ k1;
      c1 = product1 & low32;
      c3 = product0 & low32;
      c0 = next0;
      c2 = next2;
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    int64_t lanes = std::min<int64_t>(kLanes, count - base);
    for (int64_t l = 0; l < lanes; ++l)
      keep[base + l] = (c0[l] >> 8) >= threshold ? 1 : 0;
  }
}

} // namespace

void dropoutKeepMask(uint64_t seed, uint32_t stream, uint64_t first,
                     int64_t count, double probability, uint8_t *keep) {
  const uint32_t threshold = keepThreshold(probability);
  constexpr int64_t kChunk = 4096; // a multiple of the lanes
#pragma omp parallel for
  for (int64_t start = 0; start < count; start += kChunk)
    keepBlocks(seed, stream, first + static_cast<uint64_t>(start),
               std::min(kChunk, count - start), threshold, keep + start);
}

} // namespace ckpt::rt::kernels
