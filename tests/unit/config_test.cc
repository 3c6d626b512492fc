#include "config/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "projection/projection.h"
#include "small_config_yaml.h"

namespace sv::config {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

// A verbatim copy of examples/orders/streamview.yaml (line numbers below refer to it). The test
// ExampleFileMatchesEmbeddedCopy keeps the two in step.
constexpr char kOrdersYaml[] =
    R"yaml(# Seed 003's orders example, entirely in config: OrderCreated / OrderItemAdded /
# OrderStatusChanged events (keyed by orderId, ordered by the x-sequence header) maintain
# orders_view and order_items_view.
store:
  kind: sqlite
  path: orders.db            # relative to this file; override with --store

params:
  vat_rate: 0.23             # gross = net * (1 + vat_rate)

sources:
  orders:
    kind: log                # the embedded log (streamview ingest appends to it)
    key: orderId             # routing key field; an envelope's "key" wins
    type: type               # field naming the event type
    sequence:
      header: x-sequence     # per-key sequence from the envelope header...
      field: sequence        # ...or from this event field
    event_id: eventId
    timestamp: occurredAt
    first_sequence: 1
    unknown_types: dead_letter   # or: ignore
    event_types: [OrderCreated, OrderItemAdded, OrderStatusChanged, OrderPurged]

gate:
  stash_max_age_ms: 60000    # a gap not filled within 60 s of log time is dead-lettered
  stash_max_events: 1000     # ... or when a key stashes more than this
  dedup_window: 100000       # positions apart a duplicate id is still caught (no sequence)

engine:
  # batch_events: by store (50000 on SQLite, 5000 on PostgreSQL)
  cache_rows: 200000

server:                      # `streamview run` serves REST, ops, probes and /metrics
  listen: 127.0.0.1:8080     # override with `run --listen host:port`
  token_env: STREAMVIEW_TOKEN  # bearer token for ops routes and POST /events
  default_limit: 50
  max_limit: 1000
  read_wait_ms: 2000         # read-your-writes: longest wait for a min_position
  shutdown_grace_ms: 10000

views:
  orders_view:
    source: orders
    key: [order_id]
    columns:
      order_id: text
      customer_id: text
      status: text
      total_net: numeric
      total_gross: numeric
      currency: text
      item_count: {type: integer, default: 0}
      last_event_sequence: integer
      last_event_id: text
      updated_at: timestamp
    indexes:
      - [status, updated_at]     # ascending: serves both sort directions
      - [customer_id]
      - [updated_at]
    api:
      path: /orders          # seed 003: GET /orders?status=&from=&to=&page=&pageSize=&sort=
      time_column: updated_at
    on:
      "*":                   # merged into every handler below
        set:
          order_id: e.orderId
          last_event_sequence: meta.sequence
          last_event_id: meta.event_id
          updated_at: e.occurredAt
      OrderCreated:
        set:
          customer_id: e.customerId
          status: "'Created'"
          currency: e.currency
          total_net: "round(coalesce((SELECT sum(i.qty * i.price) FROM e.items AS i), 0), 2)"
          total_gross: "round(coalesce((SELECT sum(i.qty * i.price) FROM e.items AS i), 0) * (1 + params.vat_rate), 2)"
          item_count: "coalesce(length(e.items), 0)"
      OrderItemAdded:
        set:
          total_net: "round(coalesce(total_net, 0) + e.qty * e.price, 2)"
          total_gross: "round((coalesce(total_net, 0) + e.qty * e.price) * (1 + params.vat_rate), 2)"
          item_count: "coalesce(item_count, 0) + 1"
      OrderStatusChanged:
        set:
          status: e.status
      OrderPurged:
        delete: true

  order_items_view:
    source: orders
    key: [order_id, line_no]
    columns:
      order_id: text
      line_no: integer
      sku: text
      qty: integer
      price: numeric
      net_line_total: numeric
      gross_line_total: numeric
    indexes:
      - [order_id]
    on:
      OrderCreated:
        explode: e.items
        as: i
        set:
          order_id: e.orderId
          line_no: meta.ordinality
          sku: i.sku
          qty: i.qty
          price: i.price
          net_line_total: "round(i.qty * i.price, 2)"
          gross_line_total: "round(i.qty * i.price * (1 + params.vat_rate), 2)"
      OrderItemAdded:
        set:
          order_id: e.orderId
          line_no: orders_view.item_count    # the order's item count after this event
          sku: e.sku
          qty: e.qty
          price: e.price
          net_line_total: "round(e.qty * e.price, 2)"
          gross_line_total: "round(e.qty * e.price * (1 + params.vat_rate), 2)"
)yaml";

// Parses `text` as "views.yaml" and returns the error message ("" when it loaded).
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<Config> config = ParseConfig(text, "views.yaml");
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

const ViewConfig* FindView(const Config& config, const std::string& name) {
  for (const ViewConfig& v : config.views) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

const ExprText* FindSet(const HandlerConfig& handler, const std::string& column) {
  for (const auto& [name, expr] : handler.set) {
    if (name == column) return &expr;
  }
  return nullptr;
}

std::vector<std::string> SetColumns(const HandlerConfig& handler) {
  std::vector<std::string> out;
  for (const auto& [name, expr] : handler.set) out.push_back(name);
  return out;
}

TEST(ConfigTest, ExampleFileMatchesEmbeddedCopy) {
  std::vector<fs::path> candidates = {fs::path(__FILE__).parent_path() /
                                      "../../examples/orders/streamview.yaml"};
  for (fs::path dir = fs::current_path(); dir.has_relative_path(); dir = dir.parent_path()) {
    candidates.push_back(dir / "examples/orders/streamview.yaml");
  }
  for (const fs::path& candidate : candidates) {
    std::ifstream in(candidate, std::ios::binary);
    if (!in) continue;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, kOrdersYaml) << "update kOrdersYaml from " << candidate;
    return;
  }
  GTEST_SKIP() << "examples/orders/streamview.yaml not found";
}

