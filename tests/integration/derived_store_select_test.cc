// Derived views the store computes itself (`refresh:` and `streamview verify`), through the real
// engine on SQLite and PostgreSQL: timestamp arithmetic runs in both stores, and a refresh whose
// SELECT fails does not stop ingestion.

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/reconcile.h"
#include "store_backends.h"

namespace sv::store {
namespace {

constexpr char kViews[] = R"(
sources:
  s:
    key: id
    sequence:
      field: seq
    event_types: [Ship]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      cost: integer
      created: timestamp
      delivered: timestamp
    on:
      Ship:
        set:
          id: e.id
          org: e.org
          cost: e.cost
          created: e.created
          delivered: e.delivered
)";

class DerivedStoreSelectTest : public BackendTest {
 protected:
  static void Ingest(engine::Engine& e, const std::string& lines) {
    std::istringstream in(lines);
    ASSERT_TRUE(engine::IngestLines(e.catalog().sources[0], e.store(), in).ok());
  }
  static void RunUntilIdle(engine::Engine& e) {
    bool idle = false;
    while (!idle) {
      absl::Status s = e.RunOnce(&idle);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(e.Sync().ok());
  }
  static int64_t Rows(engine::Engine& e, const std::string& name) {
    const projection::ViewPlan& plan = e.catalog().views[e.catalog().FindView(name)];
    TableSpec table = engine::TableFor(plan, 1);
    table.name = name;
    int64_t n = 0;
    EXPECT_TRUE(e.store()->ScanTable(table, [&](const Row&) { ++n; }).ok());
    return n;
  }
};
SV_INSTANTIATE_STORE_BACKENDS(DerivedStoreSelectTest);

std::string Ship(const std::string& id, int seq, const std::string& org, const std::string& cost,
                 const std::string& delivered_hour) {
  return absl::StrCat(R"({"type":"Ship","id":")", id, R"(","seq":)", seq, R"(,"org":")", org,
                      R"(","cost":)", cost, R"(,"created":"2026-03-04T10:00:00Z",)",
                      R"("delivered":"2026-03-04T)", delivered_hour, R"(:30:00Z"})", "\n");
}

