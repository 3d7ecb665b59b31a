//===- RecomputeCost.cpp - What recomputing an op costs the solver --------===//
//
// FLOPs from the op table, or the times of a profile that
// `ckpt-run --profile=FILE` wrote, looked up by op kind and shapes.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/Transforms/BudgetPolicy.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

using namespace mlir;
using namespace ckpt;

std::string RecomputeCost::keyOf(const StepGraph &graph, int node) {
  const StepNode &n = graph.nodes[node];
  auto shapes = [&](llvm::ArrayRef<int> ids) {
    std::string text;
    for (auto [k, id] : llvm::enumerate(ids)) {
      if (k)
        text += ';';
      auto type = cast<RankedTensorType>(graph.tensors[id].value.getType());
      for (auto [d, size] : llvm::enumerate(type.getShape()))
        text += (d ? "x" : "") + std::to_string(size);
    }
    return text;
  };
  llvm::StringRef name = n.op->getName().stripDialect();
  return name.str() + "(" + shapes(n.inputs) + ")->(" + shapes(n.outputs) + ")";
}

std::optional<RecomputeCost> RecomputeCost::fromProfile(llvm::StringRef path,
                                                        std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    error = "cannot read the profile '" + path.str() +
            "': " + buffer.getError().message();
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    error = "the profile '" + path.str() +
            "' is not JSON: " + llvm::toString(json.takeError());
    return std::nullopt;
  }
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Array *ops = root ? root->getArray("ops") : nullptr;
  if (!root || root->getString("schema") != "ckpt-profile" || !ops) {
    error = "'" + path.str() +
            "' is not a profile written by ckpt-run --profile=FILE "
            "(schema ckpt-profile with an \"ops\" list)";
    return std::nullopt;
  }
  auto times = std::make_shared<std::map<std::string, double>>();
  for (const llvm::json::Value &entry : *ops) {
    const llvm::json::Object *op = entry.getAsObject();
    std::optional<llvm::StringRef> key =
        op ? op->getString("key") : std::nullopt;
    std::optional<double> seconds =
        op ? op->getNumber("seconds") : std::nullopt;
    // At most 10,000 s an op, so that sums of nanoseconds stay in range.
    if (!key || !seconds || !std::isfinite(*seconds) || *seconds < 0 ||
        *seconds > 1e4) {
      error = "the profile '" + path.str() +
              "' has an entry without a key and a time in [0, 10000] seconds";
      return std::nullopt;
    }
    (*times)[key->str()] = *seconds;
  }
  RecomputeCost cost;
  cost.profile = std::move(times);
  cost.path = path.str();
  return cost;
}

int64_t RecomputeCost::of(const StepGraph &graph, int node) const {
  if (!profile)
    return graph.cost(node).total();
  auto nanoseconds = [](double seconds) {
    return static_cast<int64_t>(std::llround(seconds * 1e9));
  };
  std::string key = keyOf(graph, node);
  auto it = profile->find(key);
  if (it != profile->end())
    return nanoseconds(it->second);
  // A mask regenerated alone: half its dropout, when the profile has none.
  if (isa<xf::DropoutMaskOp>(graph.nodes[node].op)) {
    llvm::StringRef shape = llvm::StringRef(key).rsplit("->(").second;
    shape = shape.drop_back(); // The ")".
    auto dropout = profile->find("dropout(" + shape.str() + ")->(" +
                                 shape.str() + ";" + shape.str() + ")");
    if (dropout != profile->end())
      return nanoseconds(dropout->second) / 2;
  }
  return -1;
}

int64_t RecomputeCost::maskOnly(const StepGraph &graph, int node) const {
  auto dropout = cast<xf::DropoutOp>(graph.nodes[node].op);
  auto type = cast<RankedTensorType>(dropout.getMask().getType());
  ops::OpInstance instance;
  instance.outputs.push_back(
      {ops::Shape(type.getShape().begin(), type.getShape().end()),
       ops::ElementType::I1});
  int64_t flops = ops::costOf(*ops::lookupOp("dropout_mask"), instance).total();
  if (!profile)
    return flops;
  std::string shape;
  for (auto [d, size] : llvm::enumerate(type.getShape()))
    shape += (d ? "x" : "") + std::to_string(size);
  auto it = profile->find("dropout_mask()->(" + shape + ")");
  if (it != profile->end())
    return static_cast<int64_t>(std::llround(it->second * 1e9));
  int64_t whole = of(graph, node);
  return whole < 0 ? -1 : whole / 2;
}
