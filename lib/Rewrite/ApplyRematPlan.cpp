//===- ApplyRematPlan.cpp - One rewrite for every remat plan --------------===//
//
// Each group of a plan becomes one ckpt.recompute region before the first
// backward reader of its discarded values. It re-runs the group's ops from
// the values the group reads from outside (which stay kept, as a
// checkpointed function keeps its inputs); its results replace the
// discarded values in the backward. The forward producers whose results the
// backward no longer reads are marked `ckpt.remat = "recompute"`.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Rewrite/PlanBinding.h"
#include "ckpt/Rewrite/RematPlan.h"
#include "ckpt/Rewrite/RematPolicy.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

#include <algorithm>
#include <functional>
#include <tuple>

using namespace mlir;
using namespace ckpt;

namespace {

/// Megatron's distribute_saved_activations: each activation a full-recompute
/// region starts from is sharded along its first dimension right after it
/// is made (each rank keeps 1/t; one shard however many regions read it),
/// and the region all-gathers it back first.
SmallVector<std::pair<Value, Value>>
distributeInputs(OpBuilder &builder, RecomputeOp region, ArrayRef<Value> inputs,
                 int64_t t, IRMapping &mapping,
                 const llvm::SetVector<Operation *> &groupOps,
                 const llvm::DenseSet<Value> &discarded,
                 const llvm::DenseSet<Value> &replicated,
                 llvm::DenseMap<Value, Value> &shards) {
  SmallVector<std::pair<Value, Value>> distributed;
  OpBuilder::InsertionGuard guard(builder);
  Block &block = region.getBody().front();
  auto groupName = builder.getStringAttr("tp");
  auto size = builder.getI64IntegerAttr(t);
  auto dim = builder.getI64IntegerAttr(0);
  for (auto [index, input] : llvm::enumerate(inputs)) {
    // What another region rebuilds is read from it (readRebuiltValues).
    if (!isDistributable(input, t, replicated) || discarded.contains(input))
      continue;
    auto type = cast<RankedTensorType>(input.getType());
    // Tags of the first op of the group that reads it: the report counts
    // the shard there.
    Operation *reader = nullptr;
    for (Operation *user : input.getUsers())
      if (groupOps.contains(user) && (!reader || user->isBeforeInBlock(reader)))
        reader = user;
    Value &shard = shards[input];
    if (!shard) {
      Operation *producer = input.getDefiningOp();
      SmallVector<int64_t> shape(type.getShape());
      shape[0] /= t;
      auto shardType = RankedTensorType::get(shape, type.getElementType());
      builder.setInsertionPointAfter(producer);
      auto made = builder.create<ShardOp>(producer->getLoc(), shardType, input,
                                          groupName, size, dim);
      if (reader)
        for (StringRef name :
             {xf::XFDialect::kModuleAttrName, xf::XFDialect::kLayerAttrName})
          if (Attribute tag = reader->getAttr(name))
            made->setAttr(name, tag);
      shard = made;
    }
    region->setOperand(index, shard);
    BlockArgument arg = block.getArgument(index);
    arg.setType(shard.getType());
    builder.setInsertionPointToStart(&block);
    auto gather =
        builder.create<AllGatherOp>(region.getLoc(), type, arg, groupName, size,
                                    dim, builder.getBoolAttr(true));
    if (reader)
      for (StringRef name :
           {xf::XFDialect::kModuleAttrName, xf::XFDialect::kLayerAttrName})
        if (Attribute tag = reader->getAttr(name))
          gather->setAttr(name, tag);
    gather->setAttr(xf::XFDialect::kPhaseAttrName,
                    builder.getStringAttr("recompute"));
    mapping.map(input, gather.getResult());
    distributed.emplace_back(input, gather.getResult());
  }
  return distributed;
}

} // namespace

