// A tenant rebuild on the memory store: one organization's rows made again from the log and
// swapped in, derived groups following; rows of other organizations left exactly as they are
// (a row corrupted there stays corrupted); events the loop applies while the fold runs are
// replayed into it before the swap; bad requests refused naming the view.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "config/config.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "memory_engine_fixture.h"
#include "projection/projection.h"
#include "store/open.h"
#include "store/store.h"

namespace sv::engine {
namespace {

constexpr char kConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    type: type
    event_types: [created, moved]
engine: {batch_events: 23, commit_delay_us: 0}
views:
  shipments:
    source: s
    key: [id]
    tenant: org
    columns: {id: text, org: text, status: text, updates: {type: integer, default: 0}}
    on:
      created:
        set: {id: e.id, org: e.org, status: e.status, updates: updates + 1}
      moved:
        set: {id: e.id, status: e.status, updates: updates + 1}
  plain:
    source: s
    key: [id]
    columns: {id: text}
    on:
      created:
        set: {id: e.id}
derived_views:
  by_status:
    tenant: org
    sql: "CREATE VIEW by_status AS SELECT org, status, count(*) AS n, sum(updates) AS total FROM shipments GROUP BY org, status"
)";

using Rows = std::map<std::string, std::tuple<std::string, std::string, int64_t>>;
using Groups = std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>>;

// Events of 5 organizations; `rows` follows them (the oracle).
std::vector<std::string> Events(std::mt19937& rng, Rows* rows, int creates, int moves) {
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const char* statuses[] = {"booked", "picked", "late"};
  std::vector<std::string> lines;
  for (int i = 0; i < creates; ++i) {
    const std::string id = absl::StrCat("s", rows->size());
    const std::string org = absl::StrCat("o", pick(5));
    const std::string status = statuses[pick(3)];
    (*rows)[id] = {org, status, 1};
    lines.push_back(absl::StrCat(R"({"type":"created","id":")", id, R"(","org":")", org,
                                 R"(","status":")", status, R"("})"));
  }
  for (int i = 0; i < moves; ++i) {
    auto it = rows->begin();
    std::advance(it, pick(static_cast<int>(rows->size())));
    const std::string status = statuses[pick(3)];
    std::get<1>(it->second) = status;
    ++std::get<2>(it->second);
    lines.push_back(
        absl::StrCat(R"({"type":"moved","id":")", it->first, R"(","status":")", status, R"("})"));
  }
  return lines;
}

class TenantRebuildTest : public MemoryEngineTest {
 protected:
  std::unique_ptr<Engine> OpenEngine() { return OpenEngineWith(kConfig); }

  static void RunUntilIdle(Engine& engine) {
    ASSERT_TRUE(MemoryEngineTest::RunUntilIdle(engine).ok());
  }

  store::TableSpec Named(const Engine& engine, int view, const std::string& name) {
    store::TableSpec table = TableFor(engine.catalog().views[view], 1);
    table.name = name;
    return table;
  }

  // Every row of the view `view` (by its name), handed to `each`.
  void Scan(const Engine& engine, int view, const std::function<void(const Row&)>& each) {
    store::TableSpec table = TableFor(engine.catalog().views[view], 1);
    table.name = engine.catalog().views[view].name;
    EXPECT_TRUE(keeper_->ScanTable(table, each).ok());
  }

  Rows Stored(const Engine& engine) {
    Rows out;
    Scan(engine, 0, [&](const Row& r) {
      out[r[0].as_text()] = {r[1].as_text(), r[2].as_text(), r[3].as_int()};
    });
    return out;
  }

  Groups StoredGroups(const Engine& engine) {
    Groups out;
    Scan(engine, 2, [&](const Row& r) {
      out[{r[0].as_text(), r[1].as_text()}] = {r[2].as_int(), r[3].as_int()};
    });
    return out;
  }

  static Groups GroupsOf(const Rows& rows) {
    Groups out;
    for (const auto& [id, row] : rows) {
      auto& [n, total] = out[{std::get<0>(row), std::get<1>(row)}];
      ++n;
      total += std::get<2>(row);
    }
    return out;
  }

  // Writes `row` into the view's table, behind the engine's back (`erase`: deletes its key).
  void Tamper(const Engine& engine, Row row, bool erase = false) {
    auto batch = keeper_->BeginBatch();
    const store::TableSpec table = TableFor(engine.catalog().views[0], 1);
    if (erase) {
      ASSERT_TRUE(batch->Delete(table, {row[0]}).ok());
    } else {
      ASSERT_TRUE(batch->UpsertRows(table, {&row}).ok());
    }
    ASSERT_TRUE(batch->Commit().ok());
  }
};

