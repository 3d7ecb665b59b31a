//===- Kernels.cpp - CPU kernels of the runtime ---------------------------===//

#include "Kernels.h"

#include "ckpt/runtime/Philox.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace ckpt::rt::kernels {

namespace {
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
} // namespace

template <typename T>
void embedding(const int64_t *tokens, int64_t batch, int64_t seq,
               int64_t hidden, const T *word, const T *position, T *out) {
#pragma omp parallel for
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < batch; ++j) {
      int64_t token = tokens[j * seq + i];
      T *o = out + (i * batch + j) * hidden;
      const T *p = position ? position + i * hidden : nullptr;
      if (token < 0) { // Another rank's row: its share is 0.
        if (p)
          std::copy(p, p + hidden, o);
        else
          std::fill(o, o + hidden, T(0));
        continue;
      }
      const T *w = word + token * hidden;
      if (!p) {
        std::copy(w, w + hidden, o);
        continue;
      }
      for (int64_t c = 0; c < hidden; ++c)
        o[c] = w[c] + p[c];
    }
}

template <typename T>
void embeddingGrad(const int64_t *tokens, int64_t batch, int64_t seq,
                   int64_t hidden, int64_t vocab, int64_t positions,
                   const T *gradOut, T *gradWord, T *gradPosition) {
  std::fill(gradWord, gradWord + vocab * hidden, T(0));
  if (gradPosition)
    std::fill(gradPosition, gradPosition + positions * hidden, T(0));
    // Split by column: every column sums its tokens in the same order.
#pragma omp parallel for
  for (int64_t c = 0; c < hidden; ++c)
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < batch; ++j) {
        T g = gradOut[(i * batch + j) * hidden + c];
        if (int64_t token = tokens[j * seq + i]; token >= 0)
          gradWord[token * hidden + c] += g;
        if (gradPosition)
          gradPosition[i * hidden + c] += g;
      }
}

template <typename T>
void layerNorm(const T *x, const T *weight, const T *bias, int64_t rows,
               int64_t n, double epsilon, T *y) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * n;
    T mean = 0, var = 0;
    for (int64_t c = 0; c < n; ++c)
      mean += xr[c];
    mean /= T(n);
    for (int64_t c = 0; c < n; ++c)
      var += (xr[c] - mean) * (xr[c] - mean);
    var /= T(n);
    T rstd = T(1) / std::sqrt(var + T(epsilon));
    for (int64_t c = 0; c < n; ++c)
      y[r * n + c] = (xr[c] - mean) * rstd * weight[c] + bias[c];
  }
}

template <typename T>
void layerNormGrad(const T *x, const T *weight, const T *gradOut, int64_t rows,
                   int64_t n, double epsilon, T *gradX, T *gradWeight,
                   T *gradBias) {
  std::vector<T> xhat(rows * n);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * n;
    const T *dy = gradOut + r * n;
    T mean = 0, var = 0;
    for (int64_t c = 0; c < n; ++c)
      mean += xr[c];
    mean /= T(n);
    for (int64_t c = 0; c < n; ++c)
      var += (xr[c] - mean) * (xr[c] - mean);
    var /= T(n);
    T rstd = T(1) / std::sqrt(var + T(epsilon));
    T sumDy = 0, sumDyXhat = 0;
    for (int64_t c = 0; c < n; ++c) {
      T h = (xr[c] - mean) * rstd;
      xhat[r * n + c] = h;
      T g = dy[c] * weight[c];
      sumDy += g;
      sumDyXhat += g * h;
    }
    for (int64_t c = 0; c < n; ++c) {
      T g = dy[c] * weight[c];
      gradX[r * n + c] =
          rstd * (g - sumDy / T(n) - xhat[r * n + c] * sumDyXhat / T(n));
    }
  }
#pragma omp parallel for
  for (int64_t c = 0; c < n; ++c) {
    T dw = 0, db = 0;
    for (int64_t r = 0; r < rows; ++r) {
      dw += gradOut[r * n + c] * xhat[r * n + c];
      db += gradOut[r * n + c];
    }
    gradWeight[c] = dw;
    gradBias[c] = db;
  }
}