RecomputeGroup ckpt::makeRecomputeGroup(const StepGraph &graph,
                                        std::string label,
                                        std::optional<int64_t> layer,
                                        const std::vector<int> &candidates,
                                        bool discardOutputs) {
  RecomputeGroup group;
  group.label = std::move(label);
  group.layer = layer;
  llvm::DenseSet<int> members(candidates.begin(), candidates.end());
  for (int index : candidates) {
    const StepNode &node = graph.nodes[index];
    if (getRematAnnotation(node.op) == RematAnnotation::Save)
      continue;
    group.nodes.push_back(index);
    for (int id : node.outputs) {
      const StepTensor &tensor = graph.tensors[id];
      if (!tensor.kept)
        continue;
      bool output = llvm::any_of(tensor.readers, [&](int reader) {
        return graph.nodes[reader].phase == Phase::Forward &&
               !members.contains(reader);
      });
      // A group's output stays kept, unless the op is annotated to be
      // recomputed: the annotation wins ("recompute" whatever the policy).
      if (output && !discardOutputs &&
          getRematAnnotation(node.op) != RematAnnotation::Recompute)
        continue;
      group.discarded.push_back(id);
    }
  }
  return group;
}

namespace {

/// What one region re-runs: ops in forward order, and the dropouts of which
/// it regenerates only the mask.
struct RegionContents {
  SmallVector<Operation *> ops;
  llvm::DenseSet<Operation *> maskOnly;
};

/// Whether `value` is read at or after `point` (an op of the step's block),
/// counting a reader inside a region as the region.
bool isAliveAt(Value value, Operation *point) {
  Block *block = point->getBlock();
  return llvm::any_of(value.getUsers(), [&](Operation *user) {
    Operation *ancestor = block->findAncestorOpInBlock(*user);
    return ancestor && (ancestor == point || point->isBeforeInBlock(ancestor));
  });
}

/// Whether every backward reader of `value` is `point` or after it, so that
/// they may read a copy `point` makes.
bool isReadInBackwardOnlyFrom(Value value, Operation *point) {
  Block *block = point->getBlock();
  return llvm::all_of(value.getUsers(), [&](Operation *user) {
    Operation *ancestor = block->findAncestorOpInBlock(*user);
    return !ancestor || getPhase(ancestor) != Phase::Backward ||
           ancestor == point || point->isBeforeInBlock(ancestor);
  });
}

/// The group's ops that produce `targets`, walking back from them: an op
/// none of whose results is needed is dead; a dropout needed only for its
/// mask reads nothing; a value the backward keeps anyway and still reads at
/// the region (`insertion`) is read instead of rebuilt, which never lengthens
/// its life. When the region's inputs are distributed over `shards` ranks,
/// such a value becomes a shard too, which the backward can read back whole
/// only if it reads it nowhere before the region: otherwise it is rebuilt.
RegionContents selectNeededOps(const StepGraph &graph,
                               const RecomputeGroup &group,
                               ArrayRef<Value> targets,
                               const llvm::DenseSet<Value> &discarded,
                               Operation *insertion, int64_t shards,
                               const llvm::DenseSet<Value> &replicated) {
  llvm::DenseSet<Operation *> members;
  for (int index : group.nodes)
    members.insert(graph.nodes[index].op);
  llvm::DenseSet<Value> needed(targets.begin(), targets.end());
  RegionContents contents;
  for (int index : llvm::reverse(group.nodes)) {
    Operation *op = graph.nodes[index].op;
    auto isNeeded = [&](Value value) { return needed.contains(value); };
    if (llvm::none_of(op->getResults(), isNeeded))
      continue;
    contents.ops.push_back(op);
    const ops::OpDef *def = lookupOpDef(op);
    if (def && def->regeneratesMaskAlone(op->getNumResults(), [&](unsigned i) {
          return needed.contains(op->getResult(i));
        })) {
      contents.maskOnly.insert(op);
      continue;
    }
    for (Value operand : op->getOperands()) {
      if (!members.contains(operand.getDefiningOp()))
        continue;
      int id = graph.tensorOf(operand);
      bool keptAnyway =
          id >= 0 && graph.tensors[id].kept && !discarded.contains(operand) &&
          isAliveAt(operand, insertion) &&
          (shards <= 1 || !isDistributable(operand, shards, replicated) ||
           isReadInBackwardOnlyFrom(operand, insertion));
      if (!keptAnyway)
        needed.insert(operand);
    }
  }
  std::reverse(contents.ops.begin(), contents.ops.end());
  return contents;
}

/// Every op of the group, as a whole re-execution runs them.
RegionContents selectAllOps(const StepGraph &graph,
                            const RecomputeGroup &group) {
  RegionContents contents;
  for (int index : group.nodes)
    contents.ops.push_back(graph.nodes[index].op);
  return contents;
}

/// The copy of `op` in a region: a clone, or its mask regenerated alone by
/// the op table's maskOp (xf.dropout_mask for a dropout), with the op's
/// attributes that the mask op takes (the probability and random stream).
Operation *copyIntoRegion(OpBuilder &builder, Operation *op, bool maskOnly,
                          IRMapping &mapping) {
  Operation *copy;
  if (maskOnly) {
    const ops::OpDef *def = lookupOpDef(op);
    const ops::OpDef *maskDef = ops::lookupOp(def->maskOp);
    Value mask = op->getResult(def->maskOutput);
    OperationState state(
        op->getLoc(),
        (op->getName().getDialectNamespace() + "." +
         llvm::StringRef(maskDef->name.data(), maskDef->name.size()))
            .str());
    state.addTypes(mask.getType());
    for (const ops::AttrSpec &spec : maskDef->attrs) {
      llvm::StringRef name(spec.name.data(), spec.name.size());
      if (Attribute value = op->getAttr(name))
        state.addAttribute(name, value);
    }
    copy = builder.create(state);
    // Its tags (module, layer, pipeline chunk) are the op's.
    for (NamedAttribute tag : op->getDiscardableAttrs())
      copy->setAttr(tag.getName(), tag.getValue());
    mapping.map(mask, copy->getResult(0));
  } else {
    copy = builder.clone(*op, mapping);
  }
  setRematAnnotation(copy, RematAnnotation::None);
  copy->setAttr(xf::XFDialect::kPhaseAttrName,
                builder.getStringAttr("recompute"));
  return copy;
}

/// A region that starts from a value another group discards reads that
/// group's result instead of the forward value, which would otherwise stay
/// alive into the backward (selective mlp with layernorm: Megatron frees a
/// discarded norm output even though the MLP checkpoint saved it). The
/// region that rebuilds the value moves before its reader when needed.
void readRebuiltValues(ArrayRef<RecomputeOp> regions,
                       const llvm::DenseMap<Value, Value> &rebuilt) {
  for (RecomputeOp region : regions)
    for (OpOperand &operand : region->getOpOperands())
      if (Value replacement = rebuilt.lookup(operand.get()))
        operand.set(replacement);
  llvm::DenseSet<Operation *> hoisting;
  std::function<void(RecomputeOp, Operation *)> hoist = [&](RecomputeOp region,
                                                            Operation *reader) {
    if (region->isBeforeInBlock(reader) || !hoisting.insert(region).second)
      return;
    region->moveBefore(reader);
    for (Value input : region.getInputs())
      if (auto producer = input.getDefiningOp<RecomputeOp>())
        hoist(producer, region);
    hoisting.erase(region);
  };
  for (RecomputeOp region : regions)
    for (Value input : region.getInputs())
      if (auto producer = input.getDefiningOp<RecomputeOp>())
        hoist(producer, region);
}

/// A plan file's shards are those the rewrite makes: each input of a
/// recompute region that can be split (ckpt/Analysis/Replication.h).
LogicalResult checkShards(const StepGraph &graph, ArrayRef<int> expected,
                          ArrayRef<int> made) {
  for (auto [list, other, says] :
       {std::tuple(expected, made,
                   "the plan places it as a shard, but no "
                   "recompute region starts from it whole"),
        std::tuple(made, expected,
                   "the plan keeps it whole, but a recompute region starts "
                   "from it and every region input that can be split is a "
                   "shard")})
    for (int id : list)
      if (!llvm::is_contained(other, id))
        return graph.nodes[graph.tensors[id].producer].op->emitError()
               << "value '" << PlanNames(graph).value(id) << "': " << says;
  return success();
}

} // namespace

