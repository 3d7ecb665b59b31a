//===- MoeKernels.cpp - Mixture-of-experts kernels of the CPU backend -----===//

#include "MoeKernels.h"
#include "Kernels.h"

#include "ckpt/runtime/IndexChecks.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ckpt::rt::kernels {

namespace {
/// Row `t`'s softmax over its chosen experts, from `logits` of any type.
template <typename L>
void chosenSoftmax(const L *row, const int64_t *chosen, int64_t k,
                   double *weights) {
  double top = static_cast<double>(row[chosen[0]]), sum = 0;
  for (int64_t j = 0; j < k; ++j)
    sum += weights[j] = std::exp(static_cast<double>(row[chosen[j]]) - top);
  for (int64_t j = 0; j < k; ++j)
    weights[j] /= sum;
}

/// Row `t`'s softmax over all experts.
template <typename L> void fullSoftmax(const L *row, int64_t n, double *probs) {
  double top = static_cast<double>(*std::max_element(row, row + n)), sum = 0;
  for (int64_t e = 0; e < n; ++e)
    sum += probs[e] = std::exp(static_cast<double>(row[e]) - top);
  for (int64_t e = 0; e < n; ++e)
    probs[e] /= sum;
}

/// g_e = coeff · E · c_e / (k · T²): the loss's gradient per probability;
/// with pooled counts, coeff · counts_e.
template <typename T>
std::vector<double> balanceWeights(const int64_t *experts, const T *counts,
                                   int64_t tokens, int64_t numExperts,
                                   int64_t k, double coeff) {
  std::vector<double> g(numExperts, 0.0);
  if (counts) {
    for (int64_t e = 0; e < numExperts; ++e)
      g[e] = coeff * static_cast<double>(counts[e]);
    return g;
  }
  for (int64_t i = 0; i < tokens * k; ++i)
    g[experts[i]] += 1.0;
  double scale = coeff * static_cast<double>(numExperts) /
                 (static_cast<double>(k) * static_cast<double>(tokens) *
                  static_cast<double>(tokens));
  for (double &value : g)
    value *= scale;
  return g;
}
} // namespace

Routing routeTokens(const std::vector<double> &logits, int64_t tokens,
                    int64_t experts, int64_t k, int64_t capacity,
                    bool dropByProbs) {
  Routing r;
  r.weights.resize(tokens * k);
  r.experts.resize(tokens * k);
  r.slots.assign(tokens * k, -1);
  std::vector<int64_t> order(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    const double *row = logits.data() + t * experts;
    std::iota(order.begin(), order.end(), 0);
    // Descending logits, ties to the lower expert: a stable order.
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) {
                        return row[a] > row[b] || (row[a] == row[b] && a < b);
                      });
    std::copy_n(order.begin(), k, r.experts.begin() + t * k);
    chosenSoftmax(row, r.experts.data() + t * k, k, r.weights.data() + t * k);
  }
  // Capacity: which choices keep a row of their expert's buffer.
  std::vector<char> kept(tokens * k, 0);
  if (capacity == 0) {
    std::fill(kept.begin(), kept.end(), 1); // Dropless.
  } else if (dropByProbs) {
    std::vector<std::vector<int64_t>> byExpert(experts);
    for (int64_t i = 0; i < tokens * k; ++i)
      byExpert[r.experts[i]].push_back(i);
    for (auto &choices : byExpert) {
      std::stable_sort(
          choices.begin(), choices.end(),
          [&](int64_t a, int64_t b) { return r.weights[a] > r.weights[b]; });
      for (size_t i = 0; i < choices.size() && int64_t(i) < capacity; ++i)
        kept[choices[i]] = 1;
    }
  } else {
    std::vector<int64_t> taken(experts, 0);
    for (int64_t i = 0; i < tokens * k; ++i)
      kept[i] = taken[r.experts[i]]++ < capacity;
  }
  // Kept choices are numbered in token order within their expert, from
  // the expert's first row: e·capacity, or dropless (capacity 0) after the
  // choices of the experts before it.
  std::vector<int64_t> next(experts, 0);
  if (capacity == 0) {
    std::vector<int64_t> starts = groupedRowStarts(r.experts, experts);
    next.assign(starts.begin(), starts.end() - 1);
  }
  for (int64_t i = 0; i < tokens * k; ++i)
    if (kept[i]) {
      int64_t e = r.experts[i];
      r.slots[i] = e * capacity + next[e]++;
    }
  return r;
}

