//===- TrainingStep.cpp - Build the backward pass -------------------------===//
//
// Reverse-mode differentiation of a straight-line forward function: the
// forward ops are copied, then each is differentiated in reverse order
// through DifferentiableOpInterface.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace ckpt;

namespace ckpt {
#define GEN_PASS_DEF_XFTRAININGSTEP
#include "ckpt/Transforms/Passes.h.inc"
} // namespace ckpt

namespace {

/// Whether argument `index` of `func` gets a gradient.
bool isParameter(func::FuncOp func, unsigned index) {
  if (auto role = func.getArgAttrOfType<StringAttr>(
          index, xf::XFDialect::kRoleAttrName))
    return role.getValue() == "parameter";
  auto type = dyn_cast<RankedTensorType>(func.getArgument(index).getType());
  return type && isa<FloatType>(type.getElementType());
}

/// Copies the forward op's tags onto a backward op and marks its phase.
void tagBackward(Operation *backward, Operation *forward) {
  Builder b(backward->getContext());
  if (auto module = forward->getAttr(xf::XFDialect::kModuleAttrName))
    backward->setAttr(xf::XFDialect::kModuleAttrName, module);
  if (auto layer = forward->getAttr(xf::XFDialect::kLayerAttrName))
    backward->setAttr(xf::XFDialect::kLayerAttrName, layer);
  if (auto chunk = forward->getAttr(CkptDialect::kChunkAttrName))
    backward->setAttr(CkptDialect::kChunkAttrName, chunk);
  backward->setAttr(xf::XFDialect::kPhaseAttrName, b.getStringAttr("backward"));
}

/// Emits the gradient of one op, checks the interface contract, and returns
/// the operand gradients.
FailureOr<SmallVector<Value>> differentiate(OpBuilder &builder, Operation *op,
                                            ValueRange resultGrads) {
  auto differentiable = dyn_cast<DifferentiableOpInterface>(op);
  if (!differentiable)
    return op->emitOpError()
           << "cannot be differentiated: it implements no "
              "DifferentiableOpInterface (attach an external model to "
              "differentiate ops of other dialects)";

  Block *block = builder.getInsertionBlock();
  Operation *last = block->empty() ? nullptr : &block->back();
  FailureOr<SmallVector<Value>> grads =
      differentiable.emitGradient(builder, resultGrads);
  if (failed(grads))
    return failure();
  if (grads->size() != op->getNumOperands())
    return op->emitOpError()
           << "emitGradient returned " << grads->size() << " gradients for "
           << op->getNumOperands() << " operands";

  // The forward values the gradient may read: what the op declared.
  llvm::SmallDenseSet<Value> allowed(resultGrads.begin(), resultGrads.end());
  for (auto [index, operand] : llvm::enumerate(op->getOperands()))
    if (differentiable.backwardNeedsOperand(index))
      allowed.insert(operand);
  for (auto [index, result] : llvm::enumerate(op->getResults()))
    if (differentiable.backwardNeedsResult(index))
      allowed.insert(result);

  llvm::SmallDenseSet<Operation *> emitted;
  for (Operation *it = last ? last->getNextNode() : &block->front(); it;
       it = it->getNextNode()) {
    emitted.insert(it);
    tagBackward(it, op);
  }
  for (Operation *backward : emitted) {
    for (auto [index, operand] : llvm::enumerate(backward->getOperands())) {
      Operation *def = operand.getDefiningOp();
      if ((def && emitted.contains(def)) || allowed.contains(operand))
        continue;
      return backward->emitOpError()
             << "operand #" << index << " reads a forward value that '"
             << op->getName()
             << "' does not declare as needed by its backward "
                "(backwardNeedsOperand/backwardNeedsResult)";
    }
  }
  return grads;
}

/// What the forward function returns: the loss, or nothing (a pipeline
/// stage without the head, whose sends start the backward).
struct ForwardShape {
  func::ReturnOp ret;
  bool hasLoss;
};

/// The forward function's shape, or an error saying what it must be.
FailureOr<ForwardShape> checkForward(func::FuncOp forward, StringRef stepName,
                                     RankedTensorType lossType) {
  ModuleOp module = forward->getParentOfType<ModuleOp>();
  if (module && module.lookupSymbol(stepName))
    return mlir::emitError(forward.getLoc())
           << "the module already has a symbol @" << stepName;
  if (!forward.getBody().hasOneBlock())
    return mlir::emitError(forward.getLoc())
           << "the forward function must be a single block (straight-line "
              "code), got "
           << forward.getBody().getBlocks().size() << " blocks";
  Block &body = forward.getBody().front();
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  bool hasLoss = ret && ret.getNumOperands() == 1;
  bool sinks = llvm::any_of(body.without_terminator(), [](Operation &op) {
    return op.getNumResults() == 0 && isa<DifferentiableOpInterface>(op);
  });
  if (!ret || ret.getNumOperands() > 1 ||
      (hasLoss && ret.getOperand(0).getType() != lossType) ||
      (!hasLoss && !sinks))
    return mlir::emitError(forward.getLoc())
           << "the forward function must return exactly "
              "one value, the loss, of type "
           << lossType
           << " (or nothing, as a pipeline stage without the head whose "
              "sends start the backward)";
  return ForwardShape{ret, hasLoss};
}

/// The empty step function: the forward's arguments; the loss (if any) and
/// one gradient per parameter in `params`, each tagged with its role.
func::FuncOp createStepFunction(OpBuilder &builder, func::FuncOp forward,
                                StringRef stepName, ArrayRef<unsigned> params,
                                RankedTensorType lossType, bool hasLoss) {
  SmallVector<Type> resultTypes;
  if (hasLoss)
    resultTypes.push_back(lossType);
  for (unsigned i : params)
    resultTypes.push_back(forward.getArgument(i).getType());
  auto step = builder.create<func::FuncOp>(
      forward.getLoc(), stepName,
      builder.getFunctionType(forward.getArgumentTypes(), resultTypes));
  if (ArrayAttr argAttrs = forward.getAllArgAttrs())
    step.setAllArgAttrs(argAttrs);
  // All result attributes at once: setting them one by one rebuilds the
  // whole array each time, quadratic in the number of parameters.
  SmallVector<DictionaryAttr> resultAttrs;
  if (hasLoss)
    resultAttrs.push_back(builder.getDictionaryAttr(builder.getNamedAttr(
        xf::XFDialect::kRoleAttrName, builder.getStringAttr("loss"))));
  for (unsigned param : params) {
    auto name = forward.getArgAttrOfType<StringAttr>(
        param, xf::XFDialect::kNameAttrName);
    resultAttrs.push_back(builder.getDictionaryAttr(builder.getNamedAttr(
        xf::XFDialect::kGradOfAttrName,
        name ? name : builder.getStringAttr("arg" + std::to_string(param)))));
  }
  step.setAllResultAttrs(resultAttrs);
  return step;
}

/// The backward of `forwardOps`, in reverse order, at the builder's
/// insertion point: every value's gradient. The loss's "gradient" is the
/// loss itself: a marker that it is differentiated with upstream gradient
/// 1. An op without results (a send to the next stage) is differentiated
/// unconditionally.
FailureOr<llvm::DenseMap<Value, Value>>
emitBackward(OpBuilder &builder, ArrayRef<Operation *> forwardOps, Value loss,
             bool microBatched) {
  llvm::DenseMap<Value, Value> grads;
  if (loss)
    grads[loss] = loss;
  for (Operation *op : llvm::reverse(forwardOps)) {
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(grads.lookup(result));
    if (op->getNumResults() > 0 &&
        llvm::all_of(resultGrads, [](Value v) { return !v; }))
      continue;
    FailureOr<SmallVector<Value>> operandGrads =
        differentiate(builder, op, resultGrads);
    if (failed(operandGrads))
      return failure();
    for (auto [operand, grad] :
         llvm::zip_equal(op->getOperands(), *operandGrads)) {
      if (!grad)
        continue;
      Value &slot = grads[operand];
      if (!slot) {
        slot = grad;
        continue;
      }
      // A value with several users: sum the contributions in a fixed order.
      // For a parameter, mark the sum: micro-batches accumulate each
      // contribution on its own (as pipeline stages do) and sum them last.
      auto sum = builder.create<xf::AddOp>(op->getLoc(), slot, grad);
      tagBackward(sum, op);
      if (microBatched && isa<BlockArgument>(operand))
        sum->setAttr(CkptDialect::kGradSumAttrName, builder.getUnitAttr());
      slot = sum;
    }
  }
  return grads;
}

/// Parameter `param`'s gradient as the step returns it: all-reduced over
/// the tensor-parallel ranks where it is a partial sum; an error when the
/// parameter does not reach the loss.
FailureOr<Value> finalGradient(OpBuilder &builder, func::FuncOp forward,
                               unsigned param, Value grad) {
  if (!grad) {
    auto name = forward.getArgAttrOfType<StringAttr>(
        param, xf::XFDialect::kNameAttrName);
    InFlightDiagnostic diag = mlir::emitError(forward.getLoc())
                              << "parameter #" << param;
    if (name)
      diag << " ('" << name.getValue() << "')";
    diag << " does not reach the loss, so it has no gradient";
    return failure();
  }
  // A partial gradient of a replicated parameter (sequence parallelism) is
  // summed over the tensor-parallel ranks.
  if (auto ranks = forward.getArgAttrOfType<IntegerAttr>(
          param, CkptDialect::kGradAllReduceAttrName)) {
    auto sum = builder.create<AllReduceOp>(
        forward.getLoc(), grad.getType(), grad, builder.getStringAttr("tp"),
        builder.getI64IntegerAttr(ranks.getInt()));
    sum->setAttr(xf::XFDialect::kPhaseAttrName,
                 builder.getStringAttr("backward"));
    return sum->getResult(0);
  }
  return grad;
}

} // namespace

