// The engine end to end on the memory store (no SQLite, no files): generated events with
// late, repeated and malformed lines are ingested into the embedded log and run through the
// batch loop; the views must equal an oracle computed from the generated events alone, with
// every event applied once, malformed lines dead-lettered, and a failed batch leaving nothing;
// a rebuild and a dead-letter replay on the same store.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "config/config.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory_engine_fixture.h"
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
    sequence: {header: x-sequence, field: seq}
    event_types: [Add]
gate: {stash_max_age_ms: 3600000, stash_max_events: 1000}
engine: {batch_events: 37, commit_delay_us: 0, lanes: LANES}
views:
  totals:
    source: s
    key: [id]
    columns: {id: text, total: integer, n: {type: integer, default: 0}, last_seq: integer}
    on:
      Add:
        set: {id: e.id, total: "coalesce(total, 0) + e.value", n: n + 1, last_seq: e.seq}
)";

struct Workload {
  std::vector<std::string> lines;                          // in log order
  std::map<std::string, std::pair<int64_t, int64_t>> sum;  // key -> (total, events)
  int64_t events = 0;                                      // distinct well-formed events
  int64_t copies = 0;                                      // extra copies of event lines
  std::set<std::string> malformed;
};

// Keys with runs of sequenced events, interleaved; then lines moved later (gaps the gate
// stashes), lines repeated a little later (duplicates and old events), malformed lines added.
Workload Generate(uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  Workload w;
  std::vector<std::vector<std::string>> per_key;
  for (int k = 0; k < 150; ++k) {
    const std::string key = absl::StrCat("k", k);
    std::vector<std::string>& events = per_key.emplace_back();
    const int n = 1 + uniform(12);
    for (int seq = 1; seq <= n; ++seq) {
      const int value = 1 + uniform(100);
      events.push_back(absl::StrCat(R"({"type":"Add","id":")", key, R"(","seq":)", seq,
                                    R"(,"value":)", value, "}"));
      w.sum[key].first += value;
      w.sum[key].second += 1;
      ++w.events;
    }
  }
  std::vector<size_t> next(per_key.size(), 0);
  for (int64_t left = w.events; left > 0; --left) {
    size_t k = static_cast<size_t>(uniform(static_cast<int>(per_key.size())));
    while (next[k] == per_key[k].size()) k = (k + 1) % per_key.size();
    w.lines.push_back(per_key[k][next[k]++]);
  }
  for (size_t i = 0; i < w.lines.size(); ++i) {
    if (uniform(8) != 0) continue;
    // Later, past its key's next events (a gap the gate stashes until it comes).
    const size_t to = std::min(w.lines.size() - 1, i + 20 + static_cast<size_t>(uniform(60)));
    std::rotate(w.lines.begin() + static_cast<std::ptrdiff_t>(i),
                w.lines.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                w.lines.begin() + static_cast<std::ptrdiff_t>(to) + 1);
  }
  for (size_t i = 0; i < w.lines.size(); ++i) {
    if (uniform(20) == 0) {
      const size_t at = std::min(w.lines.size(), i + 1 + static_cast<size_t>(uniform(30)));
      w.lines.insert(w.lines.begin() + static_cast<std::ptrdiff_t>(at), w.lines[i]);
      ++w.copies;
    }
  }
  for (int i = 0; i < 6; ++i) {
    // Nothing to route by: dead letters that park no key.
    const std::string bad = i % 2 ? absl::StrCat(R"({"type":"Add","id":"k)", i)
                                  : absl::StrCat(R"({"type":"Add","seq":1,"value":)", i, "}");
    w.malformed.insert(bad);
    w.lines.insert(w.lines.begin() + uniform(static_cast<int>(w.lines.size())), bad);
  }
  return w;
}

class EngineMemoryTest : public MemoryEngineTest {
 protected:
  std::unique_ptr<Engine> OpenEngine(int lanes = 1, const std::string& more_config = "") {
    return OpenEngineWith(
        absl::StrCat(absl::StrReplaceAll(kConfig, {{"LANES", absl::StrCat(lanes)}}), more_config));
  }