template <typename T>
void moeRouteGrad(const T *logits, const int64_t *experts, const T *gradWeights,
                  int64_t tokens, int64_t numExperts, int64_t k,
                  T *gradLogits) {
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> w(k);
    const int64_t *chosen = experts + t * k;
    chosenSoftmax(logits + t * numExperts, chosen, k, w.data());
    const T *dw = gradWeights + t * k;
    double dot = 0;
    for (int64_t j = 0; j < k; ++j)
      dot += w[j] * static_cast<double>(dw[j]);
    T *row = gradLogits + t * numExperts;
    std::fill(row, row + numExperts, T(0));
    for (int64_t j = 0; j < k; ++j)
      row[chosen[j]] +=
          static_cast<T>(w[j] * (static_cast<double>(dw[j]) - dot));
  }
}

template <typename T>
double moeAuxLoss(const T *logits, const int64_t *experts, const T *counts,
                  int64_t tokens, int64_t numExperts, int64_t k, double coeff) {
  std::vector<double> g =
      balanceWeights(experts, counts, tokens, numExperts, k, coeff);
  std::vector<double> p(numExperts);
  double loss = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    fullSoftmax(logits + t * numExperts, numExperts, p.data());
    for (int64_t e = 0; e < numExperts; ++e)
      loss += g[e] * p[e];
  }
  return loss;
}

template <typename T>
void moeAuxLossGrad(const T *logits, const int64_t *experts, const T *counts,
                    int64_t tokens, int64_t numExperts, int64_t k, double coeff,
                    T *gradLogits) {
  std::vector<double> g =
      balanceWeights(experts, counts, tokens, numExperts, k, coeff);
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> p(numExperts);
    fullSoftmax(logits + t * numExperts, numExperts, p.data());
    double mean = 0;
    for (int64_t e = 0; e < numExperts; ++e)
      mean += p[e] * g[e];
    for (int64_t e = 0; e < numExperts; ++e)
      gradLogits[t * numExperts + e] = static_cast<T>(p[e] * (g[e] - mean));
  }
}

template <typename T>
void moeDispatch(const T *x, const int64_t *slots, int64_t tokens, int64_t k,
                 int64_t h, int64_t rows, T *buffer) {
  std::fill(buffer, buffer + rows * h, T(0));
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < k; ++j)
      if (int64_t slot = slots[t * k + j]; slot >= 0)
        std::copy_n(x + t * h, h, buffer + slot * h);
}

template <typename T>
void moeDispatchGrad(const int64_t *slots, const T *gradBuffer, int64_t tokens,
                     int64_t k, int64_t h, T *gradX) {
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    T *dx = gradX + t * h;
    std::fill(dx, dx + h, T(0));
    for (int64_t j = 0; j < k; ++j)
      if (int64_t slot = slots[t * k + j]; slot >= 0)
        for (int64_t c = 0; c < h; ++c)
          dx[c] += gradBuffer[slot * h + c];
  }
}

template <typename T>
void moeCombine(const T *expertOut, const T *weights, const int64_t *slots,
                int64_t tokens, int64_t k, int64_t h, T *y) {
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    T *row = y + t * h;
    std::fill(row, row + h, T(0));
    for (int64_t j = 0; j < k; ++j)
      if (int64_t slot = slots[t * k + j]; slot >= 0) {
        T w = weights[t * k + j];
        for (int64_t c = 0; c < h; ++c)
          row[c] += w * expertOut[slot * h + c];
      }
  }
}