/// 1/sqrt(mean(x²) + epsilon) of one row.
template <typename T> T inverseRms(const T *row, int64_t n, double epsilon) {
  T squares = 0;
  for (int64_t c = 0; c < n; ++c)
    squares += row[c] * row[c];
  return T(1) / std::sqrt(squares / T(n) + T(epsilon));
}

template <typename T>
void rmsNorm(const T *x, const T *weight, int64_t rows, int64_t n,
             double epsilon, T *y) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * n;
    T rrms = inverseRms(xr, n, epsilon);
    for (int64_t c = 0; c < n; ++c)
      y[r * n + c] = xr[c] * rrms * weight[c];
  }
}

template <typename T>
void rmsNormGrad(const T *x, const T *weight, const T *gradOut, int64_t rows,
                 int64_t n, double epsilon, T *gradX, T *gradWeight) {
  std::vector<T> xhat(rows * n);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * n;
    const T *dy = gradOut + r * n;
    T rrms = inverseRms(xr, n, epsilon);
    // dx = rrms · (g - xhat · mean(g · xhat)), g = dy · weight.
    T sumGXhat = 0;
    for (int64_t c = 0; c < n; ++c) {
      T h = xr[c] * rrms;
      xhat[r * n + c] = h;
      sumGXhat += dy[c] * weight[c] * h;
    }
    for (int64_t c = 0; c < n; ++c)
      gradX[r * n + c] =
          rrms * (dy[c] * weight[c] - xhat[r * n + c] * sumGXhat / T(n));
  }
#pragma omp parallel for
  for (int64_t c = 0; c < n; ++c) {
    T dw = 0;
    for (int64_t r = 0; r < rows; ++r)
      dw += gradOut[r * n + c] * xhat[r * n + c];
    gradWeight[c] = dw;
  }
}

/// act(g) and act'(g) of a gated linear unit.
template <typename T> std::pair<T, T> gluActivation(T g, bool gelu) {
  if (gelu) {
    T cdf = T(0.5) * (T(1) + std::erf(g * T(kInvSqrt2)));
    T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * g * g);
    return {g * cdf, cdf + g * pdf};
  }
  T sigmoid = T(1) / (T(1) + std::exp(-g));
  return {g * sigmoid, sigmoid * (T(1) + g * (T(1) - sigmoid))};
}

template <typename T>
void glu(const T *x, int64_t rows, int64_t f, bool gelu, T *y) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < f; ++c) {
      const T *xr = x + r * 2 * f;
      y[r * f + c] = gluActivation(xr[c], gelu).first * xr[f + c];
    }
}

template <typename T>
void gluGrad(const T *x, const T *gradOut, int64_t rows, int64_t f, bool gelu,
             T *gradX) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < f; ++c) {
      const T *xr = x + r * 2 * f;
      auto [act, slope] = gluActivation(xr[c], gelu);
      T dy = gradOut[r * f + c];
      gradX[r * 2 * f + c] = dy * xr[f + c] * slope;
      gradX[r * 2 * f + f + c] = dy * act;
    }
}

template <typename T>
void rope(const T *x, int64_t batchHeads, int64_t seq, int64_t dim,
          int64_t rotaryDim, const double *frequencies, double magnitude,
          bool inverse, T *y) {
  // The angles, in double whatever T is: one table for every head.
  int64_t half = rotaryDim / 2;
  std::vector<double> cosines(seq * half), sines(seq * half);
  for (int64_t j = 0; j < seq; ++j)
    for (int64_t i = 0; i < half; ++i) {
      double angle = static_cast<double>(j) * frequencies[i];
      cosines[j * half + i] = magnitude * std::cos(angle);
      double sine = magnitude * std::sin(angle);
      sines[j * half + i] = inverse ? -sine : sine;
    }
#pragma omp parallel for
  for (int64_t row = 0; row < batchHeads * seq; ++row) {
    int64_t j = row % seq;
    const T *xr = x + row * dim;
    T *yr = y + row * dim;
    for (int64_t i = 0; i < half; ++i) {
      T c = T(cosines[j * half + i]), sn = T(sines[j * half + i]);
      T a = xr[i], b = xr[i + half];
      yr[i] = a * c - b * sn;
      yr[i + half] = b * c + a * sn;
    }
    for (int64_t i = rotaryDim; i < dim; ++i)
      yr[i] = xr[i];
  }
}

