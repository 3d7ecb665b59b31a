//===- MegatronPolicy.cpp - Megatron-LM's recompute presets as a policy ---===//
//
// The rules of Megatron-LM's TransformerConfig, plus a range check on
// recompute_num_layers that Megatron leaves out. decide() groups the forward
// ops the preset recomputes: one group per chunk of layers (full), per layer
// and module (selective), per op annotated `ckpt.remat = "recompute"`.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/Rewrite/RematPolicy.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <map>
#include <set>

using namespace mlir;
using namespace ckpt;

const char *ckpt::toString(RecomputeGranularity granularity) {
  switch (granularity) {
  case RecomputeGranularity::None:
    return "none";
  case RecomputeGranularity::Selective:
    return "selective";
  case RecomputeGranularity::Full:
    return "full";
  }
  return "";
}

const char *ckpt::toString(RecomputeMethod method) {
  switch (method) {
  case RecomputeMethod::Unset:
    return "";
  case RecomputeMethod::Uniform:
    return "uniform";
  case RecomputeMethod::Block:
    return "block";
  }
  return "";
}

const char *ckpt::toString(RecomputeModule module) {
  switch (module) {
  case RecomputeModule::CoreAttn:
    return "core_attn";
  case RecomputeModule::Mlp:
    return "mlp";
  case RecomputeModule::LayerNorm:
    return "layernorm";
  case RecomputeModule::Moe:
    return "moe";
  case RecomputeModule::MoeAct:
    return "moe_act";
  case RecomputeModule::SharedExperts:
    return "shared_experts";
  }
  return "";
}

bool ckpt::recomputesTag(RecomputeModule module, StringRef tag) {
  if (module == RecomputeModule::Moe && tag == "moe_act")
    return true;
  return tag == toString(module);
}

const std::vector<RecomputeModule> &ckpt::getRecomputableModules() {
  static const std::vector<RecomputeModule> modules = {
      RecomputeModule::CoreAttn,  RecomputeModule::Mlp,
      RecomputeModule::LayerNorm, RecomputeModule::Moe,
      RecomputeModule::MoeAct,    RecomputeModule::SharedExperts};
  return modules;
}

namespace {
std::string knownModuleList() {
  std::vector<std::string> names;
  for (RecomputeModule module : getRecomputableModules())
    names.push_back(toString(module));
  return llvm::join(names, ", ");
}
} // namespace

std::unique_ptr<MegatronPolicy>
MegatronPolicy::parse(const RematOptions &options, std::string &error) {
  auto policy = std::make_unique<MegatronPolicy>();
  const std::string &g = options.granularity;
  if (g == "none")
    policy->granularity = RecomputeGranularity::None;
  else if (g == "selective")
    policy->granularity = RecomputeGranularity::Selective;
  else if (g == "full")
    policy->granularity = RecomputeGranularity::Full;
  else {
    error = "recompute-granularity must be none, selective or full, got '" + g +
            "'";
    return nullptr;
  }
  if (options.method == "uniform")
    policy->method = RecomputeMethod::Uniform;
  else if (options.method == "block")
    policy->method = RecomputeMethod::Block;
  else if (!options.method.empty()) {
    error = "recompute-method must be uniform or block, got '" +
            options.method + "'";
    return nullptr;
  }
  bool numLayersGiven = options.numLayers.has_value();
  policy->numLayers = options.numLayers.value_or(-1);
  policy->distributeSavedActivations = options.distributeSavedActivations;
  if (policy->distributeSavedActivations &&
      policy->granularity != RecomputeGranularity::Full) {
    error = "distribute-saved-activations needs recompute-granularity=full";
    return nullptr;
  }
  if (policy->granularity == RecomputeGranularity::None &&
      (policy->method != RecomputeMethod::Unset || numLayersGiven ||
       !options.modules.empty())) {
    error = "recompute-method, recompute-num-layers and recompute-modules "
            "need recompute-granularity=selective or full";
    return nullptr;
  }
  if (policy->granularity == RecomputeGranularity::Selective &&
      (policy->method != RecomputeMethod::Unset || numLayersGiven)) {
    error = "recompute-granularity=selective takes no recompute-method or "
            "recompute-num-layers (they belong to full recompute)";
    return nullptr;
  }
  if (policy->granularity == RecomputeGranularity::Selective) {
    static const std::vector<std::string> otherFamilies = {"mla_up_proj"};
    for (const std::string &name : options.modules) {
      auto known =
          llvm::find_if(getRecomputableModules(), [&](RecomputeModule module) {
            return name == toString(module);
          });
      if (known != getRecomputableModules().end()) {
        policy->modules.push_back(*known);
        continue;
      }
      if (llvm::is_contained(otherFamilies, name))
        error = "recompute-modules: '" + name +
                "' (multi-latent attention) is not modelled (allowed: " +
                knownModuleList() + ")";
      else
        error = "recompute-modules: unknown module '" + name +
                "' (allowed: " + knownModuleList() + ")";
      return nullptr;
    }
  }
  if (policy->granularity == RecomputeGranularity::Full) {
    if (!options.modules.empty()) {
      error = "recompute-modules applies to recompute-granularity=selective "
              "only";
      return nullptr;
    }
    if (policy->method == RecomputeMethod::Unset) {
      error = "recompute-granularity=full needs recompute-method=uniform or "
              "block";
      return nullptr;
    }
    if (!numLayersGiven) {
      error = "recompute-granularity=full needs recompute-num-layers";
      return nullptr;
    }
  }
  return policy;
}

