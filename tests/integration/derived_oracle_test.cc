// Derived views against the store itself: random workloads (inserts, updates that move rows
// between groups and join partners, deletes, duplicate and late events) go through the real
// engine into SQLite and PostgreSQL, and after every batch each derived view's table must equal
// the view's own SELECT run by the store over the base tables (sql::StoreSelect: the
// independent full computation that the `refresh` mode uses too).

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/monitor.h"
#include "sql/deparse.h"
#include "store_backends.h"

namespace sv::store {
namespace {

constexpr char kViews[] = R"(
sources:
  s:
    key: id
    sequence:
      field: seq
    event_types: [Ship, ShipGone, Carrier, CarrierGone]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      carrier: text
      status: text
      weight: numeric
      cost: integer
      created: timestamp
      transit: numeric
    on:
      "*":
        set:
          id: e.id
      Ship:
        set:
          org: e.org
          carrier: e.carrier
          status: e.status
          weight: e.weight
          cost: e.cost
          created: e.created
          transit: e.transit
      ShipGone:
        delete: true
  carriers:
    source: s
    key: [cid]
    columns:
      cid: text
      name: text
      country: text
    on:
      "*":
        set:
          cid: e.id
      Carrier:
        set:
          name: e.name
          country: e.country
      CarrierGone:
        delete: true
derived_views:
  by_status:
    sql: |
      CREATE VIEW by_status AS
      SELECT org, status, count(*) AS n, count(carrier) AS with_carrier,
             count(DISTINCT carrier) AS carriers, sum(cost) AS cost, sum(weight) AS weight,
             avg(cost) AS avg_cost, min(weight) AS lo, max(created) AS last_created,
             count(*) FILTER (WHERE weight > 5) AS heavy,
             sum(cost) FILTER (WHERE status IN ('Late', 'Lost')) AS bad_cost,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY transit) AS p95,
             percentile_disc(0.5) WITHIN GROUP (ORDER BY cost) AS median_cost,
             sum(CASE WHEN transit > 3 THEN 1 ELSE 0 END) AS slow
      FROM shipments GROUP BY org, status
  by_day:
    sql: |
      CREATE VIEW by_day AS
      SELECT org, date_trunc('day', created) AS day, to_char(created, 'YYYY-MM') AS month,
             extract(dow FROM created) AS dow, count(*) AS n, max(transit) AS slowest
      FROM shipments WHERE status <> 'Draft' GROUP BY 1, 2, 3, 4
  shipment_list:
    sql: |
      CREATE VIEW shipment_list AS
      SELECT s.id, s.org, s.status, c.name AS carrier_name, c.country
      FROM shipments s LEFT JOIN carriers c ON s.carrier = c.cid
  by_country:
    sql: |
      CREATE VIEW by_country AS
      SELECT c.country, s.org, count(*) AS n, sum(s.cost) AS cost
      FROM shipments s JOIN carriers c ON s.carrier = c.cid GROUP BY c.country, s.org
  list_by_country:
    sql: |
      CREATE VIEW list_by_country AS
      SELECT coalesce(country, '-') AS country, count(*) AS n, count(DISTINCT org) AS orgs
      FROM shipment_list GROUP BY 1
)";

