//===- PlanBinding.cpp - Placement plans on a step graph
//-------------------===//

#include "ckpt/Rewrite/PlanBinding.h"
#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Rewrite/PlanEvaluator.h"
#include "ckpt/Rewrite/RematPolicy.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"

#include <algorithm>
#include <map>
#include <tuple>

using namespace mlir;
using namespace ckpt;

namespace {

bool isNamed(const StepNode &node) {
  return node.phase == Phase::Forward && node.region < 0;
}

/// The op's kind: its name without the dialect for xf and ckpt ops, whole
/// for another dialect's.
std::string kindOf(Operation *op) {
  StringRef dialect = op->getName().getDialectNamespace();
  if (dialect == "xf" || dialect == "ckpt")
    return op->getName().stripDialect().str();
  return op->getName().getStringRef().str();
}

std::string scopeOf(const StepNode &node) {
  std::string scope;
  if (node.layer)
    scope = "L" + std::to_string(*node.layer) + ".";
  if (!node.module.empty())
    scope += node.module.str() + ".";
  return scope;
}

/// The name of result `index` of `op` after the ':' (the op table's name,
/// else its number).
std::string resultName(Operation *op, unsigned index) {
  if (const ops::OpDef *def = ops::lookupOp(op->getName().stripDialect()))
    if (index < def->outputs.size())
      return std::string(def->outputs[index].name);
  return std::to_string(index);
}

} // namespace

PlanNames::PlanNames(const StepGraph &graph)
    : graph_(graph), nodeNames_(graph.nodes.size()) {
  using Key = std::pair<std::string, std::string>; // scope, kind
  std::map<Key, int> total, seen;
  for (const StepNode &node : graph.nodes)
    if (isNamed(node))
      ++total[{scopeOf(node), kindOf(node.op)}];
  for (auto [index, node] : llvm::enumerate(graph.nodes)) {
    if (!isNamed(node))
      continue;
    Key key{scopeOf(node), kindOf(node.op)};
    std::string name = key.first + key.second;
    int ordinal = seen[key]++;
    if (total[key] > 1)
      name += "#" + std::to_string(ordinal);
    nodeIndex_[name] = static_cast<int>(index);
    nodeNames_[index] = std::move(name);
    for (int id : node.outputs)
      if (graph.tensors[id].kept)
        saved_.push_back(id);
  }
}

std::string PlanNames::value(int tensor) const {
  const StepTensor &t = graph_.tensors[tensor];
  Operation *op = graph_.nodes[t.producer].op;
  std::string name = nodeNames_[t.producer];
  if (op->getNumResults() > 1)
    name += ":" + resultName(op, cast<OpResult>(t.value).getResultNumber());
  return name;
}

int PlanNames::findNode(StringRef name) const {
  auto it = nodeIndex_.find(name);
  return it == nodeIndex_.end() ? -1 : it->second;
}

int PlanNames::findValue(StringRef name) const {
  auto [opName, result] = name.rsplit(':');
  int node = findNode(opName);
  if (node < 0)
    return -1;
  for (int id : graph_.nodes[node].outputs)
    if (value(id) == name)
      return id;
  return -1;
}

plan::PlacementPlan ckpt::describePlan(const StepGraph &graph,
                                       const RematPlan &plan, StringRef policy,
                                       plan::ModelFields model) {
  PlanNames names(graph);
  plan::PlacementPlan placements;
  placements.policy = policy.str();
  placements.model = std::move(model);
  int64_t ranks = 1;
  (void)distributeSavedActivationsError(graph, ranks);
  placements.tensorParallelSize = ranks;
  if (std::optional<PipelineShape> shape =
          getPipelineShape(graph.step->getParentOp()))
    placements.pipelineStage = shape->stage;
  std::map<int, const RecomputeGroup *> groupOf;
  for (const RecomputeGroup &group : plan.groups) {
    // A group that discards nothing leaves the step as it is.
    if (group.discarded.empty() || group.nodes.empty())
      continue;
    plan::PlanGroup entry{group.label, group.layer, {}};
    for (int node : group.nodes)
      entry.ops.push_back(names.node(node));
    placements.groups.push_back(std::move(entry));
    for (int id : group.discarded)
      groupOf[id] = &group;
  }
  // What a region starts from is kept too (or sharded), though the backward
  // did not read it before: a norm's output that sequence parallelism's
  // recomputed gather starts from.
  PlanEvaluation evaluation = evaluatePlan(graph, plan);
  llvm::DenseSet<int> shards(evaluation.sharded.begin(),
                             evaluation.sharded.end());
  std::vector<int> listed = names.savedValues();
  for (const std::vector<int> *kept : {&evaluation.kept, &evaluation.sharded})
    for (int id : *kept)
      if (!graph.tensors[id].kept && !llvm::is_contained(listed, id))
        listed.push_back(id);
  llvm::sort(listed);
  for (int id : listed) {
    plan::PlannedValue value;
    value.name = names.value(id);
    value.layer = graph.nodes[graph.tensors[id].producer].layer;
    value.bytes = graph.tensors[id].bytes;
    if (auto it = groupOf.find(id); it != groupOf.end()) {
      value.placement = plan::Placement::Recompute;
      value.group = it->second->label;
    } else if (shards.contains(id)) {
      value.placement = plan::Placement::Shard;
    }
    placements.values.push_back(std::move(value));
  }
  return placements;
}

