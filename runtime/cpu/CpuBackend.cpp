//===- CpuBackend.cpp - The CPU backend -----------------------------------===//
//
// One kernel per op of the op table. Each computes in float (or double under
// Precision::F64): a tensor stored in the compute type is used in place,
// 16-bit tensors are converted into scratch around the kernel.
//
//===----------------------------------------------------------------------===//

#include "CpuBackend.h"
#include "Kernels.h"
#include "MoeKernels.h"

#include "ckpt/OpTable/LossSpec.h"
#include "ckpt/OpTable/Rope.h"
#include "ckpt/runtime/Executor.h"
#include "ckpt/runtime/IndexChecks.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

template <typename Real> constexpr DType realType() {
  return std::is_same_v<Real, double> ? DType::F64 : DType::F32;
}

/// Host scratch for converted operands, kept from one kernel to the next: a
/// new vector would zero-fill and fault in its pages on every call (GPT-2's
/// bf16 embedding table widens to 150 MB). Every kernel writes all of its
/// outputs, so a buffer needs no clearing.
template <typename Real> class ScratchPool {
public:
  static ScratchPool &instance() {
    static ScratchPool pool;
    return pool;
  }
  std::unique_ptr<Real[]> take(int64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(n);
    if (it == free_.end())
      return std::unique_ptr<Real[]>(new Real[std::max<int64_t>(n, 1)]);
    std::unique_ptr<Real[]> buffer = std::move(it->second);
    free_.erase(it);
    held_ -= n;
    return buffer;
  }
  void give(int64_t n, std::unique_ptr<Real[]> buffer) {
    std::lock_guard<std::mutex> lock(mutex_);
    // A process that runs many programs keeps at most this much.
    if ((held_ + n) * static_cast<int64_t>(sizeof(Real)) > kLimitBytes)
      return;
    held_ += n;
    free_.emplace(n, std::move(buffer));
  }

private:
  static constexpr int64_t kLimitBytes = int64_t(2) << 30;
  std::mutex mutex_;
  std::multimap<int64_t, std::unique_ptr<Real[]>> free_;
  int64_t held_ = 0; ///< Elements in free_.
};

/// One operand's scratch, returned to the pool when the kernel is done.
template <typename Real> struct Scratch {
  explicit Scratch(int64_t n)
      : size(n), buffer(ScratchPool<Real>::instance().take(n)) {}
  ~Scratch() {
    if (buffer)
      ScratchPool<Real>::instance().give(size, std::move(buffer));
  }
  Scratch(Scratch &&) = default;
  Real *data() { return buffer.get(); }
  Real &operator[](int64_t i) { return buffer[i]; }
  int64_t size;
  std::unique_ptr<Real[]> buffer;
};

/// Gives kernels Real pointers: a tensor stored as Real is used in place;
/// others (16-bit floats) are converted into scratch and back.
template <typename Real> class Operands {
public:
  const Real *in(const TensorArg &t) {
    if (t.storage == realType<Real>())
      return static_cast<const Real *>(t.data);
    auto &scratch = scratches.emplace_back(t.elements);
    if (t.storage == DType::BF16) {
      // The common 16-bit case, at memory speed: a shift per element.
      const uint16_t *from = static_cast<const uint16_t *>(t.data);
      Real *to = scratch.data();
#pragma omp parallel for simd
      for (int64_t i = 0; i < t.elements; ++i)
        to[i] = static_cast<Real>(bf16ToFloat(from[i]));
      return scratch.data();
    }
    for (int64_t i = 0; i < t.elements; ++i)
      scratch[i] = static_cast<Real>(loadElement(t.data, t.storage, i));
    return scratch.data();
  }

  Real *out(const TensorArg &t) {
    if (t.storage == realType<Real>())
      return static_cast<Real *>(t.data);
    auto &scratch = scratches.emplace_back(t.elements);
    pending.emplace_back(&t, scratches.size() - 1);
    return scratch.data();
  }

  /// Writes converted outputs back into their 16-bit storage.
  void finish() {
    for (auto [t, index] : pending) {
      auto &scratch = scratches[index];
      if (t->storage == DType::BF16) {
        // Rounded to nearest even through float, as storeElement does.
        uint16_t *to = static_cast<uint16_t *>(t->data);
        const Real *from = scratch.data();
#pragma omp parallel for simd
        for (int64_t i = 0; i < t->elements; ++i)
          to[i] = floatToBF16(static_cast<float>(from[i]));
        continue;
      }
      for (int64_t i = 0; i < t->elements; ++i)
        storeElement(t->data, t->storage, i, scratch[i]);
    }
  }

  static std::vector<int64_t> indices(const TensorArg &t) {
    std::vector<int64_t> values(t.elements);
    for (int64_t i = 0; i < t.elements; ++i)
      values[i] = static_cast<int64_t>(loadElement(t.data, t.storage, i));
    return values;
  }

private:
  std::deque<Scratch<Real>> scratches;
  std::vector<std::pair<const TensorArg *, size_t>> pending;
};

void checkIndices(const std::vector<int64_t> &ids, int64_t limit,
                  const std::string &what) {
  checkIndexRange(ids, 0, limit, what);
}

/// A kernel body for one compute type: reads the call through `ops`.
template <typename Real>
using Body = void (*)(const KernelCall &, Operands<Real> &);

/// Wraps the float and double bodies of one op into a Kernel.
Kernel kernelOf(Body<float> f32, Body<double> f64) {
  return [f32, f64](const KernelCall &call) {
    if (call.precision == Precision::F64) {
      Operands<double> ops;
      f64(call, ops);
      ops.finish();
    } else {
      Operands<float> ops;
      f32(call, ops);
      ops.finish();
    }
  };
}

