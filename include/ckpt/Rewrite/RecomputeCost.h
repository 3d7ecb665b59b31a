//===- RecomputeCost.h - What recomputing an op costs ---------*- C++ -*-===//
//
// FLOPs from the cost model, or the times a profile measured: what the plan
// evaluator charges a recompute region and the budget solver minimizes.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_RECOMPUTECOST_H
#define CKPT_REWRITE_RECOMPUTECOST_H

#include "ckpt/Analysis/StepGraph.h"

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// What recomputing an op costs: FLOPs from the cost model (the
/// default), or the mean time ckpt-run measured for the op's kind and
/// shapes (`cost=profile:FILE`, written by `ckpt-run --profile=FILE`), in
/// nanoseconds, because elementwise ops cost more per FLOP than GEMMs.
class RecomputeCost {
public:
  RecomputeCost() = default;
  /// The times of a profile; fails with `error` on a file that is not one.
  static std::optional<RecomputeCost> fromProfile(llvm::StringRef path,
                                                  std::string &error);
  /// The cost of node `node`, or -1 when the profile has no time for it.
  int64_t of(const StepGraph &graph, int node) const;
  /// The cost of regenerating the mask of node `node` alone (an op whose
  /// table entry has a maskOutput: a dropout): the FLOPs of its maskOp, or
  /// the profile's time for xf.dropout_mask of that shape, else half the
  /// dropout's.
  int64_t maskOnly(const StepGraph &graph, int node) const;
  /// "op(a×b;c)->(d)", the key of a node in a profile.
  static std::string keyOf(const StepGraph &graph, int node);
  bool measured() const { return profile != nullptr; }
  const std::string &source() const { return path; }

private:
  /// The profiled time of a mask of `shape` regenerated alone, or -1.
  int64_t maskTime(const std::vector<int64_t> &shape) const;

  std::shared_ptr<const std::map<std::string, double>> profile;
  std::string path;
};

} // namespace ckpt

#endif // CKPT_REWRITE_RECOMPUTECOST_H
