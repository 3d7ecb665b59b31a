//===- BudgetLayerModel.cpp - Each layer's choices for the budget solver --===//
//
// For one layer, every subset of the values its backward reads is a choice:
// what the regions that rebuild it run (the same rules as applyRematPlan:
// only needed ops, a dropout's mask alone), what it still keeps, and the
// peak of the layer's own bytes during its backward. The frontier keeps the
// choices no other beats on all three; layers with one structure share it.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Solver/BudgetPolicy.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <map>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr size_t kMaxCandidates = 24;

/// One layer (or chain) compiled to small arrays, for evaluating many
/// subsets: what a choice costs (the ops its regions re-run), what it keeps,
/// and the peak of the layer's own bytes during its backward (kept values,
/// the backward's temporaries and the regions' values, with the planner's
/// liveness: a tensor lives from the step that writes it to the last step
/// that reads it, sizes rounded to the alignment).
class LayerEvaluator {
public:
  LayerEvaluator(const StepGraph &graph, const LayerModel &model,
                 int64_t alignment, const RecomputeCost &cost)
      : distributed(model.distribute > 1) {
    int64_t t = model.distribute;
    auto inSpan = [&](std::optional<int64_t> layer) {
      return layer && *layer >= model.layer &&
             *layer < model.layer + model.span;
    };
    llvm::DenseSet<Value> replicated;
    if (t > 1)
      replicated = replicatedValues(graph.step);
    auto shardOf = [&](int id) {
      const StepTensor &tensor = graph.tensors[id];
      return t > 1 && isDistributable(tensor.value, t, replicated)
                 ? ops::alignedBytes(tensor.bytes / t, alignment)
                 : 0;
    };
    llvm::DenseMap<int, int> localOf; // Tensor id -> local value.
    std::vector<int> runOf(graph.nodes.size(), -1);
    for (auto [run, nodes] : llvm::enumerate(model.runs))
      for (int node : nodes)
        runOf[node] = static_cast<int>(run);
    for (int node : model.nodes)
      for (int id : graph.nodes[node].outputs) {
        localOf[id] = static_cast<int>(values.size());
        values.push_back({ops::alignedBytes(graph.tensors[id].bytes, alignment),
                          shardOf(id), -1, runOf[node]});
      }
    // The layer's backward, in schedule order.
    llvm::DenseMap<int, int> positionOf;
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Backward && inSpan(node.layer)) {
        positionOf[static_cast<int>(index)] = steps;
        ++steps;
      }
    // Where the backward reads a tensor: first and last position, `steps`
    // when it is read after the layer's backward (or not in it).
    auto span = [&](const StepTensor &tensor) {
      int first = steps, last = -1;
      for (int reader : tensor.readers) {
        if (graph.nodes[reader].phase == Phase::Forward)
          continue;
        auto it = positionOf.find(reader);
        int position = it == positionOf.end() ? steps : it->second;
        first = std::min(first, position);
        last = std::max(last, position);
      }
      return std::make_pair(first, last < 0 ? steps : last);
    };
    for (auto [bit, id] : llvm::enumerate(model.candidates)) {
      LocalValue &value = values[localOf.lookup(id)];
      value.bit = static_cast<int>(bit);
      std::tie(value.firstRead, value.lastRead) = span(graph.tensors[id]);
      allKept += value.bytes;
    }
    // The layer's output stays kept in every choice.
    for (int node : model.nodes)
      for (int id : graph.nodes[node].outputs)
        if (graph.tensors[id].kept && values[localOf.lookup(id)].bit < 0)
          allKept += ops::alignedBytes(graph.tensors[id].bytes, alignment);
    llvm::DenseSet<int> returned(graph.results.begin(), graph.results.end());
    for (auto [node, position] : positionOf)
      for (int id : graph.nodes[node].outputs) {
        if (returned.contains(id))
          continue; // Gradients of parameters live outside the arena.
        const StepTensor &tensor = graph.tensors[id];
        int end = tensor.readers.empty() ? position : span(tensor).second;
        temporaries.push_back({position, std::max(end, position),
                               ops::alignedBytes(tensor.bytes, alignment)});
      }
    llvm::DenseMap<int, int> outsideOf; // Tensor id -> outside value.
    for (auto [run, nodes] : llvm::enumerate(model.runs)) {
      for (int node : nodes) {
        const StepNode &n = graph.nodes[node];
        Op op;
        op.cost = cost.of(graph, node);
        if (op.cost < 0 && missing.empty())
          missing = RecomputeCost::keyOf(graph, node);
        for (int id : n.outputs)
          op.results.push_back(localOf.lookup(id));
        for (int id : n.inputs) {
          auto it = localOf.find(id);
          if (it != localOf.end()) {
            op.operands.push_back(it->second);
            continue;
          }
          // Made outside the layer: kept, or another layer's.
          auto [outside, inserted] =
              outsideOf.try_emplace(id, static_cast<int>(outsideBytes.size()));
          if (inserted)
            outsideBytes.push_back(
                {ops::alignedBytes(graph.tensors[id].bytes, alignment),
                 shardOf(id)});
          op.outside.push_back(outside->second);
        }
        if (const ops::OpDef *def = lookupOpDef(n.op);
            def && def->maskOutput >= 0) {
          op.maskOutput = def->maskOutput;
          op.maskCost = cost.maskOnly(graph, node);
        }
        op.run = static_cast<int>(run);
        ops.push_back(std::move(op));
      }
    }
    runs = model.runs.size();
    readersOf.resize(values.size());
    for (auto [index, op] : llvm::enumerate(ops))
      for (int operand : op.operands)
        if (!llvm::is_contained(readersOf[operand], static_cast<int>(index)))
          readersOf[operand].push_back(static_cast<int>(index));
    needed.resize(values.size());
    forced.resize(values.size());
    gone.resize(model.candidates.size());
    shardedBy.resize(values.size());
    outsideSharded.resize(outsideBytes.size());
    rerun.resize(ops.size());
  }

  /// The choice that discards the candidates of `discard`, or all of them.
  LayerChoice evaluate(uint64_t discard, bool all = false) {
    for (size_t bit = 0; bit < gone.size(); ++bit)
      gone[bit] = all || (bit < 64 && (discard >> bit & 1));
    std::fill(needed.begin(), needed.end(), 0);
    std::fill(forced.begin(), forced.end(), 0);
    std::fill(rerun.begin(), rerun.end(), 0);
    std::fill(shardedBy.begin(), shardedBy.end(), -1);
    std::fill(outsideSharded.begin(), outsideSharded.end(), 0);
    before.clear();
    LayerChoice choice;
    choice.discard = all ? ~uint64_t(0) : discard;
    choice.keptBytes = allKept;
    // Where each run's region goes: before the first backward reader of
    // what it discards.
    regionStart.assign(runs, steps + 1);
    for (size_t local = 0; local < values.size(); ++local)
      if (discarded(static_cast<int>(local))) {
        const LocalValue &v = values[local];
        needed[local] = 1;
        choice.keptBytes -= v.bytes;
        regionStart[v.run] = std::min(regionStart[v.run], v.firstRead);
      }
    // Each run's region walks back from what it discards.
    for (size_t index = ops.size(); index-- > 0;) {
      const Op &op = ops[index];
      if (llvm::none_of(op.results, [&](int r) { return needed[r]; }))
        continue;
      if (op.maskOutput >= 0 &&
          llvm::none_of(llvm::enumerate(op.results), [&](auto result) {
            return static_cast<int>(result.index()) != op.maskOutput &&
                   needed[result.value()];
          })) {
        choice.cost += op.maskCost;
        rerun[index] = 2; // The mask alone.
        continue;
      }
      choice.cost += op.cost;
      rerun[index] = 1;
      // Distributed: what the region starts from is kept as a shard.
      for (int outside : op.outside) {
        const Bytes &v = outsideBytes[outside];
        if (distributed && v.shard > 0 && !outsideSharded[outside]) {
          outsideSharded[outside] = 1;
          choice.keptBytes -= v.whole - v.shard;
        }
      }
      for (int operand : op.operands) {
        const LocalValue &v = values[operand];
        bool kept = v.bit >= 0 && !discarded(operand);
        if (v.run == op.run) {
          // A kept value is read, not rebuilt; distributed, it becomes a
          // shard, which the backward reads back whole from the region if
          // it reads it nowhere before (else the region rebuilds it).
          bool shard = distributed && v.shard > 0;
          if (!kept || (shard && v.firstRead < regionStart[op.run]))
            needed[operand] = 1;
          else if (shard && shardedBy[operand] < 0) {
            choice.keptBytes += v.shard - v.bytes;
            shardedBy[operand] = op.run;
          }
          continue;
        }
        bool rebuilt = v.bit >= 0 && !kept;
        if (distributed && v.shard > 0 && !rebuilt) {
          // Another run's value: this region starts from its shard.
          if (shardedBy[operand] < 0) {
            choice.keptBytes += kept ? v.shard - v.bytes : v.shard;
            if (!kept)
              forced[operand] = 1;
            shardedBy[operand] = op.run;
          }
          continue;
        }
        if (kept)
          continue;
        if (v.bit >= 0)
          // Another run's region rebuilds it: that region comes first.
          before.emplace_back(op.run, v.run);
        else if (!forced[operand]) {
          // Another run's temporary: the region reads it from the
          // forward, which keeps it.
          forced[operand] = 1;
          choice.keptBytes += v.bytes;
        }
      }
    }
    choice.internalPeak = backwardPeak();
    return choice;
  }

