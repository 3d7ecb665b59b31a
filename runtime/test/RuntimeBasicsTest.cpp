//===- RuntimeBasicsTest.cpp - Philox, dtypes, kernels, npy ---------------===//

#include "../cpu/Kernels.h"
#include "ckpt/runtime/Backend.h"
#include "ckpt/runtime/DType.h"
#include "ckpt/runtime/IndexChecks.h"
#include "ckpt/runtime/Npy.h"
#include "ckpt/runtime/Philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

using namespace ckpt::rt;

namespace {

TEST(PhiloxTest, KnownAnswersOfRandom123) {
  // The known-answer vectors published with Random123 (kat_vectors).
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                          {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                          {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxTest, DropoutMaskIsAPureFunctionWithTheRightRate) {
  const int64_t n = 200000;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool keep = dropoutKeeps(7, 3, i, 0.1);
    EXPECT_EQ(keep, dropoutKeeps(7, 3, i, 0.1)); // Same inputs, same bit.
    kept += keep;
  }
  // Binomial(n, 0.9): standard deviation ~134; allow 5 sigma.
  EXPECT_NEAR(static_cast<double>(kept), 0.9 * n, 670);
  // Another stream or seed gives another mask.
  int64_t same = 0;
  for (int64_t i = 0; i < 1000; ++i)
    same += dropoutKeeps(7, 3, i, 0.5) == dropoutKeeps(7, 4, i, 0.5);
  EXPECT_LT(same, 600);
  EXPECT_GT(same, 400);
}

TEST(DTypeTest, BF16RoundsToNearestEven) {
  EXPECT_EQ(floatToBF16(1.0f), 0x3f80);
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1).
  EXPECT_EQ(floatToBF16(1.0f + 1.0f / 256), 0x3f80);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  EXPECT_EQ(floatToBF16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_EQ(bf16ToFloat(floatToBF16(-2.5f)), -2.5f);
}

TEST(DTypeTest, F16KnownValues) {
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(-2.0f), 0xc000);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(1e6f), 0x7c00);                  // Overflow: infinity.
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -24)), 0x0001); // Smallest subnormal.
  EXPECT_EQ(floatToF16(0.1f), 0x2e66);
  for (uint16_t bits : {0x3c00, 0x0001, 0x03ff, 0x7bff, 0xc000, 0x2e66})
    EXPECT_EQ(floatToF16(f16ToFloat(bits)), bits);
  EXPECT_EQ(dtypeSize(DType::I1), 1u);
  EXPECT_EQ(dtypeSize(DType::BF16), 2u);
}

// The conversion the CPU and the GPU share (DType.h): every half survives a
// round trip, and floats at, just below and just above each midpoint
// between neighbouring halves round to the nearer one, ties to even;
// subnormals, the smallest values and the overflow threshold included.
TEST(DTypeTest, F16RoundsEveryFloatToTheNearestHalf) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    auto h = static_cast<uint16_t>(bits);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) // NaN
      continue;
    ASSERT_EQ(floatToF16(f16ToFloat(h)), h) << std::hex << bits;
  }
  for (uint16_t h = 0; h < 0x7bff; ++h) {
    for (float sign : {1.0f, -1.0f}) {
      uint16_t signBit = sign < 0 ? 0x8000 : 0;
      float lo = sign * f16ToFloat(h), hi = sign * f16ToFloat(h + 1);
      float mid = (lo + hi) / 2; // Exact: one bit more than a half has.
      uint16_t even = (h & 1) ? h + 1 : h;
      ASSERT_EQ(floatToF16(mid), even | signBit) << std::hex << h;
      ASSERT_EQ(floatToF16(std::nextafter(mid, 0.0f)), h | signBit)
          << std::hex << h;
      ASSERT_EQ(floatToF16(std::nextafter(mid, sign * 1e9f)), (h + 1) | signBit)
          << std::hex << h;
    }
  }
  // Past the largest half, 65504, values round to infinity from 65520 on.
  EXPECT_EQ(floatToF16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(floatToF16(65520.0f), 0x7c00);
  // Half the smallest subnormal is a tie that goes to zero (even).
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(floatToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -40)), 0x0000);
  EXPECT_EQ(floatToF16(-std::ldexp(1.0f, -40)), 0x8000);
}

