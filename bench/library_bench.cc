// The library's bulk upsert vs the engine's own write path, same rows, same store (issue 21:
// the library at >= 80% of the engine's rate). Each run writes `rows` new rows in transactions
// of 5,000 (the engine's default batch) into a fresh SQLite file, then writes them all again
// (every row replaced: the library bumps each version). Building the rows / documents is not
// timed (the caller's work either way); the library's conversion of documents to rows is:
//   engine:  store::Batch::UpsertRows (what the engine's commit calls for a view's dirty rows)
//   library: streamview::ProjectionStore::BulkUpsert in a UnitOfWork
//   build/bench/library_bench --benchmark_counters_tabular=true [--benchmark_filter=…]

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "store/open.h"
#include "store/store.h"
#include "streamview/streamview.h"

namespace {

constexpr int64_t kRowsPerTxn = 5'000;

std::string FreshPath() {
  static int n = 0;
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("library_bench_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir + "/bench.db";
}

void Cleanup(const std::string& path) {
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

std::string Id(int64_t i) { return "order-" + std::to_string(i); }

void BM_EngineUpsertRows(benchmark::State& state) {
  const int64_t rows = state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = FreshPath();
    sv::store::StoreOptions options;
    options.path = path;
    auto store = sv::store::OpenStore(options, sv::store::StoreRole::kWriter);
    if (!store.ok() || !(*store)->Init().ok()) state.SkipWithError("open");
    sv::store::TableSpec table{"orders__v1",
                               {{"id", sv::Type::kText},
                                {"status", sv::Type::kText},
                                {"amount", sv::Type::kInt},
                                {"total", sv::Type::kReal},
                                {"_version", sv::Type::kInt},
                                {"_last_event_id", sv::Type::kText}},
                               {0},
                               {}};
    if (!(*store)->CreateTable(table).ok()) state.SkipWithError("create");
    state.ResumeTiming();
    for (int pass = 1; pass <= 2; ++pass) {
      std::vector<sv::Row> batch_rows;
      std::vector<const sv::Row*> ptrs;
      for (int64_t start = 0; start < rows; start += kRowsPerTxn) {
        state.PauseTiming();  // building the rows is the caller's work, not the write path's
        batch_rows.clear();
        ptrs.clear();
        for (int64_t i = start; i < std::min(rows, start + kRowsPerTxn); ++i) {
          batch_rows.push_back({sv::Value::Text(Id(i)), sv::Value::Text("paid"),
                                sv::Value::Int(i % 1000 + pass), sv::Value::Real(i * 0.5),
                                sv::Value::Int(pass), sv::Value::Text("")});
        }
        for (const sv::Row& r : batch_rows) ptrs.push_back(&r);
        state.ResumeTiming();
        auto batch = (*store)->BeginBatch();
        if (!batch->UpsertRows(table, ptrs).ok() || !batch->Commit().ok()) {
          state.SkipWithError("write");
          return;
        }
      }
    }
    state.PauseTiming();
    store->reset();
    Cleanup(path);
    state.ResumeTiming();
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(2.0 * rows * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_LibraryBulkUpsert(benchmark::State& state) {
  namespace lib = streamview;
  const int64_t rows = state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = FreshPath();
    auto db = lib::Connection::Open(lib::StoreOptions::Sqlite(path));
    if (!db.ok()) state.SkipWithError("open");
    lib::Status defined = (*db)->projections().Define({"orders",
                                                       {{"id", lib::ColumnType::kText},
                                                        {"status", lib::ColumnType::kText},
                                                        {"amount", lib::ColumnType::kInt},
                                                        {"total", lib::ColumnType::kReal}},
                                                       {"id"},
                                                       {}});
    if (!defined.ok()) state.SkipWithError("define");
    state.ResumeTiming();
    for (int pass = 1; pass <= 2; ++pass) {
      std::vector<lib::Document> docs;
      for (int64_t start = 0; start < rows; start += kRowsPerTxn) {
        state.PauseTiming();  // building the documents is the caller's work
        docs.clear();
        for (int64_t i = start; i < std::min(rows, start + kRowsPerTxn); ++i) {
          docs.push_back({{"id", Id(i)},
                          {"status", std::string("paid")},
                          {"amount", i % 1000 + pass},
                          {"total", i * 0.5}});
        }
        state.ResumeTiming();
        lib::UnitOfWork uow = (*db)->Begin();
        auto bulk = (*db)->projections().BulkUpsert(uow, "orders", docs);
        if (!bulk.ok() || !uow.Commit().ok()) {
          state.SkipWithError("write");
          return;
        }
      }
    }
    state.PauseTiming();
    db->reset();
    Cleanup(path);
    state.ResumeTiming();
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(2.0 * rows * state.iterations(), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_EngineUpsertRows)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_LibraryBulkUpsert)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