private:
  struct LocalValue {
    int64_t bytes;
    int64_t shard; ///< Its bytes on one rank when distributed, or 0.
    int bit;       ///< Candidate bit, or -1.
    int run;
    int firstRead = 0, lastRead = 0; ///< Backward positions (candidates).
  };
  struct Bytes {
    int64_t whole, shard;
  };
  struct Op {
    int64_t cost = 0, maskCost = 0;
    /// The result that is a mask the op can regenerate alone, or -1.
    int maskOutput = -1;
    int run = 0;
    SmallVector<int> results, operands; ///< Local values.
    SmallVector<int> outside;           ///< Operands made outside.
  };
  struct Interval {
    int start, end; ///< Backward positions, inclusive.
    int64_t bytes;
  };

  bool discarded(int local) const {
    int bit = values[local].bit;
    return bit >= 0 && gone[bit];
  }

  /// The peak of the layer's own bytes over its backward with the regions
  /// of the choice in place (evaluate() has marked the ops they re-run).
  int64_t backwardPeak() {
    // Steps: before backward position p, the regions placed there (each
    // before the first reader of what it discards), then the node at p.
    // The buffers are members, reused: this runs for every subset.
    regionAt.assign(runs, -1);
    for (size_t local = 0; local < values.size(); ++local) {
      const LocalValue &v = values[local];
      if (discarded(static_cast<int>(local)))
        regionAt[v.run] = regionAt[v.run] < 0
                              ? v.firstRead
                              : std::min(regionAt[v.run], v.firstRead);
    }
    // A region that reads what another rebuilds moves that one before it
    // (applyRematPlan's readRebuiltValues).
    for (bool changed = true; changed;) {
      changed = false;
      for (auto [reader, producer] : before)
        if (regionAt[reader] >= 0 && regionAt[reader] < regionAt[producer]) {
          regionAt[producer] = regionAt[reader];
          changed = true;
        }
    }
    stepOfPosition.assign(steps + 1, 0);
    stepOfOp.assign(ops.size(), -1);
    stepOfRegion.assign(runs, -1);
    int step = 0;
    for (int position = 0; position <= steps; ++position) {
      for (size_t run = 0; run < runs; ++run)
        if (regionAt[run] == position) {
          stepOfRegion[run] = step;
          for (size_t index = 0; index < ops.size(); ++index)
            if (rerun[index] && ops[index].run == static_cast<int>(run))
              stepOfOp[index] = step++;
        }
      stepOfPosition[position] = step++;
    }
    live.assign(step + 1, 0);
    auto add = [&](int from, int to, int64_t bytes) {
      live[from] += bytes;
      live[std::max(from, to) + 1] -= bytes;
    };
    for (size_t local = 0; local < values.size(); ++local) {
      const LocalValue &v = values[local];
      int reader = shardedBy[local];
      if (reader >= 0 && stepOfRegion[reader] >= 0) {
        // A shard until the region gathers it; the backward then reads the
        // whole value the region returns.
        int gather = stepOfRegion[reader];
        add(0, gather, v.shard);
        if (!discarded(static_cast<int>(local)) && v.bit >= 0)
          add(gather, stepOfPosition[v.lastRead], v.bytes);
      } else if (v.bit >= 0 && !discarded(static_cast<int>(local))) {
        add(0, stepOfPosition[v.lastRead], v.bytes);
      }
    }
    for (const Interval &t : temporaries)
      add(stepOfPosition[t.start], stepOfPosition[t.end], t.bytes);
    // A region's value lives to its last reader: a later op of the region,
    // or the backward for what the region yields.
    for (size_t index = 0; index < ops.size(); ++index) {
      if (!rerun[index])
        continue;
      const Op &op = ops[index];
      for (auto [slot, result] : llvm::enumerate(op.results)) {
        if (rerun[index] == 2 && static_cast<int>(slot) != op.maskOutput)
          continue; // The mask alone: no other value.
        const LocalValue &v = values[result];
        int end = stepOfOp[index];
        if (discarded(result))
          end = stepOfPosition[v.lastRead];
        bool keptCopy = v.bit >= 0 && !discarded(result) && !needed[result];
        if (!keptCopy)
          for (int reader : readersOf[result])
            if (rerun[reader] == 1)
              end = std::max(end, stepOfOp[reader]);
        add(stepOfOp[index], end, v.bytes);
      }
    }
    int64_t running = 0, peak = 0;
    int windowStart = windowPosition >= 0 ? stepOfPosition[windowPosition] : 0;
    peakBefore = peakFrom = 0;
    for (int t = 0; t < step; ++t) {
      running += live[t];
      peak = std::max(peak, running);
      int64_t &window = t < windowStart ? peakBefore : peakFrom;
      window = std::max(window, running);
    }
    return peak;
  }

  bool distributed;
  std::vector<LocalValue> values;
  std::vector<Bytes> outsideBytes;
  std::vector<Op> ops;
  std::vector<Interval> temporaries;
  std::vector<SmallVector<int>> readersOf; ///< Ops of the layer reading it.
  size_t runs = 0;
  int steps = 0; ///< Backward nodes of the layer.
  std::vector<char> needed, forced, rerun, gone, outsideSharded;
  /// The run whose region reads a value's shard, or -1 (distributed).
  std::vector<int> shardedBy;
  std::vector<int> regionStart; ///< Per run, as evaluate() places it.
  /// (run, earlier run): the first's region reads what the second rebuilds.
  std::vector<std::pair<int, int>> before;
  std::vector<int64_t> live;
  /// backwardPeak()'s schedule: each run's region position, and the step
  /// of each backward position, op and region.
  std::vector<int> regionAt, stepOfPosition, stepOfOp, stepOfRegion;
  int64_t allKept = 0;

