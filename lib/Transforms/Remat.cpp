//===- Remat.cpp - Megatron's recompute policies as a rewrite -------------===//
//
// 1. Group the forward ops the policy recomputes: one group per chunk of
//    layers (full), per layer and module (selective), per annotated op.
// 2. A group discards the values its ops produce that the backward reads,
//    except its outputs (values also read by forward ops outside the group),
//    which their consumers keep as usual. Layer norm is Megatron's
//    output-discarding checkpoint: its output is discarded even though the
//    next linear reads it. `ckpt.remat = "save"` keeps an op's results.
// 3. Each group becomes one ckpt.recompute region before the first backward
//    reader of its discarded values. It re-runs the group's ops from the
//    values the group reads from outside (which stay kept, as a checkpointed
//    function keeps its inputs); its results replace the discarded values in
//    the backward.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Transforms/Remat.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/CkptInterfaces.h"

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include <map>

using namespace mlir;
using namespace ckpt;

int64_t ckpt::countLayers(func::FuncOp step) {
  int64_t layers = 0;
  for (Operation &op : step.getBody().front())
    if (getPhase(&op) == Phase::Forward)
      if (auto layer = xf::getLayer(&op))
        layers = std::max(layers, *layer + 1);
  return layers;
}

namespace {

StringRef rematAnnotation(Operation *op) {
  if (auto attr = op->getAttrOfType<StringAttr>(CkptDialect::kRematAttrName))
    return attr.getValue();
  return {};
}

bool readByBackward(Value value) {
  return llvm::any_of(value.getUsers(), [](Operation *user) {
    return getPhase(user) != Phase::Forward;
  });
}

struct Group {
  std::string label;
  std::optional<int64_t> firstLayer;
  bool discardsOutputs = false; ///< Layer norm and annotated ops.
  llvm::SetVector<Operation *> ops;
  llvm::SetVector<Value> discarded;
};

/// The group key of a forward op under the policy, or none.
std::optional<std::string> groupOf(Operation *op, const RematPolicy &policy,
                                   const std::vector<std::string> &modules,
                                   std::optional<int64_t> &firstLayer,
                                   bool &discardsOutputs) {
  std::optional<int64_t> layer = xf::getLayer(op);
  StringRef module = xf::getModule(op);
  discardsOutputs = false;
  // A policy group takes an op first; an annotation places the ops that no
  // policy group recomputes.
  if (layer && policy.granularity == "full") {
    int64_t n = policy.numLayers;
    if (policy.method == "uniform") {
      int64_t first = *layer / n * n;
      firstLayer = first;
      return "layers " + std::to_string(first) + "-" +
             std::to_string(first + n - 1);
    }
    if (*layer < n) {
      firstLayer = layer;
      return "layer " + std::to_string(*layer);
    }
  }
  if (layer && policy.granularity == "selective" &&
      llvm::is_contained(modules, module.str())) {
    firstLayer = layer;
    discardsOutputs = module == "layernorm";
    return "layer " + std::to_string(*layer) + " " + module.str();
  }
  if (rematAnnotation(op) == "recompute") {
    firstLayer = layer;
    discardsOutputs = true;
    std::string where = layer ? "layer " + std::to_string(*layer) : "outside";
    return where + " " + module.str() + " (annotated)";
  }
  return std::nullopt;
}

bool isDistributable(Value input, int64_t t);

/// Megatron's distribute_saved_activations: each activation a full-recompute
/// region starts from is sharded along its first dimension right after it
/// is made (each rank keeps 1/t), and the region all-gathers it back first.
SmallVector<std::pair<Value, Value>>
distributeInputs(OpBuilder &builder, RecomputeOp region, ArrayRef<Value> inputs,
                 int64_t t, IRMapping &mapping, const Group &group) {
  SmallVector<std::pair<Value, Value>> distributed;
  OpBuilder::InsertionGuard guard(builder);
  Block &block = region.getBody().front();
  for (auto [index, input] : llvm::enumerate(inputs)) {
    Operation *producer = input.getDefiningOp();
    auto type = dyn_cast<RankedTensorType>(input.getType());
    if (!isDistributable(input, t))
      continue;
    // Tags of the first op of the group that reads it: the report counts
    // the shard there.
    Operation *reader = nullptr;
    for (Operation *user : input.getUsers())
      if (group.ops.contains(user) &&
          (!reader || user->isBeforeInBlock(reader)))
        reader = user;
    SmallVector<int64_t> shape(type.getShape());
    shape[0] /= t;
    auto shardType = RankedTensorType::get(shape, type.getElementType());
    auto groupName = builder.getStringAttr("tp");
    auto size = builder.getI64IntegerAttr(t);
    auto dim = builder.getI64IntegerAttr(0);
    builder.setInsertionPointAfter(producer);
    auto shard = builder.create<ShardOp>(producer->getLoc(), shardType, input,
                                         groupName, size, dim);
    region->setOperand(index, shard);
    BlockArgument arg = block.getArgument(index);
    arg.setType(shardType);
    builder.setInsertionPointToStart(&block);
    auto gather =
        builder.create<AllGatherOp>(region.getLoc(), type, arg, groupName, size,
                                    dim, builder.getBoolAttr(true));
    if (reader) {
      for (StringRef name :
           {xf::XFDialect::kModuleAttrName, xf::XFDialect::kLayerAttrName})
        if (Attribute tag = reader->getAttr(name)) {
          shard->setAttr(name, tag);
          gather->setAttr(name, tag);
        }
    }
    gather->setAttr(xf::XFDialect::kPhaseAttrName,
                    builder.getStringAttr("recompute"));
    mapping.map(input, gather.getResult());
    distributed.emplace_back(input, gather.getResult());
  }
  return distributed;
}

/// The inputs distributeInputs shards: activations whose first dimension
/// splits into t pieces.
bool isDistributable(Value input, int64_t t) {
  auto type = dyn_cast<RankedTensorType>(input.getType());
  return input.getDefiningOp() && type && type.getRank() > 0 &&
         type.getDimSize(0) % t == 0;
}

} // namespace

