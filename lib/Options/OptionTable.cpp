//===- OptionTable.cpp - The compile options' one declaration -------------===//

#include "ckpt/Options/OptionTable.h"
#include "ckpt/Support/ByteSize.h"

#include "llvm/ADT/StringExtras.h"

#include <cstdio>
#include <vector>

using namespace ckpt::options;
using llvm::StringRef;

namespace {
constexpr OptionSpec kOptions[] = {
#define CKPT_OPTION(Id, Spelling, OptionKind, Default, Choices, Minimum,       \
                    Scopes, ChoosesPolicy, Help)                               \
  {OptionId::Id,                                                               \
   llvm::StringLiteral(Spelling),                                              \
   Kind::OptionKind,                                                           \
   llvm::StringLiteral(Default),                                               \
   llvm::StringLiteral(Choices),                                               \
   Minimum,                                                                    \
   Scopes,                                                                     \
   ChoosesPolicy,                                                              \
   llvm::StringLiteral(Help)},
#include "ckpt/Options/Options.def"
};
static_assert(std::size(kOptions) == kNumOptions);

constexpr OptionAlias kAliases[] = {
#define CKPT_OPTION(...)
#define CKPT_OPTION_ALIAS(Id, Spelling, Scopes)                                \
  {OptionId::Id, llvm::StringLiteral(Spelling), Scopes},
#include "ckpt/Options/Options.def"
};

/// "a, b or c".
std::string listWords(llvm::ArrayRef<StringRef> words) {
  std::string text;
  for (auto [i, word] : llvm::enumerate(words)) {
    if (i)
      text += i + 1 == words.size() ? " or " : ", ";
    text += word.str();
  }
  return text;
}
} // namespace

llvm::SmallVector<StringRef> OptionSpec::choiceList() const {
  llvm::SmallVector<StringRef> words;
  StringRef(choices).split(words, '|', -1, /*KeepEmpty=*/false);
  return words;
}

StringRef OptionSpec::valueName() const {
  switch (kind) {
  case Kind::Text:
    return "text";
  case Kind::File:
    return "file";
  case Kind::Bytes:
    return "bytes";
  case Kind::Choice:
    return choices;
  case Kind::Integer:
    return "n";
  case Kind::Real:
    return "seconds";
  case Kind::Flag:
    return "true|false";
  case Kind::List:
    return "a,b,...";
  }
  return "value";
}

llvm::ArrayRef<OptionSpec> ckpt::options::allOptions() { return kOptions; }

llvm::ArrayRef<OptionAlias> ckpt::options::allAliases() { return kAliases; }

StringRef ckpt::options::aliasHelp(const OptionAlias &alias) {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> all;
    for (const OptionAlias &each : kAliases)
      all.push_back("Older spelling of " + specOf(each.id).name.str());
    return all;
  }();
  return texts[&alias - kAliases];
}

const OptionSpec &ckpt::options::specOf(OptionId id) {
  return kOptions[static_cast<unsigned>(id)];
}

const OptionSpec *ckpt::options::findOption(StringRef name) {
  for (const OptionSpec &spec : kOptions)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

bool ckpt::options::flagValue(StringRef text) {
  return text.empty() || text == "true" || text == "1";
}

std::string ckpt::options::toOptionText(int64_t value) {
  return std::to_string(value);
}

std::string ckpt::options::toOptionText(double value) {
  char text[32]; // Enough digits to read back the same double.
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

std::string ckpt::options::toOptionText(bool value) {
  return value ? "true" : "false";
}

std::string ckpt::options::toOptionText(const std::string &value) {
  return value;
}

std::string ckpt::options::checkValue(const OptionSpec &spec, StringRef text) {
  std::string name = spec.name.str();
  switch (spec.kind) {
  case Kind::Text:
  case Kind::File:
  case Kind::List:
    return "";
  case Kind::Bytes: {
    if (text.empty())
      return "";
    std::string why;
    return ckpt::parseByteSize(text, why) < 0 ? name + ": " + why : "";
  }
  case Kind::Choice: {
    llvm::SmallVector<StringRef> choices = spec.choiceList();
    // An option without a default may be left empty: not chosen.
    if ((text.empty() && spec.defaultValue.empty()) ||
        llvm::is_contained(choices, text))
      return "";
    return name + " must be " + listWords(choices) + ", got '" + text.str() +
           "'";
  }
  case Kind::Integer: {
    int64_t value;
    if (text.empty() && spec.defaultValue.empty())
      return "";
    // The words of the config's own checks for a size or an index.
    if (spec.minimum == 0 || spec.minimum == 1) {
      if (text.getAsInteger(10, value) || value < spec.minimum)
        return name + " must be a " +
               (spec.minimum ? "positive" : "non-negative") +
               " integer, got '" + text.str() + "'";
      return "";
    }
    if (text.getAsInteger(10, value))
      return name + " needs an integer, got '" + text.str() + "'";
    if (spec.minimum != kNoMinimum && value < spec.minimum)
      return name + " must be at least " + std::to_string(spec.minimum) +
             ", got " + std::to_string(value);
    return "";
  }
  case Kind::Real: {
    double value;
    // Whether it is finite is the consumer's rule (the planner's).
    if (text.getAsDouble(value))
      return name + " needs a number, got '" + text.str() + "'";
    if (spec.minimum != kNoMinimum && value < static_cast<double>(spec.minimum))
      return name + " must be at least " + std::to_string(spec.minimum) +
             ", got " + text.str();
    return "";
  }
  case Kind::Flag:
    if (text.empty() || text == "true" || text == "false" || text == "1" ||
        text == "0")
      return "";
    return name + " must be true or false, got '" + text.str() + "'";
  }
  return "";
}

bool ckpt::options::splitOptionText(
    StringRef text,
    llvm::SmallVectorImpl<std::pair<StringRef, StringRef>> &words,
    std::string &error) {
  size_t i = 0, n = text.size();
  auto isSpace = [&](size_t at) { return llvm::isSpace(text[at]); };
  while (true) {
    while (i < n && isSpace(i))
      ++i;
    if (i == n)
      return true;
    size_t keyStart = i;
    while (i < n && !isSpace(i) && text[i] != '=')
      ++i;
    StringRef key = text.slice(keyStart, i);
    if (key.empty()) {
      error = "an option without a name at '" + text.substr(keyStart).str() +
              "' (options are written name=value)";
      return false;
    }
    StringRef value;
    if (i < n && text[i] == '=') {
      ++i;
      if (i < n && (text[i] == '{' || text[i] == '"' || text[i] == '\'')) {
        char open = text[i], close = open == '{' ? '}' : open;
        size_t depth = 1, start = ++i;
        for (; i < n && depth; ++i) {
          if (open == '{' && text[i] == '{')
            ++depth;
          else if (text[i] == close)
            --depth;
        }
        if (depth) {
          error = "option " + key.str() + ": no closing '" +
                  std::string(1, close) + "' in its value";
          return false;
        }
        value = text.slice(start, i - 1);
      } else {
        size_t start = i;
        while (i < n && !isSpace(i))
          ++i;
        value = text.slice(start, i);
      }
    }
    words.push_back({key, value});
  }
}

std::string ckpt::options::describeOptions(unsigned scopes) {
  llvm::SmallVector<StringRef> names;
  for (const OptionSpec &spec : kOptions)
    if (spec.scopes & scopes)
      names.push_back(spec.name);
  return listWords(names);
}