// Random events with per-key sequences; some lines repeated, some delivered late.
class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}
  std::string Chunk(int events) {
    std::vector<std::string> lines;
    for (int i = 0; i < events; ++i) lines.push_back(Event());
    // Late events: swap neighbours (a sequence gap the gate stashes until it fills).
    for (size_t i = 1; i < lines.size(); ++i) {
      if (Pick(12) == 0) std::swap(lines[i - 1], lines[i]);
    }
    std::string out;
    for (const std::string& line : lines) {
      out += line + "\n";
      if (Pick(15) == 0) out += line + "\n";  // a duplicate
    }
    return out;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  std::string Event() {
    const int kind = Pick(20);
    if (kind < 3) {
      const std::string id = absl::StrCat("c", Pick(6));
      if (kind == 0 && Pick(3) == 0) return Line("CarrierGone", id, "");
      static const char* kCountries[] = {"DE", "PL", "FR"};
      return Line("Carrier", id,
                  absl::StrFormat(R"("name":"N%d","country":"%s")", Pick(4), kCountries[Pick(3)]));
    }
    const std::string id = absl::StrCat("s", Pick(80));
    if (kind < 5) return Line("ShipGone", id, "");
    static const char* kStatus[] = {"Draft", "Confirmed", "Late", "Lost", "Delivered"};
    const std::string carrier = Pick(8) == 0 ? "null" : absl::StrCat("\"c", Pick(7), "\"");
    const std::string transit = Pick(4) == 0 ? "null" : absl::StrFormat("%.2f", Pick(1000) / 100.0);
    return Line("Ship", id,
                absl::StrFormat(R"("org":"o%d","carrier":%s,"status":"%s","weight":%.1f,)"
                                R"("cost":%d,"created":"2026-03-%02dT%02d:15:00Z","transit":%s)",
                                Pick(3), carrier, kStatus[Pick(5)], Pick(100) / 10.0, Pick(500),
                                1 + Pick(9), Pick(24), transit));
  }
  std::string Line(const std::string& type, const std::string& id, const std::string& fields) {
    const int seq = ++seq_[id];
    return absl::StrCat(R"({"type":")", type, R"(","id":")", id, R"(","seq":)", seq,
                        fields.empty() ? "" : ",", fields, "}");
  }
  std::mt19937_64 rng_;
  std::map<std::string, int> seq_;
};

std::string Render(const Row& row) {
  std::string out;
  for (const Value& v : row) {
    if (v.type() == Type::kReal) {
      // Sums and averages over reals may differ in the last bits between the incremental sum
      // and the store's: compare them at 9 significant digits.
      absl::StrAppend(&out, absl::StrFormat("%.9g", v.as_real()), "|");
    } else {
      absl::StrAppend(&out, v.is_null() ? "NULL" : v.ToString(), "|");
    }
  }
  return out;
}

class DerivedOracleTest : public BackendTest {};
SV_INSTANTIATE_STORE_BACKENDS(DerivedOracleTest);

TEST_P(DerivedOracleTest, EveryBatchEqualsTheStoresOwnSelect) {
  const std::string store_yaml = StoreYaml();
  auto config =
      config::ParseConfig(store_yaml + kViews + "engine:\n  batch_events: 7\n", "oracle.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  engine::EngineOptions eo;
  auto engine = engine::Engine::Open(*config, eo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const sql::SqlDialect dialect =
      postgres() ? sql::SqlDialect::kPostgres : sql::SqlDialect::kSqlite;

  Workload workload(GetParam() == "postgres" ? 7 : 11);
  int checks = 0;
  size_t final_rows = 0;
  for (int chunk = 0; chunk < 40; ++chunk) {
    if (chunk == 20) {
      // A restart: the derived state is computed again from the store and carries on.
      engine->reset();
      engine = engine::Engine::Open(*config, eo);
      ASSERT_TRUE(engine.ok()) << engine.status();
    }
    engine::Engine& e = **engine;
    const projection::Catalog& catalog = e.catalog();
    std::istringstream in(workload.Chunk(25));
    ASSERT_TRUE(engine::IngestLines(catalog.sources[0], e.store(), in).ok());
    // Batches of 7 events: several batches per chunk, each checked.
    for (int batch = 0; batch < 1000; ++batch) {
      bool idle = false;
      absl::Status s = e.RunOnce(&idle);
      ASSERT_TRUE(s.ok()) << s;
      if (idle) break;
      ASSERT_TRUE(e.Sync().ok());  // the batch may still be committing behind the loop
      for (size_t v = 0; v < catalog.views.size(); ++v) {
        const projection::ViewPlan& plan = catalog.views[v];
        if (plan.derived == nullptr) continue;
        TableSpec table = engine::TableFor(plan, 1);
        table.name = plan.name;  // the stable name: the active version
        std::vector<std::string> maintained, computed;
        ASSERT_TRUE(
            e.store()
                ->ScanTable(table, [&](const Row& row) { maintained.push_back(Render(row)); })
                .ok());
        auto select = sql::StoreSelect(plan.derived->sql, dialect);
        ASSERT_TRUE(select.ok()) << select.status();
        absl::Status q = e.store()->QuerySelect(
            *select, table.columns, [&](const Row& row) { computed.push_back(Render(row)); });
        ASSERT_TRUE(q.ok()) << q << "\n" << *select;
        std::sort(maintained.begin(), maintained.end());
        std::sort(computed.begin(), computed.end());
        ASSERT_EQ(maintained, computed)
            << plan.name << " after chunk " << chunk << " batch " << batch << "\n"
            << *select;
        ++checks;
        final_rows += chunk == 39 ? maintained.size() : 0;
      }
    }
  }
  EXPECT_GT(checks, 500);
  EXPECT_GT(final_rows, 20u);  // the views are not trivially empty
}

}  // namespace
}  // namespace sv::store