  // The view's rows as key -> (total, n), read through the view's name.
  std::map<std::string, std::pair<int64_t, int64_t>> Totals(const Engine& engine) {
    store::TableSpec view = TableFor(engine.catalog().views[0], 1);
    view.name = "totals";
    std::map<std::string, std::pair<int64_t, int64_t>> out;
    absl::Status s = keeper_->ScanTable(view, [&](const Row& row) {
      out[row[0].as_text()] = {row[1].as_int(), row[2].as_int()};
      EXPECT_EQ(row[3], Value::Int(row[2].as_int())) << "last_seq of " << row[0].as_text();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  int64_t Counter(const std::string& name, const std::string& prefix = "s/") {
    auto counters = keeper_->GetCounters();
    EXPECT_TRUE(counters.ok()) << counters.status();
    auto it = counters->find(prefix + name);
    return it == counters->end() ? 0 : it->second;
  }

  // The lines of every dead letter.
  std::set<std::string> DeadLetterLines() {
    std::set<std::string> lines;
    absl::StatusOr<std::vector<store::DeadLetter>> dead_letters = keeper_->ListDeadLetters(false);
    EXPECT_TRUE(dead_letters.ok()) << dead_letters.status();
    if (dead_letters.ok()) {
      for (const store::DeadLetter& dl : *dead_letters) lines.insert(dl.raw);
    }
    return lines;
  }

  // Everything the workload says the store must hold once every line is processed.
  void ExpectMatchesOracle(const Engine& engine, const Workload& w) {
    EXPECT_EQ(Totals(engine), w.sum);
    EXPECT_EQ(Counter("applied_total"), w.events);
    EXPECT_EQ(Counter("duplicates_total") + Counter("out_of_order_total"), w.copies);
    EXPECT_EQ(Counter("dead_letters_total"), static_cast<int64_t>(w.malformed.size()));
    EXPECT_EQ(DeadLetterLines(), w.malformed);
    EXPECT_TRUE(keeper_->ListPending("s")->empty()) << "every gap was filled";
    const int64_t end = *keeper_->LogEnd();
    EXPECT_EQ(end, static_cast<int64_t>(w.lines.size()));
    EXPECT_THAT(*keeper_->GetPositions("s"), ::testing::ElementsAre(::testing::Pair(0, end)));
  }
};

TEST_F(EngineMemoryTest, ViewsEqualTheOracleWithOneLaneAndWithThree) {
  for (int lanes : {1, 3}) {
    SCOPED_TRACE(absl::StrCat(lanes, " lanes"));
    SetUp();  // a fresh database for each
    const Workload w = Generate(7 + static_cast<uint32_t>(lanes));
    ASSERT_GT(w.copies, 5);
    auto engine = OpenEngine(lanes);
    ASSERT_NE(engine, nullptr);
    Ingest(*engine, w.lines);
    ASSERT_TRUE(RunUntilIdle(*engine).ok());
    ExpectMatchesOracle(*engine, w);
    EXPECT_GT(Counter("stashed_total"), 0) << "the swaps made gaps";
  }
}

// Seed 000 asks for counters that survive a restart: the derived views' rows written are
// stored with the rows they count, so an engine opened again goes on from them.
TEST_F(EngineMemoryTest, DerivedViewCountersArePersistedWithTheirRows) {
  const std::string derived = R"(
derived_views:
  by_n:
    sql: "CREATE VIEW by_n AS SELECT n, count(*) AS keys FROM totals GROUP BY n"
)";
  const Workload w = Generate(11);
  const size_t half = w.lines.size() / 2;
  std::unique_ptr<Engine> first = OpenEngine(1, derived);
  ASSERT_NE(first, nullptr);
  Ingest(*first, std::vector<std::string>(w.lines.begin(), w.lines.begin() + half));
  ASSERT_TRUE(RunUntilIdle(*first).ok());
  const int64_t written = Counter("by_n/rows_written", "derived/");
  EXPECT_GT(written, 0);
  first.reset();

  std::unique_ptr<Engine> second = OpenEngine(1, derived);
  ASSERT_NE(second, nullptr);
  Ingest(*second, std::vector<std::string>(w.lines.begin() + half, w.lines.end()));
  ASSERT_TRUE(RunUntilIdle(*second).ok());
  EXPECT_GT(Counter("by_n/rows_written", "derived/"), written) << "went on from the stored count";
  ExpectMatchesOracle(*second, w);
}

TEST_F(EngineMemoryTest, ARestartKeepsStashedEventsAndAppliesEachOnce) {
  const Workload w = Generate(21);
  const size_t half = w.lines.size() / 2;
  {
    auto engine = OpenEngine();
    ASSERT_NE(engine, nullptr);
    Ingest(*engine, {w.lines.begin(), w.lines.begin() + static_cast<std::ptrdiff_t>(half)});
    ASSERT_TRUE(RunUntilIdle(*engine).ok());
  }
  // The first half's open gaps wait in the store for the second half.
  EXPECT_FALSE(keeper_->ListPending("s")->empty());
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, {w.lines.begin() + static_cast<std::ptrdiff_t>(half), w.lines.end()});
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  ExpectMatchesOracle(*engine, w);
}

TEST_F(EngineMemoryTest, AFailedBatchLeavesNothingAndTheRetryAppliesEachOnce) {
  const Workload w = Generate(33);
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, w.lines);
  // The view's table goes away under the engine: its batch cannot be written.
  const std::vector<store::ViewVersion> versions = *keeper_->ListViewVersions();
  ASSERT_EQ(versions.size(), 1u);
  ASSERT_TRUE(keeper_->DropTable(versions[0].table).ok());
  bool idle = false;
  EXPECT_FALSE(engine->RunOnce(&idle).ok());
  EXPECT_TRUE(keeper_->GetPositions("s")->empty());
  EXPECT_TRUE(keeper_->GetCounters()->empty());
  EXPECT_TRUE(keeper_->ListDeadLetters(false)->empty());
  EXPECT_TRUE(keeper_->ListPending("s")->empty());
  EXPECT_FALSE(keeper_->GetKeyState("s", "k1")->has_value());