const std::vector<int64_t> &shape(const TensorArg &t) { return *t.shape; }
int64_t rowsOf(const TensorArg &t) {
  return t.shape->empty() ? 0 : t.elements / t.shape->back();
}

namespace k = kernels;

/// The ranks an embedding's or a loss's vocabulary is split over; the
/// program validator checks it against the tensor-parallel group.
int64_t vocabShardsOf(const KernelCall &c) {
  return ops::readVocabShards(c.inst->attrs);
}

/// This rank's rows of an embedding's tokens (all of them on one rank), for
/// a table of `rows` rows split over the op's vocab_shards ranks.
std::vector<int64_t> embeddingRows(const KernelCall &c, int64_t rows) {
  int64_t shards = vocabShardsOf(c);
  return localTokenRows(Operands<float>::indices(c.inputs[0]), rows, shards,
                        shards > 1 ? c.comm->rank() : 0);
}

// The kernels, one per op; `c` is the call, `o` converts operands.
template <typename R> void embedding(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &t = shape(in[0]);
  std::vector<int64_t> tokens = embeddingRows(c, shape(in[1])[0]);
  // With a split table rank 0 alone adds the position table, so that the
  // sum over the ranks that follows adds it once.
  bool addPositions =
      in.size() > 2 && (vocabShardsOf(c) == 1 || c.comm->rank() == 0);
  if (in[1].storage == DType::BF16) {
    // Only the rows the tokens pick are widened, not the whole table
    // (38.6M values in GPT-2): the same values as widening it all.
    int64_t batch = t[0], seq = t[1], hidden = shape(in[1])[1];
    const auto *word = static_cast<const uint16_t *>(in[1].data);
    const R *position = addPositions ? o.in(in[2]) : nullptr;
    R *y = o.out(out[0]);
#pragma omp parallel for
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < batch; ++j) {
        int64_t token = tokens[j * seq + i];
        R *row = y + (i * batch + j) * hidden;
        for (int64_t k = 0; k < hidden; ++k) {
          R w = token >= 0
                    ? static_cast<R>(bf16ToFloat(word[token * hidden + k]))
                    : R(0);
          row[k] = position ? w + position[i * hidden + k] : w;
        }
      }
    return;
  }
  k::embedding<R>(tokens.data(), t[0], t[1], shape(in[1])[1], o.in(in[1]),
                  addPositions ? o.in(in[2]) : nullptr, o.out(out[0]));
}
/// The word gradient of a bf16 table: the rows no token picked are zero,
/// the others sum their tokens' rows in float in the kernel's order
/// (column by column, tokens in order) and are rounded once, so only
/// those rows are widened and narrowed.
template <typename R>
void bf16WordGradient(const std::vector<int64_t> &tokens, int64_t batch,
                      int64_t seq, int64_t hidden, int64_t vocab,
                      const R *gradOut, uint16_t *gradWord) {
  std::vector<int64_t> slotOf(vocab, -1), rows;
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < batch; ++j) {
      int64_t token = tokens[j * seq + i];
      if (token >= 0 && slotOf[token] < 0) {
        slotOf[token] = static_cast<int64_t>(rows.size());
        rows.push_back(token);
      }
    }
  int64_t touched = static_cast<int64_t>(rows.size());
  Scratch<R> sums(touched * hidden);
  R *acc = sums.data();
  std::fill(acc, acc + touched * hidden, R(0));
#pragma omp parallel for
  for (int64_t col = 0; col < hidden; ++col)
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < batch; ++j)
        if (int64_t token = tokens[j * seq + i]; token >= 0)
          acc[slotOf[token] * hidden + col] +=
              gradOut[(i * batch + j) * hidden + col];
#pragma omp parallel for
  for (int64_t r = 0; r < vocab; ++r) {
    uint16_t *row = gradWord + r * hidden;
    if (slotOf[r] < 0) {
      std::fill(row, row + hidden, uint16_t(0));
      continue;
    }
    const R *sum = acc + slotOf[r] * hidden;
    for (int64_t col = 0; col < hidden; ++col)
      row[col] = floatToBF16(static_cast<float>(sum[col]));
  }
}

