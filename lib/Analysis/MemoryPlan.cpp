//===- MemoryPlan.cpp - Liveness and arena offsets of a step --------------===//

#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Analysis/ActivationAnalysis.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/Planner/OffsetAssignment.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

Value FlatSchedule::resolve(Value value) const {
  for (auto it = aliases.find(value); it != aliases.end();
       it = aliases.find(value))
    value = it->second;
  return value;
}

static void flattenInto(Operation &op, FlatSchedule &schedule) {
  if (auto region = dyn_cast<RecomputeOp>(op)) {
    Block &block = region.getBody().front();
    for (auto [arg, input] :
         llvm::zip(block.getArguments(), region.getInputs()))
      schedule.aliases[arg] = input;
    for (Operation &inner : block.without_terminator())
      flattenInto(inner, schedule);
    auto yield = cast<YieldOp>(block.getTerminator());
    for (auto [result, value] :
         llvm::zip(region.getResults(), yield.getValues()))
      schedule.aliases[result] = value;
    return;
  }
  schedule.ops.push_back(&op);
}

FlatSchedule ckpt::flattenSchedule(func::FuncOp step) {
  FlatSchedule schedule;
  for (Operation &op : step.getBody().front().without_terminator())
    flattenInto(op, schedule);
  return schedule;
}

