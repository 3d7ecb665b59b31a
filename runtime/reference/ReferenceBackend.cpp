//===- ReferenceBackend.cpp - Plain f64 loops for every op ----------------===//
//
// Each kernel loads its operands as doubles, computes with the plainest
// loops that state the op's meaning (no BLAS, no threads, no blocking) and
// stores its results in their storage types. Layouts are those of the xf
// dialect: hidden states [s, b, h], per-head tensors [b, a, s, d], token ids
// and labels [b, s].
//
//===----------------------------------------------------------------------===//

#include "ReferenceBackend.h"
#include "ReferenceMoe.h"

#include "ReferenceValues.h"
#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/Rope.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/Philox.h"

#include <cmath>
#include <complex>
#include <cstdlib>
#include <cstring>
#include <map>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

using namespace ckpt::rt::reference;

/// Rows and columns of a [..., n] tensor.
std::pair<int64_t, int64_t> matrix(const TensorArg &t) {
  int64_t n = dims(t).back();
  return {t.elements / n, n};
}

int64_t index(double value, int64_t limit, const char *what, int64_t at) {
  auto id = static_cast<int64_t>(value);
  if (id < 0 || id >= limit)
    throw RuntimeError(std::string(what) + " " + std::to_string(id) +
                       " at position " + std::to_string(at) +
                       " is outside [0, " + std::to_string(limit) + ")");
  return id;
}

/// The ranks a vocabulary is split over and this rank's first row of it.
struct VocabShard {
  int64_t shards = 1, first = 0;
};
VocabShard vocabShard(const KernelCall &c, int64_t rows) {
  int64_t shards = ops::readVocabShards(c.inst->attrs);
  return {shards, shards > 1 ? c.comm->rank() * rows : 0};
}

/// With a split table a token on another rank's rows gives 0 here, and
/// rank 0 alone adds the positions (the group's sum is the embedding).
void embedding(const KernelCall &c) {
  Values tokens = load(c.inputs[0]), word = load(c.inputs[1]);
  int64_t b = dims(c.inputs[0])[0], s = dims(c.inputs[0])[1];
  int64_t v = dims(c.inputs[1])[0], h = dims(c.inputs[1])[1];
  VocabShard shard = vocabShard(c, v);
  // Without a position table (rotary or none) the positions add nothing.
  Values position = c.inputs.size() > 2 && shard.first == 0 ? load(c.inputs[2])
                                                            : Values(s * h);
  Values y(s * b * h);
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < b; ++j) {
      int64_t token =
          index(tokens[j * s + i], v * shard.shards, "token id", j * s + i) -
          shard.first;
      bool here = token >= 0 && token < v;
      for (int64_t k = 0; k < h; ++k)
        y[(i * b + j) * h + k] =
            (here ? word[token * h + k] : 0.0) + position[i * h + k];
    }
  store(c.outputs[0], y);
}

void embeddingGrad(const KernelCall &c) {
  Values tokens = load(c.inputs[0]), dy = load(c.inputs[1]);
  int64_t b = dims(c.inputs[0])[0], s = dims(c.inputs[0])[1];
  int64_t v = dims(c.outputs[0])[0], h = dims(c.outputs[0])[1];
  VocabShard shard = vocabShard(c, v);
  bool positions = c.outputs.size() > 1;
  Values dword(c.outputs[0].elements, 0.0),
      dpos(positions ? c.outputs[1].elements : s * h, 0.0);
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < b; ++j) {
      int64_t token =
          index(tokens[j * s + i], v * shard.shards, "token id", j * s + i) -
          shard.first;
      bool here = token >= 0 && token < v;
      for (int64_t k = 0; k < h; ++k) {
        if (here)
          dword[token * h + k] += dy[(i * b + j) * h + k];
        dpos[i * h + k] += dy[(i * b + j) * h + k];
      }
    }
  store(c.outputs[0], dword);
  if (positions)
    store(c.outputs[1], dpos);
}

/// Mean and 1/sqrt(variance + epsilon) of row r.
std::pair<double, double> rowStatistics(const Values &x, int64_t r, int64_t n,
                                        double epsilon) {
  double mean = 0, var = 0;
  for (int64_t k = 0; k < n; ++k)
    mean += x[r * n + k];
  mean /= n;
  for (int64_t k = 0; k < n; ++k)
    var += (x[r * n + k] - mean) * (x[r * n + k] - mean);
  var /= n;
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

void layerNorm(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]), bias = load(c.inputs[2]);
  auto [rows, n] = matrix(c.inputs[0]);
  double epsilon = c.inst->getF64("epsilon");
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    auto [mean, rstd] = rowStatistics(x, r, n, epsilon);
    for (int64_t k = 0; k < n; ++k)
      y[r * n + k] = (x[r * n + k] - mean) * rstd * w[k] + bias[k];
  }
  store(c.outputs[0], y);
}

