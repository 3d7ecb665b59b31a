//===- PipelineSchedule.h - 1F1B and interleaved schedules ------*- C++ -*-===//
//
// The order in which one pipeline stage runs the forward and backward passes
// of its micro-batches, as Megatron-LM's schedules run them
// (megatron/core/pipeline_parallel/schedules.py). No MLIR: the unrolling
// pass, the report and the tests read the same list.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_REWRITE_PIPELINESCHEDULE_H
#define CKPT_REWRITE_PIPELINESCHEDULE_H

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::pipeline {

struct ScheduleStep {
  bool forward = true;
  int64_t chunk = 0;      ///< The stage's model chunk (0 .. v-1).
  int64_t microBatch = 0; ///< 0 .. m-1.

  bool operator==(const ScheduleStep &o) const {
    return forward == o.forward && chunk == o.chunk &&
           microBatch == o.microBatch;
  }
};

/// Forward passes before the first backward on `stage`: min(p - i - 1, m)
/// under 1F1B (v = 1), (p - i - 1)·2 + (v - 1)·p capped at m·v when
/// interleaved (all m·v when m = p, as Megatron does).
int64_t warmupSteps(int64_t stage, int64_t stages, int64_t chunks,
                    int64_t microBatches);

/// Every forward and backward of `stage`, in order: the warm-up forwards,
/// then one forward and one backward at a time, then the cool-down
/// backwards. With v > 1 (interleaved), virtual micro-batch k runs chunk
/// (k mod p·v) / p forward, v - 1 - that backward, on micro-batch
/// (k / p·v)·p + k mod p. m must be a multiple of p when v > 1.
std::vector<ScheduleStep> stageSchedule(int64_t stage, int64_t stages,
                                        int64_t chunks, int64_t microBatches);

/// The most micro-batches whose activations a stage holds at once (forwards
/// done, backwards not), per chunk summed: the schedule's in-flight count.
int64_t maxInFlight(const std::vector<ScheduleStep> &schedule);

/// "F0.1 B0.1 ..." (F/B, chunk, '.', micro-batch): for tests and reports.
std::string describe(const std::vector<ScheduleStep> &schedule);

} // namespace ckpt::pipeline

#endif // CKPT_REWRITE_PIPELINESCHEDULE_H
