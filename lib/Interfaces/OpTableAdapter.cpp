//===- OpTableAdapter.cpp - MLIR ops as the op table sees them ------------===//

#include "ckpt/Interfaces/OpTableAdapter.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace ckpt;

ops::ElementType ckpt::toElementType(Type type) {
  if (type.isF32())
    return ops::ElementType::F32;
  if (type.isF64())
    return ops::ElementType::F64;
  if (type.isBF16())
    return ops::ElementType::BF16;
  if (type.isF16())
    return ops::ElementType::F16;
  if (type.isSignlessInteger(1))
    return ops::ElementType::I1;
  if (type.isSignlessInteger(32))
    return ops::ElementType::I32;
  if (type.isSignlessInteger(64))
    return ops::ElementType::I64;
  return ops::ElementType::Other;
}

static Type toMlirType(MLIRContext *context, ops::ElementType type) {
  Builder b(context);
  switch (type) {
  case ops::ElementType::F32:
    return b.getF32Type();
  case ops::ElementType::F64:
    return b.getF64Type();
  case ops::ElementType::BF16:
    return b.getBF16Type();
  case ops::ElementType::F16:
    return b.getF16Type();
  case ops::ElementType::I32:
    return b.getI32Type();
  case ops::ElementType::I64:
    return b.getI64Type();
  case ops::ElementType::I1:
    return b.getI1Type();
  case ops::ElementType::Other:
    break;
  }
  return Type();
}

const ops::OpDef *ckpt::lookupOpDef(Operation *op) {
  StringRef dialect = op->getName().getDialectNamespace();
  if (dialect != "xf" && dialect != "ckpt")
    return nullptr;
  StringRef name = op->getName().stripDialect();
  return ops::lookupOp(std::string_view(name.data(), name.size()));
}

static std::optional<ops::TensorDesc> describeValue(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  return ops::TensorDesc{
      ops::Shape(type.getShape().begin(), type.getShape().end()),
      toElementType(type.getElementType())};
}

/// Inherent attributes as table values; discardable tags (xf.*, ckpt.*)
/// and attributes of other kinds are left out.
static ops::AttrMap describeAttrs(ArrayRef<NamedAttribute> attrs) {
  ops::AttrMap map;
  for (NamedAttribute attr : attrs) {
    StringRef name = attr.getName().getValue();
    if (name.starts_with("xf.") || name.starts_with("ckpt."))
      continue;
    Attribute value = attr.getValue();
    if (auto fp = dyn_cast<FloatAttr>(value))
      map[name.str()] = fp.getValueAsDouble();
    else if (auto boolean = dyn_cast<BoolAttr>(value))
      map[name.str()] = boolean.getValue();
    else if (auto integer = dyn_cast<IntegerAttr>(value))
      map[name.str()] = integer.getInt();
    else if (isa<UnitAttr>(value))
      map[name.str()] = true;
    else if (auto str = dyn_cast<StringAttr>(value))
      map[name.str()] = str.getValue().str();
  }
  return map;
}

std::optional<ops::OpInstance> ckpt::describeOp(Operation *op) {
  ops::OpInstance instance;
  for (Value operand : op->getOperands()) {
    std::optional<ops::TensorDesc> desc = describeValue(operand);
    if (!desc)
      return std::nullopt;
    instance.inputs.push_back(std::move(*desc));
  }
  for (Value result : op->getResults()) {
    std::optional<ops::TensorDesc> desc = describeValue(result);
    if (!desc)
      return std::nullopt;
    instance.outputs.push_back(std::move(*desc));
  }
  instance.attrs = describeAttrs(op->getAttrs());
  return instance;
}

LogicalResult ckpt::verifyWithOpTable(Operation *op) {
  const ops::OpDef *def = lookupOpDef(op);
  if (!def)
    return op->emitOpError("has no entry in the op table");
  // ODS has checked the types already; a value that is not a static tensor
  // was reported there.
  std::optional<ops::OpInstance> instance = describeOp(op);
  if (!instance)
    return success();
  std::string error = ops::verifyOp(*def, *instance);
  if (error.empty())
    return success();
  return op->emitOpError() << error;
}

ops::OpCost ckpt::costFromOpTable(Operation *op) {
  const ops::OpDef *def = lookupOpDef(op);
  std::optional<ops::OpInstance> instance = describeOp(op);
  if (!def || !instance)
    return {};
  return ops::costOf(*def, *instance);
}

bool ckpt::backwardNeedsOperandFromTable(Operation *op, unsigned index) {
  const ops::OpDef *def = lookupOpDef(op);
  return def && def->backwardNeedsInput(index);
}

bool ckpt::backwardNeedsResultFromTable(Operation *op, unsigned index) {
  const ops::OpDef *def = lookupOpDef(op);
  return def && def->backwardNeedsOutput(index);
}

FailureOr<SmallVector<RankedTensorType>>
ckpt::inferResultTypes(StringRef name, ValueRange operands,
                       ArrayRef<NamedAttribute> attrs, std::string &error) {
  const ops::OpDef *def =
      ops::lookupOp(std::string_view(name.data(), name.size()));
  if (!def || operands.empty()) {
    error = "no op '" + name.str() + "' in the op table";
    return failure();
  }
  ops::OpInstance instance;
  for (Value operand : operands) {
    std::optional<ops::TensorDesc> desc = describeValue(operand);
    if (!desc) {
      error = "operands must be statically shaped tensors";
      return failure();
    }
    instance.inputs.push_back(std::move(*desc));
  }
  instance.attrs = describeAttrs(attrs);
  ops::Inference inference = ops::inferResults(*def, instance);
  if (!inference.error.empty()) {
    error = inference.error;
    return failure();
  }
  MLIRContext *context = operands.front().getContext();
  SmallVector<RankedTensorType> types;
  for (const ops::TensorDesc &desc : inference.outputs)
    types.push_back(
        RankedTensorType::get(desc.shape, toMlirType(context, desc.type)));
  return types;
}
