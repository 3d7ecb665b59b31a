//===- RematPolicy.cpp - Validation of recompute policies -----------------===//
//
// The rules of Megatron-LM's TransformerConfig, plus a range check on
// recompute_num_layers that Megatron leaves out.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Transforms/Remat.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace ckpt;

const std::vector<std::string> &ckpt::getRecomputableModules() {
  static const std::vector<std::string> modules = {"core_attn", "mlp",
                                                   "layernorm"};
  return modules;
}

std::vector<std::string> RematPolicy::selectiveModules() const {
  return modules.empty() ? std::vector<std::string>{"core_attn"} : modules;
}

std::string RematPolicy::describe() const {
  if (granularity == "selective")
    return "selective(" + llvm::join(selectiveModules(), ",") + ")";
  if (granularity == "full")
    return "full " + method + " N=" + std::to_string(numLayers) +
           (distributeSavedActivations ? " distributed" : "");
  return granularity;
}

std::string ckpt::validateRematPolicy(const RematPolicy &policy,
                                      int64_t numLayers) {
  const std::string &g = policy.granularity;
  if (g != "none" && g != "selective" && g != "full")
    return "recompute-granularity must be none, selective or full, got '" + g +
           "'";
  if (!policy.method.empty() && policy.method != "uniform" &&
      policy.method != "block")
    return "recompute-method must be uniform or block, got '" + policy.method +
           "'";
  if (policy.distributeSavedActivations && g != "full")
    return "distribute-saved-activations needs recompute-granularity=full";
  if (g == "none") {
    if (!policy.method.empty() || policy.numLayers != -1 ||
        !policy.modules.empty())
      return "recompute-method, recompute-num-layers and recompute-modules "
             "need recompute-granularity=selective or full";
    return "";
  }
  if (g == "selective") {
    if (!policy.method.empty() || policy.numLayers != -1)
      return "recompute-granularity=selective takes no recompute-method or "
             "recompute-num-layers (they belong to full recompute)";
    const std::vector<std::string> &known = getRecomputableModules();
    static const std::vector<std::string> otherFamilies = {
        "moe", "moe_act", "mla_up_proj", "shared_experts"};
    for (const std::string &module : policy.modules) {
      if (llvm::is_contained(known, module))
        continue;
      if (llvm::is_contained(otherFamilies, module))
        return "recompute-modules: '" + module +
               "' does not exist in this model (a GPT has " +
               llvm::join(known, ", ") + ")";
      return "recompute-modules: unknown module '" + module +
             "' (allowed: " + llvm::join(known, ", ") + ")";
    }
    return "";
  }
  // full
  if (!policy.modules.empty())
    return "recompute-modules applies to recompute-granularity=selective "
           "only";
  if (policy.method.empty())
    return "recompute-granularity=full needs recompute-method=uniform or "
           "block";
  if (policy.numLayers == -1)
    return "recompute-granularity=full needs recompute-num-layers";
  if (policy.numLayers < 1 || policy.numLayers > numLayers)
    return "recompute-num-layers must be in [1, " + std::to_string(numLayers) +
           "] (the model has " + std::to_string(numLayers) +
           (numLayers == 1 ? " layer" : " layers") + "), got " +
           std::to_string(policy.numLayers);
  return "";
}
