//===- RematPolicyRegistry.cpp - Policies by name, and applying one -------===//

#include "ckpt/Transforms/RematPolicy.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"

#include <map>

using namespace mlir;
using namespace ckpt;

RematPolicy::~RematPolicy() = default;

namespace {
std::map<std::string, RematPolicyFactory> &registry() {
  static std::map<std::string, RematPolicyFactory> policies = {
      {"megatron",
       [](const RematOptions &options,
          std::string &error) -> std::unique_ptr<RematPolicy> {
         return MegatronPolicy::parse(options, error);
       }},
  };
  return policies;
}
} // namespace

void ckpt::registerRematPolicy(const std::string &name,
                               RematPolicyFactory factory) {
  registry()[name] = std::move(factory);
}

std::vector<std::string> ckpt::registeredRematPolicies() {
  std::vector<std::string> names;
  for (auto &[name, factory] : registry())
    names.push_back(name);
  return names;
}

std::unique_ptr<RematPolicy>
ckpt::createRematPolicy(const std::string &name, const RematOptions &options,
                        std::string &error) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    error = "unknown remat policy '" + name +
            "' (registered: " + llvm::join(registeredRematPolicies(), ", ") +
            ")";
    return nullptr;
  }
  return it->second(options, error);
}

int64_t ckpt::countLayers(const StepGraph &graph) {
  int64_t layers = 0;
  for (const StepNode &node : graph.nodes)
    if (node.phase == Phase::Forward && node.region < 0 && node.layer)
      layers = std::max(layers, *node.layer + 1);
  return layers;
}

FailureOr<RematResult> ckpt::applyRemat(func::FuncOp step,
                                        const RematPolicy &policy,
                                        RegionOps regionOps) {
  // Reported at the module: the function's line is as long as its signature.
  Operation *where = step->getParentOp() ? step->getParentOp() : step;
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  std::string error;
  FailureOr<RematPlan> plan = policy.decide(*graph, error);
  if (failed(plan))
    return mlir::emitError(where->getLoc()) << error;
  FailureOr<RematResult> result = applyRematPlan(*graph, *plan, regionOps);
  // Without a region the step, and so its graph, is unchanged.
  if (succeeded(result) && !result->graph)
    result->graph = std::move(*graph);
  return result;
}
