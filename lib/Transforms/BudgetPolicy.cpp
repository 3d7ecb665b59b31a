//===- BudgetPolicy.cpp - The cheapest recompute plan under a byte budget -===//
//
// Three steps. (1) Per layer, every subset of the values the backward reads
// is a choice; its cost is what the regions that rebuild it run (the same
// rules as applyRematPlan: only needed ops, a dropout's mask alone) and its
// memory the bytes it still keeps; the frontier keeps the choices that are
// best for their bytes. Layers with one structure share the work. (2) A
// dynamic program over the layer chain combines the frontiers into the
// step's frontier: for every total of kept bytes, the least total cost.
// (3) A search along that frontier plans each candidate with the memory
// planner (never a proxy) and returns the cheapest whose arena fits.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Transforms/BudgetPolicy.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr size_t kMaxCandidates = 24;

int64_t roundUp(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

/// One layer compiled to small arrays, for evaluating many subsets: what a
/// choice costs (the ops its regions re-run), what it keeps, and the peak of
/// the layer's own bytes during its backward (kept values, the backward's
/// temporaries and the regions' values, with the planner's liveness: a
/// tensor lives from the step that writes it to the last step that reads
/// it, sizes rounded to the alignment).
class LayerEvaluator {
public:
  LayerEvaluator(const StepGraph &graph, const LayerModel &model,
                 int64_t alignment, const RecomputeCost &cost) {
    llvm::DenseMap<int, int> localOf; // Tensor id -> local value.
    std::vector<int> runOf(graph.nodes.size(), -1);
    for (auto [run, nodes] : llvm::enumerate(model.runs))
      for (int node : nodes)
        runOf[node] = static_cast<int>(run);
    for (int node : model.nodes)
      for (int id : graph.nodes[node].outputs) {
        localOf[id] = static_cast<int>(values.size());
        values.push_back(
            {roundUp(graph.tensors[id].bytes, alignment), -1, runOf[node]});
      }
    // The layer's backward, in schedule order.
    llvm::DenseMap<int, int> positionOf;
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Backward && node.layer == model.layer) {
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
    llvm::DenseSet<int> returned(graph.results.begin(), graph.results.end());
    for (auto [node, position] : positionOf)
      for (int id : graph.nodes[node].outputs) {
        if (returned.contains(id))
          continue; // Gradients of parameters live outside the arena.
        const StepTensor &tensor = graph.tensors[id];
        int end = tensor.readers.empty() ? position : span(tensor).second;
        temporaries.push_back({position, std::max(end, position),
                               roundUp(tensor.bytes, alignment)});
      }
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
          op.operands.push_back(it == localOf.end() ? -1 : it->second);
        }
        if (isa<xf::DropoutOp>(n.op)) {
          op.dropout = true;
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
        if (operand >= 0 &&
            !llvm::is_contained(readersOf[operand], static_cast<int>(index)))
          readersOf[operand].push_back(static_cast<int>(index));
    needed.resize(values.size());
    forced.resize(values.size());
    rerun.resize(ops.size());
  }

  LayerChoice evaluate(uint64_t discard) {
    auto discarded = [&](int local) {
      int bit = values[local].bit;
      return bit >= 0 && (discard >> bit & 1);
    };
    std::fill(needed.begin(), needed.end(), 0);
    std::fill(forced.begin(), forced.end(), 0);
    std::fill(rerun.begin(), rerun.end(), 0);
    before.clear();
    LayerChoice choice;
    choice.discard = discard;
    choice.keptBytes = allKept;
    for (size_t local = 0; local < values.size(); ++local)
      if (discarded(static_cast<int>(local))) {
        needed[local] = 1;
        choice.keptBytes -= values[local].bytes;
      }
    // Each run's region walks back from what it discards.
    for (size_t index = ops.size(); index-- > 0;) {
      const Op &op = ops[index];
      if (llvm::none_of(op.results, [&](int r) { return needed[r]; }))
        continue;
      if (op.dropout && !needed[op.results[0]]) {
        choice.cost += op.maskCost;
        rerun[index] = 2; // The mask alone.
        continue;
      }
      choice.cost += op.cost;
      rerun[index] = 1;
      for (int operand : op.operands) {
        if (operand < 0)
          continue; // Made outside the layer: kept or another layer's.
        const LocalValue &v = values[operand];
        bool kept = v.bit >= 0 && !discarded(operand);
        if (kept)
          continue;
        if (v.run == op.run)
          needed[operand] = 1;
        else if (v.bit >= 0)
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
    choice.internalPeak = backwardPeak(discard);
    return choice;
  }

private:
  struct LocalValue {
    int64_t bytes;
    int bit; ///< Candidate bit, or -1.
    int run;
    int firstRead = 0, lastRead = 0; ///< Backward positions (candidates).
  };
  struct Op {
    int64_t cost = 0, maskCost = 0;
    bool dropout = false;
    int run = 0;
    SmallVector<int> results, operands;
  };
  struct Interval {
    int start, end; ///< Backward positions, inclusive.
    int64_t bytes;
  };

  /// The peak of the layer's own bytes over its backward with the regions
  /// of `discard` in place (evaluate() has marked the ops they re-run).
  int64_t backwardPeak(uint64_t discard) {
    // Steps: before backward position p, the regions placed there (each
    // before the first reader of what it discards), then the node at p.
    std::vector<int> regionAt(runs, -1);
    for (const LocalValue &v : values)
      if (v.bit >= 0 && (discard >> v.bit & 1))
        regionAt[v.run] = regionAt[v.run] < 0
                              ? v.firstRead
                              : std::min(regionAt[v.run], v.firstRead);
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
    std::vector<int> stepOfPosition(steps + 1);
    std::vector<int> stepOfOp(ops.size(), -1);
    int step = 0;
    for (int position = 0; position <= steps; ++position) {
      for (size_t run = 0; run < runs; ++run)
        if (regionAt[run] == position)
          for (size_t index = 0; index < ops.size(); ++index)
            if (rerun[index] && ops[index].run == static_cast<int>(run))
              stepOfOp[index] = step++;
      stepOfPosition[position] = step++;
    }
    live.assign(step + 1, 0);
    auto add = [&](int from, int to, int64_t bytes) {
      live[from] += bytes;
      live[to + 1] -= bytes;
    };
    for (const LocalValue &v : values)
      if (v.bit >= 0 && !(discard >> v.bit & 1))
        add(0, stepOfPosition[v.lastRead], v.bytes);
    for (const Interval &t : temporaries)
      add(stepOfPosition[t.start], stepOfPosition[t.end], t.bytes);
    // A region's value lives to its last reader: a later op of the region,
    // or the backward for what the region yields.
    for (size_t index = 0; index < ops.size(); ++index) {
      if (!rerun[index])
        continue;
      const Op &op = ops[index];
      for (auto [slot, result] : llvm::enumerate(op.results)) {
        if (rerun[index] == 2 && slot == 0)
          continue; // The mask alone: no value.
        const LocalValue &v = values[result];
        int end = stepOfOp[index];
        if (v.bit >= 0 && (discard >> v.bit & 1))
          end = stepOfPosition[v.lastRead];
        bool keptCopy = v.bit >= 0 && !(discard >> v.bit & 1);
        if (!keptCopy)
          for (int reader : readersOf[result])
            if (rerun[reader] == 1)
              end = std::max(end, stepOfOp[reader]);
        add(stepOfOp[index], end, v.bytes);
      }
    }
    int64_t running = 0, peak = 0;
    for (int t = 0; t < step; ++t)
      peak = std::max(peak, running += live[t]);
    return peak;
  }

  std::vector<LocalValue> values;
  std::vector<Op> ops;
  std::vector<Interval> temporaries;
  std::vector<SmallVector<int>> readersOf; ///< Ops of the layer reading it.
  size_t runs = 0;
  int steps = 0; ///< Backward nodes of the layer.
  std::vector<char> needed, forced, rerun;
  /// (run, earlier run): the first's region reads what the second rebuilds.
  std::vector<std::pair<int, int>> before;
  std::vector<int64_t> live;
  int64_t allKept = 0;

public:
  /// The key of an op the profile has no time for, or "".
  std::string missing;
};

/// A layer's structure: ops, modules, shapes and edges, with tensors named
/// by their position in the layer (outside values by the same name in
/// every layer when they are parameters of the same shape).
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
    os << ")" << n.op->getAttrDictionary() << ";";
    for (int id : n.outputs) {
      localOf[id] = static_cast<int>(localOf.size());
      os << graph.tensors[id].value.getType()
         << (graph.tensors[id].kept ? "k" : "") << ";";
    }
  }
  return text;
}

/// The choices of a layer that no other beats on kept bytes, backward peak
/// and cost at once, cheapest first.
std::vector<LayerChoice> layerFrontier(const StepGraph &graph,
                                       const LayerModel &model,
                                       int64_t alignment,
                                       const RecomputeCost &cost,
                                       std::string &missing) {
  LayerEvaluator evaluator(graph, model, alignment, cost);
  missing = evaluator.missing;
  if (!missing.empty())
    return {};
  std::vector<LayerChoice> all;
  uint64_t subsets = uint64_t(1) << model.candidates.size();
  all.reserve(subsets);
  // Annotations bind: what must be recomputed is discarded, what must be
  // saved is kept.
  for (uint64_t discard = 0; discard < subsets; ++discard)
    if ((discard & model.mustDiscard) == model.mustDiscard &&
        !(discard & model.mustKeep))
      all.push_back(evaluator.evaluate(discard));
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

} // namespace

FailureOr<std::vector<LayerModel>>
ckpt::buildLayerModels(const StepGraph &graph, std::string &error,
                       int64_t alignment, const RecomputeCost &cost) {
  std::map<int64_t, LayerModel> byLayer;
  for (auto [index, node] : llvm::enumerate(graph.nodes))
    if (node.phase == Phase::Forward && node.region < 0 && node.layer) {
      LayerModel &model = byLayer[*node.layer];
      model.layer = *node.layer;
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
      llvm::StringRef annotation = getRematAnnotation(n.op);
      for (int id : n.outputs)
        if (graph.tensors[id].kept &&
            llvm::none_of(graph.tensors[id].readers, [&](int reader) {
              const StepNode &r = graph.nodes[reader];
              return r.phase == Phase::Forward && r.layer != n.layer;
            })) {
          uint64_t bit = uint64_t(1) << model.candidates.size();
          if (annotation == "recompute")
            model.mustDiscard |= bit;
          else if (annotation == "save")
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
    }
    if (model.candidates.size() > kMaxCandidates) {
      error = "memory-budget: layer " + std::to_string(layer) + " has " +
              std::to_string(model.candidates.size()) +
              " values the backward reads; the solver enumerates at most " +
              std::to_string(kMaxCandidates) + " per layer";
      return failure();
    }
    std::string signature = layerSignature(graph, model);
    auto [it, inserted] = seen.try_emplace(signature, models.size());
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
    } else
      model.frontier = models[it->second].frontier;
    models.push_back(std::move(model));
  }
  return models;
}

