//===- OptionTable.h - The compile options' one declaration -----*- C++ -*-===//
//
// Options.def as data: every front end (pass options, command-line flags,
// the C API's option text, Python keywords) builds its options from this
// table and checks values with it, so that a spelling, a default or an
// allowed value is written once. LLVM's support library only, no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTIONS_OPTIONTABLE_H
#define CKPT_OPTIONS_OPTIONTABLE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace ckpt::options {

/// What an option's value is (Options.def's Kind).
enum class Kind { Text, File, Bytes, Choice, Integer, Real, Flag, List };

/// The front ends an option belongs to (Options.def's Scopes).
enum Scope : unsigned {
  /// The --ckpt-remat pass.
  Remat = 1 << 0,
  /// The compile driver: ckpt-compile, --ckpt-compile, the C API, Python.
  Compile = 1 << 1,
  /// ckpt-compile's command line alone (its output files and table).
  Tool = 1 << 2,
  /// The passes of those names.
  PlanMemory = 1 << 3,
  VerifyPlan = 1 << 4,
  Report = 1 << 5,
  ComparePolicies = 1 << 6,
  Pareto = 1 << 7,
  /// The overrides of a config's fields (ckpt/Target/Config/ConfigImport.h).
  Import = 1 << 8,
};

/// An Integer or Real option without a least value.
inline constexpr int64_t kNoMinimum = std::numeric_limits<int64_t>::min();

enum class OptionId : unsigned {
#define CKPT_OPTION(Id, ...) Id,
#include "ckpt/Options/Options.def"
};

inline constexpr unsigned kNumOptions = 0
#define CKPT_OPTION(...) +1
#include "ckpt/Options/Options.def"
    ;

struct OptionSpec {
  OptionId id;
  llvm::StringLiteral name; ///< The one spelling, e.g. "memory-budget".
  Kind kind;
  llvm::StringLiteral defaultValue; ///< As text; "" for none.
  llvm::StringLiteral choices;      ///< A Choice's values, "a|b|c".
  int64_t minimum;                  ///< An Integer's or Real's least value.
  unsigned scopes;                  ///< Scope bits.
  bool choosesPolicy;
  llvm::StringLiteral help;

  /// The choices as words.
  llvm::SmallVector<llvm::StringRef> choiceList() const;
  /// How help text names the value: "<n>", "<bytes>", "<file>", ...
  llvm::StringRef valueName() const;
};

/// An older spelling still taken (Options.def's CKPT_OPTION_ALIAS).
struct OptionAlias {
  OptionId id;
  llvm::StringLiteral name;
  unsigned scopes;
};

/// Every option, in Options.def's order.
llvm::ArrayRef<OptionSpec> allOptions();
/// Every older spelling.
llvm::ArrayRef<OptionAlias> allAliases();
/// An older spelling's help, "Older spelling of NAME" (a static text).
llvm::StringRef aliasHelp(const OptionAlias &alias);
const OptionSpec &specOf(OptionId id);
/// The option spelled `name`, or null.
const OptionSpec *findOption(llvm::StringRef name);

/// "" when `text` is a value `spec` allows; otherwise what is wrong and
/// what is allowed ("recompute-method must be uniform or block, got 'x'").
/// A Flag takes true, false, 1, 0 or nothing (true). An Integer without a
/// default may be left empty (not given); one of least 1 or 0 is "a
/// positive integer" or "a non-negative integer".
std::string checkValue(const OptionSpec &spec, llvm::StringRef text);

/// A Flag's value (after checkValue).
bool flagValue(llvm::StringRef text);

/// A value of an option's C++ type as the option text `checkValue` and
/// CompileOptions::set read back.
std::string toOptionText(int64_t value);
std::string toOptionText(double value);
std::string toOptionText(bool value);
std::string toOptionText(const std::string &value);
template <typename Range> std::string toOptionText(const Range &words) {
  std::string text;
  for (const auto &word : words)
    text += (text.empty() ? "" : ",") + std::string(word);
  return text;
}

/// Marks a List option for typedDefault's visitor.
struct ListDefault {};

/// Calls `visit` with `spec`'s default as the C++ type a front end holds
/// the option in: int64_t, double, bool, std::string, or ListDefault for a
/// List. The one place that maps a kind to a type.
template <typename Visitor>
void typedDefault(const OptionSpec &spec, Visitor &&visit) {
  llvm::StringRef initial = spec.defaultValue;
  switch (spec.kind) {
  case Kind::Integer: {
    int64_t value = 0;
    (void)initial.getAsInteger(10, value);
    return visit(value);
  }
  case Kind::Real: {
    double value = 0;
    (void)initial.getAsDouble(value);
    return visit(value);
  }
  case Kind::Flag:
    return visit(!initial.empty() && flagValue(initial));
  case Kind::List:
    return visit(ListDefault{});
  default:
    return visit(initial.str());
  }
}

/// The words of an option text as MLIR's pass options write them:
/// "a=1 b={x y} c" gives (a, 1), (b, x y), (c, ""). Fails with `error` on
/// an unbalanced brace or a word without a name.
bool splitOptionText(
    llvm::StringRef text,
    llvm::SmallVectorImpl<std::pair<llvm::StringRef, llvm::StringRef>> &words,
    std::string &error);

/// The spellings of the options in `scopes`, "a, b or c" (for messages).
std::string describeOptions(unsigned scopes);

} // namespace ckpt::options

#endif // CKPT_OPTIONS_OPTIONTABLE_H
