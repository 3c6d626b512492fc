// The subscription hub (server/subscriptions.h) as the engine's commits drive it: fan-out to
// every subscriber, organizations kept apart (deletes too, where the key lacks the tenant
// column: the hub's key → organization map, loaded from a memory store's table), the resume
// ring, and a subscriber that falls behind getting `reset` instead of a growing backlog.

#include "server/subscriptions.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "config/config.h"
#include "rapidjson/document.h"
#include "store/open.h"

namespace sv::server {
namespace {

constexpr char kYaml[] = R"yaml(sources:
  s:
    key: id
    event_types: [Put]
views:
  by_org:
    source: s
    key: [org, id]
    tenant: org
    columns: {org: text, id: text, n: integer}
    on:
      Put: {set: {org: e.org, id: e.id, n: e.n}}
  shipments:
    source: s
    key: [id]
    tenant: org
    columns: {org: text, id: text, n: integer}
    on:
      Put: {set: {org: e.org, id: e.id, n: e.n}}
  untenanted:
    source: s
    key: [id]
    columns: {id: text, n: integer}
    on:
      Put: {set: {id: e.id, n: e.n}}
  versioned:
    version: 2
    source: s
    key: [id]
    columns: {id: text, n: integer, label: text}
    on:
      Put: {set: {id: e.id, n: e.n, label: "'v2'"}}
    previous:
      version: 1
      source: s
      key: [id]
      columns: {id: text, total: integer}
      on:
        Put: {set: {id: e.id, total: "coalesce(total, 0) + e.n"}}
)yaml";

constexpr int kByOrg = 0, kShipments = 1, kUntenanted = 2, kVersioned = 3;
constexpr int64_t kFirstId = 1000;

struct Event {
  std::string name;
  std::optional<int64_t> id;
  std::string data;
};

// The SSE text a stream produced, parsed; comments skipped.
std::vector<Event> Parse(const std::string& text) {
  std::vector<Event> out;
  Event e;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty()) {
      if (!e.name.empty()) out.push_back(e);
      e = Event();
    } else if (line.rfind("id: ", 0) == 0) {
      e.id = std::stoll(line.substr(4));
    } else if (line.rfind("event: ", 0) == 0) {
      e.name = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      e.data = line.substr(6);
    }
  }
  return out;
}

std::string Field(const std::string& json, const char* name) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (!d.IsObject() || !d.HasMember(name)) return "?";
  const auto& v = d[name];
  return v.IsString() ? v.GetString() : std::to_string(v.GetInt64());
}

std::shared_ptr<const Row> RowOf(const char* org, const char* id, int64_t n) {
  return std::make_shared<const Row>(Row{Value::Text(org), Value::Text(id), Value::Int(n)});
}

class SubscriptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(SubscriptionLimits{}); }

  void Make(SubscriptionLimits limits) {
    auto config = config::ParseConfig(kYaml, "t.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto catalog = projection::Compile(*config);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = *std::move(catalog);
    auto table_of = [](const projection::ViewPlan& plan) {
      store::TableSpec t;
      t.name = plan.name;
      for (const auto& c : plan.columns) t.columns.push_back({c.name, c.type});
      t.key = plan.key;
      return t;
    };
    tables_.clear();
    for (const auto& plan : catalog_->views) tables_.push_back(table_of(plan));
    ASSERT_EQ(catalog_->previous_views.size(), 1u);
    previous_table_ = table_of(catalog_->previous_views[0]);
    store::StoreOptions so;
    so.kind = "memory";
    so.path = "subscriptions_test";
    auto opened = store::OpenStore(so, store::StoreRole::kWriter);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = *std::move(opened);
    ASSERT_TRUE(store_->Init().ok());
    for (const auto& t : tables_) ASSERT_TRUE(store_->CreateTable(t).ok());
    hub_ = std::make_shared<SubscriptionHub>(
        *catalog_,
        [this](int v, bool previous) -> const store::TableSpec* {
          if (!previous) return &tables_[v];
          return v == kVersioned ? &previous_table_ : nullptr;
        },
        limits,
        [this, so](const store::TableSpec& table,
                   const std::function<void(const Row&)>& each) -> absl::Status {
          // A connection of the loader's own, as the server's reader is.
          auto reader = store::OpenStore(so, store::StoreRole::kReader);
          if (!reader.ok()) return reader.status();
          absl::Status s = (*reader)->ScanTable(table, each);
          scanned_ = true;
          // The test may hold the load's end, to commit between the scan and it.
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
          while (!release_ && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
          return s;
        },
        kFirstId);
  }
  void TearDown() override {
    if (hub_) hub_->Shutdown();
  }

  // Commits rows to the store, then tells the hub, as the engine does.
  void Commit(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
              const std::vector<Row>& deletes = {}) {
    auto batch = store_->BeginBatch();
    for (const auto& r : upserts) ASSERT_TRUE(batch->Upsert(tables_[view], *r).ok());
    for (const auto& k : deletes) ASSERT_TRUE(batch->Delete(tables_[view], k).ok());
    ASSERT_TRUE(batch->Commit().ok());
    hub_->OnCommitted(view, upserts, deletes);
  }

  std::shared_ptr<http::StreamBody> Subscribe(int view, std::optional<std::string> org,
                                              std::optional<int64_t> after = std::nullopt,
                                              bool previous = false) {
    auto s = hub_->Subscribe(view, {hub_->Replacements(view), previous}, std::move(org), after);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    (*s)->Start([this] { ++wakes_; });
    return *s;
  }

  static std::vector<Event> Drain(http::StreamBody& s, bool* more = nullptr) {
    std::string out;
    const bool m = s.Pull(&out);
    if (more) *more = m;
    return Parse(out);
  }

  // Pulls until `count` events arrived (the key → organization load runs on a thread).
  static std::vector<Event> DrainUntil(http::StreamBody& s, size_t count) {
    std::vector<Event> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (all.size() < count && std::chrono::steady_clock::now() < deadline) {
      for (Event& e : Drain(s)) all.push_back(std::move(e));
      if (all.size() < count) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return all;
  }

  std::unique_ptr<projection::Catalog> catalog_;
  std::vector<store::TableSpec> tables_;
  store::TableSpec previous_table_;  // kVersioned's previous: definition's
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<SubscriptionHub> hub_;
  std::atomic<int> wakes_{0};
  std::atomic<bool> scanned_{false};
  std::atomic<bool> release_{true};
};

TEST_F(SubscriptionsTest, WatchesEveryServedViewOnlyWhenEnabled) {
  EXPECT_EQ(hub_->Watched(4), (std::vector<bool>{true, true, true, true}));
  Make(SubscriptionLimits{.max_subscribers = 0});
  EXPECT_EQ(hub_->Watched(4), (std::vector<bool>{false, false, false, false}));
}

TEST_F(SubscriptionsTest, EachSubscriberGetsItsOrganizationsRowsAndDeletes) {
  auto a = Subscribe(kByOrg, "o1");
  auto b = Subscribe(kByOrg, "o2");
  auto admin = Subscribe(kByOrg, std::nullopt);
  EXPECT_EQ(hub_->subscribers(), 3u);
  Commit(kByOrg, {RowOf("o1", "x", 1), RowOf("o2", "y", 2)});
  Commit(kByOrg, {}, {Row{Value::Text("o1"), Value::Text("x")}});
  EXPECT_GT(wakes_.load(), 0);

  auto ea = Drain(*a);
  ASSERT_EQ(ea.size(), 3u);
  EXPECT_EQ(ea[0].name, "ready");
  EXPECT_EQ(ea[0].id, kFirstId - 1);
  EXPECT_EQ(ea[1].name, "upsert");
  EXPECT_EQ(ea[1].id, kFirstId);
  EXPECT_EQ(ea[1].data, R"({"org":"o1","id":"x","n":1})");
  EXPECT_EQ(ea[2].name, "delete");
  EXPECT_EQ(ea[2].id, kFirstId + 2);
  EXPECT_EQ(ea[2].data, R"({"org":"o1","id":"x"})");

  auto eb = Drain(*b);
  ASSERT_EQ(eb.size(), 2u);  // ready, its one row; nothing of o1's, not even the delete
  EXPECT_EQ(eb[1].data, R"({"org":"o2","id":"y","n":2})");

  auto all = Drain(*admin);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].name, "delete");
}

