//===- CommandLineOptions.h - Flags from the option table -------*- C++ -*-===//
//
// A tool's command-line flags built from Options.def (llvm::cl), so that
// ckpt-compile spells, types, defaults and explains each option as the
// passes and the C API do, and reads them through the table's checks.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTIONS_COMMANDLINEOPTIONS_H
#define CKPT_OPTIONS_COMMANDLINEOPTIONS_H

#include "ckpt/Options/CompileOptions.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/CommandLine.h"

#include <memory>
#include <vector>

namespace ckpt::options {

class CommandLineOptions {
public:
  /// A flag for each option of `scope`: in `policyCategory` those the remat
  /// pass takes too, in `otherCategory` the rest. Create before
  /// llvm::cl::ParseCommandLineOptions.
  CommandLineOptions(unsigned scope, llvm::cl::OptionCategory &policyCategory,
                     llvm::cl::OptionCategory &otherCategory);
  ~CommandLineOptions();
  CommandLineOptions(const CommandLineOptions &) = delete;
  CommandLineOptions &operator=(const CommandLineOptions &) = delete;

  /// Sets each flag given in `options` as CompileOptions::set does, then
  /// whether the policy comes from the config; "" on success, else
  /// "--name: problem".
  std::string readInto(CompileOptions &options) const;
  /// Calls `set` with each flag given and its value as text (checked by
  /// the table's rules); the first problem `set` returns, or "".
  std::string forEachGiven(
      llvm::function_ref<std::string(const OptionSpec &, llvm::StringRef)> set)
      const;

  struct Flag;

private:
  std::vector<std::unique_ptr<Flag>> flags;
  std::vector<std::unique_ptr<llvm::cl::alias>> aliases;
};

} // namespace ckpt::options

#endif // CKPT_OPTIONS_COMMANDLINEOPTIONS_H
