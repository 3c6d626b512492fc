#include "gate/gate.h"

#include <gtest/gtest.h>

#include "gate/key_gates.h"

namespace sv::gate {
namespace {

TEST(GateTest, NewKeyAppliesOnlyItsFirstSequence) {
  KeyGate key;
  EXPECT_EQ(Classify(key, 1, 1), Outcome::kApply);
  EXPECT_EQ(Classify(key, 2, 1), Outcome::kStash);
  EXPECT_EQ(Classify(key, 0, 1), Outcome::kOutOfOrder);
  EXPECT_EQ(Classify(key, 5, 5), Outcome::kApply);
}

TEST(GateTest, ARedeliveredFirstSequenceIsADuplicate) {
  // The config keeps first_sequence >= 1 so "nothing applied" (0) is never a real sequence.
  KeyGate key;
  ASSERT_EQ(Classify(key, 1, 1), Outcome::kApply);
  key.last_sequence = 1;
  EXPECT_EQ(Classify(key, 1, 1), Outcome::kDuplicate);
  EXPECT_EQ(Classify(key, 0, 1), Outcome::kOutOfOrder);
  EXPECT_EQ(Classify(KeyGate{}, -3, 1), Outcome::kOutOfOrder);
}

TEST(GateTest, SeedRuleSkipDedupApplyStash) {
  KeyGate key{.last_sequence = 4};
  EXPECT_EQ(Classify(key, 3, 1), Outcome::kOutOfOrder);
  EXPECT_EQ(Classify(key, 4, 1), Outcome::kDuplicate);
  EXPECT_EQ(Classify(key, 5, 1), Outcome::kApply);
  EXPECT_EQ(Classify(key, 7, 1), Outcome::kStash);
}

TEST(GateTest, ParkedKeyHoldsNewerEventsAndStillDropsOldOnes) {
  KeyGate key{.last_sequence = 4, .parked_on = 17};
  EXPECT_EQ(Classify(key, 5, 1), Outcome::kHold);
  EXPECT_EQ(Classify(key, 9, 1), Outcome::kHold);
  EXPECT_EQ(Classify(key, 4, 1), Outcome::kDuplicate);
  EXPECT_EQ(Classify(key, 2, 1), Outcome::kOutOfOrder);
}

TEST(GateTest, StashExpiresByAgeOrSize) {
  EXPECT_FALSE(StashExpired(1'000, 1'500, 1'000, 3, 10));
  EXPECT_TRUE(StashExpired(1'000, 2'001, 1'000, 3, 10));
  EXPECT_FALSE(StashExpired(1'000, 2'000, 1'000, 10, 10));
  EXPECT_TRUE(StashExpired(1'000, 1'001, 1'000, 11, 10));
}

TEST(EventIdWindowTest, AnIdIsADuplicateWithinCapacityPositions) {
  EventIdWindow window(2);
  window.Remember("a", 0, 10);
  EXPECT_TRUE(window.IsDuplicate("a", 12));
  EXPECT_FALSE(window.IsDuplicate("a", 13)) << "3 positions away: beyond the window";
  EXPECT_FALSE(window.IsDuplicate("b", 11));
  window.Remember("a", 0, 13);  // applied again: remembered at its new position
  EXPECT_TRUE(window.IsDuplicate("a", 15));
  EXPECT_EQ(window.size(), 1u);
}

// Forgetting follows each partition's own progress, and never drops an id a record still to be
// decided could repeat: offsets of different partitions are not comparable.
TEST(EventIdWindowTest, ForgetsPerPartitionAndBoundsTheStoreByEveryPartition) {
  EventIdWindow window(10);
  window.Remember("p0", 0, 1'000'000);
  window.Remember("p1", 1, 5);
  window.Restore("loaded", 3);  // partition unknown
  DedupProgress progress;
  progress.Read(0, 1'000'011);
  progress.Read(1, 20);
  progress.Pending(1, 15);  // a stashed event of partition 1 is still to be decided
  window.Forget(progress);
  EXPECT_EQ(progress.StoreBound(10), 5) << "partition 1 holds the store at 15-10";
  EXPECT_FALSE(window.IsDuplicate("p0", 1'000'011)) << "forgotten: partition 0 is past it";
  EXPECT_TRUE(window.IsDuplicate("p1", 15)) << "kept: partition 1 is not past it";
  EXPECT_FALSE(window.IsDuplicate("loaded", 13)) << "below every partition's bound";
  EXPECT_EQ(window.size(), 1u);
}

TEST(DedupProgressTest, MergesLanesIntoTheSourcesFloors) {
  DedupProgress a, b;
  a.Read(0, 100);
  b.Read(0, 80);
  b.Pending(0, 50);
  b.Read(1, 7);
  a.Merge(b);
  EXPECT_EQ(a.Floors(), (std::map<int32_t, int64_t>{{0, 50}, {1, 7}}));
  EXPECT_EQ(a.StoreBound(5), 2);
  EXPECT_EQ(DedupProgress().StoreBound(5), 0);
}

TEST(KeyGatesTest, LoadsAKeyOnceAndFailsTheCallerOnAStoreError) {
  int reads = 0;
  KeyGates gates(
      [&reads](const std::string& key) -> absl::StatusOr<std::optional<store::KeyState>> {
        ++reads;
        if (key == "broken") return absl::UnavailableError("store down");
        if (key == "known") return std::optional<store::KeyState>(store::KeyState{key, 7, 3});
        return std::optional<store::KeyState>();
      });
  absl::StatusOr<KeyGate*> known = gates.Get("known");
  ASSERT_TRUE(known.ok());
  EXPECT_EQ((*known)->last_sequence, 7);
  EXPECT_EQ((*known)->parked_on, 3);
  (*known)->last_sequence = 8;
  EXPECT_EQ((*gates.Get("known"))->last_sequence, 8) << "kept in memory, not read again";
  EXPECT_EQ((*gates.Get("fresh"))->last_sequence, 0);
  EXPECT_EQ(reads, 2);
  absl::StatusOr<KeyGate*> broken = gates.Get("broken");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kUnavailable) << "an error, not a fresh key";
  EXPECT_FALSE(gates.all().contains("broken"));
  gates.Forget();
  EXPECT_EQ((*gates.Get("known"))->last_sequence, 7) << "read again after Forget";
  EXPECT_EQ(KeyGates::ToStored("k", KeyGate{5, 2}).last_sequence, 5);
}

}  // namespace
}  // namespace sv::gate