TEST(ConfigTest, LoadsOrdersExample) {
  absl::StatusOr<Config> config = ParseConfig(kOrdersYaml, "/etc/sv/streamview.yaml");
  ASSERT_TRUE(config.ok()) << config.status();

  EXPECT_EQ(config->file, "/etc/sv/streamview.yaml");
  EXPECT_EQ(config->base_dir, "/etc/sv");
  EXPECT_EQ(config->store.kind, "sqlite");
  EXPECT_EQ(config->store.path, "/etc/sv/orders.db");
  EXPECT_EQ(config->store.loc.line, 4);

  ASSERT_EQ(config->params.size(), 1u);
  const Value& vat = config->params.at("vat_rate");
  EXPECT_EQ(vat.type(), Type::kReal);
  EXPECT_DOUBLE_EQ(vat.as_real(), 0.23);

  ASSERT_EQ(config->sources.size(), 1u);
  const SourceConfig& src = config->sources[0];
  EXPECT_EQ(src.name, "orders");
  EXPECT_EQ(src.kind, "log");
  EXPECT_EQ(src.key_field, "orderId");
  EXPECT_EQ(src.type_field, "type");
  EXPECT_EQ(src.type_header, "");
  EXPECT_EQ(src.sequence_header, "x-sequence");
  EXPECT_EQ(src.sequence_field, "sequence");
  EXPECT_EQ(src.event_id_field, "eventId");
  EXPECT_EQ(src.timestamp_field, "occurredAt");
  EXPECT_EQ(src.first_sequence, 1);
  EXPECT_EQ(src.unknown_types, UnknownTypePolicy::kDeadLetter);
  EXPECT_THAT(src.event_types,
              ElementsAre("OrderCreated", "OrderItemAdded", "OrderStatusChanged", "OrderPurged"));
  EXPECT_EQ(src.loc.line, 12);
  EXPECT_EQ(src.loc.column, 3);

  EXPECT_EQ(config->gate.stash_max_age_ms, 60000);
  EXPECT_EQ(config->gate.stash_max_events, 1000);
  EXPECT_EQ(config->gate.dedup_window, 100000);
  EXPECT_EQ(config->engine.batch_events, 0);  // by store
  EXPECT_EQ(config->engine.cache_rows, 200000);
  EXPECT_EQ(config->engine.poll_idle_ms, 1);     // default
  EXPECT_EQ(config->engine.rebuild_threads, 2);  // default

  ASSERT_EQ(config->views.size(), 2u);
  EXPECT_EQ(config->views[0].name, "orders_view");
  EXPECT_EQ(config->views[1].name, "order_items_view");

  // orders_view
  const ViewConfig& orders = config->views[0];
  EXPECT_EQ(orders.source, "orders");
  EXPECT_EQ(orders.loc.ToString(), "/etc/sv/streamview.yaml:43:3");
  EXPECT_THAT(orders.key, ElementsAre("order_id"));
  ASSERT_EQ(orders.columns.size(), 10u);
  std::vector<std::string> names;
  for (const ColumnConfig& c : orders.columns) names.push_back(c.name);
  EXPECT_THAT(names, ElementsAre("order_id", "customer_id", "status", "total_net", "total_gross",
                                 "currency", "item_count", "last_event_sequence", "last_event_id",
                                 "updated_at"));
  EXPECT_EQ(orders.columns[0].type, Type::kText);
  EXPECT_EQ(orders.columns[3].type, Type::kReal);
  EXPECT_EQ(orders.columns[6].type, Type::kInt);
  EXPECT_EQ(orders.columns[7].type, Type::kInt);
  EXPECT_EQ(orders.columns[9].type, Type::kTime);
  EXPECT_FALSE(orders.columns[0].default_value.has_value());
  ASSERT_TRUE(orders.columns[6].default_value.has_value());
  EXPECT_EQ(orders.columns[6].default_value->sql, "0");
  EXPECT_EQ(orders.columns[6].default_value->loc.line, 53);
  EXPECT_EQ(orders.columns[6].default_value->loc.column, 44);
  EXPECT_EQ(orders.columns[6].loc.line, 53);
  EXPECT_EQ(orders.columns[6].loc.column, 7);

  ASSERT_EQ(orders.indexes.size(), 3u);
  EXPECT_THAT(orders.indexes[0].columns, ElementsAre("status", "updated_at"));
  EXPECT_EQ(orders.indexes[0].loc.line, 58);
  EXPECT_THAT(orders.indexes[1].columns, ElementsAre("customer_id"));
  EXPECT_EQ(orders.indexes[1].loc.line, 59);

  ASSERT_EQ(orders.handlers.size(), 5u);
  std::vector<std::string> types;
  for (const HandlerConfig& h : orders.handlers) types.push_back(h.event_type);
  EXPECT_THAT(types, ElementsAre("*", "OrderCreated", "OrderItemAdded", "OrderStatusChanged",
                                 "OrderPurged"));
  const HandlerConfig& star = orders.handlers[0];
  EXPECT_EQ(star.loc.line, 65);
  EXPECT_EQ(star.loc.column, 7);
  EXPECT_THAT(SetColumns(star),
              ElementsAre("order_id", "last_event_sequence", "last_event_id", "updated_at"));
  EXPECT_EQ(star.set[0].second.sql, "e.orderId");
  EXPECT_EQ(star.set[0].second.loc.ToString(), "/etc/sv/streamview.yaml:67:21");
  EXPECT_EQ(star.set[1].second.sql, "meta.sequence");
  EXPECT_EQ(star.set[1].second.loc.line, 68);
  EXPECT_FALSE(star.delete_row);
  EXPECT_FALSE(star.when.has_value());
  EXPECT_FALSE(star.explode.has_value());

  const HandlerConfig& created = orders.handlers[1];
  EXPECT_THAT(SetColumns(created), ElementsAre("customer_id", "status", "currency", "total_net",
                                               "total_gross", "item_count"));
  const ExprText* status = FindSet(created, "status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->sql, "'Created'");  // the quotes are YAML's; the inner ones are SQL's
  EXPECT_EQ(status->loc.line, 74);
  EXPECT_EQ(status->loc.column, 20);  // first character inside the double quotes
  const ExprText* gross = FindSet(created, "total_gross");
  ASSERT_NE(gross, nullptr);
  EXPECT_EQ(gross->sql,
            "round(coalesce((SELECT sum(i.qty * i.price) FROM e.items AS i), 0) * (1 + "
            "params.vat_rate), 2)");
  EXPECT_EQ(gross->loc.line, 77);
  EXPECT_EQ(gross->loc.column, 25);
  // An offset inside the expression maps onto the file.
  const size_t offset = gross->sql.find("params.vat_rate");
  EXPECT_EQ(gross->loc.Advance(gross->sql, offset).column, 25 + static_cast<int>(offset));

  const HandlerConfig& added = orders.handlers[2];
  EXPECT_THAT(SetColumns(added), ElementsAre("total_net", "total_gross", "item_count"));
  EXPECT_EQ(FindSet(added, "item_count")->sql, "coalesce(item_count, 0) + 1");
  EXPECT_EQ(FindSet(added, "item_count")->loc.line, 83);

  const HandlerConfig& changed = orders.handlers[3];
  ASSERT_EQ(changed.set.size(), 1u);
  EXPECT_EQ(changed.set[0].second.sql, "e.status");
  EXPECT_EQ(changed.set[0].second.loc.ToString(), "/etc/sv/streamview.yaml:86:19");

  const HandlerConfig& purged = orders.handlers[4];
  EXPECT_TRUE(purged.delete_row);
  EXPECT_TRUE(purged.set.empty());
  EXPECT_EQ(purged.loc.line, 87);

  // order_items_view
  const ViewConfig* items = FindView(*config, "order_items_view");
  ASSERT_NE(items, nullptr);
  EXPECT_EQ(items->source, "orders");
  EXPECT_THAT(items->key, ElementsAre("order_id", "line_no"));
  ASSERT_EQ(items->columns.size(), 7u);
  EXPECT_EQ(items->columns[1].type, Type::kInt);
  EXPECT_EQ(items->columns[4].type, Type::kReal);
  ASSERT_EQ(items->indexes.size(), 1u);
  EXPECT_THAT(items->indexes[0].columns, ElementsAre("order_id"));
  ASSERT_EQ(items->handlers.size(), 2u);
  const HandlerConfig& explode = items->handlers[0];
  EXPECT_EQ(explode.event_type, "OrderCreated");
  ASSERT_TRUE(explode.explode.has_value());
  EXPECT_EQ(explode.explode->sql, "e.items");
  EXPECT_EQ(explode.explode->loc.line, 105);
  EXPECT_EQ(explode.explode->loc.column, 18);
  EXPECT_EQ(explode.explode_as, "i");
  EXPECT_THAT(SetColumns(explode), ElementsAre("order_id", "line_no", "sku", "qty", "price",
                                               "net_line_total", "gross_line_total"));
  EXPECT_EQ(FindSet(explode, "line_no")->sql, "meta.ordinality");
  EXPECT_EQ(FindSet(explode, "line_no")->loc.line, 109);
  const HandlerConfig& item_added = items->handlers[1];
  EXPECT_EQ(item_added.event_type, "OrderItemAdded");
  EXPECT_FALSE(item_added.explode.has_value());
  EXPECT_EQ(item_added.explode_as, "item");  // default
  // A trailing comment is not part of the expression.
  EXPECT_EQ(FindSet(item_added, "line_no")->sql, "orders_view.item_count");
  EXPECT_EQ(FindSet(item_added, "line_no")->loc.line, 118);
}

TEST(ConfigTest, LoadConfigReadsFileAndResolvesStorePath) {
  const fs::path dir = fs::temp_directory_path() / "sv_config_test_load";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path file = dir / "streamview.yaml";
  {
    std::ofstream out(file, std::ios::binary);
    out << kOrdersYaml;
  }
  absl::StatusOr<Config> config = LoadConfig(file.string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->file, file.lexically_normal().string());
  EXPECT_EQ(config->base_dir, dir.lexically_normal().string());
  EXPECT_EQ(config->store.path, (dir / "orders.db").lexically_normal().string());
  EXPECT_EQ(config->views.size(), 2u);
  EXPECT_EQ(config->views[0].loc.file, file.string());
  fs::remove_all(dir);
}

TEST(ConfigTest, AbsoluteStorePathIsKept) {
  absl::StatusOr<Config> config = ParseConfig(
      std::string("store: {kind: sqlite, path: /var/lib/sv/x.db}\n") + kSmallYaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.path, "/var/lib/sv/x.db");
}

TEST(ConfigTest, SmallConfigLoadsWithDefaults) {
  absl::StatusOr<Config> config = ParseConfig(kSmallYaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.path, "");
  EXPECT_TRUE(config->params.empty());
  EXPECT_EQ(config->sources[0].type_field, "type");
  EXPECT_EQ(config->sources[0].event_id_field, "eventId");
  EXPECT_EQ(config->sources[0].sequence_header, "");
  EXPECT_EQ(config->gate.stash_max_events, 1000);
  EXPECT_EQ(config->engine.batch_events, 0);  // by store
  EXPECT_EQ(config->views[0].handlers[0].set[0].second.loc.ToString(), "views.yaml:14:21");
}

TEST(ConfigTest, ParamScalarsBecomeTypedValues) {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(params:
  i: 42
  neg: -7
  r: 1.5e3
  t: true
  f: false
  s: EUR
  q: "12"
  n: null
)yaml" + std::string(kSmallYaml),
                                              "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const auto& p = config->params;
  EXPECT_EQ(p.at("i"), Value::Int(42));
  EXPECT_EQ(p.at("neg"), Value::Int(-7));
  EXPECT_EQ(p.at("r"), Value::Real(1500));
  EXPECT_EQ(p.at("t"), Value::Bool(true));
  EXPECT_EQ(p.at("f"), Value::Bool(false));
  EXPECT_EQ(p.at("s"), Value::Text("EUR"));
  EXPECT_EQ(p.at("q"), Value::Text("12"));  // quoted: text
  EXPECT_TRUE(p.at("n").is_null());
}

TEST(ConfigTest, SourceVariantsOfTypeAndSequence) {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(sources:
  s:
    key: k
    type: {field: kind, header: x-type}
    sequence: {header: x-seq}
    unknown_types: ignore
    first_sequence: 5
    event_types: [A]
views:
  v:
    source: s
    key: [id]
    columns: {id: text}
)yaml",
                                              "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const SourceConfig& s = config->sources[0];
  EXPECT_EQ(s.type_field, "kind");
  EXPECT_EQ(s.type_header, "x-type");
  EXPECT_EQ(s.sequence_header, "x-seq");
  EXPECT_EQ(s.sequence_field, "");
  EXPECT_EQ(s.unknown_types, UnknownTypePolicy::kIgnore);
  EXPECT_EQ(s.first_sequence, 5);
  EXPECT_TRUE(config->views[0].handlers.empty());
}

TEST(ConfigTest, ExpressionLocations) {
  absl::StatusOr<Config> config = ParseConfig(R"yaml(sources:
  s: {key: k, event_types: [A]}
views:
  v:
    source: s
    key: [id]
    columns:
      id: text
      n: {type: int, default: 'NULL'}
      b: boolean
      x: real
    on:
      A:
        when: "e.kind = 'x'"
        set:
          n: |
            coalesce(n, 0)
              + 1
          b: true
          x: null
)yaml",
                                              "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const ViewConfig& v = config->views[0];
  EXPECT_EQ(v.columns[1].default_value->sql, "NULL");
  EXPECT_EQ(v.columns[1].default_value->loc.ToString(), "views.yaml:9:32");  // inside '…'
  const HandlerConfig& h = v.handlers[0];
  ASSERT_TRUE(h.when.has_value());
  EXPECT_EQ(h.when->sql, "e.kind = 'x'");
  EXPECT_EQ(h.when->loc.ToString(), "views.yaml:14:16");
  ASSERT_EQ(h.set.size(), 3u);
  EXPECT_EQ(h.set[0].second.sql, "coalesce(n, 0)\n  + 1\n");
  EXPECT_EQ(h.set[0].second.loc.ToString(), "views.yaml:17:13");  // first content line
  EXPECT_EQ(h.set[1].second.sql, "true");
  EXPECT_EQ(h.set[2].second.sql, "null");
  EXPECT_EQ(h.set[2].second.loc.ToString(), "views.yaml:20:14");
}

TEST(ConfigTest, ParseTypeNames) {
  EXPECT_EQ(ParseTypeName("text"), Type::kText);
  EXPECT_EQ(ParseTypeName("integer"), Type::kInt);
  EXPECT_EQ(ParseTypeName("bigint"), Type::kInt);
  EXPECT_EQ(ParseTypeName("int"), Type::kInt);
  EXPECT_EQ(ParseTypeName("numeric"), Type::kReal);
  EXPECT_EQ(ParseTypeName("real"), Type::kReal);
  EXPECT_EQ(ParseTypeName("double"), Type::kReal);
  EXPECT_EQ(ParseTypeName("boolean"), Type::kBool);
  EXPECT_EQ(ParseTypeName("bool"), Type::kBool);
  EXPECT_EQ(ParseTypeName("timestamp"), Type::kTime);
  EXPECT_EQ(ParseTypeName("timestamptz"), Type::kTime);
  EXPECT_EQ(ParseTypeName("interval"), Type::kInterval);
  EXPECT_EQ(ParseTypeName("TEXT"), Type::kText);
  EXPECT_EQ(ParseTypeName("varchar"), std::nullopt);
  EXPECT_EQ(ParseTypeName(""), std::nullopt);
}

// ---- errors ----

TEST(ConfigErrorTest, UnknownEventType) {
  std::string text = kSmallYaml;
  text.replace(text.find("OrderCreated:"), 13, "OrderCreatd:");
  const std::string error = ErrorOf(text);
  EXPECT_THAT(error, StartsWith("views.yaml:12:7: unknown event type 'OrderCreatd'"));
  EXPECT_THAT(error, HasSubstr("for source 'orders' (declared: OrderCreated, OrderPurged)"));
}

// The trap a new user fell into: '*' with every column and only a delete handler beside it
// loaded fine and then ignored every insert and update.
TEST(ConfigErrorTest, WildcardWithOnlyDeleteHandlersIsRefused) {
  std::string text = kSmallYaml;
  text.replace(text.find("      OrderCreated:"), std::string("      OrderCreated:").size(),
               "      OrderPurged: {delete: true}\n      \"*\":");
  const std::string error = ErrorOf(text);
  EXPECT_THAT(error, StartsWith("views.yaml:11:5: 'on' of view 'orders_view' has no handler "
                                "that writes a row (only deletes and '*')"));
  EXPECT_THAT(error, HasSubstr("e.g. OrderCreated: {}"));
}

TEST(ConfigErrorTest, UnknownViewKey) {
  std::string text = kSmallYaml;
  text.replace(text.find("columns:"), 8, "colums:");
  const std::string error = ErrorOf(text);
  EXPECT_THAT(error, StartsWith("views.yaml:9:5: unknown key 'colums' in view 'orders_view' "
                                "(expected one of: source, key, columns, indexes, on, api, tenant, "
                                "internal, version, previous)"));
}

TEST(ConfigErrorTest, AViewVersionIsAPositiveIntegerNamedByFileAndLine) {
  std::string text = kSmallYaml;
  text.replace(text.find("    columns:"), 0, "    version: two\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:9:14: 'version' of view 'orders_view' must "
                                        "be an integer, not 'two'"));
  text.replace(text.find("two"), 3, "0");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:9:14: 'version' of view 'orders_view' must "
                                        "be between 1 and"));
  text.replace(text.find("version: 0"), 10, "version: 2");
  auto config = ParseConfig(text, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->views[0].version, 2);
}