template <typename R> void embeddingGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &t = shape(in[0]);
  std::vector<int64_t> tokens = embeddingRows(c, shape(out[0])[0]);
  bool positions = out.size() > 1;
  if (out[0].storage == DType::BF16) {
    int64_t batch = t[0], seq = t[1], hidden = shape(out[0])[1];
    const R *dy = o.in(in[1]);
    bf16WordGradient<R>(tokens, batch, seq, hidden, shape(out[0])[0], dy,
                        static_cast<uint16_t *>(out[0].data));
    if (positions) { // The kernel's sums, in its order.
      R *dpos = o.out(out[1]);
      std::fill(dpos, dpos + out[1].elements, R(0));
#pragma omp parallel for
      for (int64_t col = 0; col < hidden; ++col)
        for (int64_t i = 0; i < seq; ++i)
          for (int64_t j = 0; j < batch; ++j)
            dpos[i * hidden + col] += dy[(i * batch + j) * hidden + col];
    }
    return;
  }
  k::embeddingGrad<R>(tokens.data(), t[0], t[1], shape(out[0])[1],
                      shape(out[0])[0], positions ? shape(out[1])[0] : 0,
                      o.in(in[1]), o.out(out[0]),
                      positions ? o.out(out[1]) : nullptr);
}
template <typename R> void layerNorm(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  k::layerNorm<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), rowsOf(in[0]),
                  shape(in[0]).back(), c.inst->getF64("epsilon"),
                  o.out(c.outputs[0]));
}
template <typename R> void layerNormGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  k::layerNormGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), rowsOf(in[0]),
                      shape(in[0]).back(), c.inst->getF64("epsilon"),
                      o.out(out[0]), o.out(out[1]), o.out(out[2]));
}
template <typename R> void rmsNorm(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  k::rmsNorm<R>(o.in(in[0]), o.in(in[1]), rowsOf(in[0]), shape(in[0]).back(),
                c.inst->getF64("epsilon"), o.out(c.outputs[0]));
}
template <typename R> void rmsNormGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  k::rmsNormGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), rowsOf(in[0]),
                    shape(in[0]).back(), c.inst->getF64("epsilon"),
                    o.out(out[0]), o.out(out[1]));
}
bool geluGlu(const KernelCall &c) {
  return c.inst->getString("activation", "silu") == "gelu";
}
template <typename R> void glu(const KernelCall &c, Operands<R> &o) {
  const auto &out = c.outputs;
  k::glu<R>(o.in(c.inputs[0]), rowsOf(out[0]), shape(out[0]).back(), geluGlu(c),
            o.out(out[0]));
}
template <typename R> void gluGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  k::gluGrad<R>(o.in(in[0]), o.in(in[1]), rowsOf(in[1]), shape(in[1]).back(),
                geluGlu(c), o.out(c.outputs[0]));
}
template <typename R>
void ropeCall(const KernelCall &c, Operands<R> &o, bool inverse) {
  const auto &x = shape(c.inputs[0]); // [b, a, s, d]
  ops::RopeSpec spec = ops::readRopeSpec(c.inst->attrs);
  std::vector<double> frequencies = ops::ropeInverseFrequencies(spec);
  k::rope<R>(o.in(c.inputs[0]), x[0] * x[1], x[2], x[3], spec.rotaryDim,
             frequencies.data(), spec.attentionFactor, inverse,
             o.out(c.outputs[0]));
}
template <typename R> void rope(const KernelCall &c, Operands<R> &o) {
  ropeCall(c, o, false);
}
template <typename R> void ropeGrad(const KernelCall &c, Operands<R> &o) {
  ropeCall(c, o, true);
}
template <typename R> void flashAttention(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &q = shape(in[0]), &kv = shape(in[1]);
  k::flashAttention<R>(
      o.in(in[0]), o.in(in[1]), o.in(in[2]), q[0], q[1], kv[1], q[2], kv[2],
      q[3], c.inst->getF64("scale"), c.inst->getBool("causal"),
      c.inst->getF64("probability"), c.seed,
      static_cast<uint32_t>(c.inst->getI64("rng_stream")),
      c.inst->getBool("merge_heads"), o.out(out[0]), o.out(out[1]));
}
template <typename R>
void flashAttentionGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &q = shape(in[0]), &kv = shape(in[1]);
  k::flashAttentionGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), o.in(in[3]),
                           o.in(in[4]), o.in(in[5]), q[0], q[1], kv[1], q[2],
                           kv[2], q[3], c.inst->getF64("scale"),
                           c.inst->getBool("causal"),
                           c.inst->getF64("probability"), c.seed,
                           static_cast<uint32_t>(c.inst->getI64("rng_stream")),
                           c.inst->getBool("merge_heads"), o.out(out[0]),
                           o.out(out[1]), o.out(out[2]));
}
/// Products of bf16 tensors in bf16 with f32 sums (oneDNN's matmul),
/// C_i = scale·op(A_i)·op(B_{i/rep}) for `batches` heads (B shared by `rep`
/// query heads); false where the operands are not bf16 or the CPU has no
/// native kernel.
template <typename R>
bool bf16Batches(const TensorArg &a, const TensorArg &b, bool transA,
                 bool transB, int64_t batches, int64_t rep, int64_t m,
                 int64_t n, int64_t kk, double scale, R *c) {
  if constexpr (!std::is_same_v<R, float>)
    return false;
  else {
    if (a.storage != DType::BF16 || b.storage != DType::BF16)
      return false;
    const auto *x = static_cast<const uint16_t *>(a.data);
    const auto *y = static_cast<const uint16_t *>(b.data);
    for (int64_t i = 0; i < batches; ++i)
      if (!k::gemmBf16(transA, transB, m, n, kk, x + i * m * kk,
                       transA ? m : kk, y + i / rep * kk * n, transB ? kk : n,
                       c + i * m * n, n))
        return false; // The first call decides: all have one shape.
    if (scale != 1.0) {
      float s = static_cast<float>(scale);
#pragma omp parallel for simd
      for (int64_t i = 0; i < batches * m * n; ++i)
        c[i] *= s;
    }
    return true;
  }
}

/// One product of two bf16 tensors in bf16 with f32 sums, into `c` (f32);
/// false where it cannot (f64 precision, other storage, no native matmul),
/// and the caller widens to f32 as for every other op.
template <typename R>
bool bf16Product(const TensorArg &a, const TensorArg &b, bool transA,
                 bool transB, int64_t m, int64_t n, int64_t kk, R *c) {
  return bf16Batches(a, b, transA, transB, 1, 1, m, n, kk, 1.0, c);
}