LayerChoice ckpt::evaluateLayerChoice(const StepGraph &graph,
                                      const LayerModel &model, uint64_t discard,
                                      int64_t alignment,
                                      const RecomputeCost &cost) {
  return LayerEvaluator(graph, model, alignment, cost).evaluate(discard);
}

std::string RecomputeCost::keyOf(const StepGraph &graph, int node) {
  const StepNode &n = graph.nodes[node];
  auto shapes = [&](llvm::ArrayRef<int> ids) {
    std::string text;
    for (auto [k, id] : llvm::enumerate(ids)) {
      if (k)
        text += ';';
      auto type = cast<RankedTensorType>(graph.tensors[id].value.getType());
      for (auto [d, size] : llvm::enumerate(type.getShape()))
        text += (d ? "x" : "") + std::to_string(size);
    }
    return text;
  };
  llvm::StringRef name = n.op->getName().stripDialect();
  return name.str() + "(" + shapes(n.inputs) + ")->(" + shapes(n.outputs) + ")";
}

std::optional<RecomputeCost> RecomputeCost::fromProfile(llvm::StringRef path,
                                                        std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "cannot read the profile '" + path.str() +
            "': " + buffer.getError().message();
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = "the profile '" + path.str() +
            "' is not JSON: " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Array *ops = root ? root->getArray("ops") : nullptr;
  if (!root || root->getString("schema") != "ckpt-profile" || !ops) {
    error = "'" + path.str() +
            "' is not a profile written by ckpt-run --profile=FILE "
            "(schema ckpt-profile with an \"ops\" list)";
    return std::nullopt;
  }
  auto times = std::make_shared<std::map<std::string, double>>();
  for (const llvm::json::Value &entry : *ops) {
    const llvm::json::Object *op = entry.getAsObject();
    std::optional<llvm::StringRef> key =
        op ? op->getString("key") : std::nullopt;
    std::optional<double> seconds =
        op ? op->getNumber("seconds") : std::nullopt;
    if (!key || !seconds || !std::isfinite(*seconds) || *seconds < 0) {
      error = "the profile '" + path.str() +
              "' has an entry without a key and a time of 0 seconds or more";
      return std::nullopt;
    }
    (*times)[key->str()] = *seconds;
  }
  RecomputeCost cost;
  cost.profile = std::move(times);
  cost.path = path.str();
  return cost;
}

