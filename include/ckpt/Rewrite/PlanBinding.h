//===- PlanBinding.h - Placement plans on a step graph ----------*- C++ -*-===//
//
// Names a step graph's forward ops and saved values stably, turns the remat
// plan a policy decided into a placement plan (to save it), and binds a
// placement plan (a loaded file) back to a remat plan over the graph, with a
// located refusal for every value or op that does not fit.
//
// A forward op is named `<scope>.<module>.<kind>`: the scope is `L<layer>`
// inside a transformer layer and absent outside one, the module its xf.module
// tag (absent without one), the kind its name without the dialect, with
// `#<k>` when the scope and module hold several ops of that kind (k counts
// from 0 in forward order). A value is its producer's name, with
// `:<result>` (the op table's result name) when the op has several results:
// `L3.core_attn.softmax`, `L3.mlp.linear#1`, `L0.core_attn.dropout:mask`,
// `head.cross_entropy:probs`. A pipeline stage's ops carry their global
// layer indices, so a stage's plan names its own layers.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_PLANBINDING_H
#define CKPT_REWRITE_PLANBINDING_H

#include "ckpt/Plan/PlacementPlan.h"
#include "ckpt/Rewrite/RematPlan.h"

#include "llvm/ADT/StringMap.h"

namespace ckpt {

/// The stable names of a step graph's forward ops and saved values.
class PlanNames {
public:
  explicit PlanNames(const StepGraph &graph);

  /// The name of forward node `node` ("" for another phase).
  const std::string &node(int node) const { return nodeNames_[node]; }
  /// The name of tensor `tensor`, produced by a forward node.
  std::string value(int tensor) const;
  /// The forward node or the tensor named `name`, or -1.
  int findNode(llvm::StringRef name) const;
  int findValue(llvm::StringRef name) const;
  /// The tensors a placement plan places: forward-node results that the
  /// backward keeps, in forward order.
  const std::vector<int> &savedValues() const { return saved_; }

private:
  const StepGraph &graph_;
  std::vector<std::string> nodeNames_;
  llvm::StringMap<int> nodeIndex_;
  std::vector<int> saved_;
};

/// The placement plan that `plan` (decided on `graph`, not yet applied)
/// puts into effect: every value the backward reads, and every value a
/// region starts from, kept or sharded as evaluatePlan replays the rewrite.
plan::PlacementPlan describePlan(const StepGraph &graph, const RematPlan &plan,
                                 llvm::StringRef policy,
                                 plan::ModelFields model);

/// The remat plan that `placements` says for `graph`, or none with `error`
/// naming the value, op or group that does not fit: a name the graph lacks,
/// a value of another size, a saved value the plan leaves out, an op that
/// cannot be re-run, a recomputed value whose producer its group leaves
/// out, a shard of a value that cannot be split, an offload (not lowered
/// yet). `tensorParallelSize` is the graph's (1 without tensor parallelism).
std::optional<RematPlan> bindPlan(const StepGraph &graph,
                                  const plan::PlacementPlan &placements,
                                  int64_t tensorParallelSize,
                                  std::string &error);

} // namespace ckpt

#endif // CKPT_REWRITE_PLANBINDING_H
