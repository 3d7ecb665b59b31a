//===- StepGraph.cpp - The compact graph of a training step ---------------===//

#include "ckpt/Analysis/StepGraph.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"

#include <array>

using namespace mlir;
using namespace ckpt;

Phase ckpt::getPhase(Operation *op) {
  auto phase = op->getAttrOfType<StringAttr>(xf::XFDialect::kPhaseAttrName);
  if (!phase)
    return Phase::Forward;
  return phase.getValue() == "recompute" ? Phase::Recompute : Phase::Backward;
}

const char *ckpt::phaseName(Phase phase) {
  switch (phase) {
  case Phase::Forward:
    return "forward";
  case Phase::Backward:
    return "backward";
  case Phase::Recompute:
    return "recompute";
  }
  return "";
}

int StepGraph::tensorOf(Value value) const {
  auto it = index_.find(value);
  return it == index_.end() ? -1 : it->second;
}

const OpCost &StepGraph::cost(int node) const {
  if (costs_.size() != nodes.size())
    costs_.assign(nodes.size(), std::nullopt);
  if (!costs_[node])
    costs_[node] = getOpCost(nodes[node].op);
  return *costs_[node];
}

void StepGraph::computeAllCosts() const {
  for (int node = 0, e = static_cast<int>(nodes.size()); node < e; ++node)
    cost(node);
}

bool StepGraph::isReadOutsideForward(int tensor) const {
  return llvm::any_of(tensors[tensor].readers, [&](int reader) {
    return nodes[reader].phase != Phase::Forward;
  });
}

int StepGraph::attributedReader(int tensor) const {
  for (Phase wanted : {Phase::Backward, Phase::Recompute})
    for (int reader : tensors[tensor].readers)
      if (nodes[reader].phase == wanted)
        return reader;
  return -1;
}

namespace ckpt {
/// The graph builder's way into the graph's private arrays.
struct StepGraphAccess {
  static llvm::DenseMap<Value, int> &index(StepGraph &g) { return g.index_; }
  static std::vector<int> &operands(StepGraph &g) { return g.operands_; }
  static std::vector<int> &readers(StepGraph &g) { return g.readers_; }
};
} // namespace ckpt

namespace {
/// An argument is a parameter by its `xf.role`; without one, a
/// floating-point argument is.
bool isParameterArgument(func::FuncOp step, BlockArgument arg) {
  if (auto role = step.getArgAttrOfType<StringAttr>(
          arg.getArgNumber(), xf::XFDialect::kRoleAttrName))
    return role.getValue() == "parameter";
  auto type = dyn_cast<RankedTensorType>(arg.getType());
  return type && isa<FloatType>(type.getElementType());
}

class GraphBuilder {
public:
  explicit GraphBuilder(StepGraph &graph) : graph(graph) {}

  LogicalResult addArguments() {
    for (BlockArgument arg : graph.step.getArguments()) {
      if (failed(addTensor(arg, -1, Phase::Forward, graph.step)))
        return failure();
      graph.tensors.back().role = isParameterArgument(graph.step, arg)
                                      ? TensorRole::Parameter
                                      : TensorRole::Input;
    }
    return success();
  }

  /// Appends `op` (a region's body in place) to the schedule.
  LogicalResult addOp(Operation &op, int region) {
    if (auto recompute = dyn_cast<RecomputeOp>(op))
      return addRegion(recompute);
    StepNode node;
    node.op = &op;
    node.phase = region >= 0 ? Phase::Recompute : getPhase(&op);
    node.layer = xf::getLayer(&op);
    node.module = xf::getModule(&op);
    node.region = region;
    int index = static_cast<int>(graph.nodes.size());
    std::vector<int> &operands = StepGraphAccess::operands(graph);
    ranges.push_back({operands.size(), op.getNumOperands(), 0, 0});
    for (Value operand : op.getOperands()) {
      int id = graph.tensorOf(operand);
      if (id < 0)
        return op.emitOpError("reads a value defined outside the training "
                              "step's body");
      operands.push_back(id);
      // Once per reading node: an op may read a value twice.
      if (lastReader[id] != index) {
        lastReader[id] = index;
        reads.push_back({id, index});
      }
    }
    ranges.back()[2] = operands.size();
    ranges.back()[3] = op.getNumResults();
    for (Value result : op.getResults()) {
      if (failed(addTensor(result, index, node.phase, &op)))
        return failure();
      operands.push_back(static_cast<int>(graph.tensors.size()) - 1);
    }
    graph.nodes.push_back(node);
    return success();
  }

private:
  LogicalResult addRegion(RecomputeOp recompute) {
    int region = static_cast<int>(graph.regions.size());
    StepRegion info;
    info.op = recompute;
    info.label = recompute.getLabel().value_or("").str();
    info.firstNode = static_cast<int>(graph.nodes.size());
    graph.regions.push_back(info);
    Block &block = recompute.getBody().front();
    for (auto [arg, input] :
         llvm::zip(block.getArguments(), recompute.getInputs()))
      alias(arg, input);
    for (Operation &inner : block.without_terminator())
      if (failed(addOp(inner, region)))
        return failure();
    auto yield = cast<YieldOp>(block.getTerminator());
    for (auto [result, value] :
         llvm::zip(recompute.getResults(), yield.getValues()))
      alias(result, value);
    StepRegion &done = graph.regions[region];
    done.endNode = static_cast<int>(graph.nodes.size());
    // The region's nodes' outputs (their views are linked at the end).
    const std::vector<int> &operands = StepGraphAccess::operands(graph);
    for (int node = done.firstNode; node < done.endNode; ++node)
      for (size_t k = 0; k < ranges[node][3]; ++k)
        done.producedBytes +=
            graph.tensors[operands[ranges[node][2] + k]].bytes;
    return success();
  }

