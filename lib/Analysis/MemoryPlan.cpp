//===- MemoryPlan.cpp - Liveness and arena offsets of a step --------------===//

#include "ckpt/Analysis/MemoryPlan.h"
#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Interfaces/CkptInterfaces.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "ckpt/Planner/OffsetAssignment.h"
#include "ckpt/Support/AtomicOutput.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

using namespace mlir;
using namespace ckpt;

namespace {
/// Lifetimes of every arena tensor: each activation and temporary (not the
/// loss and gradients), live from the node that writes it to the last node
/// that reads it.
std::vector<PlannedTensor> computeLiveness(const StepGraph &graph,
                                           int64_t alignment) {
  std::vector<PlannedTensor> planned;
  for (auto [id, tensor] : llvm::enumerate(graph.tensors)) {
    if (tensor.isArgument() || (tensor.role != TensorRole::Activation &&
                                tensor.role != TensorRole::Temporary))
      continue;
    PlannedTensor t;
    t.value = tensor.value;
    t.tensor = static_cast<int>(id);
    t.bytes = ops::alignedBytes(tensor.bytes, alignment);
    t.start = tensor.producer;
    t.end = tensor.readers.empty() ? t.start + 1 : tensor.readers.back() + 1;
    t.kind = tensor.phase == Phase::Recompute ? TensorKind::Recomputed
             : tensor.kept                    ? TensorKind::Kept
                                              : TensorKind::Workspace;
    planned.push_back(t);
  }
  return planned;
}

/// The integer tag `name` of `op` or of the op around it, or -1.
int64_t tagOf(Operation *op, StringRef name) {
  for (; op; op = op->getParentOp())
    if (auto tag = op->getAttrOfType<IntegerAttr>(name))
      return tag.getInt();
  return -1;
}

/// The planner's buffers. In an unrolled pipeline stage the activations
/// each micro-batch's model chunk keeps for its backward form a group, so
/// that the slotted packing can lay the micro-batches in flight side by
/// side.
std::vector<planner::Buffer> buffersOf(const StepGraph &graph,
                                       const std::vector<PlannedTensor> &ts) {
  std::vector<planner::Buffer> buffers;
  buffers.reserve(ts.size());
  std::map<std::pair<int64_t, int64_t>, int> groups;
  for (const PlannedTensor &t : ts) {
    buffers.push_back({t.start, t.end, t.bytes});
    if (t.kind != TensorKind::Kept)
      continue;
    Operation *producer = graph.nodes[t.start].op;
    int64_t microBatch = tagOf(producer, CkptDialect::kMicroBatchAttrName);
    if (microBatch < 0)
      continue;
    auto key = std::make_pair(
        microBatch,
        std::max<int64_t>(0, tagOf(producer, CkptDialect::kChunkAttrName)));
    buffers.back().group =
        groups.try_emplace(key, static_cast<int>(groups.size())).first->second;
  }
  return buffers;
}
} // namespace

void ckpt::applyModelLayout(Operation *op, PlanOptions &options) {
  if (xf::ModelAttr model = xf::getModel(op)) {
    options.dataParallelSize = model.getDataParallelSize();
    options.useDistributedOptimizer = model.isDistributedOptimizer();
  }
}

LogicalResult ckpt::checkPlanOptions(const PlanOptions &options, Location loc) {
  int64_t align = options.alignment;
  if (align <= 0 || (align & (align - 1)) != 0)
    return mlir::emitError(loc)
           << "alignment must be a power of two, got " << align;
  if (!std::isfinite(options.seconds) || options.seconds < 0) {
    std::ostringstream seconds; // Shortest form: -0.5, inf.
    seconds << options.seconds;
    return mlir::emitError(loc)
           << "the offset search's budget must be a finite number of "
              "seconds >= 0, got "
           << seconds.str();
  }
  if (options.searchWork < 0)
    return mlir::emitError(loc)
           << "plan-search-work must be >= 0 steps, got " << options.searchWork;
  if (options.dataParallelSize < 1)
    return mlir::emitError(loc) << "data-parallel-size must be >= 1, got "
                                << options.dataParallelSize;
  return success();
}

namespace {
/// Completes a plan whose tensors have their offsets: the lower bound, the
/// timeline and the persistent bytes.
void summarizePlan(const StepGraph &graph, const PlanOptions &options,
                   MemoryPlan &plan) {
  plan.lowerBoundBytes = planner::lowerBound(buffersOf(graph, plan.tensors));

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

  // The persistent region: arguments, and the results from the step that
  // produces them on.
  // Each result stays from its producer to the end: a difference array.
  std::vector<int64_t> produced(plan.steps + 1, 0);
  llvm::DenseSet<int> counted;
  for (int id : graph.results) {
    if (id < 0 || !counted.insert(id).second)
      continue;
    const StepTensor &tensor = graph.tensors[id];
    plan.runtimePersistentBytes += tensor.bytes;
    if (tensor.isArgument())
      continue;
    // A gradient accumulated over micro-batches (or reduced after) has its
    // buffer from the first contribution on: back through the ops whose
    // first operand is the gradient already.
    int first = id;
    while (true) {
      const StepNode &producer = graph.nodes[graph.tensors[first].producer];
      if (producer.inputs.empty())
        break;
      const StepTensor &before = graph.tensors[producer.inputs.front()];
      if (before.isArgument() || before.role != TensorRole::Gradient)
        break;
      first = producer.inputs.front();
    }
    produced[graph.tensors[first].producer] += tensor.bytes;
  }
  plan.liveGradients.assign(plan.steps, 0);
  for (int64_t i = 0, running = 0; i < plan.steps; ++i)
    plan.liveGradients[i] = running += produced[i];
  for (const StepTensor &tensor : graph.tensors)
    if (tensor.isArgument())
      plan.runtimePersistentBytes += tensor.bytes;
  plan.parameterCount = countParameters(graph);
  plan.trainingPersistentBytes =
      trainingPersistentBytes(plan.parameterCount, options);
}
} // namespace

