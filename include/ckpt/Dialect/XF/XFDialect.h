//===- XFDialect.h - The xf dialect -----------------------------*- C++ -*-===//

#ifndef CKPT_DIALECT_XF_XFDIALECT_H
#define CKPT_DIALECT_XF_XFDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"

#include "ckpt/Dialect/XF/XFOpsDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ckpt/Dialect/XF/XFAttrs.h.inc"

namespace ckpt::xf {
/// The `xf.model` of the module that holds `op` (or of `op` itself), or null.
ModelAttr getModel(mlir::Operation *op);
} // namespace ckpt::xf

#endif // CKPT_DIALECT_XF_XFDIALECT_H