TEST(ConfigErrorTest, UnknownTopLevelKey) {
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "engnie:\n  batch_events: 5\n"),
              StartsWith("views.yaml:15:1: unknown key 'engnie' in the config file (expected "
                         "one of: store, params, sources, gate, engine, server, views, "
                         "derived_views, lookups, verify, collections, tracing)"));
}

TEST(ConfigErrorTest, UnknownKeysInNestedSections) {
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "gate:\n  stash_max_age: 5\n"),
              StartsWith("views.yaml:16:3: unknown key 'stash_max_age' in gate"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "store:\n  kind: sqlite\n  file: x.db\n"),
              StartsWith("views.yaml:17:3: unknown key 'file' in store"));
  std::string text = kSmallYaml;
  text.replace(text.find("    key: orderId"), 16, "    keys: orderId");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:3:5: unknown key 'keys' in source 'orders'"));
  text = kSmallYaml;
  text.replace(text.find("        set:"), 12, "        sett:");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:13:9: unknown key 'sett' in handler "
                                        "'OrderCreated' of view 'orders_view'"));
}

TEST(ConfigTest, Collections) {
  auto config = ParseConfig(std::string(kSmallYaml) +
                                "collections:\n  carts:\n    key: [org, id]\n"
                                "    require_preconditions: true\n"
                                "    columns: {org: text, id: integer, meta: json}\n",
                            "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->collections.size(), 1u);
  const CollectionConfig& carts = config->collections[0];
  EXPECT_EQ(carts.name, "carts");
  EXPECT_EQ(carts.key, (std::vector<std::string>{"org", "id"}));
  EXPECT_TRUE(carts.require_preconditions);
  ASSERT_EQ(carts.columns.size(), 3u);
  EXPECT_EQ(carts.columns[1].type, Type::kInt);
  EXPECT_EQ(carts.loc.line, 16);
}

// A collection is written over HTTP only: a source-fed table written behind the engine's back
// would drift from its events.
TEST(ConfigErrorTest, CollectionsAreWrittenOverHttpOnly) {
  const std::string small = kSmallYaml;
  EXPECT_THAT(ErrorOf(small + "collections:\n  carts:\n    source: orders\n    key: [id]\n"
                              "    columns: {id: text}\n"),
              StartsWith("views.yaml:17:5: collection 'carts' is written by applications over "
                         "HTTP and has no 'source'"));
  EXPECT_THAT(ErrorOf(small + "collections:\n  orders_view:\n    key: [id]\n"
                              "    columns: {id: text}\n"),
              StartsWith("views.yaml:16:3: collection 'orders_view' has the name of a view"));
  EXPECT_THAT(ErrorOf(small + "collections:\n  carts:\n    key: [idx]\n"
                              "    columns: {id: text}\n"),
              AllOf(StartsWith("views.yaml:17:"),
                    HasSubstr("key column 'idx' is not a column of collection 'carts'")));
  EXPECT_THAT(ErrorOf(small + "collections:\n  carts:\n    key: [id]\n"
                              "    columns: {id: text, d: interval}\n"),
              AllOf(StartsWith("views.yaml:18:"), HasSubstr("interval is no collection type")));
  EXPECT_THAT(ErrorOf(small + "collections:\n  carts:\n    key: [id]\n    tenant: org\n"
                              "    columns: {id: text}\n"),
              StartsWith("views.yaml:18:13: tenant column 'org' is not a column"));
}

TEST(ConfigErrorTest, UnknownStoreKind) {
  EXPECT_THAT(ErrorOf("store:\n  kind: mysql\n" + std::string(kSmallYaml)),
              StartsWith("views.yaml:2:9: unknown store kind 'mysql' (expected one of: "
                         "sqlite, postgres, memory)"));
}

TEST(ConfigTest, MemoryStore) {
  absl::StatusOr<Config> config =
      ParseConfig("store: {kind: memory}\n" + std::string(kSmallYaml), "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.kind, "memory");
  EXPECT_EQ(config->store.path, "");
}

TEST(ConfigErrorTest, MemoryStoreErrors) {
  const std::string views = kSmallYaml;
  EXPECT_THAT(ErrorOf("store:\n  kind: memory\n  path: a.db\n" + views),
              StartsWith("views.yaml:3:3: store key 'path' does not apply to kind memory"));
  EXPECT_THAT(ErrorOf("store:\n  kind: memory\n  dsn: x\n" + views),
              StartsWith("views.yaml:3:3: store key 'dsn' does not apply to kind memory"));
  // A refresh runs the view's SELECT in the store, which a memory store cannot.
  EXPECT_THAT(ErrorOf("store:\n  kind: memory\n" + views +
                      "derived_views:\n  n:\n    refresh: \"@hourly\"\n"
                      "    sql: \"CREATE VIEW n AS SELECT count(*) AS c FROM orders_view\"\n"),
              StartsWith("views.yaml:19:15: derived view 'n': refresh needs a store that runs "
                         "SQL (sqlite or postgres), not memory"));
}

TEST(ConfigTest, PostgresStore) {
  absl::StatusOr<Config> config = ParseConfig(
      "store: {kind: postgres, dsn: 'host=db port=5433', schema: sv_state, view_schema: views}\n" +
          std::string(kSmallYaml),
      "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.kind, "postgres");
  EXPECT_EQ(config->store.dsn, "host=db port=5433");
  EXPECT_EQ(config->store.schema, "sv_state");
  EXPECT_EQ(config->store.view_schema, "views");

  // Defaults, and the connection string from the environment.
  setenv("SV_CONFIG_TEST_DSN", "postgresql://u@h/db", 1);
  config = ParseConfig(
      "store:\n  kind: postgres\n  dsn_env: SV_CONFIG_TEST_DSN\n" + std::string(kSmallYaml),
      "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.dsn, "postgresql://u@h/db");
  EXPECT_EQ(config->store.dsn_env, "SV_CONFIG_TEST_DSN");
  EXPECT_EQ(config->store.schema, "streamview");
  EXPECT_EQ(config->store.view_schema, "public");
}

TEST(ConfigErrorTest, PostgresStoreErrors) {
  const std::string views = kSmallYaml;
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n" + views),
              StartsWith("views.yaml:1:1: store of kind postgres needs dsn or dsn_env"));
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n  dsn: x\n  path: a.db\n" + views),
              StartsWith("views.yaml:4:3: store key 'path' does not apply to kind postgres"));
  EXPECT_THAT(ErrorOf("store:\n  kind: sqlite\n  dsn: x\n" + views),
              StartsWith("views.yaml:3:3: store key 'dsn' does not apply to kind sqlite"));
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n  dsn: x\n  dsn_env: Y\n" + views),
              StartsWith("views.yaml:4:3: store: give either dsn or dsn_env, not both"));
  unsetenv("SV_CONFIG_TEST_UNSET");
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n  dsn_env: SV_CONFIG_TEST_UNSET\n" + views),
              StartsWith("views.yaml:3:12: environment variable 'SV_CONFIG_TEST_UNSET' (store "
                         "dsn_env) is not set"));
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n  dsn: x\n  schema: a-b\n" + views),
              StartsWith("views.yaml:4:11: store schema 'a-b' must be an identifier"));
  EXPECT_THAT(ErrorOf("store:\n  kind: postgres\n  dsn: x\n  view_schema: streamview\n" + views),
              StartsWith("views.yaml:1:1: store schema and view_schema must differ"));
}

