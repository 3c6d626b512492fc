#include "common/position.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sv {
namespace {

Position P(std::map<int32_t, int64_t> partitions) { return Position(std::move(partitions)); }

// Labels as a two-topic Kafka source would name its partitions.
std::optional<int32_t> KafkaLike(std::string_view label) {
  if (label == "orders/0") return 0;
  if (label == "orders/1") return 1;
  if (label == "refunds/0") return 1 << 20;
  return std::nullopt;
}

TEST(Position, CoversNeedsEveryPartitionOfTheOther) {
  const Position applied({{0, 10}, {1, 3}});
  EXPECT_TRUE(applied.Covers(P({{0, 10}, {1, 3}})));
  EXPECT_TRUE(applied.Covers(P({{0, 9}})));
  EXPECT_TRUE(applied.Covers(Position()));
  // One partition far ahead does not make up for another behind (the old "max" rule did).
  EXPECT_FALSE(applied.Covers(P({{0, 2}, {1, 4}})));
  // A partition not applied at all is at 0.
  EXPECT_FALSE(applied.Covers(P({{2, 1}})));
  EXPECT_TRUE(applied.Covers(P({{2, 0}})));
}

TEST(Position, TokenRoundTripsIncludingAnLsnSizedPosition) {
  for (const Position& p : {Position(), P({{0, 0}}), P({{0, 42}, {1, 7}, {(3 << 20) | 5, 1}}),
                            P({{0, INT64_MAX}}), P({{0, int64_t{0x16B3748} << 32 | 0x1A2B3C4D}})}) {
    const std::string token = p.ToToken();
    EXPECT_TRUE(token.starts_with("sv1.")) << token;
    EXPECT_EQ(token.find_first_of("+/=:,"), std::string::npos) << "URL-safe: " << token;
    auto back = Position::Parse(token, KafkaLike);
    ASSERT_TRUE(back.ok()) << back.status() << " " << token;
    EXPECT_EQ(*back, p) << token;
  }
}

TEST(Position, PlainFormNamesPartitionsByLabel) {
  auto p = Position::Parse("orders/1:18,refunds/0:3,orders/0:0", KafkaLike);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, P({{0, 0}, {1, 18}, {1 << 20, 3}}));
}

TEST(Position, MalformedTextIsRefusedWithAReason) {
  struct Case {
    std::string text;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"soon", "has no ':'"},
      {"orders/0:", "non-negative integer"},
      {"orders/0:-1", "non-negative integer"},
      {"orders/0:1x", "non-negative integer"},
      {"orders/9:1", "no partition 'orders/9'"},
      {"orders/0:1,orders/0:2", "named twice"},
      {"orders/0:1,", "has no ':'"},
      {"sv1.%%%", "not base64url"},
      {"sv1." + P({{0, 1}}).ToToken().substr(4) + "!", "not base64url"},
      // Valid base64url, but not a payload this version writes.
      {"sv1.aGVsbG8", "has no ':'"},
      {"sv1.LTE6NQ", "no partition '-1'"},  // "-1:5"
  };
  for (const Case& c : cases) {
    auto p = Position::Parse(c.text, KafkaLike);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(p.status().message().find(c.reason), std::string_view::npos)
        << c.text << ": " << p.status().message();
  }
}

}  // namespace
}  // namespace sv