void layerNormGrad(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]), dy = load(c.inputs[2]);
  auto [rows, n] = matrix(c.inputs[0]);
  double epsilon = c.inst->getF64("epsilon");
  Values dx(x.size()), dw(n, 0.0), db(n, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    auto [mean, rstd] = rowStatistics(x, r, n, epsilon);
    // y = xhat·w + b with xhat = (x - mean)·rstd; the gradient of xhat
    // through the mean and the deviation.
    double sumG = 0, sumGXhat = 0;
    for (int64_t k = 0; k < n; ++k) {
      double xhat = (x[r * n + k] - mean) * rstd;
      double g = dy[r * n + k] * w[k];
      sumG += g;
      sumGXhat += g * xhat;
      dw[k] += dy[r * n + k] * xhat;
      db[k] += dy[r * n + k];
    }
    for (int64_t k = 0; k < n; ++k) {
      double xhat = (x[r * n + k] - mean) * rstd;
      double g = dy[r * n + k] * w[k];
      dx[r * n + k] = rstd * (g - sumG / n - xhat * sumGXhat / n);
    }
  }
  store(c.outputs[0], dx);
  store(c.outputs[1], dw);
  store(c.outputs[2], db);
}

/// 1/sqrt(mean(x²) + epsilon) of row r.
double rowInverseRms(const Values &x, int64_t r, int64_t n, double epsilon) {
  double squares = 0;
  for (int64_t k = 0; k < n; ++k)
    squares += x[r * n + k] * x[r * n + k];
  return 1.0 / std::sqrt(squares / n + epsilon);
}

void rmsNorm(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]);
  auto [rows, n] = matrix(c.inputs[0]);
  double epsilon = c.inst->getF64("epsilon");
  Values y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double rrms = rowInverseRms(x, r, n, epsilon);
    for (int64_t k = 0; k < n; ++k)
      y[r * n + k] = x[r * n + k] * rrms * w[k];
  }
  store(c.outputs[0], y);
}

/// y_k = x_k·ρ·w_k with ρ = (mean(x²) + ε)^(-1/2) and dρ/dx_j = -ρ³·x_j/n:
/// dx_j = ρ·dy_j·w_j - ρ³·x_j/n · Σ_k dy_k·w_k·x_k.
void rmsNormGrad(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]), dy = load(c.inputs[2]);
  auto [rows, n] = matrix(c.inputs[0]);
  double epsilon = c.inst->getF64("epsilon");
  Values dx(x.size()), dw(n, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double rho = rowInverseRms(x, r, n, epsilon);
    double dot = 0;
    for (int64_t k = 0; k < n; ++k) {
      dot += dy[r * n + k] * w[k] * x[r * n + k];
      dw[k] += dy[r * n + k] * x[r * n + k] * rho;
    }
    for (int64_t j = 0; j < n; ++j)
      dx[r * n + j] =
          rho * dy[r * n + j] * w[j] - rho * rho * rho * x[r * n + j] / n * dot;
  }
  store(c.outputs[0], dx);
  store(c.outputs[1], dw);
}

/// The activation of a gated linear unit and its slope: SiLU x·σ(x), or
/// exact GeLU.
std::pair<double, double> gluActivation(double x, bool gelu) {
  if (gelu) {
    double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    return {x * cdf, cdf + x * pdf};
  }
  double sigma = 1.0 / (1.0 + std::exp(-x));
  return {x * sigma, sigma + x * sigma * (1 - sigma)};
}

bool geluGlu(const KernelCall &c) {
  return c.inst->getString("activation", "silu") == "gelu";
}

/// x [rows, 2f] = [gate, up] -> act(gate)·up.
void glu(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  auto [rows, f] = matrix(c.outputs[0]);
  Values y(rows * f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < f; ++k)
      y[r * f + k] = gluActivation(x[r * 2 * f + k], geluGlu(c)).first *
                     x[r * 2 * f + f + k];
  store(c.outputs[0], y);
}

void gluGrad(const KernelCall &c) {
  Values x = load(c.inputs[0]), dy = load(c.inputs[1]);
  auto [rows, f] = matrix(c.inputs[1]);
  Values dx(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < f; ++k) {
      auto [act, slope] = gluActivation(x[r * 2 * f + k], geluGlu(c));
      dx[r * 2 * f + k] = dy[r * f + k] * x[r * 2 * f + f + k] * slope;
      dx[r * 2 * f + f + k] = dy[r * f + k] * act;
    }
  store(c.outputs[0], dx);
}

/// Each pair (x_i, x_{i+r/2}) of position j as the complex number
/// x_i + i·x_{i+r/2}, multiplied by m·e^{±iθ}, θ = j·frequency_i (the
/// frequencies and magnitude m of ckpt/OpTable/Rope.h).
void rotate(const KernelCall &c, double sign) {
  Values x = load(c.inputs[0]);
  const std::vector<int64_t> &shape = dims(c.inputs[0]); // [b, a, s, d]
  int64_t rows = shape[0] * shape[1], s = shape[2], d = shape[3];
  ops::RopeSpec spec = ops::readRopeSpec(c.inst->attrs);
  std::vector<double> frequencies = ops::ropeInverseFrequencies(spec);
  int64_t r = spec.rotaryDim;
  Values y = x;
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t j = 0; j < s; ++j)
      for (int64_t i = 0; i < r / 2; ++i) {
        double theta = static_cast<double>(j) * frequencies[i];
        std::complex<double> z(x[(row * s + j) * d + i],
                               x[(row * s + j) * d + i + r / 2]);
        z *= std::polar(spec.attentionFactor, sign * theta);
        y[(row * s + j) * d + i] = z.real();
        y[(row * s + j) * d + i + r / 2] = z.imag();
      }
  store(c.outputs[0], y);
}

