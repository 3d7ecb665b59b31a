//===- Gelu.cpp - GeLU (tanh form) in f32, many elements at once ----------===//
//
// 0.5·v·(1 + tanh(u)) = v·σ(2u) = v / (1 + e^(-2u)), u = √(2/π)(v +
// 0.044715v³): one exponential per element and no cancellation near zero. The
// exponential is written here so that the loop vectorises (AVX-512 or AVX2
// clones, chosen when the library loads; the file builds with
// -fno-trapping-math, without which GCC keeps the clamps as branches); libm's
// tanhf runs one element at a time. f64 and the erf form keep the plain
// formulas in Kernels.cpp.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ckpt::rt::kernels {

namespace {

constexpr float kSqrt2OverPiF = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

/// e^x: x = n·ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, so that
/// n·ln 2 is exact for |n| <= 128), e^r by its Taylor series to r^7 (the
/// remainder is below 2^-26), 2^n through the exponent bits. Within a few
/// ulp of expf over [-87, 88], to which x is clamped.
inline float expFloat(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float t = x * 1.44269504088896341f;
  float n = static_cast<float>(
      static_cast<int32_t>(t + std::copysign(0.5f, t))); // round to nearest
  float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

/// σ(2u) for the GeLU of v.
inline float halfOnePlusTanh(float v) {
  float u = kSqrt2OverPiF * (v + kCubic * v * v * v);
  return 1.0f / (1.0f + expFloat(-2.0f * u));
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void
geluRange(const float *x, int64_t count, float *y) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i)
    y[i] = x[i] * halfOnePlusTanh(x[i]);
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) void
geluGradRange(const float *x, const float *gradOut, int64_t count,
              float *gradX) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    float v = x[i];
    float s = halfOnePlusTanh(v);
    float dInner = kSqrt2OverPiF * (1.0f + 3.0f * kCubic * v * v);
    // d/dv v·σ(2u) = σ + 2v·σ(1 - σ)·u'.
    gradX[i] = gradOut[i] * (s + 2.0f * v * s * (1.0f - s) * dInner);
  }
}

constexpr int64_t kChunk = 4096;

} // namespace

void geluTanhFloat(const float *x, int64_t count, float *y) {
#pragma omp parallel for
  for (int64_t start = 0; start < count; start += kChunk)
    geluRange(x + start, std::min(kChunk, count - start), y + start);
}

void biasGeluTanhFloat(float *h, const float *bias, int64_t rows, int64_t n,
                       float *g) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    float *row = h + r * n;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c)
      row[c] += bias[c];
    geluRange(row, n, g + r * n);
  }
}

void geluTanhGradFloat(const float *x, const float *gradOut, int64_t count,
                       float *gradX) {
#pragma omp parallel for
  for (int64_t start = 0; start < count; start += kChunk)
    geluGradRange(x + start, gradOut + start, std::min(kChunk, count - start),
                  gradX + start);
}

} // namespace ckpt::rt::kernels
