// Derived views, in memory: row changes of base views in, derived rows out. Data-driven cases
// for each supported construct, each load-time error, and a randomized check against a naive
// full recomputation written independently here.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/time_util.h"
#include "config/config.h"
#include "derived/maintainer.h"
#include "projection/projection.h"

namespace sv {
using ::testing::HasSubstr;
namespace {

constexpr char kBase[] = R"(
sources:
  s:
    key: id
    event_types: [Put, Carrier]
views:
  shipments:
    source: s
    key: [id]
    columns:
      id: text
      org: text
      carrier: text
      status: text
      weight: numeric
      cost: integer
      created: timestamp
      transit: numeric
    on:
      Put:
        set:
          id: e.id
  carriers:
    source: s
    key: [cid]
    columns:
      cid: text
      name: text
      country: text
    on:
      Carrier:
        set:
          cid: e.id
)";

std::string ConfigWith(const std::string& derived) {
  return std::string(kBase) + "derived_views:\n" + derived;
}

// One derived view entry of the YAML from its SQL (indented as a block scalar).
std::string Entry(const std::string& name, const std::string& sql) {
  std::string out = "  " + name + ":\n    sql: |\n";
  size_t start = 0;
  while (start < sql.size()) {
    size_t end = sql.find('\n', start);
    if (end == std::string::npos) end = sql.size();
    out += "      " + sql.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

Value T(const std::string& s) { return Value::Text(s); }
Value I(int64_t i) { return Value::Int(i); }
Value R(double d) { return Value::Real(d); }
Value N() { return Value::Null(); }
Value Time(const std::string& iso) {
  std::optional<int64_t> micros = ParseTime(iso);
  EXPECT_TRUE(micros.has_value()) << iso;
  return Value::Time(micros.value_or(0));
}

Row Shipment(const std::string& id, const std::string& org, const Value& carrier,
             const std::string& status, double weight, int64_t cost,
             const std::string& created = "2026-03-04T10:00:00Z", Value transit = Value()) {
  return {T(id), T(org), carrier, T(status), R(weight), I(cost), Time(created), transit};
}

// A store stand-in: the rows the maintainer wrote, by view and key; checks that every write's
// `old` is exactly what the store holds.
class Harness {
 public:
  explicit Harness(const std::string& derived_yaml) {
    auto config = config::ParseConfig(ConfigWith(derived_yaml), "test.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return;
    auto catalog = projection::Compile(*config);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    if (!catalog.ok()) return;
    catalog_ = std::move(*catalog);
    maintainer_ = std::make_unique<derived::Maintainer>(catalog_.get());
    base_.resize(catalog_->views.size());
  }
  bool ok() const { return maintainer_ != nullptr; }
  int View(const std::string& name) const { return catalog_->FindView(name); }
  const projection::Catalog& catalog() const { return *catalog_; }

  // Upserts (or with `erase`, deletes) a base row and tells the maintainer.
  void Put(const std::string& view, const Row& row) {
    const int v = View(view);
    const std::string k = row[catalog_->views[v].key[0]].ToString();
    auto it = base_[v].find(k);
    std::optional<Row> old;
    if (it != base_[v].end()) old = it->second;
    base_[v][k] = row;
    maintainer_->OnChange(v, old ? &*old : nullptr, &base_[v][k]);
  }
  void Erase(const std::string& view, const std::string& key) {
    const int v = View(view);
    auto it = base_[v].find(key);
    ASSERT_NE(it, base_[v].end());
    Row old = it->second;
    base_[v].erase(it);
    maintainer_->OnChange(v, &old, nullptr);
  }
  void Flush() {
    absl::Status s = maintainer_->Flush([&](int v, const Row* old_row, const Row* new_row) {
      const projection::ViewPlan& plan = catalog_->views[v];
      const Row& any = new_row != nullptr ? *new_row : *old_row;
      std::string key;
      for (int k : plan.key) key += any[k].ToString() + "\x1f";
      auto it = store_[v].find(key);
      if (old_row == nullptr) {
        EXPECT_EQ(it, store_[v].end()) << plan.name << ": insert over an existing row " << key;
      } else {
        EXPECT_NE(it, store_[v].end()) << plan.name << ": update of a missing row " << key;
        if (it != store_[v].end()) {
          EXPECT_EQ(it->second, *old_row) << plan.name;
        }
      }
      if (new_row != nullptr) {
        store_[v][key] = *new_row;
      } else {
        store_[v].erase(key);
      }
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
  }
  // The derived view's rows in key order, each rendered "a|b|c".
  std::vector<std::string> Rows(const std::string& view) {
    std::vector<std::string> out;
    for (const auto& [k, row] : store_[View(view)]) {
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) {
        if (c > 0) line += "|";
        line += row[c].is_null() ? "NULL" : row[c].ToString();
      }
      out.push_back(line);
    }
    return out;
  }
  // Recomputes everything from the base rows and checks it equals the incremental result.
  void CheckLoadAgrees() {
    derived::Maintainer fresh(catalog_.get());
    absl::Status s = fresh.Load([&](int v, const std::function<void(const Row&)>& each) {
      for (const auto& [k, row] : base_[v]) each(row);
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
    for (size_t v = 0; v < catalog_->views.size(); ++v) {
      if (catalog_->views[v].derived == nullptr) continue;
      std::multiset<std::string> loaded, incremental;
      fresh.ForEachRow(static_cast<int>(v), [&](const Row& row) {
        std::string line;
        for (const Value& x : row) line += x.ToString() + "|";
        loaded.insert(line);
      });
      for (const auto& [k, row] : store_[v]) {
        std::string line;
        for (const Value& x : row) line += x.ToString() + "|";
        incremental.insert(line);
      }
      EXPECT_EQ(loaded, incremental) << catalog_->views[v].name;
    }
  }
  std::map<std::string, Row>& base(const std::string& view) { return base_[View(view)]; }
  derived::Maintainer& maintainer() { return *maintainer_; }

 private:
  std::unique_ptr<projection::Catalog> catalog_;
  std::unique_ptr<derived::Maintainer> maintainer_;
  std::vector<std::map<std::string, Row>> base_;
  std::map<int, std::map<std::string, Row>> store_;
};

TEST(DerivedTest, CountsMoveBetweenGroupsAndEmptyGroupsDisappear) {
  Harness h(Entry("by_status", R"(CREATE VIEW by_status AS
SELECT org, status, count(*) AS n, sum(cost) AS cost, avg(weight) AS avg_w
FROM shipments GROUP BY org, status)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("s1", "o1", T("c1"), "Confirmed", 10, 100));
  h.Put("shipments", Shipment("s2", "o1", T("c1"), "Confirmed", 20, 50));
  h.Flush();
  EXPECT_EQ(h.Rows("by_status"), (std::vector<std::string>{"o1|Confirmed|2|150|15"}));
  h.Put("shipments", Shipment("s1", "o1", T("c1"), "Delivered", 10, 100));
  h.Flush();
  EXPECT_EQ(h.Rows("by_status"),
            (std::vector<std::string>{"o1|Confirmed|1|50|20", "o1|Delivered|1|100|10"}));
  h.Erase("shipments", "s2");
  h.Flush();
  EXPECT_EQ(h.Rows("by_status"), (std::vector<std::string>{"o1|Delivered|1|100|10"}));
  h.CheckLoadAgrees();
}

// PostgreSQL's sum(bigint) is numeric; a Value has no such type, so the sum is kept in 128 bits
// (exact through any additions and retractions) and a group total beyond int64 is an
// evaluation error of that group: NULL, counted and logged, never a wrapped number.
TEST(DerivedTest, AnIntegerSumBeyondInt64IsAnErrorOfItsGroupNotAWrappedNumber) {
  Harness h(Entry("cost_by_org", R"(CREATE VIEW cost_by_org AS
SELECT org, count(*) AS n, sum(cost) AS cost FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  h.Put("shipments", Shipment("s1", "o1", T("c1"), "Confirmed", 1, kMax));
  h.Put("shipments", Shipment("s2", "o1", T("c1"), "Confirmed", 1, kMax));
  h.Put("shipments", Shipment("s3", "o2", T("c1"), "Confirmed", 1, 5));
  h.Flush();
  EXPECT_EQ(h.Rows("cost_by_org"), (std::vector<std::string>{"o1|2|NULL", "o2|1|5"}));
  EXPECT_EQ(h.maintainer().TakeErrors(), (std::map<int, int64_t>{{h.View("cost_by_org"), 1}}));
  // A third row brings the total back into range: exact, not what wrapping would leave.
  h.Put("shipments", Shipment("s4", "o1", T("c1"), "Confirmed", 1, -kMax));
  h.Flush();
  EXPECT_EQ(h.Rows("cost_by_org"),
            (std::vector<std::string>{"o1|3|" + std::to_string(kMax), "o2|1|5"}));
  h.Erase("shipments", "s2");
  h.Flush();
  EXPECT_EQ(h.Rows("cost_by_org"), (std::vector<std::string>{"o1|2|0", "o2|1|5"}));
  EXPECT_TRUE(h.maintainer().TakeErrors().empty());
  h.CheckLoadAgrees();
}

TEST(DerivedTest, AnExpressionErrorReadsAsNullAndIsCountedPerView) {
  Harness h(Entry("unit_cost", R"(CREATE VIEW unit_cost AS
SELECT id, cost / (cost - 100) AS ratio FROM shipments)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("s1", "o1", T("c1"), "Confirmed", 1, 100));  // division by zero
  h.Put("shipments", Shipment("s2", "o1", T("c1"), "Confirmed", 1, 200));
  h.Flush();
  EXPECT_EQ(h.Rows("unit_cost"), (std::vector<std::string>{"s1|NULL", "s2|2"}));
  EXPECT_EQ(h.maintainer().TakeErrors(), (std::map<int, int64_t>{{h.View("unit_cost"), 1}}));
  EXPECT_TRUE(h.maintainer().TakeErrors().empty()) << "taken once";
}

// Found by tests/fuzz/fuzz_derived: the running integer sum overflowed (signed: UB) when a
// group's total passed int64 on the way; it wraps now, so a retraction undoes it exactly.
TEST(DerivedTest, IntegerSumIsExactWhenOnlyARunningTotalOverflows) {
  Harness h(Entry("c", R"(CREATE VIEW c AS
SELECT org, sum(cost) AS cost FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  h.Put("shipments", Shipment("a", "o", T("c"), "A", 1, kMax));
  h.Put("shipments", Shipment("b", "o", T("c"), "A", 1, kMax));  // the total passes int64
  h.Erase("shipments", "a");
  h.Put("shipments", Shipment("c", "o", T("c"), "A", 1, -5));
  h.Flush();
  EXPECT_EQ(h.Rows("c"), (std::vector<std::string>{"o|9223372036854775802"}));
}

TEST(DerivedTest, MinMaxStayRightWhenTheExtremeLeaves) {
  Harness h(Entry("w", R"(CREATE VIEW w AS
SELECT org, min(weight) AS lo, max(weight) AS hi, min(status) AS first_status FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("a", "o", T("c"), "B", 5, 1));
  h.Put("shipments", Shipment("b", "o", T("c"), "A", 1, 1));
  h.Put("shipments", Shipment("c", "o", T("c"), "C", 9, 1));
  h.Flush();
  EXPECT_EQ(h.Rows("w"), (std::vector<std::string>{"o|1|9|A"}));
  h.Erase("shipments", "b");
  h.Put("shipments", Shipment("c", "o", T("c"), "C", 4, 1));  // the max moves down
  h.Flush();
  EXPECT_EQ(h.Rows("w"), (std::vector<std::string>{"o|4|5|B"}));
  h.CheckLoadAgrees();
}

TEST(DerivedTest, DistinctAndFilter) {
  Harness h(Entry("d", R"(CREATE VIEW d AS
SELECT org, count(DISTINCT carrier) AS carriers, count(carrier) AS with_carrier,
       count(*) FILTER (WHERE status = 'Late') AS late,
       sum(DISTINCT cost) AS distinct_cost,
       sum(cost) FILTER (WHERE weight > 2) AS heavy_cost
FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("a", "o", T("c1"), "Late", 1, 10));
  h.Put("shipments", Shipment("b", "o", T("c1"), "OnTime", 3, 10));
  h.Put("shipments", Shipment("c", "o", N(), "Late", 5, 7));
  h.Flush();
  EXPECT_EQ(h.Rows("d"), (std::vector<std::string>{"o|1|2|2|17|17"}));
  h.Put("shipments", Shipment("c", "o", T("c2"), "OnTime", 1, 7));
  h.Erase("shipments", "b");
  h.Flush();
  // heavy_cost: no row passes the filter any more -> NULL, like SQL's sum over nothing.
  EXPECT_EQ(h.Rows("d"), (std::vector<std::string>{"o|2|2|1|17|NULL"}));
  h.CheckLoadAgrees();
}

TEST(DerivedTest, Percentiles) {
  Harness h(Entry("p", R"(CREATE VIEW p AS
SELECT org, percentile_cont(0.95) WITHIN GROUP (ORDER BY transit) AS p95,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY transit) AS median,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY transit) AS median_disc
FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  // transit 1..10 -> p95 = 1 + 0.95 * 9 = 9.55; median 5.5; disc median 5.
  for (int i = 1; i <= 10; ++i) {
    h.Put("shipments",
          Shipment("s" + std::to_string(i), "o", T("c"), "D", 1, 1, "2026-01-01T00:00:00Z", R(i)));
  }
  h.Put("shipments", Shipment("n", "o", T("c"), "D", 1, 1, "2026-01-01T00:00:00Z", N()));
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|9.55|5.5|5"}));
  h.Erase("shipments", "s10");  // 1..9: p95 = 1 + 0.95 * 8 = 8.6; median 5
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|8.6|5|5"}));
  h.CheckLoadAgrees();
}

// A percentile keeps each value once with its count: repeated values rank as many times as
// they were added, and a retraction takes one repeat away, not the value.
TEST(DerivedTest, PercentilesCountRepeatedValues) {
  Harness h(Entry("p", R"(CREATE VIEW p AS
SELECT org, percentile_cont(0.5) WITHIN GROUP (ORDER BY transit) AS median,
       percentile_disc(0.75) WITHIN GROUP (ORDER BY transit) AS p75,
       percentile_cont(1) WITHIN GROUP (ORDER BY transit) AS top
FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  // transit 2,2,2,2,9,9: median 2, disc p75 = the 5th of 6 = 9, max 9.
  const double transits[] = {2, 2, 9, 2, 9, 2};
  for (int i = 0; i < 6; ++i) {
    h.Put("shipments", Shipment("s" + std::to_string(i), "o", T("c"), "D", 1, 1,
                                "2026-01-01T00:00:00Z", R(transits[i])));
  }
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|2|9|9"}));
  // Three 2s leave (2,9,9): median 9; disc p75 = the 3rd of 3 = 9.
  h.Erase("shipments", "s0");
  h.Erase("shipments", "s1");
  h.Erase("shipments", "s3");
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|9|9|9"}));
  // Both 9s leave: (2); then a 9 moves to 4: (2,4) median 3.
  h.Erase("shipments", "s2");
  h.Erase("shipments", "s4");
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|2|2|2"}));
  h.Put("shipments", Shipment("s4", "o", T("c"), "D", 1, 1, "2026-01-01T00:00:00Z", R(4)));
  h.Flush();
  EXPECT_EQ(h.Rows("p"), (std::vector<std::string>{"o|3|4|4"}));
  h.CheckLoadAgrees();
}

TEST(DerivedTest, CaseAndTimeFunctions) {
  Harness h(Entry("t", R"(CREATE VIEW t AS
SELECT org, date_trunc('month', created) AS month, to_char(created, 'YYYY-MM-DD') AS day,
       extract(dow FROM created) AS dow,
       CASE WHEN weight >= 10 THEN 'heavy' ELSE 'light' END AS class,
       count(*) AS n, sum(CASE WHEN status = 'Late' THEN 1 ELSE 0 END) AS late
FROM shipments GROUP BY org, 2, 3, 4, 5)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("a", "o", T("c"), "Late", 12, 1, "2026-03-04T10:00:00Z"));
  h.Put("shipments", Shipment("b", "o", T("c"), "OnTime", 15, 1, "2026-03-04T23:59:59Z"));
  h.Put("shipments", Shipment("c", "o", T("c"), "Late", 1, 1, "2026-03-05T00:00:00Z"));
  h.Flush();
  EXPECT_EQ(h.Rows("t"),
            (std::vector<std::string>{"o|2026-03-01T00:00:00.000000Z|2026-03-04|3|heavy|2|1",
                                      "o|2026-03-01T00:00:00.000000Z|2026-03-05|4|light|1|1"}));
  h.CheckLoadAgrees();
}

TEST(DerivedTest, InnerJoinEitherSideChanges) {
  Harness h(Entry("j", R"(CREATE VIEW j AS
SELECT c.country, count(*) AS n, sum(s.cost) AS cost
FROM shipments s JOIN carriers c ON s.carrier = c.cid GROUP BY c.country)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("a", "o", T("c1"), "X", 1, 10));
  h.Put("shipments", Shipment("b", "o", T("c2"), "X", 1, 20));
  h.Flush();
  EXPECT_TRUE(h.Rows("j").empty());  // no carriers yet: the inner join has no rows
  h.Put("carriers", {T("c1"), T("DHL"), T("DE")});
  h.Put("carriers", {T("c2"), T("UPS"), T("DE")});
  h.Flush();
  EXPECT_EQ(h.Rows("j"), (std::vector<std::string>{"DE|2|30"}));
  h.Put("carriers", {T("c2"), T("UPS"), T("US")});              // the right side moves its rows
  h.Put("shipments", Shipment("a", "o", T("c2"), "X", 1, 10));  // the left side moves too
  h.Flush();
  EXPECT_EQ(h.Rows("j"), (std::vector<std::string>{"US|2|30"}));
  h.Erase("carriers", "c2");
  h.Flush();
  EXPECT_TRUE(h.Rows("j").empty());
  h.CheckLoadAgrees();
}

TEST(DerivedTest, LeftJoinRowsWithParent) {
  Harness h(Entry("consignment_list", R"(CREATE VIEW consignment_list AS
SELECT s.id, s.status, c.name AS carrier_name, c.country
FROM shipments s LEFT JOIN carriers c ON s.carrier = c.cid)"));
  ASSERT_TRUE(h.ok());
  h.Put("shipments", Shipment("a", "o", T("c1"), "X", 1, 10));
  h.Put("shipments", Shipment("b", "o", N(), "Y", 1, 10));
  h.Flush();
  EXPECT_EQ(h.Rows("consignment_list"),
            (std::vector<std::string>{"a|X|NULL|NULL", "b|Y|NULL|NULL"}));
  h.Put("carriers", {T("c1"), T("DHL"), T("DE")});
  h.Flush();
  EXPECT_EQ(h.Rows("consignment_list"), (std::vector<std::string>{"a|X|DHL|DE", "b|Y|NULL|NULL"}));
  h.Put("shipments", Shipment("b", "o", T("c1"), "Z", 1, 10));
  h.Erase("carriers", "c1");
  h.Put("carriers", {T("c9"), T("GLS"), T("PL")});
  h.Flush();
  EXPECT_EQ(h.Rows("consignment_list"),
            (std::vector<std::string>{"a|X|NULL|NULL", "b|Z|NULL|NULL"}));
  h.Erase("shipments", "a");
  h.Flush();
  EXPECT_EQ(h.Rows("consignment_list"), (std::vector<std::string>{"b|Z|NULL|NULL"}));
  h.CheckLoadAgrees();
}

TEST(DerivedTest, DerivedOverDerivedAndWhere) {
  Harness h(Entry("list", R"(CREATE VIEW list AS
SELECT s.id, s.org, s.status, c.country FROM shipments s LEFT JOIN carriers c ON s.carrier = c.cid
WHERE s.status <> 'Draft')") +
            Entry("per_country", R"(CREATE VIEW per_country AS
SELECT coalesce(country, '?') AS country, count(*) AS n, count(DISTINCT org) AS orgs
FROM list GROUP BY 1)"));
  ASSERT_TRUE(h.ok());
  h.Put("carriers", {T("c1"), T("DHL"), T("DE")});
  h.Put("shipments", Shipment("a", "o1", T("c1"), "X", 1, 10));
  h.Put("shipments", Shipment("b", "o2", T("c1"), "Draft", 1, 10));
  h.Put("shipments", Shipment("c", "o2", T("zz"), "X", 1, 10));
  h.Flush();
  EXPECT_EQ(h.Rows("per_country"), (std::vector<std::string>{"?|1|1", "DE|1|1"}));
  h.Put("shipments", Shipment("b", "o2", T("c1"), "Confirmed", 1, 10));  // passes WHERE now
  h.Put("carriers", {T("zz"), T("Z"), T("DE")});
  h.Flush();
  EXPECT_EQ(h.Rows("per_country"), (std::vector<std::string>{"DE|3|2"}));
  h.CheckLoadAgrees();
}

// ---- Load-time errors: the construct named, at its line and column in the config file.

struct ErrorCase {
  const char* sql;
  const char* at;       // the error points at the first occurrence of this text ("" = valid)
  const char* message;  // substring of the error
};

TEST(DerivedTest, LoadTimeErrorsNameTheConstructAndItsPosition) {
  const ErrorCase cases[] = {
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org HAVING count(*) > 1",
       "HAVING", "unsupported HAVING clause"},
      {"CREATE VIEW v AS SELECT org, stddev(cost) AS s FROM shipments GROUP BY org", "stddev",
       "unsupported aggregate stddev()"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org ORDER BY org",
       "ORDER", "unsupported ORDER BY clause"},
      {"CREATE VIEW v AS SELECT org, status, count(*) AS n FROM shipments GROUP BY org", "status",
       "column status must appear in GROUP BY or be used in an aggregate"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM nowhere GROUP BY org", "nowhere",
       "unknown view nowhere"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments s JOIN carriers c ON s.cost > 1 "
       "GROUP BY org",
       "> 1", "unsupported join condition"},
      {"CREATE VIEW v AS SELECT s.org, count(*) AS n FROM shipments s FULL JOIN carriers c ON "
       "s.carrier = c.cid GROUP BY s.org",
       "shipments s FULL", "unsupported FULL JOIN"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments WHERE count(*) > 1 GROUP BY org",
       "count(*) > 1", "aggregate count() is not allowed in WHERE"},
      {"CREATE VIEW v AS SELECT count(*) AS n FROM shipments", "count", "needs GROUP BY"},
      {"CREATE VIEW v AS SELECT org, percentile_cont(2) WITHIN GROUP (ORDER BY cost) AS p "
       "FROM shipments GROUP BY org",
       "2)", "the fraction must be a constant between 0 and 1"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org UNION SELECT org, 1 "
       "FROM shipments",
       "CREATE", "unsupported set operation"},
      {"CREATE VIEW v AS SELECT * FROM shipments", "*", "unsupported SELECT *"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM (SELECT * FROM shipments) x GROUP BY org",
       "(SELECT *", "unsupported subquery in FROM"},
      {"CREATE VIEW v AS SELECT org, rank() OVER () AS r FROM shipments", "rank",
       "unsupported aggregate rank()"},
      {"CREATE VIEW v AS SELECT status FROM shipments", "status", "select shipments.id"},
      {"CREATE VIEW w AS SELECT org, count(*) AS n FROM shipments GROUP BY org", "CREATE",
       "CREATE VIEW w is declared under the name v"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org, status", "status",
       "select every GROUP BY expression"},
      {"CREATE VIEW v AS SELECT id, nosuch FROM shipments", "nosuch", "unknown column nosuch"},
      // Maintenance and the stores' SELECT agree on what a view may cast to.
      {"CREATE VIEW v AS SELECT id, created::date AS day FROM shipments", "date",
       "unsupported type date"},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments GROUP BY org,, n", ", n",
       "syntax error at or near \",\""},
      {"CREATE VIEW v AS SELECT org, count(*) AS n FROM shipments s JOIN carriers c ON s.carrier = "
       "c.cid GROUP BY org",
       "", ""},  // valid: an unambiguous bare name resolves on either side
  };
  // The SQL sits on the line after "  v:", after `    sql: "`.
  const int line = static_cast<int>(std::count(kBase, kBase + sizeof(kBase) - 1, '\n')) + 3;
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.sql);
    auto config = config::ParseConfig(ConfigWith(std::string("  v:\n    sql: \"") + c.sql + "\"\n"),
                                      "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto catalog = projection::Compile(*config);
    if (std::string(c.message).empty()) {
      EXPECT_TRUE(catalog.ok()) << catalog.status();
      continue;
    }
    ASSERT_FALSE(catalog.ok());
    const std::string sql = c.sql;
    const std::string where =
        "test.yaml:" + std::to_string(line) + ":" + std::to_string(11 + sql.find(c.at)) + ": ";
    EXPECT_EQ(std::string(catalog.status().message()).substr(0, where.size()), where)
        << catalog.status();
    EXPECT_NE(std::string(catalog.status().message()).find(c.message), std::string::npos)
        << catalog.status();
  }
}

TEST(DerivedTest, OutputTypesFollowPostgres) {
  Harness h(Entry("ty", R"(CREATE VIEW ty AS
SELECT org, count(*) AS n, sum(cost) AS cost, sum(weight) AS w, avg(cost) AS avg_cost,
       min(created) AS first, max(created) - min(created) AS span, min(cost) / 2 AS half,
       (count(*) FILTER (WHERE status = 'Late'))::real / count(*) AS late_rate
FROM shipments GROUP BY org)"));
  ASSERT_TRUE(h.ok());
  const projection::ViewPlan& v = h.catalog().views[h.View("ty")];
  std::vector<Type> types;
  for (const auto& c : v.columns) types.push_back(c.type);
  EXPECT_EQ(types, (std::vector<Type>{Type::kText, Type::kInt, Type::kInt, Type::kReal, Type::kReal,
                                      Type::kTime, Type::kInterval, Type::kInt, Type::kReal}));
  EXPECT_EQ(v.key, (std::vector<int>{0}));
}

// One type inference serves maintenance and the stores' SELECT (issue 16): the column type of
// a function follows the catalog's rule for the arguments, as the evaluator computes it.
TEST(DerivedTest, FunctionResultTypesFollowTheEvaluator) {
  Harness h(Entry("fn", R"(CREATE VIEW fn AS
SELECT id, round(cost) AS r, round(weight) AS rw, round(weight, 1) AS r1, floor(cost) AS f,
       abs(cost) AS a, mod(cost, 7) AS m, date_part('hour', created) AS hour,
       date_part('epoch', created) AS epoch, extract(dow FROM created) AS dow
FROM shipments)"));
  ASSERT_TRUE(h.ok());
  const projection::ViewPlan& v = h.catalog().views[h.View("fn")];
  std::vector<Type> types;
  for (const auto& c : v.columns) types.push_back(c.type);
  EXPECT_EQ(types,
            (std::vector<Type>{Type::kText, Type::kInt, Type::kReal, Type::kReal, Type::kInt,
                               Type::kInt, Type::kInt, Type::kInt, Type::kReal, Type::kInt}));
}

// ---- Randomized: many small batches of inserts, moves between groups, deletes, over a join
// and an aggregate on top of it, against a naive recomputation.

struct Naive {
  // org|status -> (count, sum cost, min weight, max weight, distinct carriers)
  static std::vector<std::string> Aggregate(const std::map<std::string, Row>& shipments) {
    std::map<std::string, std::vector<const Row*>> groups;
    for (const auto& [k, r] : shipments) {
      groups[r[1].as_text() + "|" + r[3].as_text()].push_back(&r);
    }
    std::vector<std::string> out;
    for (const auto& [g, rows] : groups) {
      int64_t cost = 0;
      double lo = 1e300, hi = -1e300;
      std::set<std::string> carriers;
      std::vector<double> weights;
      for (const Row* r : rows) {
        cost += (*r)[5].as_int();
        lo = std::min(lo, (*r)[4].as_real());
        hi = std::max(hi, (*r)[4].as_real());
        if (!(*r)[2].is_null()) carriers.insert((*r)[2].as_text());
        weights.push_back((*r)[4].as_real());
      }
      std::sort(weights.begin(), weights.end());
      const double pos = 0.9 * static_cast<double>(weights.size() - 1);
      const size_t f = static_cast<size_t>(pos);
      const double p90 = weights[f] + (weights[std::min(f + 1, weights.size() - 1)] - weights[f]) *
                                          (pos - static_cast<double>(f));
      out.push_back(g + "|" + std::to_string(rows.size()) + "|" + std::to_string(cost) + "|" +
                    Value::Real(lo).ToString() + "|" + Value::Real(hi).ToString() + "|" +
                    std::to_string(carriers.size()) + "|" + Value::Real(p90).ToString());
    }
    return out;
  }
};

TEST(DerivedTest, RandomWorkloadsMatchANaiveRecomputation) {
  Harness h(Entry("agg", R"(CREATE VIEW agg AS
SELECT org, status, count(*) AS n, sum(cost) AS cost, min(weight) AS lo, max(weight) AS hi,
       count(DISTINCT carrier) AS carriers,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY weight) AS p90
FROM shipments GROUP BY org, status)") +
            Entry("joined", R"(CREATE VIEW joined AS
SELECT s.id, s.org, c.country FROM shipments s LEFT JOIN carriers c ON s.carrier = c.cid)") +
            Entry("by_country", R"(CREATE VIEW by_country AS
SELECT org, country, count(*) AS n FROM joined GROUP BY org, country)"));
  ASSERT_TRUE(h.ok());
  std::mt19937 rng(12345);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* statuses[] = {"Confirmed", "InTransit", "Delivered", "Exception"};
  for (int batch = 0; batch < 300; ++batch) {
    const int ops = 1 + pick(12);
    for (int op = 0; op < ops; ++op) {
      const int kind = pick(10);
      if (kind < 2) {
        h.Put("carriers", {T("c" + std::to_string(pick(6))), T("n"),
                           T(std::string(1, static_cast<char>('A' + pick(3))))});
      } else if (kind < 3 && !h.base("carriers").empty()) {
        auto it = h.base("carriers").begin();
        std::advance(it, pick(static_cast<int>(h.base("carriers").size())));
        h.Erase("carriers", it->first);
      } else if (kind < 4 && !h.base("shipments").empty()) {
        auto it = h.base("shipments").begin();
        std::advance(it, pick(static_cast<int>(h.base("shipments").size())));
        h.Erase("shipments", it->first);
      } else {
        const Value carrier = pick(8) == 0 ? N() : T("c" + std::to_string(pick(7)));
        h.Put("shipments", Shipment("s" + std::to_string(pick(60)), "o" + std::to_string(pick(3)),
                                    carrier, statuses[pick(4)], pick(50) / 4.0, pick(100)));
      }
    }
    h.Flush();
    ASSERT_EQ(h.Rows("agg"), Naive::Aggregate(h.base("shipments"))) << "batch " << batch;
  }
  h.CheckLoadAgrees();
}

}  // namespace
}  // namespace sv

namespace sv {
using ::testing::HasSubstr;
namespace {

// A derived view on a route of its own: its time column is checked once its SELECT is bound
// (file:line of the time_column), and two views may not claim one path.
TEST(DerivedTest, ApiOfADerivedViewIsCheckedAtLoad) {
  auto compile_error = [](const std::string& derived) -> std::string {
    auto config = config::ParseConfig(ConfigWith(derived), "test.yaml");
    if (!config.ok()) return std::string(config.status().message());
    auto catalog = projection::Compile(*config);
    return catalog.ok() ? "" : std::string(catalog.status().message());
  };
  const std::string sql =
      "    sql: \"CREATE VIEW v AS SELECT org, date_trunc('day', created) AS day, "
      "count(*) AS n FROM shipments GROUP BY org, date_trunc('day', created)\"\n";
  EXPECT_EQ(compile_error("  v:\n    api: {path: /days, time_column: day}\n" + sql), "");
  const std::string line = std::to_string(std::count(kBase, kBase + sizeof(kBase) - 1, '\n') + 3);
  std::string e = compile_error("  v:\n    api: {path: /days, time_column: nope}\n" + sql);
  EXPECT_NE(e.find("test.yaml:" + line + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("time column 'nope' of derived view 'v' is not one of its columns"),
            std::string::npos)
      << e;
  e = compile_error("  v:\n    api: {time_column: n}\n" + sql);
  EXPECT_NE(e.find("must be a timestamp"), std::string::npos) << e;
  e = compile_error("  v:\n    api: {path: /days}\n" + sql + "  w:\n    api: {path: /days}\n" +
                    "    sql: \"CREATE VIEW w AS SELECT org, count(*) AS n FROM shipments GROUP "
                    "BY org\"\n");
  EXPECT_NE(e.find("api path '/days' of view 'w' is already the path of view 'v'"),
            std::string::npos)
      << e;
}

TEST(DerivedTest, LookupsAreCheckedAtLoadAgainstBaseAndDerivedViews) {
  auto compile_error = [](const std::string& lookups) -> std::string {
    const std::string derived =
        Entry("active_carriers",
              "CREATE VIEW active_carriers AS SELECT cid, name FROM carriers "
              "WHERE country = 'DE'");
    auto config = config::ParseConfig(ConfigWith(derived) + "lookups:\n" + lookups, "test.yaml");
    if (!config.ok()) return std::string(config.status().message());
    auto catalog = projection::Compile(*config);
    return catalog.ok() ? "" : std::string(catalog.status().message());
  };
  EXPECT_EQ(compile_error("  c:\n    view: carriers\n    label: name\n    scope: country\n"
                          "    where: {country: DE}\n"),
            "");
  EXPECT_EQ(compile_error("  a:\n    view: active_carriers\n    label: name\n"), "");
  EXPECT_THAT(compile_error("  c:\n    view: carrier\n    label: name\n"),
              HasSubstr("lookup 'c': unknown view 'carrier'"));
  EXPECT_THAT(compile_error("  c:\n    view: shipments\n    label: weight\n"),
              HasSubstr("lookup 'c': label 'weight' must be a text column, not numeric"));
  EXPECT_THAT(compile_error("  c:\n    view: active_carriers\n    label: name\n"
                            "    fields: [cid, country]\n"),
              HasSubstr("field 'country' is not a column of view 'active_carriers'"));
  EXPECT_THAT(compile_error("  c:\n    view: shipments\n    label: org\n    where: {cost: abc}\n"),
              HasSubstr("'where' value of 'cost'"));
  EXPECT_THAT(compile_error("  c:\n    view: shipments\n    labels: org\n"),
              HasSubstr("unknown key 'labels' in lookup 'c'"));
}

TEST(DerivedTest, RefreshScheduleErrorsAtLoad) {
  const std::string bad_cron =
      "  v:\n    refresh: \"61 * * * *\"\n    sql: \"CREATE VIEW v AS "
      "SELECT org, count(*) AS n FROM shipments GROUP BY org\"\n";
  auto config = config::ParseConfig(ConfigWith(bad_cron), "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto catalog = projection::Compile(*config);
  ASSERT_FALSE(catalog.ok());
  const std::string line = std::to_string(std::count(kBase, kBase + sizeof(kBase) - 1, '\n') + 3);
  EXPECT_NE(std::string(catalog.status().message()).find("test.yaml:" + line + ":15: "),
            std::string::npos)
      << catalog.status();
  EXPECT_NE(std::string(catalog.status().message()).find("minute"), std::string::npos)
      << catalog.status();

  // An incremental view cannot read one that is only recomputed on a schedule.
  const std::string chained =
      "  v:\n    refresh: \"@hourly\"\n    sql: \"CREATE VIEW v AS SELECT org, count(*) AS n "
      "FROM shipments GROUP BY org\"\n"
      "  w:\n    sql: \"CREATE VIEW w AS SELECT org, sum(n) AS n FROM v GROUP BY org\"\n";
  config = config::ParseConfig(ConfigWith(chained), "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  catalog = projection::Compile(*config);
  ASSERT_FALSE(catalog.ok());
  EXPECT_NE(std::string(catalog.status().message()).find("give it a refresh schedule too"),
            std::string::npos)
      << catalog.status();
}

}  // namespace
}  // namespace sv
