//===- ckpt-dsa.cpp - Static memory allocation on its own -----------------===//
//
//   ckpt-dsa IN.csv [-o OUT.csv] [--seconds=S]
//
// Reads buffers (`id,lower,upper,size`, lifetimes half-open), assigns every
// buffer an offset with the planner's algorithm, writes the same rows with
// an `offset` column, and prints the height, LOAD (the lower bound),
// height / LOAD and the time taken.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Planner/DsaCsv.h"
#include "ckpt/Planner/OffsetAssignment.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace ckpt::planner;

namespace {
[[noreturn]] void fail(const std::string &message, int code = 1) {
  std::cerr << "ckpt-dsa: " << message << "\n";
  if (code == 2)
    std::cerr << "usage: ckpt-dsa IN.csv [-o OUT.csv] [--seconds=S]\n";
  std::exit(code);
}

} // namespace

int main(int argc, char **argv) {
  std::string input, output;
  double seconds = 9.0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-o" && i + 1 < argc)
      output = argv[++i];
    else if (arg.rfind("--seconds=", 0) == 0) {
      try {
        seconds = std::stod(arg.substr(10));
      } catch (const std::exception &) {
        fail("--seconds needs a number", 2);
      }
      if (!(seconds > 0))
        fail("--seconds must be positive", 2);
    } else if (arg == "--version") {
      std::cout << "ckpt-dsa " << CKPT_VERSION << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout
          << "usage: ckpt-dsa IN.csv [-o OUT.csv] [--seconds=S]\n"
             "\n"
             "Static memory allocation: gives every buffer an offset so that\n"
             "buffers live at the same time never overlap, and the height\n"
             "(max offset + size) is as small as the planner can make it.\n"
             "\n"
             "IN.csv   header 'id,lower,upper,size', then one buffer a line:\n"
             "         a unique id, its lifetime [lower, upper) in integer\n"
             "         steps (lower < upper) and its size in bytes (>= 0).\n"
             "         A plan written by -o (with an 'offset' column) reads\n"
             "         back as its buffers.\n"
             "-o FILE  write the same rows with an 'offset' column\n"
             "--seconds=S  time budget of the search (default 9)\n"
             "--version    print the version\n"
             "\n"
             "Prints the height, LOAD (the largest total size live at once,\n"
             "a lower bound), height / LOAD and the time taken.\n";
      return 0;
    } else if (!arg.empty() && arg[0] == '-')
      fail("unknown option '" + arg + "'", 2);
    else if (input.empty())
      input = arg;
    else
      fail("more than one input file", 2);
  }
  if (input.empty())
    fail("no input file", 2);

  std::ifstream in(input);
  if (!in)
    fail("cannot open '" + input + "'");
  std::stringstream text;
  text << in.rdbuf();
  DsaInstance instance = parseDsaCsv(text.str(), input);
  if (!instance.error.empty())
    fail(instance.error);
  const std::vector<DsaRow> &rows = instance.rows;
  std::vector<Buffer> buffers;
  for (const DsaRow &row : rows)
    buffers.push_back(row.buffer);

  auto start = std::chrono::steady_clock::now();
  SearchOptions options;
  options.seconds = seconds;
  SearchResult result = planOffsets(buffers, options);
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::string problem = checkPlan(buffers, result.offsets);
  if (!problem.empty())
    fail("internal error, invalid plan: " + problem);

  int64_t load = lowerBound(buffers);
  std::printf("buffers: %zu\nheight: %lld\nLOAD: %lld\nheight/LOAD: %.4f\n"
              "time: %.3f s\n",
              buffers.size(), static_cast<long long>(result.height),
              static_cast<long long>(load),
              load ? static_cast<double>(result.height) / load : 1.0, elapsed);

  if (!output.empty()) {
    std::string temporary = output + ".tmp";
    {
      std::ofstream out(temporary);
      if (!out)
        fail("cannot write '" + output + "'");
      out << "id,lower,upper,size,offset\n";
      for (size_t i = 0; i < rows.size(); ++i)
        out << rows[i].id << "," << rows[i].buffer.lower << ","
            << rows[i].buffer.upper << "," << rows[i].buffer.size << ","
            << result.offsets[i] << "\n";
      if (!out)
        fail("cannot write '" + output + "'");
    }
    if (std::rename(temporary.c_str(), output.c_str()) != 0)
      fail("cannot write '" + output + "'");
  }
  return 0;
}
