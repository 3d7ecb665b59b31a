//===- RematPolicyRegistry.cpp - Policies by name, and applying one -------===//

#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Rewrite/PlanBinding.h"
#include "ckpt/Rewrite/RematPolicy.h"
#include "ckpt/Solver/BudgetPolicy.h"
#include "ckpt/Support/ByteSize.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"

#include <map>
#include <tuple>

using namespace mlir;
using namespace ckpt;

RematPolicy::~RematPolicy() = default;

std::optional<RematOptions>
ckpt::configuredRematOptions(mlir::ModuleOp module) {
  auto policy =
      module->getAttrOfType<mlir::DictionaryAttr>(CkptDialect::kPolicyAttrName);
  if (!policy)
    return std::nullopt;
  RematOptions options;
  if (auto granularity =
          policy.getAs<mlir::StringAttr>("recompute_granularity"))
    options.granularity = granularity.str();
  if (auto method = policy.getAs<mlir::StringAttr>("recompute_method"))
    options.method = method.str();
  if (auto layers = policy.getAs<mlir::IntegerAttr>("recompute_num_layers"))
    options.numLayers = layers.getInt();
  if (auto modules = policy.getAs<mlir::ArrayAttr>("recompute_modules"))
    for (auto module : modules.getAsRange<mlir::StringAttr>())
      options.modules.push_back(module.str());
  if (auto distribute =
          policy.getAs<mlir::BoolAttr>("distribute_saved_activations"))
    options.distributeSavedActivations = distribute.getValue();
  return options;
}

namespace {
/// A placement plan file applied as it says (docs/plan-format.md).
class PlanFilePolicy : public RematPolicy {
public:
  PlanFilePolicy(std::string path, std::vector<plan::PlacementPlan> plans)
      : path_(std::move(path)), plans_(std::move(plans)) {}

  /// The policy that made the plan, so that a reloaded plan reports as the
  /// original did.
  std::string describe() const override {
    const std::string &policy = plans_.front().policy;
    return policy.empty() ? "plan" : policy;
  }

  FailureOr<RematPlan> decide(const StepGraph &graph,
                              std::string &error) const override {
    const plan::PlacementPlan *placements = forStep(graph, error);
    if (!placements) {
      error = path_ + ": " + error;
      return failure();
    }
    int64_t ranks = 1;
    (void)distributeSavedActivationsError(graph, ranks);
    std::optional<RematPlan> plan = bindPlan(graph, *placements, ranks, error);
    if (!plan) {
      error = path_ + ": " + error;
      return failure();
    }
    return std::move(*plan);
  }

private:
  /// The file's plan for the step's pipeline stage: its only plan, or the
  /// one of a file of stages made for that stage.
  const plan::PlacementPlan *forStep(const StepGraph &graph,
                                     std::string &error) const {
    if (plans_.size() == 1)
      return &plans_.front();
    std::optional<PipelineShape> shape =
        getPipelineShape(graph.step->getParentOp());
    std::vector<std::string> stages;
    for (const plan::PlacementPlan &plan : plans_) {
      if (shape && plan.pipelineStage == shape->stage)
        return &plan;
      stages.push_back(std::to_string(*plan.pipelineStage));
    }
    error = "the file holds the plans of pipeline stages " +
            llvm::join(stages, ", ") + ", none for " +
            (shape ? "stage " + std::to_string(shape->stage)
                   : std::string("a step that is not a pipeline stage"));
    return nullptr;
  }

  std::string path_;
  std::vector<plan::PlacementPlan> plans_;
};

std::unique_ptr<RematPolicy> parsePlanPolicy(const RematOptions &options,
                                             std::string &error) {
  if (options.planFile.empty()) {
    error = "policy=plan needs plan=FILE (a placement plan, "
            "docs/plan-format.md)";
    return nullptr;
  }
  if (options.granularity != "none" || !options.method.empty() ||
      options.numLayers || !options.modules.empty() ||
      options.distributeSavedActivations || !options.memoryBudget.empty() ||
      !options.deviceMemory.empty() || !options.cost.empty()) {
    error = "plan=FILE places every saved value itself; it takes no "
            "recompute-granularity, recompute-method, recompute-num-layers, "
            "recompute-modules, distribute-saved-activations, memory-budget, "
            "device-memory or cost";
    return nullptr;
  }
  std::optional<std::vector<plan::PlacementPlan>> plans =
      plan::readPlanFile(options.planFile, error);
  if (!plans)
    return nullptr;
  return std::make_unique<PlanFilePolicy>(options.planFile, std::move(*plans));
}

/// The budget solver reads the caps and refuses Megatron's options but
/// distribute-saved-activations: it chooses what to recompute itself.
std::unique_ptr<RematPolicy> parseBudgetPolicy(const RematOptions &options,
                                               std::string &error) {
  if (options.granularity != "none" || !options.method.empty() ||
      options.numLayers || !options.modules.empty()) {
    error = "memory-budget chooses what to recompute itself; it takes no "
            "recompute-granularity, recompute-method, recompute-num-layers "
            "or recompute-modules";
    return nullptr;
  }
  if (!options.planFile.empty()) {
    error = "plan=FILE is a policy of its own (policy=plan); the budget "
            "solver decides its own plan";
    return nullptr;
  }
  if (options.memoryBudget.empty() && options.deviceMemory.empty()) {
    error = "policy=budget needs memory-budget=BYTES or device-memory=BYTES";
    return nullptr;
  }
  auto policy = std::make_unique<BudgetPolicy>();
  policy->distributeSavedActivations = options.distributeSavedActivations;
  llvm::StringRef cost = options.cost;
  if (cost.consume_front("profile:")) {
    std::optional<RecomputeCost> measured =
        RecomputeCost::fromProfile(cost, error);
    if (!measured) {
      error = "cost: " + error;
      return nullptr;
    }
    policy->cost = std::move(*measured);
  } else if (!cost.empty() && cost != "flops") {
    error = "cost must be flops or profile:FILE (a profile written by "
            "ckpt-run --profile=FILE), got '" +
            options.cost + "'";
    return nullptr;
  }
  for (auto [text, cap, name] :
       {std::tuple(&options.memoryBudget, &policy->memoryBudget,
                   "memory-budget"),
        std::tuple(&options.deviceMemory, &policy->deviceMemory,
                   "device-memory")}) {
    if (text->empty())
      continue;
    std::string why;
    *cap = parseByteSize(*text, why);
    if (*cap < 0) {
      error = std::string(name) + ": " + why;
      return nullptr;
    }
  }
  return policy;
}

std::map<std::string, RematPolicyFactory> &registry() {
  static std::map<std::string, RematPolicyFactory> policies = {
      {"megatron",
       [](const RematOptions &options,
          std::string &error) -> std::unique_ptr<RematPolicy> {
         if (!options.memoryBudget.empty() || !options.deviceMemory.empty() ||
             !options.cost.empty()) {
           error = "memory-budget, device-memory and cost belong to the "
                   "budget solver (policy=budget)";
           return nullptr;
         }
         if (!options.planFile.empty()) {
           error = "plan=FILE is a policy of its own (policy=plan); "
                   "Megatron's presets decide their own plan";
           return nullptr;
         }
         return MegatronPolicy::parse(options, error);
       }},
      {"budget", parseBudgetPolicy},
      {"plan", parsePlanPolicy},
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
