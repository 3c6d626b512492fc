// One incremental update of a p95 aggregate vs a full recompute of the same SELECT, over 1M
// base rows (issue 6): `build/bench/derived_bench`.
//
//   CREATE VIEW transit_p95 AS SELECT org_id, carrier_id, count(*) AS shipments,
//     percentile_cont(0.95) WITHIN GROUP (ORDER BY transit_days) AS p95_transit_days
//   FROM shipments_view GROUP BY org_id, carrier_id
//
// 1M shipments over 5 orgs x 12 carriers: about 16,700 rows per group, so the update's group is
// large. BM_IncrementalUpdate moves one shipment's transit time (a retraction and an insertion,
// the new p95 computed and handed to the writer); BM_FullRecompute computes the whole view again
// from the 1M rows (Maintainer::Load, in memory: no store reads, the fastest full recompute).

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
  shipments_view:
    source: s
    key: [shipment_id]
    columns:
      shipment_id: text
      org_id: text
      carrier_id: text
      transit_days: numeric
    on:
      Put:
        set:
          shipment_id: e.id
derived_views:
  transit_p95:
    sql: |
      CREATE VIEW transit_p95 AS SELECT org_id, carrier_id, count(*) AS shipments,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY transit_days) AS p95_transit_days
      FROM shipments_view GROUP BY org_id, carrier_id
)";

constexpr int64_t kRows = 1'000'000;

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
    uint64_t x = 88172645463325252ULL;  // xorshift: cheap, deterministic
    out->rows.reserve(kRows);
    for (int64_t i = 0; i < kRows; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out->rows.push_back({sv::Value::Text(absl::StrFormat("S%08d", i)),
                           sv::Value::Text(absl::StrFormat("org-%02d", 1 + x % 5)),
                           sv::Value::Text(absl::StrFormat("carrier-%02d", 1 + (x >> 8) % 12)),
                           sv::Value::Real(static_cast<double>((x >> 16) % 10'000) / 1000.0)});
    }
    return out;
  }();
  return *f;
}

absl::Status ScanAll(int view, const std::function<void(const sv::Row&)>& each) {
  if (view == 0) {
    for (const sv::Row& row : Shared().rows) each(row);
  }
  return absl::OkStatus();
}

void BM_IncrementalUpdate(benchmark::State& state) {
  Fixture& f = Shared();
  if (f.catalog == nullptr) return state.SkipWithError("config did not compile");
  sv::derived::Maintainer m(f.catalog.get());
  if (!m.Load(ScanAll).ok()) return state.SkipWithError("load failed");
  int64_t writes = 0;
  const auto write = [&](int, const sv::Row*, const sv::Row*) {
    ++writes;
    return absl::OkStatus();
  };
  size_t i = 0;
  for (auto _ : state) {
    sv::Row& row = f.rows[i];
    const sv::Row old = row;
    row[3] = sv::Value::Real(old[3].as_real() + 0.5);
    m.OnChange(0, &old, &row);
    if (!m.Flush(write).ok()) return state.SkipWithError("flush failed");
    i = (i + 7919) % f.rows.size();
  }
  state.counters["writes"] = static_cast<double>(writes);
}
BENCHMARK(BM_IncrementalUpdate);

void BM_FullRecompute(benchmark::State& state) {
  Fixture& f = Shared();
  if (f.catalog == nullptr) return state.SkipWithError("config did not compile");
  for (auto _ : state) {
    sv::derived::Maintainer m(f.catalog.get());
    if (!m.Load(ScanAll).ok()) return state.SkipWithError("load failed");
    benchmark::DoNotOptimize(m);
  }
  state.counters["base_rows"] = static_cast<double>(f.rows.size());
}
BENCHMARK(BM_FullRecompute)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
