//===- TablePassOptions.h - Pass options from the option table --*- C++ -*-===//
//
// MLIR pass options built from Options.def, so that a pass (--ckpt-remat)
// and a pass pipeline (--ckpt-compile) take the table's options with the
// table's spellings, types, defaults and help, and read them into the typed
// CompileOptions through the table's checks.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_TRANSFORMS_TABLEPASSOPTIONS_H
#define CKPT_TRANSFORMS_TABLEPASSOPTIONS_H

#include "ckpt/Options/CompileOptions.h"

#include "mlir/Pass/Pass.h"

#include <memory>
#include <vector>

namespace ckpt {

class TablePassOptions {
public:
  /// The table's options of `scope` as options of `pass`.
  TablePassOptions(mlir::Pass &pass, unsigned scope);
  /// ... as options of a pass pipeline.
  TablePassOptions(mlir::detail::PassOptions &pipeline, unsigned scope);
  ~TablePassOptions();
  TablePassOptions(const TablePassOptions &) = delete;
  TablePassOptions &operator=(const TablePassOptions &) = delete;

  /// Sets each option given in `options`, as CompileOptions::set does, and
  /// then whether the policy comes from the config; "" on success, else
  /// the first problem.
  std::string readInto(CompileOptions &options) const;
  /// The options given, read into defaults; a problem is an error at
  /// `loc`.
  mlir::FailureOr<CompileOptions> read(mlir::Location loc) const;
  /// Sets every option (older spellings too) to its value in `options`, so
  /// that the pass prints what a driver's typed options chose (a dumped
  /// pipeline, a crash reproducer).
  void show(const CompileOptions &options);
  /// Gives every spelling of an option the value given under one of them
  /// (the older one last, as readInto reads it), so that the pass prints
  /// one value for both; call once the option text is parsed.
  void syncSpellings();

  struct Entry;

private:
  std::vector<std::unique_ptr<Entry>> entries;
};

} // namespace ckpt

#endif // CKPT_TRANSFORMS_TABLEPASSOPTIONS_H