int64_t ckpt::countParameters(const StepGraph &graph) {
  int64_t count = 0;
  for (const StepTensor &tensor : graph.tensors)
    if (tensor.isArgument() && tensor.role == TensorRole::Parameter)
      count += getNumElements(tensor.value.getType());
  return count;
}

int64_t ckpt::trainingPersistentBytes(int64_t parameters,
                                      const PlanOptions &options) {
  int64_t d = std::max<int64_t>(1, options.dataParallelSize);
  return options.useDistributedOptimizer
             ? 6 * parameters + (12 * parameters + d - 1) / d
             : 18 * parameters;
}

MemoryPlan ckpt::planMemory(const StepGraph &graph,
                            const PlanOptions &options) {
  MemoryPlan plan;
  plan.tensors = computeLiveness(graph, options.alignment);
  plan.steps = static_cast<int64_t>(graph.nodes.size());
  plan.alignment = options.alignment;
  planner::SearchOptions search;
  if (!options.deterministic)
    search.seconds = options.seconds;
  search.work = options.searchWork;
  planner::SearchResult result =
      planner::planOffsets(buffersOf(graph, plan.tensors), search);
  for (auto [tensor, offset] : llvm::zip(plan.tensors, result.offsets))
    tensor.offset = offset;
  plan.arenaBytes = result.height;
  plan.arenaNote = result.note;
  summarizePlan(graph, options, plan);
  return plan;
}

void ckpt::annotatePlan(const StepGraph &graph, const MemoryPlan &plan) {
  std::vector<int64_t> offsets(graph.tensors.size(), -1);
  for (const PlannedTensor &t : plan.tensors)
    offsets[t.tensor] = t.offset;
  Builder builder(graph.step.getContext());
  for (const StepNode &node : graph.nodes) {
    SmallVector<int64_t> values;
    for (int id : node.outputs)
      values.push_back(offsets[id]);
    node.op->setAttr("ckpt.offsets", builder.getDenseI64ArrayAttr(values));
  }
  SmallVector<NamedAttribute> memory = {
      builder.getNamedAttr("arena_bytes",
                           builder.getI64IntegerAttr(plan.arenaBytes)),
      builder.getNamedAttr("peak_bytes",
                           builder.getI64IntegerAttr(plan.lowerBoundBytes)),
      builder.getNamedAttr("alignment",
                           builder.getI64IntegerAttr(plan.alignment))};
  // Why the arena is above the bound travels with the plan, for the report.
  if (!plan.arenaNote.empty())
    memory.push_back(builder.getNamedAttr(
        "arena_note", builder.getStringAttr(plan.arenaNote)));
  graph.step->setAttr("ckpt.memory", builder.getDictionaryAttr(memory));
}

std::optional<int64_t> ckpt::getPlanAlignment(func::FuncOp step) {
  auto memory = step->getAttrOfType<DictionaryAttr>("ckpt.memory");
  if (!memory)
    return std::nullopt;
  auto alignment = memory.getAs<IntegerAttr>("alignment");
  return alignment ? alignment.getInt() : PlanOptions().alignment;
}

FailureOr<MemoryPlan> ckpt::readPlan(const StepGraph &graph,
                                     const PlanOptions &options) {
  func::FuncOp step = graph.step;
  int64_t alignment = options.alignment;
  auto memory = step->getAttrOfType<DictionaryAttr>("ckpt.memory");
  auto arena =
      memory ? memory.getAs<IntegerAttr>("arena_bytes") : IntegerAttr();
  if (!arena)
    return mlir::emitError(step.getLoc())
           << "@" << step.getName()
           << " has no memory plan (ckpt.memory); run --ckpt-plan-memory";
  MemoryPlan plan;
  plan.tensors = computeLiveness(graph, alignment);
  plan.steps = static_cast<int64_t>(graph.nodes.size());
  plan.alignment = alignment;
  plan.arenaBytes = arena.getInt();
  if (auto note = memory.getAs<StringAttr>("arena_note"))
    plan.arenaNote = note.str();
  std::vector<PlannedTensor> &tensors = plan.tensors;
  std::vector<int64_t> offsets;
  for (PlannedTensor &t : tensors) {
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
  auto conflict = planner::findConflict(buffersOf(graph, tensors), offsets);
  if (!conflict) {
    summarizePlan(graph, options, plan);
    return plan;
  }
  const PlannedTensor &a = tensors[conflict->first];
  const PlannedTensor &b = tensors[conflict->second];
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

LogicalResult ckpt::verifyPlan(func::FuncOp step, int64_t alignment) {
  FailureOr<StepGraph> graph = StepGraph::build(step);
  if (failed(graph))
    return failure();
  PlanOptions options;
  options.alignment = alignment;
  return success(succeeded(readPlan(*graph, options)));
}
