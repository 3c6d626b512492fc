#include "gate/gate.h"

#include <gtest/gtest.h>

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

TEST(EventIdWindowTest, RemembersTheLastCapacityIds) {
  EventIdWindow window(2);
  EXPECT_EQ(window.Insert("a", 10), 0);
  EXPECT_EQ(window.Insert("b", 11), 0);
  EXPECT_TRUE(window.Contains("a"));
  EXPECT_EQ(window.Insert("a", 12), 0) << "a repeat is not a new entry";
  EXPECT_EQ(window.Insert("c", 13), 11) << "evicting 'a' (position 10) forgets positions < 11";
  EXPECT_FALSE(window.Contains("a"));
  EXPECT_TRUE(window.Contains("b"));
  EXPECT_TRUE(window.Contains("c"));
  EXPECT_EQ(window.size(), 2u);
}

}  // namespace
}  // namespace sv::gate
