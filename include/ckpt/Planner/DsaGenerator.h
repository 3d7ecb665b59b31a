//===- DsaGenerator.h - Instances with a known packing ----------*- C++ -*-===//
//
// Random static-allocation instances made by cutting a rectangle (time ×
// memory) recursively: every piece is a buffer, and the pieces tile the
// rectangle, so the buffers pack exactly into its height. Dropping some
// pieces afterwards keeps that packing and lowers LOAD below it. This is
// the family of MiniMalloc's "challenging" instances, for tests and
// benchmarks that must not tune to a handful of fixed files.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLANNER_DSAGENERATOR_H
#define CKPT_PLANNER_DSAGENERATOR_H

#include "ckpt/Planner/OffsetAssignment.h"

#include <cstdint>
#include <vector>

namespace ckpt::planner {

struct TiledInstanceSpec {
  uint64_t seed = 1;
  int buffers = 200;          ///< Pieces cut (before dropping).
  int64_t capacity = 1 << 20; ///< Height of the rectangle, in bytes.
  int64_t horizon = 1 << 20;  ///< Width of the rectangle, in time steps.
  int64_t granule = 512;      ///< Sizes and times are multiples of it.
  double dropShare = 0;       ///< Share of pieces dropped afterwards.
};

struct TiledInstance {
  std::vector<Buffer> buffers;
  std::vector<int64_t> knownOffsets; ///< The tiling: a packing in capacity.
  int64_t capacity = 0;
};

/// Cuts the rectangle: each step takes a random piece (weighted by area) and
/// splits it at a random point, across time or across memory, leaving both
/// sides at least two granules, until `buffers` pieces exist (fewer if no
/// piece can be split further).
TiledInstance generateTiledInstance(const TiledInstanceSpec &spec);

} // namespace ckpt::planner

#endif // CKPT_PLANNER_DSAGENERATOR_H
