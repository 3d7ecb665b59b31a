//===- CompileOptions.cpp - The compile options, typed --------------------===//

#include "ckpt/Options/CompileOptions.h"

#include "llvm/ADT/StringExtras.h"

using namespace ckpt;
using namespace ckpt::options;
using llvm::StringRef;

const char *ckpt::toString(RegionOps regionOps) {
  return regionOps == RegionOps::All ? "all" : "needed";
}

std::optional<RegionOps> ckpt::parseRegionOps(StringRef name) {
  if (name == "needed")
    return RegionOps::Needed;
  if (name == "all")
    return RegionOps::All;
  return std::nullopt;
}

std::string CompileOptions::set(StringRef name, StringRef text,
                                unsigned scopes) {
  const OptionSpec *spec = findOption(name);
  if (spec && (spec->scopes & scopes))
    return set(spec->id, text);
  for (const OptionAlias &alias : allAliases())
    if (alias.name == name && (alias.scopes & scopes))
      return set(alias.id, text);
  return "unknown option '" + name.str() +
         "' (allowed: " + describeOptions(scopes) + ")";
}

std::string CompileOptions::set(OptionId id, StringRef text) {
  const OptionSpec &spec = specOf(id);
  if (std::string problem = checkValue(spec, text); !problem.empty())
    return problem;
  auto integer = [&] {
    int64_t value = 0;
    (void)text.getAsInteger(10, value);
    return value;
  };
  switch (id) {
  case OptionId::Policy:
    policy = text.str();
    break;
  case OptionId::RecomputeGranularity:
    remat.granularity = text.str();
    break;
  case OptionId::RecomputeMethod:
    remat.method = text.str();
    break;
  case OptionId::RecomputeNumLayers:
    remat.numLayers = integer();
    break;
  case OptionId::RecomputeModules: {
    llvm::SmallVector<StringRef> words;
    text.split(words, ',', -1, /*KeepEmpty=*/false);
    remat.modules.clear();
    for (StringRef word : words)
      remat.modules.push_back(word.trim().str());
    break;
  }
  case OptionId::DistributeSavedActivations:
    remat.distributeSavedActivations = flagValue(text);
    break;
  case OptionId::MemoryBudget:
    remat.memoryBudget = text.str();
    break;
  case OptionId::DeviceMemory:
    remat.deviceMemory = text.str();
    break;
  case OptionId::Cost:
    remat.cost = text.str();
    break;
  case OptionId::Plan:
    remat.planFile = text.str();
    break;
  case OptionId::SavePlan:
    savePlan = text.str();
    break;
  case OptionId::RegionOps:
    regionOps = *parseRegionOps(text);
    break;
  case OptionId::PlanMemory:
    planMemory = flagValue(text);
    break;
  case OptionId::Alignment:
    alignment = integer();
    break;
  case OptionId::PlanSeconds: {
    double seconds = 0;
    (void)text.getAsDouble(seconds);
    planSeconds = seconds;
    break;
  }
  case OptionId::PlanSearchWork:
    planSearchWork = integer();
    break;
  case OptionId::UseDistributedOptimizer:
    useDistributedOptimizer = flagValue(text);
    break;
  case OptionId::DataParallelSize:
    dataParallelSize = integer();
    break;
  case OptionId::Json:
    jsonFile = text.str();
    break;
  case OptionId::Table:
    printTable = flagValue(text);
    break;
  case OptionId::Svg:
    svgFile = text.str();
    break;
  case OptionId::Points:
    points = integer();
    break;
  default: // An override of the config (config::setOverride).
    return "option " + spec.name.str() + " overrides the config's fields";
  }
  given.set(static_cast<unsigned>(id));
  return "";
}

std::string CompileOptions::text(OptionId id) const {
  switch (id) {
  case OptionId::Policy:
    return policy;
  case OptionId::RecomputeGranularity:
    return remat.granularity;
  case OptionId::RecomputeMethod:
    return remat.method;
  case OptionId::RecomputeNumLayers:
    return toOptionText(remat.numLayers.value_or(-1));
  case OptionId::RecomputeModules:
    return toOptionText(remat.modules);
  case OptionId::DistributeSavedActivations:
    return toOptionText(remat.distributeSavedActivations);
  case OptionId::MemoryBudget:
    return remat.memoryBudget;
  case OptionId::DeviceMemory:
    return remat.deviceMemory;
  case OptionId::Cost:
    return remat.cost;
  case OptionId::Plan:
    return remat.planFile;
  case OptionId::SavePlan:
    return savePlan;
  case OptionId::RegionOps:
    return ckpt::toString(regionOps);
  case OptionId::PlanMemory:
    return toOptionText(planMemory);
  case OptionId::Alignment:
    return toOptionText(alignment);
  case OptionId::PlanSeconds:
    return toOptionText(planSeconds);
  case OptionId::PlanSearchWork:
    return toOptionText(planSearchWork);
  case OptionId::UseDistributedOptimizer:
    return toOptionText(useDistributedOptimizer.value_or(false));
  case OptionId::DataParallelSize:
    return toOptionText(dataParallelSize.value_or(1));
  case OptionId::Json:
    return jsonFile;
  case OptionId::Table:
    return toOptionText(printTable);
  case OptionId::Svg:
    return svgFile;
  case OptionId::Points:
    return toOptionText(points);
  default: // An override of the config: not held here.
    return specOf(id).defaultValue.str();
  }
}

bool CompileOptions::givesPolicy() const {
  for (const OptionSpec &spec : allOptions())
    if (spec.choosesPolicy && isGiven(spec.id))
      return true;
  return false;
}

std::string CompileOptions::policyToRun() const {
  if (policy != "megatron")
    return policy;
  if (!remat.memoryBudget.empty() || !remat.deviceMemory.empty())
    return "budget";
  if (!remat.planFile.empty())
    return "plan";
  return policy;
}

std::string ckpt::parseOptionText(StringRef text, unsigned scopes,
                                  CompileOptions &options) {
  llvm::SmallVector<std::pair<StringRef, StringRef>> words;
  std::string error;
  if (!splitOptionText(text, words, error))
    return error;
  for (auto [name, value] : words)
    if (std::string problem = options.set(name, value, scopes);
        !problem.empty())
      return problem;
  options.policyFromConfig = !options.givesPolicy();
  return "";
}