namespace {

/// One application of a plan: a region per group, then the marks on the
/// forward producers.
class PlanRewrite {
public:
  PlanRewrite(const StepGraph &graph, const RematPlan &plan,
              RegionOps regionOps)
      : graph(graph), plan(plan), regionOps(regionOps),
        builder(graph.step.getContext()) {
    for (const RecomputeGroup &group : plan.groups)
      for (int id : group.discarded)
        discarded.insert(graph.tensors[id].value);
    if (plan.distributeInputs)
      replicated = replicatedValues(graph.step);
  }

  FailureOr<RematResult> run() {
    if (failed(checkDisjoint()))
      return failure();
    for (const RecomputeGroup &group : plan.groups)
      if (!group.discarded.empty())
        rewriteGroup(group);
    readRebuiltValues(regions, rebuilt);
    for (auto &[input, shard] : shards)
      result.sharded.push_back(graph.tensorOf(input));
    llvm::sort(result.sharded);
    if (plan.expectedShards &&
        failed(checkShards(graph, *plan.expectedShards, result.sharded)))
      return failure();
    if (result.regions > 0 && failed(markForwardProducers()))
      return failure();
    if (failed(verifyRemat(graph.step)))
      return failure();
    return std::move(result);
  }

private:
  /// One op re-run by two regions would be computed twice: refused before
  /// anything is rewritten.
  LogicalResult checkDisjoint() const {
    llvm::DenseMap<int, const RecomputeGroup *> owner;
    for (const RecomputeGroup &group : plan.groups)
      for (int index : group.nodes) {
        auto [it, inserted] = owner.try_emplace(index, &group);
        if (!inserted)
          return graph.nodes[index].op->emitError()
                 << "is in two recompute groups of the plan, '"
                 << it->second->label << "' and '" << group.label
                 << "'; the groups of a plan must be disjoint";
      }
    return success();
  }