template <typename T>
void addBias(T *y, const T *bias, int64_t rows, int64_t out) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < out; ++c)
      y[r * out + c] += bias[c];
}

template <typename T>
void linear(const T *x, const T *weight, const T *bias, int64_t rows,
            int64_t out, int64_t in, T *y) {
  gemm<T>(false, true, rows, out, in, T(1), x, in, weight, in, T(0), y, out);
  if (bias)
    addBias(y, bias, rows, out);
}

template <typename T>
void linearGradInput(const T *gradOut, const T *weight, int64_t rows,
                     int64_t out, int64_t in, T *gradX) {
  gemm<T>(false, false, rows, in, out, T(1), gradOut, out, weight, in, T(0),
          gradX, in);
}

template <typename T>
void linearGradWeight(const T *gradOut, const T *x, int64_t rows, int64_t out,
                      int64_t in, T *gradWeight) {
  gemm<T>(true, false, out, in, rows, T(1), gradOut, out, x, in, T(0),
          gradWeight, in);
}

template <typename T>
void biasGrad(const T *gradOut, int64_t rows, int64_t n, T *gradBias) {
#pragma omp parallel for
  for (int64_t c = 0; c < n; ++c) {
    T sum = 0;
    for (int64_t r = 0; r < rows; ++r)
      sum += gradOut[r * n + c];
    gradBias[c] = sum;
  }
}

/// GeLU of one value, as every scalar path computes it.
template <typename T> inline T geluOf(T v, bool tanhApprox) {
  if (tanhApprox)
    return T(0.5) * v *
           (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v)));
  return T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
}

template <typename T>
void gelu(const T *x, int64_t count, bool tanhApprox, T *y) {
  if constexpr (std::is_same_v<T, float>)
    if (tanhApprox)
      return geluTanhFloat(x, count, y);
#pragma omp parallel for
  for (int64_t i = 0; i < count; ++i)
    y[i] = geluOf(x[i], tanhApprox);
}

template <typename T>
void biasGelu(T *h, const T *bias, int64_t rows, int64_t n, bool tanhApprox,
              T *g) {
  if constexpr (std::is_same_v<T, float>)
    if (tanhApprox)
      return biasGeluTanhFloat(h, bias, rows, n, g);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) {
      h[r * n + c] += bias[c];
      g[r * n + c] = geluOf(h[r * n + c], tanhApprox);
    }
}

template <typename T>
void geluGrad(const T *x, const T *gradOut, int64_t count, bool tanhApprox,
              T *gradX) {
  if constexpr (std::is_same_v<T, float>)
    if (tanhApprox)
      return geluTanhGradFloat(x, gradOut, count, gradX);
#pragma omp parallel for
  for (int64_t i = 0; i < count; ++i) {
    T v = x[i], d;
    if (tanhApprox) {
      T inner = T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v);
      T t = std::tanh(inner);
      T dInner = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * v * v);
      d = T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dInner;
    } else {
      T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
      T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
      d = cdf + v * pdf;
    }
    gradX[i] = gradOut[i] * d;
  }
}

template <typename T> void add(const T *a, const T *b, int64_t count, T *y) {
#pragma omp parallel for
  for (int64_t i = 0; i < count; ++i)
    y[i] = a[i] + b[i];
}

template <typename T>
void dropout(const T *x, int64_t count, double probability, uint64_t seed,
             uint32_t stream, T *y, uint8_t *mask) {
  T scale = T(1) / (T(1) - T(probability));
  dropoutKeepMask(seed, stream, 0, count, probability, mask);
#pragma omp parallel for simd
  for (int64_t i = 0; i < count; ++i)
    y[i] = mask[i] ? x[i] * scale : T(0);
}