  store::TableSpec table = TableFor(engine->catalog().views[0], versions[0].version);
  ASSERT_EQ(table.name, versions[0].table);
  ASSERT_TRUE(keeper_->CreateTable(table).ok());
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  ExpectMatchesOracle(*engine, w);
}

TEST_F(EngineMemoryTest, ARebuildReplaysTheLogIntoTheSameViews) {
  const Workload w = Generate(45);
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, w.lines);
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  absl::StatusOr<RebuildStats> stats = engine->Rebuild({});
  ASSERT_TRUE(stats.ok()) << stats.status();
  // The new version is a table of its own, swapped in; the view reads the same rows.
  // The old one stays beside it as the standby a rollback returns to (engine.standby_versions).
  std::vector<store::ViewVersion> versions = *keeper_->ListViewVersions();
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  ASSERT_EQ(versions.size(), 2u) << "the old version is kept as the standby";
  EXPECT_EQ(versions[1].version, 2);
  EXPECT_TRUE(versions[1].active);
  EXPECT_FALSE(versions[0].active);
  EXPECT_TRUE(versions[0].kept);
  EXPECT_EQ(Totals(*engine), w.sum);
  EXPECT_EQ(DeadLetterLines(), w.malformed) << "dead letters are not repeated";
  EXPECT_TRUE(keeper_->ListPending("s")->empty());
}

TEST_F(EngineMemoryTest, AReplayedDeadLetterIsAppliedWithItsNewPayload) {
  auto engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, {R"({"type":"Add","seq":1,"value":3})"});  // no key: a dead letter
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  absl::StatusOr<std::vector<store::DeadLetter>> open = keeper_->ListDeadLetters(true);
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->size(), 1u);
  const std::string fixed = R"({"type":"Add","id":"late","seq":1,"value":3})";
  ASSERT_TRUE(engine->ReplayDeadLetter((*open)[0].id, &fixed).ok());
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  EXPECT_EQ(Totals(*engine),
            (std::map<std::string, std::pair<int64_t, int64_t>>{{"late", {3, 1}}}));
  EXPECT_TRUE(keeper_->ListDeadLetters(true)->empty());
  EXPECT_EQ((*keeper_->GetDeadLetter((*open)[0].id))->state, store::DeadLetterState::kReplayed);
}

// A source without sequences keeps no gate state for keys that never parked (no read, no entry
// per key); a parked key must still hold its later events, in the run that parked it and after
// a restart (the parked keys are read from the store when the engine starts).
constexpr char kUnsequencedConfig[] = R"(
store: {kind: memory}
sources:
  s:
    kind: log
    key: id
    type: type
    event_types: [Add]
engine: {batch_events: 1, commit_delay_us: 0, lanes: 1}
views:
  sums:
    source: s
    key: [id]
    columns: {id: text, total: integer}
    on:
      Add:
        set: {id: e.id, total: "coalesce(total, 0) + e.value"}
)";

TEST_F(EngineMemoryTest, AParkedKeyOfAnUnsequencedSourceHoldsItsEventsAcrossARestart) {
  auto open = [&] {
    auto config = config::ParseConfig(kUnsequencedConfig, "test.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    EngineOptions options;
    options.store_path = options_.path;
    auto engine = Engine::Open(*config, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  };
  auto sums = [&](const Engine& engine) {
    store::TableSpec view = TableFor(engine.catalog().views[0], 1);
    view.name = "sums";
    std::map<std::string, int64_t> out;
    EXPECT_TRUE(
        keeper_->ScanTable(view, [&](const Row& row) { out[row[0].as_text()] = row[1].as_int(); })
            .ok());
    return out;
  };
  {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    // p's second event cannot be added (text + integer): a dead letter that parks p; its third
    // event waits behind it in the same run.
    Ingest(*engine,
           {R"({"type":"Add","id":"p","value":1})", R"({"type":"Add","id":"p","value":"x"})",
            R"({"type":"Add","id":"p","value":5})", R"({"type":"Add","id":"q","value":2})"});
    ASSERT_TRUE(RunUntilIdle(*engine).ok());
    EXPECT_EQ(sums(*engine), (std::map<std::string, int64_t>{{"p", 1}, {"q", 2}}));
  }
  auto engine = open();  // a restart: p is parked in the store only
  ASSERT_NE(engine, nullptr);
  Ingest(*engine, {R"({"type":"Add","id":"p","value":7})", R"({"type":"Add","id":"q","value":3})"});
  ASSERT_TRUE(RunUntilIdle(*engine).ok());
  EXPECT_EQ(sums(*engine), (std::map<std::string, int64_t>{{"p", 1}, {"q", 5}}))
      << "p's events after its poison are held, q's applied";
  absl::StatusOr<std::vector<store::PendingEvent>> held = keeper_->GetPending("s", "p");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->size(), 2u) << "both later events of p wait behind its dead letter";
  EXPECT_FALSE(keeper_->GetKeyState("s", "q")->has_value()) << "no state kept for q";
}

}  // namespace
}  // namespace sv::engine
