//===- DsaCsv.h - Static allocation instances as CSV ------------*- C++ -*-===//
//
// The format of ckpt-dsa: a header `id,lower,upper,size` (or with a fifth
// column `offset`, as ckpt-dsa writes plans), then one buffer a line: a
// unique id, its lifetime [lower, upper) in integer steps and its size.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLANNER_DSACSV_H
#define CKPT_PLANNER_DSACSV_H

#include "ckpt/Planner/OffsetAssignment.h"

#include <string>
#include <string_view>
#include <vector>

namespace ckpt::planner {

struct DsaRow {
  std::string id;
  Buffer buffer;
};

struct DsaInstance {
  std::vector<DsaRow> rows;
  std::string error; ///< "PATH:LINE: what is wrong", or "" when it parsed.
};

/// Parses `text` (named `path` in messages); every problem is an error,
/// nothing throws.
DsaInstance parseDsaCsv(std::string_view text, const std::string &path);

} // namespace ckpt::planner

#endif // CKPT_PLANNER_DSACSV_H
