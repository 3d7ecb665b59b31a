//===- DsaFuzzer.cpp - libFuzzer target: DSA instances and the planner ----===//
//
// Any text is an instance or an error; every instance gets a valid plan
// (checked by the planner's own checker) no lower than LOAD.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Planner/DsaCsv.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace ckpt::planner;
  DsaInstance instance = parseDsaCsv(
      std::string_view(reinterpret_cast<const char *>(data), size), "fuzz");
  if (!instance.error.empty() || instance.rows.size() > 64)
    return 0;
  std::vector<Buffer> buffers;
  for (const DsaRow &row : instance.rows)
    buffers.push_back(row.buffer);
  SearchOptions options;
  options.work = 128000; // a few hundred search nodes at 64 buffers
  SearchResult result = planOffsets(buffers, options);
  if (!checkPlan(buffers, result.offsets).empty() ||
      result.height < lowerBound(buffers))
    std::abort();
  return 0;
}
