// Derived SQL: the input is a `CREATE VIEW <name> AS SELECT …` over the orders example's views,
// compiled as a derived view of that config (parse, name resolution, aggregates, static types)
// and re-emitted for both stores; when it compiles, it is maintained over fixed rows: loaded,
// then fed an update, an insert and a delete, flushed and read back.

#include <cmath>
#include <limits>
#include <string>

#include "derived/maintainer.h"
#include "fuzz/fuzz_common.h"
#include "sql/deparse.h"
#include "sql/select.h"

namespace {

using sv::Row;
using sv::Value;

// orders_view: order_id, customer_id, status, total_net, total_gross, currency, item_count,
// last_event_sequence, last_event_id, updated_at.
Row Order(const char* id, const char* customer, const char* status, double net, int64_t items,
          int64_t at_us) {
  return {Value::Text(id),   Value::Text(customer), Value::Text(status), Value::Real(net),
          Value::Real(net),  Value::Text("EUR"),    Value::Int(items),   Value::Int(items + 1),
          Value::Text("e1"), Value::Time(at_us)};
}

// order_items_view: order_id, line_no, sku, qty, price, net_line_total, gross_line_total.
Row Item(const char* order, int64_t line, Value sku, int64_t qty, double price) {
  return {Value::Text(order), Value::Int(line),   std::move(sku),
          Value::Int(qty),    Value::Real(price), Value::Real(static_cast<double>(qty) * price),
          Value::Null()};
}

const std::vector<Row>& Rows(const std::string& view) {
  static const std::vector<Row> orders = {
      Order("o-1", "c-1", "Created", 10.5, 2, 1'714'557'600'000'000),
      Order("o-2", "c-1", "Shipped", -0.0, 0, 0),
      Order("o-3", "c-2", "", 1e300, std::numeric_limits<int32_t>::max(), -86'400'000'000),
      {Value::Text("o-4"), Value::Null(), Value::Null(), Value::Null(), Value::Null(),
       Value::Null(), Value::Null(), Value::Null(), Value::Null(), Value::Null()},
  };
  static const std::vector<Row> items = {
      Item("o-1", 1, Value::Text("A"), 2, 9.99),
      Item("o-1", 2, Value::Text("B"), 1, 0.5),
      Item("o-2", 1, Value::Text("A"), -3, 1e-300),
      Item("o-9", 1, Value::Null(), 1'000'000, 123.25),
  };
  static const std::vector<Row> none;
  if (view == "orders_view") return orders;
  if (view == "order_items_view") return items;
  return none;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sv;
  const std::string sql(fuzz::AsText(data, size));
  // The view's name is the one the statement declares (a config that names it otherwise is
  // rejected before anything interesting happens).
  auto statement = sql::SelectStatement::Parse(sql, Location{});
  if (!statement.ok()) return 0;
  config::Config config = fuzz::OrdersConfig();
  config::DerivedViewConfig derived;
  derived.name = (*statement)->view_name();
  derived.sql = {sql, Location{}};
  config.derived_views.push_back(derived);
  (void)sql::StoreSelect(sql, sql::SqlDialect::kSqlite);
  (void)sql::StoreSelect(sql, sql::SqlDialect::kPostgres);
  auto compiled = projection::Compile(config);
  if (!compiled.ok()) {
    fuzz::Explain(compiled.status());
    return 0;
  }
  const projection::Catalog& catalog = **compiled;

  derived::Maintainer maintainer(&catalog);
  auto scan = [&](int view, const std::function<void(const Row&)>& each) {
    for (const Row& row : Rows(catalog.views[view].name)) each(row);
    return absl::OkStatus();
  };
  if (!maintainer.Load(scan).ok()) return 0;
  auto ignore = [](int, const Row*, const Row*) { return absl::OkStatus(); };
  for (size_t v = 0; v < catalog.views.size(); ++v) {
    const std::vector<Row>& rows = Rows(catalog.views[v].name);
    if (rows.size() < 2 || !maintainer.Reads(static_cast<int>(v))) continue;
    const int view = static_cast<int>(v);
    maintainer.OnChange(view, &rows[0], &rows[1]);  // an update
    maintainer.OnChange(view, nullptr, &rows[0]);   // an insert
    maintainer.OnChange(view, &rows[1], nullptr);   // a delete
  }
  (void)maintainer.Flush(ignore);
  maintainer.ForEachRow(static_cast<int>(catalog.views.size()) - 1, [](const Row&) {});
  return 0;
}