int64_t RecomputeCost::of(const StepGraph &graph, int node) const {
  if (!profile)
    return graph.cost(node).total();
  auto nanoseconds = [](double seconds) {
    return static_cast<int64_t>(std::llround(seconds * 1e9));
  };
  std::string key = keyOf(graph, node);
  auto it = profile->find(key);
  if (it != profile->end())
    return nanoseconds(it->second);
  // A mask regenerated alone: half its dropout, when the profile has none.
  if (isa<xf::DropoutMaskOp>(graph.nodes[node].op)) {
    llvm::StringRef shape = llvm::StringRef(key).rsplit("->(").second;
    shape = shape.drop_back(); // The ")".
    auto dropout = profile->find("dropout(" + shape.str() + ")->(" +
                                 shape.str() + ";" + shape.str() + ")");
    if (dropout != profile->end())
      return nanoseconds(dropout->second) / 2;
  }
  return -1;
}

int64_t RecomputeCost::maskOnly(const StepGraph &graph, int node) const {
  auto dropout = cast<xf::DropoutOp>(graph.nodes[node].op);
  auto type = cast<RankedTensorType>(dropout.getMask().getType());
  ops::OpInstance instance;
  instance.outputs.push_back(
      {ops::Shape(type.getShape().begin(), type.getShape().end()),
       ops::ElementType::I1});
  int64_t flops = ops::costOf(*ops::lookupOp("dropout_mask"), instance).total();
  if (!profile)
    return flops;
  std::string shape;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    shape += (d ? "x" : "") + std::to_string(size);
  auto it = profile->find("dropout_mask()->(" + shape + ")");
  if (it != profile->end())
    return static_cast<int64_t>(std::llround(it->second * 1e9));
  int64_t whole = of(graph, node);
  return whole < 0 ? -1 : whole / 2;
}

