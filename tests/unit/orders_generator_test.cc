#include "gen/orders_generator.h"

#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/time_util.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace sv::gen {
namespace {

std::string Generate(const OrdersWorkload& w, OrdersStats* stats = nullptr) {
  std::ostringstream out;
  const absl::Status status = GenerateOrders(w, out, stats);
  EXPECT_TRUE(status.ok()) << status;
  return out.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

TEST(OrdersGeneratorTest, SameSeedSameBytes) {
  OrdersWorkload w;
  w.orders = 2000;
  w.delay_rate = 0.01;
  w.malformed_rate = 0.01;
  const std::string a = Generate(w);
  EXPECT_EQ(a, Generate(w));
  EXPECT_EQ(a.back(), '\n');
  w.seed = 2;
  EXPECT_NE(a, Generate(w));
}

TEST(OrdersGeneratorTest, EmptyWorkloadAndBadRates) {
  OrdersWorkload w;
  w.orders = 0;
  EXPECT_EQ(Generate(w), "");
  std::ostringstream out;
  w.dup_rate = 1.5;
  EXPECT_FALSE(GenerateOrders(w, out).ok());
  w.dup_rate = 0;
  w.reorder_window = 0;
  EXPECT_FALSE(GenerateOrders(w, out).ok());
}

TEST(OrdersGeneratorTest, WithoutDisorderSequencesAreInOrder) {
  OrdersWorkload w;
  w.orders = 500;
  w.dup_rate = 0;
  w.reorder_rate = 0;
  OrdersStats stats;
  const std::vector<std::string> lines = Lines(Generate(w, &stats));
  EXPECT_EQ(static_cast<int64_t>(lines.size()), stats.events);
  EXPECT_EQ(stats.malformed, 0);
  simdjson::dom::parser parser;
  std::map<std::string, int64_t> last_seq;
  for (const std::string& line : lines) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    std::string key;
    int64_t seq = 0;
    simdjson::dom::element value;
    if (doc["value"].get(value) == simdjson::SUCCESS) {
      key = std::string(doc["key"].get_string().value());
      seq = std::stoll(std::string(doc["headers"]["x-sequence"].get_string().value()));
    } else {
      key = std::string(doc["orderId"].get_string().value());
      seq = doc["sequence"].get_int64().value();
    }
    EXPECT_EQ(seq, last_seq[key] + 1) << line;
    last_seq[key] = seq;
  }
  EXPECT_EQ(last_seq.size(), 500u);
}

// Parses every line and checks the workload's shape and that the malformed and duplicate
// counts are what the stats say and roughly what the rates ask for.
TEST(OrdersGeneratorTest, LinesAreValidAndRatesRoughlyHold) {
  OrdersWorkload w;
  w.orders = 20000;
  w.dup_rate = 0.05;
  w.reorder_rate = 0.05;
  w.delay_rate = 0.01;
  w.malformed_rate = 0.01;
  OrdersStats stats;
  const std::vector<std::string> lines = Lines(Generate(w, &stats));
  ASSERT_EQ(static_cast<int64_t>(lines.size()), stats.lines);
  EXPECT_NEAR(static_cast<double>(stats.events) / w.orders, 5.0, 0.2);

  simdjson::dom::parser parser;
  std::unordered_set<std::string> seen;
  int64_t invalid = 0, no_key = 0, no_type = 0, unknown = 0, type_errors = 0, dups = 0;
  int64_t items = 0;
  std::map<std::string, std::set<int64_t>> seqs;                 // order -> sequences seen
  std::map<std::pair<std::string, int64_t>, std::string> times;  // (order, seq) -> occurredAt
  for (const std::string& line : lines) {
    if (!seen.insert(line).second) {
      ++dups;
      continue;
    }
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) {
      ++invalid;
      continue;
    }
    ASSERT_TRUE(doc.is_object()) << line;
    simdjson::dom::element event = doc;
    std::string key;
    int64_t seq = 0;
    simdjson::dom::element value;
    if (doc["value"].get(value) == simdjson::SUCCESS) {
      event = value;
      std::string_view k;
      if (doc["key"].get(k) == simdjson::SUCCESS) key = std::string(k);
      std::string_view s;
      if (doc["headers"]["x-sequence"].get(s) == simdjson::SUCCESS) {
        seq = std::stoll(std::string(s));
      }
    } else {
      std::string_view k;
      if (doc["orderId"].get(k) == simdjson::SUCCESS) key = std::string(k);
      int64_t s;
      if (doc["sequence"].get(s) == simdjson::SUCCESS) seq = s;
    }
    std::string_view type;
    if (key.empty()) {
      ++no_key;
      continue;
    }
    if (event["type"].get(type) != simdjson::SUCCESS) {
      ++no_type;
      continue;
    }
    if (type == "OrderTeleported") {
      ++unknown;
      EXPECT_EQ(key.substr(0, 2), "x-");
      EXPECT_EQ(seq, 1);
      continue;
    }
    ASSERT_EQ(key.substr(0, 2), "o-") << line;
    ASSERT_GE(seq, 1) << line;
    EXPECT_TRUE(seqs[key].insert(seq).second) << "two different lines for " << key << " " << seq;
    std::string_view occurred = event["occurredAt"].get_string().value();
    const std::optional<int64_t> micros = ParseTime(occurred);
    ASSERT_TRUE(micros.has_value()) << occurred;
    EXPECT_EQ(FormatTime(*micros).substr(0, 19), occurred.substr(0, 19));
    EXPECT_EQ(*micros % 1000, 0) << occurred;  // millisecond precision
    times[{key, seq}] = std::string(occurred);
    if (type == "OrderCreated") {
      EXPECT_EQ(seq, 1);
      simdjson::dom::array list = event["items"].get_array().value();
      EXPECT_GE(list.size(), 1u);
      EXPECT_LE(list.size(), 3u);
      for (simdjson::dom::element item : list) {
        EXPECT_GE(item["qty"].get_int64().value(), 1);
        EXPECT_LE(item["qty"].get_int64().value(), 5);
        EXPECT_TRUE(item["price"].is_double());
        ++items;
      }
    } else if (type == "OrderItemAdded") {
      ++items;
      EXPECT_GT(seq, 1);
      if (event["qty"].is_string()) {
        ++type_errors;
      } else {
        EXPECT_TRUE(event["qty"].is_int64()) << line;
      }
    } else {
      EXPECT_EQ(type, "OrderStatusChanged");
      EXPECT_FALSE(event["status"].get_string().value().empty());
    }
  }
  EXPECT_EQ(invalid, stats.truncated);
  EXPECT_EQ(no_key, stats.no_key);
  EXPECT_EQ(no_type, stats.no_type);
  EXPECT_EQ(unknown, stats.unknown_type);
  EXPECT_EQ(type_errors, stats.type_errors);
  EXPECT_EQ(dups, stats.duplicates);
  EXPECT_EQ(invalid + no_key + no_type + unknown + type_errors, stats.malformed);
  EXPECT_GT(invalid, 0);
  EXPECT_GT(type_errors, 0);
  EXPECT_NEAR(static_cast<double>(stats.malformed) / stats.events, w.malformed_rate, 0.003);
  EXPECT_NEAR(static_cast<double>(stats.duplicates) / stats.events, w.dup_rate, 0.005);
  EXPECT_NEAR(static_cast<double>(stats.delayed) / stats.events, w.delay_rate, 0.003);
  EXPECT_NEAR(static_cast<double>(items) / w.orders, 3.0, 0.2);

  // Every order has its sequences 1..n without gaps, and its time increases with them.
  ASSERT_EQ(seqs.size(), static_cast<size_t>(w.orders));
  for (const auto& [key, set] : seqs) {
    EXPECT_EQ(*set.begin(), 1) << key;
    EXPECT_EQ(*set.rbegin(), static_cast<int64_t>(set.size())) << key;
    int64_t previous = 0;
    for (int64_t seq : set) {
      const int64_t t = *ParseTime(times[{key, seq}]);
      EXPECT_GT(t, previous) << key << " " << seq;
      previous = t;
    }
  }
}

}  // namespace
}  // namespace sv::gen