void rope(const KernelCall &c) { rotate(c, 1.0); }
void ropeGrad(const KernelCall &c) { rotate(c, -1.0); }

/// y[r, o] = sum_i x[r, i] · w[o, i] (+ bias[o]).
void linear(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]);
  auto [rows, in] = matrix(c.inputs[0]);
  int64_t out = dims(c.inputs[1])[0];
  Values bias = c.inputs.size() == 3 ? load(c.inputs[2]) : Values(out, 0.0);
  Values y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t i = 0; i < in; ++i)
        sum += x[r * in + i] * w[o * in + i];
      y[r * out + o] = sum + bias[o];
    }
  store(c.outputs[0], y);
}

/// dx[r, i] = sum_o dy[r, o] · w[o, i].
void linearGradInput(const KernelCall &c) {
  Values dy = load(c.inputs[0]), w = load(c.inputs[1]);
  auto [rows, out] = matrix(c.inputs[0]);
  int64_t in = dims(c.inputs[1])[1];
  Values dx(rows * in, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < out; ++o)
        dx[r * in + i] += dy[r * out + o] * w[o * in + i];
  store(c.outputs[0], dx);
}

/// dw[o, i] = sum_r dy[r, o] · x[r, i].
void linearGradWeight(const KernelCall &c) {
  Values dy = load(c.inputs[0]), x = load(c.inputs[1]);
  auto [rows, out] = matrix(c.inputs[0]);
  int64_t in = dims(c.inputs[1]).back();
  Values dw(out * in, 0.0);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t r = 0; r < rows; ++r)
        dw[o * in + i] += dy[r * out + o] * x[r * in + i];
  store(c.outputs[0], dw);
}

void biasGrad(const KernelCall &c) {
  Values dy = load(c.inputs[0]);
  auto [rows, n] = matrix(c.inputs[0]);
  Values db(n, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < n; ++k)
      db[k] += dy[r * n + k];
  store(c.outputs[0], db);
}

/// GeLU and its derivative: exact (x·Φ(x)) or GPT-2's tanh form.
std::pair<double, double> geluAndSlope(double x, bool tanhForm) {
  if (tanhForm) {
    const double a = std::sqrt(2.0 / M_PI), b = 0.044715;
    double t = std::tanh(a * (x + b * x * x * x));
    double slope =
        0.5 * (1 + t) + 0.5 * x * (1 - t * t) * a * (1 + 3 * b * x * x);
    return {0.5 * x * (1 + t), slope};
  }
  double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
  double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  return {x * cdf, cdf + x * pdf};
}

bool tanhGelu(const KernelCall &c) {
  return c.inst->getString("approximate", "none") == "tanh";
}

void gelu(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  for (double &v : x)
    v = geluAndSlope(v, tanhGelu(c)).first;
  store(c.outputs[0], x);
}

void geluGrad(const KernelCall &c) {
  Values x = load(c.inputs[0]), dy = load(c.inputs[1]);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = dy[i] * geluAndSlope(x[i], tanhGelu(c)).second;
  store(c.outputs[0], x);
}

void add(const KernelCall &c) {
  Values a = load(c.inputs[0]), b = load(c.inputs[1]);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] += b[i];
  store(c.outputs[0], a);
}

void convert(const KernelCall &c) { store(c.outputs[0], load(c.inputs[0])); }

void biasAdd(const KernelCall &c) {
  Values x = load(c.inputs[0]), bias = load(c.inputs[1]);
  auto [rows, n] = matrix(c.inputs[0]);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < n; ++k)
      x[r * n + k] += bias[k];
  store(c.outputs[0], x);
}

void dropout(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  double p = c.inst->getF64("probability");
  auto stream = static_cast<uint32_t>(c.inst->getI64("rng_stream"));
  Values mask(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    mask[i] = dropoutKeeps(c.seed, stream, i, p) ? 1.0 : 0.0;
    x[i] = mask[i] * x[i] / (1 - p);
  }
  store(c.outputs[0], x);
  store(c.outputs[1], mask);
}

/// The fused pairs (Fusion.h), as the two ops they replace.
void dropoutAdd(const KernelCall &c) {
  Values x = load(c.inputs[0]), residual = load(c.inputs[1]);
  double p = c.inst->getF64("probability");
  auto stream = static_cast<uint32_t>(c.inst->getI64("rng_stream"));
  Values mask(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    mask[i] = dropoutKeeps(c.seed, stream, i, p) ? 1.0 : 0.0;
    // The dropout's result as the pair stores it, then the add.
    x[i] = residual[i] +
           roundTo<double>(mask[i] * x[i] / (1 - p), c.outputs[0].storage);
  }
  store(c.outputs[0], x);
  store(c.outputs[1], mask);
}