template <typename R> void linear(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  const R *bias = in.size() == 3 ? o.in(in[2]) : nullptr;
  int64_t rows = rowsOf(in[0]), out = shape(in[1])[0], inner = shape(in[1])[1];
  R *y = o.out(c.outputs[0]);
  if (bf16Product(in[0], in[1], false, true, rows, out, inner, y)) {
    if (bias)
      k::addBias<R>(y, bias, rows, out);
    return;
  }
  k::linear<R>(o.in(in[0]), o.in(in[1]), bias, rows, out, inner, y);
}
template <typename R>
void linearGradInput(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  int64_t rows = rowsOf(in[0]), out = shape(in[1])[0], inner = shape(in[1])[1];
  R *gradX = o.out(c.outputs[0]);
  if (bf16Product(in[0], in[1], false, false, rows, inner, out, gradX))
    return;
  k::linearGradInput<R>(o.in(in[0]), o.in(in[1]), rows, out, inner, gradX);
}
template <typename R>
void linearGradWeight(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &outs = c.outputs;
  int64_t rows = rowsOf(in[0]), out = shape(outs[0])[0],
          inner = shape(outs[0])[1];
  R *gradW = o.out(outs[0]);
  k::linearGradWeight<R>(o.in(in[0]), o.in(in[1]), rows, out, inner, gradW);
}
template <typename R> void biasGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  k::biasGrad<R>(o.in(in[0]), rowsOf(in[0]), shape(in[0]).back(),
                 o.out(c.outputs[0]));
}
template <typename R> void gelu(const KernelCall &c, Operands<R> &o) {
  k::gelu<R>(o.in(c.inputs[0]), c.inputs[0].elements,
             c.inst->getString("approximate", "none") == "tanh",
             o.out(c.outputs[0]));
}
template <typename R> void geluGrad(const KernelCall &c, Operands<R> &o) {
  k::geluGrad<R>(o.in(c.inputs[0]), o.in(c.inputs[1]), c.inputs[0].elements,
                 c.inst->getString("approximate", "none") == "tanh",
                 o.out(c.outputs[0]));
}
template <typename R> void add(const KernelCall &c, Operands<R> &o) {
  const TensorArg &a = c.inputs[0], &b = c.inputs[1], &y = c.outputs[0];
  if constexpr (std::is_same_v<R, float>) {
    // All bf16: one pass in float, the same bits as widening both, adding
    // and narrowing, without three f32 copies (the tied embedding's
    // gradient sums are 38.6M elements in GPT-2).
    if (a.storage == DType::BF16 && b.storage == DType::BF16 &&
        y.storage == DType::BF16) {
      const uint16_t *x0 = static_cast<const uint16_t *>(a.data);
      const uint16_t *x1 = static_cast<const uint16_t *>(b.data);
      uint16_t *out = static_cast<uint16_t *>(y.data);
#pragma omp parallel for simd
      for (int64_t i = 0; i < a.elements; ++i)
        out[i] = floatToBF16(bf16ToFloat(x0[i]) + bf16ToFloat(x1[i]));
      return;
    }
  }
  k::add<R>(o.in(a), o.in(b), a.elements, o.out(y));
}
/// A copy in the compute type: the operands convert from and to their
/// storage types.
template <typename R> void convert(const KernelCall &c, Operands<R> &o) {
  const R *x = o.in(c.inputs[0]);
  std::copy(x, x + c.inputs[0].elements, o.out(c.outputs[0]));
}
template <typename R> void dropout(const KernelCall &c, Operands<R> &o) {
  k::dropout<R>(o.in(c.inputs[0]), c.inputs[0].elements,
                c.inst->getF64("probability"), c.seed,
                static_cast<uint32_t>(c.inst->getI64("rng_stream")),
                o.out(c.outputs[0]), static_cast<uint8_t *>(c.outputs[1].data));
}
/// A fused op's pair run as its two ops, for storage types the one-pass
/// kernels do not take; an argument without data is a temporary in
/// `like`'s storage type, rounded as the pair stores it, so the bits are
/// the pair's.
template <typename R>
void asPair(const KernelCall &c, const TensorArg &like,
            void (*first)(const KernelCall &, Operands<R> &),
            std::vector<TensorArg> firstOutputs,
            void (*second)(const KernelCall &, Operands<R> &),
            std::vector<TensorArg> secondInputs,
            std::vector<TensorArg> secondOutputs) {
  std::vector<unsigned char> bytes;
  auto withTemporary = [&](std::vector<TensorArg> args) {
    for (TensorArg &arg : args)
      if (!arg.data) {
        bytes.resize(like.elements * dtypeSize(like.storage));
        arg = TensorArg{bytes.data(), like.storage, like.shape, like.elements};
      }
    return args;
  };
  KernelCall one = c, two = c;
  one.outputs = withTemporary(std::move(firstOutputs));
  two.inputs = withTemporary(std::move(secondInputs));
  two.outputs = withTemporary(std::move(secondOutputs));
  Operands<R> a;
  first(one, a);
  a.finish();
  Operands<R> b;
  second(two, b);
  b.finish();
}

/// Whether every tensor is stored in the compute type R.
template <typename R> bool allIn(std::initializer_list<const TensorArg *> ts) {
  for (const TensorArg *t : ts)
    if (t->storage != realType<R>())
      return false;
  return true;
}