public:
  /// The key of an op the profile has no time for, or "".
  std::string missing;

  /// Where the layer's candidates split into two halves that its backward
  /// reads apart: the first candidate of the second half, whose runs the
  /// backward reads wholly before any candidate of the first (an MLP's
  /// values before its attention's); the split nearest the middle, or -1.
  int readApartSplit() const {
    int n = static_cast<int>(gone.size()), best = -1;
    std::vector<int> firstOf(n), lastOf(n), runOf(n);
    for (const LocalValue &v : values)
      if (v.bit >= 0) {
        firstOf[v.bit] = v.firstRead;
        lastOf[v.bit] = v.lastRead;
        runOf[v.bit] = v.run;
      }
    for (int split = 1; split < n; ++split) {
      if (runOf[split - 1] == runOf[split])
        continue; // A run's values stay together: one region rebuilds them.
      int firstOfFirst =
          *std::min_element(firstOf.begin(), firstOf.begin() + split);
      int lastOfSecond =
          *std::max_element(lastOf.begin() + split, lastOf.end());
      if (lastOfSecond < firstOfFirst &&
          (best < 0 || std::abs(n - 2 * split) < std::abs(n - 2 * best)))
        best = split;
    }
    return best;
  }

  /// The first half's candidates that an op of the second half may re-run
  /// reading (a norm reading the residual sum): when the first half
  /// discards one and a region of the second reads it, the first half's
  /// region moves into the second half's window.
  uint64_t crossReads(int split) const {
    int splitRun = runOfBit(split);
    uint64_t bits = 0;
    for (const Op &op : ops) {
      if (op.run < splitRun || !mayRerun(op))
        continue;
      for (int operand : op.operands)
        if (values[operand].bit >= 0 && values[operand].bit < split)
          bits |= uint64_t(1) << values[operand].bit;
    }
    return bits;
  }

  /// Of `bits`, those an op of the second half read in the last evaluate().
  uint64_t readByRegions(uint64_t bits, int split) const {
    int splitRun = runOfBit(split);
    uint64_t read = 0;
    for (size_t index = 0; index < ops.size(); ++index) {
      if (rerun[index] != 1 || ops[index].run < splitRun)
        continue;
      for (int operand : ops[index].operands)
        if (values[operand].bit >= 0 && (bits >> values[operand].bit & 1))
          read |= uint64_t(1) << values[operand].bit;
    }
    return read;
  }

  /// Peaks of the last evaluate() before and from the backward position of
  /// the first half's first read (setWindow), or 0 without one.
  void setWindow(int split) {
    windowPosition = steps;
    for (const LocalValue &v : values)
      if (v.bit >= 0 && v.bit < split)
        windowPosition = std::min(windowPosition, v.firstRead);
  }
  int64_t peakBefore = 0, peakFrom = 0;