RematPlan ckpt::makeLayerPlan(const StepGraph &graph,
                              const std::vector<LayerModel> &models,
                              const std::vector<uint64_t> &discards) {
  RematPlan plan;
  for (auto [model, discard] : llvm::zip(models, discards)) {
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
          if (it != bitOf.end() && (discard >> it->second & 1))
            group.discarded.push_back(id);
        }
      if (!group.discarded.empty())
        plan.groups.push_back(std::move(group));
    }
  }
  return plan;
}

FailureOr<int64_t>
ckpt::plannedArenaBytes(const StepGraph &graph, const RematPlan &plan,
                        const PlanOptions &options, int64_t *persistent,
                        int64_t *recomputeCost, const RecomputeCost &cost) {
  auto module = graph.step->getParentOfType<ModuleOp>();
  if (!module)
    return failure();
  OwningOpRef<ModuleOp> copy = module.clone();
  auto step = copy->lookupSymbol<func::FuncOp>(graph.step.getName());
  FailureOr<StepGraph> copyGraph = StepGraph::build(step);
  if (failed(copyGraph) || failed(applyRematPlan(*copyGraph, plan)))
    return failure();
  scheduleRecomputeRegions(step);
  FailureOr<StepGraph> planned = StepGraph::build(step);
  if (failed(planned))
    return failure();
  MemoryPlan memory = planMemory(*planned, options);
  if (persistent)
    *persistent = memory.trainingPersistentBytes;
  if (recomputeCost) {
    *recomputeCost = 0;
    for (auto [index, node] : llvm::enumerate(planned->nodes))
      if (node.phase == Phase::Recompute) {
        int64_t one = cost.of(*planned, static_cast<int>(index));
        if (one < 0)
          return failure();
        *recomputeCost += one;
      }
  }
  return memory.arenaBytes;
}

