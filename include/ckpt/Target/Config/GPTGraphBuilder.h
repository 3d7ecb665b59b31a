//===- GPTGraphBuilder.h - Build an xf forward graph ------------*- C++ -*-===//

#ifndef CKPT_TARGET_CONFIG_GPTGRAPHBUILDER_H
#define CKPT_TARGET_CONFIG_GPTGRAPHBUILDER_H

#include "ckpt/Target/Config/ModelConfig.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace ckpt {

/// Builds `module { func.func @forward(tokens, labels, parameters...) -> loss
/// }` for a pre-LayerNorm GPT model as Megatron-LM runs it. Every op is tagged
/// with its module and layer; every argument with its role and Megatron-core
/// parameter name. Dropout ops with probability 0 are left out. `loc` is the
/// location of the config file; ops get names on top of it. The context must
/// have the xf and func dialects loaded.
///
/// With pipeline parallelism the function is pipeline stage `stage`'s part:
/// its model chunks (tagged `ckpt.chunk`), each starting from `ckpt.recv`
/// of the previous stage's output (or the embedding) and ending in
/// `ckpt.send` to the next (or the head and loss; a function without the
/// head returns nothing), and only the arguments it reads. Configs with
/// several micro-batches carry `ckpt.pipeline` on the module.
mlir::OwningOpRef<mlir::ModuleOp>
buildGPTForwardGraph(const config::GPTConfig &config,
                     mlir::MLIRContext *context, mlir::Location loc,
                     int64_t stage = 0);

} // namespace ckpt

#endif // CKPT_TARGET_CONFIG_GPTGRAPHBUILDER_H
