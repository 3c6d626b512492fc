// The engine reads "now" only from EngineOptions::clock: a ManualClock moves refresh schedules,
// stash expiry, append and dead-letter times, with no sleeping. The manual clock stands far from
// the real one (2031), so any read of the real clock shows as a wrong time or a missed event.

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/engine.h"
#include "store_backends.h"

namespace sv::store {
namespace {

constexpr char kViews[] = R"(
gate:
  stash_max_age_ms: 60000
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
    on:
      Ship:
        set:
          id: e.id
          org: e.org
          cost: e.cost
derived_views:
  yearly_totals:
    refresh: "0 0 1 1 *"
    sql: |
      CREATE VIEW yearly_totals AS SELECT org, count(*) AS n, sum(cost) AS cost FROM shipments
        GROUP BY org
)";

class EngineClockTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto config = config::ParseConfig(StoreYaml() + kViews, "views.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    engine::EngineOptions options;
    options.clock = &clock_;
    auto engine = engine::Engine::Open(*config, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    engine_.reset();  // its connections and locks end before the store is dropped
    BackendTest::TearDown();
  }
  void Ingest(const std::string& lines) {
    std::istringstream in(lines);
    engine::IngestOptions options;
    options.clock = &clock_;
    ASSERT_TRUE(
        engine::IngestLines(engine_->catalog().sources[0], engine_->store(), in, options).ok());
  }
  void RunUntilIdle() {
    bool idle = false;
    while (!idle) {
      absl::Status s = engine_->RunOnce(&idle);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(engine_->Sync().ok());
  }
  // The yearly_totals rows' count of shipments (0 when the view has no row).
  int64_t YearlyCount() {
    const projection::ViewPlan& plan =
        engine_->catalog().views[engine_->catalog().FindView("yearly_totals")];
    TableSpec table = engine::TableFor(plan, 1);
    table.name = "yearly_totals";
    int64_t n = 0;
    EXPECT_TRUE(engine_->store()
                    ->ScanTable(table,
                                [&](const Row& row) {
                                  for (size_t c = 0; c < table.columns.size(); ++c) {
                                    if (table.columns[c].name == "n") n += row[c].as_int();
                                  }
                                })
                    .ok());
    return n;
  }
  static std::string Ship(const std::string& id, int seq, int cost) {
    return absl::StrCat(R"({"type":"Ship","id":")", id, R"(","seq":)", seq,
                        R"(,"org":"o1","cost":)", cost, "}\n");
  }

  const int64_t start_us_ = *ParseTime("2031-12-31T23:00:00Z");
  ManualClock clock_{start_us_};
  std::unique_ptr<engine::Engine> engine_;
};
SV_INSTANTIATE_STORE_BACKENDS(EngineClockTest);

// A yearly refresh runs at start and then only when the engine's clock crosses New Year.
TEST_P(EngineClockTest, RefreshFollowsTheInjectedClock) {
  ASSERT_EQ(YearlyCount(), 0) << "refreshed at start, over no rows";
  Ingest(Ship("a", 1, 5) + Ship("b", 1, 7));
  RunUntilIdle();
  EXPECT_EQ(YearlyCount(), 0) << "not due before the schedule";
  clock_.Advance(59LL * 60 * 1'000'000);  // 23:59
  RunUntilIdle();
  EXPECT_EQ(YearlyCount(), 0) << "still not due one minute before";
  clock_.Advance(2LL * 60 * 1'000'000);  // 2032-01-01T00:01
  RunUntilIdle();
  EXPECT_EQ(YearlyCount(), 2) << "due once the clock passed midnight";
}

// Appends are stamped with the engine's clock, and a gap is given up when that clock passes the
// stash's age limit: the waiting event becomes a dead letter stamped with the same clock.
TEST_P(EngineClockTest, StashExpiresByTheInjectedClock) {
  Ingest(Ship("a", 1, 5) + Ship("a", 3, 9));  // seq 2 missing: 3 waits
  RunUntilIdle();
  auto letters = engine_->store()->ListDeadLetters(false);
  ASSERT_TRUE(letters.ok()) << letters.status();
  EXPECT_TRUE(letters->empty()) << "the gap is younger than 60 s on the engine's clock";

  clock_.Advance(59'000'000);
  RunUntilIdle();
  letters = engine_->store()->ListDeadLetters(false);
  ASSERT_TRUE(letters.ok()) << letters.status();
  EXPECT_TRUE(letters->empty()) << "59 s: not yet";

  clock_.Advance(2'000'000);
  RunUntilIdle();
  letters = engine_->store()->ListDeadLetters(false);
  ASSERT_TRUE(letters.ok()) << letters.status();
  ASSERT_EQ(letters->size(), 1u) << "61 s after the append: the gap expired";
  EXPECT_EQ((*letters)[0].created_us, start_us_ + 61'000'000);

  std::vector<LogRecord> log;
  ASSERT_TRUE(engine_->store()->ReadLog(0, 10, &log).ok());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].log_time_us, start_us_) << "appended at the engine's time";
}

}  // namespace
}  // namespace sv::store