namespace {

/// The bytes of everything but the layers' own, from the plan that keeps
/// all (the planner's timeline): during layer l's backward the peak is
/// segment[l] + (kept bytes of layers below l) + the layer's backward peak;
/// outside the layers' backward it is head + (kept bytes of every layer).
struct Calibration {
  std::vector<int64_t> segment;
  int64_t head = 0;
};

Calibration calibrate(const StepGraph &graph,
                      const std::vector<LayerModel> &models,
                      const std::vector<LayerChoice> &keepAll,
                      const MemoryPlan &plan) {
  std::vector<int64_t> live(plan.steps);
  for (int64_t t = 0; t < plan.steps; ++t)
    live[t] = plan.liveKept[t] + plan.liveRecomputed[t] + plan.liveWorkspace[t];
  std::vector<char> inSegment(plan.steps, 0);
  Calibration calibration;
  int64_t below = 0;
  for (auto [model, kept] : llvm::zip(models, keepAll)) {
    int64_t peak = 0;
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Backward && node.layer == model.layer) {
        peak = std::max(peak, live[index]);
        inSegment[index] = 1;
      }
    calibration.segment.push_back(peak - below - kept.internalPeak);
    below += kept.keptBytes;
  }
  int64_t head = 0;
  for (int64_t t = 0; t < plan.steps; ++t)
    if (!inSegment[t])
      head = std::max(head, live[t]);
  calibration.head = head - below;
  return calibration;
}

