//===- FrontierPoint.h - One point of the memory-budget frontier -*- C++
//-*-===//
//
// What the budget solver hands the report writers: plain data, so that the
// solver does not depend on the report and the report not on the solver.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_PLAN_FRONTIERPOINT_H
#define CKPT_PLAN_FRONTIERPOINT_H

#include <cstdint>
#include <string>

namespace ckpt {

/// One point of the memory-budget frontier: for a budget, the solver's
/// plan (its planned arena and recompute FLOPs); or a Megatron preset.
struct FrontierPoint {
  int64_t budget = 0;
  int64_t arena = 0;
  int64_t cost = 0;
  std::string plan; ///< What the plan does, or the preset's name.
  bool preset = false;
};

} // namespace ckpt

#endif // CKPT_PLAN_FRONTIERPOINT_H
