//===- AtomicOutput.cpp - Replace -o files only on success ----------------===//

#include "ckpt/Support/AtomicOutput.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <string>
#include <vector>

using llvm::StringRef;

/// Creates an empty temporary file in the folder of `target`; returns an
/// error message, or "" with `temporary` set.
static std::string createTemporaryBeside(StringRef target,
                                         llvm::SmallString<256> &temporary,
                                         int &fd) {
  llvm::SmallString<256> model(target);
  llvm::sys::path::remove_filename(model);
  llvm::sys::path::append(model,
                          llvm::sys::path::filename(target) + ".tmp-%%%%%%");
  if (std::error_code ec =
          llvm::sys::fs::createUniqueFile(model, fd, temporary))
    return "cannot create a temporary file beside '" + target.str() +
           "': " + ec.message();
  return "";
}

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
  std::string target =
      valueIndex < 0 ? "-" : args[valueIndex].substr(prefix.size());

  if (target == "-") {
    std::vector<char *> raw(argv, argv + argc);
    return driver(argc, raw.data());
  }

  llvm::SmallString<256> temporary;
  int fd = -1;
  std::string error = createTemporaryBeside(target, temporary, fd);
  if (!error.empty()) {
    llvm::errs() << argv[0] << ": " << error << "\n";
    return 1;
  }
  llvm::sys::fs::closeFile(fd);

  args[valueIndex] = prefix + temporary.str().str();
  std::vector<char *> raw;
  for (std::string &arg : args)
    raw.push_back(arg.data());
  raw.push_back(nullptr);
  int code = driver(argc, raw.data());

  if (code != 0) {
    llvm::sys::fs::remove(temporary);
    return code;
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, target)) {
    llvm::errs() << argv[0] << ": cannot write '" << target
                 << "': " << ec.message() << "\n";
    llvm::sys::fs::remove(temporary);
    return 1;
  }
  return 0;
}

std::string ckpt::writeFileAtomically(StringRef path, StringRef contents) {
  llvm::SmallString<256> temporary;
  int fd = -1;
  std::string error = createTemporaryBeside(path, temporary, fd);
  if (!error.empty())
    return error;
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << contents;
    os.flush();
    if (os.has_error()) {
      std::string message = os.error().message();
      os.clear_error();
      llvm::sys::fs::remove(temporary);
      return "cannot write '" + path.str() + "': " + message;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path)) {
    llvm::sys::fs::remove(temporary);
    return "cannot write '" + path.str() + "': " + ec.message();
  }
  return "";
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
