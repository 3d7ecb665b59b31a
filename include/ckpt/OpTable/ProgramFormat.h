//===- ProgramFormat.h - The contract of a program file ---------*- C++ -*-===//
//
// The compiler writes program files (ckpt-translate --mlir-to-program) and
// the runtime reads them (docs/program-format.md); both take the format's
// name and version from here.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_PROGRAMFORMAT_H
#define CKPT_OPTABLE_PROGRAMFORMAT_H

namespace ckpt::ops {

/// The value of a program file's "format" field.
constexpr const char *kProgramFormatName = "ckpt-program";
/// The schema version the tools write and the runtime reads.
constexpr int kProgramFormatVersion = 1;

} // namespace ckpt::ops

#endif // CKPT_OPTABLE_PROGRAMFORMAT_H
