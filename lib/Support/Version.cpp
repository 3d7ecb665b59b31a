//===- Version.cpp - What --version prints --------------------------------===//

#include "ckpt/Support/Version.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

void ckpt::hideLibraryOptions() {
  for (auto &entry : llvm::cl::getRegisteredOptions()) {
    llvm::StringRef name = entry.getKey();
    if (name.starts_with("help") || name == "version")
      continue;
    if (entry.getValue()->getOptionHiddenFlag() == llvm::cl::NotHidden)
      entry.getValue()->setHiddenFlag(llvm::cl::Hidden);
  }
}

void ckpt::setVersionPrinter(llvm::StringRef tool) {
  static std::string name;
  name = tool.str();
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << name << " " << CKPT_VERSION << " (MLIR/LLVM " << LLVM_VERSION_STRING
       << ")\n";
  });
}