  int64_t shardCount() const {
    return plan.distributeInputs ? plan.tensorParallelSize : 1;
  }

  /// The values the region reads from outside, in the order its ops read
  /// them; they stay kept.
  static SmallVector<Value>
  regionInputs(const llvm::SetVector<Operation *> &needed,
               const RegionContents &contents) {
    SmallVector<Value> inputs;
    llvm::SetVector<Value> seen;
    for (Operation *op : needed) {
      if (contents.maskOnly.contains(op))
        continue;
      for (Value operand : op->getOperands())
        if (!needed.contains(operand.getDefiningOp()) && seen.insert(operand))
          inputs.push_back(operand);
    }
    return inputs;
  }

  /// What re-running the whole group would cost, for the reports: its ops
  /// and the same gathers (which cost no FLOPs).
  void recordSpan(RecomputeOp region, const RecomputeGroup &group,
                  ArrayRef<std::pair<Value, Value>> gathered) const {
    OpCost span;
    int64_t spanBytes = 0;
    for (int index : group.nodes) {
      const OpCost &cost = graph.cost(index);
      span.matmulFlops += cost.matmulFlops;
      span.otherFlops += cost.otherFlops;
      for (int id : graph.nodes[index].outputs)
        spanBytes += graph.tensors[id].bytes;
    }
    for (auto &[input, whole] : gathered)
      spanBytes += getTensorBytes(whole.getType());
    region.setSpanMatmulFlops(span.matmulFlops);
    region.setSpanOtherFlops(span.otherFlops);
    region.setSpanBytes(spanBytes);
  }

