//===- XFOps.h - Operations of the xf dialect -------------------*- C++ -*-===//

#ifndef CKPT_DIALECT_XF_XFOPS_H
#define CKPT_DIALECT_XF_XFOPS_H

#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ckpt/Dialect/XF/XFOps.h.inc"

#endif // CKPT_DIALECT_XF_XFOPS_H
