//===- AtomicOutput.cpp - Replace -o files only on success ----------------===//

#include "ckpt/Support/AtomicOutput.h"
#include "ckpt/Output/OutputFiles.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <string>
#include <vector>

using llvm::StringRef;

int ckpt::runWithAtomicOutput(int argc, char **argv,
                              llvm::function_ref<int(int, char **)> driver) {
  std::vector<std::string> args(argv, argv + argc);
  // Find the output argument: "-o X", "--o X", "-o=X" or "--o=X".
  int valueIndex = -1;
  std::string prefix;
  for (int i = 1; i < argc; ++i) {
    StringRef arg = args[i];
    if (arg == "--")
      break;
    if ((arg == "-o" || arg == "--o") && i + 1 < argc) {
      valueIndex = i + 1;
      prefix.clear();
    } else if (arg.starts_with("-o=") || arg.starts_with("--o=")) {
      valueIndex = i;
      prefix = arg.substr(0, arg.find('=') + 1).str();
    }
  }

  // Every file the run writes (the -o file and the reports its passes
  // write) joins one set, moved into place only when the whole run worked.
  ckpt::output::OutputSet outputs;
  ckpt::output::ScopedRunOutputs scope(outputs);
  if (valueIndex >= 0) {
    std::string file, error;
    if (!outputs.stage(args[valueIndex].substr(prefix.size()), file, error)) {
      llvm::errs() << argv[0] << ": " << error << "\n";
      return 1;
    }
    args[valueIndex] = prefix + file;
  }
  std::vector<char *> raw;
  for (std::string &arg : args)
    raw.push_back(arg.data());
  raw.push_back(nullptr);
  int code = driver(argc, raw.data());
  if (code != 0) {
    outputs.discard();
    return code;
  }
  // What the driver printed comes before outputs that go to stdout.
  llvm::outs().flush();
  std::string error;
  if (!outputs.commit(error)) {
    llvm::errs() << argv[0] << ": " << error << "\n";
    return 1;
  }
  return 0;
}

std::string ckpt::writeFileAtomically(StringRef path, StringRef contents) {
  std::string error;
  if (ckpt::output::writeFile(
          path.str(), std::string_view(contents.data(), contents.size()),
          error))
    return "";
  return error;
}

std::string ckpt::formatBytes(int64_t bytes) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while ((value >= 1024.0 || value <= -1024.0) && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof(text), "%lld B", static_cast<long long>(bytes));
  else
    std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}
