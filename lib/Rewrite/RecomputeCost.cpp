//===- RecomputeCost.cpp - What recomputing an op costs the solver --------===//
//
// FLOPs from the op table, or the times of a profile that
// `ckpt-run --profile=FILE` wrote, looked up by op kind and shapes.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/RecomputeCost.h"
#include "ckpt/Interfaces/OpTableAdapter.h"
#include "ckpt/OpTable/OpTable.h"
#include "ckpt/OpTable/ProgramFormat.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cassert>
#include <cmath>

using namespace mlir;
using namespace ckpt;

std::string RecomputeCost::keyOf(const StepGraph &graph, int node) {
  const StepNode &n = graph.nodes[node];
  auto shapes = [&](llvm::ArrayRef<int> ids) {
    std::vector<ops::Shape> list;
    for (int id : ids) {
      auto type = cast<RankedTensorType>(graph.tensors[id].value.getType());
      list.emplace_back(type.getShape().begin(), type.getShape().end());
    }
    return list;
  };
  return ops::profileKey(n.op->getName().stripDialect(), shapes(n.inputs),
                         shapes(n.outputs));
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
  if (!root || root->getString("schema") != ops::kProfileFormatName || !ops) {
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

namespace {
int64_t nanoseconds(double seconds) {
  return static_cast<int64_t>(std::llround(seconds * 1e9));
}
} // namespace

int64_t RecomputeCost::maskTime(const ops::Shape &shape) const {
  // Profiles rarely time a mask regenerated alone: then half its dropout.
  auto it = profile->find(ops::profileKey("dropout_mask", {}, {shape}));
  if (it != profile->end())
    return nanoseconds(it->second);
  it = profile->find(ops::profileKey("dropout", {shape}, {shape, shape}));
  return it == profile->end() ? -1 : nanoseconds(it->second) / 2;
}

int64_t RecomputeCost::of(const StepGraph &graph, int node) const {
  if (!profile)
    return graph.cost(node).total();
  auto it = profile->find(keyOf(graph, node));
  if (it != profile->end())
    return nanoseconds(it->second);
  Operation *op = graph.nodes[node].op;
  if (const ops::OpDef *def = lookupOpDef(op); def && def->isMaskOp()) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    return maskTime(ops::Shape(type.getShape().begin(), type.getShape().end()));
  }
  return -1;
}

int64_t RecomputeCost::maskOnly(const StepGraph &graph, int node) const {
  Operation *op = graph.nodes[node].op;
  const ops::OpDef *def = lookupOpDef(op);
  assert(def && def->maskOutput >= 0 && "an op that draws a mask");
  auto type = cast<RankedTensorType>(op->getResult(def->maskOutput).getType());
  ops::Shape shape(type.getShape().begin(), type.getShape().end());
  if (profile)
    return maskTime(shape);
  ops::OpInstance instance;
  instance.outputs.push_back({shape, ops::ElementType::I1});
  return ops::costOf(*ops::lookupOp(def->maskOp), instance).total();
}
