//===- PipelineScheduleTest.cpp - 1F1B and interleaved orders ------------===//
//
// The orders below are worked out by hand from Megatron-LM's schedules
// (forward_backward_pipelining_without_interleaving and _with_interleaving).
//
//===----------------------------------------------------------------------===//

#include "ckpt/Rewrite/PipelineSchedule.h"

#include <gtest/gtest.h>

#include <set>

using namespace ckpt::pipeline;

namespace {

TEST(PipelineScheduleTest, OneForwardOneBackwardWarmsUpByTheStagesAfter) {
  // p = 4, m = 6: stage 0 runs p - 1 = 3 forwards first.
  EXPECT_EQ(describe(stageSchedule(0, 4, 1, 6)),
            "F0.0 F0.1 F0.2 F0.3 B0.0 F0.4 B0.1 F0.5 B0.2 B0.3 B0.4 B0.5");
  // The last stage alternates from the start.
  EXPECT_EQ(describe(stageSchedule(3, 4, 1, 6)),
            "F0.0 B0.0 F0.1 B0.1 F0.2 B0.2 F0.3 B0.3 F0.4 B0.4 F0.5 B0.5");
  // Fewer micro-batches than the warm-up: all forwards, then all backwards.
  EXPECT_EQ(describe(stageSchedule(0, 4, 1, 2)), "F0.0 F0.1 B0.0 B0.1");
  EXPECT_EQ(warmupSteps(1, 4, 1, 6), 2);
  EXPECT_EQ(warmupSteps(0, 4, 1, 2), 2);
}

TEST(PipelineScheduleTest, InterleavedFollowsMegatronsChunkOrder) {
  // p = 2, v = 2, m = 4: warm-up (p - i - 1)·2 + (v - 1)·p.
  EXPECT_EQ(warmupSteps(0, 2, 2, 4), 4);
  EXPECT_EQ(warmupSteps(1, 2, 2, 4), 2);
  EXPECT_EQ(describe(stageSchedule(0, 2, 2, 4)),
            "F0.0 F0.1 F1.0 F1.1 F0.2 B1.0 F0.3 B1.1 F1.2 B0.0 F1.3 B0.1 "
            "B1.2 B1.3 B0.2 B0.3");
  EXPECT_EQ(describe(stageSchedule(1, 2, 2, 4)),
            "F0.0 F0.1 F1.0 B1.0 F1.1 B1.1 F0.2 B0.0 F0.3 B0.1 F1.2 B1.2 "
            "F1.3 B1.3 B0.2 B0.3");
  // m = p: every forward first, as Megatron does.
  EXPECT_EQ(describe(stageSchedule(1, 2, 2, 2)),
            "F0.0 F0.1 F1.0 F1.1 B1.0 B1.1 B0.0 B0.1");
}

TEST(PipelineScheduleTest, TheFirstStageHoldsThePapersShareInFlight) {
  // Korthikanti et al.: the first stage holds p micro-batches of its L/p
  // layers under 1F1B, and (1 + (p-1)/(p·v))·L layers' worth interleaved:
  // in chunks of L/(p·v) layers, p·v + p - 1 of them.
  for (int64_t p : {2, 4, 8})
    for (int64_t v : {1, 2, 3}) {
      int64_t m = 4 * p;
      EXPECT_EQ(maxInFlight(stageSchedule(0, p, v, m)),
                v == 1 ? p : p * v + p - 1)
          << "p=" << p << " v=" << v;
      // The last stage holds one micro-batch (v chunks' worth when
      // interleaved: (v - 1)·p + 1).
      EXPECT_EQ(maxInFlight(stageSchedule(p - 1, p, v, m)),
                v == 1 ? 1 : (v - 1) * p + 1);
    }
}

TEST(PipelineScheduleTest, EveryStepRunsOnceAndBackwardsInMicroBatchOrder) {
  for (int64_t p : {1, 2, 3, 4})
    for (int64_t v : {1, 2, 3})
      for (int64_t m : {1, 2, 3, 4, 6, 8}) {
        if ((v > 1 && (p == 1 || m % p != 0)))
          continue;
        for (int64_t stage = 0; stage < p; ++stage) {
          std::vector<ScheduleStep> order = stageSchedule(stage, p, v, m);
          ASSERT_EQ(static_cast<int64_t>(order.size()), 2 * m * v);
          std::set<std::tuple<bool, int64_t, int64_t>> seen;
          std::vector<int64_t> lastBackward(v, -1);
          for (const ScheduleStep &s : order) {
            EXPECT_TRUE(seen.insert({s.forward, s.chunk, s.microBatch}).second);
            if (!s.forward) {
              // Its forward ran, and the chunk's backwards come in order
              // (the gradients accumulate in micro-batch order).
              EXPECT_TRUE(seen.count({true, s.chunk, s.microBatch}));
              EXPECT_EQ(s.microBatch, lastBackward[s.chunk] + 1);
              lastBackward[s.chunk] = s.microBatch;
            }
          }
        }
      }
}

} // namespace
