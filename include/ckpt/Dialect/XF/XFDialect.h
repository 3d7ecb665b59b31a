//===- XFDialect.h - The xf dialect -----------------------------*- C++ -*-===//

#ifndef CKPT_DIALECT_XF_XFDIALECT_H
#define CKPT_DIALECT_XF_XFDIALECT_H

#include "mlir/IR/Dialect.h"

#include "ckpt/Dialect/XF/XFOpsDialect.h.inc"

#endif // CKPT_DIALECT_XF_XFDIALECT_H