template <typename R> void dropoutMask(const KernelCall &c, Operands<R> &) {
  k::dropoutMask(c.outputs[0].elements, c.inst->getF64("probability"), c.seed,
                 static_cast<uint32_t>(c.inst->getI64("rng_stream")),
                 static_cast<uint8_t *>(c.outputs[0].data));
}
template <typename R> void dropoutGrad(const KernelCall &c, Operands<R> &o) {
  k::dropoutGrad<R>(static_cast<const uint8_t *>(c.inputs[0].data),
                    o.in(c.inputs[1]), c.inputs[1].elements,
                    c.inst->getF64("probability"), o.out(c.outputs[0]));
}
/// dropout then add in one pass (Fusion.h); the residual is either operand
/// of the add, which commutes exactly.
template <typename R> void dropoutAdd(const KernelCall &c, Operands<R> &o) {
  const TensorArg &x = c.inputs[0], &r = c.inputs[1], &y = c.outputs[0];
  if (!allIn<R>({&x, &r, &y}))
    return asPair<R>(c, x, dropout<R>, {TensorArg{}, c.outputs[1]}, add<R>,
                     {r, TensorArg{}}, {y});
  k::dropoutAdd<R>(o.in(x), o.in(r), x.elements, c.inst->getF64("probability"),
                   c.seed, static_cast<uint32_t>(c.inst->getI64("rng_stream")),
                   o.out(y), static_cast<uint8_t *>(c.outputs[1].data));
}
/// linear then gelu: the product, then bias and GeLU row by row.
template <typename R> void linearGelu(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  if (!allIn<R>({&in[0], &in[1], &in[2], &out[0], &out[1]}))
    return asPair<R>(c, out[0], linear<R>, {out[0]}, gelu<R>, {out[0]},
                     {out[1]});
  int64_t rows = rowsOf(in[0]), n = shape(in[1])[0], inner = shape(in[1])[1];
  R *h = o.out(out[0]);
  k::linear<R>(o.in(in[0]), o.in(in[1]), nullptr, rows, n, inner, h);
  k::biasGelu<R>(h, o.in(in[2]), rows, n,
                 c.inst->getString("approximate", "none") == "tanh",
                 o.out(out[1]));
}
template <typename R> void splitHeads(const KernelCall &c, Operands<R> &o) {
  const auto &out = c.outputs;
  const auto &q = shape(out[0]); // [b, a, s, d]
  k::splitHeads<R>(o.in(c.inputs[0]), q[2], q[0], q[1], shape(out[1])[1], q[3],
                   o.out(out[0]), o.out(out[1]), o.out(out[2]));
}
template <typename R> void splitHeadsGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  const auto &q = shape(in[0]);
  k::splitHeadsGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), q[2], q[0], q[1],
                       shape(in[1])[1], q[3], o.out(c.outputs[0]));
}
template <typename R> void mergeHeads(const KernelCall &c, Operands<R> &o) {
  const auto &x = shape(c.inputs[0]);
  k::mergeHeads<R>(o.in(c.inputs[0]), x[0], x[1], x[2], x[3],
                   o.out(c.outputs[0]));
}
template <typename R> void mergeHeadsGrad(const KernelCall &c, Operands<R> &o) {
  const auto &x = shape(c.outputs[0]);
  k::mergeHeadsGrad<R>(o.in(c.inputs[0]), x[0], x[1], x[2], x[3],
                       o.out(c.outputs[0]));
}
template <typename R>
void attentionScores(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  const auto &q = shape(in[0]);
  if (bf16Batches(in[0], in[1], false, true, q[0] * q[1],
                  q[1] / shape(in[1])[1], q[2], shape(in[1])[2], q[3],
                  c.inst->getF64("scale"), o.out(c.outputs[0])))
    return;
  k::attentionScores<R>(o.in(in[0]), o.in(in[1]), q[0] * q[1],
                        q[1] / shape(in[1])[1], q[2], shape(in[1])[2], q[3],
                        c.inst->getF64("scale"), o.out(c.outputs[0]));
}
template <typename R>
void attentionScoresGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &q = shape(in[0]);
  int64_t batches = q[0] * q[1], rep = q[1] / shape(in[1])[1];
  int64_t sq = q[2], sk = shape(in[1])[2], d = q[3];
  double scale = c.inst->getF64("scale");
  // dQ = scale·dS·K and, without grouped heads (no sums across heads),
  // dK = scale·dSᵀ·Q, in bf16.
  if (rep == 1 && in[2].storage == DType::BF16 &&
      bf16Batches(in[2], in[1], false, false, batches, 1, sq, d, sk, scale,
                  o.out(out[0])) &&
      bf16Batches(in[2], in[0], true, false, batches, 1, sk, d, sq, scale,
                  o.out(out[1])))
    return;
  k::attentionScoresGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), q[0] * q[1],
                            q[1] / shape(in[1])[1], q[2], shape(in[1])[2], q[3],
                            c.inst->getF64("scale"), o.out(out[0]),
                            o.out(out[1]));
}
template <typename R> void softmax(const KernelCall &c, Operands<R> &o) {
  const auto &x = shape(c.inputs[0]);
  int64_t causalRows = c.inst->getBool("causal") ? x[x.size() - 2] : 0;
  k::softmax<R>(o.in(c.inputs[0]), rowsOf(c.inputs[0]), x.back(), causalRows,
                o.out(c.outputs[0]));
}
template <typename R> void softmaxGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  k::softmaxGrad<R>(o.in(in[0]), o.in(in[1]), rowsOf(in[0]),
                    shape(in[0]).back(), o.out(c.outputs[0]));
}
template <typename R>
void attentionContext(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs;
  const auto &p = shape(in[0]);
  if (bf16Batches(in[0], in[1], false, false, p[0] * p[1],
                  p[1] / shape(in[1])[1], p[2], shape(in[1])[3], p[3], 1.0,
                  o.out(c.outputs[0])))
    return;
  k::attentionContext<R>(o.in(in[0]), o.in(in[1]), p[0] * p[1],
                         p[1] / shape(in[1])[1], p[2], p[3], shape(in[1])[3],
                         o.out(c.outputs[0]));
}
template <typename R>
void attentionContextGrad(const KernelCall &c, Operands<R> &o) {
  const auto &in = c.inputs, &out = c.outputs;
  const auto &p = shape(in[0]);
  int64_t batches = p[0] * p[1], rep = p[1] / shape(in[1])[1];
  int64_t sq = p[2], sk = p[3], d = shape(in[1])[3];
  // dP = dC·Vᵀ and, without grouped heads, dV = Pᵀ·dC, in bf16.
  if (rep == 1 && in[2].storage == DType::BF16 &&
      bf16Batches(in[2], in[1], false, true, batches, 1, sq, sk, d, 1.0,
                  o.out(out[0])) &&
      bf16Batches(in[0], in[2], true, false, batches, 1, sk, d, sq, 1.0,
                  o.out(out[1])))
    return;
  k::attentionContextGrad<R>(o.in(in[0]), o.in(in[1]), o.in(in[2]), p[0] * p[1],
                             p[1] / shape(in[1])[1], p[2], p[3],
                             shape(in[1])[3], o.out(out[0]), o.out(out[1]));
}
template <typename R> void biasAdd(const KernelCall &c, Operands<R> &o) {
  const R *x = o.in(c.inputs[0]);
  const R *bias = o.in(c.inputs[1]);
  R *y = o.out(c.outputs[0]);
  int64_t n = shape(c.inputs[0]).back(), rows = rowsOf(c.inputs[0]);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < n; ++col)
      y[r * n + col] = x[r * n + col] + bias[col];
}
template <typename R> void copyOrReduce(const KernelCall &c, Operands<R> &o) {
  const R *x = o.in(c.inputs[0]);
  R *y = o.out(c.outputs[0]);
  std::copy(x, x + c.inputs[0].elements, y);
  if (c.inst->op == "all_reduce")
    c.comm->allReduceSum(y, c.outputs[0].elements);
}
template <typename R> void allGather(const KernelCall &c, Operands<R> &o) {
  c.comm->allGather(o.in(c.inputs[0]), o.out(c.outputs[0]),
                    c.inputs[0].elements);
}
template <typename R> void reduceScatter(const KernelCall &c, Operands<R> &o) {
  c.comm->reduceScatter(o.in(c.inputs[0]), o.out(c.outputs[0]),
                        c.outputs[0].elements);
}
template <typename R> void shard(const KernelCall &c, Operands<R> &o) {
  int64_t piece = c.outputs[0].elements;
  const R *x = o.in(c.inputs[0]) + c.comm->rank() * piece;
  std::copy(x, x + piece, o.out(c.outputs[0]));
}
/// The loss's rows against this rank's logits [s, b, v].
LossRows lossRowsOf(const KernelCall &c, const ops::LossSpec &loss) {
  const auto &l = shape(c.inputs[0]);
  int64_t shards = vocabShardsOf(c);
  return lossRows(Operands<float>::indices(c.inputs[1]), l[0], l[1], l[2],
                  shards, shards > 1 ? c.comm->rank() : 0, loss.ignoreIndex);
}
/// Each row's maximum over the group: every rank's maxima gathered, the
/// largest kept (the communicator sums, gathers and scatters only).
template <typename R>
void groupMaxima(const KernelCall &c, std::vector<R> &max) {
  int64_t rows = static_cast<int64_t>(max.size()), ranks = c.comm->size();
  std::vector<R> all(rows * ranks);
  c.comm->allGather(max.data(), all.data(), rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < ranks; ++k)
      max[r] = std::max(max[r], all[k * rows + r]);
}
template <typename R> void crossEntropy(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  int64_t rows = l[0] * l[1], v = l[2];
  ops::LossSpec a = ops::readLossSpec(c.inst->attrs);
  LossRows y = lossRowsOf(c, a);
  const R *logits = o.in(c.inputs[0]);
  R *probs = o.out(c.outputs[1]);
  std::vector<R> max(rows), sums(rows), labelLogits(rows);
  k::rowMaxima(logits, rows, v, max.data());
  if (a.vocabShards > 1)
    groupMaxima(c, max);
  k::rowExponentials(logits, y.local.data(), rows, v, max.data(), probs,
                     sums.data(), labelLogits.data());
  if (a.vocabShards > 1) {
    // The label's logit is on one rank, 0 on the others: its sum is exact.
    c.comm->allReduceSum(sums.data(), rows);
    c.comm->allReduceSum(labelLogits.data(), rows);
  }
  double loss = k::normalizeAndLoss(probs, y.counts.data(), rows, v, max.data(),
                                    sums.data(), labelLogits.data(), y.counted,
                                    a.microBatches);
  storeElement(c.outputs[0].data, c.outputs[0].storage, 0, loss);
  if (c.loss)
    *c.loss += loss;
}
template <typename R>
void crossEntropyGrad(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  ops::LossSpec a = ops::readLossSpec(c.inst->attrs);
  LossRows y = lossRowsOf(c, a);
  k::crossEntropyGrad<R>(o.in(c.inputs[0]), y.local.data(), y.counts.data(),
                         l[0] * l[1], l[2], y.counted, a.microBatches,
                         o.out(c.outputs[0]));
}

