// The gate's waiting events (stash by sequence, hold in arrival order, park, drain, release) and
// its decision for one event.

#include <gtest/gtest.h>

#include "gate/waiting.h"

namespace sv::gate {
namespace {

store::PendingEvent At(int64_t position, int64_t sequence, const std::string& key = "k") {
  store::PendingEvent p;
  p.key = key;
  p.position = position;
  p.sequence = sequence;
  p.log_time_us = position * 1000;
  return p;
}

std::vector<int64_t> Positions(const std::deque<store::PendingEvent>& events) {
  std::vector<int64_t> out;
  for (const auto& p : events) out.push_back(p.position);
  return out;
}

TEST(WaitingTest, DrainsInSequenceDroppingStaleAndStoppingAtAGapOrAPark) {
  Waiting waiting;
  waiting.Stash(At(10, 4));
  waiting.Stash(At(11, 3));
  waiting.Stash(At(12, 2));
  waiting.Stash(At(13, 6));
  EXPECT_TRUE(waiting.Contains("k", 3));
  std::vector<store::PendingEvent> stale;
  EXPECT_FALSE(waiting.NextInSequence("k", 2, /*parked=*/true, &stale)) << "parked: none";
  ASSERT_EQ(stale.size(), 1u) << "sequence 2 is applied already";
  EXPECT_EQ(stale[0].position, 12);
  auto next = waiting.NextInSequence("k", 2, false, &stale);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->sequence, 3);
  EXPECT_EQ(waiting.NextInSequence("k", 3, false, &stale)->sequence, 4);
  EXPECT_FALSE(waiting.NextInSequence("k", 4, false, &stale)) << "5 is missing";
  EXPECT_EQ(waiting.StashSize("k"), 1u);
}

// Restored held events are ordered by partition, then position: offsets of different Kafka
// partitions are not comparable, so a plain position sort would interleave them.
TEST(WaitingTest, RestoreOrdersHeldEventsWithinTheirPartition) {
  auto held = [](int32_t partition, int64_t position) {
    store::PendingEvent p = At(position, 0);
    p.partition = partition;
    p.held = true;
    return p;
  };
  Waiting waiting;
  waiting.Restore({held(1, 3), held(0, 50), held(1, 2), held(0, 40)});
  std::vector<std::pair<int32_t, int64_t>> order;
  for (const auto& p : waiting.TakeHeld("k")) order.emplace_back(p.partition, p.position);
  EXPECT_EQ(order, (std::vector<std::pair<int32_t, int64_t>>{{0, 40}, {0, 50}, {1, 2}, {1, 3}}));
}

TEST(WaitingTest, ParkMovesTheStashBehindTheParkInArrivalOrder) {
  Waiting waiting;
  waiting.Hold(At(5, 0));
  waiting.Stash(At(9, 3));
  waiting.Stash(At(7, 4));
  const std::vector<store::PendingEvent> moved = waiting.Park("k");
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_TRUE(moved[0].held);
  EXPECT_EQ(waiting.StashSize("k"), 0u);
  EXPECT_TRUE(waiting.Contains("k", 4)) << "held sequences are still known";
  std::deque<store::PendingEvent> held = waiting.TakeHeld("k");
  EXPECT_EQ(Positions(held), (std::vector<int64_t>{5, 7, 9}));
  held.pop_front();  // released; the key parks again before the rest
  waiting.Hold(At(20, 0));
  waiting.ReturnHeld("k", std::move(held));
  EXPECT_EQ(Positions(waiting.TakeHeld("k")), (std::vector<int64_t>{20, 7, 9}));
}

TEST(WaitingTest, ExpiredStashesBySizeOrLogAgeAndTheirPendingPositions) {
  Waiting waiting;
  waiting.Stash(At(1, 5, "old"));
  for (int i = 0; i < 3; ++i) waiting.Stash(At(100 + i, 5 + i, "big"));
  waiting.Stash(At(200, 9, "fine"));
  EXPECT_EQ(waiting.ExpiredStashes(/*now_us=*/60'000, /*max_age_us=*/50'000, /*max_events=*/2),
            (std::vector<std::string>{"big", "old"}));
  EXPECT_EQ(waiting.TakeFirstStashed("big").position, 100);
  DedupProgress progress;
  waiting.AddTo(&progress);
  EXPECT_EQ(progress.pending.at(0), 1);
  EXPECT_EQ(waiting.All().size(), 4u);
}

TEST(AdmitTest, SequenceWaitingOrIdInTheWindowIsADuplicate) {
  Waiting waiting;
  EventIdWindow ids(10);
  KeyGate parked{/*last_sequence=*/2, /*parked_on=*/8};
  waiting.Hold(At(9, 5));
  EXPECT_EQ(Admit(parked, "k", 5, "", 12, 1, waiting, ids), Outcome::kDuplicate);
  EXPECT_EQ(Admit(parked, "k", 6, "", 12, 1, waiting, ids), Outcome::kHold);
  EXPECT_EQ(Admit(parked, "k", 2, "", 12, 1, waiting, ids), Outcome::kDuplicate);
  ids.Remember("e", 0, 3);
  KeyGate open;
  EXPECT_EQ(Admit(open, "k", std::nullopt, "e", 13, 1, waiting, ids), Outcome::kDuplicate);
  EXPECT_EQ(Admit(open, "k", std::nullopt, "e", 14, 1, waiting, ids), Outcome::kApply);
  EXPECT_EQ(Admit(parked, "k", std::nullopt, "f", 14, 1, waiting, ids), Outcome::kHold);
}

}  // namespace
}  // namespace sv::gate
