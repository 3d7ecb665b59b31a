//===- DsaGeneratedBench.cpp - The exact search on generated instances ----===//
//
//   ckpt-dsa-generated-bench [--count=N] [--nodes=N] [--drop=SHARE]
//                            [--seed=S] [--sizes=100,200,...]
//
// Instances of MiniMalloc's "challenging" family that no test or tuning has
// seen: a rectangle cut recursively into buffers (DsaGenerator.h), so each
// packs into a known capacity. For each size, prints how many the search
// packs within that capacity (fitInCapacity) and within its node budget,
// the worst height / capacity of minimizeHeight, and the nodes and times.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Planner/DsaGenerator.h"
#include "ckpt/Planner/ExactPacking.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

using namespace ckpt::planner;

namespace {
double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}
} // namespace

int main(int argc, char **argv) {
  int count = 20;
  int64_t nodes = ExactOptions().nodes;
  double drop = 0;
  uint64_t seed = 1000;
  std::vector<int> sizes = {100, 200, 300, 400, 500};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *prefix) -> const char * {
      size_t n = std::string(prefix).size();
      return arg.compare(0, n, prefix) == 0 ? argv[i] + n : nullptr;
    };
    if (const char *v = value("--count="))
      count = std::atoi(v);
    else if (const char *v = value("--nodes="))
      nodes = std::atoll(v);
    else if (const char *v = value("--drop="))
      drop = std::atof(v);
    else if (const char *v = value("--seed="))
      seed = std::strtoull(v, nullptr, 10);
    else if (const char *v = value("--sizes=")) {
      sizes.clear();
      std::stringstream list(v);
      std::string item;
      while (std::getline(list, item, ','))
        sizes.push_back(std::atoi(item.c_str()));
    } else {
      std::fprintf(stderr,
                   "usage: ckpt-dsa-generated-bench [--count=N] [--nodes=N] "
                   "[--drop=SHARE] [--seed=S] [--sizes=100,200,...]\n");
      return 2;
    }
  }
  std::printf("| buffers | instances | fit in capacity | worst greedy / "
              "capacity | worst height / capacity (minimize) | nodes "
              "(median, max) | time (median, max) |\n|---|---|---|---|---|---|"
              "---|\n");
  for (int size : sizes) {
    int fitted = 0;
    double worstGreedy = 0, worstHeight = 0;
    std::vector<double> fitNodes, fitSeconds;
    for (int k = 0; k < count; ++k) {
      TiledInstanceSpec spec;
      spec.seed = seed + 7919 * size + k;
      spec.buffers = size;
      spec.dropShare = drop;
      TiledInstance instance = generateTiledInstance(spec);
      ExactOptions options;
      options.nodes = nodes;
      auto start = std::chrono::steady_clock::now();
      FitResult fit =
          fitInCapacity(instance.buffers, instance.capacity, options);
      fitSeconds.push_back(std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count());
      fitNodes.push_back(static_cast<double>(fit.nodes));
      if (fit.verdict == FitVerdict::Fits &&
          checkPlan(instance.buffers, fit.offsets).empty() &&
          fit.height <= instance.capacity)
        ++fitted;
      HeightResult best = minimizeHeight(instance.buffers, options);
      if (!checkPlan(instance.buffers, best.offsets).empty()) {
        std::fprintf(stderr, "invalid packing (seed %llu)\n",
                     static_cast<unsigned long long>(spec.seed));
        return 1;
      }
      worstGreedy =
          std::max(worstGreedy,
                   static_cast<double>(best.greedyHeight) / instance.capacity);
      worstHeight = std::max(worstHeight, static_cast<double>(best.height) /
                                              instance.capacity);
    }
    std::printf("| %d | %d | %d (%.0f%%) | %.4f | %.4f | %.0f, %.0f | %.3f s, "
                "%.3f s |\n",
                size, count, fitted, 100.0 * fitted / count, worstGreedy,
                worstHeight, median(fitNodes),
                *std::max_element(fitNodes.begin(), fitNodes.end()),
                median(fitSeconds),
                *std::max_element(fitSeconds.begin(), fitSeconds.end()));
    std::fflush(stdout);
  }
  return 0;
}
