// Expressions: the input's first byte picks a place in the orders example's config, the rest is
// the expression written there; the config is compiled (the projection's own name resolution
// and type checks) and, when it compiles, three fixed events are applied through it, so the
// expression is evaluated against event fields, arrays, headers, meta, params and rows.
//   0: orders_view OrderItemAdded set total_net (numeric)   1: … set item_count (integer)
//   2: … set status (text)   3: … when   4: order_items_view OrderCreated explode

#include <string>

#include "engine/processor.h"
#include "engine/row_sets.h"
#include "fuzz/fuzz_common.h"

namespace {

constexpr const char* kEvents[] = {
    R"({"type":"OrderCreated","orderId":"o-1","sequence":1,"eventId":"e1",)"
    R"("occurredAt":"2024-05-01T10:00:00Z","customerId":"c-1","currency":"EUR","items":[)"
    R"({"sku":"A","qty":2,"price":9.99},{"sku":"B","qty":1,"price":0.5,)"
    R"("tags":["x",null,{"k":[1,2]}]},{"sku":null,"qty":-3,"price":1e300}]})",
    R"({"key":"o-1","headers":{"x-sequence":"2","x-note":"caf\u00e9"},"value":{)"
    R"("type":"OrderItemAdded","orderId":"o-1","eventId":"e2","occurredAt":"2024-05-01T10:05:00Z",)"
    R"("sku":"C","qty":3,"price":1000,"flag":true,"note":"","when":"2024-02-29T23:59:59.999999Z",)"
    R"("nested":{"a":{"b":[1.5,-2,"3",9223372036854775807]}}}})",
    R"({"type":"OrderItemAdded","orderId":"o-1","sequence":3,"eventId":"e3",)"
    R"("occurredAt":"2024-05-01T10:06:00Z","sku":"D","qty":-9223372036854775808,"price":-0.0,)"
    R"("items":[],"nested":{}})",
};

sv::config::HandlerConfig* FindHandler(sv::config::Config& config, const std::string& view,
                                       const std::string& type) {
  for (auto& v : config.views) {
    if (v.name != view) continue;
    for (auto& h : v.handlers) {
      if (h.event_type == type) return &h;
    }
  }
  return nullptr;
}

// Puts `sql` as column `column`'s expression (replacing the handler's own, or added).
void SetColumn(sv::config::HandlerConfig* handler, const std::string& column,
               const std::string& sql) {
  for (auto& [name, expr] : handler->set) {
    if (name == column) {
      expr.sql = sql;
      return;
    }
  }
  handler->set.push_back({column, {sql, handler->loc}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sv;
  if (size < 1) return 0;
  const std::string sql(fuzz::AsText(data + 1, size - 1));
  config::Config config = fuzz::OrdersConfig();
  config::HandlerConfig* added = FindHandler(config, "orders_view", "OrderItemAdded");
  config::HandlerConfig* created = FindHandler(config, "order_items_view", "OrderCreated");
  if (added == nullptr || created == nullptr) __builtin_trap();  // the example changed
  switch (data[0] % 5) {
    case 0:
      SetColumn(added, "total_net", sql);
      break;
    case 1:
      SetColumn(added, "item_count", sql);
      break;
    case 2:
      SetColumn(added, "status", sql);
      break;
    case 3:
      added->when = config::ExprText{sql, added->loc};
      break;
    default:
      created->explode = config::ExprText{sql, created->loc};
      break;
  }
  auto catalog = projection::Compile(config);
  if (!catalog.ok()) {
    fuzz::Explain(catalog.status());
    return 0;
  }
  engine::MemoryRowSet rows((*catalog)->views.size());
  engine::Processor processor(catalog->get(), 0, config.gate, &rows, engine::StateLoader{});
  int64_t offset = 0;
  for (const char* line : kEvents) {
    source::SourceRecord record;
    record.offset = ++offset;
    record.log_time_us = offset * 1'000'000;
    record.value = line;
    (void)processor.Process(record);
  }
  return 0;
}