private:
  int runOfBit(int bit) const {
    for (const LocalValue &v : values)
      if (v.bit == bit)
        return v.run;
    return -1;
  }
  /// An op re-runs when a result is needed: a candidate, or a value an op
  /// of its run reads (the layer's output is neither).
  bool mayRerun(const Op &op) const {
    return llvm::any_of(op.results, [&](int result) {
      return values[result].bit >= 0 ||
             llvm::any_of(readersOf[result], [&](int reader) {
               return ops[reader].run == op.run;
             });
    });
  }

  int windowPosition = -1;
};

/// A layer's structure: ops, modules, attributes, shapes and edges, with
/// tensors named by their position in the layer (outside values by their
/// type), so that the repeated layers of a model share one enumeration.
std::string layerSignature(const StepGraph &graph, const LayerModel &model) {
  llvm::DenseMap<int, int> localOf;
  std::string text;
  llvm::raw_string_ostream os(text);
  for (int node : model.nodes) {
    const StepNode &n = graph.nodes[node];
    os << n.op->getName() << "/" << n.module << "(";
    for (int id : n.inputs) {
      auto it = localOf.find(id);
      if (it != localOf.end())
        os << it->second << ",";
      else
        os << "x" << graph.tensors[id].value.getType() << ",";
    }
    // Which layer an op belongs to and which random stream a dropout draws
    // from differ between repeated layers without changing what a choice
    // keeps or costs.
    os << ")";
    for (NamedAttribute attr : n.op->getAttrs())
      if (attr.getName() != xf::XFDialect::kLayerAttrName &&
          attr.getName() != "rng_stream")
        os << attr.getName().getValue() << "=" << attr.getValue() << ",";
    os << ";";
    for (int id : n.outputs) {
      localOf[id] = static_cast<int>(localOf.size());
      os << graph.tensors[id].value.getType()
         << (graph.tensors[id].kept ? "k" : "") << ";";
    }
  }
  return text;
}

