//===- IndexChecks.cpp - Integer operands from untrusted programs ---------===//

#include "ckpt/runtime/IndexChecks.h"
#include "ckpt/runtime/Executor.h"

#include <algorithm>

using namespace ckpt::rt;

void ckpt::rt::checkIndexRange(const std::vector<int64_t> &values, int64_t low,
                               int64_t high, const std::string &what) {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] < low || values[i] >= high)
      throw RuntimeError(what + " " + std::to_string(values[i]) +
                         " at position " + std::to_string(i) + " is outside [" +
                         std::to_string(low) + ", " + std::to_string(high) +
                         ")");
}

int64_t ckpt::rt::checkLabels(const std::vector<int64_t> &labels, int64_t vocab,
                              int64_t ignoreIndex) {
  int64_t counted = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == ignoreIndex)
      continue;
    if (labels[i] < 0 || labels[i] >= vocab)
      throw RuntimeError("label " + std::to_string(labels[i]) +
                         " at position " + std::to_string(i) +
                         " is outside [0, " + std::to_string(vocab) +
                         ") and is not the ignore_index (" +
                         std::to_string(ignoreIndex) + ")");
    ++counted;
  }
  return counted;
}

std::vector<int64_t>
ckpt::rt::localTokenRows(const std::vector<int64_t> &tokens, int64_t v,
                         int64_t shards, int64_t rank) {
  checkIndexRange(tokens, 0, v * shards, "token id");
  std::vector<int64_t> rows(tokens.size());
  int64_t first = rank * v;
  for (size_t i = 0; i < tokens.size(); ++i)
    rows[i] =
        tokens[i] >= first && tokens[i] < first + v ? tokens[i] - first : -1;
  return rows;
}

LossRows ckpt::rt::lossRows(const std::vector<int64_t> &labels, int64_t seq,
                            int64_t batch, int64_t v, int64_t shards,
                            int64_t rank, int64_t ignoreIndex) {
  LossRows rows;
  rows.counted = checkLabels(labels, v * shards, ignoreIndex);
  rows.local.assign(seq * batch, -1);
  rows.counts.assign(seq * batch, 0);
  int64_t first = rank * v;
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = 0; j < batch; ++j) {
      int64_t label = labels[j * seq + i], r = i * batch + j;
      if (label == ignoreIndex)
        continue;
      rows.counts[r] = 1;
      if (label >= first && label < first + v)
        rows.local[r] = label - first;
    }
  return rows;
}

void ckpt::rt::checkSlots(const std::vector<int64_t> &slots, int64_t rows) {
  checkIndexRange(slots, -1, rows, "slot");
  std::vector<int64_t> owner(std::max<int64_t>(rows, 0), -1);
  for (size_t i = 0; i < slots.size(); ++i) {
    int64_t slot = slots[i];
    if (slot < 0)
      continue;
    if (owner[slot] >= 0)
      throw RuntimeError("slot " + std::to_string(slot) + " at position " +
                         std::to_string(i) + " repeats position " +
                         std::to_string(owner[slot]) +
                         " (a row of an expert's buffer holds one choice)");
    owner[slot] = static_cast<int64_t>(i);
  }
}

std::vector<int64_t>
ckpt::rt::groupedRowStarts(const std::vector<int64_t> &experts,
                           int64_t numExperts) {
  checkIndexRange(experts, 0, numExperts, "expert");
  std::vector<int64_t> starts(numExperts + 1, 0);
  for (int64_t e : experts)
    ++starts[e + 1];
  for (int64_t e = 0; e < numExperts; ++e)
    starts[e + 1] += starts[e];
  return starts;
}