TEST_F(TenantRebuildTest, RebuildsOneOrganizationAndLeavesTheOthers) {
  std::mt19937 rng(7);
  Rows oracle;
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    Ingest(*engine, Events(rng, &oracle, 200, 400));
    RunUntilIdle(*engine);
    ASSERT_EQ(Stored(*engine), oracle);
    // Drift in o1 (changed, deleted, a ghost) and in o3, which the rebuild of o1 must not touch.
    std::string o1_first, o1_second;
    for (const auto& [id, row] : oracle) {
      if (std::get<0>(row) != "o1") continue;
      (o1_first.empty() ? o1_first : o1_second) = id;
      if (!o1_second.empty()) break;
    }
    Tamper(*engine,
           {Value::Text(o1_first), Value::Text("o1"), Value::Text("lost"), Value::Int(99)});
    Tamper(*engine, {Value::Text(o1_second)}, /*erase=*/true);
    Tamper(*engine,
           {Value::Text("ghost"), Value::Text("o1"), Value::Text("booked"), Value::Int(5)});
    for (const auto& [id, row] : oracle) {
      if (std::get<0>(row) != "o3") continue;
      Tamper(*engine, {Value::Text(id), Value::Text("o3"), Value::Text("lost"), Value::Int(42)});
      break;
    }
  }
  auto engine = OpenEngine();  // derived state loaded from the drifted rows
  ASSERT_NE(engine, nullptr);
  auto stats = engine->RebuildTenant({{"shipments"}, Value::Text("o1")});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->rows_written, 3) << "only the three drifted rows of o1 are written";
  const Rows stored = Stored(*engine);
  int o3_drifted = 0;
  for (const auto& [id, row] : oracle) {
    auto it = stored.find(id);
    ASSERT_NE(it, stored.end()) << id;
    if (std::get<0>(row) == "o3" && it->second != row) {
      ++o3_drifted;
      EXPECT_EQ(std::get<1>(it->second), "lost");
      continue;
    }
    EXPECT_EQ(it->second, row) << id;
  }
  EXPECT_EQ(o3_drifted, 1) << "another organization's rows are not rewritten";
  EXPECT_FALSE(stored.contains("ghost"));
  // o1's groups follow its repaired rows; o3's were never told of its drift (made behind the
  // engine's back) and are not rewritten: all equal the oracle's.
  EXPECT_EQ(StoredGroups(*engine), GroupsOf(oracle));
}

TEST_F(TenantRebuildTest, EventsAppliedDuringTheFoldAreReplayedBeforeTheSwap) {
  std::mt19937 rng(11);
  Rows oracle;
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, Events(rng, &oracle, 150, 300));
  RunUntilIdle(*engine);
  std::optional<absl::StatusOr<RebuildStats>> outcome;
  ASSERT_TRUE(engine
                  ->StartTenantRebuild({{"shipments"}, Value::Text("o2")},
                                       [&](const absl::StatusOr<RebuildStats>& s) { outcome = s; })
                  .ok());
  // Applied by the loop while the job exists: the swap happens only in Run, so these are the
  // job's tail whatever the fold thread's pace.
  const std::vector<std::string> more = Events(rng, &oracle, 40, 200);
  Ingest(*engine, more);
  RunUntilIdle(*engine);
  std::atomic<bool> stop{false};
  for (int guard = 0; guard < 1'000 && !outcome.has_value(); ++guard) {
    ASSERT_TRUE(engine->Run(stop, /*exit_when_caught_up=*/true).ok());
  }
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(outcome->ok()) << outcome->status();
  EXPECT_EQ((*outcome)->events, 150 + 300 + 40 + 200);
  EXPECT_EQ((*outcome)->rows_written, 0) << "nothing had drifted";
  EXPECT_EQ(Stored(*engine), oracle);
  EXPECT_EQ(StoredGroups(*engine), GroupsOf(oracle));
}

TEST_F(TenantRebuildTest, RefusalsNameTheView) {
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  for (const auto& [view, says] : std::vector<std::pair<std::string, std::string>>{
           {"plain", "'plain' declares no tenant column"},
           {"by_status", "'by_status' is derived"},
           {"nosuch", "no view named 'nosuch'"}}) {
    auto stats = engine->RebuildTenant({{view}, Value::Text("o1")});
    ASSERT_FALSE(stats.ok()) << view;
    EXPECT_NE(stats.status().message().find(says), std::string::npos) << stats.status();
  }
}

