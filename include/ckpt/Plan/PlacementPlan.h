//===- PlacementPlan.h - Where each saved value lives, as data --*- C++ -*-===//
//
// A placement plan says, for every value a forward op produces that the
// backward reads, where it lives until then: kept on the device, recomputed
// in a named group, kept as a 1/t shard and gathered back, or (room for the
// next placement) offloaded to the host. Values and ops are named stably
// (layer, module, op kind and its ordinal, result), never by node number, so
// a plan saved from one step applies to the same model with another
// micro-batch count, and a plan that does not fit is refused by name.
//
// This library holds the data and its file format (docs/plan-format.md) and
// depends on LLVM's support library only: no MLIR. Policies produce plans
// and the rewrite lowers them (ckpt/Rewrite/PlanBinding.h binds names to
// a step graph).
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLAN_PLACEMENTPLAN_H
#define CKPT_PLAN_PLACEMENTPLAN_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ckpt::plan {

/// Where a saved value lives between its forward producer and its backward
/// readers.
enum class Placement : uint8_t {
  Keep,      ///< On the device, whole.
  Recompute, ///< Discarded; its group's region rebuilds it.
  Shard,     ///< A 1/t piece per tensor-parallel rank, all-gathered back.
  Offload,   ///< In host memory, reloaded before use (not lowered yet).
};

/// "keep", "recompute", "shard", "offload".
const char *placementName(Placement placement);
/// The placement named `name`, or none.
std::optional<Placement> parsePlacement(llvm::StringRef name);

/// One recompute group: the forward ops its region may re-run, in order.
struct PlanGroup {
  std::string label;
  std::optional<int64_t> layer;
  std::vector<std::string> ops;
};

/// One saved value and its placement.
struct PlannedValue {
  std::string name; ///< Stable name (PlanBinding.h: "L3.core_attn.softmax")
  std::optional<int64_t> layer;
  int64_t bytes = 0; ///< The whole value's bytes.
  Placement placement = Placement::Keep;
  std::string group; ///< Recompute: the label of its group.
};

/// The model a plan was made for, as (field, text) pairs: for people; a
/// plan is bound to a step by its values' names and sizes.
using ModelFields = std::vector<std::pair<std::string, std::string>>;

struct PlacementPlan {
  /// The plan-file version this build writes and reads.
  static constexpr int64_t kVersion = 1;

  std::string policy; ///< What made it: "selective(core_attn)", ...
  ModelFields model;
  /// The tensor-parallel size of the step it was made for (a shard is 1/t).
  int64_t tensorParallelSize = 1;
  /// The pipeline stage it was made for; none for a step of one stage.
  std::optional<int64_t> pipelineStage;
  std::vector<PlanGroup> groups;    ///< In the order of their first op.
  std::vector<PlannedValue> values; ///< In forward order.

  /// The group labelled `label`, or null.
  const PlanGroup *findGroup(llvm::StringRef label) const;
  /// Bytes the device keeps for the saved values (a shard counts 1/t).
  int64_t keptBytes() const;
};

/// Reads a plan file's JSON: one plan, or a pipeline's plans, one per stage
/// (`stages`). On failure, returns none and sets `error` to where (a JSON
/// path such as `layers[3].values[0].placement`), what is wrong and what is
/// allowed. Checks what a plan says of itself: a supported version, every
/// value named once, every group labelled once, a recomputed value's group
/// present, each stage once; whether it fits a step is PlanBinding's job.
std::optional<std::vector<PlacementPlan>>
planFromJSON(const llvm::json::Value &json, std::string &error);

/// Reads the plan file `path` ("FILE: what is wrong" in `error`).
std::optional<std::vector<PlacementPlan>> readPlanFile(llvm::StringRef path,
                                                       std::string &error);

/// The plan file's text (docs/plan-format.md): the groups one per line, then
/// the values one per line, listed per layer with each layer's kept,
/// recomputed and sharded bytes for people to read. Several plans (a
/// pipeline's stages) are listed under `stages`.
std::string formatPlanFile(const PlacementPlan &plan);
std::string formatPlanFile(const std::vector<PlacementPlan> &stages);

} // namespace ckpt::plan

#endif // CKPT_PLAN_PLACEMENTPLAN_H