/// Runs `op` with bf16 floats on backend `name`; returns the outputs' bits.
std::vector<std::vector<uint16_t>>
runBf16(const std::string &name, const std::string &op,
        const std::vector<std::vector<int64_t>> &shapes, size_t inputs,
        const std::vector<int64_t> &tokens) {
  std::string error;
  std::unique_ptr<Backend> backend = createBackend(name, error);
  EXPECT_TRUE(backend) << error;
  Instruction inst;
  inst.op = op;
  std::unique_ptr<Communicator> comm = makeSingleProcessCommunicator();
  KernelCall call;
  call.inst = &inst;
  call.comm = comm.get();
  std::vector<std::vector<uint16_t>> data(shapes.size());
  std::vector<int64_t> ids = tokens;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t n = 1;
    for (int64_t d : shapes[i])
      n *= d;
    if (i == 0) {
      call.inputs.push_back({ids.data(), DType::I64, &shapes[0], n});
      continue;
    }
    data[i].resize(n);
    for (uint16_t &x : data[i])
      x = floatToBF16(uniform(rng));
    TensorArg arg{data[i].data(), DType::BF16, &shapes[i], n};
    (i < inputs ? call.inputs : call.outputs).push_back(arg);
  }
  backend->kernel (*ckpt::ops::lookupOp(op))(call);
  return {data.begin() + inputs, data.end()};
}

// The CPU's bf16 embedding widens only the rows the tokens pick, and its
// gradient sums only the rows they touch: the same bits as the CUDA op code
// (run on the host), which sums every vocabulary row's tokens in token
// order in float and rounds once. Tokens repeat, and some rows go unused.
TEST(KernelTest, Bf16EmbeddingAndItsGradientMatchTheDeviceCode) {
  std::vector<int64_t> tokens = {3, 1, 3, 0, 7, 3, 1, 5}; // [b=2, s=4]
  std::vector<std::vector<int64_t>> forward = {
      {2, 4}, {9, 6}, {4, 6}, {4, 2, 6}};
  EXPECT_EQ(runBf16("cpu", "embedding", forward, 3, tokens),
            runBf16("cuda-emulated", "embedding", forward, 3, tokens));
  std::vector<std::vector<int64_t>> backward = {
      {2, 4}, {4, 2, 6}, {9, 6}, {4, 6}};
  std::vector<std::vector<uint16_t>> cpu =
      runBf16("cpu", "embedding_grad", backward, 2, tokens);
  EXPECT_EQ(cpu,
            runBf16("cuda-emulated", "embedding_grad", backward, 2, tokens));
  // Row 2 of the table is no token's: zero.
  for (int k = 0; k < 6; ++k)
    EXPECT_EQ(cpu[0][2 * 6 + k], 0);
}

/// Naive C = op(A) · op(B) for checking the BLAS wrapper.
std::vector<double> naiveGemm(bool ta, bool tb, int m, int n, int k,
                              const std::vector<double> &a,
                              const std::vector<double> &b) {
  std::vector<double> c(m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p)
        c[i * n + j] += (ta ? a[p * m + i] : a[i * k + p]) *
                        (tb ? b[j * k + p] : b[p * n + j]);
  return c;
}

std::vector<double> randomVector(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  std::vector<double> v(n);
  for (double &x : v)
    x = dist(gen);
  return v;
}

TEST(KernelTest, GemmMatchesNaiveProductForEveryTranspose) {
  const int m = 5, n = 7, k = 3;
  auto a = randomVector(m * k, 1), b = randomVector(k * n, 2);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::vector<double> c(m * n);
      kernels::gemm<double>(ta, tb, m, n, k, 1.0, a.data(), ta ? m : k,
                            b.data(), tb ? k : n, 0.0, c.data(), n);
      auto expected = naiveGemm(ta, tb, m, n, k, a, b);
      for (int i = 0; i < m * n; ++i)
        EXPECT_NEAR(c[i], expected[i], 1e-12);
    }
}

