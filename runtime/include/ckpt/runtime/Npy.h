//===- Npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Parameters, inputs and gradients travel as .npy files (format version 1.0,
// little-endian, C order): f4, f8, i4 and i8.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_NPY_H
#define CKPT_RUNTIME_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::rt {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> values; ///< Converted from the file's dtype.
};

/// Reads a .npy file; throws RuntimeError naming the file and the problem.
NpyArray readNpy(const std::string &path);

/// Writes values as '<f4' (or '<f8' when `f64`) through a temporary file and
/// a rename; throws RuntimeError.
void writeNpy(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<double> &values, bool f64);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_NPY_H
