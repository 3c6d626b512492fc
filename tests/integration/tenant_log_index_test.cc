// The embedded log's organization index on each store (engine/tenant_log_index.cc): a tenant
// rebuild folds only the records of the organization's keys — counted against the generated
// events, never against the store — and repairs exactly what a fold of the whole log would;
// the index catches up incrementally; a log breaking the index's rules (an event id reused by
// another key) is read whole. The oracle follows the generated events in plain maps.

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/config.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "store_backends.h"

namespace sv::store {
namespace {

// Created events name the organization; moves do not; a transfer names the new one (and sets
// the tenant column from it). Some keys are moved before they are created.
constexpr char kViews[] = R"(
engine: {batch_events: 37, commit_delay_us: 0}
sources:
  s:
    kind: log
    key: id
    organization: org
    event_types: [created, moved, transferred]
views:
  shipments:
    source: s
    key: [id]
    tenant: org
    columns: {id: text, org: text, status: text, updates: {type: integer, default: 0}}
    on:
      created: {set: {id: e.id, org: e.org, status: e.status, updates: updates + 1}}
      moved: {set: {id: e.id, status: e.status, updates: updates + 1}}
      transferred: {set: {id: e.id, org: e.org, updates: updates + 1}}
derived_views:
  by_status:
    tenant: org
    sql: "CREATE VIEW by_status AS SELECT org, status, count(*) AS n FROM shipments GROUP BY org, status"
)";

struct Shipment {
  std::string org, status;
  int64_t updates = 0;
  std::set<std::string> orgs_named;  // every organization a record of its key named
  int64_t records = 0;
  bool operator==(const Shipment& o) const {
    return std::tie(org, status, updates) == std::tie(o.org, o.status, o.updates);
  }
  friend void PrintTo(const Shipment& s, std::ostream* os) {
    *os << s.org << "/" << s.status << "/" << s.updates;
  }
};
using Oracle = std::map<std::string, Shipment>;

class TenantLogIndexTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    OpenEngine(kViews);
  }
  void OpenEngine(const std::string& views) {
    engine_.reset();
    auto config = config::ParseConfig(StoreYaml() + views, "views.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    engine::EngineOptions options;
    options.store_path = options_.path;
    auto engine = engine::Engine::Open(*config, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    engine_.reset();
    BackendTest::TearDown();
  }

  void Append(const std::vector<std::string>& lines) {
    std::istringstream in(absl::StrCat(absl::StrJoin(lines, "\n"), "\n"));
    ASSERT_TRUE(engine::IngestLines(engine_->catalog().sources[0], engine_->store(), in).ok());
    bool idle = false;
    while (!idle) ASSERT_TRUE(engine_->RunOnce(&idle).ok());
    ASSERT_TRUE(engine_->Sync().ok());
  }

  // `creates` new shipments over 5 organizations (one in ten moved before it is created), then
  // `moves` moves and `transfers` transfers of existing ones; `oracle` follows.
  std::vector<std::string> Events(int creates, int moves, int transfers, Oracle* oracle) {
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); };
    const char* statuses[] = {"booked", "picked", "late"};
    std::vector<std::string> lines;
    auto line = [&](const std::string& type, const std::string& id, const std::string& field,
                    const std::string& value) {
      ++(*oracle)[id].records;
      lines.push_back(absl::StrCat(R"({"type":")", type, R"(","id":")", id, R"(",")", field,
                                   R"(":")", value, R"("})"));
    };
    for (int i = 0; i < creates; ++i) {
      const std::string id = absl::StrCat("s", next_id_++);
      const std::string org = absl::StrCat("o", pick(5));
      Shipment& s = (*oracle)[id];
      if (i % 10 == 0) {
        line("moved", id, "status", "early");  // a row with no organization yet
        s.updates = 1;
      }
      s.status = statuses[pick(3)];
      s.org = org;
      s.orgs_named.insert(org);
      ++s.updates;
      line("created", id, "status", s.status);
      lines.back().insert(lines.back().size() - 1, absl::StrCat(R"(,"org":")", org, "\""));
    }
    auto any = [&]() {
      auto it = oracle->begin();
      std::advance(it, pick(static_cast<int>(oracle->size())));
      return it;
    };
    for (int i = 0; i < moves; ++i) {
      auto it = any();
      it->second.status = statuses[pick(3)];
      ++it->second.updates;
      line("moved", it->first, "status", it->second.status);
    }
    for (int i = 0; i < transfers; ++i) {
      auto it = any();
      it->second.org = absl::StrCat("o", pick(5));
      it->second.orgs_named.insert(it->second.org);
      ++it->second.updates;
      line("transferred", it->first, "org", it->second.org);
    }
    return lines;
  }

  // The records a fold of `org`'s keys reads: those of every key a record named it for.
  static int64_t RecordsOfKeysOf(const Oracle& oracle, const std::string& org) {
    int64_t n = 0;
    for (const auto& [id, s] : oracle) n += s.orgs_named.contains(org) ? s.records : 0;
    return n;
  }

  TableSpec Table() {
    auto versions = engine_->store()->ListViewVersions();
    EXPECT_TRUE(versions.ok());
    TableSpec table = engine::TableFor(engine_->catalog().views[0], 1);
    for (const ViewVersion& v : *versions) {
      if (v.view == "shipments" && v.active) table.name = v.table;
    }
    return table;
  }

  Oracle Stored() {
    Oracle out;
    EXPECT_TRUE(engine_->store()
                    ->ScanTable(Table(),
                                [&](const Row& r) {
                                  Shipment& s = out[r[0].as_text()];
                                  s.org = r[1].is_null() ? "" : r[1].as_text();
                                  s.status = r[2].as_text();
                                  s.updates = r[3].as_int();
                                })
                    .ok());
    return out;
  }

  // Drift behind the engine's back: a changed row, a deleted one and a ghost in `org`.
  // Rows in `untouched` only, when given.
  void Drift(const Oracle& oracle, const std::string& org, const Oracle* untouched = nullptr) {
    auto batch = engine_->store()->BeginBatch();
    const TableSpec table = Table();
    int n = 0;
    for (const auto& [id, s] : oracle) {
      if (s.org != org || (untouched != nullptr && untouched->at(id).records != s.records)) {
        continue;
      }
      if (n == 0) {
        Row row{Value::Text(id), Value::Text(org), Value::Text("lost"), Value::Int(99)};
        ASSERT_TRUE(batch->UpsertRows(table, {&row}).ok());
      } else {
        ASSERT_TRUE(batch->Delete(table, {Value::Text(id)}).ok());
      }
      if (++n == 2) break;
    }
    Row ghost{Value::Text("ghost-" + org), Value::Text(org), Value::Text("booked"), Value::Int(1)};
    ASSERT_TRUE(batch->UpsertRows(table, {&ghost}).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }

  std::mt19937 rng_{17};
  int next_id_ = 0;
  std::unique_ptr<engine::Engine> engine_;
};
SV_INSTANTIATE_STORE_BACKENDS_AND_MEMORY(TenantLogIndexTest);