// Mixture of experts. Integer results are stored through storeElement.
void storeIndices(const TensorArg &t, const std::vector<int64_t> &values) {
  for (int64_t i = 0; i < t.elements; ++i)
    storeElement(t.data, t.storage, i, static_cast<double>(values[i]));
}
/// Slots in [-1, rows), -1 a dropped choice, no row taken twice: the
/// kernels write each choice's row from its own thread.
std::vector<int64_t> slotsOf(const TensorArg &t, int64_t rows) {
  std::vector<int64_t> slots = Operands<float>::indices(t);
  checkSlots(slots, rows);
  return slots;
}
template <typename R> void moeRoute(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  std::vector<double> logits(c.inputs[0].elements);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = loadElement(c.inputs[0].data, c.inputs[0].storage, i);
  int64_t k = shape(c.outputs[0])[2];
  k::Routing routing =
      k::routeTokens(logits, l[0] * l[1], l[2], k, c.inst->getI64("capacity"),
                     c.inst->getString("drop_policy", "probs") == "probs");
  R *weights = o.out(c.outputs[0]);
  for (size_t i = 0; i < routing.weights.size(); ++i)
    weights[i] = static_cast<R>(routing.weights[i]);
  storeIndices(c.outputs[1], routing.experts);
  storeIndices(c.outputs[2], routing.slots);
}
template <typename R> void moeRouteGrad(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  std::vector<int64_t> experts = Operands<R>::indices(c.inputs[1]);
  checkIndices(experts, l[2], "expert");
  k::moeRouteGrad<R>(o.in(c.inputs[0]), experts.data(), o.in(c.inputs[2]),
                     l[0] * l[1], l[2], shape(c.inputs[1])[2],
                     o.out(c.outputs[0]));
}
/// The pooled counts of a balancing loss, or null (Megatron's per layer).
template <typename R> const R *countsOf(const KernelCall &c, Operands<R> &o) {
  return c.inputs.size() > 2 ? o.in(c.inputs[2]) : nullptr;
}
template <typename R> void moeAuxLoss(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  std::vector<int64_t> experts = Operands<R>::indices(c.inputs[1]);
  checkIndices(experts, l[2], "expert");
  double loss = k::moeAuxLoss<R>(
      o.in(c.inputs[0]), experts.data(), countsOf(c, o), l[0] * l[1], l[2],
      shape(c.inputs[1])[2], c.inst->getF64("coeff"));
  storeElement(c.outputs[0].data, c.outputs[0].storage, 0, loss);
  if (c.loss)
    *c.loss += loss;
}
template <typename R> void moeAuxLossGrad(const KernelCall &c, Operands<R> &o) {
  const auto &l = shape(c.inputs[0]);
  std::vector<int64_t> experts = Operands<R>::indices(c.inputs[1]);
  checkIndices(experts, l[2], "expert");
  k::moeAuxLossGrad<R>(o.in(c.inputs[0]), experts.data(), countsOf(c, o),
                       l[0] * l[1], l[2], shape(c.inputs[1])[2],
                       c.inst->getF64("coeff"), o.out(c.outputs[0]));
}
template <typename R>
void moeExpertCounts(const KernelCall &c, Operands<R> &o) {
  std::vector<int64_t> experts = Operands<R>::indices(c.inputs[0]);
  int64_t n = c.outputs[0].elements;
  checkIndices(experts, n, "expert");
  R *counts = o.out(c.outputs[0]);
  std::fill(counts, counts + n, R(0));
  for (int64_t e : experts)
    counts[e] += R(1);
}
/// The rows of an expert buffer, [E, C, h] or grouped [s·b·k, h].
int64_t bufferRows(const TensorArg &buffer) {
  return buffer.elements / shape(buffer).back();
}
template <typename R> void moeDispatch(const KernelCall &c, Operands<R> &o) {
  const auto &x = shape(c.inputs[0]);
  int64_t rows = bufferRows(c.outputs[0]);
  std::vector<int64_t> slots = slotsOf(c.inputs[1], rows);
  k::moeDispatch<R>(o.in(c.inputs[0]), slots.data(), x[0] * x[1],
                    shape(c.inputs[1])[2], x[2], rows, o.out(c.outputs[0]));
}
template <typename R>
void moeDispatchGrad(const KernelCall &c, Operands<R> &o) {
  const auto &s = shape(c.inputs[0]);
  std::vector<int64_t> slots = slotsOf(c.inputs[0], bufferRows(c.inputs[1]));
  k::moeDispatchGrad<R>(slots.data(), o.in(c.inputs[1]), s[0] * s[1], s[2],
                        shape(c.inputs[1]).back(), o.out(c.outputs[0]));
}
template <typename R> void moeCombine(const KernelCall &c, Operands<R> &o) {
  const auto &w = shape(c.inputs[1]);
  std::vector<int64_t> slots = slotsOf(c.inputs[2], bufferRows(c.inputs[0]));
  k::moeCombine<R>(o.in(c.inputs[0]), o.in(c.inputs[1]), slots.data(),
                   w[0] * w[1], w[2], shape(c.inputs[0]).back(),
                   o.out(c.outputs[0]));
}
template <typename R> void moeCombineGrad(const KernelCall &c, Operands<R> &o) {
  const auto &w = shape(c.inputs[1]);
  int64_t rows = bufferRows(c.inputs[0]);
  std::vector<int64_t> slots = slotsOf(c.inputs[2], rows);
  k::moeCombineGrad<R>(o.in(c.inputs[0]), o.in(c.inputs[1]), slots.data(),
                       o.in(c.inputs[3]), w[0] * w[1], w[2],
                       shape(c.inputs[0]).back(), rows, o.out(c.outputs[0]),
                       o.out(c.outputs[1]));
}
/// Where each expert's rows of the buffer (operand 0 in the op and both
/// gradients) start: e·C for [E, C, n], or the groups the routing map
/// (operand 2) gives a grouped [s·b·k, n].
std::vector<int64_t> expertRowStarts(const KernelCall &c, int64_t experts) {
  if (c.inputs.size() > 2)
    return groupedRowStarts(Operands<float>::indices(c.inputs[2]), experts);
  int64_t capacity = shape(c.inputs[0])[1];
  std::vector<int64_t> starts(experts + 1);
  for (int64_t e = 0; e <= experts; ++e)
    starts[e] = e * capacity;
  return starts;
}
template <typename R> void expertLinear(const KernelCall &c, Operands<R> &o) {
  const auto &w = shape(c.inputs[1]);
  std::vector<int64_t> starts = expertRowStarts(c, w[0]);
  k::expertLinear<R>(o.in(c.inputs[0]), o.in(c.inputs[1]), starts.data(), w[0],
                     w[1], w[2], o.out(c.outputs[0]));
}
template <typename R>
void expertLinearGradInput(const KernelCall &c, Operands<R> &o) {
  const auto &w = shape(c.inputs[1]);
  std::vector<int64_t> starts = expertRowStarts(c, w[0]);
  k::expertLinearGradInput<R>(o.in(c.inputs[0]), o.in(c.inputs[1]),
                              starts.data(), w[0], w[1], w[2],
                              o.out(c.outputs[0]));
}
template <typename R>
void expertLinearGradWeight(const KernelCall &c, Operands<R> &o) {
  const auto &w = shape(c.outputs[0]);
  std::vector<int64_t> starts = expertRowStarts(c, w[0]);
  k::expertLinearGradWeight<R>(o.in(c.inputs[0]), o.in(c.inputs[1]),
                               starts.data(), w[0], w[1], w[2],
                               o.out(c.outputs[0]));
}

