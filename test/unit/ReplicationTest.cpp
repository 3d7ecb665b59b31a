//===- ReplicationTest.cpp - Which values every rank holds whole ----------===//
//
// A hand-made tensor-parallel MLP: the column-parallel linear's output and
// what follows from it are a rank's own piece until the all-reduce; the
// input, the norm-like elementwise ops on it and the residual after the
// all-reduce are replicated.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Analysis/Replication.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <vector>

using namespace mlir;
using namespace ckpt;

namespace {

constexpr const char *kTensorParallelMlp = R"mlir(
func.func @train_step(%x: tensor<4x8xf32> {xf.role = "tokens"},
                      %w1: tensor<2x8xf32> {xf.role = "parameter"},
                      %b1: tensor<2xf32> {xf.role = "parameter"},
                      %w2: tensor<8x2xf32> {xf.role = "parameter"},
                      %b2: tensor<8xf32> {xf.role = "parameter"})
    -> tensor<4x8xf32> {
  %n = xf.gelu %x : tensor<4x8xf32>
  %c = xf.linear %n, %w1, %b1 : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %g = xf.gelu %c : tensor<4x2xf32>
  %r = xf.linear %g, %w2 : (tensor<4x2xf32>, tensor<8x2xf32>) -> tensor<4x8xf32>
  %s = ckpt.all_reduce %r {group = "tp", size = 2 : i64} : tensor<4x8xf32>
  %a = xf.add %s, %n : tensor<4x8xf32>
  %m = xf.add %r, %n : tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}
)mlir";

TEST(ReplicationTest, ColumnParallelPiecesUntilTheAllReduce) {
  MLIRContext context;
  context.loadDialect<xf::XFDialect, CkptDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(kTensorParallelMlp, &context);
  ASSERT_TRUE(module);
  auto step = module->lookupSymbol<func::FuncOp>("train_step");
  llvm::DenseSet<Value> replicated = replicatedValues(step);
  // n, c, g, r, s, a, m in order.
  std::vector<bool> expected = {true, false, false, false, true, true, false};
  std::vector<bool> got;
  for (Operation &op : step.getBody().front())
    for (Value result : op.getResults())
      got.push_back(replicated.contains(result));
  EXPECT_EQ(got, expected);
  // Every argument is replicated (a parameter is, but as a linear's weight).
  for (BlockArgument argument : step.getArguments())
    EXPECT_TRUE(replicated.contains(argument));
}

} // namespace