void linearGelu(const KernelCall &c) {
  KernelCall first = c;
  first.outputs = {c.outputs[0]};
  linear(first);
  Values h = load(c.outputs[0]);
  for (double &v : h)
    v = geluAndSlope(v, tanhGelu(c)).first;
  store(c.outputs[1], h);
}

void dropoutMask(const KernelCall &c) {
  double p = c.inst->getF64("probability");
  auto stream = static_cast<uint32_t>(c.inst->getI64("rng_stream"));
  Values mask(c.outputs[0].elements);
  for (size_t i = 0; i < mask.size(); ++i)
    mask[i] = dropoutKeeps(c.seed, stream, i, p) ? 1.0 : 0.0;
  store(c.outputs[0], mask);
}

void dropoutGrad(const KernelCall &c) {
  Values mask = load(c.inputs[0]), dy = load(c.inputs[1]);
  double p = c.inst->getF64("probability");
  for (size_t i = 0; i < dy.size(); ++i)
    dy[i] = mask[i] != 0 ? dy[i] / (1 - p) : 0.0;
  store(c.outputs[0], dy);
}

/// Element (s, b, a, which, d) of qkv [s, b, a·3·d] and of the per-head
/// tensor [b, a, s, d].
struct Heads {
  int64_t s, b, a, d;
  int64_t packed(int64_t i, int64_t j, int64_t k, int64_t which,
                 int64_t e) const {
    return ((i * b + j) * a + k) * 3 * d + which * d + e;
  }
  int64_t split(int64_t i, int64_t j, int64_t k, int64_t e) const {
    return ((j * a + k) * s + i) * d + e;
  }
};

/// Calls f(i, j, k, e) over every element of a per-head tensor.
template <typename F> void forEachHead(const Heads &h, F f) {
  for (int64_t i = 0; i < h.s; ++i)
    for (int64_t j = 0; j < h.b; ++j)
      for (int64_t k = 0; k < h.a; ++k)
        for (int64_t e = 0; e < h.d; ++e)
          f(i, j, k, e);
}

Heads headsOf(const TensorArg &perHead) {
  const auto &q = dims(perHead);
  return {q[2], q[0], q[1], q[3]};
}

/// Where the fused qkv [s, b, g·(a/g + 2)·d] keeps element e of sequence i,
/// batch j: query head k (`which` 0), or the key (1) or value (2) of group
/// k; Megatron's layout puts each group's a/g queries, then its key and its
/// value.
int64_t packedIndex(const Heads &q, int64_t groups, int64_t i, int64_t j,
                    int64_t k, int which, int64_t e) {
  int64_t rep = q.a / groups;
  int64_t group = which == 0 ? k / rep : k;
  int64_t slot = which == 0 ? k % rep : rep + which - 1;
  return (((i * q.b + j) * groups + group) * (rep + 2) + slot) * q.d + e;
}

void splitHeads(const KernelCall &c) {
  Values qkv = load(c.inputs[0]);
  Heads q = headsOf(c.outputs[0]), kv = headsOf(c.outputs[1]);
  for (int which = 0; which < 3; ++which) {
    const Heads &h = which == 0 ? q : kv;
    Values part(c.outputs[which].elements);
    forEachHead(h, [&](int64_t i, int64_t j, int64_t k, int64_t e) {
      part[h.split(i, j, k, e)] = qkv[packedIndex(q, kv.a, i, j, k, which, e)];
    });
    store(c.outputs[which], part);
  }
}
void splitHeadsGrad(const KernelCall &c) {
  Heads q = headsOf(c.inputs[0]), kv = headsOf(c.inputs[1]);
  Values dqkv(c.outputs[0].elements);
  for (int which = 0; which < 3; ++which) {
    const Heads &h = which == 0 ? q : kv;
    Values part = load(c.inputs[which]);
    forEachHead(h, [&](int64_t i, int64_t j, int64_t k, int64_t e) {
      dqkv[packedIndex(q, kv.a, i, j, k, which, e)] = part[h.split(i, j, k, e)];
    });
  }
  store(c.outputs[0], dqkv);
}
/// [b, a, s, d] element (i, j, k, e) sits at ((i·b + j)·a + k)·d + e in
/// the merged [s, b, a·d].
/// [b, a, s, d] -> [s, b, a·d], and back.
Values mergedHeads(const Values &x, const Heads &h) {
  Values y(x.size());
  forEachHead(h, [&](int64_t i, int64_t j, int64_t k, int64_t e) {
    y[((i * h.b + j) * h.a + k) * h.d + e] = x[h.split(i, j, k, e)];
  });
  return y;
}
Values splitMergedHeads(const Values &y, const Heads &h) {
  Values x(y.size());
  forEachHead(h, [&](int64_t i, int64_t j, int64_t k, int64_t e) {
    x[h.split(i, j, k, e)] = y[((i * h.b + j) * h.a + k) * h.d + e];
  });
  return x;
}