TEST(KernelTest, FloatGemmMatchesTheReferenceAndIgnoresWhereBuffersSit) {
  // f32 goes through oneDNN: within f32 rounding of a plain loop for every
  // transpose, and the same bits wherever the operands sit (the arena puts
  // the same tensor at different offsets under different policies, and the
  // bit-identical recompute tests rely on it).
  for (auto [m, n, k] :
       {std::tuple<int64_t, int64_t, int64_t>{37, 29, 53}, {256, 192, 320}}) {
    auto a64 = randomVector(m * k, 11), b64 = randomVector(k * n, 12);
    std::vector<float> a(a64.begin(), a64.end()), b(b64.begin(), b64.end());
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        std::vector<float> c(m * n);
        kernels::gemm<float>(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k,
                             b.data(), tb ? k : n, 0.0f, c.data(), n);
        std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
        auto expected = naiveGemm(ta, tb, m, n, k, ad, bd);
        for (int i = 0; i < m * n; ++i)
          EXPECT_NEAR(c[i], expected[i], 1e-4 * (1 + std::abs(expected[i])));
        for (int64_t shift : {1, 3, 8, 16}) {
          std::vector<float> as(shift + a.size()), bs(shift + b.size()),
              cs(shift + c.size());
          std::copy(a.begin(), a.end(), as.begin() + shift);
          std::copy(b.begin(), b.end(), bs.begin() + shift);
          kernels::gemm<float>(ta, tb, m, n, k, 1.0f, as.data() + shift,
                               ta ? m : k, bs.data() + shift, tb ? k : n, 0.0f,
                               cs.data() + shift, n);
          EXPECT_TRUE(std::equal(c.begin(), c.end(), cs.begin() + shift))
              << "shift " << shift << " ta " << ta << " tb " << tb;
        }
      }
  }
}

TEST(KernelTest, FloatGemmGivesTheSameBitsForAnyThreadCount) {
  // The output is cut into fixed tiles, each summed by one thread, so the
  // thread count never changes a sum's order (oneDNN's own split of K on
  // AVX2 machines did). Shapes of several tiles, and a weight gradient's
  // long K.
  std::string error;
  std::unique_ptr<Backend> cpu = createBackend("cpu", error);
  ASSERT_TRUE(cpu) << error;
  int threads = cpu->threads();
  for (auto [m, n, k] :
       {std::tuple<int64_t, int64_t, int64_t>{300, 700, 513}, {96, 64, 4096}}) {
    auto a64 = randomVector(m * k, 31), b64 = randomVector(k * n, 32);
    std::vector<float> a(a64.begin(), a64.end()), b(b64.begin(), b64.end());
    for (bool ta : {false, true}) {
      std::vector<std::vector<float>> results;
      for (int count : {1, 2, 3}) {
        cpu->setThreads(count);
        std::vector<float> c(m * n, 0.5f);
        kernels::gemm<float>(ta, true, m, n, k, 1.0f, a.data(), ta ? m : k,
                             b.data(), k, 1.0f, c.data(), n);
        results.push_back(std::move(c));
      }
      EXPECT_EQ(results[0], results[1]) << m << "x" << n << "x" << k;
      EXPECT_EQ(results[0], results[2]) << m << "x" << n << "x" << k;
    }
  }
  cpu->setThreads(threads);
}

TEST(KernelTest, Bf16GemmSumsExactProductsInFloat) {
  // bf16 × bf16 products are exact in f32, so oneDNN's bf16 matmul must
  // match the f64 product of the same bf16 values to f32 summation error.
  // On a CPU with AVX512_BF16 it must take the native path.
  const int64_t m = 48, n = 40, k = 96;
  auto a64 = randomVector(m * k, 21), b64 = randomVector(k * n, 22);
  std::vector<uint16_t> a(a64.size()), b(b64.size());
  std::vector<double> ad(a.size()), bd(b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = floatToBF16(static_cast<float>(a64[i]));
    ad[i] = bf16ToFloat(a[i]);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = floatToBF16(static_cast<float>(b64[i]));
    bd[i] = bf16ToFloat(b[i]);
  }
  bool native = __builtin_cpu_supports("avx512bf16");
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::vector<float> c(m * n, -1.0f);
      bool ran = kernels::gemmBf16(ta, tb, m, n, k, a.data(), ta ? m : k,
                                   b.data(), tb ? k : n, c.data(), n);
      if (native) {
        EXPECT_TRUE(ran) << "no native bf16 matmul on an AVX512_BF16 CPU";
      }
      if (!ran)
        continue;
      auto expected = naiveGemm(ta, tb, m, n, k, ad, bd);
      for (int64_t i = 0; i < m * n; ++i)
        EXPECT_NEAR(c[i], expected[i], 1e-5 * (1 + std::abs(expected[i])));
    }
}

