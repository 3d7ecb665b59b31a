//===- Svg.h - What every picture of the report starts with -----*- C++ -*-===//

#ifndef CKPT_LIB_REPORT_SVG_H
#define CKPT_LIB_REPORT_SVG_H

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace ckpt::detail {

/// The SVG element, a white background and the title at `left`.
inline void beginSvg(llvm::raw_ostream &os, double width, double height,
                     double left, const std::string &title) {
  os << llvm::formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                      "height=\"{1}\" font-family=\"sans-serif\" "
                      "font-size=\"12\">\n",
                      width, height);
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << llvm::formatv("<text x=\"{0}\" y=\"24\" font-size=\"15\">{1}</text>\n",
                      left, title);
}

} // namespace ckpt::detail

#endif // CKPT_LIB_REPORT_SVG_H
