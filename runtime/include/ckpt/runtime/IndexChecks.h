//===- IndexChecks.h - Integer operands from untrusted programs -*- C++ -*-===//
//
// Token ids, labels, expert ids and routing slots come from files: a value
// out of range is an error with its position, never a read or write out of
// bounds. Every backend but the reference (written apart on purpose) checks
// with these, so their messages agree.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_RUNTIME_INDEXCHECKS_H
#define CKPT_RUNTIME_INDEXCHECKS_H

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::rt {

/// Throws RuntimeError "<what> V at position P is outside [low, high)" for
/// the first value outside the range.
void checkIndexRange(const std::vector<int64_t> &values, int64_t low,
                     int64_t high, const std::string &what);

/// Labels of a loss: each in [0, vocab) or `ignoreIndex` (a position that
/// does not count). Returns how many count.
int64_t checkLabels(const std::vector<int64_t> &labels, int64_t vocab,
                    int64_t ignoreIndex);

/// Token ids of an embedding whose table this rank holds rows
/// [rank·v, (rank+1)·v) of, out of shards·v (one rank: shards 1, rank 0):
/// each id checked in [0, shards·v) as a "token id", and returned as a row
/// of this rank's table, or -1 for a row on another rank.
std::vector<int64_t> localTokenRows(const std::vector<int64_t> &tokens,
                                    int64_t v, int64_t shards, int64_t rank);

/// A loss's labels [b, s] against the rows of its logits [s, b, v], when
/// this rank holds classes [rank·v, (rank+1)·v) of shards·v (one rank:
/// shards 1, rank 0).
struct LossRows {
  /// Row r's label as a column of these logits, or -1 where the label is on
  /// another rank or the row does not count.
  std::vector<int64_t> local;
  std::vector<uint8_t> counts; ///< Whether row r counts.
  int64_t counted = 0;         ///< How many rows count.
};
/// Checks each label as checkLabels does against shards·v classes.
LossRows lossRows(const std::vector<int64_t> &labels, int64_t seq,
                  int64_t batch, int64_t v, int64_t shards, int64_t rank,
                  int64_t ignoreIndex);

/// A routing map's slots: each in [-1, rows) (-1 a dropped choice), no row
/// given twice, so each choice's row can be written from its own thread.
void checkSlots(const std::vector<int64_t> &slots, int64_t rows);

/// Where each expert's rows start in a grouped buffer (dropless routing:
/// one row per choice, the rows of expert e after those of experts < e):
/// numExperts + 1 offsets, from the routing map `experts` (each checked in
/// [0, numExperts)).
std::vector<int64_t> groupedRowStarts(const std::vector<int64_t> &experts,
                                      int64_t numExperts);

} // namespace ckpt::rt

#endif // CKPT_RUNTIME_INDEXCHECKS_H