#define CKPT_KERNEL(NAME, FN)                                                  \
  { NAME, kernelOf(FN<float>, FN<double>) }

const std::map<std::string, Kernel, std::less<>> &kernelTable() {
  static const std::map<std::string, Kernel, std::less<>> table = {
      CKPT_KERNEL("embedding", embedding),
      CKPT_KERNEL("embedding_grad", embeddingGrad),
      CKPT_KERNEL("layer_norm", layerNorm),
      CKPT_KERNEL("layer_norm_grad", layerNormGrad),
      CKPT_KERNEL("rms_norm", rmsNorm),
      CKPT_KERNEL("rms_norm_grad", rmsNormGrad),
      CKPT_KERNEL("glu", glu),
      CKPT_KERNEL("glu_grad", gluGrad),
      CKPT_KERNEL("flash_attention", flashAttention),
      CKPT_KERNEL("flash_attention_grad", flashAttentionGrad),
      CKPT_KERNEL("rope", rope),
      CKPT_KERNEL("rope_grad", ropeGrad),
      CKPT_KERNEL("linear", linear),
      CKPT_KERNEL("linear_grad_input", linearGradInput),
      CKPT_KERNEL("linear_grad_weight", linearGradWeight),
      CKPT_KERNEL("bias_grad", biasGrad),
      CKPT_KERNEL("gelu", gelu),
      CKPT_KERNEL("gelu_grad", geluGrad),
      CKPT_KERNEL("add", add),
      // The running sum's type is the output's: the generic add widens.
      CKPT_KERNEL("accumulate", add),
      CKPT_KERNEL("convert", convert),
      CKPT_KERNEL("dropout", dropout),
      CKPT_KERNEL("dropout_grad", dropoutGrad),
      CKPT_KERNEL("dropout_mask", dropoutMask),
      CKPT_KERNEL("dropout_add", dropoutAdd),
      CKPT_KERNEL("linear_gelu", linearGelu),
      CKPT_KERNEL("split_heads", splitHeads),
      CKPT_KERNEL("split_heads_grad", splitHeadsGrad),
      CKPT_KERNEL("merge_heads", mergeHeads),
      CKPT_KERNEL("merge_heads_grad", mergeHeadsGrad),
      CKPT_KERNEL("attention_scores", attentionScores),
      CKPT_KERNEL("attention_scores_grad", attentionScoresGrad),
      CKPT_KERNEL("softmax", softmax),
      CKPT_KERNEL("softmax_grad", softmaxGrad),
      CKPT_KERNEL("attention_context", attentionContext),
      CKPT_KERNEL("attention_context_grad", attentionContextGrad),
      CKPT_KERNEL("bias_add", biasAdd),
      CKPT_KERNEL("tp_copy", copyOrReduce),
      CKPT_KERNEL("all_reduce", copyOrReduce),
      CKPT_KERNEL("all_gather", allGather),
      CKPT_KERNEL("reduce_scatter", reduceScatter),
      CKPT_KERNEL("shard", shard),
      CKPT_KERNEL("cross_entropy", crossEntropy),
      CKPT_KERNEL("cross_entropy_grad", crossEntropyGrad),
      CKPT_KERNEL("moe_route", moeRoute),
      CKPT_KERNEL("moe_route_grad", moeRouteGrad),
      CKPT_KERNEL("moe_aux_loss", moeAuxLoss),
      CKPT_KERNEL("moe_aux_loss_grad", moeAuxLossGrad),
      CKPT_KERNEL("moe_expert_counts", moeExpertCounts),
      CKPT_KERNEL("moe_dispatch", moeDispatch),
      CKPT_KERNEL("moe_dispatch_grad", moeDispatchGrad),
      CKPT_KERNEL("moe_combine", moeCombine),
      CKPT_KERNEL("moe_combine_grad", moeCombineGrad),
      CKPT_KERNEL("expert_linear", expertLinear),
      CKPT_KERNEL("expert_linear_grad_input", expertLinearGradInput),
      CKPT_KERNEL("expert_linear_grad_weight", expertLinearGradWeight),
  };
  return table;
}
#undef CKPT_KERNEL

class CpuBackend : public Backend {
public:
  std::string name() const override { return "cpu"; }
  bool hostAddressable() const override { return true; }

  void copyToDevice(void *device, const void *host, size_t bytes) override {
    std::copy_n(static_cast<const unsigned char *>(host), bytes,
                static_cast<unsigned char *>(device));
  }
  void copyToHost(void *host, const void *device, size_t bytes) override {
    std::copy_n(static_cast<const unsigned char *>(device), bytes,
                static_cast<unsigned char *>(host));
  }

  Kernel kernel(const ops::OpDef &def) const override {
    auto it = kernelTable().find(def.name);
    return it == kernelTable().end() ? Kernel() : it->second;
  }

  void setThreads(int threads) override {
    if (threads <= 0)
      return;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
  }
  int threads() const override { return omp_get_max_threads(); }

protected:
  void *allocateDevice(size_t bytes) override {
    // Cache-line aligned, as the planner's offsets are.
    size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    return std::aligned_alloc(64, rounded);
  }
  void deallocateDevice(void *ptr, size_t) override { std::free(ptr); }
};

} // namespace

std::unique_ptr<Backend> ckpt::rt::createCpuBackend() {
  return std::make_unique<CpuBackend>();
}
