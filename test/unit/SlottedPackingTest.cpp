//===- SlottedPackingTest.cpp - A pipeline stage's steady state -----------===//
//
// A 1F1B stage in miniature: k micro-batches in flight, each of whose
// forwards saves 4 layers of 2 bytes (a group) between temporaries of 3,
// and each of whose backwards frees them from the top between temporaries
// of 5, then makes one temporary of 8 (an embedding's gradient). The peak
// is the first backward step of a steady-state micro-batch: k micro-batches
// hold 8 bytes each and the backward's temporary 5, so LOAD = 8k + 5.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Planner/OffsetAssignment.h"

#include <gtest/gtest.h>

using namespace ckpt::planner;

namespace {

constexpr int kLayers = 4;

/// The buffers of one stage's step: m micro-batches, k in flight, in 1F1B
/// order (k - 1 forwards, then a forward and a backward at a time).
std::vector<Buffer> oneForwardOneBackward(int k, int m) {
  std::vector<Buffer> buffers;
  std::vector<std::vector<size_t>> saved(m);
  int64_t t = 0;
  auto forward = [&](int j) {
    for (int l = 0; l < kLayers; ++l) {
      buffers.push_back({t, t + 2, 3});
      saved[j].push_back(buffers.size());
      Buffer kept{t + 1, -1, 2};
      kept.group = j;
      buffers.push_back(kept);
      t += 2;
    }
  };
  auto backward = [&](int j) {
    for (int l = kLayers - 1; l >= 0; --l) {
      buffers.push_back({t, t + 2, 5});
      buffers[saved[j][l]].upper = t + 1;
      t += 2;
    }
    buffers.push_back({t, t + 1, 8});
    t += 1;
  };
  int next = 0;
  for (; next < k - 1 && next < m; ++next)
    forward(next);
  for (int j = 0; j < m; ++j) {
    if (next < m)
      forward(next++);
    backward(j);
  }
  return buffers;
}

TEST(SlottedPackingTest, ASteadyStateStaysAtTheLowerBound) {
  for (int k : {2, 3, 4})
    for (int m : {k, 2 * k, 4 * k}) {
      std::vector<Buffer> buffers = oneForwardOneBackward(k, m);
      int64_t load = 8 * k + 5;
      ASSERT_EQ(lowerBound(buffers), load) << "k=" << k << " m=" << m;
      std::vector<int64_t> slotted = slottedPacking(buffers);
      EXPECT_EQ(checkPlan(buffers, slotted), "");
      EXPECT_EQ(planHeight(buffers, slotted), load) << "k=" << k << " m=" << m;
      // Best fit in time order leaves the backward's temporary no gap.
      EXPECT_GT(planHeight(buffers, bestFitInTimeOrder(buffers)), load);
      // The planner takes it without a search.
      SearchOptions greedyOnly;
      greedyOnly.work = 0;
      EXPECT_EQ(planOffsets(buffers, greedyOnly).height, load);
    }
}

TEST(SlottedPackingTest, GroupsLiveTogetherNeverShareASlot) {
  // Three groups: the first two overlap in time, the third starts after the
  // first ends and so reuses its slot; each group's buffers are stacked in
  // the order they start.
  std::vector<Buffer> buffers = {{0, 10, 4}, {1, 9, 2},   {2, 12, 4},
                                 {3, 11, 2}, {10, 20, 4}, {11, 19, 2},
                                 {5, 6, 3}};
  for (int id : {0, 1})
    buffers[id].group = 0;
  for (int id : {2, 3})
    buffers[id].group = 1;
  for (int id : {4, 5})
    buffers[id].group = 2;
  std::vector<int64_t> offsets = slottedPacking(buffers);
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 4, 6, 10, 0, 4, 12}));
  EXPECT_EQ(checkPlan(buffers, offsets), "");
  // Without groups there is nothing to lay out.
  EXPECT_TRUE(slottedPacking({{0, 1, 4}}).empty());
}

} // namespace
