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
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <climits>
#include <map>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr size_t kMaxCandidates = 24;

/// One layer compiled to small arrays, for evaluating many subsets.
class LayerEvaluator {
public:
  LayerEvaluator(const StepGraph &graph, const LayerModel &model) {
    llvm::DenseMap<int, int> localOf; // Tensor id -> local value.
    std::vector<int> runOf(graph.nodes.size(), -1);
    for (auto [run, nodes] : llvm::enumerate(model.runs))
      for (int node : nodes)
        runOf[node] = static_cast<int>(run);
    for (int node : model.nodes)
      for (int id : graph.nodes[node].outputs) {
        localOf[id] = static_cast<int>(values.size());
        values.push_back({graph.tensors[id].bytes, -1, runOf[node]});
      }
    for (auto [bit, id] : llvm::enumerate(model.candidates)) {
      values[localOf.lookup(id)].bit = static_cast<int>(bit);
      allKept += graph.tensors[id].bytes;
    }
    for (auto [run, nodes] : llvm::enumerate(model.runs)) {
      for (int node : nodes) {
        const StepNode &n = graph.nodes[node];
        Op op;
        op.cost = graph.cost(node).total();
        for (int id : n.outputs)
          op.results.push_back(localOf.lookup(id));
        for (int id : n.inputs) {
          auto it = localOf.find(id);
          op.operands.push_back(it == localOf.end() ? -1 : it->second);
        }
        if (auto dropout = dyn_cast<xf::DropoutOp>(n.op)) {
          op.dropout = true;
          op.maskCost = maskCost(dropout);
        }
        op.run = static_cast<int>(run);
        ops.push_back(std::move(op));
      }
    }
    needed.resize(values.size());
    forced.resize(values.size());
  }

  LayerChoice evaluate(uint64_t discard) {
    auto discarded = [&](int local) {
      int bit = values[local].bit;
      return bit >= 0 && (discard >> bit & 1);
    };
    std::fill(needed.begin(), needed.end(), 0);
    std::fill(forced.begin(), forced.end(), 0);
    LayerChoice choice;
    choice.discard = discard;
    choice.keptBytes = allKept;
    for (size_t local = 0; local < values.size(); ++local)
      if (discarded(static_cast<int>(local))) {
        needed[local] = 1;
        choice.keptBytes -= values[local].bytes;
      }
    // Each run's region walks back from what it discards.
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      const Op &op = *it;
      if (llvm::none_of(op.results, [&](int r) { return needed[r]; }))
        continue;
      if (op.dropout && !needed[op.results[0]]) {
        choice.cost += op.maskCost;
        continue;
      }
      choice.cost += op.cost;
      for (int operand : op.operands) {
        if (operand < 0)
          continue; // Made outside the layer: kept or another layer's.
        const LocalValue &v = values[operand];
        bool kept = v.bit >= 0 && !discarded(operand);
        if (kept)
          continue;
        if (v.run == op.run)
          needed[operand] = 1;
        else if (v.bit < 0 && !forced[operand]) {
          // Another run's temporary: the region reads it from the
          // forward, which keeps it.
          forced[operand] = 1;
          choice.keptBytes += v.bytes;
        }
      }
    }
    return choice;
  }

private:
  struct LocalValue {
    int64_t bytes;
    int bit; ///< Candidate bit, or -1.
    int run;
  };
  struct Op {
    int64_t cost = 0, maskCost = 0;
    bool dropout = false;
    int run = 0;
    SmallVector<int> results, operands;
  };

  /// The op table's cost of regenerating the mask alone.
  static int64_t maskCost(xf::DropoutOp dropout) {
    auto type = cast<RankedTensorType>(dropout.getMask().getType());
    ops::OpInstance instance;
    instance.outputs.push_back(
        {ops::Shape(type.getShape().begin(), type.getShape().end()),
         ops::ElementType::I1});
    return ops::costOf(*ops::lookupOp("dropout_mask"), instance).total();
  }

  std::vector<LocalValue> values;
  std::vector<Op> ops;
  std::vector<char> needed, forced;
  int64_t allKept = 0;
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

/// The frontier of a layer: for each kept size the cheapest choice, kept
/// bytes ascending and cost strictly descending.
std::vector<LayerChoice> layerFrontier(const StepGraph &graph,
                                       const LayerModel &model) {
  LayerEvaluator evaluator(graph, model);
  std::vector<LayerChoice> all;
  uint64_t subsets = uint64_t(1) << model.candidates.size();
  all.reserve(subsets);
  for (uint64_t discard = 0; discard < subsets; ++discard)
    all.push_back(evaluator.evaluate(discard));
  std::sort(all.begin(), all.end(),
            [](const LayerChoice &a, const LayerChoice &b) {
              return std::tie(a.keptBytes, a.cost, a.discard) <
                     std::tie(b.keptBytes, b.cost, b.discard);
            });
  std::vector<LayerChoice> frontier;
  for (const LayerChoice &choice : all)
    if (frontier.empty() || choice.cost < frontier.back().cost)
      frontier.push_back(choice);
  return frontier;
}

} // namespace

FailureOr<std::vector<LayerModel>>
ckpt::buildLayerModels(const StepGraph &graph, std::string &error) {
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
      for (int id : n.outputs)
        if (graph.tensors[id].kept &&
            llvm::none_of(graph.tensors[id].readers, [&](int reader) {
              const StepNode &r = graph.nodes[reader];
              return r.phase == Phase::Forward && r.layer != n.layer;
            }))
          model.candidates.push_back(id);
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
    if (inserted)
      model.frontier = layerFrontier(graph, model);
    else
      model.frontier = models[it->second].frontier;
    models.push_back(std::move(model));
  }
  return models;
}