void mergeHeads(const KernelCall &c) {
  store(c.outputs[0], mergedHeads(load(c.inputs[0]), headsOf(c.inputs[0])));
}

void mergeHeadsGrad(const KernelCall &c) {
  store(c.outputs[0],
        splitMergedHeads(load(c.inputs[0]), headsOf(c.outputs[0])));
}

/// The batched product C[n] = alpha · op(A[n]) · op(B[n]) over the leading
/// batch·heads dimensions, each operand [n, rows, cols].
Values batchedProduct(const Values &a, const Values &b, int64_t batches,
                      int64_t m, int64_t n, int64_t k, bool transA, bool transB,
                      double alpha) {
  Values out(batches * m * n, 0.0);
  for (int64_t z = 0; z < batches; ++z)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < k; ++l) {
          double x = transA ? a[(z * k + l) * m + i] : a[(z * m + i) * k + l];
          double y = transB ? b[(z * n + j) * k + l] : b[(z * k + l) * n + j];
          sum += x * y;
        }
        out[(z * m + i) * n + j] = alpha * sum;
      }
  return out;
}

/// Grouped-query attention as Hugging Face writes it: key and value heads
/// [b, g, s, d] repeated to the query's a heads (each a/g times), and the
/// gradients of the repeated heads summed back per group.
Values repeatHeads(const Values &x, const std::vector<int64_t> &shape,
                   int64_t heads) {
  int64_t b = shape[0], g = shape[1], rest = shape[2] * shape[3];
  Values y(b * heads * rest);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < heads; ++k)
      for (int64_t e = 0; e < rest; ++e)
        y[(i * heads + k) * rest + e] = x[(i * g + k / (heads / g)) * rest + e];
  return y;
}
Values sumRepeatedHeads(const Values &y, const std::vector<int64_t> &shape,
                        int64_t heads) {
  int64_t b = shape[0], g = shape[1], rest = shape[2] * shape[3];
  Values x(b * g * rest, 0.0);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < heads; ++k)
      for (int64_t e = 0; e < rest; ++e)
        x[(i * g + k / (heads / g)) * rest + e] +=
            y[(i * heads + k) * rest + e];
  return x;
}

void attentionScores(const KernelCall &c) {
  const auto &q = dims(c.inputs[0]);
  int64_t sk = dims(c.inputs[1])[2];
  Values key = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), q[1]);
  store(c.outputs[0],
        batchedProduct(load(c.inputs[0]), key, q[0] * q[1], q[2], sk, q[3],
                       false, true, c.inst->getF64("scale")));
}
void attentionScoresGrad(const KernelCall &c) {
  const auto &q = dims(c.inputs[0]);
  int64_t batches = q[0] * q[1], sq = q[2], d = q[3];
  int64_t sk = dims(c.inputs[1])[2];
  double scale = c.inst->getF64("scale");
  Values query = load(c.inputs[0]),
         key = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), q[1]),
         ds = load(c.inputs[2]);
  store(c.outputs[0],
        batchedProduct(ds, key, batches, sq, d, sk, false, false, scale));
  store(c.outputs[1], sumRepeatedHeads(batchedProduct(ds, query, batches, sk, d,
                                                      sq, true, false, scale),
                                       dims(c.inputs[1]), q[1]));
}
void attentionContext(const KernelCall &c) {
  const auto &p = dims(c.inputs[0]);
  int64_t d = dims(c.inputs[1])[3];
  Values value = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), p[1]);
  store(c.outputs[0], batchedProduct(load(c.inputs[0]), value, p[0] * p[1],
                                     p[2], d, p[3], false, false, 1.0));
}
void attentionContextGrad(const KernelCall &c) {
  const auto &p = dims(c.inputs[0]);
  int64_t batches = p[0] * p[1], sq = p[2], sk = p[3];
  int64_t d = dims(c.inputs[1])[3];
  Values probs = load(c.inputs[0]),
         value = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), p[1]),
         dc = load(c.inputs[2]);
  store(c.outputs[0],
        batchedProduct(dc, value, batches, sq, sk, d, false, true, 1.0));
  store(c.outputs[1], sumRepeatedHeads(batchedProduct(probs, dc, batches, sk, d,
                                                      sq, true, false, 1.0),
                                       dims(c.inputs[1]), p[1]));
}
/// Fused attention written as whole matrices: S = scale·Q Kᵀ over the
/// repeated key heads, P = softmax(S) (causal), Pd = P ⊙ mask/(1-p), O = Pd V.
struct AttentionMatrices {
  Values probs, dropped, keep; ///< [b, a, sq, sk]
  std::vector<double> rowLse;  ///< [b, a, sq]
};