FailureOr<func::FuncOp> ckpt::buildTrainingStep(func::FuncOp forward,
                                                StringRef stepName) {
  auto lossType =
      RankedTensorType::get({}, Float32Type::get(forward.getContext()));
  FailureOr<ForwardShape> shape = checkForward(forward, stepName, lossType);
  if (failed(shape))
    return failure();
  SmallVector<unsigned> params;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i)
    if (isParameter(forward, i))
      params.push_back(i);
  OpBuilder builder(forward);
  func::FuncOp step = createStepFunction(builder, forward, stepName, params,
                                         lossType, shape->hasLoss);

  // Forward: a copy of the body without its return.
  Block &body = forward.getBody().front();
  Block *entry = step.addEntryBlock();
  IRMapping mapping;
  mapping.map(body.getArguments(), entry->getArguments());
  builder.setInsertionPointToStart(entry);
  SmallVector<Operation *> forwardOps;
  for (Operation &op : body.without_terminator())
    forwardOps.push_back(builder.clone(op, mapping));
  Value loss =
      shape->hasLoss ? mapping.lookup(shape->ret.getOperand(0)) : Value();

  ModuleOp module = forward->getParentOfType<ModuleOp>();
  builder.setInsertionPointToEnd(entry);
  FailureOr<llvm::DenseMap<Value, Value>> grads = emitBackward(
      builder, forwardOps, loss, module && getPipelineShape(module));
  if (failed(grads)) {
    step.erase();
    return failure();
  }
  SmallVector<Value> results;
  if (loss)
    results.push_back(loss);
  for (unsigned param : params) {
    FailureOr<Value> grad = finalGradient(
        builder, forward, param, grads->lookup(entry->getArgument(param)));
    if (failed(grad)) {
      step.erase();
      return failure();
    }
    results.push_back(*grad);
  }
  builder.create<func::ReturnOp>(forward.getLoc(), results);
  forward.erase();
  return step;
}

namespace {
struct XFTrainingStepPass
    : public ckpt::impl::XFTrainingStepBase<XFTrainingStepPass> {
  using XFTrainingStepBase::XFTrainingStepBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>(forwardName);
    if (!forward) {
      mlir::emitError(module.getLoc())
          << "no function @" << forwardName
          << " to differentiate (set the pass option "
             "forward=NAME)";
      return signalPassFailure();
    }
    if (failed(buildTrainingStep(forward, stepName)))
      signalPassFailure();
  }
};
} // namespace
