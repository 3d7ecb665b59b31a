//===- XFTags.h - Layer and module tags on operations -----------*- C++ -*-===//
//
// Every forward op carries `xf.module` (which part of the model it belongs to)
// and, inside a transformer layer, `xf.layer` (the 0-based layer index). The
// remat and memory passes read them through these helpers, so ops of other
// dialects can be tagged the same way.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_DIALECT_XF_XFTAGS_H
#define CKPT_DIALECT_XF_XFTAGS_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include <optional>

namespace ckpt::xf {

/// The module names a tag may carry, in model order.
llvm::ArrayRef<llvm::StringLiteral> getKnownModuleNames();

/// Whether `name` is one of getKnownModuleNames().
bool isKnownModuleName(llvm::StringRef name);

/// The known module names joined as "a, b, c" for diagnostics.
std::string joinKnownModuleNames();

/// Sets `xf.module` and, when `layer` is given, `xf.layer` on `op`.
void setTag(mlir::Operation *op, llvm::StringRef module,
            std::optional<int64_t> layer = std::nullopt);

/// The op's `xf.layer`, if it has one.
std::optional<int64_t> getLayer(mlir::Operation *op);

/// The op's `xf.module`, or an empty string if it has none.
llvm::StringRef getModule(mlir::Operation *op);

} // namespace ckpt::xf

#endif // CKPT_DIALECT_XF_XFTAGS_H
