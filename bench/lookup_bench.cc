// Autocomplete lookups at 1M entries (issue 18: p99 <= 5 ms at 1M customers): the index's
// search for short and longer prefixes, in one scope holding everything (the worst case) and
// with the entries spread over 100 organizations, and the cost of a rename. Each search
// benchmark also reports its p99 over every query it ran (counter p99_us).
//
//   build/bench/lookup_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lookup/lookup_index.h"

namespace {

constexpr int kEntries = 1'000'000;

std::string Word(std::mt19937& rng) {
  static const char* kSyllables[] = {"ac", "me", "tra", "ns",  "lo",  "gis", "ti", "cs",
                                     "bo", "re", "al",  "nor", "dic", "pa",  "ci", "fic",
                                     "ze", "ta", "ex",  "pre", "ss",  "car", "go", "del"};
  std::string w;
  for (int i = 0, n = 2 + static_cast<int>(rng() % 3); i < n; ++i) w += kSyllables[rng() % 24];
  w[0] = static_cast<char>(w[0] - 'a' + 'A');
  return w;
}

std::string Label(std::mt19937& rng) {
  std::string label = Word(rng);
  for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) label += " " + Word(rng);
  return label;
}

// One index per organization count, built once.
const sv::lookup::LookupIndex& Index(int orgs) {
  static std::unique_ptr<sv::lookup::LookupIndex> built[2];
  std::unique_ptr<sv::lookup::LookupIndex>& slot = built[orgs == 1 ? 0 : 1];
  if (slot == nullptr) {
    slot = std::make_unique<sv::lookup::LookupIndex>();
    std::mt19937 rng(7);
    for (int i = 0; i < kEntries; ++i) {
      const std::string key = std::to_string(i);
      slot->Put(key, "o" + std::to_string(i % orgs), Label(rng),
                "{\"id\":" + key + ",\"name\":\"...\",\"city\":\"Oslo\"}");
    }
  }
  return *slot;
}

void BM_Search(benchmark::State& state) {
  const int orgs = static_cast<int>(state.range(0));
  const size_t prefix = static_cast<size_t>(state.range(1));
  const sv::lookup::LookupIndex& index = Index(orgs);
  std::mt19937 rng(11);
  std::vector<double> micros;
  for (auto _ : state) {
    std::string query = Word(rng);
    query.resize(std::min(prefix, query.size()));
    const std::string scope = "o" + std::to_string(rng() % orgs);
    const auto started = std::chrono::steady_clock::now();
    auto found = index.Search(scope, query, 10);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started)
            .count());
    benchmark::DoNotOptimize(found);
  }
  std::sort(micros.begin(), micros.end());
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
  state.counters["entries"] = static_cast<double>(index.size());
}
BENCHMARK(BM_Search)
    ->ArgNames({"orgs", "prefix"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({1, 4})
    ->Args({100, 1})
    ->Args({100, 3});

// A first load of 1M entries (Replace), as a lookup's first read does after its scan.
void BM_Load(benchmark::State& state) {
  std::mt19937 rng(7);
  std::vector<sv::lookup::LookupIndex::Item> items;
  for (int i = 0; i < kEntries; ++i) {
    const std::string key = std::to_string(i);
    items.push_back({key, "o" + std::to_string(i % 100), Label(rng), "{\"id\":" + key + "}"});
  }
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<sv::lookup::LookupIndex::Item> copy = items;
    auto index = std::make_unique<sv::lookup::LookupIndex>();
    state.ResumeTiming();
    index->Replace(std::move(copy));
    benchmark::DoNotOptimize(index->size());
    state.PauseTiming();
    index.reset();  // freeing is not the load's time
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Load)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_Rename(benchmark::State& state) {
  // A copy would double the memory: renames go to the 100-organization index itself.
  auto& index = const_cast<sv::lookup::LookupIndex&>(Index(100));
  std::mt19937 rng(13);
  for (auto _ : state) {
    const int i = static_cast<int>(rng() % kEntries);
    index.Put(std::to_string(i), "o" + std::to_string(i % 100), Label(rng), "{}");
  }
}
BENCHMARK(BM_Rename);

}  // namespace