TEST(KernelTest, VectorDropoutMaskEqualsTheScalarDraw) {
  // Every element, across chunk and lane boundaries, with the counter's high
  // word set, at probabilities whose thresholds are exact or not.
  for (double p : {0.0, 0.1, 0.5, 1.0 / 3.0, 0.999999, 1.0})
    for (uint64_t first : {uint64_t(0), uint64_t(4093), uint64_t(1) << 32}) {
      const int64_t count = 9000;
      std::vector<uint8_t> keep(count);
      kernels::dropoutKeepMask(1234567, 7, first, count, p, keep.data());
      for (int64_t i = 0; i < count; ++i)
        ASSERT_EQ(keep[i], dropoutKeeps(1234567, 7, first + i, p) ? 1 : 0)
            << "p " << p << " first " << first << " i " << i;
    }
}

TEST(KernelTest, VectorGeluMatchesTheFormulaInDouble) {
  // The f32 tanh-form GeLU and its gradient (Gelu.cpp, a vectorised
  // exponential) against the formula in double, over [-30, 30]: within
  // 1e-5 relative plus 1e-7 absolute. (u, computed in f32, carries a
  // relative error that e^(-2u) multiplies by |2u|, up to ~80 before the
  // value underflows; near the gradient's zero only the absolute part is
  // meaningful.)
  std::vector<float> x, ones;
  for (double v = -30.0; v <= 30.0; v += 0.00731)
    x.push_back(static_cast<float>(v));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, -88.0f, 88.0f})
    x.push_back(v);
  ones.assign(x.size(), 1.0f);
  std::vector<float> y(x.size()), dy(x.size());
  kernels::geluTanhFloat(x.data(), static_cast<int64_t>(x.size()), y.data());
  kernels::geluTanhGradFloat(x.data(), ones.data(),
                             static_cast<int64_t>(x.size()), dy.data());
  const double c = std::sqrt(2.0 / M_PI);
  double worst = 0, worstGrad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    // 0.5·v·(1 + tanh u) = v·σ(2u): the σ form in double is the reference
    // (1 + tanh u cancels for very negative v); where it does not cancel,
    // the two forms agree.
    double v = x[i], u = c * (v + 0.044715 * v * v * v);
    double s = 1 / (1 + std::exp(-2 * u)), du = c * (1 + 3 * 0.044715 * v * v);
    double expected = v * s, expectedGrad = s + 2 * v * s * (1 - s) * du;
    if (std::abs(v) <= 4) {
      double t = std::tanh(u);
      EXPECT_NEAR(0.5 * v * (1 + t), expected, 1e-12);
      EXPECT_NEAR(0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du, expectedGrad,
                  1e-12);
    }
    // How far past the tolerance: <= 1 passes.
    auto error = [](double got, double want) {
      return std::abs(got - want) / (1e-5 * std::abs(want) + 1e-7);
    };
    worst = std::max(worst, error(y[i], expected));
    worstGrad = std::max(worstGrad, error(dy[i], expectedGrad));
  }
  std::printf("worst error / tolerance: gelu %.3g, gradient %.3g\n", worst,
              worstGrad);
  EXPECT_LE(worst, 1.0);
  EXPECT_LE(worstGrad, 1.0);
}