// A change feed's tenant snapshot reads a table for the organization only where each row of the
// rebuilt views is one row of it carrying its organization; a table feeding none of them is not
// read; any doubt reads it whole.
TEST(TenantSnapshotFilterTest, FiltersOnlyTablesWhoseRowsAreTheViewsRows) {
  const std::string config = R"(
store: {kind: memory}
sources:
  shop: {kind: postgres_changes, dsn: "host=nowhere", tables: [ships, carriers, legs, notes]}
views:
  ship_list:
    source: shop
    key: [id]
    tenant: org
    columns: {id: integer, org: text, n: integer}
    on:
      "*": {set: {id: e.id}}
      ships.insert: {set: {org: e.org_id, n: e.n}}
      ships.update: {set: {org: e.org_id, n: "coalesce(n, 0) + 1"}}
      ships.delete: {delete: true}
  leg_list:
    source: shop
    key: [id]
    tenant: org
    columns: {id: integer, org: text}
    on:
      "*": {set: {id: e.id}}
      legs.insert: {set: {org: e.org_id}}
      legs.update: {set: {org: lower(e.org_id)}}
      legs.delete: {delete: true}
      notes.insert: {set: {id: e.leg, org: e.org_id}}
  carrier_list:
    source: shop
    key: [id]
    columns: {id: text}
    on:
      carriers.insert: {set: {id: e.id}}
)";
  absl::StatusOr<config::Config> parsed = config::ParseConfig(config, "t.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<std::unique_ptr<projection::Catalog>> catalog = projection::Compile(*parsed);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const projection::Catalog& c = **catalog;
  source::SnapshotFilter ships =
      TenantSnapshotFilter(c, 0, {c.FindView("ship_list")}, Value::Text("o-3"));
  EXPECT_EQ(ships.value, "o-3");
  ASSERT_EQ(ships.tables.size(), 1u);
  EXPECT_EQ(ships.tables.at("ships").column, "org_id");
  EXPECT_EQ(ships.tables.at("ships").key_fields, std::vector<std::string>{"id"});
  EXPECT_EQ(ships.skipped, (std::vector<std::string>{"carriers", "legs", "notes"}))
      << "tables feeding none of the rebuilt views";
  // leg_list: fed by two tables, its tenant computed by an update: legs and notes read whole.
  source::SnapshotFilter legs = TenantSnapshotFilter(
      c, 0, {c.FindView("ship_list"), c.FindView("leg_list")}, Value::Text("o-3"));
  EXPECT_EQ(legs.tables.size(), 1u);
  EXPECT_EQ(legs.tables.count("ships"), 1u);
  EXPECT_EQ(legs.skipped, std::vector<std::string>{"carriers"});
  EXPECT_TRUE(TenantSnapshotFilter(c, 0, {c.FindView("ship_list")}, Value()).empty())
      << "no organization: everything";
}

// The embedded log is read by its organization index only where a fold of the organization's
// keys makes the same rows of it as the whole log: each reason it would not is named.
TEST(LogOrgIndexProblemTest, NamesWhyAFoldOfTheOrganizationsKeysWouldNotDo) {
  const std::string base = R"(
store: {kind: memory}
sources:
  s: {kind: log, key: id, organization: org, event_types: [created, moved]}
views:
  ok:
    source: s
    key: [id]
    tenant: org
    columns: {id: text, org: text, status: text}
    on:
      created: {set: {id: e.id, org: e.org, status: e.status}}
      moved: {set: {id: e.id, status: e.status}}
)";
  auto problem = [&](const std::string& extra, const std::string& view = "ok") {
    absl::StatusOr<config::Config> parsed = config::ParseConfig(base + extra, "t.yaml");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return std::string("unparsed");
    absl::StatusOr<std::unique_ptr<projection::Catalog>> catalog = projection::Compile(*parsed);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    if (!catalog.ok()) return std::string("uncompiled");
    return LogOrgIndexProblem(**catalog, 0, {(*catalog)->FindView(view)});
  };
  EXPECT_EQ(problem(""), "");
  EXPECT_EQ(problem(R"(
  computed:
    source: s
    key: [id]
    tenant: org
    columns: {id: text, org: text}
    on:
      created: {set: {id: e.id, org: lower(e.org)}}
)",
                    "computed"),
            "a handler of view computed sets its tenant column from another expression than e.org");
  EXPECT_EQ(problem(R"(
  defaulted:
    source: s
    key: [id]
    tenant: org
    columns: {id: text, org: {type: text, default: "'o1'"}}
    on:
      moved: {set: {id: e.id}}
)",
                    "defaulted"),
            "the tenant column of view defaulted has a default");
  // A view of the same source whose rows several keys write: folding some keys breaks it.
  EXPECT_EQ(problem(R"(
  per_status:
    source: s
    key: [status]
    columns: {status: text, n: {type: integer, default: 0}}
    on:
      created: {set: {status: e.status, n: n + 1}}
)"),
            "view per_status has rows that more than one key writes");
  absl::StatusOr<config::Config> parsed = config::ParseConfig(
      absl::StrReplaceAll(base, {{"key: id, organization: org,", "key: id,"}}), "t.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto catalog = projection::Compile(*parsed);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(LogOrgIndexProblem(**catalog, 0, {0}), "source s declares no organization:");
  // Only a log source takes it.
  absl::StatusOr<config::Config> kafka = config::ParseConfig(
      absl::StrReplaceAll(base,
                          {{"kind: log,", "kind: kafka, brokers: b, topics: [t], group_id: g,"}}),
      "t.yaml");
  ASSERT_FALSE(kafka.ok());
  EXPECT_NE(kafka.status().message().find("t.yaml:4"), std::string::npos) << kafka.status();
  EXPECT_NE(kafka.status().message().find("'organization' of source 's' needs kind: log"),
            std::string::npos)
      << kafka.status();
}

}  // namespace
}  // namespace sv::engine
