// Prepares a store whose orders_view already holds N rows, for the HTTP read benchmark
// (bench/http.sh): building 10M rows by replaying 50M events would take the benchmark's whole
// budget and measure the rebuild, not the reads. Rows are synthetic but shaped like the
// generator's orders (ids o-%07d, the generator's statuses, currencies, timestamps), written
// through the store's own bulk path into the active version of the view, recorded with the
// compiled definition hash so `streamview run` serves it as built and applies new events on top.
//
//   fill_orders_view --config examples/orders/streamview.yaml --store DB --rows 10000000

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "config/config.h"
#include "engine/engine.h"
#include "projection/projection.h"
#include "store/store.h"

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "fill_orders_view: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, store_path;
  int64_t rows = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config") config_path = argv[i + 1];
    if (flag == "--store") store_path = argv[i + 1];
    if (flag == "--rows") rows = std::atoll(argv[i + 1]);
  }
  if (config_path.empty() || store_path.empty() || rows <= 0) {
    std::fprintf(stderr, "usage: fill_orders_view --config C --store DB --rows N\n");
    return 2;
  }
  auto config = sv::config::LoadConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  auto catalog = sv::projection::Compile(*config);
  if (!catalog.ok()) return Fail(catalog.status());
  const int v = (*catalog)->FindView("orders_view");
  if (v < 0) return Fail(absl::NotFoundError("the config has no orders_view"));
  const sv::projection::ViewPlan& plan = (*catalog)->views[v];

  sv::store::StoreOptions options = sv::engine::StoreOptionsFor(config->store);
  if (store_path.rfind("postgres://", 0) == 0 || store_path.rfind("postgresql://", 0) == 0) {
    options.kind = "postgres";
    options.dsn = store_path;
  } else {
    options.kind = "sqlite";
    options.path = store_path;
  }
  auto store = sv::store::OpenStore(options, sv::store::StoreRole::kBulk);
  if (!store.ok()) return Fail(store.status());
  if (absl::Status s = (*store)->Init(); !s.ok()) return Fail(s);
  const sv::store::TableSpec table = sv::engine::TableFor(plan, 1);
  if (absl::Status s = (*store)->CreateTable(table); !s.ok()) return Fail(s);

  static const char* kStatuses[] = {"Created", "Paid",      "Packed",
                                    "Shipped", "Delivered", "Cancelled"};
  static const char* kCurrencies[] = {"EUR", "USD", "PLN", "GBP"};
  std::mt19937_64 rng(42);
  const int64_t base_us = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
  int64_t i = 0;
  sv::Row row(table.columns.size());
  char id[32];
  auto next = [&]() -> const sv::Row* {
    if (i >= rows) return nullptr;
    std::snprintf(id, sizeof(id), "o-%07lld", static_cast<long long>(i));
    const double net = static_cast<double>(rng() % 100'000) / 100.0;
    const int items = 1 + static_cast<int>(rng() % 5);
    row[0] = sv::Value::Text(id);
    row[1] = sv::Value::Text("c-" + std::to_string(rng() % 100'000));
    row[2] = sv::Value::Text(kStatuses[rng() % 6]);
    row[3] = sv::Value::Real(net);
    row[4] = sv::Value::Real(static_cast<double>(static_cast<int64_t>(net * 123.0 + 0.5)) / 100.0);
    row[5] = sv::Value::Text(kCurrencies[rng() % 4]);
    row[6] = sv::Value::Int(items);
    row[7] = sv::Value::Int(1 + items);
    row[8] = sv::Value::Text("ev-" + std::to_string(i));
    row[9] = sv::Value::Time(base_us + static_cast<int64_t>(rng() % (300LL * 86'400'000'000LL)));
    ++i;
    return &row;
  };
  if (absl::Status s = (*store)->BulkInsert(table, next); !s.ok()) return Fail(s);
  if (absl::Status s =
          (*store)->RecordViewVersion({plan.name, 1, table.name, plan.definition_hash, false});
      !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = (*store)->ActivateVersion(plan.name, 1, table.name); !s.ok()) return Fail(s);
  std::printf("{\"rows\":%lld}\n", static_cast<long long>(rows));
  return 0;
}