TEST(KernelTest, CausalSoftmaxMasksTheFuture) {
  const int64_t s = 4;
  auto x = randomVector(2 * s * s, 3);
  std::vector<double> y(x.size());
  kernels::softmax<double>(x.data(), 2 * s, s, s, y.data());
  for (int64_t r = 0; r < 2 * s; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < s; ++c) {
      if (c > r % s) {
        EXPECT_EQ(y[r * s + c], 0.0);
      }
      sum += y[r * s + c];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  // Row 0 attends only to itself.
  EXPECT_EQ(y[0], 1.0);
}

/// Central finite difference of sum(w ⊙ f(x)) against an analytic gradient.
TEST(KernelTest, LayerNormGradientMatchesFiniteDifferences) {
  const int64_t rows = 3, n = 5;
  const double eps = 1e-5;
  auto x = randomVector(rows * n, 4), w = randomVector(n, 5),
       b = randomVector(n, 6), probe = randomVector(rows * n, 7);
  auto objective = [&](const std::vector<double> &xs,
                       const std::vector<double> &ws) {
    std::vector<double> y(rows * n);
    kernels::layerNorm<double>(xs.data(), ws.data(), b.data(), rows, n, 1e-5,
                               y.data());
    double total = 0;
    for (size_t i = 0; i < y.size(); ++i)
      total += y[i] * probe[i];
    return total;
  };
  std::vector<double> dx(rows * n), dw(n), db(n);
  kernels::layerNormGrad<double>(x.data(), w.data(), probe.data(), rows, n,
                                 1e-5, dx.data(), dw.data(), db.data());
  for (int64_t i = 0; i < rows * n; ++i) {
    auto plus = x, minus = x;
    plus[i] += eps;
    minus[i] -= eps;
    double fd = (objective(plus, w) - objective(minus, w)) / (2 * eps);
    EXPECT_NEAR(dx[i], fd, 1e-7) << "input element " << i;
  }
  for (int64_t c = 0; c < n; ++c) {
    auto plus = w, minus = w;
    plus[c] += eps;
    minus[c] -= eps;
    double fd = (objective(x, plus) - objective(x, minus)) / (2 * eps);
    EXPECT_NEAR(dw[c], fd, 1e-7) << "weight element " << c;
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r)
      sum += probe[r * n + c];
    EXPECT_NEAR(db[c], sum, 1e-12);
  }
}

TEST(KernelTest, GeluGradientsMatchFiniteDifferences) {
  auto x = randomVector(50, 8);
  std::vector<double> ones(x.size(), 1.0), dx(x.size());
  for (bool tanhApprox : {false, true}) {
    kernels::geluGrad<double>(x.data(), ones.data(), x.size(), tanhApprox,
                              dx.data());
    for (size_t i = 0; i < x.size(); ++i) {
      double plus = x[i] + 1e-6, minus = x[i] - 1e-6, yp, ym;
      kernels::gelu<double>(&plus, 1, tanhApprox, &yp);
      kernels::gelu<double>(&minus, 1, tanhApprox, &ym);
      EXPECT_NEAR(dx[i], (yp - ym) / 2e-6, 1e-8);
    }
  }
}

TEST(KernelTest, RmsNormGradientMatchesFiniteDifferences) {
  const int64_t rows = 3, n = 5;
  const double eps = 1e-5;
  auto x = randomVector(rows * n, 14), w = randomVector(n, 15),
       probe = randomVector(rows * n, 17);
  auto objective = [&](const std::vector<double> &xs,
                       const std::vector<double> &ws) {
    std::vector<double> y(rows * n);
    kernels::rmsNorm<double>(xs.data(), ws.data(), rows, n, 1e-6, y.data());
    double total = 0;
    for (size_t i = 0; i < y.size(); ++i)
      total += y[i] * probe[i];
    return total;
  };
  std::vector<double> dx(rows * n), dw(n);
  kernels::rmsNormGrad<double>(x.data(), w.data(), probe.data(), rows, n, 1e-6,
                               dx.data(), dw.data());
  for (int64_t i = 0; i < rows * n; ++i) {
    auto plus = x, minus = x;
    plus[i] += eps;
    minus[i] -= eps;
    double fd = (objective(plus, w) - objective(minus, w)) / (2 * eps);
    EXPECT_NEAR(dx[i], fd, 1e-7) << "input element " << i;
  }
  for (int64_t c = 0; c < n; ++c) {
    auto plus = w, minus = w;
    plus[c] += eps;
    minus[c] -= eps;
    double fd = (objective(x, plus) - objective(x, minus)) / (2 * eps);
    EXPECT_NEAR(dw[c], fd, 1e-7) << "weight element " << c;
  }
}

TEST(KernelTest, GluGradientsMatchFiniteDifferences) {
  const int64_t rows = 4, f = 5;
  auto x = randomVector(rows * 2 * f, 18), probe = randomVector(rows * f, 19);
  for (bool gelu : {false, true}) {
    auto objective = [&](const std::vector<double> &xs) {
      std::vector<double> y(rows * f);
      kernels::glu<double>(xs.data(), rows, f, gelu, y.data());
      double total = 0;
      for (size_t i = 0; i < y.size(); ++i)
        total += y[i] * probe[i];
      return total;
    };
    std::vector<double> dx(x.size());
    kernels::gluGrad<double>(x.data(), probe.data(), rows, f, gelu, dx.data());
    for (size_t i = 0; i < x.size(); ++i) {
      auto plus = x, minus = x;
      plus[i] += 1e-6;
      minus[i] -= 1e-6;
      EXPECT_NEAR(dx[i], (objective(plus) - objective(minus)) / 2e-6, 1e-8)
          << (gelu ? "GeGLU" : "SwiGLU") << " element " << i;
    }
  }
}

