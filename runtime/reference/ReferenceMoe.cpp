//===- ReferenceMoe.cpp - Plain f64 loops for the mixture-of-experts ops --===//
//
// Written apart from the CPU kernels (runtime/cpu/MoeKernels.cpp): top-k by
// repeated arg-max, capacity by counting each choice's rank among its
// expert's choices. Layouts: tokens [s, b, ...] in row t = i·b + j, expert
// buffers [E, C, h], expert weights [E, out, in].
//
//===----------------------------------------------------------------------===//

#include "ReferenceMoe.h"

#include "ReferenceValues.h"
#include "ckpt/runtime/Executor.h"

#include <algorithm>
#include <cmath>

using namespace ckpt;
using namespace ckpt::rt;

namespace {

using namespace ckpt::rt::reference;

/// Integer operand `t`, each value in [low, high).
std::vector<int64_t> ids(const TensorArg &t, int64_t low, int64_t high,
                         const char *what) {
  std::vector<int64_t> values(t.elements);
  for (int64_t i = 0; i < t.elements; ++i) {
    values[i] = static_cast<int64_t>(loadElement(t.data, t.storage, i));
    if (values[i] < low || values[i] >= high)
      throw RuntimeError(std::string(what) + " " + std::to_string(values[i]) +
                         " at position " + std::to_string(i) + " is outside [" +
                         std::to_string(low) + ", " + std::to_string(high) +
                         ")");
  }
  return values;
}

/// A routing map's slots: each in [-1, rows), no row given twice.
std::vector<int64_t> slotsOf(const TensorArg &t, int64_t rows) {
  std::vector<int64_t> slots = ids(t, -1, rows, "slot");
  for (size_t i = 0; i < slots.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (slots[i] >= 0 && slots[j] == slots[i])
        throw RuntimeError("slot " + std::to_string(slots[i]) +
                           " at position " + std::to_string(i) +
                           " repeats position " + std::to_string(j) +
                           " (a row of an expert's buffer holds one choice)");
  return slots;
}

/// softmax over the chosen logits of row t.
Values chosenWeights(const Values &logits, int64_t t, int64_t numExperts,
                     const std::vector<int64_t> &experts, int64_t k) {
  double top = -INFINITY;
  for (int64_t j = 0; j < k; ++j)
    top = std::max(top, logits[t * numExperts + experts[t * k + j]]);
  Values w(k);
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    w[j] = std::exp(logits[t * numExperts + experts[t * k + j]] - top);
    sum += w[j];
  }
  for (double &value : w)
    value /= sum;
  return w;
}

void moeRoute(const KernelCall &c) {
  Values logits = load(c.inputs[0]);
  const auto &l = dims(c.inputs[0]);
  int64_t tokens = l[0] * l[1], n = l[2], k = dims(c.outputs[0])[2];
  int64_t capacity = c.inst->getI64("capacity");
  bool byProbs = c.inst->getString("drop_policy", "probs") == "probs";
  std::vector<int64_t> experts(tokens * k);
  Values weights(tokens * k);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<bool> taken(n, false);
    for (int64_t j = 0; j < k; ++j) {
      int64_t best = -1;
      for (int64_t e = 0; e < n; ++e)
        if (!taken[e] && (best < 0 || logits[t * n + e] > logits[t * n + best]))
          best = e;
      taken[best] = true;
      experts[t * k + j] = best;
    }
    Values w = chosenWeights(logits, t, n, experts, k);
    for (int64_t j = 0; j < k; ++j)
      weights[t * k + j] = w[j];
  }
  // Dropless (capacity 0): choice i's row of the grouped buffer is the
  // number of choices of lower experts, plus those of its own expert
  // before it in token order.
  Values slots(tokens * k, -1.0);
  if (capacity == 0) {
    for (int64_t i = 0; i < tokens * k; ++i) {
      int64_t row = 0;
      for (int64_t other = 0; other < tokens * k; ++other)
        row += experts[other] < experts[i] ||
               (experts[other] == experts[i] && other < i);
      slots[i] = static_cast<double>(row);
    }
  }
  // A choice keeps its slot when fewer than `capacity` choices of its
  // expert come before it: in token order, or by weight (ties by order).
  std::vector<int64_t> filled(n, 0);
  for (int64_t i = 0; capacity > 0 && i < tokens * k; ++i) {
    int64_t e = experts[i], ahead = 0;
    for (int64_t other = 0; other < tokens * k; ++other) {
      if (other == i || experts[other] != e)
        continue;
      bool before = byProbs ? weights[other] > weights[i] ||
                                  (weights[other] == weights[i] && other < i)
                            : other < i;
      ahead += before;
    }
    if (ahead < capacity)
      slots[i] = static_cast<double>(e * capacity + filled[e]++);
  }
  store(c.outputs[0], weights);
  store(c.outputs[1], Values(experts.begin(), experts.end()));
  store(c.outputs[2], slots);
}