LayerChoice ckpt::evaluateLayerChoice(const StepGraph &graph,
                                      const LayerModel &model,
                                      uint64_t discard) {
  return LayerEvaluator(graph, model).evaluate(discard);
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

FailureOr<int64_t> ckpt::plannedArenaBytes(const StepGraph &graph,
                                           const RematPlan &plan,
                                           const PlanOptions &options,
                                           int64_t *persistent) {
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
  return memory.arenaBytes;
}

namespace {

/// A point of the step's frontier: the choice of each layer (an index into
/// its frontier) behind a total of kept bytes and cost.
struct StepPoint {
  int64_t keptBytes = 0;
  int64_t cost = 0;
  std::vector<uint16_t> choices;
};

/// The step's frontier from the layers' (dynamic programming over the
/// chain, keeping after each layer only the points no other point beats on
/// both kept bytes and cost).
std::vector<StepPoint> stepFrontier(const std::vector<LayerModel> &models) {
  struct State {
    int64_t keptBytes, cost;
    int parent;
    uint16_t choice;
  };
  std::vector<std::vector<State>> levels;
  std::vector<State> current = {{0, 0, -1, 0}};
  for (const LayerModel &model : models) {
    std::vector<State> next;
    next.reserve(current.size() * model.frontier.size());
    for (auto [index, state] : llvm::enumerate(current))
      for (auto [choice, point] : llvm::enumerate(model.frontier))
        next.push_back({state.keptBytes + point.keptBytes,
                        state.cost + point.cost, static_cast<int>(index),
                        static_cast<uint16_t>(choice)});
    std::sort(next.begin(), next.end(), [](const State &a, const State &b) {
      return std::tie(a.keptBytes, a.cost) < std::tie(b.keptBytes, b.cost);
    });
    std::vector<State> pruned;
    for (const State &state : next)
      if (pruned.empty() || state.cost < pruned.back().cost)
        pruned.push_back(state);
    levels.push_back(std::move(current));
    current = std::move(pruned);
  }
  std::vector<StepPoint> points;
  for (const State &last : current) {
    StepPoint point{last.keptBytes, last.cost,
                    std::vector<uint16_t>(models.size())};
    State state = last;
    for (size_t level = models.size(); level-- > 0;) {
      point.choices[level] = state.choice;
      if (state.parent >= 0)
        state = levels[level][state.parent];
    }
    points.push_back(std::move(point));
  }
  return points;
}

std::vector<uint64_t> discardsOf(const std::vector<LayerModel> &models,
                                 const StepPoint &point) {
  std::vector<uint64_t> discards;
  for (auto [model, choice] : llvm::zip(models, point.choices))
    discards.push_back(model.frontier[choice].discard);
  return discards;
}

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
  FailureOr<std::vector<LayerModel>> models = buildLayerModels(graph, error);
  if (failed(models))
    return failure();
  // The arena's cap: the budget, or the device less the persistent state.
  int64_t cap = memoryBudget >= 0 ? memoryBudget : INT64_MAX;
  int64_t persistent = 0;
  FailureOr<int64_t> keepAll =
      plannedArenaBytes(graph, RematPlan(), planOptions, &persistent);
  if (failed(keepAll)) {
    error = "memory-budget: the step cannot be planned";
    return failure();
  }
  if (deviceMemory >= 0)
    cap = std::min(cap, deviceMemory - persistent);
  if (*keepAll <= cap)
    return RematPlan(); // Nothing to recompute.

  std::vector<StepPoint> frontier = stepFrontier(*models);
  auto arenaOf = [&](const StepPoint &point) {
    return plannedArenaBytes(
        graph, makeLayerPlan(graph, *models, discardsOf(*models, point)),
        planOptions);
  };
  // The frontier runs from keeping least (most recompute) to keeping all.
  FailureOr<int64_t> least = arenaOf(frontier.front());
  if (failed(least)) {
    error = "memory-budget: the step cannot be planned";
    return failure();
  }
  if (*least > cap) {
    std::string what =
        deviceMemory >= 0
            ? "device-memory of " + std::to_string(deviceMemory) +
                  " bytes leaves " + std::to_string(cap) +
                  " bytes for the arena after " + std::to_string(persistent) +
                  " bytes of weights, gradients and optimizer state "
                  "(Megatron's "
                  "accounting)"
            : "memory-budget of " + std::to_string(cap) + " bytes";
    int discarded = 0, candidates = 0;
    for (auto [model, discard] :
         llvm::zip(*models, discardsOf(*models, frontier.front()))) {
      discarded += llvm::popcount(discard);
      candidates += static_cast<int>(model.candidates.size());
    }
    error = what + ", below the smallest planned peak the solver reaches, " +
            std::to_string(*least) + " bytes (" + formatBytes(*least) +
            "), by discarding " + std::to_string(discarded) + " of the " +
            std::to_string(candidates) + " values the backward reads in its " +
            std::to_string(models->size()) + " layers and recomputing " +
            std::to_string(frontier.front().cost) + " FLOPs";
    return failure();
  }
  // The largest kept total (the least cost) whose planned arena fits: a
  // binary search on the frontier, then a look at the next points, since
  // the planned peak need not grow with every byte kept.
  size_t lo = 0, hi = frontier.size() - 1; // arena(lo) fits; hi: all kept.
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    FailureOr<int64_t> arena = arenaOf(frontier[mid]);
    if (succeeded(arena) && *arena <= cap)
      lo = mid;
    else
      hi = mid;
  }
  for (size_t next = lo + 1; next < std::min(frontier.size(), lo + 9); ++next) {
    FailureOr<int64_t> arena = arenaOf(frontier[next]);
    if (succeeded(arena) && *arena <= cap)
      lo = next;
  }
  return makeLayerPlan(graph, *models, discardsOf(*models, frontier[lo]));
}