std::vector<RecomputeModule> MegatronPolicy::selectiveModules() const {
  return modules.empty()
             ? std::vector<RecomputeModule>{RecomputeModule::CoreAttn}
             : modules;
}

std::string MegatronPolicy::validate(int64_t layers) const {
  if (granularity != RecomputeGranularity::Full)
    return "";
  if (layers < 1)
    return "full recompute needs layers to checkpoint, and this step has "
           "none (a pipeline stage of the embedding or head alone?): use "
           "recompute-granularity=none or selective here";
  if (numLayers < 1 || numLayers > layers)
    return "recompute-num-layers must be in [1, " + std::to_string(layers) +
           "] (the model has " + std::to_string(layers) +
           (layers == 1 ? " layer" : " layers") + "), got " +
           std::to_string(numLayers);
  return "";
}

std::string MegatronPolicy::describe() const {
  if (granularity == RecomputeGranularity::Selective) {
    std::vector<std::string> names;
    for (RecomputeModule module : selectiveModules())
      names.push_back(toString(module));
    return "selective(" + llvm::join(names, ",") + ")";
  }
  if (granularity == RecomputeGranularity::Full)
    return std::string("full ") + toString(method) +
           " N=" + std::to_string(numLayers) +
           (distributeSavedActivations ? " distributed" : "");
  return toString(granularity);
}

namespace {
/// A group the policy is forming: its key's label, layer tag, and nodes.
struct PendingGroup {
  std::string label;
  std::optional<int64_t> layer;
  bool discardOutputs = false;
  std::vector<int> nodes;
};
} // namespace

std::string ckpt::distributeSavedActivationsError(const StepGraph &graph,
                                                  int64_t &ranks) {
  xf::ModelAttr model = xf::getModel(graph.step);
  ranks = model ? model.getTensorModelParallelSize() : 1;
  if (ranks <= 1)
    return "distribute-saved-activations needs a tensor-parallel graph "
           "(tensor_model_parallel_size > 1)";
  if (model.isSequenceParallel())
    return "distribute-saved-activations cannot be combined with sequence "
           "parallelism";
  return "";
}

