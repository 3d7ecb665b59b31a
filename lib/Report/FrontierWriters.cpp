//===- FrontierWriters.cpp - The memory-budget frontier, three ways -------===//

#include "Svg.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Support/AtomicOutput.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>

using namespace ckpt;

namespace {
double overhead(int64_t cost, int64_t stepFlops) {
  return stepFlops ? 100.0 * static_cast<double>(cost) / stepFlops : 0.0;
}
} // namespace

void ckpt::printFrontier(const std::vector<FrontierPoint> &points,
                         int64_t stepFlops, const std::string &function,
                         llvm::raw_ostream &os) {
  os << "== Memory budget frontier: @" << function << "\n";
  os << llvm::formatv("{0,14} {1,16} {2,20} {3,10}  {4}\n", "budget",
                      "planned arena", "recompute FLOPs", "overhead", "plan");
  for (const FrontierPoint &p : points)
    if (!p.preset)
      os << llvm::formatv("{0,14} {1,16} {2,20} {3,9:F2}%  {4}\n",
                          formatBytes(p.budget), formatBytes(p.arena), p.cost,
                          overhead(p.cost, stepFlops), p.plan);
  os << "Megatron's presets:\n";
  for (const FrontierPoint &p : points)
    if (p.preset)
      os << llvm::formatv("{0,14} {1,16} {2,20} {3,9:F2}%  {4}\n", "-",
                          formatBytes(p.arena), p.cost,
                          overhead(p.cost, stepFlops), p.plan);
  os << "(overhead: recompute FLOPs over the step's forward + backward "
        "FLOPs)\n";
}

std::string ckpt::frontierToJson(const std::vector<FrontierPoint> &points,
                                 int64_t stepFlops) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os, 2);
  auto write = [&](bool presets) {
    for (const FrontierPoint &p : points)
      if (p.preset == presets)
        json.object([&] {
          if (!presets)
            json.attribute("budget_bytes", p.budget);
          json.attribute(presets ? "preset" : "plan", p.plan);
          json.attribute("arena_bytes", p.arena);
          json.attribute("recompute_flops", p.cost);
          json.attribute("overhead_percent", overhead(p.cost, stepFlops));
        });
  };
  json.object([&] {
    json.attribute("schema", "ckpt-budget-frontier");
    json.attribute("version", 1);
    json.attribute("step_flops", stepFlops);
    json.attributeArray("points", [&] { write(false); });
    json.attributeArray("presets", [&] { write(true); });
  });
  os << "\n";
  return text;
}

std::string ckpt::renderFrontierSvg(const std::vector<FrontierPoint> &points,
                                    int64_t stepFlops,
                                    const std::string &title) {
  const double width = 900, height = 480, left = 90, right = 250, top = 50,
               bottom = 60;
  const double plotW = width - left - right, plotH = height - top - bottom;
  int64_t maxArena = 1;
  double maxOverhead = 1e-9;
  for (const FrontierPoint &p : points) {
    maxArena = std::max(maxArena, p.arena);
    maxOverhead = std::max(maxOverhead, overhead(p.cost, stepFlops));
  }
  auto x = [&](double bytes) { return left + plotW * bytes / maxArena; };
  auto y = [&](double percent) {
    return top + plotH * (1 - percent / maxOverhead);
  };
  std::string svg;
  llvm::raw_string_ostream os(svg);
  detail::beginSvg(os, width, height, left, title);
  // Axes, with the extremes labelled.
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                      "stroke=\"black\"/>\n",
                      left, top + plotH, left + plotW);
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                      "stroke=\"black\"/>\n",
                      left, top, top + plotH);
  os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">planned arena peak (0 to "
                      "{2})</text>\n",
                      left, top + plotH + 35, formatBytes(maxArena));
  os << llvm::formatv("<text x=\"12\" y=\"{0}\">{1:F1}%</text>\n", top + 4,
                      maxOverhead);
  os << llvm::formatv("<text x=\"12\" y=\"{0}\">0%</text>\n", top + plotH);
  os << llvm::formatv("<text x=\"12\" y=\"{0}\" transform=\"rotate(-90 12 "
                      "{0})\">recompute overhead</text>\n",
                      top + plotH / 2 + 50);
  // The solver's plans as a line, by planned arena.
  std::vector<const FrontierPoint *> solved;
  for (const FrontierPoint &p : points)
    if (!p.preset)
      solved.push_back(&p);
  std::sort(solved.begin(), solved.end(),
            [](auto *a, auto *b) { return a->arena < b->arena; });
  os << "<polyline fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"2\" "
        "points=\"";
  for (const FrontierPoint *p : solved)
    os << llvm::formatv("{0:F1},{1:F1} ", x(p->arena),
                        y(overhead(p->cost, stepFlops)));
  os << "\"/>\n";
  for (const FrontierPoint *p : solved)
    os << llvm::formatv("<circle cx=\"{0:F1}\" cy=\"{1:F1}\" r=\"3\" "
                        "fill=\"#4e79a7\"/>\n",
                        x(p->arena), y(overhead(p->cost, stepFlops)));
  // Megatron's presets as labelled squares.
  int row = 0;
  for (const FrontierPoint &p : points) {
    if (!p.preset)
      continue;
    double px = x(p.arena), py = y(overhead(p.cost, stepFlops));
    os << llvm::formatv("<rect x=\"{0:F1}\" y=\"{1:F1}\" width=\"7\" "
                        "height=\"7\" fill=\"#f28e2b\"/>\n",
                        px - 3.5, py - 3.5);
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" fill=\"#f28e2b\">{2}: "
                        "{3}, {4:F2}%</text>\n",
                        left + plotW + 12, top + 16 * row++, p.plan,
                        formatBytes(p.arena), overhead(p.cost, stepFlops));
  }
  os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" fill=\"#4e79a7\">memory "
                      "budget solver</text>\n",
                      left + plotW + 12, top + 16 * row + 8);
  os << "</svg>\n";
  return svg;
}
