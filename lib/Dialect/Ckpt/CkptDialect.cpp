//===- CkptDialect.cpp - The ckpt dialect ---------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace ckpt;

#include "ckpt/Dialect/Ckpt/CkptOpsDialect.cpp.inc"

void CkptDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ckpt/Dialect/Ckpt/CkptOps.cpp.inc"
      >();
}

StringRef ckpt::toString(RematAnnotation annotation) {
  switch (annotation) {
  case RematAnnotation::Save:
    return "save";
  case RematAnnotation::Recompute:
    return "recompute";
  case RematAnnotation::None:
    break;
  }
  return "";
}

namespace {
std::optional<RematAnnotation> parseRematAnnotation(StringRef text) {
  for (RematAnnotation annotation :
       {RematAnnotation::Save, RematAnnotation::Recompute})
    if (text == toString(annotation))
      return annotation;
  return std::nullopt;
}
} // namespace

RematAnnotation ckpt::getRematAnnotation(Operation *op) {
  auto attr = op->getAttrOfType<StringAttr>(CkptDialect::kRematAttrName);
  if (!attr)
    return RematAnnotation::None;
  return parseRematAnnotation(attr.getValue()).value_or(RematAnnotation::None);
}

void ckpt::setRematAnnotation(Operation *op, RematAnnotation annotation) {
  if (annotation == RematAnnotation::None) {
    op->removeAttr(CkptDialect::kRematAttrName);
    return;
  }
  op->setAttr(CkptDialect::kRematAttrName,
              StringAttr::get(op->getContext(), toString(annotation)));
}

std::optional<PipelineShape> ckpt::getPipelineShape(Operation *module) {
  auto attr =
      module->getAttrOfType<DictionaryAttr>(CkptDialect::kPipelineAttrName);
  if (!attr)
    return std::nullopt;
  auto get = [&](StringRef key, int64_t fallback) {
    auto value = attr.getAs<IntegerAttr>(key);
    return value ? value.getInt() : fallback;
  };
  return PipelineShape{get("stage", 0), get("stages", 1),
                       get("virtual_stages", 1), get("micro_batches", 1)};
}

/// `ckpt.policy`: a dictionary of Megatron's recompute fields, each of its
/// kind (the policy's own rules are checked when it is applied).
static LogicalResult verifyPolicyAttribute(Operation *op, Attribute value) {
  auto policy = dyn_cast<DictionaryAttr>(value);
  if (!policy || !isa<ModuleOp>(op))
    return op->emitError() << "'ckpt.policy' must be a dictionary on a module";
  for (NamedAttribute field : policy) {
    StringRef key = field.getName().getValue();
    Attribute v = field.getValue();
    bool ok = false;
    if (key == "recompute_granularity" || key == "recompute_method")
      ok = isa<StringAttr>(v);
    else if (key == "recompute_num_layers")
      ok = isa<IntegerAttr>(v);
    else if (key == "recompute_modules")
      ok = isa<ArrayAttr>(v) &&
           llvm::all_of(cast<ArrayAttr>(v),
                        [](Attribute m) { return isa<StringAttr>(m); });
    else if (key == "distribute_saved_activations")
      ok = isa<BoolAttr>(v);
    else
      return op->emitError()
             << "'ckpt.policy' has an unknown field '" << key
             << "' (allowed: recompute_granularity, recompute_method, "
                "recompute_num_layers, recompute_modules, "
                "distribute_saved_activations)";
    if (!ok)
      return op->emitError()
             << "'ckpt.policy' field '" << key << "' has the wrong kind: " << v;
  }
  return success();
}

/// `ckpt.pipeline`: {stage, stages, virtual_stages, micro_batches}, each a
/// count, the stage inside the pipeline.
static LogicalResult verifyPipelineAttribute(Operation *op, Attribute value) {
  auto pipeline = dyn_cast<DictionaryAttr>(value);
  if (!pipeline || !isa<ModuleOp>(op))
    return op->emitError()
           << "'ckpt.pipeline' must be a dictionary on a module";
  auto field = [&](StringRef key, int64_t least) -> FailureOr<int64_t> {
    auto v = pipeline.getAs<IntegerAttr>(key);
    if (!v || v.getInt() < least)
      return op->emitError()
             << "'ckpt.pipeline' needs an integer '" << key << "' >= " << least;
    return v.getInt();
  };
  FailureOr<int64_t> stage = field("stage", 0), stages = field("stages", 1),
                     chunks = field("virtual_stages", 1),
                     micro = field("micro_batches", 1);
  if (failed(stage) || failed(stages) || failed(chunks) || failed(micro))
    return failure();
  if (*stage >= *stages)
    return op->emitError() << "'ckpt.pipeline' stage " << *stage
                           << " is outside the " << *stages << " stages";
  for (NamedAttribute entry : pipeline)
    if (!llvm::is_contained(
            {"stage", "stages", "virtual_stages", "micro_batches"},
            entry.getName().getValue()))
      return op->emitError()
             << "'ckpt.pipeline' has an unknown field '"
             << entry.getName().getValue()
             << "' (allowed: stage, stages, virtual_stages, micro_batches)";
  return success();
}

