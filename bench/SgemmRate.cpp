//===- SgemmRate.cpp - One library's sgemm rate on square matrices --------===//
//
//   sgemm-rate [N]
//
// Compiled once per library by bench/gemm-libraries.sh (-DUSE_DNNL for
// oneDNN, else the CBLAS of whichever library it links): seven timed
// N x N x N sgemm calls after one warm-up; prints min, median and max
// GFLOP/s.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#ifdef USE_DNNL
#include <oneapi/dnnl/dnnl.h>
static void sgemm(int n, const float *a, const float *b, float *c) {
  dnnl_sgemm('N', 'N', n, n, n, 1.f, a, n, b, n, 0.f, c, n);
}
#else
#include <cblas.h>
static void sgemm(int n, const float *a, const float *b, float *c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a, n, b,
              n, 0.f, c, n);
}
#endif
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2048;
  std::vector<float> a(size_t(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = (i % 97) * 0.01f;
    b[i] = (i % 89) * 0.02f;
  }
  sgemm(n, a.data(), b.data(), c.data());
  std::vector<double> rates;
  for (int r = 0; r < 7; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    sgemm(n, a.data(), b.data(), c.data());
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    rates.push_back(2.0 * n * n * n / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  printf("n %d GFLOP/s min %.1f median %.1f max %.1f\n", n, rates.front(),
         rates[3], rates.back());
}
