//===- Kernels.h - Kernels of the CPU backend -------------------*- C++ -*-===//
//
// Every kernel is deterministic: work is split across threads by output
// element (row or column), and each reduction runs in a fixed order inside
// one thread, so results depend neither on thread timing nor on buffer
// addresses. T is float or double (the compute type).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_KERNELS_H
#define CKPT_RUNTIME_KERNELS_H

#include <cstdint>

namespace ckpt::rt::kernels {

/// C[M,N] = alpha · op(A) · op(B) + beta · C, row-major.
template <typename T>
void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha,
          const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c,
          int64_t ldc);

/// C[M,N] = op(A) · op(B), row-major, with A and B in bfloat16 and the
/// products summed in f32 (oneDNN's matmul; AVX512_BF16 instructions where
/// the CPU has them). Returns false, computing nothing, where oneDNN has no
/// such matmul for this machine; the caller then widens to f32.
bool gemmBf16(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
              float *c, int64_t ldc);

/// keep[i] = dropoutKeeps(seed, stream, first + i, probability) for i in
/// [0, count): many Philox counters per instruction, bit-identical.
void dropoutKeepMask(uint64_t seed, uint32_t stream, uint64_t first,
                     int64_t count, double probability, uint8_t *keep);

/// GeLU in its tanh form for f32, vectorised (Gelu.cpp), and its gradient.
void geluTanhFloat(const float *x, int64_t count, float *y);
/// h += bias row by row, then g = gelu(h) in the tanh form, one row at a
/// time while it is in cache (h is [rows, n]).
void biasGeluTanhFloat(float *h, const float *bias, int64_t rows, int64_t n,
                       float *g);
void geluTanhGradFloat(const float *x, const float *gradOut, int64_t count,
                       float *gradX);

/// y[r, :] += bias for every row.
template <typename T>
void addBias(T *y, const T *bias, int64_t rows, int64_t out);

/// `position` and `gradPosition` may be null (no position table). A token
/// of -1 is on another rank's rows of a split table (localTokenRows): its
/// word row is 0 and it adds nothing to the word gradient.
template <typename T>
void embedding(const int64_t *tokens, int64_t batch, int64_t seq,
               int64_t hidden, const T *word, const T *position, T *out);
template <typename T>
void embeddingGrad(const int64_t *tokens, int64_t batch, int64_t seq,
                   int64_t hidden, int64_t vocab, int64_t positions,
                   const T *gradOut, T *gradWord, T *gradPosition);

template <typename T>
void layerNorm(const T *x, const T *weight, const T *bias, int64_t rows,
               int64_t n, double epsilon, T *y);
template <typename T>
void layerNormGrad(const T *x, const T *weight, const T *gradOut, int64_t rows,
                   int64_t n, double epsilon, T *gradX, T *gradWeight,
                   T *gradBias);

template <typename T>
void rmsNorm(const T *x, const T *weight, int64_t rows, int64_t n,
             double epsilon, T *y);
template <typename T>
void rmsNormGrad(const T *x, const T *weight, const T *gradOut, int64_t rows,
                 int64_t n, double epsilon, T *gradX, T *gradWeight);

/// x [rows, 2f] (gate, up) -> y [rows, f] = act(gate) · up; SiLU or GeLU.
template <typename T>
void glu(const T *x, int64_t rows, int64_t f, bool gelu, T *y);
template <typename T>
void gluGrad(const T *x, const T *gradOut, int64_t rows, int64_t f, bool gelu,
             T *gradX);

/// Fused attention: q [b, a, sq, d], k and v [b, g, sk, d] -> out [b, a,
/// sq, d] ([sq, b, a·d] when `merged`) and each row's log-sum-exp; its
/// gradient recomputes the scores (out and gradOut in out's layout).
template <typename T>
void flashAttention(const T *q, const T *k, const T *v, int64_t batch,
                    int64_t heads, int64_t groups, int64_t sq, int64_t sk,
                    int64_t dim, double scale, bool causal, double probability,
                    uint64_t seed, uint32_t stream, bool merged, T *out,
                    T *lse);
template <typename T>
void flashAttentionGrad(const T *q, const T *k, const T *v, const T *out,
                        const T *lse, const T *gradOut, int64_t batch,
                        int64_t heads, int64_t groups, int64_t sq, int64_t sk,
                        int64_t dim, double scale, bool causal,
                        double probability, uint64_t seed, uint32_t stream,
                        bool merged, T *gradQ, T *gradK, T *gradV);

/// x [b·a, s, d]: channel pairs (i, i + r/2), i < r/2 = rotaryDim/2, of
/// position j turn by j·frequencies[i] (back by it when `inverse`), cos and
/// sin times `magnitude` (ckpt/OpTable/Rope.h).
template <typename T>
void rope(const T *x, int64_t batchHeads, int64_t seq, int64_t dim,
          int64_t rotaryDim, const double *frequencies, double magnitude,
          bool inverse, T *y);

template <typename T>
void linear(const T *x, const T *weight, const T *bias, int64_t rows,
            int64_t out, int64_t in, T *y);
template <typename T>
void linearGradInput(const T *gradOut, const T *weight, int64_t rows,
                     int64_t out, int64_t in, T *gradX);
template <typename T>
void linearGradWeight(const T *gradOut, const T *x, int64_t rows, int64_t out,
                      int64_t in, T *gradWeight);