  /// The group's region before the first backward reader of what it
  /// discards; the backward reads the region's results instead.
  void rewriteGroup(const RecomputeGroup &group) {
    SmallVector<Value> targets;
    for (int id : group.discarded)
      targets.push_back(graph.tensors[id].value);
    Operation *firstReader = nullptr;
    for (Value value : targets)
      for (Operation *user : value.getUsers())
        if (getPhase(user) != Phase::Forward &&
            (!firstReader || user->isBeforeInBlock(firstReader)))
          firstReader = user;

    RegionContents contents =
        regionOps == RegionOps::All
            ? selectAllOps(graph, group)
            : selectNeededOps(graph, group, targets, discarded, firstReader,
                              shardCount(), replicated);
    result.removedOps +=
        static_cast<int>(group.nodes.size() - contents.ops.size());
    llvm::SetVector<Operation *> needed(contents.ops.begin(),
                                        contents.ops.end());
    SmallVector<Value> orderedInputs = regionInputs(needed, contents);

    SmallVector<Type> types;
    for (Value target : targets)
      types.push_back(target.getType());
    // Distributed inputs come back whole from the region, for the backward
    // ops that read them.
    SmallVector<Value> distributedInputs;
    if (plan.distributeInputs)
      for (Value input : orderedInputs)
        if (isDistributable(input, plan.tensorParallelSize, replicated) &&
            !discarded.contains(input)) {
          distributedInputs.push_back(input);
          types.push_back(input.getType());
        }

    builder.setInsertionPoint(firstReader);
    auto region = builder.create<RecomputeOp>(firstReader->getLoc(), types,
                                              orderedInputs, group.label);
    region->setAttr(xf::XFDialect::kPhaseAttrName,
                    builder.getStringAttr("recompute"));
    if (group.layer)
      region->setAttr(xf::XFDialect::kLayerAttrName,
                      builder.getI64IntegerAttr(*group.layer));
    Block &regionBlock = region.getBody().front();
    IRMapping mapping;
    mapping.map(orderedInputs, regionBlock.getArguments());
    builder.setInsertionPointToStart(&regionBlock);
    SmallVector<std::pair<Value, Value>> gathered;
    if (plan.distributeInputs)
      gathered = distributeInputs(builder, region, orderedInputs,
                                  plan.tensorParallelSize, mapping, needed,
                                  discarded, replicated, shards);
    if (regionOps == RegionOps::All)
      region.setWholeSpan(true);
    else
      recordSpan(region, group, gathered);
    int64_t transient = 0;
    for (Operation *op : needed) {
      rerun.insert(op);
      Operation *copy =
          copyIntoRegion(builder, op, contents.maskOnly.contains(op), mapping);
      for (Value value : copy->getResults())
        transient += getTensorBytes(value.getType());
    }
    SmallVector<Value> yielded;
    for (Value target : targets)
      yielded.push_back(mapping.lookup(target));
    for (auto &[input, whole] : gathered)
      yielded.push_back(whole);
    builder.create<YieldOp>(region.getLoc(), yielded);

    for (auto [index, input] : llvm::enumerate(distributedInputs))
      input.replaceUsesWithIf(
          region.getResult(targets.size() + index), [&](OpOperand &use) {
            return getPhase(use.getOwner()) == Phase::Backward;
          });
    for (auto [target, replacement] : llvm::zip(targets, region.getResults())) {
      target.replaceUsesWithIf(replacement, [&](OpOperand &use) {
        Operation *owner = use.getOwner();
        return owner != region && getPhase(owner) == Phase::Backward;
      });
      rebuilt[target] = replacement;
    }
    regions.push_back(region);

    ++result.regions;
    if (transient > result.largestTransientBytes) {
      result.largestTransientBytes = transient;
      result.largestLabel = group.label;
    }
  }

