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
    typedDefault(spec, [&](auto initial) {
      using T = decltype(initial);
      if constexpr (std::is_same_v<T, ListDefault>) {
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
        cl::opt<T> *option;
        if constexpr (std::is_same_v<T, bool>)
          option = new cl::opt<T>(name, help, category, cl::init(initial));
        else
          option = new cl::opt<T>(name, help, category, cl::init(initial),
                                  cl::value_desc(spec.valueName()));
        flag->option.reset(option);
        flag->given = [option]() -> std::optional<std::string> {
          if (!option->getNumOccurrences())
            return std::nullopt;
          return toOptionText(option->getValue());
        };
      }
    });
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

std::string CommandLineOptions::readInto(CompileOptions &options) const {
  for (const std::unique_ptr<Flag> &flag : flags)
    if (std::optional<std::string> text = flag->given())
      if (std::string problem = options.set(flag->spec->id, *text);
          !problem.empty())
        return "--" + problem;
  options.policyFromConfig = !options.givesPolicy();
  return "";
}
