//===- CommandLineOptions.cpp - Flags from the option table ---------------===//

#include "ckpt/Options/CommandLineOptions.h"

#include "llvm/ADT/StringExtras.h"

#include <functional>
#include <optional>

using namespace ckpt;
using namespace ckpt::options;
namespace cl = llvm::cl;

struct CommandLineOptions::Flag {
  const OptionSpec *spec;
  std::unique_ptr<cl::Option> option;
  /// The flag's value as text when it was given.
  std::function<std::optional<std::string>()> given;
};

CommandLineOptions::CommandLineOptions(unsigned scope,
                                       cl::OptionCategory &policyCategory,
                                       cl::OptionCategory &otherCategory) {
  for (const OptionSpec &spec : allOptions()) {
    if (!(spec.scopes & scope))
      continue;
    auto flag = std::make_unique<Flag>();
    flag->spec = &spec;
    cl::desc help(spec.help);
    cl::cat category(spec.scopes & Remat ? policyCategory : otherCategory);
    llvm::StringRef name = spec.name;
    // Flags and lists as llvm::cl holds them; every other value as its
    // text, so that the table checks it (and words its message).
    if (spec.kind == Kind::Flag) {
      auto *option = new cl::opt<bool>(
          name, help, category,
          cl::init(!spec.defaultValue.empty() && flagValue(spec.defaultValue)));
      flag->option.reset(option);
      flag->given = [option]() -> std::optional<std::string> {
        if (!option->getNumOccurrences())
          return std::nullopt;
        return toOptionText(option->getValue());
      };
    } else if (spec.kind == Kind::List) {
      auto *option =
          new cl::list<std::string>(name, help, category, cl::CommaSeparated,
                                    cl::value_desc(spec.valueName()));
      flag->option.reset(option);
      flag->given = [option]() -> std::optional<std::string> {
        if (!option->getNumOccurrences())
          return std::nullopt;
        return toOptionText(*option);
      };
    } else {
      auto *option = new cl::opt<std::string>(name, help, category,
                                              cl::init(spec.defaultValue.str()),
                                              cl::value_desc(spec.valueName()));
      flag->option.reset(option);
      flag->given = [option]() -> std::optional<std::string> {
        if (!option->getNumOccurrences())
          return std::nullopt;
        return option->getValue();
      };
    }
    flags.push_back(std::move(flag));
  }
  // Older spellings, as aliases of the flag they name.
  for (const OptionAlias &alias : allAliases()) {
    if (!(alias.scopes & scope))
      continue;
    for (const std::unique_ptr<Flag> &flag : flags)
      if (flag->spec->id == alias.id)
        aliases.push_back(std::make_unique<cl::alias>(
            llvm::StringRef(alias.name), cl::aliasopt(*flag->option),
            cl::desc(aliasHelp(alias)), cl::cat(otherCategory)));
  }
}

CommandLineOptions::~CommandLineOptions() = default;

std::string CommandLineOptions::forEachGiven(
    llvm::function_ref<std::string(const OptionSpec &, llvm::StringRef)> set)
    const {
  for (const std::unique_ptr<Flag> &flag : flags)
    if (std::optional<std::string> text = flag->given())
      if (std::string problem = set(*flag->spec, *text); !problem.empty())
        return problem;
  return "";
}

std::string CommandLineOptions::readInto(CompileOptions &options) const {
  std::string problem =
      forEachGiven([&](const OptionSpec &spec, llvm::StringRef text) {
        std::string problem = options.set(spec.id, text);
        return problem.empty() ? problem : "--" + problem;
      });
  options.policyFromConfig = !options.givesPolicy();
  return problem;
}