/// The cheapest choice per layer whose estimated peak (Calibration) stays
/// within `cap`: dynamic programming over the layer chain on the kept bytes
/// of the layers so far, keeping for each total only the cheapest way.
std::optional<std::vector<uint64_t>>
cheapestWithin(const std::vector<LayerModel> &models,
               const Calibration &calibration, int64_t cap) {
  struct State {
    int64_t below, cost;
    int parent;
    uint32_t choice;
  };
  // States are bucketed by their kept bytes, 1/2048 of the cap wide, the
  // cheapest kept per bucket (which bounds the work on deep models; the
  // feasibility of every state is still checked exactly).
  int64_t width = std::max<int64_t>(1, cap / 2048);
  size_t buckets = static_cast<size_t>(cap / width) + 2;
  std::vector<State> table(buckets);
  std::vector<char> used(buckets);
  std::vector<std::vector<State>> levels;
  std::vector<State> current = {{0, 0, -1, 0}};
  for (auto [layer, model] : llvm::enumerate(models)) {
    std::fill(used.begin(), used.end(), 0);
    for (auto [index, state] : llvm::enumerate(current))
      for (auto [choice, point] : llvm::enumerate(model.frontier)) {
        int64_t below = state.below + point.keptBytes;
        // Kept bytes only grow: a state past the head's limit is dead.
        if (calibration.segment[layer] + state.below + point.internalPeak >
                cap ||
            calibration.head + below > cap || below < 0)
          continue;
        size_t bucket = static_cast<size_t>(below / width);
        State next{below, state.cost + point.cost, static_cast<int>(index),
                   static_cast<uint32_t>(choice)};
        State &slot = table[bucket];
        if (!used[bucket] ||
            std::tie(next.cost, next.below) < std::tie(slot.cost, slot.below)) {
          slot = next;
          used[bucket] = 1;
        }
      }
    // Only states no other beats on both kept bytes and cost.
    std::vector<State> pruned;
    for (size_t bucket = 0; bucket < buckets; ++bucket)
      if (used[bucket] &&
          (pruned.empty() || table[bucket].cost < pruned.back().cost))
        pruned.push_back(table[bucket]);
    if (pruned.empty())
      return std::nullopt;
    levels.push_back(std::move(current));
    current = std::move(pruned);
  }
  const State *best = nullptr;
  for (const State &state : current)
    if (calibration.head + state.below <= cap &&
        (!best || state.cost < best->cost))
      best = &state;
  if (!best)
    return std::nullopt;
  std::vector<uint64_t> discards(models.size());
  State state = *best;
  for (size_t level = models.size(); level-- > 0;) {
    discards[level] = models[level].frontier[state.choice].discard;
    if (state.parent >= 0)
      state = levels[level][state.parent];
  }
  return discards;
}

} // namespace

namespace {

/// A candidate plan as the pass would apply and plan it: its arena and the
/// recompute FLOPs its regions run.
struct Candidate {
  RematPlan plan;
  int64_t arena = INT64_MAX, cost = INT64_MAX;
  std::string what; ///< How an error or the frontier names it.
};

/// The solver's state for one step: the layers' frontiers, the estimate's
/// constants, and Megatron's presets as planned candidates. solve() runs
/// for one cap; the frontier runs it for many.
class BudgetSolver {
public:
  BudgetSolver(const StepGraph &graph, const PlanOptions &options,
               const RecomputeCost &cost)
      : graph(graph), options(options), cost(cost) {}

  LogicalResult init(std::string &error) {
    FailureOr<std::vector<LayerModel>> built =
        buildLayerModels(graph, error, options.alignment, cost);
    if (failed(built))
      return failure();
    models = std::move(*built);
    keepAllPlan = planMemory(graph, options);
    std::vector<LayerChoice> keepAll;
    for (const LayerModel &model : models)
      keepAll.push_back(
          evaluateLayerChoice(graph, model, 0, options.alignment));
    calibration = calibrate(graph, models, keepAll, keepAllPlan);
    // Ops outside the layers annotated ckpt.remat = "recompute" are
    // recomputed in every plan, as the presets do.
    for (auto [index, node] : llvm::enumerate(graph.nodes))
      if (node.phase == Phase::Forward && node.region < 0 && !node.layer &&
          getRematAnnotation(node.op) == "recompute") {
        RecomputeGroup group = makeRecomputeGroup(
            graph, "outside " + node.module.str() + " (annotated)",
            std::nullopt, {static_cast<int>(index)}, true);
        if (!group.discarded.empty())
          fixed.push_back(std::move(group));
      }
    annotated = !fixed.empty() || llvm::any_of(models, [](const LayerModel &m) {
      return m.mustDiscard != 0;
    });
    xf::ModelAttr model = xf::getModel(graph.step);
    bool distributable = model && model.getTensorModelParallelSize() > 1 &&
                         !model.isSequenceParallel();
    for (const MegatronPolicy &preset :
         standardMegatronPolicies(countLayers(graph), distributable)) {
      std::string ignored;
      FailureOr<RematPlan> plan = preset.decide(graph, ignored);
      if (failed(plan) || plan->groups.empty())
        continue;
      presets.push_back(judge(std::move(*plan), preset.describe()));
    }
    return success();
  }