TEST(ConfigErrorTest, WrongNodeKind) {
  std::string text = kSmallYaml;
  text.replace(text.find("      order_id: text\n"), 21, "      - order_id\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:10:7: 'columns' of view 'orders_view' must be "
                                        "a map, not a list"));
  EXPECT_THAT(ErrorOf("sources: [orders]\n"),
              StartsWith("views.yaml:1:10: sources must be a map, not a list"));
  EXPECT_THAT(ErrorOf("- a\n- b\n"),
              StartsWith("views.yaml:1:1: the config file must be a map, not a list"));
  text = kSmallYaml;
  text.replace(text.find("key: [order_id]"), 15, "key: order_id");
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:8:10: 'key' of view 'orders_view' must be a list, not a "
                         "scalar"));
  text = kSmallYaml;
  text.replace(text.find("order_id: e.orderId"), 19, "order_id: [e.orderId]");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:14:21: expression for column 'order_id'"));
  EXPECT_THAT(ErrorOf(text), HasSubstr("must be an expression (a scalar), not a list"));
}

TEST(ConfigErrorTest, MissingRequiredKeys) {
  std::string text = kSmallYaml;
  text.erase(text.find("    key: orderId\n"), 17);
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:2:3: source 'orders' is missing required key 'key'"));
  text = kSmallYaml;
  text.erase(text.find("    source: orders\n"), 19);
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:6:3: view 'orders_view' is missing required key 'source'"));
  text = kSmallYaml;
  text.erase(text.find("    key: [order_id]\n"), 20);
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:6:3: view 'orders_view' is missing required key 'key'"));
  text = kSmallYaml;
  text.erase(text.find("    columns:\n      order_id: text\n"), 34);
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:6:3: view 'orders_view' is missing required key 'columns'"));
}