void dropoutMask(int64_t count, double probability, uint64_t seed,
                 uint32_t stream, uint8_t *mask) {
  dropoutKeepMask(seed, stream, 0, count, probability, mask);
}

template <typename T>
void dropoutAdd(const T *x, const T *residual, int64_t count,
                double probability, uint64_t seed, uint32_t stream, T *y,
                uint8_t *mask) {
  T scale = T(1) / (T(1) - T(probability));
  dropoutKeepMask(seed, stream, 0, count, probability, mask);
  // The dropout's value plus the residual: addition commutes exactly, so
  // the order of the add's operands does not matter. y may sit on x.
#pragma omp parallel for simd
  for (int64_t i = 0; i < count; ++i)
    y[i] = residual[i] + (mask[i] ? x[i] * scale : T(0));
}

template <typename T>
void dropoutGrad(const uint8_t *mask, const T *gradOut, int64_t count,
                 double probability, T *gradX) {
  T scale = T(1) / (T(1) - T(probability));
#pragma omp parallel for
  for (int64_t i = 0; i < count; ++i)
    gradX[i] = mask[i] ? gradOut[i] * scale : T(0);
}

template <typename T>
void splitHeads(const T *qkv, int64_t seq, int64_t batch, int64_t heads,
                int64_t groups, int64_t dim, T *q, T *k, T *v) {
  int64_t rep = heads / groups, row = (heads + 2 * groups) * dim;
#pragma omp parallel for
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t g = 0; g < groups; ++g) {
        const T *src = qkv + (s * batch + b) * row + g * (rep + 2) * dim;
        for (int64_t j = 0; j < rep; ++j)
          std::copy(src + j * dim, src + (j + 1) * dim,
                    q + ((b * heads + g * rep + j) * seq + s) * dim);
        int64_t kv = ((b * groups + g) * seq + s) * dim;
        std::copy(src + rep * dim, src + (rep + 1) * dim, k + kv);
        std::copy(src + (rep + 1) * dim, src + (rep + 2) * dim, v + kv);
      }
}

template <typename T>
void splitHeadsGrad(const T *dq, const T *dk, const T *dv, int64_t seq,
                    int64_t batch, int64_t heads, int64_t groups, int64_t dim,
                    T *dqkv) {
  int64_t rep = heads / groups, row = (heads + 2 * groups) * dim;
#pragma omp parallel for
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t g = 0; g < groups; ++g) {
        T *dst = dqkv + (s * batch + b) * row + g * (rep + 2) * dim;
        for (int64_t j = 0; j < rep; ++j) {
          const T *src = dq + ((b * heads + g * rep + j) * seq + s) * dim;
          std::copy(src, src + dim, dst + j * dim);
        }
        int64_t kv = ((b * groups + g) * seq + s) * dim;
        std::copy(dk + kv, dk + kv + dim, dst + rep * dim);
        std::copy(dv + kv, dv + kv + dim, dst + (rep + 1) * dim);
      }
}

template <typename T>
void mergeHeads(const T *x, int64_t batch, int64_t heads, int64_t seq,
                int64_t dim, T *y) {
#pragma omp parallel for
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t a = 0; a < heads; ++a)
        for (int64_t d = 0; d < dim; ++d)
          y[((s * batch + b) * heads + a) * dim + d] =
              x[((b * heads + a) * seq + s) * dim + d];
}

template <typename T>
void mergeHeadsGrad(const T *gradOut, int64_t batch, int64_t heads, int64_t seq,
                    int64_t dim, T *gradX) {
#pragma omp parallel for
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t a = 0; a < heads; ++a)
        for (int64_t d = 0; d < dim; ++d)
          gradX[((b * heads + a) * seq + s) * dim + d] =
              gradOut[((s * batch + b) * heads + a) * dim + d];
}

// Query head i of the `batches` = b·a reads key and value head i / rep: with
// a = g·rep, that is head (i mod a) / rep of the same batch element. The
// key and value gradients sum their group's heads in head order.

