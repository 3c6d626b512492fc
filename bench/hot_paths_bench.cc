// Hot paths of the fold: decode + gate + apply of orders events into in-memory rows (what a
// rebuild does per event), the gate rule alone, and key encoding.

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "engine/processor.h"
#include "engine/row_sets.h"
#include "gate/gate.h"

namespace {

void BM_ProcessOrderEvents(benchmark::State& state) {
  auto config = sv::config::LoadConfig(SV_SOURCE_DIR "/examples/orders/streamview.yaml");
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  auto catalog = sv::projection::Compile(*config);
  if (!catalog.ok()) {
    state.SkipWithError(std::string(catalog.status().message()).c_str());
    return;
  }
  sv::engine::MemoryRowSet rows((*catalog)->views.size());
  sv::engine::Processor processor(catalog->get(), 0, config->gate, &rows, {});
  int64_t order = 0, offset = 0;
  sv::source::SourceRecord r;
  for (auto _ : state) {
    ++order;
    const std::string id = absl::StrCat("o-", order);
    const std::string events[] = {
        absl::StrCat(
            R"({"type":"OrderCreated","eventId":"e1","occurredAt":"2026-01-05T10:00:00.123Z","orderId":")",
            id,
            R"(","customerId":"c-1","currency":"EUR","sequence":1,"items":[{"itemId":"i1","sku":"SKU-1","qty":2,"price":19.99},{"itemId":"i2","sku":"SKU-2","qty":1,"price":5.5}]})"),
        absl::StrCat(
            R"({"type":"OrderItemAdded","eventId":"e2","occurredAt":"2026-01-05T10:00:01Z","orderId":")",
            id, R"(","sequence":2,"itemId":"i3","sku":"SKU-3","qty":3,"price":1.25})"),
        absl::StrCat(
            R"({"type":"OrderStatusChanged","eventId":"e3","occurredAt":"2026-01-05T10:00:02Z","orderId":")",
            id, R"(","sequence":3,"status":"Confirmed"})"),
        absl::StrCat(
            R"({"type":"OrderStatusChanged","eventId":"e4","occurredAt":"2026-01-05T10:00:03Z","orderId":")",
            id, R"(","sequence":4,"status":"Shipped"})"),
        absl::StrCat(
            R"({"type":"OrderStatusChanged","eventId":"e5","occurredAt":"2026-01-05T10:00:04Z","orderId":")",
            id, R"(","sequence":5,"status":"Delivered"})"),
    };
    for (const std::string& e : events) {
      r.offset = ++offset;
      r.value = e;
      benchmark::DoNotOptimize(processor.Process(r));
    }
    if (order % 10'000 == 0) processor.changes().Clear();
  }
  state.SetItemsProcessed(state.iterations() * 5);
}
BENCHMARK(BM_ProcessOrderEvents);

void BM_GateClassify(benchmark::State& state) {
  sv::gate::KeyGate key{.last_sequence = 41};
  int64_t seq = 0;
  for (auto _ : state) benchmark::DoNotOptimize(sv::gate::Classify(key, 40 + (++seq & 3), 1));
}
BENCHMARK(BM_GateClassify);

void BM_EncodeKey(benchmark::State& state) {
  sv::Value key[2] = {sv::Value::Text("o-0000123"), sv::Value::Int(3)};
  std::string out;
  for (auto _ : state) {
    out.clear();
    sv::EncodeKey(key, 2, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_EncodeKey);

}  // namespace
