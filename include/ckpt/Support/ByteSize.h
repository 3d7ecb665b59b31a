//===- ByteSize.h - Byte counts as users write them -------------*- C++ -*-===//
//
// "40GiB", "80GB", "1.5 MiB", "123456": a number of bytes with an optional
// unit, binary (KiB, MiB, GiB, TiB: powers of 1024) or decimal (KB, MB, GB,
// TB: powers of 1000), as memory budgets are given on command lines.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_SUPPORT_BYTESIZE_H
#define CKPT_SUPPORT_BYTESIZE_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace ckpt {

/// The byte count `text` names, rounded down to a whole byte; on a malformed
/// text, a negative or non-finite number, or a count above 2^63 - 1, returns
/// -1 and sets `error` (what is wrong and what is allowed).
int64_t parseByteSize(llvm::StringRef text, std::string &error);

} // namespace ckpt

#endif // CKPT_SUPPORT_BYTESIZE_H