template <typename T>
void attentionScores(const T *q, const T *k, int64_t batches, int64_t rep,
                     int64_t sq, int64_t sk, int64_t dim, double scale,
                     T *scores) {
  for (int64_t i = 0; i < batches; ++i)
    gemm<T>(false, true, sq, sk, dim, T(scale), q + i * sq * dim, dim,
            k + i / rep * sk * dim, dim, T(0), scores + i * sq * sk, sk);
}

template <typename T>
void attentionScoresGrad(const T *q, const T *k, const T *gradScores,
                         int64_t batches, int64_t rep, int64_t sq, int64_t sk,
                         int64_t dim, double scale, T *gradQ, T *gradK) {
  for (int64_t i = 0; i < batches; ++i) {
    const T *ds = gradScores + i * sq * sk;
    gemm<T>(false, false, sq, dim, sk, T(scale), ds, sk, k + i / rep * sk * dim,
            dim, T(0), gradQ + i * sq * dim, dim);
    gemm<T>(true, false, sk, dim, sq, T(scale), ds, sk, q + i * sq * dim, dim,
            T(i % rep == 0 ? 0 : 1), gradK + i / rep * sk * dim, dim);
  }
}

template <typename T>
void attentionContext(const T *probs, const T *v, int64_t batches, int64_t rep,
                      int64_t sq, int64_t sk, int64_t dim, T *context) {
  for (int64_t i = 0; i < batches; ++i)
    gemm<T>(false, false, sq, dim, sk, T(1), probs + i * sq * sk, sk,
            v + i / rep * sk * dim, dim, T(0), context + i * sq * dim, dim);
}

template <typename T>
void attentionContextGrad(const T *probs, const T *v, const T *gradContext,
                          int64_t batches, int64_t rep, int64_t sq, int64_t sk,
                          int64_t dim, T *gradProbs, T *gradV) {
  for (int64_t i = 0; i < batches; ++i) {
    const T *dc = gradContext + i * sq * dim;
    gemm<T>(false, true, sq, sk, dim, T(1), dc, dim, v + i / rep * sk * dim,
            dim, T(0), gradProbs + i * sq * sk, sk);
    gemm<T>(true, false, sk, dim, sq, T(1), probs + i * sq * sk, sk, dc, dim,
            T(i % rep == 0 ? 0 : 1), gradV + i / rep * sk * dim, dim);
  }
}

// Fused attention, one query row at a time: the probabilities of a row
// live only in a row buffer. Row (i·a + h)·sq + r keeps key j when
// dropoutKeeps draws it at index row·sk + j, as xf.dropout would for the
// [b, a, sq, sk] probabilities.

/// Where query row (b·a + h)·sq + r of the result starts: row·d, or in
/// the merged [sq, b, a·d] layout ((r·batch + b)·a + h)·d.
static int64_t resultOffset(int64_t row, int64_t batch, int64_t heads,
                            int64_t sq, int64_t dim, bool merged) {
  if (!merged)
    return row * dim;
  int64_t r = row % sq, h = row / sq % heads, b = row / sq / heads;
  return ((r * batch + b) * heads + h) * dim;
}

template <typename T>
void flashAttention(const T *q, const T *k, const T *v, int64_t batch,
                    int64_t heads, int64_t groups, int64_t sq, int64_t sk,
                    int64_t dim, double scale, bool causal, double probability,
                    uint64_t seed, uint32_t stream, bool merged, T *out,
                    T *lse) {
  int64_t rep = heads / groups;
  T keepScale = T(1) / (T(1) - T(probability));
#pragma omp parallel for
  for (int64_t row = 0; row < batch * heads * sq; ++row) {
    int64_t r = row % sq, h = row / sq % heads, b = row / sq / heads;
    const T *qi = q + row * dim;
    const T *kb = k + (b * groups + h / rep) * sk * dim;
    const T *vb = v + (b * groups + h / rep) * sk * dim;
    int64_t visible = causal ? std::min(sk, r + 1) : sk;
    std::vector<T> p(visible);
    T max = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < visible; ++j) {
      T dot = 0;
      for (int64_t e = 0; e < dim; ++e)
        dot += qi[e] * kb[j * dim + e];
      p[j] = T(scale) * dot;
      max = std::max(max, p[j]);
    }
    T sum = 0;
    for (int64_t j = 0; j < visible; ++j)
      sum += std::exp(p[j] - max);
    T logSum = max + std::log(sum);
    lse[row] = logSum;
    T *o = out + resultOffset(row, batch, heads, sq, dim, merged);
    std::fill(o, o + dim, T(0));
    for (int64_t j = 0; j < visible; ++j) {
      T pj = std::exp(p[j] - logSum);
      if (probability > 0.0)
        pj = dropoutKeeps(seed, stream, static_cast<uint64_t>(row * sk + j),
                          probability)
                 ? pj * keepScale
                 : T(0);
      for (int64_t e = 0; e < dim; ++e)
        o[e] += pj * vb[j * dim + e];
    }
  }
}

