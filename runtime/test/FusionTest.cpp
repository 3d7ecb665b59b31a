//===- FusionTest.cpp - Which pairs the executor fuses --------------------===//
//
// Hand-built programs of a few instructions: each rule of Fusion.h fuses
// where it holds and leaves the pair alone where fusing would change what
// is saved, the planned peak, or bytes that one pass reads and writes.
//
//===----------------------------------------------------------------------===//

#include "ckpt/runtime/Fusion.h"

#include <gtest/gtest.h>

using namespace ckpt::rt;

namespace {

/// A program built tensor by tensor; every tensor is [4, 8] f32 (128
/// bytes) unless given otherwise.
struct Builder {
  Program program;
  Builder() { program.alignment = 1; }
  int tensor(const std::string &name, TensorRole role = TensorRole::Temporary,
             int64_t offset = -1, DType dtype = DType::F32,
             std::vector<int64_t> shape = {4, 8}) {
    program.tensors.push_back({name, std::move(shape), dtype, role, offset});
    return static_cast<int>(program.tensors.size()) - 1;
  }
  void add(const std::string &op, std::vector<int> inputs,
           std::vector<int> outputs, ckpt::ops::AttrMap attrs = {}) {
    Instruction inst;
    inst.op = op;
    inst.inputs = std::move(inputs);
    inst.outputs = std::move(outputs);
    inst.attrs = std::move(attrs);
    program.instructions.push_back(std::move(inst));
  }
  std::vector<std::string> fusedOps(int *count = nullptr) const {
    std::vector<std::string> ops;
    for (const Instruction &inst : fuseElementwise(program, count).instructions)
      ops.push_back(inst.op);
    return ops;
  }
};

const ckpt::ops::AttrMap kDrop = {{"probability", 0.1},
                                  {"rng_stream", int64_t(3)}};

/// x -> dropout -> (d, mask); add(r, d) -> y; a reader of y and the mask.
struct DropoutAdd {
  Builder b;
  int x, r, d, mask, y;
  DropoutAdd(int64_t xAt = -1, int64_t yAt = -1, int64_t maskAt = -1,
             bool maskRead = true) {
    r = b.tensor("r", TensorRole::Activation);
    x = b.tensor("x", TensorRole::Temporary, xAt);
    d = b.tensor("d");
    mask = b.tensor("mask", TensorRole::Activation, maskAt, DType::I1);
    y = b.tensor("y", TensorRole::Activation, yAt);
    int out = b.tensor("out");
    b.add("dropout", {x}, {d, mask}, kDrop);
    b.add("add", {r, d}, {y});
    if (maskRead)
      b.add("dropout_grad", {mask, y}, {out}, {{"probability", 0.1}});
    else
      b.add("gelu", {y}, {out});
  }
};

TEST(FusionTest, DropoutThenAddBecomesOneOp) {
  DropoutAdd p;
  int count = 0;
  EXPECT_EQ(p.b.fusedOps(&count),
            (std::vector<std::string>{"dropout_add", "dropout_grad"}));
  EXPECT_EQ(count, 1);
  Instruction fused = fuseElementwise(p.b.program).instructions[0];
  EXPECT_EQ(fused.inputs, (std::vector<int>{p.x, p.r}));
  EXPECT_EQ(fused.outputs, (std::vector<int>{p.y, p.mask}));
  EXPECT_EQ(fused.attrs, kDrop);
}

TEST(FusionTest, DropoutResultReadElsewhereStaysApart) {
  DropoutAdd p;
  p.b.add("gelu", {p.d}, {p.b.tensor("more")});
  EXPECT_EQ(p.b.fusedOps()[0], "dropout");
}

TEST(FusionTest, DropoutInputReadLaterStaysApart) {
  // y would be allocated while x is still live: the planned peak could
  // have been at the add, with d and y both live.
  DropoutAdd p;
  p.b.add("gelu", {p.x}, {p.b.tensor("more")});
  EXPECT_EQ(p.b.fusedOps()[0], "dropout");
}

TEST(FusionTest, ThePlanDecidesWhereOnePassMayWrite) {
  // y on x's bytes exactly: element i is read before it is written.
  EXPECT_EQ(DropoutAdd(0, 0, 512).b.fusedOps()[0], "dropout_add");
  // y apart from x.
  EXPECT_EQ(DropoutAdd(0, 256, 512).b.fusedOps()[0], "dropout_add");
  // y across x's bytes at another offset: the pass would overwrite x.
  EXPECT_EQ(DropoutAdd(0, 64, 512).b.fusedOps()[0], "dropout");
  // A mask nobody reads is freed at once; y may have its bytes in the plan.
  EXPECT_EQ(DropoutAdd(0, 256, 256, false).b.fusedOps()[0], "dropout");
  EXPECT_EQ(DropoutAdd(0, 256, 512, false).b.fusedOps()[0], "dropout_add");
}

/// linear(x, w, b) -> h; gelu(h) -> g; readers of h and g.
struct LinearGelu {
  Builder b;
  int x, h, g;
  explicit LinearGelu(bool xReadLater, bool bias = true) {
    x = b.tensor("x", TensorRole::Activation, 0);
    int w = b.tensor("w", TensorRole::Parameter, -1, DType::F32, {8, 8});
    int bb = b.tensor("b", TensorRole::Parameter, -1, DType::F32, {8});
    h = b.tensor("h", TensorRole::Activation, 128);
    g = b.tensor("g", TensorRole::Temporary, 256);
    std::vector<int> inputs = {x, w};
    if (bias)
      inputs.push_back(bb);
    b.add("linear", inputs, {h});
    b.add("gelu", {h}, {g}, {{"approximate", std::string("tanh")}});
    b.add("gelu_grad", {h, g}, {b.tensor("dh")},
          {{"approximate", std::string("tanh")}});
    if (xReadLater)
      b.add("gelu", {x}, {b.tensor("later")});
  }
};

TEST(FusionTest, LinearThenGeluBecomesOneOpWhileItsInputLives) {
  LinearGelu p(true);
  EXPECT_EQ(p.b.fusedOps(),
            (std::vector<std::string>{"linear_gelu", "gelu_grad", "gelu"}));
  Instruction fused = fuseElementwise(p.b.program).instructions[0];
  EXPECT_EQ(fused.outputs, (std::vector<int>{p.h, p.g}));
  EXPECT_EQ(fused.attrs.at("approximate"),
            ckpt::ops::AttrValue(std::string("tanh")));
  // x freed after the linear: g would be live with x, above the plan.
  EXPECT_EQ(LinearGelu(false).b.fusedOps()[0], "linear");
  // Without a bias there is no bias + GeLU pass to fuse.
  EXPECT_EQ(LinearGelu(true, false).b.fusedOps()[0], "linear");
}

} // namespace