/// Layers with more candidates than this are enumerated as two halves
/// where their backward reads the halves apart: 2^a + 2^b subsets and the
/// pairs of the halves' frontiers instead of 2^(a+b).
constexpr size_t kEnumeratedWhole = 16;

/// Calls `visit(choice)` for every subset of `bits`, in increasing order,
/// with `fixed` discarded too, that the annotations allow (what must be
/// recomputed is discarded, what must be saved is kept), after evaluating
/// it (the evaluator's window peaks are then the choice's).
template <typename Visit>
void forEachSubset(LayerEvaluator &evaluator, const LayerModel &model,
                   uint64_t bits, uint64_t fixed, Visit visit) {
  for (uint64_t subset = 0;; subset = (subset - bits) & bits) {
    uint64_t discard = subset | fixed;
    if ((discard & model.mustDiscard) == model.mustDiscard &&
        !(discard & model.mustKeep))
      visit(evaluator.evaluate(discard));
    if (subset == bits)
      break;
  }
}

/// Every choice of the layer, evaluated.
std::vector<LayerChoice> everyChoice(LayerEvaluator &evaluator,
                                     const LayerModel &model) {
  std::vector<LayerChoice> all;
  all.reserve(size_t(1) << model.candidates.size());
  forEachSubset(evaluator, model, (uint64_t(1) << model.candidates.size()) - 1,
                0, [&](const LayerChoice &choice) { all.push_back(choice); });
  return all;
}