// `delivered - created` is maintained by the engine; the store's own SELECT (verify, refresh)
// must compute the same, where SQLite used to subtract text and fail in date_part().
TEST_P(DerivedStoreSelectTest, TimestampMinusTimestampVerifiesAndRefreshes) {
  // An interval-typed result column is SQLite-only here: the PostgreSQL store keeps intervals
  // as bigint microseconds and cannot yet cast an interval expression into one.
  const std::string select = absl::StrCat(
      "SELECT org, count(*) AS n, ", sqlite() ? "max(delivered - created) AS slowest, " : "",
      "sum(extract(epoch FROM delivered - created)) AS seconds FROM shipments GROUP BY org");
  const std::string yaml = StoreYaml() + kViews + "derived_views:\n  live:\n    sql: |\n" +
                           "      CREATE VIEW live AS " + select + "\n" +
                           "  nightly:\n    refresh: \"@hourly\"\n    sql: |\n" +
                           "      CREATE VIEW nightly AS " + select + "\n";
  auto config = config::ParseConfig(yaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = engine::Engine::Open(*config, {});  // refreshes `nightly` at start
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  Ingest(e, Ship("a", 1, "o1", "5", "12") + Ship("b", 1, "o1", "7", "13") +
                Ship("c", 1, "o2", "1", "11") + Ship("a", 2, "o1", "5", "15"));
  RunUntilIdle(e);
  ASSERT_EQ(Rows(e, "live"), 2);
  auto drift = engine::ReconcileDerived(e.catalog(), e.store(), postgres());
  ASSERT_TRUE(drift.ok()) << drift.status();
  for (const engine::Drift& d : *drift) {
    if (d.view != "live") continue;
    EXPECT_EQ(d.missing + d.unexpected, 0) << (d.examples.empty() ? "" : d.examples[0]);
  }
  // A rebuild of `nightly` recomputes it with the store's SELECT: it must run, and agree.
  auto stats = e.Rebuild({"nightly"});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(Rows(e, "nightly"), 2);
}

// A scheduled refresh whose SELECT fails on the data (an integer sum beyond bigint) is logged,
// counted and retried at its next schedule; ingestion goes on meanwhile.
TEST_P(DerivedStoreSelectTest, AFailingRefreshDoesNotStopIngestion) {
  const std::string yaml = StoreYaml() + kViews +
                           "derived_views:\n  totals:\n    refresh: \"@every 1s\"\n    sql: |\n"
                           "      CREATE VIEW totals AS SELECT org, sum(cost) AS cost FROM "
                           "shipments GROUP BY org\n";
  auto config = config::ParseConfig(yaml, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ManualClock clock(*ParseTime("2026-03-04T10:00:00Z"));
  engine::Monitor monitor(&clock);
  engine::EngineOptions options;
  options.monitor = &monitor;
  options.clock = &clock;
  auto engine = engine::Engine::Open(*config, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  const std::string max = "9223372036854775807";
  Ingest(e, Ship("a", 1, "o1", max, "12") + Ship("b", 1, "o1", max, "13"));
  RunUntilIdle(e);
  ASSERT_EQ(Rows(e, "shipments"), 2);
  EXPECT_EQ(monitor.Snapshot().counters["derived/totals/refresh_errors"], 0)
      << "not due again before the engine's clock moves";
  // Due again after a second of the engine's clock: the failing SELECT runs in RunOnce.
  clock.Advance(1'000'000);
  RunUntilIdle(e);
  EXPECT_EQ(monitor.Snapshot().counters["derived/totals/refresh_errors"], 1)
      << "the failed refresh is counted";
  Ingest(e, Ship("c", 1, "o2", "3", "11"));
  RunUntilIdle(e);
  EXPECT_EQ(Rows(e, "shipments"), 3) << "ingestion went on after the failed refresh";
}

constexpr char kItems[] = R"(
sources:
  s:
    key: id
    sequence:
      field: seq
    event_types: [Item, Drop]
views:
  items:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      carrier: text
      kind: text
      at: timestamp
      ok: boolean
      cost: integer
      tags: json
    on:
      "*":
        set:
          id: e.id
      Item:
        set:
          org: e.org
          carrier: e.carrier
          kind: e.kind
          at: e.at
          ok: e.ok
          cost: e.cost
          tags: e.tags
      Drop:
        delete: true
derived_views:
  carrier_costs:
    sql: |
      CREATE VIEW carrier_costs AS SELECT org, carrier, sum(cost) AS cost FROM items
      GROUP BY org, carrier
  by_org:
    sql: |
      CREATE VIEW by_org AS SELECT org, count(*) AS n,
        array_agg(id ORDER BY at DESC) AS newest_first,
        array_agg(DISTINCT kind) AS kinds,
        json_agg(ok) AS oks,
        jsonb_agg(tags ORDER BY id) AS tag_lists,
        array_agg(at ORDER BY id) FILTER (WHERE ok) AS ok_times
      FROM items GROUP BY org
  item_docs:
    sql: |
      CREATE VIEW item_docs AS SELECT id,
        json_build_object('org', org, 'at', at, 'ok', ok, 'tags', tags, 'cost', cost) AS doc,
        jsonb_build_array(id, ok, cost) AS triple, to_jsonb(at) AS at_json
      FROM items
  carriers_by_org:
    sql: |
      CREATE VIEW carriers_by_org AS SELECT org, json_object_agg(carrier, cost) AS by_carrier
      FROM carrier_costs GROUP BY org
)";

std::string Item(const std::string& id, int seq, const std::string& org, const std::string& carrier,
                 const std::string& kind, const std::string& hour, bool ok, int cost,
                 const std::string& tags) {
  return absl::StrCat(R"({"type":"Item","id":")", id, R"(","seq":)", seq, R"(,"org":")", org,
                      R"(","carrier":")", carrier, R"(","kind":")", kind, R"(","at":"2026-03-04T)",
                      hour, R"(:00:00Z","ok":)", ok ? "true" : "false", R"(,"cost":)", cost,
                      R"(,"tags":)", tags, "}\n");
}

