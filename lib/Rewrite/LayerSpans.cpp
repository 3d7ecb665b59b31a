//===- LayerSpans.cpp - The layers of a step's model chunks ---------------===//

#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Rewrite/RematPolicy.h"

#include <algorithm>

using namespace mlir;
using namespace ckpt;

int64_t ckpt::chunkOf(const StepNode &node) {
  auto chunk = node.op->getAttrOfType<IntegerAttr>(CkptDialect::kChunkAttrName);
  return chunk ? chunk.getInt() : 0;
}

std::map<int64_t, LayerSpan> ckpt::layerSpans(const StepGraph &graph) {
  std::map<int64_t, std::pair<int64_t, int64_t>> range; // [min, max]
  for (const StepNode &node : graph.nodes)
    if (node.phase == Phase::Forward && node.region < 0 && node.layer) {
      auto [it, fresh] =
          range.try_emplace(chunkOf(node), *node.layer, *node.layer);
      it->second.first = std::min(it->second.first, *node.layer);
      it->second.second = std::max(it->second.second, *node.layer);
    }
  std::map<int64_t, LayerSpan> spans;
  for (auto &[chunk, r] : range)
    spans[chunk] = {r.first, r.second - r.first + 1};
  return spans;
}

int64_t ckpt::countLayers(const StepGraph &graph) {
  int64_t layers = 0;
  for (auto &[chunk, span] : layerSpans(graph))
    layers = std::max(layers, span.count);
  return layers;
}