AttentionMatrices attentionMatrices(const KernelCall &c, const Values &query,
                                    const Values &key) {
  const auto &q = dims(c.inputs[0]);
  int64_t batches = q[0] * q[1], sq = q[2], d = q[3];
  int64_t sk = dims(c.inputs[1])[2];
  bool causal = c.inst->getBool("causal");
  double p = c.inst->getF64("probability");
  auto stream = static_cast<uint32_t>(c.inst->getI64("rng_stream"));
  AttentionMatrices m;
  m.probs = batchedProduct(query, key, batches, sq, sk, d, false, true,
                           c.inst->getF64("scale"));
  m.keep.assign(m.probs.size(), 1.0);
  m.rowLse.resize(batches * sq);
  for (int64_t row = 0; row < batches * sq; ++row) {
    int64_t visible = causal ? std::min(sk, row % sq + 1) : sk;
    double *s = &m.probs[row * sk];
    double max = *std::max_element(s, s + visible), sum = 0;
    for (int64_t j = 0; j < visible; ++j)
      sum += std::exp(s[j] - max);
    m.rowLse[row] = max + std::log(sum);
    for (int64_t j = 0; j < sk; ++j)
      s[j] = j < visible ? std::exp(s[j] - m.rowLse[row]) : 0.0;
    if (p > 0.0)
      for (int64_t j = 0; j < sk; ++j)
        m.keep[row * sk + j] =
            dropoutKeeps(c.seed, stream, row * sk + j, p) ? 1.0 / (1 - p) : 0;
  }
  m.dropped = m.probs;
  for (size_t i = 0; i < m.dropped.size(); ++i)
    m.dropped[i] *= m.keep[i];
  return m;
}

void flashAttention(const KernelCall &c) {
  const auto &q = dims(c.inputs[0]);
  Values query = load(c.inputs[0]),
         key = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), q[1]),
         value = repeatHeads(load(c.inputs[2]), dims(c.inputs[2]), q[1]);
  AttentionMatrices m = attentionMatrices(c, query, key);
  int64_t sk = dims(c.inputs[1])[2];
  Values context = batchedProduct(m.dropped, value, q[0] * q[1], q[2], q[3], sk,
                                  false, false, 1.0);
  if (c.inst->getBool("merge_heads"))
    context = mergedHeads(context, headsOf(c.inputs[0]));
  store(c.outputs[0], context);
  store(c.outputs[1], m.rowLse);
}

/// The probabilities rebuilt from the given log-sum-exp, P = exp(S - lse),
/// then as whole matrices: dV = Pdᵀ dO, dP = (dO Vᵀ) ⊙ keep,
/// dS = P ⊙ (dP - rowsum(dO ⊙ O)) with the given result O, dQ = scale·dS K,
/// dK = scale·dSᵀ Q; the repeated heads' K and V gradients summed back.
/// (For the O and lse the forward made, rowsum(dO ⊙ O) = rowsum(P ⊙ dP):
/// the unfused softmax gradient.)
void flashAttentionGrad(const KernelCall &c) {
  const auto &q = dims(c.inputs[0]);
  int64_t batches = q[0] * q[1], sq = q[2], d = q[3];
  int64_t sk = dims(c.inputs[1])[2];
  double scale = c.inst->getF64("scale");
  Values query = load(c.inputs[0]),
         key = repeatHeads(load(c.inputs[1]), dims(c.inputs[1]), q[1]),
         value = repeatHeads(load(c.inputs[2]), dims(c.inputs[2]), q[1]),
         out = load(c.inputs[3]), lse = load(c.inputs[4]),
         dout = load(c.inputs[5]);
  if (c.inst->getBool("merge_heads")) {
    // The result and its gradient in [s, b, a·d]: back to the heads'.
    out = splitMergedHeads(out, headsOf(c.inputs[0]));
    dout = splitMergedHeads(dout, headsOf(c.inputs[0]));
  }
  AttentionMatrices m = attentionMatrices(c, query, key);
  // P from the given statistics (the forward's, in a real step).
  bool causal = c.inst->getBool("causal");
  Values scores =
      batchedProduct(query, key, batches, sq, sk, d, false, true, scale);
  for (int64_t row = 0; row < batches * sq; ++row)
    for (int64_t j = 0; j < sk; ++j) {
      bool visible = !causal || j <= row % sq;
      double p = visible ? std::exp(scores[row * sk + j] - lse[row]) : 0.0;
      m.probs[row * sk + j] = p;
      m.dropped[row * sk + j] = p * m.keep[row * sk + j];
    }
  Values dv =
      batchedProduct(m.dropped, dout, batches, sk, d, sq, true, false, 1.0);
  Values dp = batchedProduct(dout, value, batches, sq, sk, d, false, true, 1.0);
  for (int64_t row = 0; row < batches * sq; ++row) {
    double delta = 0;
    for (int64_t e = 0; e < d; ++e)
      delta += dout[row * d + e] * out[row * d + e];
    for (int64_t j = 0; j < sk; ++j)
      dp[row * sk + j] = m.probs[row * sk + j] *
                         (dp[row * sk + j] * m.keep[row * sk + j] - delta);
  }
  store(c.outputs[0],
        batchedProduct(dp, key, batches, sq, d, sk, false, false, scale));
  store(c.outputs[1], sumRepeatedHeads(batchedProduct(dp, query, batches, sk, d,
                                                      sq, true, false, scale),
                                       dims(c.inputs[1]), q[1]));
  store(c.outputs[2], sumRepeatedHeads(dv, dims(c.inputs[2]), q[1]));
}