TEST_F(SubscriptionsTest, DeletesFindTheirOrganizationWhenTheKeyLacksIt) {
  // Rows written before anyone subscribed: the hub learns their organizations from the store.
  Commit(kShipments, {RowOf("o1", "s1", 1), RowOf("o2", "s2", 1)});
  auto a = Subscribe(kShipments, "o1");
  auto b = Subscribe(kShipments, "o2");
  ASSERT_EQ(DrainUntil(*a, 1).size(), 1u);  // ready: the organizations are loaded
  ASSERT_EQ(DrainUntil(*b, 1).size(), 1u);
  Commit(kShipments, {}, {Row{Value::Text("s1")}});
  Commit(kShipments, {RowOf("o2", "s3", 1)});
  Commit(kShipments, {}, {Row{Value::Text("s3")}});
  // A row that moves from o2 to o1: a delete for o2, an upsert for o1.
  Commit(kShipments, {RowOf("o1", "s2", 2)});

  auto ea = Drain(*a);
  ASSERT_EQ(ea.size(), 2u);
  EXPECT_EQ(ea[0].name, "delete");
  EXPECT_EQ(ea[0].data, R"({"id":"s1"})");
  EXPECT_EQ(ea[1].name, "upsert");
  EXPECT_EQ(ea[1].data, R"({"org":"o1","id":"s2","n":2})");

  auto eb = Drain(*b);
  ASSERT_EQ(eb.size(), 3u);
  EXPECT_EQ(eb[0].name, "upsert");
  EXPECT_EQ(Field(eb[0].data, "id"), "s3");
  EXPECT_EQ(eb[1].name, "delete");
  EXPECT_EQ(eb[1].data, R"({"id":"s3"})");
  EXPECT_EQ(eb[2].name, "delete");
  EXPECT_EQ(eb[2].data, R"({"id":"s2"})");
  // Nothing of the other organization came through at any point.
  for (const Event& e : eb) EXPECT_NE(Field(e.data, "id"), "s1");
}

TEST_F(SubscriptionsTest, CommitsDuringTheLoadKeepTheMapAndWaitInTheSnapshot) {
  Commit(kShipments, {RowOf("o1", "s1", 1)});
  release_ = false;
  auto a = Subscribe(kShipments, "o1");
  auto b = Subscribe(kShipments, "o2");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!scanned_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(scanned_);
  // After the scan, before the load ends: not sent (the snapshot read after `ready` has them),
  // but the map follows them.
  Commit(kShipments, {}, {Row{Value::Text("s1")}});
  Commit(kShipments, {RowOf("o2", "s5", 1)});
  EXPECT_TRUE(Drain(*a).empty());  // held until the load ends
  release_ = true;
  auto ready = DrainUntil(*a, 1);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].name, "ready");
  EXPECT_EQ(ready[0].id, kFirstId - 1);  // the held commits had no ids
  ASSERT_EQ(DrainUntil(*b, 1).size(), 1u);
  Commit(kShipments, {}, {Row{Value::Text("s5")}});
  EXPECT_TRUE(Drain(*a).empty());
  auto eb = Drain(*b);
  ASSERT_EQ(eb.size(), 1u);
  EXPECT_EQ(eb[0].name, "delete");
  EXPECT_EQ(eb[0].data, R"({"id":"s5"})");
}

TEST_F(SubscriptionsTest, ResumeReplaysExactlyTheMissedChangesOfTheOrganization) {
  auto first = Subscribe(kByOrg, "o1");
  Commit(kByOrg, {RowOf("o1", "a", 1)});
  auto seen = Drain(*first);
  ASSERT_EQ(seen.size(), 2u);
  const int64_t last = *seen[1].id;
  first->Cancel();
  EXPECT_EQ(hub_->subscribers(), 0u);
  Commit(kByOrg, {RowOf("o1", "b", 1), RowOf("o2", "c", 1)});
  Commit(kByOrg, {RowOf("o1", "a", 2)});

  auto resumed = Subscribe(kByOrg, "o1", last);
  auto events = Drain(*resumed);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].name, "ready");
  EXPECT_FALSE(events[0].id.has_value());  // the backlog's ids are smaller than the latest
  EXPECT_EQ(Field(events[1].data, "id"), "b");
  EXPECT_EQ(Field(events[2].data, "n"), "2");
  EXPECT_LT(*events[1].id, *events[2].id);
  EXPECT_GT(*events[1].id, last);
}

TEST_F(SubscriptionsTest, AnIdOlderThanTheRingOrAReplacedViewGetsReset) {
  Make(SubscriptionLimits{.resume_events = 2});
  auto s = Subscribe(kUntenanted, std::nullopt);
  const int64_t start = *Drain(*s)[0].id;
  for (int i = 0; i < 3; ++i) {
    Commit(kUntenanted, {std::make_shared<const Row>(Row{Value::Text("k"), Value::Int(i)})});
  }
  auto late = Subscribe(kUntenanted, std::nullopt, start);  // 3 changes since, ring holds 2
  auto events = Drain(*late);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].name, "reset");
  EXPECT_EQ(events[1].id, start + 3);
  // From the reset's id, the stream resumes.
  auto again = Subscribe(kUntenanted, std::nullopt, *events[1].id);
  EXPECT_EQ(Drain(*again).size(), 1u);  // ready only

  hub_->OnReplaced(kUntenanted);
  auto told = Drain(*s);  // the queued changes gave way to the reset
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].name, "reset");
  EXPECT_EQ(told[0].id, start + 4);
  auto resumed = Subscribe(kUntenanted, std::nullopt, start + 3);
  auto r = Drain(*resumed);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].name, "reset");
}

