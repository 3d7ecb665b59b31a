//===- ckpt-dsa.cpp - Static memory allocation on its own -----------------===//
//
//   ckpt-dsa IN.csv [--capacity=BYTES] [-o OUT.csv] [--nodes=N]
//            [--plan-seconds=S]
//
// Reads buffers (`id,lower,upper,size`, lifetimes half-open) and assigns
// every buffer an offset by the exact search of ExactPacking.h. With a
// capacity it decides whether the buffers fit in it; without, it finds the
// lowest height it can and says what it proved. Writes the same rows with
// an `offset` column.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Output/OutputFiles.h"
#include "ckpt/Planner/DsaCsv.h"
#include "ckpt/Planner/ExactPacking.h"
#include "ckpt/Planner/OffsetAssignment.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace ckpt::planner;

namespace {
[[noreturn]] void fail(const std::string &message, int code = 1) {
  std::cerr << "ckpt-dsa: " << message << "\n";
  if (code == 2)
    std::cerr << "usage: ckpt-dsa IN.csv [--capacity=BYTES] [-o OUT.csv] "
                 "[--nodes=N] [--plan-seconds=S]\n";
  std::exit(code);
}

/// An option's integer value, at least `least`.
int64_t integerOption(const std::string &arg, size_t prefix, int64_t least) {
  std::string name = arg.substr(0, prefix - 1), text = arg.substr(prefix);
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception &) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    fail(name + " needs an integer, got '" + text + "'", 2);
  if (value < least)
    fail(name + " must be at least " + std::to_string(least), 2);
  return value;
}

void writePlan(const std::string &output, const std::vector<DsaRow> &rows,
               const std::vector<int64_t> &offsets) {
  std::ostringstream out;
  out << "id,lower,upper,size,offset\n";
  for (size_t i = 0; i < rows.size(); ++i)
    out << rows[i].id << "," << rows[i].buffer.lower << ","
        << rows[i].buffer.upper << "," << rows[i].buffer.size << ","
        << offsets[i] << "\n";
  std::string error;
  if (!ckpt::output::writeFile(output, out.str(), error))
    fail(error);
}

const char *kHelp =
    "usage: ckpt-dsa IN.csv [--capacity=BYTES] [-o OUT.csv] [--nodes=N]\n"
    "                [--plan-seconds=S]\n"
    "\n"
    "Static memory allocation: gives every buffer an offset so that buffers\n"
    "live at the same time never overlap, by branch and bound over\n"
    "canonical packings, started from greedy packings.\n"
    "\n"
    "IN.csv   header 'id,lower,upper,size', then one buffer a line: a\n"
    "         unique id, its lifetime [lower, upper) in integer steps\n"
    "         (lower < upper) and its size in bytes (>= 0). A plan written\n"
    "         by -o (with an 'offset' column) reads back as its buffers.\n"
    "--capacity=BYTES  decide whether the buffers fit in BYTES: prints\n"
    "         'fits: yes' with a packing, 'fits: no' with the proof (LOAD\n"
    "         above it, or the search exhausted every canonical packing),\n"
    "         or 'fits: unknown' when the node budget ran out. Exit status\n"
    "         0, 3 and 4 respectively.\n"
    "         Without it: the lowest height the search finds, and the\n"
    "         lower bound it proves (LOAD, or higher when it exhausts a\n"
    "         capacity).\n"
    "-o FILE  write the same rows with an 'offset' column (only when a\n"
    "         packing was found); -o - writes them to standard output\n"
    "         and the summary to standard error\n"
    "--nodes=N    search nodes for the run (default 2000000); the result\n"
    "             depends on the buffers and N alone, not on the machine.\n"
    "             (Nodes of the search alone: the compiler's\n"
    "             plan-search-work counts steps, its setup included.)\n"
    "--plan-seconds=S  wall-clock guard (default none; --seconds=S is its\n"
    "             older spelling); when it fires the output\n"
    "             says so, and the result depends on the machine's speed.\n"
    "--version    print the version\n"
    "\n"
    "Limit: the exact search holds up to 5e7 overlap and section entries\n"
    "(counted first, in n log n); a larger instance keeps its greedy\n"
    "packing, and the status says so.\n";

/// The input file, once the command line named it (for messages).
std::string input;

int run(int argc, char **argv);
} // namespace