namespace sv::store {
namespace {

// The refresh mode: the same SELECT recomputed in full by the store on a schedule. Equal to the
// incremental view right after each refresh, stale in between (it really waits for its time).
TEST_P(DerivedOracleTest, RefreshModeRecomputesOnItsSchedule) {
  const std::string store_yaml = StoreYaml();
  std::string views = kViews;
  const std::string select = R"(SELECT org, status, count(*) AS n, sum(cost) AS cost,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY transit) AS median
      FROM shipments GROUP BY org, status)";
  views += "  live:\n    sql: |\n      CREATE VIEW live AS " + select + "\n";
  views += "  nightly:\n    refresh: \"@every 1s\"\n    sql: |\n      CREATE VIEW nightly AS " +
           select + "\n";
  auto config = config::ParseConfig(store_yaml + views, "refresh.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  engine::Monitor monitor;
  engine::EngineOptions options;
  options.monitor = &monitor;
  // The schedule follows the engine's clock: moved by hand, so no wait decides the verdict.
  ManualClock clock(Clock::Real()->NowMicros());
  options.clock = &clock;
  auto engine = engine::Engine::Open(*config, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  auto rows = [&](const std::string& name) {
    const projection::ViewPlan& plan = e.catalog().views[e.catalog().FindView(name)];
    TableSpec table = engine::TableFor(plan, 1);
    table.name = name;
    std::vector<std::string> out;
    EXPECT_TRUE(
        e.store()->ScanTable(table, [&](const Row& row) { out.push_back(Render(row)); }).ok());
    return out;
  };
  auto run = [&] {
    bool idle = false;
    while (!idle) {
      absl::Status s = e.RunOnce(&idle);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(e.Sync().ok());
  };
  Workload workload(3);
  bool seen_stale = false;
  for (int round = 0; round < 3; ++round) {
    std::istringstream in(workload.Chunk(60));
    ASSERT_TRUE(engine::IngestLines(e.catalog().sources[0], e.store(), in).ok());
    run();
    seen_stale |= rows("live") != rows("nightly");
    clock.Advance(1'100'000);
    run();  // idle, but the refresh is due
    ASSERT_FALSE(rows("live").empty());
    ASSERT_EQ(rows("live"), rows("nightly")) << "round " << round;
  }
  EXPECT_TRUE(seen_stale);
  // Each refresh is timed for the streamview_refresh_duration_seconds histogram.
  int refreshes = 0;
  for (const engine::Monitor::Duration& d : monitor.TakeDurations()) {
    EXPECT_EQ(d.job, engine::Monitor::Job::kRefresh);
    EXPECT_EQ(d.view, "nightly");
    EXPECT_GT(d.seconds, 0);
    ++refreshes;
  }
  EXPECT_GE(refreshes, 3);
  // A rebuild of the refreshed view recomputes it into a new version.
  auto stats = e.Rebuild({"nightly"});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(rows("live"), rows("nightly"));
}

}  // namespace
}  // namespace sv::store
