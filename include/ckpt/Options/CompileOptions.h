//===- CompileOptions.h - The compile options, typed ------------*- C++ -*-===//
//
// What the compile driver and the remat pass are asked to do, as typed
// fields, filled by any front end through the option table (OptionTable.h):
// `set` checks a value against the table, converts it and records that the
// option was given. The driver hands these options to the passes as they
// are, never as text. No MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTIONS_COMPILEOPTIONS_H
#define CKPT_OPTIONS_COMPILEOPTIONS_H

#include "ckpt/Options/OptionTable.h"

#include <bitset>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

/// Which ops of a recompute group its region re-runs.
enum class RegionOps {
  /// Only those whose values the backward (or a later op of the region)
  /// reads, reading kept values that are still alive instead of rebuilding
  /// them; a dropout whose value nothing reads regenerates its mask alone.
  Needed,
  /// Every op of the group, as Megatron-LM re-executes a checkpointed
  /// forward whole: for comparisons (the region is marked `whole_span`).
  All,
};

/// "needed" or "all".
const char *toString(RegionOps regionOps);
/// The value named `name`, or none.
std::optional<RegionOps> parseRegionOps(llvm::StringRef name);

/// A remat policy's options, with Megatron-LM's names.
struct RematOptions {
  std::string granularity = "none";
  std::string method;
  std::optional<int64_t> numLayers; ///< None: not given.
  std::vector<std::string> modules;
  bool distributeSavedActivations = false;
  /// The budget solver's caps as written ("40GiB"); empty when not given.
  std::string memoryBudget, deviceMemory;
  /// What the budget solver minimizes: "flops" (or empty) or
  /// "profile:FILE".
  std::string cost;
  /// A placement plan file to apply (the policy "plan"); empty when not
  /// given.
  std::string planFile;
};

struct CompileOptions {
  std::string policy = "megatron"; ///< A registered remat policy.
  RematOptions remat;              ///< Its options (Megatron's names).
  /// Neither `policy` nor `remat` was chosen: the remat pass applies the
  /// policy the config names (its recompute_* fields), or none. The table's
  /// readers set it (an option that chooses the policy was not given); a
  /// program that fills the fields itself chooses the policy.
  bool policyFromConfig = false;
  /// What each recompute region re-runs.
  RegionOps regionOps = RegionOps::Needed;
  bool planMemory = true;   ///< Schedule and plan the arena.
  int64_t alignment = 64;   ///< Of every arena buffer (power of 2).
  double planSeconds = 1.0; ///< Clock guard of a non-deterministic search.
  /// Steps the exact offset search may take (PlanOptions::searchWork).
  int64_t planSearchWork = 20000000;
  /// Megatron's persistent-memory accounting in the report; unset: the
  /// config's (data_parallel_size, use_distributed_optimizer).
  std::optional<bool> useDistributedOptimizer;
  std::optional<int64_t> dataParallelSize;
  /// The remat pass writes its placement plan here (the --ckpt-compile
  /// pipeline; compileModelConfig returns it instead).
  std::string savePlan;
  /// What a reporting pass or ckpt-compile writes besides the IR: JSON and
  /// SVG files, the readable table; the frontier's number of budgets.
  std::string jsonFile, svgFile;
  bool printTable = true;
  int64_t points = 12;

  /// Sets the option spelled `name` (or an older spelling of it) from
  /// `text`, if it belongs to `scopes`; "" on success, else what is wrong
  /// and what is allowed.
  std::string set(llvm::StringRef name, llvm::StringRef text,
                  unsigned scopes = options::Remat | options::Compile);
  /// Sets option `id` from `text` (checked against the table).
  std::string set(options::OptionId id, llvm::StringRef text);
  /// Option `id`'s value as option text (what `set` reads back).
  std::string text(options::OptionId id) const;
  /// Whether option `id` was set.
  bool isGiven(options::OptionId id) const {
    return given.test(static_cast<unsigned>(id));
  }
  /// Whether a given option chooses the policy (Options.def's
  /// ChoosesPolicy); without one the config's own policy applies.
  bool givesPolicy() const;
  /// The policy to run: `policy`, where Megatron's (the default) turns into
  /// the budget solver when a budget is given and into the plan file's
  /// when a plan is.
  std::string policyToRun() const;

private:
  std::bitset<options::kNumOptions> given;
};

/// Options from an option text ("recompute-granularity=full
/// memory-budget={40 GiB}"), each set as by CompileOptions::set, restricted
/// to `scopes`; then `policyFromConfig` says whether a policy was chosen.
/// "" on success, else the first problem.
std::string parseOptionText(llvm::StringRef text, unsigned scopes,
                            CompileOptions &options);

} // namespace ckpt

#endif // CKPT_OPTIONS_COMPILEOPTIONS_H