  void alias(Value value, Value target) {
    if (int id = graph.tensorOf(target); id >= 0)
      index()[value] = id;
  }

  LogicalResult addTensor(Value value, int producer, Phase phase,
                          Operation *where) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || !type.hasStaticShape())
      return where->emitOpError()
             << "produces " << value.getType()
             << ", which cannot be sized: a training step holds statically "
                "shaped tensors";
    StepTensor tensor;
    tensor.value = value;
    tensor.bytes = getTensorBytes(type);
    tensor.producer = producer;
    tensor.phase = phase;
    index()[value] = static_cast<int>(graph.tensors.size());
    lastReader.push_back(-1);
    graph.tensors.push_back(tensor);
    return success();
  }

public:
  /// Points the nodes' and tensors' views at the flat arrays, once they
  /// no longer grow.
  void link() {
    std::vector<int> &operands = StepGraphAccess::operands(graph);
    for (auto [node, range] : llvm::zip(graph.nodes, ranges)) {
      node.inputs = llvm::ArrayRef<int>(operands).slice(range[0], range[1]);
      node.outputs = llvm::ArrayRef<int>(operands).slice(range[2], range[3]);
    }
    // Readers by counting sort: each tensor's in node order.
    std::vector<size_t> start(graph.tensors.size() + 1, 0);
    for (auto [tensor, node] : reads)
      ++start[tensor + 1];
    for (size_t i = 1; i < start.size(); ++i)
      start[i] += start[i - 1];
    std::vector<int> &readers = StepGraphAccess::readers(graph);
    readers.assign(reads.size(), 0);
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (auto [tensor, node] : reads)
      readers[next[tensor]++] = node;
    for (auto [id, tensor] : llvm::enumerate(graph.tensors))
      tensor.readers = llvm::ArrayRef<int>(readers).slice(
          start[id], start[id + 1] - start[id]);
  }

private:
  llvm::DenseMap<Value, int> &index() { return StepGraphAccess::index(graph); }

  StepGraph &graph;
  /// Per node: where its inputs and outputs start in operands_, and how many.
  std::vector<std::array<size_t, 4>> ranges;
  /// (tensor, node) for every read, in node order.
  std::vector<std::pair<int, int>> reads;
  /// The last node that read each tensor (to record a node once).
  std::vector<int> lastReader;
};
} // namespace

bool ckpt::returnsLoss(func::FuncOp step) {
  return step.getNumResults() > 0 &&
         !step.getResultAttr(0, xf::XFDialect::kGradOfAttrName);
}

FailureOr<StepGraph> StepGraph::build(func::FuncOp step) {
  StepGraph graph;
  graph.step = step;
  GraphBuilder builder(graph);
  if (failed(builder.addArguments()))
    return failure();
  Block &body = step.getBody().front();
  for (Operation &op : body.without_terminator())
    if (failed(builder.addOp(op, -1)))
      return failure();
  for (Value value : body.getTerminator()->getOperands())
    graph.results.push_back(graph.tensorOf(value));
  graph.hasLoss = returnsLoss(step);
  builder.link();

  // Kept: the one definition. A forward value that a backward or recompute
  // op reads lives from the forward into the backward.
  for (auto [id, tensor] : llvm::enumerate(graph.tensors))
    tensor.kept = !tensor.isArgument() && tensor.phase == Phase::Forward &&
                  graph.isReadOutsideForward(id);
  for (StepTensor &tensor : graph.tensors)
    if (!tensor.isArgument())
      tensor.role =
          tensor.kept ? TensorRole::Activation : TensorRole::Temporary;
  for (auto [index, id] : llvm::enumerate(graph.results))
    if (id >= 0 && !graph.tensors[id].isArgument())
      graph.tensors[id].role =
          index == 0 && graph.hasLoss ? TensorRole::Loss : TensorRole::Gradient;
  // A micro-batch schedule's accumulation: the running sum is the
  // parameter's gradient buffer (Megatron's main_grad), not an activation.
  // An add's first operand is the sum so far; a conversion's one operand
  // is a contribution (widened into a new f32 sum), a temporary.
  for (const StepNode &node : graph.nodes)
    if (node.op->hasAttr(CkptDialect::kGradAccumulateAttrName)) {
      SmallVector<int, 2> sums = {node.outputs.front()};
      if (node.inputs.size() > 1)
        sums.push_back(node.inputs.front());
      for (int id : sums)
        if (!graph.tensors[id].isArgument())
          graph.tensors[id].role = TensorRole::Gradient;
    }
  return graph;
}
