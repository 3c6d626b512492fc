// What the engine and server know of a source through source/open.h: partition labels both
// ways and min_position parsing, for the embedded log and a two-topic Kafka source.

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "source/open.h"

namespace sv::source {
namespace {

config::SourceConfig Log() {
  config::SourceConfig c;
  c.name = "orders";
  c.kind = "log";
  return c;
}

config::SourceConfig Kafka() {
  config::SourceConfig c;
  c.name = "orders";
  c.kind = "kafka";
  c.kafka.topics = {"orders", "refunds"};
  return c;
}

Position At(int32_t partition, int64_t position) {
  Position p;
  p.Set(partition, position);
  return p;
}

TEST(SourceTraits, TheLogAcceptsAppendsAndPlainIntegers) {
  auto traits = TraitsOf(Log());
  ASSERT_TRUE(traits.ok()) << traits.status();
  EXPECT_TRUE(traits->accepts_appends && traits->end_in_store && traits->single_partition);
  EXPECT_EQ(traits->partition_label(0), "0");
  EXPECT_EQ(*ParsePosition(*traits, "1577"), At(0, 1577));
  EXPECT_EQ(*ParsePosition(*traits, "0:1577"), At(0, 1577));
  EXPECT_EQ(*ParsePosition(*traits, At(0, 9).ToToken()), At(0, 9));
  EXPECT_FALSE(ParsePosition(*traits, "-1").ok());
  // A token of another source's partitions is not this source's position.
  EXPECT_FALSE(ParsePosition(*traits, At(1, 9).ToToken()).ok());
}

TEST(SourceTraits, KafkaLabelsPartitionsByTopicBothWays) {
  auto traits = TraitsOf(Kafka());
  ASSERT_TRUE(traits.ok()) << traits.status();
  EXPECT_FALSE(traits->accepts_appends || traits->end_in_store || traits->single_partition);
  const int32_t refunds_3 = (1 << 20) | 3;
  EXPECT_EQ(traits->partition_label(refunds_3), "refunds/3");
  EXPECT_EQ(traits->partition_of_label("refunds/3"), refunds_3);
  EXPECT_EQ(traits->partition_of_label("orders/0"), 0);
  auto topic = traits->topic_of(refunds_3);
  ASSERT_TRUE(topic.has_value());
  EXPECT_EQ(*topic, std::make_pair(std::string("refunds"), 3));
  for (const char* bad : {"orders", "orders/", "orders/x", "orders/-1", "other/0", "/0"}) {
    EXPECT_FALSE(traits->partition_of_label(bad).has_value()) << bad;
  }
  auto p = ParsePosition(*traits, "orders/1:18,refunds/3:4");
  ASSERT_TRUE(p.ok()) << p.status();
  Position want = At(1, 18);
  want.Set(refunds_3, 4);
  EXPECT_EQ(*p, want);
  EXPECT_EQ(*ParsePosition(*traits, want.ToToken()), want);
  // A plain integer names no partition here; the message says what to send instead.
  auto plain = ParsePosition(*traits, "42");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("X-StreamView-Position"), std::string::npos);
  // Topic index 2 is not configured.
  EXPECT_FALSE(ParsePosition(*traits, At(2 << 20, 1).ToToken()).ok());
}

TEST(SourceTraits, AnUnknownKindIsRefused) {
  config::SourceConfig c = Log();
  c.kind = "pgcdc";
  EXPECT_FALSE(TraitsOf(c).ok());
}

}  // namespace
}  // namespace sv::source