template <typename T>
void biasGrad(const T *gradOut, int64_t rows, int64_t n, T *gradBias);

template <typename T>
void gelu(const T *x, int64_t count, bool tanhApprox, T *y);
/// h += bias, then g = gelu(h), row by row: one pass for what addBias and
/// gelu do in two, with their bits.
template <typename T>
void biasGelu(T *h, const T *bias, int64_t rows, int64_t n, bool tanhApprox,
              T *g);
template <typename T>
void geluGrad(const T *x, const T *gradOut, int64_t count, bool tanhApprox,
              T *gradX);

template <typename T> void add(const T *a, const T *b, int64_t count, T *y);

/// y = residual + dropout(x) and the mask, in one pass: the bits of
/// dropout then add.
template <typename T>
void dropoutAdd(const T *x, const T *residual, int64_t count,
                double probability, uint64_t seed, uint32_t stream, T *y,
                uint8_t *mask);
template <typename T>
void dropout(const T *x, int64_t count, double probability, uint64_t seed,
             uint32_t stream, T *y, uint8_t *mask);
template <typename T>
void dropoutGrad(const uint8_t *mask, const T *gradOut, int64_t count,
                 double probability, T *gradX);
/// The mask `dropout` draws for the same seed, stream and element count.
void dropoutMask(int64_t count, double probability, uint64_t seed,
                 uint32_t stream, uint8_t *mask);

/// qkv [s, b, g, a/g + 2, d] <-> q [b, a, s, d], k, v [b, g, s, d] (g
/// query groups; g = a is multi-head attention's [s, b, a, 3, d]).
template <typename T>
void splitHeads(const T *qkv, int64_t seq, int64_t batch, int64_t heads,
                int64_t groups, int64_t dim, T *q, T *k, T *v);
template <typename T>
void splitHeadsGrad(const T *dq, const T *dk, const T *dv, int64_t seq,
                    int64_t batch, int64_t heads, int64_t groups, int64_t dim,
                    T *dqkv);
/// [b, a, s, d] <-> [s, b, a·d].
template <typename T>
void mergeHeads(const T *x, int64_t batch, int64_t heads, int64_t seq,
                int64_t dim, T *y);
template <typename T>
void mergeHeadsGrad(const T *gradOut, int64_t batch, int64_t heads, int64_t seq,
                    int64_t dim, T *gradX);

/// `batches` = b·a query heads; each `rep` = a/g of them share one key
/// and value head (grouped-query attention; rep = 1 for multi-head).
template <typename T>
void attentionScores(const T *q, const T *k, int64_t batches, int64_t rep,
                     int64_t sq, int64_t sk, int64_t dim, double scale,
                     T *scores);
template <typename T>
void attentionScoresGrad(const T *q, const T *k, const T *gradScores,
                         int64_t batches, int64_t rep, int64_t sq, int64_t sk,
                         int64_t dim, double scale, T *gradQ, T *gradK);
template <typename T>
void attentionContext(const T *probs, const T *v, int64_t batches, int64_t rep,
                      int64_t sq, int64_t sk, int64_t dim, T *context);
template <typename T>
void attentionContextGrad(const T *probs, const T *v, const T *gradContext,
                          int64_t batches, int64_t rep, int64_t sq, int64_t sk,
                          int64_t dim, T *gradProbs, T *gradV);

/// Softmax of `rows` rows of `n`; with `causalRows` > 0, row r masks the
/// columns after r % causalRows.
template <typename T>
void softmax(const T *x, int64_t rows, int64_t n, int64_t causalRows, T *y);
template <typename T>
void softmaxGrad(const T *y, const T *gradOut, int64_t rows, int64_t n,
                 T *gradX);

/// Cross-entropy of logits [rows, v] (rows in [s, b] order), in the steps
/// between which a vocabulary split over ranks reduces (Megatron's
/// vocab_parallel_cross_entropy). `local[r]` is row r's label as a column
/// of these logits, or -1 where the label is on another rank or the row
/// does not count; `counts[r]` says whether row r counts.
///
/// The maximum of each row.
template <typename T>
void rowMaxima(const T *logits, int64_t rows, int64_t v, T *max);
/// probs = exp(logits - max) with each row's sum, and each row's label
/// logit (0 where local is -1).
template <typename T>
void rowExponentials(const T *logits, const int64_t *local, int64_t rows,
                     int64_t v, const T *max, T *probs, T *sums,
                     T *labelLogits);
/// Divides probs by the row sums (0 on rows that do not count) and returns
/// the sum over counted rows of log(sum) + max - labelLogit, divided by
/// counted · microBatches (0 when none counts).
template <typename T>
double normalizeAndLoss(T *probs, const uint8_t *counts, int64_t rows,
                        int64_t v, const T *max, const T *sums,
                        const T *labelLogits, int64_t counted,
                        int64_t microBatches);
/// (probs - onehot(local)) / (counted · microBatches) on counted rows, 0 on
/// the others.
template <typename T>
void crossEntropyGrad(const T *probs, const int64_t *local,
                      const uint8_t *counts, int64_t rows, int64_t v,
                      int64_t counted, int64_t microBatches, T *gradLogits);

} // namespace ckpt::rt::kernels

#endif // CKPT_RUNTIME_KERNELS_H
