//===- PlanEvaluator.cpp - What a plan keeps and costs, without the rewrite
//===//
//
// Replays applyRematPlan on the step graph's arrays: the step's order is a
// sequence of items (the graph's nodes, and the regions as they are
// inserted), and each tensor has the list of items that read it, which the
// replay edits as the rewrite edits uses.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/PlanEvaluator.h"
#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/Rewrite/RecomputeCost.h"

#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Planner/OffsetAssignment.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

using namespace mlir;
using namespace ckpt;

namespace {

/// An item of the step's order: a node (>= 0) or region r (-r - 1).
using Item = int;
Item regionItem(int region) { return -region - 1; }
bool isRegion(Item item) { return item < 0; }

/// The step's order of items as a linked list whose labels grow along it:
/// inserting or moving an item costs O(1) (labels are respaced when no gap
/// is left, which the wide initial spacing makes rare), not a renumbering
/// of every item for each region of a deep model.
class ItemOrder {
public:
  explicit ItemOrder(int nodes) : nodes(nodes) {
    for (int node = 0; node < nodes; ++node)
      append(node);
  }

  /// An increasing key along the order.
  int64_t position(Item item) const { return label[slot(item)]; }
  /// The item after `item`, or none.
  std::optional<Item> next(Item item) const {
    int after = nextOf[slot(item)];
    if (after < 0)
      return std::nullopt;
    return itemOf(after);
  }
  /// Inserts `item` (not in the order) just before `before`.
  void insertBefore(Item item, Item before) {
    int s = slot(item), b = slot(before);
    grow(s);
    int a = prevOf[b];
    prevOf[s] = a;
    nextOf[s] = b;
    prevOf[b] = s;
    (a < 0 ? head : nextOf[a]) = s;
    int64_t low = a < 0 ? label[b] - 2 * kGap : label[a];
    if (label[b] - low < 2)
      respace();
    else
      label[s] = low + (label[b] - low) / 2;
  }
  void remove(Item item) {
    int s = slot(item);
    int a = prevOf[s], b = nextOf[s];
    (a < 0 ? head : nextOf[a]) = b;
    (b < 0 ? tail : prevOf[b]) = a;
  }
  void moveBefore(Item item, Item before) {
    remove(item);
    insertBefore(item, before);
  }
  template <typename Fn> void forEach(Fn fn) const {
    for (int s = head; s >= 0; s = nextOf[s])
      fn(itemOf(s));
  }

private:
  static constexpr int64_t kGap = int64_t(1) << 24;

  int slot(Item item) const { return isRegion(item) ? nodes - item - 1 : item; }
  Item itemOf(int s) const { return s < nodes ? s : -(s - nodes) - 1; }
  void grow(int s) {
    if (static_cast<size_t>(s) >= label.size()) {
      label.resize(s + 1, 0);
      prevOf.resize(s + 1, -1);
      nextOf.resize(s + 1, -1);
    }
  }
  void append(Item item) {
    int s = slot(item);
    grow(s);
    prevOf[s] = tail;
    nextOf[s] = -1;
    label[s] = tail < 0 ? 0 : label[tail] + kGap;
    (tail < 0 ? head : nextOf[tail]) = s;
    tail = s;
  }
  void respace() {
    int64_t at = 0;
    for (int s = head; s >= 0; s = nextOf[s], at += kGap)
      label[s] = at;
  }

  int nodes;
  int head = -1, tail = -1;
  std::vector<int64_t> label;
  std::vector<int> prevOf, nextOf;
};

class Replay {
public:
  Replay(const StepGraph &graph, const RematPlan &plan)
      : graph_(graph), plan_(plan), users_(graph.tensors.size()),
        order_(static_cast<int>(graph.nodes.size())) {
    for (auto [id, tensor] : llvm::enumerate(graph.tensors))
      users_[id].assign(tensor.readers.begin(), tensor.readers.end());
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
  int64_t position(Item item) const { return order_.position(item); }

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
      const ops::OpDef *def = lookupOpDef(n.op);
      if (def && def->regeneratesMaskAlone(n.outputs.size(), [&](unsigned i) {
            return needed.contains(n.outputs[i]);
          })) {
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
    order_.insertBefore(code, first);
    evaluation_.regions.push_back(region);
    distributed_.emplace_back();
    targets_.emplace_back();
    targetReaders_.emplace_back();
    gatherReaders_.emplace_back();
    readersOfRegion_.emplace_back();
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
        gatherReaders_[r].emplace_back(id, dropBackwardUsers(id));
        continue;
      }
      users_[id].push_back(code);
    }
    for (int id : group.discarded) {
      int r = static_cast<int>(evaluation_.regions.size()) - 1;
      targetReaders_[r].emplace_back(id, dropBackwardUsers(id));
      rebuiltBy_[id] = r;
      targets_[r].push_back(id);
    }
  }