void moeRouteGrad(const KernelCall &c) {
  Values logits = load(c.inputs[0]), dw = load(c.inputs[2]);
  const auto &l = dims(c.inputs[0]);
  int64_t tokens = l[0] * l[1], n = l[2], k = dims(c.inputs[1])[2];
  std::vector<int64_t> experts = ids(c.inputs[1], 0, n, "expert");
  Values grad(logits.size(), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    Values w = chosenWeights(logits, t, n, experts, k);
    // d w_j / d l_{e_i} = w_j (δ_ij - w_i).
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        grad[t * n + experts[t * k + i]] +=
            dw[t * k + j] * w[j] * ((i == j ? 1.0 : 0.0) - w[i]);
  }
  store(c.outputs[0], grad);
}

/// Softmax over all experts of every row, and the loss's weight per expert.
void balance(const KernelCall &c, Values &probs, Values &g) {
  Values logits = load(c.inputs[0]);
  const auto &l = dims(c.inputs[0]);
  int64_t tokens = l[0] * l[1], n = l[2], k = dims(c.inputs[1])[2];
  std::vector<int64_t> experts = ids(c.inputs[1], 0, n, "expert");
  probs.assign(logits.size(), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    double top = -INFINITY, sum = 0;
    for (int64_t e = 0; e < n; ++e)
      top = std::max(top, logits[t * n + e]);
    for (int64_t e = 0; e < n; ++e)
      sum += probs[t * n + e] = std::exp(logits[t * n + e] - top);
    for (int64_t e = 0; e < n; ++e)
      probs[t * n + e] /= sum;
  }
  g.assign(n, 0.0);
  double coeff = c.inst->getF64("coeff");
  if (c.inputs.size() > 2) {
    // transformers' pooled loss: the counts of every layer's choices.
    Values counts = load(c.inputs[2]);
    for (int64_t e = 0; e < n; ++e)
      g[e] = coeff * counts[e];
    return;
  }
  for (int64_t e : experts)
    g[e] += coeff * static_cast<double>(n) /
            (static_cast<double>(k) * static_cast<double>(tokens) * tokens);
}

void moeExpertCounts(const KernelCall &c) {
  int64_t n = c.outputs[0].elements;
  Values counts(n, 0.0);
  for (int64_t e : ids(c.inputs[0], 0, n, "expert"))
    counts[e] += 1.0;
  store(c.outputs[0], counts);
}

void moeAuxLoss(const KernelCall &c) {
  Values probs, g;
  balance(c, probs, g);
  int64_t n = static_cast<int64_t>(g.size());
  double loss = 0;
  for (size_t i = 0; i < probs.size(); ++i)
    loss += g[i % n] * probs[i];
  store(c.outputs[0], {loss});
  if (c.loss)
    *c.loss += loss;
}

void moeAuxLossGrad(const KernelCall &c) {
  Values probs, g;
  balance(c, probs, g);
  int64_t n = static_cast<int64_t>(g.size());
  int64_t tokens = static_cast<int64_t>(probs.size()) / n;
  Values grad(probs.size());
  // d/dl_f Σ_e g_e p_e = p_f (g_f - Σ_e g_e p_e).
  for (int64_t t = 0; t < tokens; ++t) {
    double mean = 0;
    for (int64_t e = 0; e < n; ++e)
      mean += g[e] * probs[t * n + e];
    for (int64_t f = 0; f < n; ++f)
      grad[t * n + f] = probs[t * n + f] * (g[f] - mean);
  }
  store(c.outputs[0], grad);
}

void moeDispatch(const KernelCall &c) {
  Values x = load(c.inputs[0]);
  int64_t h = dims(c.outputs[0]).back(), rows = c.outputs[0].elements / h;
  std::vector<int64_t> slots = slotsOf(c.inputs[1], rows);
  int64_t k = dims(c.inputs[1])[2];
  Values y(rows * h, 0.0);
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i] >= 0)
      for (int64_t u = 0; u < h; ++u)
        y[slots[i] * h + u] = x[(i / k) * h + u];
  store(c.outputs[0], y);
}

void moeDispatchGrad(const KernelCall &c) {
  Values dy = load(c.inputs[1]);
  int64_t h = dims(c.inputs[1]).back(), rows = c.inputs[1].elements / h;
  std::vector<int64_t> slots = slotsOf(c.inputs[0], rows);
  int64_t k = dims(c.inputs[0])[2];
  Values dx(c.outputs[0].elements, 0.0);
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i] >= 0)
      for (int64_t u = 0; u < h; ++u)
        dx[(i / k) * h + u] += dy[slots[i] * h + u];
  store(c.outputs[0], dx);
}

void moeCombine(const KernelCall &c) {
  Values out = load(c.inputs[0]), w = load(c.inputs[1]);
  int64_t h = dims(c.inputs[0]).back(), rows = c.inputs[0].elements / h;
  std::vector<int64_t> slots = slotsOf(c.inputs[2], rows);
  int64_t k = dims(c.inputs[1])[2];
  Values y(c.outputs[0].elements, 0.0);
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i] >= 0)
      for (int64_t u = 0; u < h; ++u)
        y[(i / k) * h + u] += w[i] * out[slots[i] * h + u];
  store(c.outputs[0], y);
}