template <typename T>
void flashAttentionGrad(const T *q, const T *k, const T *v, const T *out,
                        const T *lse, const T *gradOut, int64_t batch,
                        int64_t heads, int64_t groups, int64_t sq, int64_t sk,
                        int64_t dim, double scale, bool causal,
                        double probability, uint64_t seed, uint32_t stream,
                        bool merged, T *gradQ, T *gradK, T *gradV) {
  int64_t rep = heads / groups;
  T keepScale = T(1) / (T(1) - T(probability));
  // One thread per key/value head: it sums its group's query heads in order.
#pragma omp parallel for
  for (int64_t kv = 0; kv < batch * groups; ++kv) {
    int64_t b = kv / groups, g = kv % groups;
    const T *kb = k + kv * sk * dim, *vb = v + kv * sk * dim;
    T *dk = gradK + kv * sk * dim, *dv = gradV + kv * sk * dim;
    std::fill(dk, dk + sk * dim, T(0));
    std::fill(dv, dv + sk * dim, T(0));
    for (int64_t h = g * rep; h < (g + 1) * rep; ++h)
      for (int64_t r = 0; r < sq; ++r) {
        int64_t row = (b * heads + h) * sq + r;
        int64_t at = resultOffset(row, batch, heads, sq, dim, merged);
        const T *qi = q + row * dim, *oi = out + at, *doi = gradOut + at;
        T *dq = gradQ + row * dim;
        std::fill(dq, dq + dim, T(0));
        T delta = 0; // rowsum(dO ⊙ O)
        for (int64_t e = 0; e < dim; ++e)
          delta += doi[e] * oi[e];
        int64_t visible = causal ? std::min(sk, r + 1) : sk;
        for (int64_t j = 0; j < visible; ++j) {
          T dot = 0;
          for (int64_t e = 0; e < dim; ++e)
            dot += qi[e] * kb[j * dim + e];
          T p = std::exp(T(scale) * dot - lse[row]);
          T kept = T(1);
          if (probability > 0.0)
            kept =
                dropoutKeeps(seed, stream, static_cast<uint64_t>(row * sk + j),
                             probability)
                    ? keepScale
                    : T(0);
          T dp = 0;
          for (int64_t e = 0; e < dim; ++e)
            dp += doi[e] * vb[j * dim + e];
          T ds = p * (dp * kept - delta) * T(scale);
          for (int64_t e = 0; e < dim; ++e) {
            dq[e] += ds * kb[j * dim + e];
            dk[j * dim + e] += ds * qi[e];
            dv[j * dim + e] += p * kept * doi[e];
          }
        }
      }
  }
}

template <typename T>
void softmax(const T *x, int64_t rows, int64_t n, int64_t causalRows, T *y) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * n;
    T *yr = y + r * n;
    int64_t valid = causalRows > 0 ? std::min(n, r % causalRows + 1) : n;
    T max = xr[0];
    for (int64_t c = 1; c < valid; ++c)
      max = std::max(max, xr[c]);
    T sum = 0;
    for (int64_t c = 0; c < valid; ++c) {
      yr[c] = std::exp(xr[c] - max);
      sum += yr[c];
    }
    for (int64_t c = 0; c < valid; ++c)
      yr[c] /= sum;
    for (int64_t c = valid; c < n; ++c)
      yr[c] = T(0);
  }
}

