//===- PlanEvaluator.cpp - What a plan keeps and costs, without the rewrite
//===//
//
// Replays applyRematPlan on the step graph's arrays: the step's order is a
// sequence of items (the graph's nodes, and the regions as they are
// inserted), and each tensor has the list of items that read it, which the
// replay edits as the rewrite edits uses.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Transforms/PlanEvaluator.h"
#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Transforms/BudgetPolicy.h"

#include "llvm/ADT/DenseSet.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

namespace {

/// An item of the step's order: a node (>= 0) or region r (-r - 1).
using Item = int;
Item regionItem(int region) { return -region - 1; }
bool isRegion(Item item) { return item < 0; }

class Replay {
public:
  Replay(const StepGraph &graph, const RematPlan &plan)
      : graph_(graph), plan_(plan), users_(graph.tensors.size()) {
    for (auto [id, tensor] : llvm::enumerate(graph.tensors))
      users_[id].assign(tensor.readers.begin(), tensor.readers.end());
    order_.resize(graph.nodes.size());
    for (int node = 0; node < static_cast<int>(graph.nodes.size()); ++node)
      order_[node] = node;
    renumber();
    for (const RecomputeGroup &group : plan.groups)
      discarded_.insert(group.discarded.begin(), group.discarded.end());
    if (plan.distributeInputs)
      replicated_ = replicatedValues(graph.step);
  }

  PlanEvaluation run() {
    for (auto [index, group] : llvm::enumerate(plan_.groups))
      if (!group.discarded.empty())
        addRegion(static_cast<int>(index), group);
    readRebuiltValues();
    return summarize();
  }

private:
  Phase phaseOf(Item item) const {
    return isRegion(item) ? Phase::Recompute : graph_.nodes[item].phase;
  }
  int position(Item item) const {
    return isRegion(item) ? regionPosition_[-item - 1] : nodePosition_[item];
  }
  void renumber() {
    nodePosition_.resize(graph_.nodes.size());
    regionPosition_.resize(evaluation_.regions.size());
    for (auto [index, item] : llvm::enumerate(order_))
      (isRegion(item) ? regionPosition_[-item - 1] : nodePosition_[item]) =
          static_cast<int>(index);
  }

  /// Whether `tensor` is read at `point` or after it.
  bool isAliveAt(int tensor, Item point) const {
    return llvm::any_of(users_[tensor], [&](Item user) {
      return position(user) >= position(point);
    });
  }
  /// Whether every backward reader of `tensor` is `point` or after it.
  bool isReadInBackwardOnlyFrom(int tensor, Item point) const {
    return llvm::all_of(users_[tensor], [&](Item user) {
      return phaseOf(user) != Phase::Backward ||
             position(user) >= position(point);
    });
  }
  bool isDistributable(int tensor) const {
    return plan_.distributeInputs &&
           ckpt::isDistributable(graph_.tensors[tensor].value,
                                 plan_.tensorParallelSize, replicated_);
  }
  void dropBackwardUsers(int tensor) {
    llvm::erase_if(users_[tensor],
                   [&](Item user) { return phaseOf(user) == Phase::Backward; });
  }

  /// selectNeededOps: the group's ops that rebuild `targets`.
  void selectNeeded(const RecomputeGroup &group, Item insertion,
                    EvaluatedRegion &region) {
    llvm::DenseSet<int> members(group.nodes.begin(), group.nodes.end());
    llvm::DenseSet<int> needed(group.discarded.begin(), group.discarded.end());
    for (int node : llvm::reverse(group.nodes)) {
      const StepNode &n = graph_.nodes[node];
      if (llvm::none_of(n.outputs, [&](int id) { return needed.contains(id); }))
        continue;
      region.ops.push_back(node);
      if (isa<xf::DropoutOp>(n.op) && !needed.contains(n.outputs[0])) {
        region.maskOnly.push_back(node);
        continue;
      }
      for (int id : n.inputs) {
        const StepTensor &tensor = graph_.tensors[id];
        if (tensor.isArgument() || !members.contains(tensor.producer))
          continue;
        bool keptAnyway = tensor.kept && !discarded_.contains(id) &&
                          isAliveAt(id, insertion) &&
                          (!plan_.distributeInputs || !isDistributable(id) ||
                           isReadInBackwardOnlyFrom(id, insertion));
        if (!keptAnyway)
          needed.insert(id);
      }
    }
    std::reverse(region.ops.begin(), region.ops.end());
    std::reverse(region.maskOnly.begin(), region.maskOnly.end());
  }