/// The choices that no other beats on kept bytes, backward peak and cost
/// at once, cheapest first.
std::vector<LayerChoice> frontierOf(std::vector<LayerChoice> all) {
  std::sort(all.begin(), all.end(),
            [](const LayerChoice &a, const LayerChoice &b) {
              return std::tie(a.cost, a.keptBytes, a.internalPeak, a.discard) <
                     std::tie(b.cost, b.keptBytes, b.internalPeak, b.discard);
            });
  std::vector<LayerChoice> frontier;
  for (const LayerChoice &choice : all)
    if (llvm::none_of(frontier, [&](const LayerChoice &better) {
          return better.keptBytes <= choice.keptBytes &&
                 better.internalPeak <= choice.internalPeak;
        }))
      frontier.push_back(choice);
  return frontier;
}

/// The choices of a layer that no other beats on kept bytes, backward peak
/// and cost at once, cheapest first.
std::vector<LayerChoice> layerFrontier(const StepGraph &graph,
                                       LayerModel &model, int64_t alignment,
                                       const RecomputeCost &cost,
                                       std::string &missing) {
  LayerEvaluator evaluator(graph, model, alignment, cost);
  missing = evaluator.missing;
  if (!missing.empty())
    return {};
  int split = model.candidates.size() > kEnumeratedWhole
                  ? evaluator.readApartSplit()
                  : -1;
  if (split < 0)
    return frontierOf(everyChoice(evaluator, model));
  // The halves apart. The backward reads the second half (the MLP) before
  // the first (attention), so a choice of one weighs on the other's window
  // through its kept bytes only, except where an op of the second half
  // that a region re-runs reads a value the first discards (an RMSNorm
  // reading the residual sum): that region of the first half then runs in
  // the second's window. So the halves are enumerated apart for each choice
  // `c` of those shared values and each set `p` of them the second's
  // regions read: the second half's choices that no other beats on kept
  // bytes, cost and the peak in its window; the first half's that no other
  // beats on those and the peak in its own window (and in the second's,
  // with `p`), against the cheapest of the former; then every pair,
  // evaluated whole. BudgetPolicyTest holds the frontier equal, choice for
  // choice, to every subset's on the bundled mixture-of-experts layers.
  model.halvesAt = split;
  evaluator.setWindow(split);
  uint64_t all = (uint64_t(1) << model.candidates.size()) - 1;
  uint64_t firstHalf = (uint64_t(1) << split) - 1,
           secondHalf = all & ~firstHalf;
  uint64_t cross = evaluator.crossReads(split);
  uint64_t ownFirst = firstHalf & ~cross;
  std::vector<LayerChoice> pairs;
  // Conditioned on what the first half discards of the values the second
  // reads (`c`), and on which of those the second's regions read (`p`).
  for (uint64_t c = 0;; c = (c - cross) & cross) {
    if (!(c & model.mustKeep) &&
        (c & model.mustDiscard & cross) == (model.mustDiscard & cross)) {
      // The second half's choices, with the first's least and `c`.
      std::map<uint64_t, std::vector<LayerChoice>> secondByReads;
      forEachSubset(
          evaluator, model, secondHalf, c | (model.mustDiscard & ownFirst),
          [&](LayerChoice choice) {
            choice.internalPeak = evaluator.peakBefore;
            secondByReads[evaluator.readByRegions(c, split)].push_back(choice);
          });
      for (auto &[reads, choices] : secondByReads) {
        std::vector<LayerChoice> second = frontierOf(std::move(choices));
        // The first half's choices against the cheapest of these, judged
        // on both windows when regions of the second read what it rebuilds.
        uint64_t context = second.front().discard & secondHalf;
        std::vector<LayerChoice> firstChoices;
        std::vector<int64_t> before;
        forEachSubset(evaluator, model, ownFirst, c | context,
                      [&](LayerChoice choice) {
                        choice.internalPeak = evaluator.peakFrom;
                        firstChoices.push_back(choice);
                        before.push_back(reads ? evaluator.peakBefore : 0);
                      });
        std::vector<int> order(firstChoices.size());
        for (size_t i = 0; i < order.size(); ++i)
          order[i] = static_cast<int>(i);
        std::sort(order.begin(), order.end(), [&](int x, int y) {
          const LayerChoice &a = firstChoices[x], &b = firstChoices[y];
          return std::tie(a.cost, a.keptBytes, a.internalPeak, before[x],
                          a.discard) < std::tie(b.cost, b.keptBytes,
                                                b.internalPeak, before[y],
                                                b.discard);
        });
        std::vector<int> first;
        for (int i : order)
          if (llvm::none_of(first, [&](int j) {
                return firstChoices[j].keptBytes <= firstChoices[i].keptBytes &&
                       firstChoices[j].internalPeak <=
                           firstChoices[i].internalPeak &&
                       before[j] <= before[i];
              }))
            first.push_back(i);
        for (int i : first)
          for (const LayerChoice &b : second)
            pairs.push_back(
                evaluator.evaluate((firstChoices[i].discard & firstHalf) |
                                   (b.discard & secondHalf)));
      }
    }
    if (c == cross)
      break;
  }
  return frontierOf(std::move(pairs));
}

} // namespace