template <typename T>
void moeCombineGrad(const T *expertOut, const T *weights, const int64_t *slots,
                    const T *gradY, int64_t tokens, int64_t k, int64_t h,
                    int64_t rows, T *gradExpertOut, T *gradWeights) {
  std::fill(gradExpertOut, gradExpertOut + rows * h, T(0));
#pragma omp parallel for
  for (int64_t t = 0; t < tokens; ++t) {
    const T *dy = gradY + t * h;
    for (int64_t j = 0; j < k; ++j) {
      int64_t slot = slots[t * k + j];
      T dot = 0;
      if (slot >= 0) {
        // Each slot belongs to one choice: the rows do not overlap.
        T w = weights[t * k + j];
        for (int64_t c = 0; c < h; ++c) {
          gradExpertOut[slot * h + c] = w * dy[c];
          dot += dy[c] * expertOut[slot * h + c];
        }
      }
      gradWeights[t * k + j] = dot;
    }
  }
}

template <typename T>
void expertLinear(const T *x, const T *weight, const int64_t *starts,
                  int64_t experts, int64_t out, int64_t in, T *y) {
  for (int64_t e = 0; e < experts; ++e) {
    int64_t rows = starts[e + 1] - starts[e];
    if (rows > 0)
      gemm<T>(false, true, rows, out, in, T(1), x + starts[e] * in, in,
              weight + e * out * in, in, T(0), y + starts[e] * out, out);
  }
}

template <typename T>
void expertLinearGradInput(const T *gradOut, const T *weight,
                           const int64_t *starts, int64_t experts, int64_t out,
                           int64_t in, T *gradX) {
  for (int64_t e = 0; e < experts; ++e) {
    int64_t rows = starts[e + 1] - starts[e];
    if (rows > 0)
      gemm<T>(false, false, rows, in, out, T(1), gradOut + starts[e] * out, out,
              weight + e * out * in, in, T(0), gradX + starts[e] * in, in);
  }
}

template <typename T>
void expertLinearGradWeight(const T *gradOut, const T *x, const int64_t *starts,
                            int64_t experts, int64_t out, int64_t in,
                            T *gradWeight) {
  for (int64_t e = 0; e < experts; ++e) {
    int64_t rows = starts[e + 1] - starts[e];
    T *dw = gradWeight + e * out * in;
    if (rows == 0)
      std::fill(dw, dw + out * in, T(0));
    else
      gemm<T>(true, false, out, in, rows, T(1), gradOut + starts[e] * out, out,
              x + starts[e] * in, in, T(0), dw, in);
  }
}

#define CKPT_INSTANTIATE_MOE(T)                                                \
  template void moeRouteGrad<T>(const T *, const int64_t *, const T *,         \
                                int64_t, int64_t, int64_t, T *);               \
  template double moeAuxLoss<T>(const T *, const int64_t *, const T *,         \
                                int64_t, int64_t, int64_t, double);            \
  template void moeAuxLossGrad<T>(const T *, const int64_t *, const T *,       \
                                  int64_t, int64_t, int64_t, double, T *);     \
  template void moeDispatch<T>(const T *, const int64_t *, int64_t, int64_t,   \
                               int64_t, int64_t, T *);                         \
  template void moeDispatchGrad<T>(const int64_t *, const T *, int64_t,        \
                                   int64_t, int64_t, T *);                     \
  template void moeCombine<T>(const T *, const T *, const int64_t *, int64_t,  \
                              int64_t, int64_t, T *);                          \
  template void moeCombineGrad<T>(const T *, const T *, const int64_t *,       \
                                  const T *, int64_t, int64_t, int64_t,        \
                                  int64_t, T *, T *);                          \
  template void expertLinear<T>(const T *, const T *, const int64_t *,         \
                                int64_t, int64_t, int64_t, T *);               \
  template void expertLinearGradInput<T>(                                      \
      const T *, const T *, const int64_t *, int64_t, int64_t, int64_t, T *);  \
  template void expertLinearGradWeight<T>(                                     \
      const T *, const T *, const int64_t *, int64_t, int64_t, int64_t, T *);

CKPT_INSTANTIATE_MOE(float)
CKPT_INSTANTIATE_MOE(double)

} // namespace ckpt::rt::kernels
