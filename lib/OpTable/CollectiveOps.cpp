//===- CollectiveOps.cpp - Table entries of the ckpt collectives ----------===//
//
// Megatron's tensor-parallel mappings over a group of `size` ranks. None of
// them reads a forward value in its backward (the gradient of each is its
// conjugate collective); reductions count one addition per element.
//
//===----------------------------------------------------------------------===//

#include "OpRules.h"

using namespace ckpt::ops;
using namespace ckpt::ops::detail;

namespace {
using R = RuleContext;

bool groupAndSize(R &r) {
  if (r.str("group").empty())
    return r.fail("needs a group name");
  if (r.i64("size") < 1)
    return r.fail("size must be >= 1, got " + std::to_string(r.i64("size")));
  return true;
}

/// Identity in shape: tp_copy and all_reduce.
bool sameShapeRule(R &r) {
  if (!groupAndSize(r) || !r.sameElementType({R::In(0), R::Out(0)}))
    return false;
  r.setOutput(0, r.in(0), r.inType(0));
  return true;
}

/// Dimension `dim` multiplied (gather) or divided (scatter) by `size`.
bool resized(R &r, bool gather) {
  if (!groupAndSize(r))
    return false;
  const TensorDesc &input = r.input(0);
  const TensorDesc *result = r.peek(0);
  int64_t dim = r.i64("dim"), size = r.i64("size");
  int64_t rank = static_cast<int64_t>(input.shape.size());
  if (result && result->type != input.type)
    return r.fail("keeps the element type");
  if (dim < 0 || dim >= rank)
    return r.fail("dim " + std::to_string(dim) + " is outside the rank-" +
                  std::to_string(rank) + " operand");
  if (result && static_cast<int64_t>(result->shape.size()) != rank)
    return r.fail("keeps the rank");
  Shape out = input.shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t expected = input.shape[d];
    if (d == dim) {
      if (!gather && expected % size != 0)
        return r.fail("dimension " + std::to_string(dim) + " (" +
                      std::to_string(expected) +
                      ") must be divisible by the group size " +
                      std::to_string(size));
      expected = gather ? expected * size : expected / size;
    }
    if (result && result->shape[d] != expected)
      return r.fail("result dimension " + std::to_string(d) + " must be " +
                    std::to_string(expected) + ", got " +
                    std::to_string(result->shape[d]));
    out[d] = expected;
  }
  r.setOutput(0, out, input.type);
  return true;
}

bool stageRule(R &r) {
  if (r.i64("stage") < 0)
    return r.fail("stage must be >= 0, got " + std::to_string(r.i64("stage")));
  return true;
}

/// A received tensor has the type it is declared with.
bool receivedRule(R &r) {
  const TensorDesc *result = r.given(0);
  if (!result || !stageRule(r))
    return false;
  r.setOutput(0, result->shape, result->type);
  return true;
}

bool gatherRule(R &r) { return resized(r, /*gather=*/true); }
bool scatterRule(R &r) { return resized(r, /*gather=*/false); }
} // namespace

void detail::addCollectiveOps(std::vector<OpDef> &ops) {
  auto none = [](const OpInstance &) { return OpCost{}; };
  AttrSpec group{"group", AttrKind::String, std::nullopt};
  AttrSpec size{"size", AttrKind::Int, std::nullopt};
  AttrSpec dim{"dim", AttrKind::Int, std::nullopt};
  auto collective = [&](std::string_view name, std::vector<AttrSpec> attrs,
                        ShapeRule rule, CostRule cost) {
    ops.push_back({name,
                   OpClass::Collective,
                   {{"input"}},
                   {{"result"}},
                   std::move(attrs),
                   rule,
                   cost,
                   {},
                   {}});
  };
  collective("tp_copy", {group, size}, sameShapeRule, none);
  ops.back().tensorParallelResult = TensorParallelResult::Replicated;
  collective("all_reduce", {group, size}, sameShapeRule,
             [](const OpInstance &op) {
               return OpCost{0, elements(op.outputs[0])};
             });
  ops.back().tensorParallelResult = TensorParallelResult::Replicated;
  collective("all_gather",
             {group,
              size,
              dim,
              {"tensor_parallel_output_grad", AttrKind::Bool, AttrValue(true)}},
             gatherRule, none);
  ops.back().tensorParallelResult = TensorParallelResult::Replicated;
  collective("reduce_scatter", {group, size, dim}, scatterRule,
             [](const OpInstance &op) {
               return OpCost{0, elements(op.inputs[0])};
             });
  collective("shard", {group, size, dim}, scatterRule, none);

  // Pipeline transfers: `stage` is the peer stage.
  AttrSpec stage{"stage", AttrKind::Int, std::nullopt};
  AttrSpec tag{"tag", AttrKind::Int, AttrValue(int64_t(0))};
  ops.push_back({"send",
                 OpClass::PointToPoint,
                 {{"input"}},
                 {},
                 {stage, tag},
                 stageRule,
                 none,
                 {},
                 {}});
  ops.push_back({"recv",
                 OpClass::PointToPoint,
                 {},
                 {{"result"}},
                 {stage, tag},
                 receivedRule,
                 none,
                 {},
                 {}});
}