TEST(KernelTest, RopeRotatesPairsByPositionAndItsGradientTurnsBack) {
  const int64_t heads = 2, seq = 5, dim = 8, rotary = 4;
  // base 100: pair 0 turns by 1 radian per position, pair 1 by 100^(-1/2).
  const double frequencies[] = {1.0, 0.1};
  // 1: a rotation; 1.5: YaRN's magnitude scales cos and sin.
  for (double m : {1.0, 1.5}) {
    auto x = randomVector(heads * seq * dim, 21);
    std::vector<double> y(x.size()), back(x.size());
    kernels::rope<double>(x.data(), heads, seq, dim, rotary, frequencies, m,
                          false, y.data());
    // Position 0 is only scaled; channels 4-7 pass through.
    for (int64_t i = 0; i < dim; ++i)
      EXPECT_DOUBLE_EQ(y[i], i < rotary ? m * x[i] : x[i]);
    const double *x1 = &x[dim], *y1 = &y[dim];
    EXPECT_NEAR(y1[0], m * (x1[0] * std::cos(1.0) - x1[2] * std::sin(1.0)),
                1e-15);
    EXPECT_NEAR(y1[2], m * (x1[2] * std::cos(1.0) + x1[0] * std::sin(1.0)),
                1e-15);
    EXPECT_NEAR(y1[1], m * (x1[1] * std::cos(0.1) - x1[3] * std::sin(0.1)),
                1e-15);
    for (int64_t i = rotary; i < dim; ++i)
      EXPECT_DOUBLE_EQ(y1[i], x1[i]);
    // The gradient is the transpose, m times the inverse rotation.
    kernels::rope<double>(y.data(), heads, seq, dim, rotary, frequencies, m,
                          true, back.data());
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(back[i], (int64_t(i) % dim < rotary ? m * m : 1.0) * x[i],
                  1e-14);
    // And against finite differences of sum(probe ⊙ rope(x)).
    auto probe = randomVector(x.size(), 22);
    std::vector<double> grad(x.size());
    kernels::rope<double>(probe.data(), heads, seq, dim, rotary, frequencies, m,
                          true, grad.data());
    auto objective = [&](const std::vector<double> &xs) {
      std::vector<double> ys(xs.size());
      kernels::rope<double>(xs.data(), heads, seq, dim, rotary, frequencies, m,
                            false, ys.data());
      double total = 0;
      for (size_t i = 0; i < ys.size(); ++i)
        total += ys[i] * probe[i];
      return total;
    };
    for (size_t i = 0; i < x.size(); i += 7) {
      auto plus = x, minus = x;
      plus[i] += 1e-6;
      minus[i] -= 1e-6;
      EXPECT_NEAR(grad[i], (objective(plus) - objective(minus)) / 2e-6, 1e-8)
          << "magnitude " << m << " element " << i;
    }
  }
}

/// The cross-entropy kernels' steps on one rank: the loss, and the f32
/// softmax the gradient reads in `probs`.
double crossEntropyLoss(const std::vector<double> &logits,
                        const int64_t *labels, int64_t s, int64_t b, int64_t v,
                        int64_t microBatches, std::vector<double> &probs) {
  LossRows y = lossRows(std::vector<int64_t>(labels, labels + b * s), s, b, v,
                        1, 0, -100);
  int64_t rows = s * b;
  std::vector<double> max(rows), sums(rows), labelLogits(rows);
  probs.assign(logits.size(), -1.0);
  kernels::rowMaxima(logits.data(), rows, v, max.data());
  kernels::rowExponentials(logits.data(), y.local.data(), rows, v, max.data(),
                           probs.data(), sums.data(), labelLogits.data());
  return kernels::normalizeAndLoss(probs.data(), y.counts.data(), rows, v,
                                   max.data(), sums.data(), labelLogits.data(),
                                   y.counted, microBatches);
}