  /// A region reads what another region rebuilds from that region.
  void readRebuiltValues() {
    for (auto [index, region] : llvm::enumerate(evaluation_.regions)) {
      Item code = regionItem(static_cast<int>(index));
      for (int id : region.inputs)
        if (auto it = rebuiltBy_.find(id); it != rebuiltBy_.end()) {
          llvm::erase(users_[id], code);
          sourceOf_[{static_cast<int>(index), id}] = it->second;
          readersOfRegion_[it->second].push_back(static_cast<int>(index));
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

  void moveBefore(Item item, Item before) { order_.moveBefore(item, before); }

  /// --ckpt-schedule: each region just before its first reader.
  void schedule() {
    std::vector<Item> regions;
    order_.forEach([&](Item item) {
      if (isRegion(item))
        regions.push_back(item);
    });
    for (Item item : regions) {
      int r = -item - 1;
      std::vector<Item> readers;
      for (auto &[tensor, nodes] : targetReaders_[r])
        readers.insert(readers.end(), nodes.begin(), nodes.end());
      for (auto &[tensor, nodes] : gatherReaders_[r])
        readers.insert(readers.end(), nodes.begin(), nodes.end());
      for (int reader : readersOfRegion_[r])
        readers.push_back(regionItem(reader));
      if (readers.empty())
        continue;
      Item first = *llvm::min_element(
          readers, [&](Item a, Item b) { return position(a) < position(b); });
      if (order_.next(item) != first)
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
    llvm::DenseMap<int, int> shardOf;
    llvm::DenseMap<int, std::vector<int>> shardsAfter; ///< Producer -> shards.
    for (int id : shardOrder_) {
      shardOf[id] = fresh(bytes[id] / plan_.tensorParallelSize);
      // Each shard goes right after its producer, before earlier ones.
      auto &list = shardsAfter[graph_.tensors[id].producer];
      list.insert(list.begin(), id);
    }
    llvm::DenseMap<std::pair<int, int>, int> copyOf, gatherOf;
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
    /// (node, tensor) -> the copy the node reads instead.
    llvm::DenseMap<std::pair<int, int>, int> replaced;
    for (auto [r, readers] : llvm::enumerate(targetReaders_))
      for (auto &[tensor, nodes] : readers)
        for (int node : nodes)
          replaced[{node, tensor}] = copyOf.at({static_cast<int>(r), tensor});
    for (auto [r, readers] : llvm::enumerate(gatherReaders_))
      for (auto &[tensor, nodes] : readers)
        for (int node : nodes)
          replaced[{node, tensor}] = gatherOf.at({static_cast<int>(r), tensor});

    std::vector<std::vector<int>> reads, writes;
    auto step = [&](std::vector<int> inputs, std::vector<int> outputs) {
      reads.push_back(std::move(inputs));
      writes.push_back(std::move(outputs));
    };
    std::vector<Item> items;
    order_.forEach([&](Item item) { items.push_back(item); });
    for (Item item : items) {
      if (!isRegion(item)) {
        const StepNode &n = graph_.nodes[item];
        std::vector<int> inputs(n.inputs.begin(), n.inputs.end());
        if (n.phase == Phase::Backward)
          for (int &id : inputs)
            if (auto copy = replaced.find({item, id}); copy != replaced.end())
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
  ItemOrder order_;
  llvm::DenseSet<int> discarded_;
  llvm::DenseSet<Value> replicated_;
  llvm::DenseMap<int, int> rebuiltBy_; ///< Discarded tensor -> its region.
  /// Per region: the inputs it gathers from shards, and what it discards.
  std::vector<std::vector<int>> distributed_, targets_;
  /// The shards in the order the rewrite makes them.
  std::vector<int> shardOrder_;
  /// Per region, (tensor, the backward nodes that read the region's copy
  /// of that discarded tensor, or its gathered copy of a distributed
  /// input).
  std::vector<std::vector<std::pair<int, std::vector<int>>>> targetReaders_,
      gatherReaders_;
  /// (region, input) -> the region that rebuilds that input for it.
  llvm::DenseMap<std::pair<int, int>, int> sourceOf_;
  /// Per region, the regions that read what it rebuilds.
  std::vector<std::vector<int>> readersOfRegion_;
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