FailureOr<RematResult> ckpt::applyRemat(func::FuncOp step,
                                        const RematPolicy &policy) {
  int64_t layers = countLayers(step);
  std::string problem = validateRematPolicy(policy, layers);
  // Reported at the module: the function's line is as long as its signature.
  Operation *where = step->getParentOp() ? step->getParentOp() : step;
  if (!problem.empty())
    return mlir::emitError(where->getLoc()) << problem;
  Block &body = step.getBody().front();
  MLIRContext *context = step.getContext();
  context->getOrLoadDialect<CkptDialect>();

  // Distributed saved activations need the tensor-parallel size of the
  // graph, and exclude sequence parallelism (as in Megatron).
  int64_t tensorParallel = 1;
  bool sequenceParallel = false;
  for (auto &[key, value] : describeModel(step)) {
    if (key == "tensor_model_parallel_size")
      tensorParallel = std::stoll(value);
    if (key == "sequence_parallel")
      sequenceParallel = value == "true";
  }
  if (policy.distributeSavedActivations) {
    std::string why;
    if (tensorParallel <= 1)
      why = "distribute-saved-activations needs a tensor-parallel graph "
            "(tensor_model_parallel_size > 1)";
    else if (sequenceParallel)
      why = "distribute-saved-activations cannot be combined with sequence "
            "parallelism";
    if (!why.empty())
      return mlir::emitError(where->getLoc()) << why;
  }

  // 1. Groups.
  std::vector<std::string> modules = policy.selectiveModules();
  // Groups in the order their first op appears.
  std::vector<Group> groups;
  std::map<std::string, size_t> groupIndex;
  for (Operation &op : body) {
    if (getPhase(&op) != Phase::Forward || isa<func::ReturnOp>(op))
      continue;
    std::optional<int64_t> firstLayer;
    bool discardsOutputs = false;
    std::optional<std::string> key =
        groupOf(&op, policy, modules, firstLayer, discardsOutputs);
    if (!key)
      continue;
    auto [it, inserted] = groupIndex.try_emplace(*key, groups.size());
    if (inserted)
      groups.emplace_back();
    Group &group = groups[it->second];
    group.label = *key;
    group.firstLayer = firstLayer;
    group.discardsOutputs |= discardsOutputs;
    group.ops.insert(&op);
  }

  // 2. What each group discards.
  llvm::DenseSet<Value> discarded;
  for (Group &group : groups) {
    for (Operation *op : group.ops) {
      if (rematAnnotation(op) == "save")
        continue;
      for (Value result : op->getResults()) {
        if (!readByBackward(result))
          continue;
        bool output = llvm::any_of(result.getUsers(), [&](Operation *user) {
          return getPhase(user) == Phase::Forward && !group.ops.contains(user);
        });
        if (output && !group.discardsOutputs)
          continue;
        group.discarded.insert(result);
        discarded.insert(result);
      }
    }
  }

  // 3. One region per group, in the order of their first backward reader.
  RematResult result;
  OpBuilder builder(context);
  for (Group &group : groups) {
    if (group.discarded.empty())
      continue;
    Operation *firstReader = nullptr;
    for (Value value : group.discarded)
      for (Operation *user : value.getUsers())
        if (getPhase(user) != Phase::Forward &&
            (!firstReader || user->isBeforeInBlock(firstReader)))
          firstReader = user;

    // The copy re-runs the whole group, as a checkpointed function is
    // re-run in Megatron (this is what the paper's FLOP counts assume);
    // it starts from the values the group reads from outside and from
    // results annotated "save", which stay kept.
    llvm::SetVector<Operation *> needed;
    for (Operation *op : group.ops)
      if (rematAnnotation(op) != "save")
        needed.insert(op);
    llvm::SetVector<Value> inputs;
    for (Operation *op : needed)
      for (Value operand : op->getOperands())
        if (!needed.contains(operand.getDefiningOp()))
          inputs.insert(operand);
    SmallVector<Operation *> ordered(needed.begin(), needed.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    // Inputs in the order the copies first read them.
    SmallVector<Value> orderedInputs;
    llvm::SetVector<Value> seen;
    for (Operation *op : ordered)
      for (Value operand : op->getOperands())
        if (inputs.contains(operand) && seen.insert(operand))
          orderedInputs.push_back(operand);

    SmallVector<Value> targets(group.discarded.begin(), group.discarded.end());
    SmallVector<Type> types;
    for (Value target : targets)
      types.push_back(target.getType());
    // Distributed inputs come back whole from the region, for the backward
    // ops that read them.
    bool distribute =
        policy.distributeSavedActivations && policy.granularity == "full";
    SmallVector<Value> distributedInputs;
    if (distribute)
      for (Value input : orderedInputs)
        if (isDistributable(input, tensorParallel)) {
          distributedInputs.push_back(input);
          types.push_back(input.getType());
        }

    builder.setInsertionPoint(firstReader);
    auto region = builder.create<RecomputeOp>(firstReader->getLoc(), types,
                                              orderedInputs, group.label);
    region->setAttr(xf::XFDialect::kPhaseAttrName,
                    builder.getStringAttr("recompute"));
    if (group.firstLayer)
      region->setAttr(xf::XFDialect::kLayerAttrName,
                      builder.getI64IntegerAttr(*group.firstLayer));
    Block &regionBlock = region.getBody().front();
    IRMapping mapping;
    mapping.map(orderedInputs, regionBlock.getArguments());
    builder.setInsertionPointToStart(&regionBlock);
    SmallVector<std::pair<Value, Value>> gathered;
    if (distribute)
      gathered = distributeInputs(builder, region, orderedInputs,
                                  tensorParallel, mapping, group);
    int64_t transient = 0;
    for (Operation *op : ordered) {
      Operation *copy = builder.clone(*op, mapping);
      copy->removeAttr(CkptDialect::kRematAttrName);
      copy->setAttr(xf::XFDialect::kPhaseAttrName,
                    builder.getStringAttr("recompute"));
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
    for (auto [target, replacement] : llvm::zip(targets, region.getResults()))
      target.replaceUsesWithIf(replacement, [&](OpOperand &use) {
        Operation *owner = use.getOwner();
        return owner != region && getPhase(owner) == Phase::Backward;
      });

    ++result.regions;
    if (transient > result.largestTransientBytes) {
      result.largestTransientBytes = transient;
      result.largestLabel = group.label;
    }
  }

  // Record the decision on the forward producers: every op a region re-runs
  // whose results the backward no longer reads directly.
  Builder attrs(context);
  for (Group &group : groups)
    if (!group.discarded.empty())
      for (Operation *op : group.ops)
        if (rematAnnotation(op) != "save" &&
            llvm::none_of(op->getResults(), readByBackward))
          op->setAttr(CkptDialect::kRematAttrName,
                      attrs.getStringAttr("recompute"));
  for (Value value : discarded) {
    Operation *producer = value.getDefiningOp();
    bool allGone = llvm::all_of(producer->getResults(), [&](Value result) {
      return !readByBackward(result) || discarded.contains(result);
    });
    if (allGone)
      producer->setAttr(CkptDialect::kRematAttrName,
                        attrs.getStringAttr("recompute"));
  }
  if (failed(verifyRemat(step)))
    return failure();
  return result;
}

LogicalResult ckpt::verifyRemat(func::FuncOp step) {
  bool ok = true;
  for (Operation &op : step.getBody().front()) {
    if (getPhase(&op) != Phase::Backward)
      continue;
    for (auto [index, operand] : llvm::enumerate(op.getOperands())) {
      Operation *producer = operand.getDefiningOp();
      if (!producer || getPhase(producer) != Phase::Forward ||
          rematAnnotation(producer) != "recompute")
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