TEST_P(TenantLogIndexTest, FoldsOnlyTheOrganizationsKeysAndRepairsAsTheWholeLogWould) {
  Oracle oracle;
  Append(Events(400, 300, 60, &oracle));
  ASSERT_EQ(Stored(), oracle);
  Drift(oracle, "o1");
  auto stats = engine_->RebuildTenant({{"shipments"}, Value::Text("o1")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  const int64_t all = 400 + 400 / 10 + 300 + 60;
  EXPECT_EQ(stats->events, RecordsOfKeysOf(oracle, "o1"));
  EXPECT_LT(stats->events, all / 3) << "about a fifth of the log";
  EXPECT_EQ(stats->rows_written, 3) << "the changed, the deleted and the ghost row";
  EXPECT_EQ(Stored(), oracle);

  // More records: the index catches up from its mark, and a transfer's new organization has
  // the key's every record.
  Append(Events(200, 300, 80, &oracle));
  Drift(oracle, "o2");
  stats = engine_->RebuildTenant({{"shipments"}, Value::Text("o2")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, RecordsOfKeysOf(oracle, "o2"));
  EXPECT_EQ(stats->rows_written, 3);
  EXPECT_EQ(Stored(), oracle);
  auto mark = engine_->store()->GetLogOrgIndexMark();
  ASSERT_TRUE(mark.ok()) << mark.status();
  EXPECT_EQ(mark->field, "org");
  EXPECT_EQ(mark->through, engine_->store()->LogEnd().value());

  // An organization nobody named: nothing folded, nothing written.
  stats = engine_->RebuildTenant({{"shipments"}, Value::Text("o-none")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 0);
  EXPECT_EQ(stats->rows_written, 0);
}

// A verify of one organization folds only its keys' records when no derived view is compared
// (a derived view is computed from every organization's rows: then the whole log), names that
// organization's drifting keys and repairs them.
TEST_P(TenantLogIndexTest, AVerifyOfOneOrganizationFoldsItsKeysOnly) {
  Oracle oracle;
  Append(Events(400, 300, 60, &oracle));
  const int64_t all = 400 + 400 / 10 + 300 + 60;
  engine::VerifyRequest request;
  request.tenant = Value::Text("o1");
  auto report = engine_->Verify(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->events, all) << "by_status is compared: the whole log";
  EXPECT_FALSE(report->Drifted());

  const std::string views(kViews);
  ASSERT_NO_FATAL_FAILURE(OpenEngine(views.substr(0, views.find("derived_views:"))));
  Drift(oracle, "o1");
  report = engine_->Verify(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->events, RecordsOfKeysOf(oracle, "o1"));
  ASSERT_EQ(report->views.size(), 1u);
  const engine::ViewDrift& drift = report->views[0];
  EXPECT_EQ(drift.missing, 1);
  EXPECT_EQ(drift.differing, 1);
  ASSERT_EQ(drift.extra_keys, std::vector<std::string>{"ghost-o1"});
  request.repair = true;
  report = engine_->Verify(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->views[0].repaired, 3);
  EXPECT_EQ(Stored(), oracle);
  request.repair = false;
  report = engine_->Verify(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->Drifted());
}

// Beside the running loop: the loop applies records of every organization while the job
// exists, which its tail replays. A key that joins the organization there (a new one, or one
// transferred into it) is folded from its whole history first; the others' records are left.
TEST_P(TenantLogIndexTest, KeysJoiningTheOrganizationDuringTheFoldAreFoldedWhole) {
  Oracle oracle;
  Append(Events(300, 300, 40, &oracle));
  const Oracle before = oracle;
  const std::vector<std::string> tail = Events(60, 200, 120, &oracle);
  Drift(before, "o1", &oracle);  // rows the tail leaves alone: the live loop keeps their drift
  std::optional<absl::StatusOr<engine::RebuildStats>> outcome;
  ASSERT_TRUE(
      engine_
          ->StartTenantRebuild({{"shipments"}, Value::Text("o1")},
                               [&](const absl::StatusOr<engine::RebuildStats>& s) { outcome = s; })
          .ok());
  // Polled while the job exists (the swap happens only in Run): the job's tail.
  Append(tail);
  int joined_by_transfer = 0;
  for (const auto& [id, s] : before) {
    joined_by_transfer += !s.orgs_named.contains("o1") && oracle[id].orgs_named.contains("o1");
  }
  ASSERT_GT(joined_by_transfer, 0) << "the tail moves some older key into o1";
  std::atomic<bool> stop{false};
  for (int guard = 0; guard < 1'000 && !outcome.has_value(); ++guard) {
    ASSERT_TRUE(engine_->Run(stop, /*exit_when_caught_up=*/true).ok());
  }
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(outcome->ok()) << outcome->status();
  EXPECT_EQ((*outcome)->events, RecordsOfKeysOf(oracle, "o1"));
  EXPECT_EQ((*outcome)->rows_written, 3);
  EXPECT_EQ(Stored(), oracle);
}

// Beside an engine with its sources started, a thread keeps the index up to the log's end
// without any rebuild, so that the first rebuild reads only its organization too.
TEST_P(TenantLogIndexTest, TheIndexIsKeptCurrentBesideTheEngine) {
  Oracle oracle;
  Append(Events(200, 100, 20, &oracle));
  for (int round = 0; round < 2; ++round) {
    const int64_t end = engine_->store()->LogEnd().value();
    bool current = false;
    // A condition polled against a generous deadline: the keeper looks every second.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (!current && std::chrono::steady_clock::now() < deadline) {
      auto mark = engine_->store()->GetLogOrgIndexMark();
      ASSERT_TRUE(mark.ok()) << mark.status();
      current = mark->field == "org" && mark->through == end;
      if (!current) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(current) << "the index's mark never reached the log's end, " << end;
    std::set<std::string> o3_keys;
    auto positions = engine_->store()->LogPositionsOfOrganization("o3", end);
    ASSERT_TRUE(positions.ok()) << positions.status();
    std::vector<LogRecord> records;
    ASSERT_TRUE(engine_->store()->ReadLogAt(*positions, &records).ok());
    for (const LogRecord& r : records) o3_keys.insert(r.key);
    std::set<std::string> expected;
    for (const auto& [id, s] : oracle) {
      if (s.orgs_named.contains("o3")) expected.insert(id);
    }
    EXPECT_EQ(o3_keys, expected);
    Append(Events(50, 50, 30, &oracle));  // and again for the records appended since
  }
}

TEST_P(TenantLogIndexTest, ALogReusingAnEventIdUnderAnotherKeyIsReadWhole) {
  Oracle oracle;
  std::vector<std::string> lines = Events(100, 50, 0, &oracle);
  // The same event id under two keys: the whole log's fold drops the second record as a
  // duplicate, which a fold of its key alone would apply.
  lines.push_back(
      R"({"type":"created","id":"twin-a","org":"o1","status":"booked","eventId":"e1"})");
  lines.push_back(
      R"({"type":"created","id":"twin-b","org":"o2","status":"booked","eventId":"e1"})");
  oracle["twin-a"] = {"o1", "booked", 1, {"o1"}, 1};
  Append(lines);
  // The live loop drops twin-b only when both land in one lane (each lane dedups its own keys);
  // the whole log's fold, on one processor, always does, and the rebuild makes the view so.
  auto stats = engine_->RebuildTenant({{"shipments"}, Value::Text("o2")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, static_cast<int64_t>(lines.size())) << "the whole log";
  EXPECT_LE(stats->rows_written, 1);
  EXPECT_EQ(Stored(), oracle) << "twin-b is dropped as a duplicate";
  auto mark = engine_->store()->GetLogOrgIndexMark();
  ASSERT_TRUE(mark.ok()) << mark.status();
  EXPECT_EQ(mark->through, -static_cast<int64_t>(lines.size())) << "where the rule broke";
  stats = engine_->RebuildTenant({{"shipments"}, Value::Text("o1")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, static_cast<int64_t>(lines.size())) << "read whole from then on";
}

// The store calls themselves: pairs added twice are one, a restart drops the old ones, records
// are read by position up to a bound, and a position not written is an error.
TEST_P(TenantLogIndexTest, TheIndexCallsOfTheStore) {
  engine_.reset();  // its index keeper would index these records too
  std::unique_ptr<Store> writer = OpenAs(StoreRole::kWriter);
  ASSERT_NE(writer, nullptr);
  Store* store = writer.get();
  std::vector<LogRecord> records(6);
  for (int i = 0; i < 6; ++i) {
    records[i].key = absl::StrCat("k", i % 3);
    records[i].raw = absl::StrCat("{\"n\":", i, "}");
  }
  ASSERT_TRUE(store->AppendLog(&records).ok());
  ASSERT_TRUE(
      store->AddToLogOrgIndex({"org", 6}, false, {{"a", "k0"}, {"a", "k0"}, {"b", "k1"}}).ok());
  ASSERT_TRUE(store->AddToLogOrgIndex({"org", 6}, false, {{"a", "k2"}}).ok());
  EXPECT_EQ(store->LogPositionsOfOrganization("a", 6).value(), (std::vector<int64_t>{1, 3, 4, 6}));
  EXPECT_EQ(store->LogPositionsOfOrganization("a", 4).value(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(store->LogPositionsOfOrganization("b", 6).value(), (std::vector<int64_t>{2, 5}));
  std::vector<LogRecord> read;
  ASSERT_TRUE(store->ReadLogAt({2, 5, 6}, &read).ok());
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[1].position, 5);
  EXPECT_EQ(read[1].key, "k1");
  EXPECT_EQ(read[1].raw, "{\"n\":4}");
  EXPECT_EQ(read[2].raw, "{\"n\":5}");
  EXPECT_FALSE(store->ReadLogAt({2, 7}, &read).ok()) << "position 7 was never written";
  ASSERT_TRUE(store->AddToLogOrgIndex({"tenant", 3}, true, {{"b", "k0"}}).ok());
  EXPECT_TRUE(store->LogPositionsOfOrganization("a", 6).value().empty()) << "restarted";
  EXPECT_EQ(store->LogPositionsOfOrganization("b", 6).value(), (std::vector<int64_t>{1, 4}));
  auto mark = store->GetLogOrgIndexMark();
  ASSERT_TRUE(mark.ok());
  EXPECT_EQ(mark->field, "tenant");
  EXPECT_EQ(mark->through, 3);
}

}  // namespace
}  // namespace sv::store
