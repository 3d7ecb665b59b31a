//===- PipelineSchedule.cpp - 1F1B and interleaved schedules --------------===//

#include "ckpt/Rewrite/PipelineSchedule.h"

#include <algorithm>

using namespace ckpt::pipeline;

int64_t ckpt::pipeline::warmupSteps(int64_t stage, int64_t stages,
                                    int64_t chunks, int64_t microBatches) {
  if (chunks == 1)
    return std::min(stages - stage - 1, microBatches);
  // Megatron runs every forward first when there are only p micro-batches.
  if (microBatches == stages)
    return microBatches * chunks;
  return std::min((stages - stage - 1) * 2 + (chunks - 1) * stages,
                  microBatches * chunks);
}

std::vector<ScheduleStep> ckpt::pipeline::stageSchedule(int64_t stage,
                                                        int64_t stages,
                                                        int64_t chunks,
                                                        int64_t microBatches) {
  int64_t total = microBatches * chunks;
  int64_t warmup = warmupSteps(stage, stages, chunks, microBatches);
  int64_t group = stages * chunks;
  // Virtual micro-batch k: which chunk and micro-batch it is.
  auto step = [&](int64_t k, bool forward) {
    if (chunks == 1)
      return ScheduleStep{forward, 0, k};
    int64_t chunk = (k % group) / stages;
    return ScheduleStep{forward, forward ? chunk : chunks - 1 - chunk,
                        (k / group) * stages + k % stages};
  };
  std::vector<ScheduleStep> order;
  for (int64_t k = 0; k < warmup; ++k)
    order.push_back(step(k, true));
  for (int64_t k = 0; k < total - warmup; ++k) {
    order.push_back(step(warmup + k, true));
    order.push_back(step(k, false));
  }
  for (int64_t k = total - warmup; k < total; ++k)
    order.push_back(step(k, false));
  return order;
}

int64_t ckpt::pipeline::maxInFlight(const std::vector<ScheduleStep> &schedule) {
  int64_t live = 0, most = 0;
  for (const ScheduleStep &s : schedule) {
    live += s.forward ? 1 : -1;
    most = std::max(most, live);
  }
  return most;
}

std::string
ckpt::pipeline::describe(const std::vector<ScheduleStep> &schedule) {
  std::string text;
  for (const ScheduleStep &s : schedule) {
    if (!text.empty())
      text += ' ';
    text += (s.forward ? "F" : "B") + std::to_string(s.chunk) + "." +
            std::to_string(s.microBatch);
  }
  return text;
}
