//===- Remat.h - Megatron's recompute policies as a rewrite -----*- C++ -*-===//

#ifndef CKPT_TRANSFORMS_REMAT_H
#define CKPT_TRANSFORMS_REMAT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace ckpt {

/// A recompute policy with Megatron-LM's semantics (docs/policies.md).
struct RematPolicy {
  std::string granularity = "none"; ///< none, selective or full.
  std::string method;               ///< uniform or block (full only).
  int64_t numLayers = -1;           ///< -1: not given.
  std::vector<std::string> modules; ///< selective; empty means core_attn.
  /// Full recompute with t > 1 tensor-parallel ranks: each rank keeps a
  /// 1/t shard of every chunk input, all-gathered before the recompute.
  bool distributeSavedActivations = false;

  /// A short name: "none", "selective(core_attn)", "full uniform N=2".
  std::string describe() const;
  /// The modules a selective policy recomputes (the default filled in).
  std::vector<std::string> selectiveModules() const;
};

/// The modules a selective policy may name for the GPT family.
const std::vector<std::string> &getRecomputableModules();

/// Checks the policy against a model with `numLayers` layers; returns the
/// problem, or an empty string when the policy is valid.
std::string validateRematPolicy(const RematPolicy &policy, int64_t numLayers);

/// The number of transformer layers of a training step (1 + the largest
/// `xf.layer` of its forward ops; 0 without layers).
int64_t countLayers(mlir::func::FuncOp step);

struct RematResult {
  int regions = 0;
  int64_t largestTransientBytes = 0; ///< Values produced in one region.
  std::string largestLabel;
};

/// Rewrites the training step: forward values the policy (and the
/// `ckpt.remat` annotations) discards are recomputed in `ckpt.recompute`
/// regions placed before their first backward reader; their producers are
/// marked `ckpt.remat = "recompute"`. Validates the policy first.
mlir::FailureOr<RematResult> applyRemat(mlir::func::FuncOp step,
                                        const RematPolicy &policy);

/// Checks that no backward op reads a result of a forward op marked
/// `ckpt.remat = "recompute"`; emits an error at each offending op.
mlir::LogicalResult verifyRemat(mlir::func::FuncOp step);

} // namespace ckpt

#endif // CKPT_TRANSFORMS_REMAT_H