LogicalResult CkptDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == "ckpt.offsets") {
    if (!isa<DenseI64ArrayAttr>(attr.getValue()))
      return op->emitError() << "'ckpt.offsets' must be an array<i64> of "
                                "arena offsets, one per result";
    if (cast<DenseI64ArrayAttr>(attr.getValue()).size() !=
        static_cast<int64_t>(op->getNumResults()))
      return op->emitError()
             << "'ckpt.offsets' has "
             << cast<DenseI64ArrayAttr>(attr.getValue()).size()
             << " entries for " << op->getNumResults() << " results";
    return success();
  }
  if (name == "ckpt.memory") {
    if (!isa<DictionaryAttr>(attr.getValue()))
      return op->emitError() << "'ckpt.memory' must be a dictionary";
    return success();
  }
  if (name == kPolicyAttrName)
    return verifyPolicyAttribute(op, attr.getValue());
  if (name == kPipelineAttrName)
    return verifyPipelineAttribute(op, attr.getValue());
  if (name == kChunkAttrName || name == kMicroBatchAttrName) {
    auto index = dyn_cast<IntegerAttr>(attr.getValue());
    if (!index || index.getInt() < 0)
      return op->emitError()
             << "'" << name << "' must be a non-negative integer";
    return success();
  }
  if (name == kGradSumAttrName || name == kGradAccumulateAttrName) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a unit attribute";
    return success();
  }
  if (name != kRematAttrName)
    return op->emitError() << "unknown ckpt attribute '" << name
                           << "'; ckpt defines " << kRematAttrName
                           << ", ckpt.policy, ckpt.pipeline, ckpt.chunk, "
                              "ckpt.micro_batch, ckpt.grad_sum, "
                              "ckpt.grad_accumulate, ckpt.offsets and "
                              "ckpt.memory";
  auto value = dyn_cast<StringAttr>(attr.getValue());
  if (!value || !parseRematAnnotation(value.getValue()))
    return op->emitError() << "'" << kRematAttrName
                           << "' must be \"save\" or \"recompute\", got "
                           << attr.getValue();
  return success();
}

LogicalResult CkptDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  // Every argument attribute is an integer with a least value.
  struct Rule {
    StringRef name;
    int64_t least;
    const char *what;
  };
  StringRef name = attr.getName().getValue();
  for (const Rule &rule :
       {Rule{kGradAllReduceAttrName, 2, "the tensor-parallel size (>= 2)"},
        Rule{kTiedStageAttrName, 0, "a pipeline stage (>= 0)"},
        Rule{kMicroBatchAttrName, 0, "a micro-batch index (>= 0)"}}) {
    if (name != rule.name)
      continue;
    auto value = dyn_cast<IntegerAttr>(attr.getValue());
    if (!value || value.getInt() < rule.least)
      return op->emitError() << "argument #" << argIndex << ": '" << name
                             << "' must be " << rule.what;
    return success();
  }
  return op->emitError() << "argument #" << argIndex
                         << ": unknown ckpt argument attribute '" << name
                         << "'; ckpt defines " << kGradAllReduceAttrName << ", "
                         << kTiedStageAttrName << " and "
                         << kMicroBatchAttrName;
}

void RecomputeOp::build(OpBuilder &builder, OperationState &state,
                        TypeRange resultTypes, ValueRange inputs,
                        StringRef label) {
  state.addOperands(inputs);
  state.addTypes(resultTypes);
  if (!label.empty())
    state.addAttribute(getLabelAttrName(state.name),
                       builder.getStringAttr(label));
  Region *body = state.addRegion();
  Block *block = new Block();
  body->push_back(block);
  for (Value input : inputs)
    block->addArgument(input.getType(), input.getLoc());
}

LogicalResult RecomputeOp::verify() {
  Block &block = getBody().front();
  if (block.getNumArguments() != getInputs().size())
    return emitOpError() << "has " << getInputs().size()
                         << " operands but its block takes "
                         << block.getNumArguments() << " arguments";
  for (auto [index, pair] :
       llvm::enumerate(llvm::zip(getInputs(), block.getArguments())))
    if (std::get<0>(pair).getType() != std::get<1>(pair).getType())
      return emitOpError() << "operand #" << index << " has type "
                           << std::get<0>(pair).getType()
                           << " but block argument #" << index << " has type "
                           << std::get<1>(pair).getType();
  auto yield = cast<YieldOp>(block.getTerminator());
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError() << "yields " << yield.getValues().size()
                         << " values whose types must match its "
                         << getNumResults() << " results";
  if (getWholeSpan())
    return success();
  // Only what the backward needs: every op feeds the yield or a later op.
  for (Operation &op : block.without_terminator()) {
    auto unused = [](Value value) { return value.use_empty(); };
    if (llvm::all_of(op.getResults(), unused))
      return op.emitOpError()
             << "is dead in its recompute region: none of its results is "
                "yielded or read by a later op of the region (a region "
                "re-runs only what the backward reads; 'whole_span' marks a "
                "region that re-runs a checkpointed span whole)";
    // By name: the ckpt dialect does not depend on xf.
    if (op.getName().getStringRef() == "xf.dropout" &&
        op.getResult(0).use_empty())
      return op.emitOpError()
             << "computes a value that nothing in its recompute region reads; "
                "regenerate only its mask with 'xf.dropout_mask' (same "
                "probability and rng_stream)";
  }
  return success();
}

#define GET_OP_CLASSES
#include "ckpt/Dialect/Ckpt/CkptOps.cpp.inc"
