//===- MoeKernels.h - Mixture-of-experts kernels of the CPU backend -*- C++
//-*-===//
//
// Routing is decided in double precision from the stored logits, so the
// same logits route alike in every compute type and on every backend. The
// rest follows Kernels.h: deterministic, with each reduction in a fixed
// order. T is float or double.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_MOEKERNELS_H
#define CKPT_RUNTIME_MOEKERNELS_H

#include <cstdint>
#include <vector>

namespace ckpt::rt::kernels {

/// The router's decision for `tokens` rows of `experts` logits: each row's
/// top `k` experts (descending, ties to the lower index), their softmax
/// weights, and each choice's slot (e·capacity + c, or -1 when dropped; with
/// capacity 0 every choice's row of the grouped buffer).
struct Routing {
  std::vector<double> weights;
  std::vector<int64_t> experts;
  std::vector<int64_t> slots;
};
Routing routeTokens(const std::vector<double> &logits, int64_t tokens,
                    int64_t experts, int64_t k, int64_t capacity,
                    bool dropByProbs);

/// The top-k softmax's logit gradient; `experts` are each row's choices.
template <typename T>
void moeRouteGrad(const T *logits, const int64_t *experts, const T *gradWeights,
                  int64_t tokens, int64_t numExperts, int64_t k, T *gradLogits);

/// The load-balancing loss and its logit gradient (upstream gradient 1).
template <typename T>
double moeAuxLoss(const T *logits, const int64_t *experts, const T *counts,
                  int64_t tokens, int64_t numExperts, int64_t k, double coeff);
template <typename T>
void moeAuxLossGrad(const T *logits, const int64_t *experts, const T *counts,
                    int64_t tokens, int64_t numExperts, int64_t k, double coeff,
                    T *gradLogits);

/// x [tokens, h] into buffer [rows, h] by `slots` [tokens, k].
template <typename T>
void moeDispatch(const T *x, const int64_t *slots, int64_t tokens, int64_t k,
                 int64_t h, int64_t rows, T *buffer);
template <typename T>
void moeDispatchGrad(const int64_t *slots, const T *gradBuffer, int64_t tokens,
                     int64_t k, int64_t h, T *gradX);

template <typename T>
void moeCombine(const T *expertOut, const T *weights, const int64_t *slots,
                int64_t tokens, int64_t k, int64_t h, T *y);
template <typename T>
void moeCombineGrad(const T *expertOut, const T *weights, const int64_t *slots,
                    const T *gradY, int64_t tokens, int64_t k, int64_t h,
                    int64_t rows, T *gradExpertOut, T *gradWeights);

/// Per expert e: y_e = x_e · w_eᵀ over its rows [starts[e], starts[e+1])
/// of the buffer (e·C.. for per-expert buffers of C rows, or the groups of a
/// grouped buffer); an expert without rows has a zero weight gradient.
template <typename T>
void expertLinear(const T *x, const T *weight, const int64_t *starts,
                  int64_t experts, int64_t out, int64_t in, T *y);
template <typename T>
void expertLinearGradInput(const T *gradOut, const T *weight,
                           const int64_t *starts, int64_t experts, int64_t out,
                           int64_t in, T *gradX);
template <typename T>
void expertLinearGradWeight(const T *gradOut, const T *x, const int64_t *starts,
                            int64_t experts, int64_t out, int64_t in,
                            T *gradWeight);

} // namespace ckpt::rt::kernels

#endif // CKPT_RUNTIME_MOEKERNELS_H