FailureOr<RematPlan> MegatronPolicy::decide(const StepGraph &graph,
                                            std::string &error) const {
  error = validate(countLayers(graph));
  if (!error.empty())
    return failure();
  int64_t tensorParallel = 1;
  std::string distributeError =
      distributeSavedActivationsError(graph, tensorParallel);
  if (distributeSavedActivations && !distributeError.empty()) {
    error = distributeError;
    return failure();
  }

  std::vector<RecomputeModule> selected = selectiveModules();
  if (granularity == RecomputeGranularity::Selective) {
    // Each named module must be in the model's layers.
    std::set<std::string> present;
    for (const StepNode &node : graph.nodes)
      if (node.phase == Phase::Forward && node.layer)
        present.insert(node.module.str());
    for (RecomputeModule module : selected) {
      if (llvm::any_of(present, [&](const std::string &tag) {
            return recomputesTag(module, tag);
          }))
        continue;
      std::vector<std::string> have;
      for (RecomputeModule known : getRecomputableModules())
        if (present.count(toString(known)))
          have.push_back(toString(known));
      error = std::string("recompute-modules: '") + toString(module) +
              "' does not exist in this model (its layers have " +
              llvm::join(have, ", ") + ")";
      return failure();
    }
  }
  // Full recompute counts layers from the first of the node's model chunk.
  std::map<int64_t, LayerSpan> spans = layerSpans(graph);
  std::vector<PendingGroup> pending;
  std::map<std::string, size_t> byKey;
  std::map<int64_t, int> normsSeen; ///< Layer norms met so far, per layer.
  for (size_t index = 0; index < graph.nodes.size(); ++index) {
    const StepNode &node = graph.nodes[index];
    if (node.phase != Phase::Forward || node.region >= 0)
      continue;
    // A preset group takes an op first; an annotation places the ops that
    // no preset group recomputes.
    PendingGroup group;
    group.layer = node.layer;
    int64_t start = node.layer ? spans[chunkOf(node)].first : 0;
    if (node.layer && granularity == RecomputeGranularity::Full &&
        method == RecomputeMethod::Uniform) {
      int64_t first = start + (*node.layer - start) / numLayers * numLayers;
      group.layer = first;
      group.label = "layers " + std::to_string(first) + "-" +
                    std::to_string(first + numLayers - 1);
    } else if (node.layer && granularity == RecomputeGranularity::Full &&
               *node.layer - start < numLayers) {
      group.label = "layer " + std::to_string(*node.layer);
    } else if (node.layer && granularity == RecomputeGranularity::Selective &&
               llvm::any_of(selected, [&](RecomputeModule module) {
                 return recomputesTag(module, node.module);
               })) {
      // The whole MoE layer takes its activation when both are named.
      bool wholeMoe = node.module == "moe_act" &&
                      llvm::is_contained(selected, RecomputeModule::Moe);
      group.label = "layer " + std::to_string(*node.layer) + " " +
                    (wholeMoe ? std::string("moe") : node.module.str());
      // Layer norm is Megatron's output-discarding checkpoint, one per norm
      // (with the collectives tagged with it): a norm's output is then
      // rebuilt just before its own readers.
      // So is the experts' activation (moe_act) on its own: its output is
      // dropped after the second expert linear reads it.
      group.discardOutputs =
          node.module == "layernorm" || (node.module == "moe_act" && !wholeMoe);
      if (node.module == "layernorm") {
        int &norms = normsSeen[*node.layer];
        if (const ops::OpDef *def = lookupOpDef(node.op); def && def->isNorm())
          ++norms;
        group.label = "layer " + std::to_string(*node.layer) +
                      (norms <= 1 ? " input_layernorm" : " pre_mlp_layernorm");
      }
    } else if (getRematAnnotation(node.op) == RematAnnotation::Recompute) {
      std::string where =
          node.layer ? "layer " + std::to_string(*node.layer) : "outside";
      group.label = where + " " + node.module.str() + " (annotated)";
      group.discardOutputs = true;
    } else {
      continue;
    }
    auto [it, inserted] = byKey.try_emplace(group.label, pending.size());
    if (inserted)
      pending.push_back(std::move(group));
    PendingGroup &entry = pending[it->second];
    entry.discardOutputs |= group.discardOutputs;
    entry.nodes.push_back(static_cast<int>(index));
  }

  RematPlan plan;
  for (PendingGroup &group : pending) {
    RecomputeGroup made =
        makeRecomputeGroup(graph, std::move(group.label), group.layer,
                           group.nodes, group.discardOutputs);
    if (!made.discarded.empty())
      plan.groups.push_back(std::move(made));
  }
  plan.distributeInputs =
      distributeSavedActivations && granularity == RecomputeGranularity::Full;
  plan.tensorParallelSize = tensorParallel;
  return plan;
}

std::vector<MegatronPolicy>
ckpt::standardMegatronPolicies(int64_t layers, bool distributable, bool moe) {
  using Module = RecomputeModule;
  auto selective = [](std::vector<Module> modules) {
    MegatronPolicy p;
    p.granularity = RecomputeGranularity::Selective;
    p.modules = std::move(modules);
    return p;
  };
  auto full = [](RecomputeMethod method, int64_t n) {
    MegatronPolicy p;
    p.granularity = RecomputeGranularity::Full;
    p.method = method;
    p.numLayers = n;
    return p;
  };
  std::vector<MegatronPolicy> policies = {
      MegatronPolicy(), selective({Module::CoreAttn}),
      selective({Module::CoreAttn, Module::LayerNorm})};
  if (moe) {
    policies.push_back(selective({Module::MoeAct}));
    policies.push_back(selective({Module::Moe}));
    policies.push_back(
        selective({Module::CoreAttn, Module::Moe, Module::LayerNorm}));
  } else {
    policies.push_back(selective({Module::Mlp}));
    policies.push_back(
        selective({Module::CoreAttn, Module::Mlp, Module::LayerNorm}));
  }
  if (layers >= 1)
    policies.push_back(full(RecomputeMethod::Uniform, 1));
  if (layers >= 2) {
    policies.push_back(full(RecomputeMethod::Uniform, 2));
    policies.push_back(full(RecomputeMethod::Block, 1));
  }
  if (layers >= 4)
    policies.push_back(full(RecomputeMethod::Block, layers / 2));
  // A tensor-parallel graph without sequence parallelism can also shard the
  // kept chunk inputs over its ranks.
  if (distributable && layers >= 1) {
    MegatronPolicy distributed = full(RecomputeMethod::Uniform, 1);
    distributed.distributeSavedActivations = true;
    policies.push_back(distributed);
  }
  return policies;
}