  const MemoryPlan &keepAll() const { return keepAllPlan; }
  const std::vector<Candidate> &presetCandidates() const { return presets; }

  /// The cheapest candidate whose planned arena is within `cap`.
  std::optional<Candidate> solve(int64_t cap) {
    if (!annotated && keepAllPlan.arenaBytes <= cap)
      return Candidate{RematPlan(), keepAllPlan.arenaBytes, 0, "keep all"};
    std::optional<Candidate> best;
    auto consider = [&](const Candidate &candidate) {
      if (candidate.arena <= cap && (!best || candidate.cost < best->cost))
        best = candidate;
    };
    // The estimate decides, the planner judges. A cap on the estimate gives
    // no plan (too low), a plan the planner finds too large (too high), or
    // one that fits, of which the cheapest is kept; the search moves the
    // cap by the planner's difference, doubling while it stays on one
    // side, then halves the interval between a low and a high cap.
    std::optional<int64_t> low, high;
    int64_t estimateCap = cap, step = 0;
    int64_t tolerance = std::max<int64_t>(1, cap / 512);
    for (int round = 0; round < 12; ++round) {
      std::optional<std::vector<uint64_t>> discards =
          cheapestWithin(models, calibration, estimateCap);
      bool tooHigh = false;
      int64_t difference = 0; // What the cap may move by.
      if (discards) {
        Candidate candidate = fromDiscards(*discards);
        tooHigh = candidate.arena > cap;
        difference = candidate.arena == INT64_MAX ? 0 : cap - candidate.arena;
        consider(candidate);
        if (candidate.arena == cap)
          break;
      }
      (tooHigh ? high : low) = estimateCap;
      if (low && high) {
        if (*high - *low <= tolerance)
          break;
        estimateCap = *low + (*high - *low) / 2;
        continue;
      }
      if (!discards) {
        // Nothing under this cap, nothing over one yet: the estimate is
        // pessimistic here; the keep-all arena bounds the search.
        if (estimateCap >= keepAllPlan.arenaBytes)
          break;
        difference = std::max<int64_t>(tolerance, cap / 16);
      }
      if (difference == 0)
        break;
      step =
          step != 0 && (difference > 0) == (step > 0) ? 2 * step : difference;
      estimateCap += step;
    }
    // Megatron's presets are candidates too (chains of N >= 2 layers lie
    // outside the per-layer space): the answer never costs more than a
    // preset that fits.
    for (const Candidate &preset : presets)
      consider(preset);
    return best;
  }

  /// The lowest planned peak the estimate or a preset reaches.
  Candidate lowest() {
    int64_t lo = 0, hi = keepAllPlan.arenaBytes;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cheapestWithin(models, calibration, mid))
        hi = mid;
      else
        lo = mid + 1;
    }
    Candidate least = fromDiscards(*cheapestWithin(models, calibration, hi));
    for (const Candidate &preset : presets)
      if (preset.arena < least.arena)
        least = preset;
    return least;
  }

