//===- DsaCsv.cpp - Static allocation instances as CSV --------------------===//

#include "ckpt/Planner/DsaCsv.h"

#include <map>
#include <sstream>

using namespace ckpt::planner;

namespace {
/// At most 80 characters of `text`, for messages about huge inputs.
std::string clip(const std::string &text) {
  return text.size() <= 80 ? text : text.substr(0, 77) + "...";
}

/// `text` as a whole integer, or false.
bool parseInteger(const std::string &text, int64_t &value) {
  if (text.empty())
    return false;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size())
    return false;
  int64_t result = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return false;
    if (__builtin_mul_overflow(result, 10, &result) ||
        __builtin_add_overflow(result, text[i] - '0', &result))
      return false;
  }
  value = text[0] == '-' ? -result : result;
  return true;
}
} // namespace

DsaInstance ckpt::planner::parseDsaCsv(std::string_view text,
                                       const std::string &path) {
  DsaInstance result;
  auto fail = [&](std::string message) {
    result.error = std::move(message);
    result.rows.clear();
    return result;
  };
  std::istringstream in{std::string(text)};
  std::string line;
  if (!std::getline(in, line))
    return fail(path + ": empty file; expected the header id,lower,upper,size");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  // A plan this tool wrote (with an offset column) reads back as its
  // buffers; the offsets are planned anew.
  bool withOffsets = line == "id,lower,upper,size,offset";
  if (line != "id,lower,upper,size" && !withOffsets)
    return fail(path +
                ":1: expected the header 'id,lower,upper,size' (or "
                "'id,lower,upper,size,offset', as this tool writes), got '" +
                clip(line) + "'");
  std::vector<DsaRow> &rows = result.rows;
  std::map<std::string, int> seen; // id -> line
  int64_t total = 0;

  for (int number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    std::stringstream fields(line);
    std::string id, lower, upper, size;
    if (!std::getline(fields, id, ',') || !std::getline(fields, lower, ',') ||
        !std::getline(fields, upper, ',') || !std::getline(fields, size, ','))
      return fail(path + ":" + std::to_string(number) + ": expected " +
                  (withOffsets ? "5" : "4") + " comma-separated fields");
    std::string offset, extra;
    if (withOffsets && !std::getline(fields, offset, ','))
      return fail(path + ":" + std::to_string(number) +
                  ": expected 5 comma-separated fields");
    if (std::getline(fields, extra, ','))
      return fail(path + ":" + std::to_string(number) + ": more than " +
                  (withOffsets ? "5" : "4") + " fields");
    auto [previous, fresh] = seen.emplace(id, number);
    if (!fresh)
      return fail(path + ":" + std::to_string(number) + ": buffer id '" +
                  clip(id) + "' repeats line " +
                  std::to_string(previous->second) + "; ids must be unique");
    DsaRow row{id, {}};
    if (!parseInteger(lower, row.buffer.lower) ||
        !parseInteger(upper, row.buffer.upper) ||
        !parseInteger(size, row.buffer.size))
      return fail(path + ":" + std::to_string(number) +
                  ": lower, upper and size must be integers");
    if (row.buffer.upper <= row.buffer.lower || row.buffer.size < 0)
      return fail(path + ":" + std::to_string(number) +
                  ": need lower < upper and size >= 0");
    // Heights are sums of sizes: they must fit in 64 bits.
    if (__builtin_add_overflow(total, row.buffer.size, &total))
      return fail(path + ":" + std::to_string(number) +
                  ": the sizes add up past 2^63 - 1 bytes; no height could be "
                  "counted");
    rows.push_back(row);
  }
  return result;
}
