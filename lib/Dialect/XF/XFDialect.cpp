//===- XFDialect.cpp - The xf dialect -------------------------------------===//

#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"

#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace ckpt::xf;

#include "ckpt/Dialect/XF/XFOpsDialect.cpp.inc"

void XFDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ckpt/Dialect/XF/XFOps.cpp.inc"
      >();
}

LogicalResult XFDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kLayerAttrName) {
    auto layer = dyn_cast<IntegerAttr>(attr.getValue());
    if (!layer || !layer.getType().isSignlessInteger(64) || layer.getInt() < 0)
      return op->emitError() << "'" << kLayerAttrName
                             << "' must be a non-negative i64 layer index, got "
                             << attr.getValue();
    return success();
  }
  if (name == kModuleAttrName) {
    auto module = dyn_cast<StringAttr>(attr.getValue());
    if (!module || !isKnownModuleName(module.getValue()))
      return op->emitError()
             << "'" << kModuleAttrName << "' must be one of "
             << joinKnownModuleNames() << ", got " << attr.getValue();
    return success();
  }
  if (name == kPhaseAttrName) {
    auto phase = dyn_cast<StringAttr>(attr.getValue());
    if (!phase ||
        (phase.getValue() != "backward" && phase.getValue() != "recompute"))
      return op->emitError() << "'" << kPhaseAttrName
                             << "' must be \"backward\" or \"recompute\" "
                                "(forward ops carry none), got "
                             << attr.getValue();
    return success();
  }
  if (name == kModelAttrName) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "'" << kModelAttrName
                             << "' is allowed only on a builtin.module";
    if (!isa<DictionaryAttr>(attr.getValue()))
      return op->emitError()
             << "'" << kModelAttrName << "' must be a dictionary, got "
             << attr.getValue();
    return success();
  }
  return op->emitError() << "unknown xf attribute '" << name << "'; xf defines "
                         << kLayerAttrName << ", " << kModuleAttrName << ", "
                         << kPhaseAttrName << " and " << kModelAttrName
                         << " on operations";
}

LogicalResult XFDialect::verifyRegionArgAttribute(Operation *op,
                                                  unsigned regionIndex,
                                                  unsigned argIndex,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || !llvm::is_contained(
                     llvm::ArrayRef<StringRef>{"tokens", "labels", "parameter"},
                     role.getValue()))
      return op->emitError()
             << "argument #" << argIndex << ": '" << kRoleAttrName
             << "' must be \"tokens\", \"labels\" or "
                "\"parameter\", got "
             << attr.getValue();
    return success();
  }
  if (name == kNameAttrName) {
    auto str = dyn_cast<StringAttr>(attr.getValue());
    if (!str || str.getValue().empty())
      return op->emitError()
             << "argument #" << argIndex << ": '" << kNameAttrName
             << "' must be a non-empty string, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "argument #" << argIndex
                         << ": unknown xf argument attribute '" << name
                         << "'; xf defines " << kRoleAttrName << " and "
                         << kNameAttrName;
}

LogicalResult XFDialect::verifyRegionResultAttribute(Operation *op,
                                                     unsigned regionIndex,
                                                     unsigned resultIndex,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kRoleAttrName) {
    auto role = dyn_cast<StringAttr>(attr.getValue());
    if (!role || role.getValue() != "loss")
      return op->emitError()
             << "result #" << resultIndex << ": '" << kRoleAttrName
             << "' must be \"loss\", got " << attr.getValue();
    return success();
  }
  if (name == kGradOfAttrName) {
    auto str = dyn_cast<StringAttr>(attr.getValue());
    if (!str || str.getValue().empty())
      return op->emitError()
             << "result #" << resultIndex << ": '" << kGradOfAttrName
             << "' must name a parameter, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "result #" << resultIndex
                         << ": unknown xf result attribute '" << name
                         << "'; xf defines " << kRoleAttrName << " and "
                         << kGradOfAttrName;
}
