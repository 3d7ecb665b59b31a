//===- TimelineSvg.cpp - The memory timeline as a picture -----------------===//

#include "Svg.h"
#include "ckpt/Report/Report.h"
#include "ckpt/Support/AtomicOutput.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

std::string ckpt::renderTimelineSvg(const MemoryPlan &plan,
                                    const std::string &title) {
  const double width = 960, height = 460, left = 90, right = 200, top = 50,
               bottom = 60;
  const double plotW = width - left - right, plotH = height - top - bottom;
  int64_t steps = std::max<int64_t>(plan.steps, 1);
  int64_t maxBytes = std::max<int64_t>(plan.arenaBytes, 1);
  for (int64_t i = 0; i < plan.steps; ++i)
    maxBytes =
        std::max(maxBytes, plan.liveKept[i] + plan.liveRecomputed[i] +
                               plan.liveWorkspace[i] + plan.liveGradients[i]);
  auto x = [&](double step) { return left + plotW * step / steps; };
  auto y = [&](double bytes) { return top + plotH * (1 - bytes / maxBytes); };

  std::string svg;
  llvm::raw_string_ostream os(svg);
  detail::beginSvg(os, width, height, left, title);
  // Stacked areas: kept, recomputed, workspace, gradients.
  struct Layer {
    const std::vector<int64_t> *values;
    const char *color, *label;
  } layers[] = {{&plan.liveKept, "#4e79a7", "kept activations"},
                {&plan.liveRecomputed, "#f28e2b", "recomputed values"},
                {&plan.liveWorkspace, "#bab0ab", "workspace"},
                {&plan.liveGradients, "#59a14f", "gradients"}};
  std::vector<int64_t> base(plan.steps, 0);
  for (const Layer &layer : layers) {
    os << "<polygon fill=\"" << layer.color << "\" points=\"";
    for (int64_t i = 0; i < plan.steps; ++i) {
      double v = base[i] + (*layer.values)[i];
      os << llvm::formatv("{0:F1},{1:F1} {2:F1},{1:F1} ", x(i), y(v), x(i + 1));
    }
    for (int64_t i = plan.steps - 1; i >= 0; --i)
      os << llvm::formatv("{0:F1},{1:F1} {2:F1},{1:F1} ", x(i + 1), y(base[i]),
                          x(i));
    os << "\"/>\n";
    for (int64_t i = 0; i < plan.steps; ++i)
      base[i] += (*layer.values)[i];
  }
  // Axes and ticks.
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                      "stroke=\"black\"/>\n",
                      left, top, top + plotH);
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                      "stroke=\"black\"/>\n",
                      left, top + plotH, left + plotW);
  for (int k = 0; k <= 5; ++k) {
    double bytes = maxBytes * k / 5.0;
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">{2}"
                        "</text>\n",
                        left - 6, y(bytes) + 4,
                        formatBytes(static_cast<int64_t>(bytes)));
    int64_t step = steps * k / 5;
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">{2}"
                        "</text>\n",
                        x(step), top + plotH + 18, step);
  }
  os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">"
                      "schedule step</text>\n",
                      left + plotW / 2, height - 18);
  // The peak of the arena tensors and the arena itself.
  int64_t peakStep = 0, peak = -1;
  for (int64_t i = 0; i < plan.steps; ++i) {
    int64_t v =
        plan.liveKept[i] + plan.liveRecomputed[i] + plan.liveWorkspace[i];
    if (v > peak) {
      peak = v;
      peakStep = i;
    }
  }
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                      "stroke=\"#e15759\" stroke-dasharray=\"6,4\"/>\n",
                      left, y(plan.arenaBytes), left + plotW);
  os << llvm::formatv(
      "<circle cx=\"{0}\" cy=\"{1}\" r=\"5\" fill=\"#e15759\"/>\n",
      x(peakStep + 0.5), y(peak));
  os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" fill=\"#e15759\">peak {2} at "
                      "step {3}</text>\n",
                      std::min(x(peakStep + 0.5) + 8, left + plotW - 150),
                      y(peak) - 8, formatBytes(peak), peakStep);
  // Legend.
  double ly = top + 10;
  for (const Layer &layer : layers) {
    os << llvm::formatv("<rect x=\"{0}\" y=\"{1}\" width=\"14\" height=\"14\" "
                        "fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5}</text>\n",
                        left + plotW + 16, ly, layer.color, left + plotW + 36,
                        ly + 12, layer.label);
    ly += 22;
  }
  os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" "
                      "stroke=\"#e15759\" stroke-dasharray=\"6,4\"/>"
                      "<text x=\"{3}\" y=\"{4}\">arena {5}</text>\n",
                      left + plotW + 16, ly + 7, left + plotW + 30,
                      left + plotW + 36, ly + 12, formatBytes(plan.arenaBytes));
  os << "</svg>\n";
  return svg;
}
