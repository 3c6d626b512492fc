// Timed derived views in the engine (memory store, injected clock): a view changes when the
// clock passes a row's boundary with no new event, and the clock its rows were computed at is
// stored with them, so a restart reloads at that clock and moves on from there.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/time_util.h"
#include "memory_engine_fixture.h"

namespace sv::engine {
namespace {

constexpr char kConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    event_types: [Put]
engine:
  lanes: 1
  poll_idle_ms: 1
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      due: timestamp
      delivered: timestamp
    on:
      Put:
        set:
          id: e.id
          due: CAST(e.due AS timestamp)
          delivered: CAST(e.delivered AS timestamp)
derived_views:
  overdue:
    sql: |
      CREATE VIEW overdue AS SELECT id, due FROM shipments WHERE delivered IS NULL AND due < now()
)";

int64_t At(const std::string& iso) { return ParseTime(iso).value_or(0); }

class TimedEngineTest : public MemoryEngineTest {
 protected:
  std::unique_ptr<Engine> Open() {
    auto config = config::ParseConfig(kConfig, "test.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return nullptr;
    EngineOptions options;
    options.store_path = options_.path;
    options.clock = &clock_;
    auto engine = Engine::Open(*config, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  std::map<std::string, std::string> Overdue(const Engine& engine) {
    const int v = engine.catalog().FindView("overdue");
    store::TableSpec table = TableFor(engine.catalog().views[v], 1);
    table.name = "overdue";
    std::map<std::string, std::string> out;
    EXPECT_TRUE(
        keeper_
            ->ScanTable(
                table, [&](const Row& row) { out[row[0].as_text()] = FormatTime(row[1].as_int()); })
            .ok());
    return out;
  }
  int64_t StoredClock() {
    auto positions = keeper_->GetPositions(kDerivedClockSource);
    EXPECT_TRUE(positions.ok());
    return positions.ok() && positions->count(0) ? positions->at(0) : -1;
  }
  // One loop turn with no new event.
  static void Tick(Engine& engine) {
    bool idle = false;
    ASSERT_TRUE(engine.RunOnce(&idle).ok());
    ASSERT_TRUE(engine.Sync().ok());
  }

  ManualClock clock_{At("2026-12-06T08:00:00Z")};
};

TEST_F(TimedEngineTest, AViewChangesAtItsBoundaryWithoutEventsAndSurvivesARestart) {
  auto engine = Open();
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(StoredClock(), At("2026-12-06T08:00:00Z")) << "remembered before anything is built";
  Ingest(*engine, {R"({"type":"Put","id":"a","due":"2026-12-06T09:00:00Z"})",
                   R"({"type":"Put","id":"b","due":"2026-12-06T07:00:00Z"})",
                   R"({"type":"Put","id":"c","due":"2026-12-06T10:00:00Z"})"});
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  EXPECT_EQ(Overdue(*engine).size(), 1u);
  clock_.Set(At("2026-12-06T09:00:00Z"));  // not past a's due yet
  Tick(*engine);
  EXPECT_EQ(Overdue(*engine).size(), 1u);
  clock_.Set(At("2026-12-06T09:00:00.000001Z"));
  Tick(*engine);
  EXPECT_EQ(Overdue(*engine).size(), 2u) << "a is overdue with no new event";
  EXPECT_EQ(StoredClock(), At("2026-12-06T09:00:00.000001Z")) << "stored with the rows";
  engine.reset();

  // Down while c's time passed; the restart reloads at the stored clock, then moves on.
  clock_.Set(At("2026-12-06T11:00:00Z"));
  engine = Open();
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(Overdue(*engine).size(), 2u);
  Tick(*engine);
  EXPECT_EQ(Overdue(*engine).size(), 3u);
  EXPECT_EQ(StoredClock(), At("2026-12-06T11:00:00Z"));
  // A delivery takes a row out in the same batch that moves the clock.
  Ingest(*engine, {R"({"type":"Put","id":"a","due":"2026-12-06T09:00:00Z",)"
                   R"("delivered":"2026-12-06T11:30:00Z"})"});
  clock_.Set(At("2026-12-06T12:00:00Z"));
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  auto rows = Overdue(*engine);
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows.contains("a"));
}

}  // namespace
}  // namespace sv::engine
