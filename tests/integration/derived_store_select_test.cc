// Derived views the store computes itself (`refresh:` and `streamview verify`), through the real
// engine on SQLite and PostgreSQL: timestamp arithmetic runs in both stores, and a refresh whose
// SELECT fails does not stop ingestion.

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/reconcile.h"
#include "store_backends.h"

namespace sv::store {
namespace {

constexpr char kViews[] = R"(
sources:
  s:
    key: id
    sequence:
      field: seq
    event_types: [Ship]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      cost: integer
      created: timestamp
      delivered: timestamp
    on:
      Ship:
        set:
          id: e.id
          org: e.org
          cost: e.cost
          created: e.created
          delivered: e.delivered
)";

class DerivedStoreSelectTest : public BackendTest {
 protected:
  static void Ingest(engine::Engine& e, const std::string& lines) {
    std::istringstream in(lines);
    ASSERT_TRUE(engine::IngestLines(e.catalog().sources[0], e.store(), in).ok());
  }
  static void RunUntilIdle(engine::Engine& e) {
    bool idle = false;
    while (!idle) {
      absl::Status s = e.RunOnce(&idle);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(e.Sync().ok());
  }
  static int64_t Rows(engine::Engine& e, const std::string& name) {
    const projection::ViewPlan& plan = e.catalog().views[e.catalog().FindView(name)];
    TableSpec table = engine::TableFor(plan, 1);
    table.name = name;
    int64_t n = 0;
    EXPECT_TRUE(e.store()->ScanTable(table, [&](const Row&) { ++n; }).ok());
    return n;
  }
};
SV_INSTANTIATE_STORE_BACKENDS(DerivedStoreSelectTest);

std::string Ship(const std::string& id, int seq, const std::string& org, const std::string& cost,
                 const std::string& delivered_hour) {
  return absl::StrCat(R"({"type":"Ship","id":")", id, R"(","seq":)", seq, R"(,"org":")", org,
                      R"(","cost":)", cost, R"(,"created":"2026-03-04T10:00:00Z",)",
                      R"("delivered":"2026-03-04T)", delivered_hour, R"(:30:00Z"})", "\n");
}

// `delivered - created` is maintained by the engine; the store's own SELECT (verify, refresh)
// must compute the same, where SQLite used to subtract text and fail in date_part().
TEST_P(DerivedStoreSelectTest, TimestampMinusTimestampVerifiesAndRefreshes) {
  // An interval-typed result column is SQLite-only here: the PostgreSQL store keeps intervals
  // as bigint microseconds and cannot yet cast an interval expression into one.
  const std::string select = absl::StrCat(
      "SELECT org, count(*) AS n, ", sqlite() ? "max(delivered - created) AS slowest, " : "",
      "sum(extract(epoch FROM delivered - created)) AS seconds FROM shipments GROUP BY org");
  const std::string yaml = StoreYaml() + kViews + "derived_views:\n  live:\n    sql: |\n" +
                           "      CREATE VIEW live AS " + select + "\n" +
                           "  nightly:\n    refresh: \"@hourly\"\n    sql: |\n" +
                           "      CREATE VIEW nightly AS " + select + "\n";
  auto config = config::ParseConfig(yaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = engine::Engine::Open(*config, {});  // refreshes `nightly` at start
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  Ingest(e, Ship("a", 1, "o1", "5", "12") + Ship("b", 1, "o1", "7", "13") +
                Ship("c", 1, "o2", "1", "11") + Ship("a", 2, "o1", "5", "15"));
  RunUntilIdle(e);
  ASSERT_EQ(Rows(e, "live"), 2);
  auto drift = engine::ReconcileDerived(e.catalog(), e.store(), postgres());
  ASSERT_TRUE(drift.ok()) << drift.status();
  for (const engine::Drift& d : *drift) {
    if (d.view != "live") continue;
    EXPECT_EQ(d.missing + d.unexpected, 0) << (d.examples.empty() ? "" : d.examples[0]);
  }
  // A rebuild of `nightly` recomputes it with the store's SELECT: it must run, and agree.
  auto stats = e.Rebuild({"nightly"});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(Rows(e, "nightly"), 2);
}

// A scheduled refresh whose SELECT fails on the data (an integer sum beyond bigint) is logged,
// counted and retried at its next schedule; ingestion goes on meanwhile.
TEST_P(DerivedStoreSelectTest, AFailingRefreshDoesNotStopIngestion) {
  const std::string yaml = StoreYaml() + kViews +
                           "derived_views:\n  totals:\n    refresh: \"@every 1s\"\n    sql: |\n"
                           "      CREATE VIEW totals AS SELECT org, sum(cost) AS cost FROM "
                           "shipments GROUP BY org\n";
  auto config = config::ParseConfig(yaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ManualClock clock(*ParseTime("2026-03-04T10:00:00Z"));
  engine::Monitor monitor(&clock);
  engine::EngineOptions options;
  options.monitor = &monitor;
  options.clock = &clock;
  auto engine = engine::Engine::Open(*config, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  const std::string max = "9223372036854775807";
  Ingest(e, Ship("a", 1, "o1", max, "12") + Ship("b", 1, "o1", max, "13"));
  RunUntilIdle(e);
  ASSERT_EQ(Rows(e, "shipments"), 2);
  EXPECT_EQ(monitor.Snapshot().counters["derived/totals/refresh_errors"], 0)
      << "not due again before the engine's clock moves";
  // Due again after a second of the engine's clock: the failing SELECT runs in RunOnce.
  clock.Advance(1'000'000);
  RunUntilIdle(e);
  EXPECT_EQ(monitor.Snapshot().counters["derived/totals/refresh_errors"], 1)
      << "the failed refresh is counted";
  Ingest(e, Ship("c", 1, "o2", "3", "11"));
  RunUntilIdle(e);
  EXPECT_EQ(Rows(e, "shipments"), 3) << "ingestion went on after the failed refresh";
}

}  // namespace
}  // namespace sv::store
