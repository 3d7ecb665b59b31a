//===- TablePassOptions.cpp - Pass options from the option table ----------===//

#include "ckpt/Transforms/TablePassOptions.h"

#include "llvm/ADT/StringExtras.h"

#include <functional>
#include <optional>

using namespace mlir;
using namespace ckpt;
using namespace ckpt::options;

struct TablePassOptions::Entry {
  const OptionSpec *spec;
  std::unique_ptr<llvm::cl::Option> option;
  /// The option's value as text when it was given.
  std::function<std::optional<std::string>()> given;
  /// Sets the option's value from text (a value the table allows).
  std::function<void(llvm::StringRef)> assign;
};

namespace {
template <typename T> using PassOption = Pass::Option<T>;
template <typename T> using PassListOption = Pass::ListOption<T>;
template <typename T> using PipelineOption = detail::PassOptions::Option<T>;
template <typename T>
using PipelineListOption = detail::PassOptions::ListOption<T>;

/// Option `name` of table row `spec` on `parent`, with the option classes
/// `OptionT` and `ListT` (a pass's or a pipeline's).
template <template <typename> class OptionT, template <typename> class ListT,
          typename Parent>
std::unique_ptr<TablePassOptions::Entry>
declareOne(Parent &parent, const OptionSpec &spec, StringRef name,
           StringRef helpText) {
  auto entry = std::make_unique<TablePassOptions::Entry>();
  entry->spec = &spec;
  llvm::cl::desc help(helpText);
  llvm::cl::value_desc valueName(spec.valueName());
  typedDefault(spec, [&](auto initial) {
    using T = decltype(initial);
    if constexpr (std::is_same_v<T, ListDefault>) {
      auto *option = new ListT<std::string>(parent, name, help, valueName);
      entry->option.reset(option);
      entry->given = [option]() -> std::optional<std::string> {
        if (!option->hasValue())
          return std::nullopt;
        return toOptionText(*option);
      };
      entry->assign = [option](StringRef text) {
        SmallVector<StringRef> words;
        text.split(words, ',', -1, /*KeepEmpty=*/false);
        std::vector<std::string> values(words.begin(), words.end());
        *option = ArrayRef<std::string>(values);
      };
    } else {
      auto *option = new OptionT<T>(parent, name, help, valueName,
                                    llvm::cl::init(initial));
      entry->option.reset(option);
      entry->given = [option]() -> std::optional<std::string> {
        if (!option->hasValue())
          return std::nullopt;
        return toOptionText(static_cast<const T &>(*option));
      };
      entry->assign = [option](StringRef text) {
        T value{};
        if constexpr (std::is_same_v<T, int64_t>)
          (void)text.getAsInteger(10, value);
        else if constexpr (std::is_same_v<T, double>)
          (void)text.getAsDouble(value);
        else if constexpr (std::is_same_v<T, bool>)
          value = flagValue(text);
        else
          value = text.str();
        option->setValue(value);
      };
    }
  });
  return entry;
}

/// One option of each table row in `scope`, then one of each older
/// spelling there (read after, so that it wins when both are given).
template <template <typename> class OptionT, template <typename> class ListT,
          typename Parent>
void declare(Parent &parent, unsigned scope,
             std::vector<std::unique_ptr<TablePassOptions::Entry>> &entries) {
  for (const OptionSpec &spec : allOptions())
    if (spec.scopes & scope)
      entries.push_back(
          declareOne<OptionT, ListT>(parent, spec, spec.name, spec.help));
  for (const OptionAlias &alias : allAliases())
    if (alias.scopes & scope)
      entries.push_back(declareOne<OptionT, ListT>(
          parent, specOf(alias.id), alias.name, aliasHelp(alias)));
}
} // namespace

TablePassOptions::TablePassOptions(Pass &pass, unsigned scope) {
  declare<PassOption, PassListOption>(pass, scope, entries);
}

TablePassOptions::TablePassOptions(detail::PassOptions &pipeline,
                                   unsigned scope) {
  declare<PipelineOption, PipelineListOption>(pipeline, scope, entries);
}

TablePassOptions::~TablePassOptions() = default;

std::string TablePassOptions::readInto(CompileOptions &options) const {
  for (const std::unique_ptr<Entry> &entry : entries)
    if (std::optional<std::string> text = entry->given())
      if (std::string problem = options.set(entry->spec->id, *text);
          !problem.empty())
        return problem;
  options.policyFromConfig = !options.givesPolicy();
  return "";
}

void TablePassOptions::show(const CompileOptions &options) {
  for (const std::unique_ptr<Entry> &entry : entries)
    entry->assign(options.text(entry->spec->id));
}

void TablePassOptions::syncSpellings() {
  for (const std::unique_ptr<Entry> &given : entries)
    if (std::optional<std::string> text = given->given())
      for (const std::unique_ptr<Entry> &other : entries)
        if (other != given && other->spec == given->spec)
          other->assign(*text);
}

FailureOr<CompileOptions> TablePassOptions::read(Location loc) const {
  CompileOptions options;
  if (std::string problem = readInto(options); !problem.empty())
    return mlir::emitError(loc) << problem;
  return options;
}