template <typename T>
void softmaxGrad(const T *y, const T *gradOut, int64_t rows, int64_t n,
                 T *gradX) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *yr = y + r * n;
    const T *dy = gradOut + r * n;
    T dot = 0;
    for (int64_t c = 0; c < n; ++c)
      dot += yr[c] * dy[c];
    for (int64_t c = 0; c < n; ++c)
      gradX[r * n + c] = yr[c] * (dy[c] - dot);
  }
}

template <typename T>
void rowMaxima(const T *logits, int64_t rows, int64_t v, T *max) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = logits + r * v;
    T m = row[0];
    for (int64_t c = 1; c < v; ++c)
      m = std::max(m, row[c]);
    max[r] = m;
  }
}

template <typename T>
void rowExponentials(const T *logits, const int64_t *local, int64_t rows,
                     int64_t v, const T *max, T *probs, T *sums,
                     T *labelLogits) {
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = logits + r * v;
    T *p = probs + r * v;
    T sum = 0;
    for (int64_t c = 0; c < v; ++c) {
      p[c] = std::exp(row[c] - max[r]);
      sum += p[c];
    }
    sums[r] = sum;
    labelLogits[r] = local[r] >= 0 ? row[local[r]] : T(0);
  }
}

template <typename T>
double normalizeAndLoss(T *probs, const uint8_t *counts, int64_t rows,
                        int64_t v, const T *max, const T *sums,
                        const T *labelLogits, int64_t counted,
                        int64_t microBatches) {
  std::vector<double> perRow(rows, 0.0);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    T *p = probs + r * v;
    if (!counts[r]) {
      std::fill(p, p + v, T(0));
      continue;
    }
    for (int64_t c = 0; c < v; ++c)
      p[c] /= sums[r];
    perRow[r] =
        static_cast<double>(std::log(sums[r]) + max[r] - labelLogits[r]);
  }
  // Summed in row order whatever the thread count.
  double total = 0;
  for (double value : perRow)
    total += value;
  if (counted == 0)
    return 0.0;
  return total / static_cast<double>(counted * microBatches);
}

template <typename T>
void crossEntropyGrad(const T *probs, const int64_t *local,
                      const uint8_t *counts, int64_t rows, int64_t v,
                      int64_t counted, int64_t microBatches, T *gradLogits) {
  T inverseCount = T(1) / T(std::max<int64_t>(counted, 1) * microBatches);
#pragma omp parallel for
  for (int64_t r = 0; r < rows; ++r) {
    const T *p = probs + r * v;
    T *grad = gradLogits + r * v;
    if (!counts[r]) {
      std::fill(grad, grad + v, T(0));
      continue;
    }
    for (int64_t c = 0; c < v; ++c)
      grad[c] = p[c] * inverseCount;
    if (local[r] >= 0)
      grad[local[r]] -= inverseCount;
  }
}