int main(int argc, char **argv) {
  // Out of memory is an error with the input's name, not an abort.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    fail("'" + input +
         "': out of memory: the instance needs more memory than this "
         "machine has");
  }
}

namespace {
int run(int argc, char **argv) {
  std::string output;
  ExactOptions options;
  int64_t capacity = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-o" && i + 1 < argc)
      output = argv[++i];
    else if (arg.rfind("--capacity=", 0) == 0)
      capacity = integerOption(arg, 11, 0);
    else if (arg.rfind("--nodes=", 0) == 0)
      options.nodes = integerOption(arg, 8, 1);
    else if (arg.rfind("--plan-seconds=", 0) == 0 ||
             arg.rfind("--seconds=", 0) == 0) {
      // The spelling of the other tools, or its older one.
      size_t equals = arg.find('=');
      std::string name = arg.substr(0, equals);
      try {
        options.guardSeconds = std::stod(arg.substr(equals + 1));
      } catch (const std::exception &) {
        fail(name + " needs a number", 2);
      }
      if (!(options.guardSeconds > 0))
        fail(name + " must be positive", 2);
    } else if (arg == "--version") {
      std::cout << "ckpt-dsa " << CKPT_VERSION << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kHelp;
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
  const int64_t load = lowerBound(buffers);

  auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };
  auto verified = [&](const std::vector<int64_t> &offsets) {
    std::string problem = checkPlan(buffers, offsets);
    if (!problem.empty())
      fail("internal error, invalid plan: " + problem);
  };

  // With -o - the plan is standard output; the summary moves to stderr.
  FILE *summary = output == "-" ? stderr : stdout;
  if (capacity >= 0) {
    FitResult fit = fitInCapacity(buffers, capacity, options);
    double elapsed = seconds();
    std::fprintf(summary, "buffers: %zu\ncapacity: %lld\nLOAD: %lld\n",
                 buffers.size(), static_cast<long long>(capacity),
                 static_cast<long long>(load));
    if (fit.verdict == FitVerdict::Fits) {
      verified(fit.offsets);
      std::fprintf(summary, "fits: yes (%s)\nheight: %lld\n",
                   fit.decidedBy.c_str(), static_cast<long long>(fit.height));
    } else if (fit.verdict == FitVerdict::NoFit) {
      std::fprintf(
          summary, "fits: no (%s)\n",
          fit.decidedBy == "LOAD"
              ? "LOAD is above the capacity"
              : "proved: the search exhausted every canonical packing");
    } else {
      std::fprintf(summary, "fits: unknown (%s after %lld nodes)\n",
                   !fit.skipped.empty() ? fit.skipped.c_str()
                   : fit.stoppedByClock ? "the --seconds guard fired"
                                        : "the node budget ran out",
                   static_cast<long long>(fit.nodes));
    }
    std::fprintf(summary, "nodes: %lld\ntime: %.3f s\n",
                 static_cast<long long>(fit.nodes), elapsed);
    if (fit.verdict == FitVerdict::Fits && !output.empty())
      writePlan(output, rows, fit.offsets);
    return fit.verdict == FitVerdict::Fits    ? 0
           : fit.verdict == FitVerdict::NoFit ? 3
                                              : 4;
  }

  HeightResult result = minimizeHeight(buffers, options);
  double elapsed = seconds();
  verified(result.offsets);
  std::string status =
      result.optimal()          ? "optimal"
      : !result.skipped.empty() ? "not proved optimal (" + result.skipped + ")"
      : result.stoppedByClock   ? "not proved optimal (--seconds fired)"
                                : "not proved optimal (node budget)";
  std::fprintf(summary,
               "buffers: %zu\nheight: %lld\nLOAD: %lld\nheight/LOAD: %.4f\n"
               "proved lower bound: %lld\nstatus: %s\n"
               "greedy start: %lld (%s)\nnodes: %lld\ntime: %.3f s\n",
               buffers.size(), static_cast<long long>(result.height),
               static_cast<long long>(load),
               load ? static_cast<double>(result.height) / load : 1.0,
               static_cast<long long>(result.provenLowerBound), status.c_str(),
               static_cast<long long>(result.greedyHeight),
               result.greedy.c_str(), static_cast<long long>(result.nodes),
               elapsed);
  if (!output.empty())
    writePlan(output, rows, result.offsets);
  return 0;
}
} // namespace