private:
  Candidate judge(RematPlan plan, std::string what) {
    Candidate candidate{std::move(plan), INT64_MAX, INT64_MAX, std::move(what)};
    FailureOr<int64_t> arena = plannedArenaBytes(
        graph, candidate.plan, options, nullptr, &candidate.cost, cost);
    if (succeeded(arena))
      candidate.arena = *arena;
    return candidate;
  }

  Candidate fromDiscards(const std::vector<uint64_t> &discards) {
    int discarded = 0, candidates = 0;
    for (auto [model, discard] : llvm::zip(models, discards)) {
      discarded += llvm::popcount(discard);
      candidates += static_cast<int>(model.candidates.size());
    }
    RematPlan plan = makeLayerPlan(graph, models, discards);
    if (!fixed.empty()) {
      plan.groups.insert(plan.groups.end(), fixed.begin(), fixed.end());
      llvm::sort(plan.groups,
                 [](const RecomputeGroup &a, const RecomputeGroup &b) {
                   return a.nodes.front() < b.nodes.front();
                 });
    }
    return judge(std::move(plan), "discarding " + std::to_string(discarded) +
                                      " of the " + std::to_string(candidates) +
                                      " values the backward reads in its " +
                                      std::to_string(models.size()) +
                                      " layers");
  }

  const StepGraph &graph;
  PlanOptions options;
  RecomputeCost cost;
  std::vector<LayerModel> models;
  MemoryPlan keepAllPlan;
  Calibration calibration;
  std::vector<Candidate> presets;
  std::vector<RecomputeGroup> fixed; ///< Annotated ops outside the layers.
  bool annotated = false; ///< Some op must be recomputed in every plan.
};

} // namespace

std::string BudgetPolicy::describe() const {
  std::string text = "budget";
  if (memoryBudget >= 0)
    text += " arena<=" + formatBytes(memoryBudget);
  if (deviceMemory >= 0)
    text += " device<=" + formatBytes(deviceMemory);
  return text;
}

FailureOr<RematPlan> BudgetPolicy::decide(const StepGraph &graph,
                                          std::string &error) const {
  BudgetSolver solver(graph, planOptions, cost);
  if (failed(solver.init(error)))
    return failure();
  int64_t cap = memoryBudget >= 0 ? memoryBudget : INT64_MAX;
  int64_t persistent = solver.keepAll().trainingPersistentBytes;
  if (deviceMemory >= 0)
    cap = std::min(cap, deviceMemory - persistent);
  if (std::optional<Candidate> best = solver.solve(cap))
    return std::move(best->plan);
  Candidate lowest = solver.lowest();
  std::string what =
      deviceMemory >= 0
          ? "device-memory of " + std::to_string(deviceMemory) +
                " bytes leaves " + std::to_string(cap) +
                " bytes for the arena after " + std::to_string(persistent) +
                " bytes of weights, gradients and optimizer state (Megatron's "
                "accounting)"
          : "memory-budget of " + std::to_string(cap) + " bytes";
  bool preset = !llvm::StringRef(lowest.what).starts_with("discarding");
  error = what + ", below the smallest planned peak the solver reaches, " +
          std::to_string(lowest.arena) + " bytes (" +
          formatBytes(lowest.arena) + "), " +
          (preset ? "with Megatron's " + lowest.what : "by " + lowest.what) +
          " and recomputing " + std::to_string(lowest.cost) +
          (cost.measured() ? " ns (profiled)" : " FLOPs");
  return failure();
}

FailureOr<std::vector<FrontierPoint>>
ckpt::budgetFrontier(const StepGraph &graph, const PlanOptions &options,
                     int points, std::string &error) {
  BudgetSolver solver(graph, options, RecomputeCost());
  if (failed(solver.init(error)))
    return failure();
  std::vector<FrontierPoint> frontier;
  int64_t low = solver.lowest().arena;
  int64_t high = solver.keepAll().arenaBytes;
  points = std::max(points, 2);
  for (int i = 0; i < points; ++i) {
    int64_t budget = low + (high - low) * i / (points - 1);
    std::optional<Candidate> best = solver.solve(budget);
    if (!best)
      continue;
    // A budget whose plan is the last one's adds nothing.
    if (!frontier.empty() && frontier.back().arena == best->arena &&
        frontier.back().cost == best->cost)
      continue;
    frontier.push_back(
        {budget, best->arena, best->cost, best->what, /*preset=*/false});
  }
  for (const Candidate &preset : solver.presetCandidates())
    frontier.push_back({preset.arena, preset.arena, preset.cost, preset.what,
                        /*preset=*/true});
  return frontier;
}