// JSON columns, builders (json_build_object, json_build_array, to_jsonb) and aggregates
// (array_agg with ORDER BY, DISTINCT and FILTER, json_object_agg over a derived view): the
// maintained rows are the expected documents, and the store's own SELECT (verify) computes the
// same, in both stores, after updates and deletes too.
TEST_P(DerivedStoreSelectTest, JsonAggregatesAreMaintainedAndVerify) {
  auto config = config::ParseConfig(StoreYaml() + kItems, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = engine::Engine::Open(*config, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  auto row_of = [&](const std::string& view, const std::string& key) {
    const projection::ViewPlan& plan = e.catalog().views[e.catalog().FindView(view)];
    TableSpec table = engine::TableFor(plan, 1);
    table.name = view;
    auto row = e.store()->GetRow(table, {Value::Text(key)});
    EXPECT_TRUE(row.ok() && row->has_value()) << view << " " << key;
    return row.ok() && row->has_value() ? **row : Row();
  };
  auto no_drift = [&] {
    auto drift = engine::ReconcileDerived(e.catalog(), e.store(), postgres());
    ASSERT_TRUE(drift.ok()) << drift.status();
    for (const engine::Drift& d : *drift) {
      EXPECT_EQ(d.missing + d.unexpected, 0)
          << d.view << ": " << (d.examples.empty() ? "" : d.examples[0]);
    }
  };
  Ingest(e, Item("a", 1, "o1", "dhl", "box", "10", true, 5, R"(["x", {"b":2,"a":1}])") +
                Item("b", 1, "o1", "ups", "pallet", "12", false, 7, "[]") +
                Item("c", 1, "o1", "dhl", "box", "11", true, 1, "null") +
                Item("d", 1, "o2", "ups", "box", "09", true, 2, R"({"k": "v"})"));
  RunUntilIdle(e);
  Row items_a = row_of("items", "a");
  EXPECT_EQ(items_a[7], Value::Json(R"(["x",{"a":1,"b":2}])")) << "canonical: keys sorted";
  Row o1 = row_of("by_org", "o1");
  ASSERT_EQ(o1.size(), 7u);
  EXPECT_EQ(o1[2], Value::Json(R"(["b","c","a"])"));
  EXPECT_EQ(o1[3], Value::Json(R"(["box","pallet"])"));
  EXPECT_EQ(o1[4], Value::Json("[false,true,true]"));
  EXPECT_EQ(o1[5], Value::Json(R"([["x",{"a":1,"b":2}],[],null])"));
  EXPECT_EQ(o1[6], Value::Json(R"(["2026-03-04T10:00:00.000000Z","2026-03-04T11:00:00.000000Z"])"));
  EXPECT_EQ(row_of("carriers_by_org", "o1")[1], Value::Json(R"({"dhl":6,"ups":7})"));
  const Row doc = row_of("item_docs", "a");
  EXPECT_EQ(doc[1], Value::Json(R"({"at":"2026-03-04T10:00:00.000000Z","cost":5,"ok":true,)"
                                R"("org":"o1","tags":["x",{"a":1,"b":2}]})"));
  EXPECT_EQ(doc[2], Value::Json(R"(["a",true,5])"));
  EXPECT_EQ(doc[3], Value::Json(R"("2026-03-04T10:00:00.000000Z")"));
  no_drift();
  // An update moves c to o2 and another carrier; a delete removes b.
  Ingest(e, Item("c", 2, "o2", "fedex", "crate", "08", false, 4, "[1.0, 2.5]") +
                R"({"type":"Drop","id":"b","seq":2})"
                "\n");
  RunUntilIdle(e);
  o1 = row_of("by_org", "o1");
  EXPECT_EQ(o1[2], Value::Json(R"(["a"])"));
  EXPECT_EQ(o1[3], Value::Json(R"(["box"])"));
  EXPECT_EQ(row_of("by_org", "o2")[5], Value::Json(R"([[1,2.5],{"k":"v"}])"))
      << "ordered by id: c before d";
  EXPECT_EQ(row_of("carriers_by_org", "o1")[1], Value::Json(R"({"dhl":5})"));
  EXPECT_EQ(row_of("carriers_by_org", "o2")[1], Value::Json(R"({"fedex":4,"ups":2})"));
  no_drift();
}

constexpr char kNullGroups[] = R"(
sources:
  s:
    key: id
    sequence:
      field: seq
    event_types: [Item, Drop, Org]
views:
  items:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      carrier: text
      cost: integer
    on:
      "*":
        set:
          id: e.id
      Item:
        set:
          org: e.org
          carrier: e.carrier
          cost: e.cost
      Drop:
        delete: true
  orgs:
    source: s
    key: [id]
    columns:
      id: text
      region: text
    on:
      Org:
        set:
          id: e.id
          region: e.region
derived_views:
  by_org:
    sql: |
      CREATE VIEW by_org AS SELECT org, count(*) AS n, sum(cost) AS cost FROM items GROUP BY org
  by_org_carrier:
    sql: |
      CREATE VIEW by_org_carrier AS SELECT org, carrier, count(*) AS n, sum(cost) AS cost
      FROM items GROUP BY org, carrier
  org_totals:
    sql: |
      CREATE VIEW org_totals AS SELECT org, sum(n) AS n, count(*) AS carriers
      FROM by_org_carrier GROUP BY org
  by_region:
    sql: |
      CREATE VIEW by_region AS SELECT r.region, count(*) AS n, sum(i.cost) AS cost
      FROM items i LEFT JOIN orgs r ON i.org = r.id GROUP BY r.region
)";

// The test's own model of the items and orgs, and the rows each view must hold, computed from
// it with std::map (std::nullopt is one key, as NULL is one group in SQL).
struct NullGroupModel {
  struct Item {
    std::optional<std::string> org, carrier;
    int64_t cost = 0;
  };
  using Key = std::optional<std::string>;
  std::map<std::string, Item> items;
  std::map<std::string, std::string> orgs;
  std::map<std::string, int> seq;

  static std::string Text(const Key& k) { return k ? *k : "NULL"; }
  static std::string Field(const char* name, const Key& k) {
    return k ? absl::StrCat(",\"", name, "\":\"", *k, "\"") : "";
  }
  std::string Put(const std::string& id, const Key& org, const Key& carrier, int64_t cost) {
    items[id] = {org, carrier, cost};
    return absl::StrCat(R"({"type":"Item","id":")", id, R"(","seq":)", ++seq[id], Field("org", org),
                        Field("carrier", carrier), R"(,"cost":)", cost, "}\n");
  }
  std::string Drop(const std::string& id) {
    items.erase(id);
    return absl::StrCat(R"({"type":"Drop","id":")", id, R"(","seq":)", ++seq[id], "}\n");
  }
  std::string Org(const std::string& id, const std::string& region) {
    orgs[id] = region;
    return absl::StrCat(R"({"type":"Org","id":")", id, R"(","seq":)", ++seq[id], R"(,"region":")",
                        region, "\"}\n");
  }
  // Rows as "v1|v2|…", sorted.
  std::map<std::string, std::vector<std::string>> Expected() const {
    std::map<Key, std::pair<int64_t, int64_t>> by_org, by_region;
    std::map<std::pair<Key, Key>, std::pair<int64_t, int64_t>> by_org_carrier;
    for (const auto& [id, item] : items) {
      auto add = [&](std::pair<int64_t, int64_t>& g) {
        ++g.first;
        g.second += item.cost;
      };
      add(by_org[item.org]);
      add(by_org_carrier[{item.org, item.carrier}]);
      Key region;
      if (item.org && orgs.count(*item.org) != 0) region = orgs.at(*item.org);
      add(by_region[region]);
    }
    std::map<Key, std::pair<int64_t, int64_t>> org_totals;  // sum(n), count(*)
    for (const auto& [k, g] : by_org_carrier) {
      org_totals[k.first].first += g.first;
      ++org_totals[k.first].second;
    }
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& [k, g] : by_org) {
      out["by_org"].push_back(absl::StrCat(Text(k), "|", g.first, "|", g.second));
    }
    for (const auto& [k, g] : by_org_carrier) {
      out["by_org_carrier"].push_back(
          absl::StrCat(Text(k.first), "|", Text(k.second), "|", g.first, "|", g.second));
    }
    for (const auto& [k, g] : org_totals) {
      out["org_totals"].push_back(absl::StrCat(Text(k), "|", g.first, "|", g.second));
    }
    for (const auto& [k, g] : by_region) {
      out["by_region"].push_back(absl::StrCat(Text(k), "|", g.first, "|", g.second));
    }
    for (auto& [view, rows] : out) std::sort(rows.begin(), rows.end());
    return out;
  }
};