namespace {

/// Binds a placement plan to a graph, failing at the first misfit.
class Binder {
public:
  Binder(const StepGraph &graph, const plan::PlacementPlan &placements,
         int64_t ranks, std::string &error)
      : graph_(graph), names_(graph), placements_(placements), ranks_(ranks),
        error_(error) {}

  std::optional<RematPlan> bind() {
    std::optional<PipelineShape> shape =
        getPipelineShape(graph_.step->getParentOp());
    std::optional<int64_t> stage;
    if (shape)
      stage = shape->stage;
    if (placements_.pipelineStage && placements_.pipelineStage != stage)
      return fail("pipeline_stage: the plan was made for pipeline stage " +
                  std::to_string(*placements_.pipelineStage) +
                  (stage ? ", this step is stage " + std::to_string(*stage)
                         : ", this step is not a pipeline stage"));
    if (placements_.tensorParallelSize != ranks_)
      return fail("tensor_parallel_size: the plan was made for " +
                  std::to_string(placements_.tensorParallelSize) +
                  " tensor-parallel ranks, this step has " +
                  std::to_string(ranks_));
    RematPlan plan;
    plan.tensorParallelSize = ranks_;
    std::map<std::string, size_t> groupIndex;
    for (auto [g, group] : llvm::enumerate(placements_.groups)) {
      std::optional<RecomputeGroup> bound = bindGroup(g, group);
      if (!bound)
        return std::nullopt;
      groupIndex[group.label] = plan.groups.size();
      plan.groups.push_back(std::move(*bound));
    }
    if (!bindValues(plan, groupIndex))
      return std::nullopt;
    return plan;
  }

private:
  std::nullopt_t fail(std::string message) {
    error_ = std::move(message);
    return std::nullopt;
  }
  bool reject(std::string message) {
    error_ = std::move(message);
    return false;
  }

  /// Up to eight op names of the step in `name`'s layer and module (else
  /// in its layer), to help a reader find the right one.
  std::string nearby(StringRef name) const {
    size_t scopeEnd = name.find('.');
    size_t moduleEnd = name.find('.', scopeEnd + 1);
    for (StringRef prefix :
         {name.substr(0, moduleEnd + 1), name.substr(0, scopeEnd + 1)}) {
      if (prefix.empty())
        continue;
      std::vector<std::string> found;
      for (auto [index, node] : llvm::enumerate(graph_.nodes))
        if (StringRef(names_.node(index)).starts_with(prefix) &&
            found.size() < 8)
          found.push_back(names_.node(index));
      if (!found.empty())
        return " (this step's ops there: " + llvm::join(found, ", ") + ")";
    }
    return "";
  }

  std::optional<RecomputeGroup> bindGroup(size_t g,
                                          const plan::PlanGroup &group) {
    std::string at = "groups[" + std::to_string(g) + "] '" + group.label + "'";
    RecomputeGroup bound{group.label, group.layer, {}, {}};
    for (const std::string &name : group.ops) {
      int node = names_.findNode(name);
      if (node < 0)
        return fail(at + ": no forward op '" + name + "' in this step" +
                    nearby(name));
      Operation *op = graph_.nodes[node].op;
      if (!isMemoryEffectFree(op) || op->getNumRegions() != 0)
        return fail(at + ": op '" + name + "' (" +
                    op->getName().getStringRef().str() +
                    ") has side effects and cannot be re-run");
      if (getRematAnnotation(op) == RematAnnotation::Save)
        return fail(at + ": op '" + name +
                    "' is annotated ckpt.remat = \"save\" and is never "
                    "re-run");
      auto [it, fresh] = owner_.try_emplace(node, group.label);
      if (!fresh)
        return fail(at + ": op '" + name + "' is also in group '" + it->second +
                    "'; the groups of a plan must be disjoint");
      bound.nodes.push_back(node);
    }
    llvm::sort(bound.nodes);
    return bound;
  }

