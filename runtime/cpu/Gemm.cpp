//===- Gemm.cpp - Matrix multiplies of the CPU backend --------------------===//
//
// f32 through oneDNN's sgemm: on this machine kind (AVX-512) it runs at
// about twice OpenBLAS 0.3.21's rate (docs/benchmarks.md, "GEMM library").
// f64 (the gradient checks' precision) stays on OpenBLAS, which oneDNN does
// not cover. Both libraries use the OpenMP runtime the kernels use, so one
// thread pool serves them all.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <stdexcept>
#include <string>

namespace ckpt::rt::kernels {

template <>
void gemm<float>(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float beta, float *c, int64_t ldc) {
  dnnl_status_t status = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m,
                                    n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success)
    throw std::runtime_error("oneDNN sgemm failed (status " +
                             std::to_string(static_cast<int>(status)) +
                             ") on " + std::to_string(m) + "x" +
                             std::to_string(n) + "x" + std::to_string(k));
}

template <>
void gemm<double>(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  double alpha, const double *a, int64_t lda, const double *b,
                  int64_t ldb, double beta, double *c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

} // namespace ckpt::rt::kernels