// While a version of the view's previous: definition serves, the engine tells its rows: a stream
// renders them with that definition's columns. A switch to the other columns ends the stream
// after its reset; a subscription read before the switch is refused (read again).
TEST_F(SubscriptionsTest, AVersionOfThePreviousDefinitionStreamsItsColumnsUntilASwitch) {
  auto old = Subscribe(kVersioned, std::nullopt, std::nullopt, /*previous=*/true);
  hub_->OnCommitted(kVersioned, {std::make_shared<const Row>(Row{Value::Text("a"), Value::Int(7)})},
                    {Row{Value::Text("b")}});
  auto events = Drain(*old);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].data, R"({"id":"a","total":7})");
  EXPECT_EQ(events[2].data, R"({"id":"b"})");
  // Asked for the config's definition while the previous one's rows are streamed: refused.
  EXPECT_EQ(hub_->Subscribe(kVersioned, {hub_->Replacements(kVersioned), false}, std::nullopt,
                            std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kAborted);

  const uint64_t read_before = hub_->Replacements(kVersioned);
  hub_->OnReplaced(kVersioned);  // the promotion
  bool more = true;
  events = Drain(*old, &more);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "reset");
  EXPECT_FALSE(more);  // ended: its client subscribes again
  EXPECT_EQ(hub_->subscribers(), 0u);
  EXPECT_EQ(
      hub_->Subscribe(kVersioned, {read_before, true}, std::nullopt, std::nullopt).status().code(),
      absl::StatusCode::kAborted);

  auto now = Subscribe(kVersioned, std::nullopt);
  hub_->OnCommitted(
      kVersioned,
      {std::make_shared<const Row>(Row{Value::Text("a"), Value::Int(8), Value::Text("v2")})}, {});
  events = Drain(*now, &more);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, R"({"id":"a","n":8,"label":"v2"})");
  EXPECT_TRUE(more);
  // A view whose versions write one shape keeps its streams across a replace.
  auto same = Subscribe(kUntenanted, std::nullopt);
  hub_->OnReplaced(kUntenanted);
  events = Drain(*same, &more);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].name, "reset");
  EXPECT_TRUE(more);
}

TEST_F(SubscriptionsTest, ASubscriberTooFarBehindGetsResetAndTheBacklogIsDropped) {
  Make(SubscriptionLimits{.queue_events = 3});
  auto slow = Subscribe(kUntenanted, std::nullopt);
  auto fast = Subscribe(kUntenanted, std::nullopt);
  Drain(*slow);
  Drain(*fast);
  for (int i = 0; i < 10; ++i) {
    Commit(kUntenanted, {std::make_shared<const Row>(Row{Value::Text("k"), Value::Int(i)})});
    EXPECT_EQ(Drain(*fast).size(), 1u) << i;  // the other one is not held back
  }
  auto events = Drain(*slow);
  // Dropped at the 4th change (reset to its id), the 5th..7th queued, dropped at the 8th, and
  // the 9th and 10th queued: a reset to the 8th, then 9 and 10.
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].name, "reset");
  EXPECT_EQ(events[0].id, kFirstId + 7);
  EXPECT_EQ(Field(events[1].data, "n"), "8");
  EXPECT_EQ(Field(events[2].data, "n"), "9");
}

TEST_F(SubscriptionsTest, TheSubscriberLimitAndShutdown) {
  Make(SubscriptionLimits{.max_subscribers = 2});
  auto a = Subscribe(kUntenanted, std::nullopt);
  auto b = Subscribe(kByOrg, "o1");
  auto c = hub_->Subscribe(kByOrg, {}, "o2", std::nullopt);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  b->Cancel();
  EXPECT_TRUE(hub_->Subscribe(kByOrg, {}, "o2", std::nullopt).ok());
  hub_->Shutdown();
  bool more = true;
  Drain(*a, &more);
  EXPECT_FALSE(more);
  EXPECT_EQ(hub_->Subscribe(kByOrg, {}, "o2", std::nullopt).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sv::server