TEST(ConfigErrorTest, EventTypesRequiredNonEmptyUnique) {
  std::string text = kSmallYaml;
  text.erase(text.find("    event_types: [OrderCreated, OrderPurged]\n"), 45);
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:2:3: source 'orders' is missing required key 'event_types'"));
  text = kSmallYaml;
  text.replace(text.find("[OrderCreated, OrderPurged]"), 27, "[]");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:4:18: 'event_types' of source 'orders' must "
                                        "not be empty"));
  text = kSmallYaml;
  text.replace(text.find("[OrderCreated, OrderPurged]"), 27, "[OrderCreated, OrderCreated]");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:4:33: duplicate event type 'OrderCreated'"));
}

TEST(ConfigErrorTest, BadSourceValues) {
  std::string text = kSmallYaml;
  text.insert(text.find("    event_types"), "    unknown_types: drop\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:4:20: unknown value 'drop' for "
                                        "'unknown_types' of source 'orders' (expected one of: "
                                        "ignore, dead_letter)"));
  text = kSmallYaml;
  text.insert(text.find("    event_types"), "    first_sequence: one\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:4:21: 'first_sequence' of source 'orders' "
                                        "must be an integer, not 'one'"));
  text = kSmallYaml;
  text.insert(text.find("    event_types"), "    sequence: {head: x-seq}\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:4:16: unknown key 'head' in 'sequence' of "
                                        "source 'orders' (expected one of: field, header)"));
}

TEST(ConfigErrorTest, UndeclaredSource) {
  std::string text = kSmallYaml;
  text.replace(text.find("source: orders"), 14, "source: order");
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:7:13: unknown source 'order' in view 'orders_view' "
                         "(declared: orders)"));
}

TEST(ConfigErrorTest, KeyColumnMustBeDeclared) {
  std::string text = kSmallYaml;
  text.replace(text.find("key: [order_id]"), 15, "key: [order_id, line_no]");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:8:21: key column 'line_no' is not a column "
                                        "of view 'orders_view'"));
}

TEST(ConfigErrorTest, IndexColumnMustBeDeclared) {
  std::string text = kSmallYaml;
  text.insert(text.find("    on:"), "    indexes:\n      - [order_id, -updated]\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:12:20: index column 'updated' is not a "
                                        "column of view 'orders_view'"));
  text = kSmallYaml;
  text.insert(text.find("    on:"), "    indexes: [order_id]\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:11:15: an index in 'indexes' of view "
                                        "'orders_view' must be a list of columns, not a scalar"));
}

TEST(ConfigErrorTest, UnknownColumnType) {
  std::string text = kSmallYaml;
  text.replace(text.find("order_id: text"), 14, "order_id: txet");
  EXPECT_THAT(ErrorOf(text),
              StartsWith("views.yaml:10:17: unknown column type 'txet' for column "
                         "'order_id' of view 'orders_view' (expected one of: text,"));
  text = kSmallYaml;
  text.replace(text.find("order_id: text"), 14, "order_id: {type: money, default: 0}");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:10:24: unknown column type 'money'"));
  text = kSmallYaml;
  text.replace(text.find("order_id: text"), 14, "order_id: {default: 0}");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:10:7: column 'order_id' of view "
                                        "'orders_view' is missing required key 'type'"));
}

TEST(ConfigErrorTest, SetTargetMustBeDeclared) {
  std::string text = kSmallYaml;
  text.replace(text.find("order_id: e.orderId"), 19, "ordr_id: e.orderId");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:14:11: set target 'ordr_id' is not a column "
                                        "of view 'orders_view'"));
}

TEST(ConfigErrorTest, DeleteExcludesSetAndExplode) {
  std::string text = kSmallYaml;
  text.insert(text.find("        set:"), "        delete: true\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:13:9: handler 'OrderCreated' of view "
                                        "'orders_view' cannot both delete and set"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) +
                      "      OrderPurged:\n        delete: true\n        explode: e.items\n"),
              StartsWith("views.yaml:16:9: handler 'OrderPurged' of view 'orders_view' cannot "
                         "both delete and explode"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "      OrderPurged:\n        delete: yes\n"),
              StartsWith("views.yaml:16:17: 'delete' of handler 'OrderPurged' of view "
                         "'orders_view' must be true or false, not 'yes'"));
}

TEST(ConfigErrorTest, AsRequiresExplode) {
  std::string text = kSmallYaml;
  text.insert(text.find("        set:"), "        as: i\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:13:9: 'as' in handler 'OrderCreated' of view "
                                        "'orders_view' requires 'explode'"));
}

TEST(ConfigErrorTest, EmptyExpression) {
  std::string text = kSmallYaml;
  text.replace(text.find("order_id: e.orderId"), 19, "order_id:");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:14:11: expression for column 'order_id'"));
  EXPECT_THAT(ErrorOf(text), HasSubstr("is empty"));
}

TEST(ConfigErrorTest, DuplicateKeys) {
  std::string text = kSmallYaml;
  text.insert(text.find("    on:"), "      order_id: integer\n");
  EXPECT_THAT(ErrorOf(text), StartsWith("views.yaml:11:7: duplicate key 'order_id' in 'columns' "
                                        "of view 'orders_view'"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "      OrderCreated:\n        delete: true\n"),
              StartsWith("views.yaml:15:7: duplicate key 'OrderCreated' in 'on' of view "
                         "'orders_view'"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "sources: {}\n"),
              StartsWith("views.yaml:15:1: duplicate key 'sources' in the config file"));
}