#define CKPT_INSTANTIATE(T)                                                    \
  template void biasGelu<T>(T *, const T *, int64_t, int64_t, bool, T *);      \
  template void dropoutAdd<T>(const T *, const T *, int64_t, double, uint64_t, \
                              uint32_t, T *, uint8_t *);                       \
  template void embedding<T>(const int64_t *, int64_t, int64_t, int64_t,       \
                             const T *, const T *, T *);                       \
  template void embeddingGrad<T>(const int64_t *, int64_t, int64_t, int64_t,   \
                                 int64_t, int64_t, const T *, T *, T *);       \
  template void layerNorm<T>(const T *, const T *, const T *, int64_t,         \
                             int64_t, double, T *);                            \
  template void layerNormGrad<T>(const T *, const T *, const T *, int64_t,     \
                                 int64_t, double, T *, T *, T *);              \
  template void rmsNorm<T>(const T *, const T *, int64_t, int64_t, double,     \
                           T *);                                               \
  template void rmsNormGrad<T>(const T *, const T *, const T *, int64_t,       \
                               int64_t, double, T *, T *);                     \
  template void glu<T>(const T *, int64_t, int64_t, bool, T *);                \
  template void flashAttention<T>(const T *, const T *, const T *, int64_t,    \
                                  int64_t, int64_t, int64_t, int64_t, int64_t, \
                                  double, bool, double, uint64_t, uint32_t,    \
                                  bool, T *, T *);                             \
  template void flashAttentionGrad<T>(                                         \
      const T *, const T *, const T *, const T *, const T *, const T *,        \
      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, bool,      \
      double, uint64_t, uint32_t, bool, T *, T *, T *);                        \
  template void rope<T>(const T *, int64_t, int64_t, int64_t, int64_t,         \
                        const double *, double, bool, T *);                    \
  template void gluGrad<T>(const T *, const T *, int64_t, int64_t, bool, T *); \
  template void addBias<T>(T *, const T *, int64_t, int64_t);                  \
  template void linear<T>(const T *, const T *, const T *, int64_t, int64_t,   \
                          int64_t, T *);                                       \
  template void linearGradInput<T>(const T *, const T *, int64_t, int64_t,     \
                                   int64_t, T *);                              \
  template void linearGradWeight<T>(const T *, const T *, int64_t, int64_t,    \
                                    int64_t, T *);                             \
  template void biasGrad<T>(const T *, int64_t, int64_t, T *);                 \
  template void gelu<T>(const T *, int64_t, bool, T *);                        \
  template void geluGrad<T>(const T *, const T *, int64_t, bool, T *);         \
  template void add<T>(const T *, const T *, int64_t, T *);                    \
  template void dropout<T>(const T *, int64_t, double, uint64_t, uint32_t,     \
                           T *, uint8_t *);                                    \
  template void dropoutGrad<T>(const uint8_t *, const T *, int64_t, double,    \
                               T *);                                           \
  template void splitHeads<T>(const T *, int64_t, int64_t, int64_t, int64_t,   \
                              int64_t, T *, T *, T *);                         \
  template void splitHeadsGrad<T>(const T *, const T *, const T *, int64_t,    \
                                  int64_t, int64_t, int64_t, int64_t, T *);    \
  template void mergeHeads<T>(const T *, int64_t, int64_t, int64_t, int64_t,   \
                              T *);                                            \
  template void mergeHeadsGrad<T>(const T *, int64_t, int64_t, int64_t,        \
                                  int64_t, T *);                               \
  template void attentionScores<T>(const T *, const T *, int64_t, int64_t,     \
                                   int64_t, int64_t, int64_t, double, T *);    \
  template void attentionScoresGrad<T>(const T *, const T *, const T *,        \
                                       int64_t, int64_t, int64_t, int64_t,     \
                                       int64_t, double, T *, T *);             \
  template void attentionContext<T>(const T *, const T *, int64_t, int64_t,    \
                                    int64_t, int64_t, int64_t, T *);           \
  template void attentionContextGrad<T>(const T *, const T *, const T *,       \
                                        int64_t, int64_t, int64_t, int64_t,    \
                                        int64_t, T *, T *);                    \
  template void softmax<T>(const T *, int64_t, int64_t, int64_t, T *);         \
  template void softmaxGrad<T>(const T *, const T *, int64_t, int64_t, T *);   \
  template void rowMaxima<T>(const T *, int64_t, int64_t, T *);                \
  template void rowExponentials<T>(const T *, const int64_t *, int64_t,        \
                                   int64_t, const T *, T *, T *, T *);         \
  template double normalizeAndLoss<T>(T *, const uint8_t *, int64_t, int64_t,  \
                                      const T *, const T *, const T *,         \
                                      int64_t, int64_t);                       \
  template void crossEntropyGrad<T>(const T *, const int64_t *,                \
                                    const uint8_t *, int64_t, int64_t,         \
                                    int64_t, int64_t, T *);

CKPT_INSTANTIATE(float)
CKPT_INSTANTIATE(double)

} // namespace ckpt::rt::kernels