std::string Line(const Row& row) {
  std::string out;
  for (size_t i = 0; i < row.size(); ++i) absl::StrAppend(&out, i ? "|" : "", row[i].ToString());
  return out;
}

// GROUP BY over rows whose group value is NULL (an item without org or carrier, a LEFT JOIN
// without a right row) makes one NULL group, as PostgreSQL does: its row is written, moved
// through, deleted with its last row, paged over, rebuilt, and verify finds no drift.
TEST_P(DerivedStoreSelectTest, NullGroupKeysMakeOneGroup) {
  auto config = config::ParseConfig(StoreYaml() + kNullGroups, "views.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = engine::Engine::Open(*config, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine::Engine& e = **engine;
  NullGroupModel model;
  auto table_of = [&](const std::string& view) {
    TableSpec table = engine::TableFor(e.catalog().views[e.catalog().FindView(view)], 1);
    table.name = view;
    return table;
  };
  auto check = [&](const std::string& step) {
    SCOPED_TRACE(step);
    for (const auto& [view, expected] : model.Expected()) {
      std::vector<std::string> held;
      ASSERT_TRUE(e.store()
                      ->ScanTable(table_of(view), [&](const Row& r) { held.push_back(Line(r)); })
                      .ok());
      if (!held.empty() && std::any_of(expected.begin(), expected.end(), [](const std::string& r) {
            return r.rfind("NULL|", 0) == 0;
          })) {
        EXPECT_EQ(held[0].rfind("NULL|", 0), 0u) << view << ": NULL sorts first: " << held[0];
      }
      std::sort(held.begin(), held.end());
      EXPECT_EQ(held, expected) << view;
    }
    // Pages of one row, up and down, walk the two-column keys across their NULLs.
    const TableSpec table = table_of("by_org_carrier");
    for (bool descending : {false, true}) {
      ViewQuery q;
      q.limit = 1;
      q.descending = descending;
      std::vector<std::string> walked;
      for (int guard = 0; guard < 50; ++guard) {
        auto page = e.store()->QueryView(table, q);
        ASSERT_TRUE(page.ok()) << page.status();
        if (page->empty()) break;
        walked.push_back(Line((*page)[0]));
        q.after = Row{(*page)[0][0], (*page)[0][1]};
      }
      std::vector<std::string> sorted = walked;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(sorted, model.Expected()["by_org_carrier"]) << "descending " << descending;
    }
    auto drift = engine::ReconcileDerived(e.catalog(), e.store(), postgres());
    ASSERT_TRUE(drift.ok()) << drift.status();
    for (const engine::Drift& d : *drift) {
      EXPECT_EQ(d.missing + d.unexpected, 0)
          << d.view << ": " << (d.examples.empty() ? "" : d.examples[0]);
    }
  };
  using K = NullGroupModel::Key;
  Ingest(e, model.Org("o1", "eu") + model.Org("o2", "us") + model.Put("a", "o1", "dhl", 5) +
                model.Put("b", K(), "dhl", 7) + model.Put("c", K(), K(), 1) +
                model.Put("d", "o2", "ups", 2) + model.Put("e", "o3", "ups", 4));
  RunUntilIdle(e);
  check("NULL groups created");
  // a moves into the NULL group, b out of it.
  Ingest(e, model.Put("a", K(), "dhl", 6) + model.Put("b", "o1", "dhl", 7));
  RunUntilIdle(e);
  check("rows moved between NULL and o1");
  // a moves back, c (the last item without org) goes: the NULL org group goes with it; f keeps
  // a NULL carrier under o2.
  Ingest(e, model.Put("a", "o1", "dhl", 6) + model.Drop("c") + model.Put("f", "o2", K(), 3));
  RunUntilIdle(e);
  const auto expected = model.Expected();  // a copy: the loop must not run over a temporary
  for (const std::string& line : expected.at("by_org")) {
    ASSERT_NE(line.rfind("NULL|", 0), 0u) << "the model has no NULL org left";
  }
  check("the last NULL org row deleted");
  auto stats = e.Rebuild({"by_org", "by_org_carrier", "org_totals", "by_region"});
  ASSERT_TRUE(stats.ok()) << stats.status();
  check("rebuilt");
  Ingest(e, model.Put("g", K(), K(), 9));
  RunUntilIdle(e);
  check("a NULL group again after the rebuild");
}

}  // namespace
}  // namespace sv::store
