//===- OffsetAssignmentTest.cpp - The planner's algorithms ----------------===//
//
// Small graphs whose answers are worked out by hand, and the heuristics
// against the exhaustive optimum.
//
//===----------------------------------------------------------------------===//

#include "ckpt/Planner/OffsetAssignment.h"

#include <gtest/gtest.h>

#include <random>

using namespace ckpt::planner;

namespace {

TEST(OffsetAssignmentTest, LowerBoundIsTheLargestLiveTotal) {
  // t=1: 4 + 3 = 7; t=2: the first is freed, 3 + 5 = 8; t=3: 5.
  std::vector<Buffer> buffers = {{0, 2, 4}, {1, 3, 3}, {2, 4, 5}};
  EXPECT_EQ(lowerBound(buffers), 8);
  EXPECT_EQ(lowerBound({}), 0);
  // Touching intervals are not live together: [0, 1) and [1, 2).
  EXPECT_EQ(lowerBound({{0, 1, 10}, {1, 2, 10}}), 10);
}

TEST(OffsetAssignmentTest, CheckerAcceptsValidPlansAndCatchesOverlaps) {
  std::vector<Buffer> buffers = {{0, 10, 4}, {5, 15, 4}, {10, 20, 4}};
  EXPECT_EQ(checkPlan(buffers, {0, 4, 0}), "");
  // The first two are live together in [5, 10) and share bytes 2..3.
  std::string message = checkPlan(buffers, {0, 2, 0});
  EXPECT_NE(message.find("overlaps"), std::string::npos) << message;
  EXPECT_NE(checkPlan(buffers, {0, 4, -1}).find("negative"), std::string::npos);
  EXPECT_NE(checkPlan(buffers, {0, 4}), "");
  // Buffers that never share time may share memory.
  EXPECT_EQ(checkPlan({{0, 5, 8}, {5, 9, 8}}, {0, 0}), "");
}

TEST(OffsetAssignmentTest, StackLikeLifetimesPackAtTheLowerBound) {
  // A forward/backward pattern: nested lifetimes, like activations kept for
  // the backward. Greedy best fit reaches LOAD = 1 + 2 + 3 = 6.
  std::vector<Buffer> buffers = {{0, 10, 1}, {1, 9, 2}, {2, 8, 3}};
  std::vector<int64_t> offsets = bestFitDecreasing(buffers);
  EXPECT_EQ(checkPlan(buffers, offsets), "");
  EXPECT_EQ(planHeight(buffers, offsets), 6);
  EXPECT_EQ(planOffsets(buffers).height, 6);
  EXPECT_TRUE(planOffsets(buffers).provedOptimal);
}

TEST(OffsetAssignmentTest, GreedyBestFitCanMissTheOptimum) {
  // Worked by hand: by decreasing size, the 3-byte buffer goes to 0, the
  // long 2-byte one above it at 3, the next at 5, [1, 3) into the gap at 0;
  // [2, 3) then fits nowhere below 7: height 9. LOAD (t = 2) is 8, and 8 is
  // reachable.
  std::vector<Buffer> buffers = {
      {2, 5, 2}, {1, 5, 2}, {2, 3, 2}, {4, 5, 3}, {1, 3, 2}};
  EXPECT_EQ(lowerBound(buffers), 8);
  std::vector<int64_t> greedy = bestFitDecreasing(buffers);
  EXPECT_EQ(checkPlan(buffers, greedy), "");
  EXPECT_EQ(planHeight(buffers, greedy), 9);
  SearchResult exact = optimalOffsets(buffers);
  EXPECT_EQ(exact.height, 8);
  EXPECT_EQ(checkPlan(buffers, exact.offsets), "");
  // The exact search finds the optimum.
  SearchResult planned = planOffsets(buffers);
  EXPECT_EQ(planned.height, 8);
  EXPECT_TRUE(planned.provedOptimal);
  EXPECT_EQ(planned.note, "");
  EXPECT_EQ(checkPlan(buffers, planned.offsets), "");
}

TEST(OffsetAssignmentTest, HeuristicAgainstExhaustiveOnRandomGraphs) {
  // 300 random graphs of 6 buffers: every plan is valid, never below the
  // optimum, and the planner reaches the optimum on all of them.
  std::mt19937 rng(2026);
  int optimal = 0, greedyOptimal = 0;
  const int trials = 300;
  for (int trial = 0; trial < trials; ++trial) {
    std::vector<Buffer> buffers;
    for (int i = 0; i < 6; ++i) {
      int64_t lo = rng() % 8, len = 1 + rng() % 5;
      buffers.push_back({lo, lo + len, 1 + static_cast<int64_t>(rng() % 6)});
    }
    SearchResult exact = optimalOffsets(buffers);
    std::vector<int64_t> greedy = bestFitDecreasing(buffers);
    SearchResult planned = planOffsets(buffers);
    ASSERT_EQ(checkPlan(buffers, greedy), "");
    ASSERT_EQ(checkPlan(buffers, planned.offsets), "");
    ASSERT_GE(planHeight(buffers, greedy), exact.height);
    ASSERT_GE(planned.height, exact.height);
    ASSERT_GE(exact.height, lowerBound(buffers));
    optimal += planned.height == exact.height;
    greedyOptimal += planHeight(buffers, greedy) == exact.height;
  }
  std::printf("optimal: planner %d/%d, greedy best fit %d/%d\n", optimal,
              trials, greedyOptimal, trials);
  // The exact search runs whenever greedy is above LOAD: all optimal.
  EXPECT_EQ(optimal, trials);
}

/// First fit by decreasing size as the definition reads: every placed
/// buffer is scanned for overlap in time (ties: longer life, then index).
std::vector<int64_t> firstFitBySizeByScanning(const std::vector<Buffer> &bs) {
  std::vector<int> order(bs.size());
  for (size_t i = 0; i < bs.size(); ++i)
    order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (bs[a].size != bs[b].size)
      return bs[a].size > bs[b].size;
    return bs[a].upper - bs[a].lower > bs[b].upper - bs[b].lower;
  });
  std::vector<int64_t> offsets(bs.size(), 0);
  std::vector<int> placed;
  for (int id : order) {
    std::vector<std::pair<int64_t, int64_t>> taken;
    for (int other : placed)
      if (overlapInTime(bs[id], bs[other]))
        taken.push_back({offsets[other], offsets[other] + bs[other].size});
    std::sort(taken.begin(), taken.end());
    int64_t cursor = 0;
    for (auto [start, end] : taken) {
      if (start - cursor >= bs[id].size)
        break;
      cursor = std::max(cursor, end);
    }
    offsets[id] = cursor;
    placed.push_back(id);
  }
  return offsets;
}

