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

#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Planner/OffsetAssignment.h"

#include "llvm/ADT/DenseSet.h"

#include <algorithm>
#include <functional>
#include <map>

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

  PlanEvaluation run(const PlanOptions *options) {
    for (auto [index, group] : llvm::enumerate(plan_.groups))
      if (!group.discarded.empty())
        addRegion(static_cast<int>(index), group);
    readRebuiltValues();
    if (options)
      planArena(*options);
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
  /// Drops the backward readers of `tensor` (they read a region's copy
  /// now) and returns them.
  std::vector<int> dropBackwardUsers(int tensor) {
    std::vector<int> dropped;
    llvm::erase_if(users_[tensor], [&](Item user) {
      if (phaseOf(user) != Phase::Backward)
        return false;
      dropped.push_back(user);
      return true;
    });
    return dropped;
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
    distributed_.emplace_back();
    targets_.emplace_back();
    renumber();
    for (int id : region.inputs) {
      if (isDistributable(id) && !discarded_.contains(id)) {
        // The region reads its shard, made in the forward; the backward
        // reads the region's gathered copy.
        if (llvm::find(evaluation_.sharded, id) == evaluation_.sharded.end()) {
          evaluation_.sharded.push_back(id);
          shardOrder_.push_back(id);
        }
        int r = static_cast<int>(evaluation_.regions.size()) - 1;
        distributed_[r].push_back(id);
        gatherReaders_[{r, id}] = dropBackwardUsers(id);
        continue;
      }
      users_[id].push_back(code);
    }
    for (int id : group.discarded) {
      int r = static_cast<int>(evaluation_.regions.size()) - 1;
      targetReaders_[{r, id}] = dropBackwardUsers(id);
      rebuiltBy_[id] = r;
      targets_[r].push_back(id);
    }
  }

  /// A region reads what another region rebuilds from that region.
  void readRebuiltValues() {
    for (auto [index, region] : llvm::enumerate(evaluation_.regions)) {
      Item code = regionItem(static_cast<int>(index));
      for (int id : region.inputs)
        if (rebuiltBy_.count(id)) {
          llvm::erase(users_[id], code);
          sourceOf_[{static_cast<int>(index), id}] = rebuiltBy_[id];
        }
    }
    // A region that reads another's result moves after it.
    llvm::DenseSet<int> hoisting;
    std::function<void(int, Item)> hoist = [&](int producer, Item reader) {
      if (position(regionItem(producer)) < position(reader) ||
          !hoisting.insert(producer).second)
        return;
      moveBefore(regionItem(producer), reader);
      for (int id : evaluation_.regions[producer].inputs)
        if (auto it = sourceOf_.find({producer, id}); it != sourceOf_.end())
          hoist(it->second, regionItem(producer));
      hoisting.erase(producer);
    };
    for (auto [index, region] : llvm::enumerate(evaluation_.regions))
      for (int id : region.inputs)
        if (auto it = sourceOf_.find({static_cast<int>(index), id});
            it != sourceOf_.end())
          hoist(it->second, regionItem(static_cast<int>(index)));
  }

  void moveBefore(Item item, Item before) {
    order_.erase(order_.begin() + position(item));
    renumber();
    order_.insert(order_.begin() + position(before), item);
    renumber();
  }

  /// --ckpt-schedule: each region just before its first reader.
  void schedule() {
    std::vector<Item> regions;
    for (Item item : order_)
      if (isRegion(item))
        regions.push_back(item);
    for (Item item : regions) {
      int r = -item - 1;
      std::vector<Item> readers;
      for (auto &[key, nodes] : targetReaders_)
        if (key.first == r)
          readers.insert(readers.end(), nodes.begin(), nodes.end());
      for (auto &[key, nodes] : gatherReaders_)
        if (key.first == r)
          readers.insert(readers.end(), nodes.begin(), nodes.end());
      for (auto &[key, source] : sourceOf_)
        if (source == r)
          readers.push_back(regionItem(key.first));
      if (readers.empty())
        continue;
      Item first = *llvm::min_element(
          readers, [&](Item a, Item b) { return position(a) < position(b); });
      if (position(first) != position(item) + 1)
        moveBefore(item, first);
    }
  }

  /// The scheduled, rewritten step as steps over tensors (the graph's and
  /// the ones the rewrite makes: shards, gathers, region copies), planned.
  void planArena(const PlanOptions &options) {
    schedule();
    std::vector<int64_t> bytes;
    std::vector<bool> planned;
    for (const StepTensor &tensor : graph_.tensors) {
      bytes.push_back(tensor.bytes);
      planned.push_back(!tensor.isArgument() &&
                        tensor.role != TensorRole::Gradient &&
                        tensor.role != TensorRole::Loss);
    }
    auto fresh = [&](int64_t size) {
      bytes.push_back(size);
      planned.push_back(true);
      return static_cast<int>(bytes.size()) - 1;
    };
    std::map<int, int> shardOf;
    std::map<int, std::vector<int>> shardsAfter; ///< Producer -> shards.
    for (int id : shardOrder_) {
      shardOf[id] = fresh(bytes[id] / plan_.tensorParallelSize);
      // Each shard goes right after its producer, before earlier ones.
      auto &list = shardsAfter[graph_.tensors[id].producer];
      list.insert(list.begin(), id);
    }
    std::map<std::pair<int, int>, int> copyOf, gatherOf;
    for (auto [r, region] : llvm::enumerate(evaluation_.regions)) {
      int index = static_cast<int>(r);
      for (int id : distributed_[index])
        gatherOf[{index, id}] = fresh(bytes[id]);
      llvm::DenseSet<int> maskOnly(region.maskOnly.begin(),
                                   region.maskOnly.end());
      for (int node : region.ops) {
        const StepNode &n = graph_.nodes[node];
        if (maskOnly.contains(node)) {
          copyOf[{index, n.outputs[1]}] = fresh(bytes[n.outputs[1]]);
          continue;
        }
        for (int id : n.outputs)
          copyOf[{index, id}] = fresh(bytes[id]);
      }
    }
    std::map<int, std::map<int, int>> replaced; ///< Node -> tensor -> copy.
    for (auto &[key, nodes] : targetReaders_)
      for (int node : nodes)
        replaced[node][key.second] = copyOf.at(key);
    for (auto &[key, nodes] : gatherReaders_)
      for (int node : nodes)
        replaced[node][key.second] = gatherOf.at(key);

    std::vector<std::vector<int>> reads, writes;
    auto step = [&](std::vector<int> inputs, std::vector<int> outputs) {
      reads.push_back(std::move(inputs));
      writes.push_back(std::move(outputs));
    };
    for (Item item : order_) {
      if (!isRegion(item)) {
        const StepNode &n = graph_.nodes[item];
        std::vector<int> inputs(n.inputs.begin(), n.inputs.end());
        if (auto it = replaced.find(item); it != replaced.end())
          for (int &id : inputs)
            if (auto copy = it->second.find(id); copy != it->second.end())
              id = copy->second;
        step(std::move(inputs), {n.outputs.begin(), n.outputs.end()});
        if (auto it = shardsAfter.find(item); it != shardsAfter.end())
          for (int id : it->second)
            step({id}, {shardOf[id]});
        continue;
      }
      int index = -item - 1;
      const EvaluatedRegion &region = evaluation_.regions[index];
      for (int id : distributed_[index])
        step({shardOf[id]}, {gatherOf[{index, id}]});
      llvm::DenseSet<int> maskOnly(region.maskOnly.begin(),
                                   region.maskOnly.end());
      for (int node : region.ops) {
        const StepNode &n = graph_.nodes[node];
        if (maskOnly.contains(node)) {
          step({}, {copyOf[{index, n.outputs[1]}]});
          continue;
        }
        std::vector<int> inputs;
        for (int id : n.inputs) {
          if (auto it = copyOf.find({index, id}); it != copyOf.end())
            inputs.push_back(it->second);
          else if (auto it = gatherOf.find({index, id}); it != gatherOf.end())
            inputs.push_back(it->second);
          else if (auto it = sourceOf_.find({index, id}); it != sourceOf_.end())
            inputs.push_back(copyOf.at({it->second, id}));
          else
            inputs.push_back(id);
        }
        std::vector<int> outputs;
        for (int id : n.outputs)
          outputs.push_back(copyOf[{index, id}]);
        step(std::move(inputs), std::move(outputs));
      }
    }

    // Liveness as computeLiveness: from the writing step to one past the
    // last reading step.
    std::vector<int64_t> start(bytes.size(), -1), end(bytes.size(), -1);
    for (size_t i = 0; i < writes.size(); ++i) {
      for (int id : writes[i])
        start[id] = end[id] = static_cast<int64_t>(i);
      for (int id : reads[i])
        end[id] = static_cast<int64_t>(i);
    }
    std::vector<planner::Buffer> buffers;
    for (size_t id = 0; id < bytes.size(); ++id)
      if (planned[id] && start[id] >= 0)
        buffers.push_back({start[id], end[id] + 1,
                           ops::alignedBytes(bytes[id], options.alignment)});
    planner::SearchOptions search;
    if (!options.deterministic)
      search.seconds = options.seconds;
    search.work = options.searchWork;
    evaluation_.steps = static_cast<int64_t>(writes.size());
    evaluation_.arenaBytes = planner::planOffsets(buffers, search).height;
    evaluation_.lowerBoundBytes = planner::lowerBound(buffers);
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
  /// Per region: the inputs it gathers from shards, and what it discards.
  std::vector<std::vector<int>> distributed_, targets_;
  /// The shards in the order the rewrite makes them.
  std::vector<int> shardOrder_;
  /// (region, tensor) -> the backward nodes that read the region's copy of
  /// a discarded tensor, or its gathered copy of a distributed input.
  std::map<std::pair<int, int>, std::vector<int>> targetReaders_,
      gatherReaders_;
  /// (region, input) -> the region that rebuilds that input for it.
  std::map<std::pair<int, int>, int> sourceOf_;
  PlanEvaluation evaluation_;
};

} // namespace

PlanEvaluation ckpt::evaluatePlan(const StepGraph &graph, const RematPlan &plan,
                                  const RecomputeCost *cost,
                                  const PlanOptions *options) {
  PlanEvaluation evaluation = Replay(graph, plan).run(options);
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