TEST(ConfigErrorTest, GateAndEngineNeedPositiveIntegers) {
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "gate:\n  stash_max_events: 0\n"),
              StartsWith("views.yaml:16:21: gate.stash_max_events must be between 1 and"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "engine:\n  batch_events: lots\n"),
              StartsWith("views.yaml:16:17: engine.batch_events must be an integer, not 'lots'"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "engine:\n  cache_rows: 1.5\n"),
              StartsWith("views.yaml:16:15: engine.cache_rows must be an integer"));
}

TEST(ConfigErrorTest, FirstSequenceMustBeAboveTheGatesNothingApplied) {
  // The gate reads last sequence 0 as "nothing applied": a first sequence of 0 would let a
  // redelivered sequence 0 apply twice.
  std::string text = kSmallYaml;
  text.insert(text.find("    event_types:"), "    first_sequence: 0\n");
  EXPECT_THAT(
      ErrorOf(text),
      StartsWith("views.yaml:4:21: 'first_sequence' of source 'orders' must be between 1 and"));
  text.replace(text.find("first_sequence: 0"), 17, "first_sequence: 1");
  EXPECT_TRUE(ParseConfig(text, "views.yaml").ok());
}

TEST(ConfigErrorTest, YamlSyntaxError) {
  std::string text = kSmallYaml;
  text.replace(text.find("key: [order_id]"), 15, "key: [order_id");
  const std::string error = ErrorOf(text);
  EXPECT_THAT(error, StartsWith("views.yaml:"));
  EXPECT_THAT(error, HasSubstr("YAML syntax error"));
  EXPECT_THAT(ErrorOf("sources:\n  a: b\n c: d: e\n"),
              StartsWith("views.yaml:3:2: YAML syntax error: end of map not found"));
}

TEST(ConfigErrorTest, EmptyFile) {
  EXPECT_THAT(ErrorOf("# nothing\n"), StartsWith("views.yaml:1:1: the config file is empty"));
}

