// A clock tick's cost in time-relative derived views (issue 18): 1M shipments, each with a due
// time one second after the previous one, in two views that compare them with now():
//
//   CREATE VIEW overdue_by_org AS SELECT org_id, count(*) AS shipments,
//     count(*) FILTER (WHERE due < now()) AS overdue FROM shipments GROUP BY org_id
//   CREATE VIEW overdue_list AS SELECT id, org_id, due FROM shipments WHERE due < now()
//
// BM_Tick/k moves the clock so that k shipments pass their due time (k = 0: a tick with none
// due), then flushes the changed rows (an aggregate per org and k list rows), as the engine's
// batch does. A tick's cost should grow with k, not with the 1M rows in the window.
//
//   build/bench/timed_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "config/config.h"
#include "derived/maintainer.h"
#include "projection/projection.h"

namespace {

constexpr char kConfig[] = R"(
sources:
  s:
    key: id
    event_types: [Put]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org_id: text
      due: timestamp
    on:
      Put:
        set:
          id: e.id
derived_views:
  overdue_by_org:
    sql: |
      CREATE VIEW overdue_by_org AS SELECT org_id, count(*) AS shipments,
        count(*) FILTER (WHERE due < now()) AS overdue FROM shipments GROUP BY org_id
  overdue_list:
    sql: CREATE VIEW overdue_list AS SELECT id, org_id, due FROM shipments WHERE due < now()
)";

constexpr int64_t kRows = 1'000'000;
constexpr int64_t kStart = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z, µs
constexpr int64_t kSecond = 1'000'000;

struct Fixture {
  std::unique_ptr<sv::projection::Catalog> catalog;
  std::vector<sv::Row> rows;
};

Fixture& Shared() {
  static Fixture* f = [] {
    auto* out = new Fixture;
    auto config = sv::config::ParseConfig(kConfig, "bench.yaml");
    if (!config.ok()) return out;
    auto catalog = sv::projection::Compile(*config);
    if (!catalog.ok()) return out;
    out->catalog = std::move(*catalog);
    out->rows.reserve(kRows);
    for (int64_t i = 0; i < kRows; ++i) {
      // Due i + 1 seconds after the start (plus half a second: never on a tick's instant).
      out->rows.push_back({sv::Value::Text(absl::StrFormat("S%08d", i)),
                           sv::Value::Text(absl::StrFormat("org-%02d", 1 + i % 20)),
                           sv::Value::Time(kStart + (i + 1) * kSecond + kSecond / 2)});
    }
    return out;
  }();
  return *f;
}

void BM_Tick(benchmark::State& state) {
  Fixture& f = Shared();
  if (f.catalog == nullptr) return state.SkipWithError("config did not compile");
  const int64_t due_per_tick = state.range(0);
  sv::derived::Maintainer m(f.catalog.get());
  m.SetClock(kStart);
  if (!m.Load([&](int view, const std::function<void(const sv::Row&)>& each) {
          if (view == 0) {
            for (const sv::Row& row : f.rows) each(row);
          }
          return absl::OkStatus();
        }).ok()) {
    return state.SkipWithError("load failed");
  }
  int64_t writes = 0;
  const auto write = [&](int, const sv::Row*, const sv::Row*) {
    ++writes;
    return absl::OkStatus();
  };
  int64_t now = kStart;
  const int64_t pops_before = m.timer_pops();
  for (auto _ : state) {
    now += due_per_tick == 0 ? 1 : due_per_tick * kSecond;
    m.AdvanceClock(now);
    if (!m.Flush(write).ok()) return state.SkipWithError("flush failed");
  }
  state.counters["rows_in_window"] = static_cast<double>(kRows);
  state.counters["due_rows_per_tick"] =
      static_cast<double>(m.timer_pops() - pops_before) / static_cast<double>(state.iterations());
  state.counters["writes_per_tick"] =
      static_cast<double>(writes) / static_cast<double>(state.iterations());
}
// 1M rows allow 1M due rows in all: enough ticks for each size.
BENCHMARK(BM_Tick)->Arg(0)->Iterations(100'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick)->Arg(1)->Iterations(100'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick)->Arg(100)->Iterations(5'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick)->Arg(10'000)->Iterations(50)->Unit(benchmark::kMicrosecond);

}  // namespace