void moeCombineGrad(const KernelCall &c) {
  Values out = load(c.inputs[0]), w = load(c.inputs[1]), dy = load(c.inputs[3]);
  int64_t h = dims(c.inputs[0]).back(), rows = c.inputs[0].elements / h;
  std::vector<int64_t> slots = slotsOf(c.inputs[2], rows);
  int64_t k = dims(c.inputs[1])[2];
  Values dout(out.size(), 0.0), dw(w.size(), 0.0);
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i] >= 0)
      for (int64_t u = 0; u < h; ++u) {
        dout[slots[i] * h + u] += w[i] * dy[(i / k) * h + u];
        dw[i] += dy[(i / k) * h + u] * out[slots[i] * h + u];
      }
  store(c.outputs[0], dout);
  store(c.outputs[1], dw);
}

/// The expert of each row of a buffer: row r of [E, C, n] is expert r / C;
/// a grouped [s·b·k, n] holds the choices sorted by expert, so its row r is
/// the r-th smallest entry of the routing map (operand 2).
std::vector<int64_t> rowExperts(const KernelCall &c, int64_t numExperts) {
  const auto &buffer = dims(c.inputs[0]);
  if (c.inputs.size() < 3) {
    std::vector<int64_t> experts(buffer[0] * buffer[1]);
    for (size_t r = 0; r < experts.size(); ++r)
      experts[r] = static_cast<int64_t>(r) / buffer[1];
    return experts;
  }
  std::vector<int64_t> experts = ids(c.inputs[2], 0, numExperts, "expert");
  std::sort(experts.begin(), experts.end());
  return experts;
}

/// Calls f(r, o, i, e) for every row r of the buffer (operand 0), output
/// column o and input column i of expert e = e(r)'s [out, in] matrix.
template <typename F>
void forEachExpertProduct(const KernelCall &c, const std::vector<int64_t> &w,
                          F f) {
  std::vector<int64_t> experts = rowExperts(c, w[0]);
  for (size_t r = 0; r < experts.size(); ++r)
    for (int64_t o = 0; o < w[1]; ++o)
      for (int64_t i = 0; i < w[2]; ++i)
        f(static_cast<int64_t>(r), o, i, experts[r]);
}

/// y[r, o] = Σ_i x[r, i] · w[e(r), o, i] over the buffer's rows r, for the
/// forward and, with the roles exchanged, both gradients.
void expertLinear(const KernelCall &c) {
  Values x = load(c.inputs[0]), w = load(c.inputs[1]);
  const auto &wd = dims(c.inputs[1]);
  int64_t out = wd[1], in = wd[2];
  Values y(x.size() / in * out, 0.0);
  forEachExpertProduct(c, wd, [&](int64_t r, int64_t o, int64_t i, int64_t e) {
    y[r * out + o] += x[r * in + i] * w[(e * out + o) * in + i];
  });
  store(c.outputs[0], y);
}

void expertLinearGradInput(const KernelCall &c) {
  Values dy = load(c.inputs[0]), w = load(c.inputs[1]);
  const auto &wd = dims(c.inputs[1]);
  int64_t out = wd[1], in = wd[2];
  Values dx(dy.size() / out * in, 0.0);
  forEachExpertProduct(c, wd, [&](int64_t r, int64_t o, int64_t i, int64_t e) {
    dx[r * in + i] += dy[r * out + o] * w[(e * out + o) * in + i];
  });
  store(c.outputs[0], dx);
}

void expertLinearGradWeight(const KernelCall &c) {
  Values dy = load(c.inputs[0]), x = load(c.inputs[1]);
  const auto &wd = dims(c.outputs[0]);
  int64_t out = wd[1], in = wd[2];
  Values dw(wd[0] * out * in, 0.0);
  forEachExpertProduct(c, wd, [&](int64_t r, int64_t o, int64_t i, int64_t e) {
    dw[(e * out + o) * in + i] += dy[r * out + o] * x[r * in + i];
  });
  store(c.outputs[0], dw);
}

} // namespace

const std::map<std::string, Kernel, std::less<>> &
ckpt::rt::referenceMoeKernels() {
  static const std::map<std::string, Kernel, std::less<>> table = {
      {"moe_route", moeRoute},
      {"moe_route_grad", moeRouteGrad},
      {"moe_aux_loss", moeAuxLoss},
      {"moe_aux_loss_grad", moeAuxLossGrad},
      {"moe_expert_counts", moeExpertCounts},
      {"moe_dispatch", moeDispatch},
      {"moe_dispatch_grad", moeDispatchGrad},
      {"moe_combine", moeCombine},
      {"moe_combine_grad", moeCombineGrad},
      {"expert_linear", expertLinear},
      {"expert_linear_grad_input", expertLinearGradInput},
      {"expert_linear_grad_weight", expertLinearGradWeight},
  };
  return table;
}