FailureOr<std::vector<LayerModel>>
ckpt::buildLayerModels(const StepGraph &graph, std::string &error,
                       int64_t alignment, const RecomputeCost &cost,
                       int64_t distribute) {
  std::map<int64_t, LayerModel> byLayer;
  for (auto [index, node] : llvm::enumerate(graph.nodes))
    if (node.phase == Phase::Forward && node.region < 0 && node.layer) {
      LayerModel &model = byLayer[*node.layer];
      model.layer = *node.layer;
      model.distribute = distribute;
      model.nodes.push_back(static_cast<int>(index));
    }
  std::vector<LayerModel> models;
  std::map<std::string, size_t> seen; // Signature -> model with its frontier.
  for (auto &[layer, model] : byLayer) {
    int norms = 0;
    for (int node : model.nodes) {
      const StepNode &n = graph.nodes[node];
      // The layer's output stays kept: it bounds every region to its layer
      // (docs/policies.md).
      RematAnnotation annotation = getRematAnnotation(n.op);
      if (annotation == RematAnnotation::Recompute)
        for (int id : n.outputs)
          if (graph.tensors[id].kept &&
              llvm::any_of(graph.tensors[id].readers, [&](int reader) {
                const StepNode &r = graph.nodes[reader];
                return r.phase == Phase::Forward && r.layer != n.layer;
              })) {
            error = "memory-budget: '" + n.op->getName().getStringRef().str() +
                    "' of layer " + std::to_string(layer) + " (" +
                    n.module.str() +
                    ") is annotated ckpt.remat = \"recompute\", but it is "
                    "the layer's output, which the solver keeps (it bounds "
                    "every recompute region to its layer); drop the "
                    "annotation, or use a recompute preset";
            return failure();
          }
      for (int id : n.outputs)
        if (graph.tensors[id].kept &&
            llvm::none_of(graph.tensors[id].readers, [&](int reader) {
              const StepNode &r = graph.nodes[reader];
              return r.phase == Phase::Forward && r.layer != n.layer;
            })) {
          uint64_t bit = uint64_t(1) << model.candidates.size();
          if (annotation == RematAnnotation::Recompute)
            model.mustDiscard |= bit;
          else if (annotation == RematAnnotation::Save)
            model.mustKeep |= bit;
          model.candidates.push_back(id);
        }
      if (model.runs.empty() ||
          graph.nodes[model.runs.back().back()].module != n.module) {
        model.runs.emplace_back();
        std::string label = "layer " + std::to_string(layer) + " ";
        if (n.module == "layernorm")
          label += ++norms == 1 ? "input_layernorm" : "pre_mlp_layernorm";
        else
          label += n.module.str();
        model.runLabels.push_back(label);
      }
      model.runs.back().push_back(node);
      if (model.candidates.size() > kMaxCandidates) {
        error = "memory-budget: layer " + std::to_string(layer) +
                " has more than " + std::to_string(kMaxCandidates) +
                " values the backward reads; the solver enumerates at most " +
                std::to_string(kMaxCandidates) + " per layer";
        return failure();
      }
    }
    std::string signature = layerSignature(graph, model);
    auto [it, inserted] = seen.try_emplace(signature, models.size());
    model.structure = static_cast<int>(it->second);
    if (inserted) {
      std::string missing;
      model.frontier = layerFrontier(graph, model, alignment, cost, missing);
      if (!missing.empty()) {
        error = "memory-budget: the profile '" + cost.source() +
                "' has no time for " + missing +
                " (profile a program of this model: ckpt-run PROGRAM "
                "--profile=FILE)";
        return failure();
      }
    } else {
      model.frontier = models[it->second].frontier;
      model.halvesAt = models[it->second].halvesAt;
    }
    models.push_back(std::move(model));
  }
  return models;
}