  bool bindValues(RematPlan &plan,
                  const std::map<std::string, size_t> &groupIndex) {
    llvm::DenseSet<int> placed;
    std::vector<int> startsOnly; ///< Kept only as a region's input.
    std::vector<int> shards;
    llvm::DenseSet<Value> replicated;
    bool anyShard = llvm::any_of(placements_.values, [](auto &value) {
      return value.placement == plan::Placement::Shard;
    });
    if (anyShard)
      replicated = replicatedValues(graph_.step);
    for (const plan::PlannedValue &value : placements_.values) {
      std::string at = "value '" + value.name + "'";
      int id = names_.findValue(value.name);
      if (id < 0)
        return reject(at + ": no such value in this step" + nearby(value.name));
      const StepTensor &tensor = graph_.tensors[id];
      // A value the backward did not read before may be listed only as
      // what a region starts from: kept or a shard (checked below).
      if (!tensor.kept && value.placement != plan::Placement::Keep &&
          value.placement != plan::Placement::Shard)
        return reject(at + ": the backward does not read it, so it can only "
                           "be kept or a shard, as a value a recompute "
                           "region starts from");
      if (!tensor.kept && value.placement == plan::Placement::Keep)
        startsOnly.push_back(id);
      if (tensor.bytes != value.bytes)
        return reject(at + ": " + std::to_string(tensor.bytes) +
                      " bytes in this step, " + std::to_string(value.bytes) +
                      " in the plan (a plan of another model or shape)");
      placed.insert(id);
      if (value.placement != plan::Placement::Recompute &&
          getRematAnnotation(graph_.nodes[tensor.producer].op) ==
              RematAnnotation::Recompute)
        return reject(at + ": its producer is annotated ckpt.remat = "
                           "\"recompute\", so every plan recomputes it");
      switch (value.placement) {
      case plan::Placement::Keep:
        break;
      case plan::Placement::Recompute: {
        RecomputeGroup &group = plan.groups[groupIndex.at(value.group)];
        if (!llvm::is_contained(group.nodes, tensor.producer))
          return reject(at + ": recomputed in group '" + value.group +
                        "', which does not re-run its producer '" +
                        names_.node(tensor.producer) + "'");
        group.discarded.push_back(id);
        break;
      }
      case plan::Placement::Shard:
        if (!isDistributable(tensor.value, ranks_, replicated))
          return reject(at +
                        ": cannot be a shard: only an activation that "
                        "every tensor-parallel rank holds whole and whose "
                        "first dimension divides by " +
                        std::to_string(ranks_) + " can");
        shards.push_back(id);
        break;
      case plan::Placement::Offload:
        return reject(at + ": placement 'offload' is not lowered by this "
                           "build yet (keep, recompute or shard)");
      }
    }
    for (int id : names_.savedValues())
      if (!placed.contains(id))
        return reject("value '" + names_.value(id) + "' (" +
                      std::to_string(graph_.tensors[id].bytes) +
                      " bytes) is saved for the backward, but the plan does "
                      "not place it");
    for (RecomputeGroup &group : plan.groups)
      llvm::sort(group.discarded);
    llvm::sort(shards);
    plan.distributeInputs = !shards.empty();
    plan.expectedShards = std::move(shards);
    if (!startsOnly.empty()) {
      PlanEvaluation evaluation = evaluatePlan(graph_, plan);
      for (int id : startsOnly)
        if (!llvm::is_contained(evaluation.kept, id))
          return reject("value '" + names_.value(id) +
                        "': the backward does not read it and no recompute "
                        "region of the plan starts from it, so the plan has "
                        "nothing to keep");
    }
    return true;
  }

  const StepGraph &graph_;
  PlanNames names_;
  const plan::PlacementPlan &placements_;
  int64_t ranks_;
  std::string &error_;
  std::map<int, std::string> owner_; ///< Node -> the group that re-runs it.
};

} // namespace

std::optional<RematPlan> ckpt::bindPlan(const StepGraph &graph,
                                        const plan::PlacementPlan &placements,
                                        int64_t tensorParallelSize,
                                        std::string &error) {
  return Binder(graph, placements, tensorParallelSize, error).bind();
}