/// Softmax over the last dimension; a causal one lets query row i (the
/// row's position in the second-to-last dimension) see keys 0..i only.
void softmax(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  auto [rows, n] = matrix(c.inputs[0]);
  const auto &shape = dims(c.inputs[0]);
  bool causal = c.inst->getBool("causal");
  int64_t sq = causal ? shape[shape.size() - 2] : 1;
  Values y(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t visible = causal ? std::min(n, r % sq + 1) : n;
    double max = x[r * n];
    for (int64_t k = 1; k < visible; ++k)
      max = std::max(max, x[r * n + k]);
    double sum = 0;
    for (int64_t k = 0; k < visible; ++k)
      sum += std::exp(x[r * n + k] - max);
    for (int64_t k = 0; k < visible; ++k)
      y[r * n + k] = std::exp(x[r * n + k] - max) / sum;
  }
  store(c.outputs[0], y);
}

void softmaxGrad(const KernelCall &c) {
  Values y = load(c.inputs[0]), dy = load(c.inputs[1]);
  auto [rows, n] = matrix(c.inputs[0]);
  Values dx(y.size());
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int64_t k = 0; k < n; ++k)
      dot += y[r * n + k] * dy[r * n + k];
    for (int64_t k = 0; k < n; ++k)
      dx[r * n + k] = y[r * n + k] * (dy[r * n + k] - dot);
  }
  store(c.outputs[0], dx);
}

/// log(sum_k exp(row_k)) of row r, stably.
double logSumExp(const Values &x, int64_t r, int64_t n) {
  double max = x[r * n];
  for (int64_t k = 1; k < n; ++k)
    max = std::max(max, x[r * n + k]);
  double sum = 0;
  for (int64_t k = 0; k < n; ++k)
    sum += std::exp(x[r * n + k] - max);
  return max + std::log(sum);
}

/// The labels that count (not ignore_index) and the loss's divisor: the
/// counted positions times the micro-batches.
struct Counted {
  int64_t ignore;
  std::vector<bool> counts;
  double divisor;
};
Counted countLabels(const KernelCall &c, const Values &labels, int64_t v) {
  ops::LossSpec loss = ops::readLossSpec(c.inst->attrs);
  int64_t ignore = loss.ignoreIndex, m = loss.microBatches;
  Counted out{ignore, std::vector<bool>(labels.size()), 0.0};
  int64_t n = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (static_cast<int64_t>(labels[i]) == ignore)
      continue;
    index(labels[i], v, "label", static_cast<int64_t>(i));
    out.counts[i] = true;
    ++n;
  }
  out.divisor = static_cast<double>(n) * static_cast<double>(m);
  return out;
}

/// The whole vocabulary's logits [s, b, t·v] from each rank's [s, b, v]
/// (one rank: the logits as they are).
Values wholeLogits(const KernelCall &c, const Values &local, int64_t rows,
                   int64_t v, int64_t shards) {
  if (shards == 1)
    return local;
  Values pieces(local.size() * shards), whole(local.size() * shards);
  c.comm->allGather(local.data(), pieces.data(),
                    static_cast<int64_t>(local.size()));
  for (int64_t k = 0; k < shards; ++k)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col = 0; col < v; ++col)
        whole[r * v * shards + k * v + col] = pieces[(k * rows + r) * v + col];
  return whole;
}

/// The mean over the counted tokens of -log softmax(logits)[label], over
/// the micro-batches; logits [s, b, v]. The softmax is the second result (0
/// on the rows that do not count); with a split vocabulary, this rank's
/// columns of the whole softmax.
void crossEntropy(const KernelCall &c) {
  Values labels = load(c.inputs[1]);
  const auto &l = dims(c.inputs[0]);
  int64_t s = l[0], b = l[1], v = l[2];
  VocabShard shard = vocabShard(c, v);
  int64_t n = v * shard.shards;
  Values logits = wholeLogits(c, load(c.inputs[0]), s * b, v, shard.shards);
  Counted counted = countLabels(c, labels, n);
  Values probs(s * b * v, 0.0);
  double total = 0;
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < b; ++j) {
      int64_t r = i * b + j;
      if (!counted.counts[j * s + i])
        continue;
      auto label = static_cast<int64_t>(labels[j * s + i]);
      double lse = logSumExp(logits, r, n);
      total += lse - logits[r * n + label];
      for (int64_t k = 0; k < v; ++k)
        probs[r * v + k] = std::exp(logits[r * n + shard.first + k] - lse);
    }
  double loss = counted.divisor > 0 ? total / counted.divisor : 0.0;
  store(c.outputs[0], {loss});
  store(c.outputs[1], probs);
  if (c.loss)
    *c.loss += loss;
}

