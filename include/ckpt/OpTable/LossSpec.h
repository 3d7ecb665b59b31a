//===- LossSpec.h - What counts in cross_entropy's loss ---------*- C++ -*-===//
//
// The loss attributes of cross_entropy and its gradient, read once with
// their defaults for the op table, the three backends and the executor.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OPTABLE_LOSSSPEC_H
#define CKPT_OPTABLE_LOSSSPEC_H

#include "ckpt/OpTable/OpTable.h"

#include <cstdint>
#include <vector>

namespace ckpt::ops {

struct LossSpec {
  /// The label of a position that does not count (Hugging Face's -100).
  int64_t ignoreIndex = -100;
  /// The micro-batches whose losses the step averages.
  int64_t microBatches = 1;
  /// The tensor-parallel ranks the vocabulary is split over.
  int64_t vocabShards = 1;
};

/// The attribute names, kinds and defaults, for the op table.
std::vector<AttrSpec> lossAttrSpecs();
/// `vocab_shards` (default 1), which the embedding and its gradient take
/// too, and its value in an op's attributes.
AttrSpec vocabShardsAttrSpec();
int64_t readVocabShards(const AttrMap &attrs);
/// Reads the spec from an op's attributes (absent ones at their defaults).
LossSpec readLossSpec(const AttrMap &attrs);

} // namespace ckpt::ops

#endif // CKPT_OPTABLE_LOSSSPEC_H
