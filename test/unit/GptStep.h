//===- GptStep.h - The small GPT step several unit tests start from -------===//

#ifndef CKPT_TEST_UNIT_GPTSTEP_H
#define CKPT_TEST_UNIT_GPTSTEP_H

#include "ckpt/Target/Config/ConfigImport.h"
#include "ckpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

namespace ckpt::test {

/// The training step of a 4-layer GPT (h = 16, a = 2, s = 8, b = 1),
/// imported into `module`.
inline mlir::func::FuncOp
fourLayerGptStep(mlir::MLIRContext &context,
                 mlir::OwningOpRef<mlir::ModuleOp> &module) {
  module = importModelConfig(
      R"({"num_layers": 4, "hidden_size": 16, "num_attention_heads": 2,
          "seq_length": 8, "micro_batch_size": 1,
          "padded_vocab_size": 32})",
      "gpt.json", {}, &context);
  EXPECT_TRUE(module);
  auto forward = module->lookupSymbol<mlir::func::FuncOp>("forward");
  mlir::FailureOr<mlir::func::FuncOp> step =
      buildTrainingStep(forward, "train_step");
  EXPECT_TRUE(mlir::succeeded(step));
  return *step;
}

} // namespace ckpt::test

#endif // CKPT_TEST_UNIT_GPTSTEP_H
