//===- RematPolicy.h - Policies decide remat plans --------------*- C++ -*-===//
//
// A policy reads the step graph and returns a remat plan. Policies are typed
// objects behind a small registry keyed by name (as XLA's rematerialization
// takes an algorithm): Megatron-LM's presets are the policy "megatron"; a
// memory-budget solver registers as another without touching the rewrite.
// The pass options keep Megatron's names (RematOptions) and each policy's
// factory reads the ones it understands.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_REMATPOLICY_H
#define CKPT_REWRITE_REMATPOLICY_H

#include "ckpt/Options/CompileOptions.h"
#include "ckpt/Plan/PlacementPlan.h"
#include "ckpt/Rewrite/RematPlan.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace ckpt {

/// The recompute policy `module`'s config named (the `ckpt.policy`
/// attribute), as options; none when the module carries none.
std::optional<RematOptions> configuredRematOptions(mlir::ModuleOp module);

class RematPolicy {
public:
  virtual ~RematPolicy();
  /// A short name for tables: "none", "selective(core_attn)", ...
  virtual std::string describe() const = 0;
  /// The plan for `graph`, or a message saying why there is none.
  virtual mlir::FailureOr<RematPlan> decide(const StepGraph &graph,
                                            std::string &error) const = 0;
};

using RematPolicyFactory = std::function<std::unique_ptr<RematPolicy>(
    const RematOptions &options, std::string &error)>;

/// Registers policy `name`; later registrations of a name replace earlier
/// ones.
void registerRematPolicy(const std::string &name, RematPolicyFactory factory);
/// The policy `name` built from `options`; null with `error` set when the
/// name is unknown or the options are invalid.
std::unique_ptr<RematPolicy> createRematPolicy(const std::string &name,
                                               const RematOptions &options,
                                               std::string &error);
/// The registered names, sorted.
std::vector<std::string> registeredRematPolicies();

//===----------------------------------------------------------------------===//
// Megatron-LM's presets (docs/policies.md)
//===----------------------------------------------------------------------===//

enum class RecomputeGranularity { None, Selective, Full };
enum class RecomputeMethod { Unset, Uniform, Block };
/// Megatron's recompute_modules: core attention, the dense MLP, the norms,
/// and in a mixture-of-experts layer the whole routed MLP (moe), its
/// experts' activation (moe_act) or the shared expert (shared_experts).
enum class RecomputeModule {
  CoreAttn,
  Mlp,
  LayerNorm,
  Moe,
  MoeAct,
  SharedExperts
};

const char *toString(RecomputeGranularity granularity);
const char *toString(RecomputeMethod method); ///< "" for Unset.
const char *toString(RecomputeModule module); ///< The module tag.

class MegatronPolicy : public RematPolicy {
public:
  RecomputeGranularity granularity = RecomputeGranularity::None;
  RecomputeMethod method = RecomputeMethod::Unset;
  int64_t numLayers = -1; ///< Full only: layers per chunk or block.
  /// Selective only; empty means core_attn.
  std::vector<RecomputeModule> modules;
  /// Full recompute with t > 1 tensor-parallel ranks: each rank keeps a 1/t
  /// shard of every chunk input, all-gathered before the recompute.
  bool distributeSavedActivations = false;

  /// Reads and checks the options with Megatron's rules (the range of
  /// recompute-num-layers needs the model: decide() checks it).
  static std::unique_ptr<MegatronPolicy> parse(const RematOptions &options,
                                               std::string &error);

  /// The modules a selective policy recomputes (the default filled in).
  std::vector<RecomputeModule> selectiveModules() const;
  /// The problem of this policy on a model with `layers` layers, or "".
  std::string validate(int64_t layers) const;

  std::string describe() const override;
  mlir::FailureOr<RematPlan> decide(const StepGraph &graph,
                                    std::string &error) const override;
};

/// The presets worth comparing on a model with `layers` layers (none, the
/// selective module sets, full uniform and block); with `distributable` (a
/// tensor-parallel graph without sequence parallelism) also full uniform
/// with distributed saved activations; with `moe` the mixture-of-experts
/// modules in place of the dense MLP's.
std::vector<MegatronPolicy>
standardMegatronPolicies(int64_t layers, bool distributable, bool moe = false);

/// Why distributed saved activations cannot shard `graph`'s region inputs
/// (no tensor parallelism, or sequence parallelism, as Megatron refuses
/// them), or "" when they can; the tensor-parallel size in `ranks`.
std::string distributeSavedActivationsError(const StepGraph &graph,
                                            int64_t &ranks);

/// Whether recomputing `module` recomputes the ops tagged `tag` (moe
/// covers its experts' activation, moe_act).
bool recomputesTag(RecomputeModule module, llvm::StringRef tag);

/// The modules a selective policy may name, in order.
const std::vector<RecomputeModule> &getRecomputableModules();

/// The model chunk of a node: its `ckpt.chunk` tag (a pipeline stage's
/// chunk), or 0.
int64_t chunkOf(const StepNode &node);

/// A model chunk's layers, as Megatron counts them for recompute_num_layers
/// (each chunk of a pipeline stage is a TransformerBlock of its own): the
/// first layer tag and how many follow it.
struct LayerSpan {
  int64_t first = 0;
  int64_t count = 0;
};
/// The layer span of each model chunk of a step, by chunk.
std::map<int64_t, LayerSpan> layerSpans(const StepGraph &graph);

/// The number of transformer layers of a step's model chunk (the largest
/// when a pipeline stage has several; 0 without layers).
int64_t countLayers(const StepGraph &graph);

/// Decides with `policy` on the graph of `step` and applies the plan;
/// errors are reported at the step's module. The result holds the graph of
/// the rewritten step.
/// With `placements`, also describes the decision as a placement plan
/// (PlanBinding.h) made by `policy` on the model `model`.
mlir::FailureOr<RematResult>
applyRemat(mlir::func::FuncOp step, const RematPolicy &policy,
           RegionOps regionOps = RegionOps::Needed,
           plan::PlacementPlan *placements = nullptr);

} // namespace ckpt

#endif // CKPT_REWRITE_REMATPOLICY_H
