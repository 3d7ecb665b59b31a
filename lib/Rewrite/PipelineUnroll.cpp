//===- PipelineUnroll.cpp - Unroll a stage's micro-batch schedule ---------===//
//
// The training step of one micro-batch becomes the stage's step: each
// chunk's forward and backward copied per micro-batch, in the schedule's
// order, gradients accumulated. The memory planner then sees the
// activations of the micro-batches in flight overlap exactly as the
// schedule makes them, and the runtime runs the program as it is.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/PipelineUnroll.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Rewrite/PipelineSchedule.h"
#include "ckpt/Rewrite/StepLookup.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace ckpt;

namespace {

/// Dropout streams of micro-batch j: the op's stream + j·2^20, so that every
/// micro-batch draws its own masks and a recompute redraws its own.
constexpr int64_t kStreamsPerMicroBatch = int64_t(1) << 20;

/// Checks what the verifier cannot: room for every micro-batch's streams,
/// and the interleaved schedule's multiple.
LogicalResult checkPipeline(ModuleOp module, const PipelineShape &p) {
  if (p.microBatches * kStreamsPerMicroBatch > (int64_t(1) << 32))
    return module.emitError()
           << "at most " << ((int64_t(1) << 32) / kStreamsPerMicroBatch)
           << " micro-batches: each draws its dropout masks from 2^20 "
              "streams of the generator's 2^32; got "
           << p.microBatches;
  if (p.virtualStages > 1 && p.microBatches % p.stages != 0)
    return module.emitError()
           << "the interleaved schedule needs the micro-batches ("
           << p.microBatches << ") to be a multiple of the stages (" << p.stages
           << ")";
  return success();
}

bool isBackward(Operation *op) {
  if (isa<RecomputeOp>(op))
    return true;
  auto phase = op->getAttrOfType<StringAttr>(xf::XFDialect::kPhaseAttrName);
  return phase && phase.getValue() != "forward";
}

/// The chunk an op belongs to: its tag, or for a region its body's.
std::optional<int64_t> chunkOf(Operation *op) {
  std::optional<int64_t> chunk;
  op->walk([&](Operation *inner) {
    if (auto attr =
            inner->getAttrOfType<IntegerAttr>(CkptDialect::kChunkAttrName)) {
      chunk = attr.getInt();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return chunk;
}

/// One parameter's gradient as the step made it: the contributions of its
/// uses (summed by a chain of ckpt.grad_sum adds), then the collectives
/// applied to the sum.
struct GradientChain {
  SmallVector<Value> contributions;
  SmallVector<Operation *> after; ///< In the order they apply.
};

GradientChain traceGradient(Value grad,
                            llvm::SmallPtrSetImpl<Operation *> &tail) {
  GradientChain chain;
  SmallVector<Operation *> reversed;
  while (auto reduce = grad.getDefiningOp<AllReduceOp>()) {
    if (!grad.hasOneUse())
      break;
    reversed.push_back(reduce);
    grad = reduce.getInput();
  }
  chain.after.assign(reversed.rbegin(), reversed.rend());
  std::function<void(Value)> flatten = [&](Value v) {
    Operation *def = v.getDefiningOp();
    if (def && def->hasAttr(CkptDialect::kGradSumAttrName) && v.hasOneUse()) {
      tail.insert(def);
      flatten(def->getOperand(0));
      flatten(def->getOperand(1));
      return;
    }
    chain.contributions.push_back(v);
  };
  flatten(grad);
  for (Operation *op : chain.after)
    tail.insert(op);
  return chain;
}

/// A stage's step unrolled into its micro-batches in the stage's schedule:
/// the step's ops sorted by chunk and phase, a new function with each
/// micro-batch's inputs, the ops copied per schedule step with gradients
/// accumulated as they are made, and each gradient finished.
class StageUnroller {
public:
  StageUnroller(func::FuncOp step, const PipelineShape &p)
      : step(step), p(p),
        ret(cast<func::ReturnOp>(step.getBody().front().getTerminator())),
        context(step.getContext()), b(context), builder(step) {}

  LogicalResult run() {
    if (failed(sortArguments()) || failed(sortOps()) || failed(checkStreams()))
      return failure();
    createFunction();
    copySchedule();
    SmallVector<Value> results;
    if (failed(finishGradients(results)))
      return failure();
    builder.create<func::ReturnOp>(ret.getLoc(), results);
    // The gradients of bf16 and f16 parameters are f32.
    SmallVector<Type> resultTypes;
    for (Value result : results)
      resultTypes.push_back(result.getType());
    unrolled.setFunctionType(builder.getFunctionType(argTypes, resultTypes));
    step.erase();
    return success();
  }

private:
  /// Per micro-batch the tokens and labels; the parameters once. Each
  /// returned gradient: its contributions and the collectives after.
  LogicalResult sortArguments() {
    for (BlockArgument arg : step.getArguments()) {
      auto role = step.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kRoleAttrName);
      bool input =
          role && (role.getValue() == "tokens" || role.getValue() == "labels");
      (input ? inputs : params).push_back(arg.getArgNumber());
    }
    hasLoss = returnsLoss(step);
    for (unsigned r = hasLoss ? 1 : 0; r < ret.getNumOperands(); ++r)
      chains.push_back(traceGradient(ret.getOperand(r), tail));
    // The training step returns one gradient per parameter, in order.
    if (chains.size() != params.size())
      return step.emitError()
             << "the step returns " << chains.size() << " gradients for "
             << params.size()
             << " parameters (arguments other than the tokens and labels)";
    return success();
  }

  /// Every other op by its phase and chunk, and so the schedule step that
  /// copies it.
  LogicalResult sortOps() {
    forwardParts.resize(p.virtualStages);
    backwardParts.resize(p.virtualStages);
    for (Operation &op : step.getBody().front().without_terminator()) {
      if (tail.contains(&op))
        continue;
      std::optional<int64_t> chunk = chunkOf(&op);
      if (!chunk && p.virtualStages == 1)
        chunk = 0;
      if (!chunk || *chunk < 0 || *chunk >= p.virtualStages)
        return op.emitOpError()
               << "has no model chunk (ckpt.chunk in [0, " << p.virtualStages
               << ")) to place it in the pipeline schedule";
      (isBackward(&op) ? backwardParts : forwardParts)[*chunk].push_back(&op);
    }
    return success();
  }

  /// Micro-batch j's streams are offset by j·2^20: the step's own must be
  /// below that.
  LogicalResult checkStreams() {
    WalkResult streams = step.getBody().walk([&](Operation *op) {
      auto stream = op->getAttrOfType<IntegerAttr>("rng_stream");
      if (stream && stream.getInt() >= kStreamsPerMicroBatch) {
        op->emitOpError() << "has rng_stream " << stream.getInt()
                          << ": a pipelined step's dropout streams must be "
                             "below 2^20 (micro-batch j draws from the "
                             "streams + j·2^20)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    return failure(streams.wasInterrupted());
  }

  /// The new step: tokens and labels per micro-batch, then the parameters;
  /// each micro-batch's mapping of the old arguments.
  void createFunction() {
    SmallVector<DictionaryAttr> argAttrs;
    for (int64_t j = 0; j < p.microBatches; ++j)
      for (unsigned i : inputs) {
        argTypes.push_back(step.getArgument(i).getType());
        NamedAttrList attrs(step.getArgAttrDict(i));
        attrs.set(CkptDialect::kMicroBatchAttrName, b.getI64IntegerAttr(j));
        argAttrs.push_back(attrs.getDictionary(context));
      }
    for (unsigned i : params) {
      argTypes.push_back(step.getArgument(i).getType());
      argAttrs.push_back(step.getArgAttrDict(i) ? step.getArgAttrDict(i)
                                                : b.getDictionaryAttr({}));
    }
    unrolled = builder.create<func::FuncOp>(
        step.getLoc(), step.getName(),
        builder.getFunctionType(argTypes, step.getResultTypes()));
    unrolled.setAllArgAttrs(argAttrs);
    if (ArrayAttr resultAttrs = step.getAllResultAttrs())
      unrolled.setAllResultAttrs(resultAttrs);
    for (NamedAttribute attr : step->getDiscardableAttrs())
      unrolled->setAttr(attr.getName(), attr.getValue());
    Block *entry = unrolled.addEntryBlock();
    builder.setInsertionPointToStart(entry);

    maps.resize(p.microBatches);
    for (int64_t j = 0; j < p.microBatches; ++j) {
      for (auto [k, i] : llvm::enumerate(inputs))
        maps[j].map(step.getArgument(i),
                    entry->getArgument(j * inputs.size() + k));
      for (auto [k, i] : llvm::enumerate(params))
        maps[j].map(step.getArgument(i),
                    entry->getArgument(p.microBatches * inputs.size() + k));
    }
  }

  /// A transfer's tag: the chunk boundary it crosses, its direction and its
  /// micro-batch; the tied gradients' exchange takes tag 0.
  int64_t transferTag(int64_t boundary, bool backward, int64_t j) const {
    return 1 + (boundary * 2 + (backward ? 1 : 0)) * p.microBatches + j;
  }

  /// Marks a copy as micro-batch j's: its tag, its transfers' tags and its
  /// dropout streams.
  void tagCopy(Operation *copy, int64_t j) {
    copy->setAttr(CkptDialect::kMicroBatchAttrName, b.getI64IntegerAttr(j));
    if (isa<SendOp, RecvOp>(copy)) {
      int64_t boundary = copy->getAttrOfType<IntegerAttr>("tag").getInt();
      copy->setAttr("tag", b.getI64IntegerAttr(
                               transferTag(boundary, isBackward(copy), j)));
    }
    copy->walk([&](Operation *inner) {
      if (auto stream = inner->getAttrOfType<IntegerAttr>("rng_stream"))
        inner->setAttr(
            "rng_stream",
            b.getI64IntegerAttr(stream.getInt() + j * kStreamsPerMicroBatch));
    });
  }

  void phaseBackward(Operation *op) {
    op->setAttr(xf::XFDialect::kPhaseAttrName, b.getStringAttr("backward"));
  }

  /// The ops of each schedule step, copied for its micro-batch; the loss
  /// summed and each gradient contribution accumulated as soon as it is
  /// made, in micro-batch order.
  void copySchedule() {
    sums.resize(chains.size());
    for (auto [c, chain] : llvm::enumerate(chains))
      sums[c].resize(chain.contributions.size());
    Value stepLoss = hasLoss ? ret.getOperand(0) : Value();
    // Where each contribution of a gradient is kept.
    llvm::DenseMap<Value, std::pair<size_t, size_t>> contributionSlot;
    for (auto [c, chain] : llvm::enumerate(chains))
      for (auto [k, contribution] : llvm::enumerate(chain.contributions))
        contributionSlot[contribution] = {c, k};

    for (const pipeline::ScheduleStep &s : pipeline::stageSchedule(
             p.stage, p.stages, p.virtualStages, p.microBatches)) {
      int64_t j = s.microBatch;
      for (Operation *op :
           (s.forward ? forwardParts : backwardParts)[s.chunk]) {
        tagCopy(builder.clone(*op, maps[j]), j);
        for (Value result : op->getResults()) {
          Value mine = maps[j].lookup(result);
          if (result == stepLoss) {
            addToLoss(mine, j);
            continue;
          }
          auto slot = contributionSlot.find(result);
          if (slot != contributionSlot.end())
            accumulate(sums[slot->second.first][slot->second.second], mine,
                       s.chunk, j);
        }
      }
    }
  }

  /// The step's loss: the micro-batches' sum.
  void addToLoss(Value mine, int64_t j) {
    if (loss) {
      auto add = builder.create<xf::AddOp>(step.getLoc(), loss, mine);
      add->setAttr(xf::XFDialect::kModuleAttrName, b.getStringAttr("loss"));
      tagCopy(add, j);
      mine = add;
    }
    loss = mine;
  }

  /// A gradient contribution accumulated into the parameter's gradient
  /// (ckpt.grad_accumulate: the buffer that Megatron's main_grad is). A bf16
  /// or f16 gradient accumulates in f32 (Megatron's main_grad,
  /// accumulate_allreduce_grads_in_fp32): its first contribution widened,
  /// the others added into it.
  void accumulate(Value &sum, Value mine, int64_t chunk, int64_t j) {
    auto type = cast<RankedTensorType>(mine.getType());
    bool widen = !type.getElementType().isF32();
    Operation *accumulate = nullptr;
    if (sum && widen)
      accumulate = builder.create<xf::AccumulateOp>(step.getLoc(), sum, mine);
    else if (sum)
      accumulate = builder.create<xf::AddOp>(step.getLoc(), sum, mine);
    else if (widen)
      accumulate = builder.create<xf::ConvertOp>(
          step.getLoc(), type.clone(builder.getF32Type()), mine);
    if (accumulate) {
      phaseBackward(accumulate);
      accumulate->setAttr(CkptDialect::kChunkAttrName,
                          b.getI64IntegerAttr(chunk));
      accumulate->setAttr(CkptDialect::kGradAccumulateAttrName,
                          b.getUnitAttr());
      tagCopy(accumulate, j);
      mine = accumulate->getResult(0);
    }
    sum = mine;
  }

  /// Each gradient: its contributions summed, the other stage's share of a
  /// tied parameter added, the collectives applied; the loss first.
  LogicalResult finishGradients(SmallVector<Value> &results) {
    if (hasLoss) {
      if (!loss)
        return step.emitError("the loss is not computed by any chunk");
      results.push_back(loss);
    }
    for (auto [c, chain] : llvm::enumerate(chains)) {
      Value grad;
      for (Value sum : sums[c]) {
        if (!sum)
          return step.emitError("a parameter gradient is computed by no "
                                "chunk's backward");
        if (!grad) {
          grad = sum;
          continue;
        }
        auto add = builder.create<xf::AddOp>(step.getLoc(), grad, sum);
        phaseBackward(add);
        grad = add;
      }
      if (auto tied = step.getArgAttrOfType<IntegerAttr>(
              params[c], CkptDialect::kTiedStageAttrName))
        grad = addTiedShare(grad, tied.getInt());
      IRMapping after;
      for (Operation *op : chain.after) {
        after.map(op->getOperand(0), grad);
        // An all-reduce keeps its operand's type, f32 for a widened sum.
        Operation *copy = builder.clone(*op, after);
        copy->getResult(0).setType(grad.getType());
        grad = copy->getResult(0);
      }
      results.push_back(grad);
    }
    return success();
  }

  /// The gradient of a parameter two stages hold (the tied embedding) plus
  /// the other stage's: both stages send, then receive, so that sends never
  /// wait for their receive.
  Value addTiedShare(Value grad, int64_t other) {
    auto send =
        builder.create<SendOp>(step.getLoc(), grad, b.getI64IntegerAttr(other),
                               b.getI64IntegerAttr(0));
    auto recv = builder.create<RecvOp>(step.getLoc(), grad.getType(),
                                       b.getI64IntegerAttr(other),
                                       b.getI64IntegerAttr(0));
    auto add = builder.create<xf::AddOp>(step.getLoc(), grad, recv);
    for (Operation *op :
         {send.getOperation(), recv.getOperation(), add.getOperation()}) {
      phaseBackward(op);
      op->setAttr(xf::XFDialect::kModuleAttrName, b.getStringAttr("embedding"));
    }
    return add;
  }

  func::FuncOp step;
  const PipelineShape &p;
  func::ReturnOp ret;
  MLIRContext *context;
  Builder b;
  OpBuilder builder;
  SmallVector<unsigned> inputs, params;
  bool hasLoss = true;
  llvm::SmallPtrSet<Operation *, 16> tail;
  SmallVector<GradientChain> chains;
  SmallVector<SmallVector<Operation *>> forwardParts, backwardParts;
  SmallVector<Type> argTypes;
  func::FuncOp unrolled;
  SmallVector<IRMapping> maps;
  /// Accumulators: one per contribution of each gradient.
  SmallVector<SmallVector<Value>> sums;
  Value loss;
};

LogicalResult unroll(func::FuncOp step, const PipelineShape &p) {
  return StageUnroller(step, p).run();
}

} // namespace

LogicalResult ckpt::unrollPipelineSchedule(ModuleOp module,
                                           StringRef stepName) {
  std::optional<PipelineShape> pipeline = getPipelineShape(module);
  if (!pipeline)
    return success();
  func::FuncOp step = lookupTrainingStep(module, stepName);
  if (!step)
    return failure();
  // Already unrolled: its inputs name their micro-batch.
  for (unsigned i = 0; i < step.getNumArguments(); ++i)
    if (step.getArgAttr(i, CkptDialect::kMicroBatchAttrName))
      return success();
  if (failed(checkPipeline(module, *pipeline)))
    return failure();
  return unroll(step, *pipeline);
}

FailureOr<StepGraph> ckpt::unrolledStepGraph(ModuleOp module,
                                             StringRef stepName) {
  if (failed(unrollPipelineSchedule(module, stepName)))
    return failure();
  func::FuncOp step = lookupTrainingStep(module, stepName);
  if (!step)
    return failure();
  return StepGraph::build(step);
}
