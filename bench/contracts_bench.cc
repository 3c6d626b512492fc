// What an event contract costs per event (issue 21): the decoder's whole path for an order
// event of seed 003 (one JSON parse by simdjson, the value re-serialized, parsed by RapidJSON
// and validated by valijson) against the same decode with no contract.
//
//   build/bench/contracts_bench

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "config/config.h"
#include "engine/decoder.h"
#include "projection/projection.h"

namespace {

constexpr char kSchema[] = R"({
  "type": "object", "required": ["type", "orderId", "customerId", "items", "total"],
  "properties": {
    "type": {"type": "string"}, "orderId": {"type": "string", "pattern": "^o-[0-9]+$"},
    "customerId": {"type": "string", "minLength": 1}, "currency": {"enum": ["EUR", "USD"]},
    "total": {"type": "number", "minimum": 0},
    "items": {"type": "array", "minItems": 1, "items": {"type": "object",
      "required": ["sku", "qty", "price"], "properties": {"sku": {"type": "string"},
      "qty": {"type": "integer", "minimum": 1}, "price": {"type": "number", "minimum": 0}}}}}})";

constexpr char kConfig[] = R"(
sources:
  s:
    key: orderId
    event_types: [OrderPlaced]
CONTRACTS
views:
  orders:
    source: s
    key: [id]
    columns: {id: text, total: numeric}
    on:
      OrderPlaced: {set: {id: e.orderId, total: e.total}}
)";

constexpr char kEvent[] =
    R"({"type":"OrderPlaced","orderId":"o-1042","customerId":"c-7","currency":"EUR","total":)"
    R"(129.5,"items":[{"sku":"A-1","qty":2,"price":40},{"sku":"B-2","qty":1,"price":49.5}]})";

std::unique_ptr<sv::projection::Catalog> CatalogWith(bool contract) {
  const std::filesystem::path schema =
      std::filesystem::temp_directory_path() / "sv_contracts_bench_order_placed.json";
  std::ofstream(schema) << kSchema;
  const std::string contracts =
      contract
          ? absl::StrCat("    contracts:\n      schemas:\n        - {type: OrderPlaced, file: ",
                         schema.string(), "}")
          : "";
  auto config = sv::config::ParseConfig(absl::StrReplaceAll(kConfig, {{"CONTRACTS", contracts}}),
                                        "bench.yaml");
  if (!config.ok()) std::abort();
  auto catalog = sv::projection::Compile(*config);
  if (!catalog.ok()) std::abort();
  return std::move(*catalog);
}

void BM_Decode(benchmark::State& state) {
  auto catalog = CatalogWith(state.range(0) != 0);
  sv::engine::Decoder decoder(&catalog->sources[0]);
  sv::source::SourceRecord record;
  record.value = kEvent;
  sv::engine::DecodedEvent event;
  std::string reason;
  for (auto _ : state) {
    if (!decoder.Decode(record, &event, &reason)) state.SkipWithError(reason.c_str());
    benchmark::DoNotOptimize(event.key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode)->ArgName("contract")->Arg(0)->Arg(1);

}  // namespace