TEST(ConfigErrorTest, FileNotFound) {
  absl::StatusOr<Config> config = LoadConfig("/nonexistent/dir/streamview.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("/nonexistent/dir/streamview.yaml: cannot open config file"));
}

// ---- server section and per-view api

TEST(ConfigServerTest, ExampleServesOrdersCompatRoute) {
  absl::StatusOr<Config> config = ParseConfig(kOrdersYaml, "/etc/sv/streamview.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->server.enabled);
  EXPECT_EQ(config->server.host, "127.0.0.1");
  EXPECT_EQ(config->server.port, 8080);
  EXPECT_EQ(config->server.token_env, "STREAMVIEW_TOKEN");
  EXPECT_EQ(config->server.read_wait_ms, 2000);
  const ViewConfig* orders = FindView(*config, "orders_view");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->api.path, "/orders");
  EXPECT_EQ(orders->api.time_column, "updated_at");
}

TEST(ConfigServerTest, NoServerSectionMeansNoServer) {
  absl::StatusOr<Config> config = ParseConfig(kSmallYaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->server.enabled);
}

TEST(ConfigServerTest, ServerErrorsNameLineAndProblem) {
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  listen: localhost\n"),
              StartsWith("views.yaml:16:11: server.listen must be host:port"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  max_limit: 0\n"),
              StartsWith("views.yaml:16:14: server.max_limit must be between 1 and"));
  EXPECT_THAT(
      ErrorOf(std::string(kSmallYaml) + "server:\n  default_limit: 500\n  max_limit: 100\n"),
      HasSubstr("server.default_limit (500) exceeds server.max_limit (100)"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  lisen: 1.2.3.4:80\n"),
              StartsWith("views.yaml:16:3: unknown key 'lisen' in server"));
}

TEST(ConfigServerTest, HttpLimits) {
  absl::StatusOr<Config> config = ParseConfig(
      std::string(kSmallYaml) +
          "server:\n  max_connections: 64\n  header_timeout_ms: 4000\n  idle_timeout_ms: "
          "9000\n  max_body_bytes: 1048576\n",
      "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.max_connections, 64);
  EXPECT_EQ(config->server.header_timeout_ms, 4000);
  EXPECT_EQ(config->server.idle_timeout_ms, 9000);
  EXPECT_EQ(config->server.max_body_bytes, 1048576);
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  max_connections: 0\n"),
              StartsWith("views.yaml:16:20: server.max_connections must be between 1 and"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  header_timeout_ms: 5\n"),
              StartsWith("views.yaml:16:22: server.header_timeout_ms must be between 100 and"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  idle_timeout_ms: x\n"),
              StartsWith("views.yaml:16:20: server.idle_timeout_ms must be"));
  EXPECT_THAT(ErrorOf(std::string(kSmallYaml) + "server:\n  max_body_bytes: -1\n"),
              StartsWith("views.yaml:16:19: server.max_body_bytes must be between 1 and"));
}

TEST(ConfigServerTest, ViewApiErrors) {
  const std::string base = std::string(kSmallYaml);
  auto with_api = [&](const std::string& api) {
    // kSmallYaml's orders_view is the last view; its keys are indented by 4.
    return ErrorOf(base + "    api:\n" + api);
  };
  EXPECT_THAT(with_api("      path: orders\n"), HasSubstr("must be one segment like /orders"));
  EXPECT_THAT(with_api("      path: /views\n"), HasSubstr("is a built-in route"));
  EXPECT_THAT(with_api("      time_column: nope\n"),
              HasSubstr("time column 'nope' is not a column of view 'orders_view'"));
  EXPECT_THAT(with_api("      time_column: order_id\n"), HasSubstr("must be a timestamp"));
  EXPECT_THAT(with_api("      pth: /x\n"), HasSubstr("unknown key 'pth'"));
}

namespace sv::config {
namespace {

constexpr const char* kViewsTail = R"yaml(views:
  v:
    source: s
    key: [id]
    columns: {id: text}
)yaml";

TEST(ConfigKafkaTest, KafkaSourceLoads) {
  absl::StatusOr<Config> config = ParseConfig(std::string(R"yaml(sources:
  s:
    kind: kafka
    brokers: "b1:9092,b2:9092"
    topics: [orders.events, orders.more]
    group_id: g
    dead_letter_topic: false
    properties: {security.protocol: SASL_SSL, fetch.wait.max.ms: 5}
    key: orderId
    event_types: [A]
)yaml") + kViewsTail,
                                              "k.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const KafkaConfig& k = config->sources[0].kafka;
  EXPECT_EQ(config->sources[0].kind, "kafka");
  EXPECT_EQ(k.brokers, "b1:9092,b2:9092");
  EXPECT_EQ(k.topics, (std::vector<std::string>{"orders.events", "orders.more"}));
  EXPECT_EQ(k.group_id, "g");
  EXPECT_FALSE(k.dead_letter_topic);
  ASSERT_EQ(k.properties.size(), 2u);
  EXPECT_EQ(k.properties[1], (std::pair<std::string, std::string>{"fetch.wait.max.ms", "5"}));
}

std::string KafkaError(const std::string& source_body) {
  absl::StatusOr<Config> config =
      ParseConfig("sources:\n  s:\n" + source_body + kViewsTail, "k.yaml");
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(ConfigKafkaTest, KafkaErrorsNameFileLineAndProblem) {
  EXPECT_EQ(KafkaError("    kind: kafka\n    topics: [t]\n    group_id: g\n    key: k\n"
                       "    event_types: [A]\n"),
            "k.yaml:2:3: source 's' needs 'brokers' or 'brokers_env'");
  EXPECT_EQ(KafkaError("    kind: kafka\n    brokers: b\n    group_id: g\n    key: k\n"
                       "    event_types: [A]\n"),
            "k.yaml:2:3: source 's' is missing required key 'topics'");
  EXPECT_EQ(KafkaError("    kind: log\n    topics: [t]\n    key: k\n    event_types: [A]\n"),
            "k.yaml:4:5: 'topics' of source 's' needs kind: kafka");
  EXPECT_EQ(KafkaError("    kind: kafka\n    brokers_env: SV_TEST_SURELY_UNSET_VARIABLE\n"
                       "    topics: [t]\n    group_id: g\n    key: k\n    event_types: [A]\n"),
            "k.yaml:4:18: 'brokers_env' of source 's': environment variable "
            "'SV_TEST_SURELY_UNSET_VARIABLE' is not set");
  EXPECT_EQ(KafkaError("    kind: kinesis\n    key: k\n    event_types: [A]\n"),
            "k.yaml:3:11: unknown source kind 'kinesis' for source 's' (expected one of: log, "
            "kafka, postgres_changes)");
}

TEST(ConfigKafkaTest, SchemaRegistryLoadsAndItsErrorsNameTheLine) {
  const std::string head =
      "    kind: kafka\n    brokers: b\n    topics: [t]\n    group_id: g\n"
      "    key: k\n    event_types: [A]\n";
  setenv("SV_TEST_REGISTRY_PW", "pw", 1);
  absl::StatusOr<Config> config =
      ParseConfig("sources:\n  s:\n" + head +
                      "    schema_registry: {url: 'https://r:8081', timeout_ms: 900, username: u, "
                      "password_env: SV_TEST_REGISTRY_PW}\n" +
                      kViewsTail,
                  "k.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const SchemaRegistryConfig& r = config->sources[0].kafka.schema_registry;
  EXPECT_EQ(r.url, "https://r:8081");
  EXPECT_EQ(r.timeout_ms, 900);
  EXPECT_EQ(r.user_password, "u:pw");
  EXPECT_EQ(KafkaError(head + "    schema_registry: {url: 'ftp://r'}\n"),
            "k.yaml:9:28: 'url' of 'schema_registry' of source 's' must start with http:// or "
            "https://");
  EXPECT_EQ(KafkaError(head + "    schema_registry: {timeout_ms: 100}\n"),
            "k.yaml:9:5: 'schema_registry' of source 's' is missing required key 'url'");
  EXPECT_EQ(KafkaError(head + "    schema_registry: {url: 'http://r', password_env: "
                              "SV_TEST_REGISTRY_PW}\n"),
            "k.yaml:9:5: 'schema_registry' of source 's' has a password but no 'username'");
  EXPECT_EQ(KafkaError("    kind: log\n    key: k\n    event_types: [A]\n"
                       "    schema_registry: {url: 'http://r'}\n"),
            "k.yaml:6:5: 'schema_registry' of source 's' needs kind: kafka");
}

TEST(ConfigPostgresChangesTest, LoadsWithTheChangeFeedsDefaults) {
  absl::StatusOr<Config> config = ParseConfig(std::string(R"yaml(sources:
  s:
    kind: postgres_changes
    dsn: "host=db dbname=shop"
    tables: [shipments, sales.orders]
)yaml") + kViewsTail,
                                              "p.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const SourceConfig& s = config->sources[0];
  EXPECT_EQ(s.postgres.dsn, "host=db dbname=shop");
  EXPECT_EQ(s.postgres.publication, "sv_s");
  EXPECT_EQ(s.postgres.slot, "sv_s");
  EXPECT_EQ(s.postgres.heartbeat_ms, 10'000);
  EXPECT_EQ(s.type_header, "sv-type");
  EXPECT_EQ(s.event_types,
            (std::vector<std::string>{"shipments.insert", "shipments.update", "shipments.delete",
                                      "shipments.truncate", "sales.orders.insert",
                                      "sales.orders.update", "sales.orders.delete",
                                      "sales.orders.truncate", "snapshot.done", "heartbeat"}));
}

TEST(ConfigPostgresChangesTest, ErrorsNameFileLineAndWhatToChange) {
  EXPECT_EQ(KafkaError("    kind: postgres_changes\n    dsn: d\n"),
            "k.yaml:2:3: source 's' is missing required key 'tables'");
  EXPECT_EQ(KafkaError("    kind: postgres_changes\n    tables: [t]\n"),
            "k.yaml:2:3: source 's' needs 'dsn' or 'dsn_env'");
  EXPECT_EQ(KafkaError("    kind: postgres_changes\n    dsn: d\n    tables: [t]\n    key: id\n"),
            "k.yaml:6:5: 'key' of source 's' comes from the change feed itself (the primary key, "
            "<table>.insert|update|delete, the commit order)");
  EXPECT_EQ(KafkaError("    kind: log\n    key: k\n    event_types: [A]\n    slot: x\n"),
            "k.yaml:6:5: 'slot' of source 's' needs kind: postgres_changes");
  EXPECT_EQ(KafkaError("    kind: postgres_changes\n    dsn: d\n    tables: []\n"),
            "k.yaml:5:13: 'tables' of source 's' must name at least one table");
  EXPECT_THAT(KafkaError("    kind: postgres_changes\n    dsn: d\n    tables: [t]\n"
                         "    heartbeat_ms: 0\n"),
              StartsWith("k.yaml:6:19: 'heartbeat_ms' of source 's'"));
  EXPECT_EQ(KafkaError("    kind: log\n    key: k\n    event_types: [A]\n    heartbeat_ms: 50\n"),
            "k.yaml:6:5: 'heartbeat_ms' of source 's' needs kind: postgres_changes");
}

}  // namespace
}  // namespace sv::config

namespace sv::config {
namespace {

TEST(ConfigSharedStoreTest, SharedByPartitionNeedsKafkaSourcesAndPostgres) {
  const std::string kafka_source = R"yaml(sources:
  s:
    kind: kafka
    brokers: b
    topics: [t]
    group_id: g
    key: k
    event_types: [A]
)yaml";
  const std::string views = R"yaml(views:
  v:
    source: s
    key: [id]
    columns: {id: text}
)yaml";
  auto ok = ParseConfig("store: {kind: postgres, dsn: \"host=h\", shared_by_partition: true}\n" +
                            kafka_source + views,
                        "s.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->store.shared_by_partition);

  auto log = ParseConfig(
      "store: {kind: postgres, dsn: \"host=h\", shared_by_partition: true}\n"
      "sources:\n  s: {key: k, event_types: [A]}\n" +
          views,
      "s.yaml");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().message(),
            "s.yaml:1:1: store shared_by_partition needs every source to be kafka; source 's' is "
            "log");

  auto sqlite = ParseConfig(
      "store: {kind: sqlite, shared_by_partition: true}\n" + kafka_source + views, "s.yaml");
  ASSERT_FALSE(sqlite.ok());
  EXPECT_EQ(sqlite.status().message(),
            "s.yaml:1:23: store key 'shared_by_partition' does not apply to kind sqlite");
}

}  // namespace
}  // namespace sv::config

namespace sv::config {
namespace {

// A config's sources and views, for tests of its `store:`.
constexpr char kOneView[] =
    "sources:\n  s: {key: k, event_types: [A]}\n"
    "views:\n  v:\n    source: s\n    key: [id]\n    columns: {id: text}\n";

TEST(ConfigStoreTest, EngineLockWaitIsAPostgresSetting) {
  const std::string rest = kOneView;
  auto pg = ParseConfig("store: {kind: postgres, dsn: \"host=h\"}\n" + rest, "s.yaml");
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ(pg->store.engine_lock_wait_ms, 60'000);  // default: a killed engine's session ends
  auto set = ParseConfig(
      "store: {kind: postgres, dsn: \"host=h\", engine_lock_wait_ms: 5000}\n" + rest, "s.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->store.engine_lock_wait_ms, 5000);
  auto negative = ParseConfig(
      "store: {kind: postgres, dsn: \"host=h\", engine_lock_wait_ms: -1}\n" + rest, "s.yaml");
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(std::string(negative.status().message()),
              ::testing::HasSubstr("store engine_lock_wait_ms must be between 0 and"));
  auto sqlite = ParseConfig("store: {kind: sqlite, engine_lock_wait_ms: 5000}\n" + rest, "s.yaml");
  ASSERT_FALSE(sqlite.ok());
  EXPECT_THAT(
      std::string(sqlite.status().message()),
      ::testing::HasSubstr("store key 'engine_lock_wait_ms' does not apply to kind sqlite"));
}

TEST(ConfigStoreTest, SqlitePageCachesAreBoundedByConfig) {
  const std::string rest = kOneView;
  auto defaults = ParseConfig("store: {kind: sqlite}\n" + rest, "s.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->store.cache_mib, 64);
  EXPECT_EQ(defaults->store.reader_cache_mib, 64);
  auto set =
      ParseConfig("store: {kind: sqlite, cache_mib: 32, reader_cache_mib: 4}\n" + rest, "s.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->store.cache_mib, 32);
  EXPECT_EQ(set->store.reader_cache_mib, 4);
  auto zero = ParseConfig("store: {kind: sqlite,\n  reader_cache_mib: 0}\n" + rest, "s.yaml");
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(std::string(zero.status().message()),
              ::testing::AllOf(::testing::HasSubstr("s.yaml:2"),
                               ::testing::HasSubstr("store reader_cache_mib must be between 1")));
  auto pg =
      ParseConfig("store: {kind: postgres, dsn: \"host=h\", cache_mib: 8}\n" + rest, "s.yaml");
  ASSERT_FALSE(pg.ok());
  EXPECT_THAT(std::string(pg.status().message()),
              ::testing::HasSubstr("store key 'cache_mib' does not apply to kind postgres"));
}

}  // namespace
}  // namespace sv::config

namespace sv::config {
namespace {

// The first error of parsing and compiling `yaml` ("" when it compiles).
std::string CompileErrorOf(const std::string& yaml) {
  auto config = ParseConfig(yaml, "views.yaml");
  if (!config.ok()) return std::string(config.status().message());
  auto catalog = projection::Compile(*config);
  return catalog.ok() ? "" : std::string(catalog.status().message());
}

constexpr char kTenantYaml[] = R"yaml(sources:
  s:
    key: id
    event_types: [Put]
server:
  listen: 127.0.0.1:0
views:
  v:
    source: s
    key: [id]
    tenant: org_id
    columns:
      id: text
      org_id: text
    on:
      Put:
        set:
          id: e.id
)yaml";

TEST(ConfigErrorTest, TenantAndAuth) {
  // A tenant column with a server but no callers would open every organization's rows.
  EXPECT_THAT(ErrorOf(kTenantYaml),
              StartsWith("views.yaml:11:13: view 'v' declares tenant 'org_id' but server.auth "
                         "is not configured"));
  std::string text = kTenantYaml;
  const std::string auth =
      "  auth:\n    api_keys:\n      - {sha256: " + std::string(64, 'a') + ", organization: o-1}\n";
  text.insert(text.find("views:"), auth);
  EXPECT_EQ(ErrorOf(text), "");
  std::string bad = text;
  bad.replace(bad.find(std::string(64, 'a')), 64, "abc");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("sha256 of an API key must be 64 hex digits"));
  bad = text;
  bad.replace(bad.find("organization: o-1"), 17, "role: root");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("the only role is 'admin'"));
  bad = text;
  bad.replace(bad.find("tenant: org_id"), 14, "tenant: org");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("tenant column 'org' is not a column of view 'v'"));
  bad = text;
  bad.insert(bad.find("views:"), "    jwt: {algorithm: none, audience: a}\n");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("server.auth.jwt.algorithm must be HS256 or RS256"));
  bad = text;
  bad.insert(bad.find("views:"), "    jwt: {algorithm: HS256, audience: a}\n");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("HS256 needs secret_env"));
  bad = kTenantYaml;
  bad.insert(bad.find("views:"), "  auth: {open_reads: true}\n");
  EXPECT_THAT(ErrorOf(bad), HasSubstr("server.auth needs api_keys or jwt"));
  // A lookup over a tenant view must be scoped by the tenant column (its index knows no other).
  EXPECT_THAT(CompileErrorOf(text + "lookups:\n  l: {view: v, label: id}\n"),
              HasSubstr("lookup 'l': view 'v' has the tenant column 'org_id': the lookup must "
                        "be scoped by it"));
  EXPECT_EQ(CompileErrorOf(text + "lookups:\n  l: {view: v, label: id, scope: org_id}\n"), "");
}

// A derived view over a tenant view must say how it is read: its own tenant column, internal
// (served to no one) or shared (every caller reads all of it). Before, it was served whole to
// every organization's caller.
TEST(ConfigErrorTest, DerivedViewOverTenantRowsMustSayHowItIsRead) {
  std::string text = kTenantYaml;
  text.insert(text.find("views:"), "  auth:\n    api_keys:\n      - {sha256: " +
                                       std::string(64, 'a') + ", organization: o-1}\n");
  const std::string step =
      "derived_views:\n  step:\n    sql: CREATE VIEW step AS SELECT id, org_id FROM v\n";
  const std::string totals =
      "  totals:\n    sql: CREATE VIEW totals AS SELECT id, count(*) AS n "
      "FROM step GROUP BY id\n";
  EXPECT_THAT(CompileErrorOf(text + step),
              HasSubstr("derived view 'step' reads the tenant-scoped view 'v' but declares no "
                        "tenant: add 'tenant: <column>'"));
  EXPECT_EQ(CompileErrorOf(text + step + "    tenant: org_id\n"), "");
  // Through an internal step, still the tenant's rows: the reader of the step must say too.
  const std::string internal_step = step + "    internal: true\n";
  EXPECT_THAT(CompileErrorOf(text + internal_step + totals),
              HasSubstr("derived view 'totals' reads the tenant-scoped view 'step'"));
  EXPECT_EQ(CompileErrorOf(text + internal_step + totals + "    shared: true\n"), "");
  auto config = ParseConfig(text + internal_step + totals + "    shared: true\n", "views.yaml");
  ASSERT_TRUE(config.ok());
  auto catalog = projection::Compile(*config);
  ASSERT_TRUE(catalog.ok());
  EXPECT_TRUE((*catalog)->views[(*catalog)->FindView("step")].internal);
  EXPECT_FALSE((*catalog)->views[(*catalog)->FindView("totals")].internal);
  EXPECT_THAT(ErrorOf(text + step + "    tenant: org_id\n    shared: true\n"),
              HasSubstr("cannot both be shared and have a tenant"));
}

}  // namespace
}  // namespace sv::config

TEST(ConfigTest, VerifySchedule) {
  absl::StatusOr<Config> config =
      ParseConfig(std::string(kSmallYaml) + "verify:\n  schedule: \"0 3 * * *\"\n  repair: true\n",
                  "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->verify.schedule, "0 3 * * *");
  EXPECT_TRUE(config->verify.repair);
  config = ParseConfig(kSmallYaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->verify.schedule, "");  // no verify: none scheduled
}

TEST(ConfigErrorTest, VerifyScheduleErrors) {
  const std::string views = kSmallYaml;
  // A typo in the schedule fails at start, where it is, not at the first due time.
  EXPECT_THAT(ErrorOf(views + "verify:\n  schedule: \"every day\"\n"),
              HasSubstr("verify.schedule: "));
  EXPECT_THAT(ErrorOf(views + "verify:\n  repair: true\n"), HasSubstr("schedule"));
  EXPECT_THAT(ErrorOf(views + "verify:\n  schedule: \"@hourly\"\n  fix: true\n"), HasSubstr("fix"));
}

}  // namespace
}  // namespace sv::config