  /// Records the decision on the forward producers, read from the graph of
  /// the rewritten step: every op a region re-runs none of whose results is
  /// still kept, and every producer all of whose kept results were
  /// discarded.
  LogicalResult markForwardProducers() {
    FailureOr<StepGraph> rewritten = StepGraph::build(graph.step);
    if (failed(rewritten))
      return failure();
    auto kept = [&](Value value) {
      int id = rewritten->tensorOf(value);
      return id >= 0 && rewritten->tensors[id].kept;
    };
    for (Operation *op : rerun)
      if (llvm::none_of(op->getResults(), kept))
        setRematAnnotation(op, RematAnnotation::Recompute);
    for (Value value : discarded) {
      Operation *producer = value.getDefiningOp();
      bool allGone = llvm::all_of(producer->getResults(), [&](Value result) {
        return !kept(result) || discarded.contains(result);
      });
      if (allGone)
        setRematAnnotation(producer, RematAnnotation::Recompute);
    }
    result.graph = std::move(*rewritten);
    return success();
  }

  const StepGraph &graph;
  const RematPlan &plan;
  RegionOps regionOps;
  OpBuilder builder;
  RematResult result;
  llvm::DenseSet<Value> discarded;
  llvm::DenseSet<Value> replicated;
  /// The ops the regions re-run, for the ckpt.remat marks.
  llvm::DenseSet<Operation *> rerun;
  SmallVector<RecomputeOp> regions;
  llvm::DenseMap<Value, Value> rebuilt; ///< Discarded value -> region result.
  llvm::DenseMap<Value, Value> shards;  ///< Distributed input -> its shard.
};

} // namespace

FailureOr<RematResult> ckpt::applyRematPlan(const StepGraph &graph,
                                            const RematPlan &plan,
                                            RegionOps regionOps) {
  MLIRContext *context = graph.step.getContext();
  context->getOrLoadDialect<CkptDialect>();
  context->getOrLoadDialect<xf::XFDialect>();
  return PlanRewrite(graph, plan, regionOps).run();
}

void ckpt::scheduleRecomputeRegions(func::FuncOp step) {
  Block &block = step.getBody().front();
  SmallVector<RecomputeOp> regions(block.getOps<RecomputeOp>());
  for (RecomputeOp region : regions) {
    Operation *first = nullptr;
    for (Operation *user : region->getUsers()) {
      Operation *top = block.findAncestorOpInBlock(*user);
      if (!first || top->isBeforeInBlock(first))
        first = top;
    }
    if (first && first != region->getNextNode())
      region->moveBefore(first);
  }
}

LogicalResult ckpt::verifyRemat(func::FuncOp step) {
  bool ok = true;
  for (Operation &op : step.getBody().front()) {
    if (getPhase(&op) != Phase::Backward)
      continue;
    for (auto [index, operand] : llvm::enumerate(op.getOperands())) {
      Operation *producer = operand.getDefiningOp();
      if (!producer || getPhase(producer) != Phase::Forward ||
          getRematAnnotation(producer) != RematAnnotation::Recompute)
        continue;
      InFlightDiagnostic diag =
          op.emitOpError()
          << "operand #" << index
          << " reads a forward value that the recompute policy discards (its "
             "producer '"
          << producer->getName()
          << "' is marked ckpt.remat = \"recompute\"); the backward must "
             "read it from a ckpt.recompute region";
      diag.attachNote(producer->getLoc()) << "discarded value produced here";
      ok = false;
    }
  }
  return success(ok);
}

FailureOr<RematResult> ckpt::applyRemat(func::FuncOp step,
                                        const RematPolicy &policy,
                                        RegionOps regionOps,
                                        plan::PlacementPlan *placements) {
  // Reported at the module: the function's line is as long as its signature.
  Operation *where = step->getParentOp() ? step->getParentOp() : step;
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  std::string error;
  FailureOr<RematPlan> plan = policy.decide(*graph, error);
  if (failed(plan))
    return mlir::emitError(where->getLoc()) << error;
  // Described before the rewrite, from the step as the policy saw it.
  if (placements)
    *placements =
        describePlan(*graph, *plan, policy.describe(), describeModel(step));
  FailureOr<RematResult> result = applyRematPlan(*graph, *plan, regionOps);
  // Without a region the step, and so its graph, is unchanged.
  if (succeeded(result) && !result->graph)
    result->graph = std::move(*graph);
  return result;
}