  void addRegion(int index, const RecomputeGroup &group) {
    EvaluatedRegion region;
    region.group = index;
    // Before the first reader of a discarded value outside the forward.
    Item first = 0;
    bool found = false;
    for (int id : group.discarded)
      for (Item user : users_[id])
        if (phaseOf(user) != Phase::Forward &&
            (!found || position(user) < position(first))) {
          first = user;
          found = true;
        }
    if (!found)
      return;
    selectNeeded(group, first, region);
    llvm::DenseSet<int> ops(region.ops.begin(), region.ops.end());
    llvm::DenseSet<int> maskOnly(region.maskOnly.begin(),
                                 region.maskOnly.end());
    llvm::DenseSet<int> seen;
    for (int node : region.ops) {
      if (maskOnly.contains(node))
        continue;
      for (int id : graph_.nodes[node].inputs) {
        const StepTensor &tensor = graph_.tensors[id];
        bool inside = !tensor.isArgument() && ops.contains(tensor.producer);
        if (!inside && seen.insert(id).second)
          region.inputs.push_back(id);
      }
    }
    int code = regionItem(static_cast<int>(evaluation_.regions.size()));
    order_.insert(order_.begin() + position(first), code);
    evaluation_.regions.push_back(region);
    renumber();
    for (int id : region.inputs) {
      if (isDistributable(id) && !discarded_.contains(id)) {
        // The region reads its shard, made in the forward; the backward
        // reads the region's gathered copy.
        if (llvm::find(evaluation_.sharded, id) == evaluation_.sharded.end())
          evaluation_.sharded.push_back(id);
        dropBackwardUsers(id);
        continue;
      }
      users_[id].push_back(code);
    }
    for (int id : group.discarded) {
      dropBackwardUsers(id);
      rebuiltBy_[id] = static_cast<int>(evaluation_.regions.size()) - 1;
    }
  }

  /// A region reads what another region rebuilds from that region.
  void readRebuiltValues() {
    for (auto [index, region] : llvm::enumerate(evaluation_.regions)) {
      Item code = regionItem(static_cast<int>(index));
      for (int id : region.inputs)
        if (rebuiltBy_.count(id))
          llvm::erase(users_[id], code);
    }
  }

  PlanEvaluation summarize() {
    for (auto [id, tensor] : llvm::enumerate(graph_.tensors)) {
      if (tensor.isArgument() || tensor.phase != Phase::Forward)
        continue;
      bool read = llvm::any_of(users_[id], [&](Item user) {
        return phaseOf(user) != Phase::Forward;
      });
      if (!read)
        continue;
      evaluation_.kept.push_back(static_cast<int>(id));
      evaluation_.keptBytes += tensor.bytes;
    }
    llvm::sort(evaluation_.sharded);
    for (int id : evaluation_.sharded)
      evaluation_.keptBytes +=
          graph_.tensors[id].bytes / plan_.tensorParallelSize;
    return std::move(evaluation_);
  }

  const StepGraph &graph_;
  const RematPlan &plan_;
  std::vector<std::vector<Item>> users_;
  std::vector<Item> order_;
  std::vector<int> nodePosition_, regionPosition_;
  llvm::DenseSet<int> discarded_;
  llvm::DenseSet<Value> replicated_;
  std::map<int, int> rebuiltBy_; ///< Discarded tensor -> its region.
  PlanEvaluation evaluation_;
};

} // namespace

PlanEvaluation ckpt::evaluatePlan(const StepGraph &graph, const RematPlan &plan,
                                  const RecomputeCost *cost) {
  PlanEvaluation evaluation = Replay(graph, plan).run();
  RecomputeCost flops;
  const RecomputeCost &measure = cost ? *cost : flops;
  for (EvaluatedRegion &region : evaluation.regions) {
    llvm::DenseSet<int> maskOnly(region.maskOnly.begin(),
                                 region.maskOnly.end());
    for (int node : region.ops) {
      int64_t bytes = 0;
      if (maskOnly.contains(node)) {
        int64_t maskCost = flops.maskOnly(graph, node);
        evaluation.recompute.otherFlops += maskCost;
        evaluation.recomputeCost +=
            cost ? measure.maskOnly(graph, node) : maskCost;
        bytes = graph.tensors[graph.nodes[node].outputs[1]].bytes;
      } else {
        const ops::OpCost &c = graph.cost(node);
        evaluation.recompute.matmulFlops += c.matmulFlops;
        evaluation.recompute.otherFlops += c.otherFlops;
        evaluation.recomputeCost += measure.of(graph, node);
        for (int id : graph.nodes[node].outputs)
          bytes += graph.tensors[id].bytes;
      }
      region.producedBytes += bytes;
    }
    for (int id : region.inputs)
      if (llvm::is_contained(evaluation.sharded, id))
        region.producedBytes += graph.tensors[id].bytes;
  }
  return evaluation;
}