std::vector<LayerModel>
ckpt::buildChainModels(const StepGraph &graph,
                       const std::vector<LayerModel> &layers, int64_t maxSpan,
                       int64_t alignment, const RecomputeCost &cost) {
  std::vector<LayerModel> chains;
  // Chains of one structure sequence share their one choice.
  std::map<std::vector<int>, LayerChoice> seen;
  for (size_t first = 0; first < layers.size(); ++first) {
    if (layers[first].mustKeep)
      continue;
    std::vector<int> structures = {layers[first].structure};
    for (size_t last = first + 1;
         last < layers.size() && static_cast<int64_t>(last - first) < maxSpan;
         ++last) {
      const LayerModel &top = layers[last];
      // Consecutive layers only, none of whose ops must be kept.
      if (top.mustKeep || top.layer != layers[last - 1].layer + 1)
        break;
      structures.push_back(top.structure);
      LayerModel chain;
      chain.layer = layers[first].layer;
      chain.span = static_cast<int64_t>(last - first + 1);
      chain.distribute = layers[first].distribute;
      chain.structure = -1;
      for (size_t l = first; l <= last; ++l)
        chain.nodes.insert(chain.nodes.end(), layers[l].nodes.begin(),
                           layers[l].nodes.end());
      RecomputeGroup group = makeRecomputeGroup(
          graph, "", chain.layer, chain.nodes, /*discardOutputs=*/false);
      chain.candidates = group.discarded;
      chain.runs = {chain.nodes};
      chain.runLabels = {"layers " + std::to_string(chain.layer) + "-" +
                         std::to_string(top.layer)};
      auto [it, inserted] = seen.try_emplace(structures);
      if (inserted)
        it->second =
            LayerEvaluator(graph, chain, alignment, cost).evaluate(0, true);
      chain.frontier = {it->second};
      chains.push_back(std::move(chain));
    }
  }
  return chains;
}

std::vector<LayerChoice>
ckpt::frontierOfEverySubset(const StepGraph &graph, const LayerModel &model,
                            int64_t alignment, const RecomputeCost &cost) {
  LayerEvaluator evaluator(graph, model, alignment, cost);
  return frontierOf(everyChoice(evaluator, model));
}

LayerChoice ckpt::evaluateLayerChoice(const StepGraph &graph,
                                      const LayerModel &model, uint64_t discard,
                                      int64_t alignment,
                                      const RecomputeCost &cost) {
  return LayerEvaluator(graph, model, alignment, cost)
      .evaluate(discard, model.span > 1);
}

RematPlan ckpt::makeLayerPlan(const StepGraph &graph,
                              const std::vector<LayerPick> &picks) {
  RematPlan plan;
  for (const LayerPick &pick : picks) {
    const LayerModel &model = *pick.model;
    if (model.span > 1) {
      plan.groups.push_back(makeRecomputeGroup(graph, model.runLabels.front(),
                                               model.layer, model.nodes,
                                               /*discardOutputs=*/false));
      continue;
    }
    llvm::DenseMap<int, int> bitOf;
    for (auto [bit, id] : llvm::enumerate(model.candidates))
      bitOf[id] = static_cast<int>(bit);
    for (auto [run, label] : llvm::zip(model.runs, model.runLabels)) {
      RecomputeGroup group;
      group.label = label;
      group.layer = model.layer;
      group.nodes = run;
      for (int node : run)
        for (int id : graph.nodes[node].outputs) {
          auto it = bitOf.find(id);
          if (it != bitOf.end() && (pick.discard >> it->second & 1))
            group.discarded.push_back(id);
        }
      if (!group.discarded.empty())
        plan.groups.push_back(std::move(group));
    }
  }
  return plan;
}

RematPlan ckpt::makeLayerPlan(const StepGraph &graph,
                              const std::vector<LayerModel> &models,
                              const std::vector<uint64_t> &discards) {
  std::vector<LayerPick> picks;
  for (auto [model, discard] : llvm::zip(models, discards))
    picks.push_back({&model, discard});
  return makeLayerPlan(graph, picks);
}
