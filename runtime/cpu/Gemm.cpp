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

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

namespace ckpt::rt::kernels {

namespace {
/// Rows and columns of the output tile one sgemm call computes.
constexpr int64_t kTileRows = 128;
constexpr int64_t kTileColumns = 256;
} // namespace

// oneDNN's sgemm splits a product over the threads it is given, and where
// it splits K (its AVX2 kernels do) the sums, and so the bits, change with
// the thread count. The output is cut into fixed tiles instead, each summed
// whole by one single-threaded call (oneDNN runs one thread inside a
// parallel region): the same bits for any thread count, and every K-sum in
// one order.
template <>
void gemm<float>(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float beta, float *c, int64_t ldc) {
  int64_t rowTiles = (m + kTileRows - 1) / kTileRows;
  int64_t columnTiles = (n + kTileColumns - 1) / kTileColumns;
  int64_t tiles = rowTiles * columnTiles;
  std::atomic<int> failed{static_cast<int>(dnnl_success)};
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < tiles; ++tile) {
    int64_t i0 = tile / columnTiles * kTileRows;
    int64_t j0 = tile % columnTiles * kTileColumns;
    int64_t rows = std::min(kTileRows, m - i0);
    int64_t columns = std::min(kTileColumns, n - j0);
    // Row i of op(A) and column j of op(B), as stored (row-major).
    const float *aTile = transA ? a + i0 : a + i0 * lda;
    const float *bTile = transB ? b + j0 * ldb : b + j0;
    dnnl_status_t status =
        dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', rows, columns, k,
                   alpha, aTile, lda, bTile, ldb, beta, c + i0 * ldc + j0, ldc);
    if (status != dnnl_success)
      failed.store(static_cast<int>(status));
  }
  if (failed.load() != static_cast<int>(dnnl_success))
    throw std::runtime_error("oneDNN sgemm failed (status " +
                             std::to_string(failed.load()) + ") on " +
                             std::to_string(m) + "x" + std::to_string(n) + "x" +
                             std::to_string(k));
}

template <>
void gemm<double>(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  double alpha, const double *a, int64_t lda, const double *b,
                  int64_t ldb, double beta, double *c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

namespace {

void check(dnnl_status_t status, const char *what) {
  if (status != dnnl_success)
    throw std::runtime_error(std::string("oneDNN ") + what +
                             " failed (status " +
                             std::to_string(static_cast<int>(status)) + ")");
}

/// One bf16 × bf16 → f32 matmul primitive per shape, made once: creating a
/// primitive compiles a kernel.
class Bf16Matmuls {
public:
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t>;

  static Bf16Matmuls &get() {
    static Bf16Matmuls instance;
    return instance;
  }

  /// The primitive for `key`, or null where oneDNN has none on this CPU.
  dnnl_primitive_t find(const Key &key) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = primitives.find(key);
    if (it != primitives.end())
      return it->second;
    return primitives[key] = create(key);
  }

  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;

private:
  Bf16Matmuls() {
    check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
    check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags),
          "stream");
  }

  dnnl_primitive_t create(const Key &key) {
    auto [transA, transB, m, n, k, lda, ldb, ldc] = key;
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t aDims = {m, k}, bDims = {k, n}, cDims = {m, n};
    dnnl_dims_t aStrides = {transA ? 1 : lda, transA ? lda : 1};
    dnnl_dims_t bStrides = {transB ? 1 : ldb, transB ? ldb : 1};
    dnnl_dims_t cStrides = {ldc, 1};
    check(dnnl_memory_desc_init_by_strides(&a, 2, aDims, dnnl_bf16, aStrides),
          "memory desc");
    check(dnnl_memory_desc_init_by_strides(&b, 2, bDims, dnnl_bf16, bStrides),
          "memory desc");
    check(dnnl_memory_desc_init_by_strides(&c, 2, cDims, dnnl_f32, cStrides),
          "memory desc");
    dnnl_matmul_desc_t desc;
    check(dnnl_matmul_desc_init(&desc, &a, &b, nullptr, &c), "matmul desc");
    dnnl_primitive_desc_t pd = nullptr;
    if (dnnl_primitive_desc_create(&pd, &desc, nullptr, engine, nullptr) !=
        dnnl_success)
      return nullptr;
    // Only a native kernel: a reference implementation would be slower than
    // widening to f32.
    const char *impl = nullptr;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t primitive = nullptr;
    if (impl && std::string(impl).find("ref") == std::string::npos)
      dnnl_primitive_create(&primitive, pd);
    dnnl_primitive_desc_destroy(pd);
    return primitive;
  }

  std::mutex mutex;
  std::map<Key, dnnl_primitive_t> primitives;
};

} // namespace

bool gemmBf16(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
              const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
              float *c, int64_t ldc) {
  Bf16Matmuls &matmuls = Bf16Matmuls::get();
  dnnl_primitive_t primitive =
      matmuls.find({transA, transB, m, n, k, lda, ldb, ldc});
  if (!primitive)
    return false;
  const_dnnl_primitive_desc_t pd;
  dnnl_primitive_get_primitive_desc(primitive, &pd);
  dnnl_memory_t memories[3];
  const void *pointers[3] = {a, b, c};
  dnnl_query_t queries[3] = {dnnl_query_src_md, dnnl_query_weights_md,
                             dnnl_query_dst_md};
  for (int i = 0; i < 3; ++i)
    check(dnnl_memory_create(&memories[i],
                             dnnl_primitive_desc_query_md(pd, queries[i], 0),
                             matmuls.engine, const_cast<void *>(pointers[i])),
          "memory");
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, memories[0]},
                             {DNNL_ARG_WEIGHTS, memories[1]},
                             {DNNL_ARG_DST, memories[2]}};
  dnnl_status_t status =
      dnnl_primitive_execute(primitive, matmuls.stream, 3, args);
  if (status == dnnl_success)
    status = dnnl_stream_wait(matmuls.stream);
  for (dnnl_memory_t memory : memories)
    dnnl_memory_destroy(memory);
  check(status, "matmul");
  return true;
}

} // namespace ckpt::rt::kernels