namespace {
int64_t roundUp(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

bool isParameterArg(func::FuncOp step, unsigned index) {
  if (auto role = step.getArgAttrOfType<StringAttr>(
          index, xf::XFDialect::kRoleAttrName))
    return role.getValue() == "parameter";
  auto type = dyn_cast<RankedTensorType>(step.getArgument(index).getType());
  return type && isa<FloatType>(type.getElementType());
}

/// Lifetimes of every arena tensor, in the planner's terms.
struct Liveness {
  std::vector<PlannedTensor> tensors;
  llvm::DenseMap<Value, int> index;
  int64_t steps = 0;
  llvm::DenseSet<Value> returned;
};

FailureOr<Liveness> computeLiveness(func::FuncOp step, int64_t alignment) {
  Liveness live;
  FlatSchedule schedule = flattenSchedule(step);
  auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
  for (Value value : ret.getOperands())
    live.returned.insert(schedule.resolve(value));
  live.steps = static_cast<int64_t>(schedule.ops.size());

  for (auto [i, op] : llvm::enumerate(schedule.ops)) {
    for (Value result : op->getResults()) {
      if (live.returned.contains(result))
        continue;
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (!type || !type.hasStaticShape())
        return op->emitOpError() << "produces " << result.getType()
                                 << ", which the memory planner cannot size";
      PlannedTensor tensor;
      tensor.value = result;
      tensor.bytes = roundUp(getTensorBytes(type), alignment);
      tensor.start = static_cast<int64_t>(i);
      tensor.end = tensor.start + 1;
      Phase phase = getPhase(op);
      if (phase == Phase::Recompute)
        tensor.kind = TensorKind::Recomputed;
      else if (phase == Phase::Forward &&
               llvm::any_of(result.getUsers(), [](Operation *user) {
                 return getPhase(user) != Phase::Forward;
               }))
        tensor.kind = TensorKind::Kept;
      live.index[result] = static_cast<int>(live.tensors.size());
      live.tensors.push_back(tensor);
    }
  }
  for (auto [i, op] : llvm::enumerate(schedule.ops))
    for (Value operand : op->getOperands()) {
      auto it = live.index.find(schedule.resolve(operand));
      if (it != live.index.end())
        live.tensors[it->second].end =
            std::max(live.tensors[it->second].end, static_cast<int64_t>(i) + 1);
    }
  return live;
}

std::vector<planner::Buffer> buffersOf(const std::vector<PlannedTensor> &ts) {
  std::vector<planner::Buffer> buffers;
  buffers.reserve(ts.size());
  for (const PlannedTensor &t : ts)
    buffers.push_back({t.start, t.end, t.bytes});
  return buffers;
}
} // namespace

FailureOr<MemoryPlan> ckpt::planMemory(func::FuncOp step,
                                       const PlanOptions &options) {
  FailureOr<Liveness> live = computeLiveness(step, options.alignment);
  if (failed(live))
    return failure();
  MemoryPlan plan;
  plan.tensors = std::move(live->tensors);
  plan.steps = live->steps;
  plan.alignment = options.alignment;

  std::vector<planner::Buffer> buffers = buffersOf(plan.tensors);
  planner::SearchOptions search;
  search.seconds = options.seconds;
  planner::SearchResult result = planner::planOffsets(buffers, search);
  for (auto [tensor, offset] : llvm::zip(plan.tensors, result.offsets))
    tensor.offset = offset;
  plan.arenaBytes = result.height;
  plan.lowerBoundBytes = planner::lowerBound(buffers);

  // The timeline, by difference arrays.
  auto series = [&](TensorKind kind) {
    std::vector<int64_t> delta(plan.steps + 1, 0);
    for (const PlannedTensor &t : plan.tensors)
      if (t.kind == kind) {
        delta[t.start] += t.bytes;
        delta[t.end] -= t.bytes;
      }
    std::vector<int64_t> values(plan.steps, 0);
    int64_t running = 0;
    for (int64_t i = 0; i < plan.steps; ++i)
      values[i] = running += delta[i];
    return values;
  };
  plan.liveKept = series(TensorKind::Kept);
  plan.liveRecomputed = series(TensorKind::Recomputed);
  plan.liveWorkspace = series(TensorKind::Workspace);

  // The persistent region.
  FlatSchedule schedule = flattenSchedule(step);
  llvm::DenseMap<Value, int64_t> producedAt;
  for (auto [i, op] : llvm::enumerate(schedule.ops))
    for (Value result : op->getResults())
      producedAt[result] = static_cast<int64_t>(i);
  plan.liveGradients.assign(plan.steps, 0);
  for (Value value : live->returned) {
    int64_t bytes = getTensorBytes(value.getType());
    plan.runtimePersistentBytes += bytes;
    if (auto it = producedAt.find(value); it != producedAt.end())
      for (int64_t i = it->second; i < plan.steps; ++i)
        plan.liveGradients[i] += bytes;
  }
  for (BlockArgument arg : step.getArguments()) {
    plan.runtimePersistentBytes += getTensorBytes(arg.getType());
    if (isParameterArg(step, arg.getArgNumber()))
      plan.parameterCount += getNumElements(arg.getType());
  }
  int64_t d = std::max<int64_t>(1, options.dataParallelSize);
  plan.trainingPersistentBytes =
      options.useDistributedOptimizer
          ? 6 * plan.parameterCount + (12 * plan.parameterCount + d - 1) / d
          : 18 * plan.parameterCount;
  return plan;
}

void ckpt::annotatePlan(func::FuncOp step, const MemoryPlan &plan) {
  llvm::DenseMap<Value, int64_t> offsets;
  for (const PlannedTensor &t : plan.tensors)
    offsets[t.value] = t.offset;
  Builder builder(step.getContext());
  for (Operation *op : flattenSchedule(step).ops) {
    SmallVector<int64_t> values;
    for (Value result : op->getResults())
      values.push_back(offsets.count(result) ? offsets.lookup(result) : -1);
    op->setAttr("ckpt.offsets", builder.getDenseI64ArrayAttr(values));
  }
  step->setAttr(
      "ckpt.memory",
      builder.getDictionaryAttr({
          builder.getNamedAttr("arena_bytes",
                               builder.getI64IntegerAttr(plan.arenaBytes)),
          builder.getNamedAttr("peak_bytes",
                               builder.getI64IntegerAttr(plan.lowerBoundBytes)),
          builder.getNamedAttr("alignment",
                               builder.getI64IntegerAttr(plan.alignment)),
      }));
}

LogicalResult ckpt::verifyPlan(func::FuncOp step, int64_t alignment) {
  auto memory = step->getAttrOfType<DictionaryAttr>("ckpt.memory");
  auto arena =
      memory ? memory.getAs<IntegerAttr>("arena_bytes") : IntegerAttr();
  if (!arena)
    return mlir::emitError(step.getLoc())
           << "@" << step.getName()
           << " has no memory plan (ckpt.memory); run --ckpt-plan-memory";
  FailureOr<Liveness> live = computeLiveness(step, alignment);
  if (failed(live))
    return failure();
  std::vector<int64_t> offsets;
  for (PlannedTensor &t : live->tensors) {
    Operation *op = t.value.getDefiningOp();
    auto attr = op->getAttrOfType<DenseI64ArrayAttr>("ckpt.offsets");
    if (!attr)
      return op->emitOpError() << "has no ckpt.offsets";
    t.offset = attr[cast<OpResult>(t.value).getResultNumber()];
    if (t.offset < 0 || t.offset % alignment != 0 ||
        t.offset + t.bytes > arena.getInt())
      return op->emitOpError()
             << "result #" << cast<OpResult>(t.value).getResultNumber()
             << " at offset " << t.offset << " (+" << t.bytes
             << " bytes) is not an aligned place inside the arena of "
             << arena.getInt() << " bytes";
    offsets.push_back(t.offset);
  }
  auto conflict = planner::findConflict(buffersOf(live->tensors), offsets);
  if (!conflict)
    return success();
  const PlannedTensor &a = live->tensors[conflict->first];
  const PlannedTensor &b = live->tensors[conflict->second];
  InFlightDiagnostic diag =
      b.value.getDefiningOp()->emitOpError()
      << "result #" << cast<OpResult>(b.value).getResultNumber() << " (bytes ["
      << b.offset << ", " << b.offset + b.bytes
      << ") of the arena, live over steps [" << b.start << ", " << b.end
      << ")) overlaps a tensor live at the same time";
  diag.attachNote(a.value.getLoc())
      << "which occupies bytes [" << a.offset << ", " << a.offset + a.bytes
      << "), live over steps [" << a.start << ", " << a.end << ")";
  return failure();
}

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
  os << llvm::formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                      "height=\"{1}\" font-family=\"sans-serif\" "
                      "font-size=\"12\">\n",
                      width, height);
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << llvm::formatv("<text x=\"{0}\" y=\"24\" font-size=\"15\">{1}</text>\n",
                      left, title);
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
