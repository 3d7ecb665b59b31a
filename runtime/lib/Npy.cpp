//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "ckpt/runtime/Npy.h"
#include "ckpt/Output/OutputFiles.h"
#include "ckpt/runtime/Executor.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace ckpt::rt;

namespace {
[[noreturn]] void fail(const std::string &path, const std::string &message) {
  throw RuntimeError(path + ": " + message);
}

/// The text after `key` in a header like "{'descr': '<f4', ...}".
std::string headerValue(const std::string &header, const std::string &key,
                        const std::string &path) {
  size_t pos = header.find("'" + key + "'");
  if (pos == std::string::npos)
    fail(path, "the .npy header lacks '" + key + "'");
  pos = header.find(':', pos);
  if (pos == std::string::npos)
    fail(path, "malformed .npy header");
  ++pos;
  while (pos < header.size() && header[pos] == ' ')
    ++pos;
  return header.substr(pos);
}
} // namespace

NpyArray ckpt::rt::readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    fail(path, "not a .npy file (bad magic)");
  uint32_t headerLength = 0;
  if (magic[6] == 1) {
    unsigned char bytes[2];
    if (!in.read(reinterpret_cast<char *>(bytes), 2))
      fail(path, "truncated header");
    headerLength = bytes[0] | (bytes[1] << 8);
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char bytes[4];
    if (!in.read(reinterpret_cast<char *>(bytes), 4))
      fail(path, "truncated header");
    headerLength = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) |
                   (static_cast<uint32_t>(bytes[3]) << 24);
  } else {
    fail(path, "unsupported .npy version " + std::to_string(magic[6]));
  }
  if (headerLength > (1u << 20))
    fail(path, "implausible .npy header length");
  std::string header(headerLength, '\0');
  if (!in.read(header.data(), headerLength))
    fail(path, "truncated header");

  std::string descr = headerValue(header, "descr", path);
  std::string kind = descr.size() >= 5 ? descr.substr(1, 3) : "";
  if (kind != "<f4" && kind != "<f8" && kind != "<i4" && kind != "<i8")
    fail(path, "dtype " + descr.substr(0, descr.find(',')) +
                   " is not supported (use <f4, <f8, <i4 or <i8)");
  if (headerValue(header, "fortran_order", path).rfind("False", 0) != 0)
    fail(path, "Fortran-ordered arrays are not supported");
  std::string shapeText = headerValue(header, "shape", path);
  size_t open = shapeText.find('('), close = shapeText.find(')');
  if (open == std::string::npos || close == std::string::npos)
    fail(path, "malformed shape in the .npy header");
  NpyArray array;
  std::stringstream dims(shapeText.substr(open + 1, close - open - 1));
  std::string item;
  int64_t count = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos)
      continue;
    int64_t dim = std::stoll(item);
    if (dim < 0 || dim > (int64_t(1) << 40))
      fail(path, "bad dimension in shape");
    array.shape.push_back(dim);
    count *= dim;
  }
  size_t width = kind[2] == '4' ? 4 : 8;
  std::vector<unsigned char> data(count * width);
  if (!in.read(reinterpret_cast<char *>(data.data()), data.size()))
    fail(path,
         "truncated data: expected " + std::to_string(data.size()) + " bytes");
  array.values.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    const unsigned char *p = data.data() + i * width;
    if (kind == "<f4") {
      float v;
      std::memcpy(&v, p, 4);
      array.values[i] = v;
    } else if (kind == "<f8") {
      std::memcpy(&array.values[i], p, 8);
    } else if (kind == "<i4") {
      int32_t v;
      std::memcpy(&v, p, 4);
      array.values[i] = v;
    } else {
      int64_t v;
      std::memcpy(&v, p, 8);
      array.values[i] = static_cast<double>(v);
    }
  }
  return array;
}

void ckpt::rt::writeNpy(const std::string &path,
                        const std::vector<int64_t> &shape,
                        const std::vector<double> &values, bool f64) {
  std::string header = std::string("{'descr': '") + (f64 ? "<f8" : "<f4") +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    header += std::to_string(shape[i]) + (shape.size() == 1 ? "," : "") +
              (i + 1 < shape.size() ? ", " : "");
  header += "), }";
  // Pad so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::string bytes("\x93NUMPY\x01\x00", 8);
  uint16_t length = static_cast<uint16_t>(header.size());
  bytes += static_cast<char>(length & 0xff);
  bytes += static_cast<char>(length >> 8);
  bytes += header;
  size_t width = f64 ? 8 : 4;
  size_t start = bytes.size();
  bytes.resize(start + values.size() * width);
  char *out = bytes.data() + start;
  for (double value : values) {
    if (f64) {
      std::memcpy(out, &value, 8);
    } else {
      float v = static_cast<float>(value);
      std::memcpy(out, &v, 4);
    }
    out += width;
  }
  std::string error;
  if (!ckpt::output::writeFile(path, bytes, error))
    throw RuntimeError(error);
}