TEST(KernelTest, CrossEntropyCountsTheLabelsThatCountOverTheMicroBatches) {
  // logits [s = 3, b = 2, v = 4]; labels [b, s] with two positions of -100.
  const int64_t s = 3, b = 2, v = 4;
  auto logits = randomVector(s * b * v, 41);
  const int64_t labels[] = {1, -100, 3, 0, 2, -100};
  auto term = [&](int64_t i, int64_t j) {
    const double *row = &logits[(i * b + j) * v];
    double sum = 0;
    for (int64_t c = 0; c < v; ++c)
      sum += std::exp(row[c]);
    return std::log(sum) - row[labels[j * s + i]];
  };
  // The mean over the 4 counted positions, over 2 micro-batches.
  double expected = (term(0, 0) + term(2, 0) + term(0, 1) + term(1, 1)) / 8;
  std::vector<double> probs;
  EXPECT_NEAR(crossEntropyLoss(logits, labels, s, b, v, 2, probs), expected,
              1e-15);
  // The kept softmax: rows that count sum to 1, the ignored ones are 0.
  for (int64_t r = 0; r < s * b; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < v; ++c)
      sum += probs[r * v + c];
    bool ignored = r == 1 * b + 0 || r == 2 * b + 1;
    EXPECT_NEAR(sum, ignored ? 0.0 : 1.0, 1e-15) << "row " << r;
  }
  // Nothing counts: 0, not 0/0.
  const int64_t none[] = {-100, -100, -100, -100, -100, -100};
  std::vector<double> unused;
  EXPECT_EQ(crossEntropyLoss(logits, none, s, b, v, 1, unused), 0.0);
  // The gradient from the kept softmax: 0 on the ignored rows, finite
  // differences elsewhere.
  LossRows y = lossRows(std::vector<int64_t>(labels, labels + b * s), s, b, v,
                        1, 0, -100);
  std::vector<double> grad(logits.size());
  kernels::crossEntropyGrad<double>(probs.data(), y.local.data(),
                                    y.counts.data(), s * b, v, y.counted, 2,
                                    grad.data());
  for (int64_t c = 0; c < v; ++c) {
    EXPECT_EQ(grad[(1 * b + 0) * v + c], 0.0); // position 1 of sequence 0
    EXPECT_EQ(grad[(2 * b + 1) * v + c], 0.0); // position 2 of sequence 1
  }
  for (size_t e = 0; e < logits.size(); ++e) {
    auto plus = logits, minus = logits;
    plus[e] += 1e-6;
    minus[e] -= 1e-6;
    double numeric = (crossEntropyLoss(plus, labels, s, b, v, 2, unused) -
                      crossEntropyLoss(minus, labels, s, b, v, 2, unused)) /
                     2e-6;
    EXPECT_NEAR(grad[e], numeric, 1e-9) << "logit " << e;
  }
}

class FlashKernelTest : public ::testing::TestWithParam<bool> {};

