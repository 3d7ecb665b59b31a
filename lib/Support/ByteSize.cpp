//===- ByteSize.cpp - Byte counts as users write them ---------------------===//

#include "ckpt/Support/ByteSize.h"

#include "llvm/ADT/StringExtras.h"

#include <climits>
#include <cmath>
#include <cstdlib>

using namespace ckpt;

int64_t ckpt::parseByteSize(llvm::StringRef text, std::string &error) {
  llvm::StringRef trimmed = text.trim();
  size_t numberEnd = 0;
  while (numberEnd < trimmed.size() &&
         (llvm::isDigit(trimmed[numberEnd]) || trimmed[numberEnd] == '.'))
    ++numberEnd;
  llvm::StringRef number = trimmed.take_front(numberEnd);
  llvm::StringRef unit = trimmed.drop_front(numberEnd).trim();
  auto fail = [&](const std::string &why) {
    error = "'" + text.str() + "' is not a byte count: " + why +
            " (allowed: a number of bytes, optionally with B, KB, MB, GB, TB "
            "or KiB, MiB, GiB, TiB)";
    return int64_t(-1);
  };
  if (number.empty() || number.count('.') > 1 || number == ".")
    return fail("it must start with a non-negative number");
  struct Unit {
    llvm::StringLiteral name;
    int64_t factor;
  };
  static const Unit units[] = {{"", 1},
                               {"B", 1},
                               {"KB", 1000},
                               {"MB", 1000 * 1000},
                               {"GB", 1000 * 1000 * 1000},
                               {"TB", int64_t(1000) * 1000 * 1000 * 1000},
                               {"KiB", int64_t(1) << 10},
                               {"MiB", int64_t(1) << 20},
                               {"GiB", int64_t(1) << 30},
                               {"TiB", int64_t(1) << 40}};
  const Unit *match = nullptr;
  for (const Unit &candidate : units)
    if (unit == candidate.name)
      match = &candidate;
  if (!match)
    return fail("unknown unit '" + unit.str() + "'");
  // Whole numbers exactly; fractions through a double.
  uint64_t whole = 0;
  if (!number.contains('.')) {
    int64_t result = 0;
    if (number.getAsInteger(10, whole) ||
        whole > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(static_cast<int64_t>(whole), match->factor,
                               &result))
      return fail("it exceeds 2^63 - 1 bytes");
    return result;
  }
  double value = std::strtod(number.str().c_str(), nullptr) *
                 static_cast<double>(match->factor);
  // 2^63 is the first double above every int64_t.
  if (!std::isfinite(value) || value >= 9223372036854775808.0)
    return fail("it exceeds 2^63 - 1 bytes");
  return static_cast<int64_t>(value);
}