TEST(OffsetAssignmentTest, TheTimeIndexFindsWhatAScanFinds) {
  // Short, medium and long lives mixed (the index finds their neighbours
  // three ways: a window or two, the windows' lists sorted, every placed
  // buffer; a window is 2000/256 steps wide): the same offsets, buffer for
  // buffer, as scanning every placed buffer.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<Buffer> buffers;
    for (int i = 0; i < 400; ++i) {
      int64_t lo = rng() % 2000;
      int kind = rng() % 4;
      int64_t len = kind == 0   ? 1 + rng() % 1500
                    : kind == 1 ? 8 + rng() % 40
                                : 1 + rng() % 6;
      buffers.push_back({lo, lo + len, 1 + static_cast<int64_t>(rng() % 64)});
    }
    EXPECT_EQ(firstFitDecreasing(buffers), firstFitBySizeByScanning(buffers))
        << "trial " << trial;
  }
}

} // namespace

namespace {
TEST(OffsetAssignmentTest, APlanAboveTheLowerBoundSaysWhy) {
  // Greedy gives 9 on these (LOAD 8); without the search the note says the
  // search is off, with it the plan is at LOAD and there is no note.
  std::vector<Buffer> buffers = {
      {2, 5, 2}, {1, 5, 2}, {2, 3, 2}, {4, 5, 3}, {1, 3, 2}};
  SearchOptions off;
  off.work = 0;
  SearchResult greedy = planOffsets(buffers, off);
  EXPECT_EQ(greedy.height, 9);
  EXPECT_EQ(greedy.note, "the arena is 1 bytes (1.1250x) above the lower "
                         "bound: the exact search is off");
  EXPECT_EQ(planOffsets(buffers).note, "");
  // LOAD 18, optimum 19: the note says the search proved it.
  std::vector<Buffer> above = {{3, 6, 8}, {1, 3, 3}, {5, 9, 9}, {1, 5, 2},
                               {0, 4, 5}, {0, 2, 8}, {2, 5, 2}, {0, 1, 5}};
  SearchResult proved = planOffsets(above);
  EXPECT_EQ(proved.height, 19);
  EXPECT_TRUE(proved.provedOptimal);
  EXPECT_NE(proved.note.find("no packing is lower (proved"), std::string::npos)
      << proved.note;
}
} // namespace

namespace {
TEST(OffsetAssignmentTest, RemembersLargeInstancesAndNoOther) {
  // planOffsets remembers its last answers for large instances: the same
  // buffers give the same plan again, after another instance too; a
  // changed buffer is planned anew (a stale plan would overlap or leave
  // the grown buffer out of its height).
  std::mt19937 rng(11);
  auto instance = [&](int count) {
    std::vector<Buffer> buffers;
    for (int i = 0; i < count; ++i) {
      int64_t lo = rng() % 20000;
      buffers.push_back({lo, lo + 1 + static_cast<int64_t>(rng() % 50),
                         1 + static_cast<int64_t>(rng() % 1000)});
    }
    return buffers;
  };
  SearchOptions greedy;
  greedy.work = 0;
  std::vector<Buffer> first = instance(5000), second = instance(5000);
  SearchResult a = planOffsets(first, greedy);
  SearchResult b = planOffsets(second, greedy);
  SearchResult again = planOffsets(first, greedy);
  EXPECT_EQ(again.offsets, a.offsets);
  EXPECT_EQ(again.height, a.height);
  EXPECT_EQ(checkPlan(second, b.offsets), "");
  // Buffer 0 grown past the whole arena: planned anew, so it fits.
  std::vector<Buffer> grown = first;
  grown[0].size = a.height + 1;
  SearchResult replanned = planOffsets(grown, greedy);
  EXPECT_EQ(checkPlan(grown, replanned.offsets), "");
  EXPECT_GT(replanned.height, a.height);
  // Other options are another instance: with the exact search on, the
  // plan is no higher than the greedy one.
  SearchResult searched = planOffsets(first, SearchOptions());
  EXPECT_EQ(checkPlan(first, searched.offsets), "");
  EXPECT_LE(searched.height, a.height);
}
} // namespace