TEST_P(FlashKernelTest, IsTheUnfusedChainAndMatchesFiniteDifferences) {
  // 4 query heads in 2 groups, causal, with dropout: the fused forward
  // equals scores -> softmax -> dropout -> context with repeated heads
  // (merged into [s, b, a·d] when the parameter says so), and its gradient
  // (from the forward's result and log-sum-exp) matches central
  // differences.
  const bool merged = GetParam();
  const int64_t b = 2, a = 4, g = 2, s = 5, d = 3;
  const double scale = 0.7, p = 0.25;
  const uint64_t seed = 11;
  const uint32_t stream = 5;
  auto q = randomVector(b * a * s * d, 31), k = randomVector(b * g * s * d, 32),
       v = randomVector(b * g * s * d, 33),
       probe = randomVector(b * a * s * d, 34);
  auto forward = [&](const std::vector<double> &qs,
                     const std::vector<double> &ks,
                     const std::vector<double> &vs, std::vector<double> *lse) {
    std::vector<double> out(b * a * s * d), l(b * a * s);
    kernels::flashAttention<double>(qs.data(), ks.data(), vs.data(), b, a, g, s,
                                    s, d, scale, true, p, seed, stream, merged,
                                    out.data(), l.data());
    if (lse)
      *lse = l;
    return out;
  };
  std::vector<double> lse;
  std::vector<double> out = forward(q, k, v, &lse);
  // The unfused chain.
  std::vector<double> scores(b * a * s * s), probs(scores.size()),
      dropped(scores.size()), context(out.size()), expected(out.size());
  std::vector<uint8_t> mask(scores.size());
  kernels::attentionScores<double>(q.data(), k.data(), b * a, a / g, s, s, d,
                                   scale, scores.data());
  kernels::softmax<double>(scores.data(), b * a * s, s, s, probs.data());
  kernels::dropout<double>(probs.data(), probs.size(), p, seed, stream,
                           dropped.data(), mask.data());
  kernels::attentionContext<double>(dropped.data(), v.data(), b * a, a / g, s,
                                    s, d, context.data());
  if (merged)
    kernels::mergeHeads<double>(context.data(), b, a, s, d, expected.data());
  else
    expected = context;
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_NEAR(out[i], expected[i], 1e-14) << i;

  std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
  kernels::flashAttentionGrad<double>(q.data(), k.data(), v.data(), out.data(),
                                      lse.data(), probe.data(), b, a, g, s, s,
                                      d, scale, true, p, seed, stream, merged,
                                      dq.data(), dk.data(), dv.data());
  auto objective = [&](const std::vector<double> &qs,
                       const std::vector<double> &ks,
                       const std::vector<double> &vs) {
    std::vector<double> o = forward(qs, ks, vs, nullptr);
    double total = 0;
    for (size_t i = 0; i < o.size(); ++i)
      total += o[i] * probe[i];
    return total;
  };
  for (int which = 0; which < 3; ++which) {
    std::vector<double> *x = which == 0 ? &q : which == 1 ? &k : &v;
    const std::vector<double> &grad = which == 0 ? dq : which == 1 ? dk : dv;
    for (size_t i = 0; i < x->size(); i += 3) {
      double saved = (*x)[i];
      (*x)[i] = saved + 1e-6;
      double plus = objective(q, k, v);
      (*x)[i] = saved - 1e-6;
      double minus = objective(q, k, v);
      (*x)[i] = saved;
      EXPECT_NEAR(grad[i], (plus - minus) / 2e-6, 1e-8)
          << "QKV"[which] << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, FlashKernelTest, ::testing::Bool());

TEST(KernelTest, SplitAndMergeHeadsUseMegatronLayout) {
  // s = 1, b = 1, a = 2, d = 2: qkv = [q0 q0 k0 k0 v0 v0 q1 q1 k1 k1 v1 v1].
  std::vector<double> qkv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<double> q(4), k(4), v(4);
  kernels::splitHeads<double>(qkv.data(), 1, 1, 2, 2, 2, q.data(), k.data(),
                              v.data());
  EXPECT_EQ(q, (std::vector<double>{1, 2, 7, 8}));
  EXPECT_EQ(k, (std::vector<double>{3, 4, 9, 10}));
  EXPECT_EQ(v, (std::vector<double>{5, 6, 11, 12}));
  std::vector<double> back(12);
  kernels::splitHeadsGrad<double>(q.data(), k.data(), v.data(), 1, 1, 2, 2, 2,
                                  back.data());
  EXPECT_EQ(back, qkv);
}

TEST(NpyTest, RoundTripAndErrors) {
  std::string path = ::testing::TempDir() + "/ckpt-npy-test.npy";
  writeNpy(path, {2, 3}, {1, 2, 3, 4, 5, 6.5}, /*f64=*/false);
  NpyArray array = readNpy(path);
  EXPECT_EQ(array.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(array.values, (std::vector<double>{1, 2, 3, 4, 5, 6.5}));
  writeNpy(path, {1}, {0.1}, /*f64=*/true);
  EXPECT_EQ(readNpy(path).values[0], 0.1);

  // Truncated data and garbage are errors, not crashes.
  {
    std::FILE *f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  std::string bad = ::testing::TempDir() + "/ckpt-npy-bad.npy";
  std::FILE *f = std::fopen(bad.c_str(), "wb");
  std::fputs("not numpy at all", f);
  std::fclose(f);
  EXPECT_THROW(readNpy(bad), std::runtime_error);
  EXPECT_THROW(readNpy(::testing::TempDir() + "/does-not-exist.npy"),
               std::runtime_error);
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

} // namespace