/// (probs - onehot(label)) / divisor on the counted rows.
void crossEntropyGrad(const KernelCall &c) {
  Values probs = load(c.inputs[0]), labels = load(c.inputs[1]);
  const auto &l = dims(c.inputs[0]);
  int64_t s = l[0], b = l[1], v = l[2];
  VocabShard shard = vocabShard(c, v);
  Counted counted = countLabels(c, labels, v * shard.shards);
  Values grad(probs.size(), 0.0);
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < b; ++j) {
      int64_t r = i * b + j;
      if (!counted.counts[j * s + i])
        continue;
      auto label = static_cast<int64_t>(labels[j * s + i]) - shard.first;
      for (int64_t k = 0; k < v; ++k)
        grad[r * v + k] =
            (probs[r * v + k] - (k == label ? 1.0 : 0.0)) / counted.divisor;
    }
  store(c.outputs[0], grad);
}

// Collectives over the call's communicator, in double.
void copyOrReduce(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  if (c.inst->op == "all_reduce")
    c.comm->allReduceSum(x.data(), static_cast<int64_t>(x.size()));
  store(c.outputs[0], x);
}

void allGather(const KernelCall &c) {
  Values x = load(c.inputs[0]), y(c.outputs[0].elements);
  c.comm->allGather(x.data(), y.data(), static_cast<int64_t>(x.size()));
  store(c.outputs[0], y);
}

void reduceScatter(const KernelCall &c) {
  Values x = load(c.inputs[0]), y(c.outputs[0].elements);
  c.comm->reduceScatter(x.data(), y.data(), static_cast<int64_t>(y.size()));
  store(c.outputs[0], y);
}

void shard(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  int64_t piece = c.outputs[0].elements;
  store(c.outputs[0], Values(x.begin() + c.comm->rank() * piece,
                             x.begin() + (c.comm->rank() + 1) * piece));
}

const std::map<std::string, Kernel, std::less<>> &kernelTable() {
  static const std::map<std::string, Kernel, std::less<>> table = {
      {"embedding", embedding},
      {"embedding_grad", embeddingGrad},
      {"layer_norm", layerNorm},
      {"layer_norm_grad", layerNormGrad},
      {"rms_norm", rmsNorm},
      {"rms_norm_grad", rmsNormGrad},
      {"glu", glu},
      {"glu_grad", gluGrad},
      {"flash_attention", flashAttention},
      {"flash_attention_grad", flashAttentionGrad},
      {"rope", rope},
      {"rope_grad", ropeGrad},
      {"linear", linear},
      {"linear_grad_input", linearGradInput},
      {"linear_grad_weight", linearGradWeight},
      {"bias_grad", biasGrad},
      {"gelu", gelu},
      {"gelu_grad", geluGrad},
      {"add", add},
      {"accumulate", add},
      {"convert", convert},
      {"bias_add", biasAdd},
      {"dropout", dropout},
      {"dropout_grad", dropoutGrad},
      {"dropout_mask", dropoutMask},
      {"dropout_add", dropoutAdd},
      {"linear_gelu", linearGelu},
      {"split_heads", splitHeads},
      {"split_heads_grad", splitHeadsGrad},
      {"merge_heads", mergeHeads},
      {"merge_heads_grad", mergeHeadsGrad},
      {"attention_scores", attentionScores},
      {"attention_scores_grad", attentionScoresGrad},
      {"attention_context", attentionContext},
      {"attention_context_grad", attentionContextGrad},
      {"softmax", softmax},
      {"softmax_grad", softmaxGrad},
      {"cross_entropy", crossEntropy},
      {"cross_entropy_grad", crossEntropyGrad},
      {"tp_copy", copyOrReduce},
      {"all_reduce", copyOrReduce},
      {"all_gather", allGather},
      {"reduce_scatter", reduceScatter},
      {"shard", shard},
  };
  return table;
}

class ReferenceBackend : public Backend {
public:
  std::string name() const override { return "reference"; }
  bool hostAddressable() const override { return true; }
  void copyToDevice(void *device, const void *host, size_t bytes) override {
    std::memcpy(device, host, bytes);
  }
  void copyToHost(void *host, const void *device, size_t bytes) override {
    std::memcpy(host, device, bytes);
  }
  Kernel kernel(const ops::OpDef &def) const override {
    for (const auto *table : {&kernelTable(), &referenceMoeKernels()})
      if (auto it = table->find(def.name); it != table->end())
        return it->second;
    return Kernel();
  }

protected:
  void *allocateDevice(size_t bytes) override {
    return std::malloc(std::max<size_t>(bytes, 1));
  }
  void deallocateDevice(void *ptr, size_t) override { std::free(ptr); }
};

} // namespace

std::unique_ptr<Backend> ckpt::rt::createReferenceBackend() {
  return std::make_unique<ReferenceBackend>();
}
