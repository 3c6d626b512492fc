// The "store runs the SELECT itself" path on every backend (store_backends.h): sql::StoreSelect's
// text for a derived view run through Store::QuerySelect, checked against an oracle computed
// here over the same rows, and Batch::ReplaceWithSelect replacing a table atomically. Scalar
// expressions are checked against the engine's own evaluation of them.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/time_util.h"
#include "common/value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sql/deparse.h"
#include "sql/expr.h"
#include "store/store.h"
#include "store_backends.h"

namespace sv::store {
namespace {

// ---- Source views: orders LEFT JOIN customers

struct Order {
  int64_t id;
  std::string customer;
  std::string status;
  std::optional<int64_t> qty;
  double price;
  int64_t at;
  bool express;
};

struct Customer {
  std::string id;
  std::string region;
  std::optional<int64_t> tier;
};

TableSpec OrdersTable() {
  TableSpec t;
  t.name = "orders__v1";
  t.columns = {{"id", Type::kInt},      {"customer", Type::kText}, {"status", Type::kText},
               {"qty", Type::kInt},     {"price", Type::kReal},    {"at", Type::kTime},
               {"express", Type::kBool}};
  t.key = {0};
  return t;
}

TableSpec CustomersTable() {
  TableSpec t;
  t.name = "customers__v1";
  t.columns = {{"id", Type::kText}, {"region", Type::kText}, {"tier", Type::kInt}};
  t.key = {0};
  return t;
}

const int64_t kBase = *ParseTime("2024-02-27T20:00:00Z");  // across a month end (leap day)

// 48 orders of six customers over a few days; c4 and c5 have no customer row.
std::vector<Order> MakeOrders() {
  static const char* kStatuses[] = {"paid", "open", "void", "paid", "refunded"};
  std::vector<Order> out;
  for (int64_t i = 0; i < 48; ++i) {
    Order o;
    o.id = i + 1;
    o.customer = "c" + std::to_string(i * 7 % 6);
    o.status = kStatuses[i * 3 % 5];
    if (i % 7 != 3) o.qty = i * 5 % 9;
    o.price = static_cast<double>(i * 37 % 101) / 4.0 + 0.25;
    o.at = kBase + i * 3 * 3600 * int64_t{1'000'000} + (i % 4) * 17 * 60 * int64_t{1'000'000};
    o.express = i % 4 == 1;
    out.push_back(o);
  }
  return out;
}

std::vector<Customer> MakeCustomers() {
  return {{"c0", "north", 1}, {"c1", "south", 2}, {"c2", "north", std::nullopt}, {"c3", "east", 3}};
}

constexpr char kStatsView[] = R"sql(
CREATE VIEW stats AS
SELECT o.customer AS customer,
       date_trunc('day', o.at) AS day,
       c.region AS region,
       count(*) AS n,
       count(DISTINCT o.status) AS statuses,
       sum(o.qty) AS qty,
       avg(o.price) AS avg_price,
       min(o.price) AS min_price,
       max(o.at) AS last_at,
       count(*) FILTER (WHERE o.express) AS express,
       sum(o.price) FILTER (WHERE o.status = 'paid') AS paid,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY o.price) AS median_price,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY o.qty) AS median_qty,
       sum(CASE WHEN o.qty >= 3 THEN 1 ELSE 0 END) AS big,
       max(CASE WHEN c.tier IS NULL THEN 'none' WHEN c.tier > 1 THEN 'gold' ELSE 'basic' END)
         AS tier
FROM orders o LEFT JOIN customers c ON o.customer = c.id
WHERE o.status <> 'void'
GROUP BY o.customer, date_trunc('day', o.at), c.region
)sql";

TableSpec StatsTable() {
  TableSpec t;
  t.name = "stats__v1";
  t.columns = {
      {"customer", Type::kText},  {"day", Type::kTime},       {"region", Type::kText},
      {"n", Type::kInt},          {"statuses", Type::kInt},   {"qty", Type::kInt},
      {"avg_price", Type::kReal}, {"min_price", Type::kReal}, {"last_at", Type::kTime},
      {"express", Type::kInt},    {"paid", Type::kReal},      {"median_price", Type::kReal},
      {"median_qty", Type::kInt}, {"big", Type::kInt},        {"tier", Type::kText}};
  t.key = {0, 1};
  return t;
}

Value OptInt(const std::optional<int64_t>& v) { return v ? Value::Int(*v) : Value::Null(); }

// kStatsView computed by hand, in (customer, day) order.
std::vector<Row> StatsOracle(const std::vector<Order>& orders,
                             const std::vector<Customer>& customers) {
  constexpr int64_t kDay = 86'400'000'000;
  std::map<std::pair<std::string, int64_t>, std::vector<const Order*>> groups;
  for (const Order& o : orders) {
    if (o.status == "void") continue;
    groups[{o.customer, o.at / kDay * kDay}].push_back(&o);
  }
  std::vector<Row> out;
  for (const auto& [key, rows] : groups) {
    const Customer* c = nullptr;
    for (const Customer& cu : customers) {
      if (cu.id == key.first) c = &cu;
    }
    std::set<std::string> statuses;
    std::optional<int64_t> qty;
    std::vector<int64_t> qtys;
    std::vector<double> prices;
    double price_sum = 0, min_price = rows[0]->price;
    int64_t last_at = rows[0]->at, express = 0, big = 0;
    std::optional<double> paid;
    for (const Order* o : rows) {
      statuses.insert(o->status);
      if (o->qty) {
        qty = qty.value_or(0) + *o->qty;
        qtys.push_back(*o->qty);
        if (*o->qty >= 3) ++big;
      }
      prices.push_back(o->price);
      price_sum += o->price;
      min_price = std::min(min_price, o->price);
      last_at = std::max(last_at, o->at);
      if (o->express) ++express;
      if (o->status == "paid") paid = paid.value_or(0) + o->price;
    }
    std::sort(prices.begin(), prices.end());
    const double pos = 0.5 * static_cast<double>(prices.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
    const double median = prices[lo] + (prices[hi] - prices[lo]) * (pos - static_cast<double>(lo));
    Value median_qty;
    if (!qtys.empty()) {
      std::sort(qtys.begin(), qtys.end());
      const auto row = static_cast<size_t>(std::ceil(0.5 * static_cast<double>(qtys.size())));
      median_qty = Value::Int(qtys[std::max<size_t>(row, 1) - 1]);
    }
    const char* tier = c == nullptr || !c->tier ? "none" : (*c->tier > 1 ? "gold" : "basic");
    out.push_back(
        {Value::Text(key.first), Value::Time(key.second),
         c ? Value::Text(c->region) : Value::Null(), Value::Int(static_cast<int64_t>(rows.size())),
         Value::Int(static_cast<int64_t>(statuses.size())), OptInt(qty),
         Value::Real(price_sum / static_cast<double>(rows.size())), Value::Real(min_price),
         Value::Time(last_at), Value::Int(express), paid ? Value::Real(*paid) : Value::Null(),
         Value::Real(median), median_qty, Value::Int(big), Value::Text(tier)});
  }
  return out;
}

void ExpectRowsMatch(const std::vector<Row>& actual, const std::vector<Row>& expected,
                     const std::vector<ColumnSpec>& columns) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t r = 0; r < actual.size(); ++r) {
    ASSERT_EQ(actual[r].size(), expected[r].size());
    for (size_t c = 0; c < expected[r].size(); ++c) {
      const Value& a = actual[r][c];
      const Value& e = expected[r][c];
      const std::string where = "row " + std::to_string(r) + " (" + expected[r][0].ToString() +
                                ") column " + columns[c].name;
      if (e.type() == Type::kReal && a.type() == Type::kReal) {
        EXPECT_NEAR(a.as_real(), e.as_real(), 1e-9 * std::max(1.0, std::abs(e.as_real()))) << where;
      } else {
        EXPECT_TRUE(a == e) << where << ": got " << TypeName(a.type()) << " " << a.ToString()
                            << ", want " << TypeName(e.type()) << " " << e.ToString();
      }
    }
  }
}

class StoreSelectTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = OpenAs(StoreRole::kWriter);
    ASSERT_NE(store_, nullptr);
  }

  sql::SqlDialect dialect() const {
    return postgres() ? sql::SqlDialect::kPostgres : sql::SqlDialect::kSqlite;
  }

  std::string Select(std::string_view view_sql) {
    absl::StatusOr<std::string> sql = sql::StoreSelect(view_sql, dialect());
    EXPECT_TRUE(sql.ok()) << sql.status();
    return sql.ok() ? *sql : "";
  }

  // Creates `table` behind the view name `view` and fills it.
  void CreateView(const std::string& view, const TableSpec& table, const std::vector<Row>& rows) {
    ASSERT_TRUE(store_->CreateTable(table).ok());
    ASSERT_TRUE(store_->ActivateVersion(view, 1, table.name).ok());
    std::unique_ptr<Batch> batch = store_->BeginBatch();
    for (const Row& row : rows) ASSERT_TRUE(batch->Upsert(table, row).ok());
    absl::Status s = batch->Commit();
    ASSERT_TRUE(s.ok()) << s;
  }

  void CreateSources() {
    std::vector<Row> orders, customers;
    for (const Order& o : MakeOrders()) {
      orders.push_back({Value::Int(o.id), Value::Text(o.customer), Value::Text(o.status),
                        OptInt(o.qty), Value::Real(o.price), Value::Time(o.at),
                        Value::Bool(o.express)});
    }
    for (const Customer& c : MakeCustomers()) {
      customers.push_back({Value::Text(c.id), Value::Text(c.region), OptInt(c.tier)});
    }
    CreateView("orders", OrdersTable(), orders);
    CreateView("customers", CustomersTable(), customers);
  }

  std::vector<Row> Query(const std::string& sql, const std::vector<ColumnSpec>& columns) {
    std::vector<Row> rows;
    absl::Status s = store_->QuerySelect(sql, columns, [&](const Row& r) { rows.push_back(r); });
    EXPECT_TRUE(s.ok()) << s << "\n" << sql;
    return rows;
  }

  std::vector<Row> Scan(Store* store, const TableSpec& table) {
    std::vector<Row> rows;
    absl::Status s = store->ScanTable(table, [&](const Row& r) { rows.push_back(r); });
    EXPECT_TRUE(s.ok()) << s;
    return rows;
  }

  std::unique_ptr<Store> store_;
};

TEST_P(StoreSelectTest, GroupByJoinAggregatesMatchTheOracle) {
  CreateSources();
  const std::vector<ColumnSpec> columns = StatsTable().columns;
  std::vector<Row> rows = Query(Select(kStatsView), columns);
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::make_pair(a[0].as_text(), a[1].as_int()) <
           std::make_pair(b[0].as_text(), b[1].as_int());
  });
  const std::vector<Row> expected = StatsOracle(MakeOrders(), MakeCustomers());
  ASSERT_GT(expected.size(), 10u);
  ExpectRowsMatch(rows, expected, columns);
}

TEST_P(StoreSelectTest, ReplaceWithSelectSwapsTheRowsAtCommitOnly) {
  CreateSources();
  const TableSpec stats = StatsTable();
  const std::string select = Select(kStatsView);
  auto junk = [&](const std::string& customer) {
    Row row(stats.columns.size());
    row[0] = Value::Text(customer);
    row[1] = Value::Time(kBase);
    row[3] = Value::Int(-1);
    return row;
  };
  CreateView("stats", stats, {junk("old1"), junk("old2")});
  const std::vector<Row> old_rows = Scan(store_.get(), stats);
  ASSERT_EQ(old_rows.size(), 2u);
  std::unique_ptr<Store> reader = OpenAs(StoreRole::kReader, /*init=*/false);
  ASSERT_NE(reader, nullptr);

  {
    // Not committed: readers see the old rows meanwhile, and afterwards nothing changed.
    std::unique_ptr<Batch> batch = store_->BeginBatch();
    ASSERT_TRUE(batch->Upsert(stats, junk("before")).ok());
    absl::Status s = batch->ReplaceWithSelect(stats, select);
    ASSERT_TRUE(s.ok()) << s << "\n" << select;
    ExpectRowsMatch(Scan(reader.get(), stats), old_rows, stats.columns);
  }
  ExpectRowsMatch(Scan(store_.get(), stats), old_rows, stats.columns);

  // Committed: rows written before the replacement are gone, rows written after it stay.
  std::unique_ptr<Batch> batch = store_->BeginBatch();
  ASSERT_TRUE(batch->Upsert(stats, junk("before")).ok());
  absl::Status s = batch->ReplaceWithSelect(stats, select);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(batch->Upsert(stats, junk("zz_after")).ok());
  ExpectRowsMatch(Scan(reader.get(), stats), old_rows, stats.columns);
  s = batch->Commit();
  ASSERT_TRUE(s.ok()) << s;
  std::vector<Row> expected = StatsOracle(MakeOrders(), MakeCustomers());
  expected.push_back(junk("zz_after"));
  ExpectRowsMatch(Scan(store_.get(), stats), expected, stats.columns);
  ExpectRowsMatch(Scan(reader.get(), stats), expected, stats.columns);
}

TEST_P(StoreSelectTest, ReplaceWithSelectFailureFailsTheBatch) {
  CreateSources();
  const TableSpec stats = StatsTable();
  Row old(stats.columns.size());
  old[0] = Value::Text("old");
  old[1] = Value::Time(kBase);
  CreateView("stats", stats, {old});
  const std::vector<Row> old_rows = {old};
  std::unique_ptr<Batch> batch = store_->BeginBatch();
  // Duplicate keys: every order of a customer on a day, not one row per group.
  EXPECT_FALSE(batch
                   ->ReplaceWithSelect(stats, Select("SELECT o.customer, date_trunc('day', o.at), "
                                                     "NULL, 1, 1, 1, 1.5, 1.5, o.at, 1, 1.5, 1.5, "
                                                     "1, 1, 'x' FROM orders o"))
                   .ok());
  // Half a replacement never commits: the old rows stay.
  EXPECT_FALSE(batch->Commit().ok());
  ExpectRowsMatch(Scan(store_.get(), stats), old_rows, stats.columns);
}

TEST_P(StoreSelectTest, QuerySelectChecksItsInput) {
  CreateSources();
  const std::string select = Select("SELECT id, customer FROM orders");
  absl::Status s = store_->QuerySelect(select, {{"id", Type::kInt}}, [](const Row&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), ::testing::HasSubstr("yields 2 columns, expected 1"));
  s = store_->QuerySelect(select + "; DELETE FROM orders__v1",
                          {{"id", Type::kInt}, {"c", Type::kText}}, [](const Row&) {});
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(
      store_->QuerySelect("SELECT nope FROM orders", {{"x", Type::kInt}}, [](const Row&) {}).ok());
  EXPECT_EQ(Scan(store_.get(), OrdersTable()).size(), MakeOrders().size());
  EXPECT_EQ(Query(select + " ;\n", {{"id", Type::kInt}, {"c", Type::kText}}).size(),
            MakeOrders().size());
  // A NULL stays NULL whatever the declared type.
  std::vector<Row> rows =
      Query(Select("SELECT NULL, NULL, NULL, NULL, NULL FROM customers c WHERE c.id = 'c0'"),
            {{"a", Type::kInt},
             {"b", Type::kReal},
             {"c", Type::kText},
             {"d", Type::kTime},
             {"e", Type::kBool}});
  ASSERT_EQ(rows.size(), 1u);
  for (const Value& v : rows[0]) EXPECT_TRUE(v.is_null());
}

// PostgreSQL's percentile semantics: interpolation at p * (n - 1) for cont, row ceil(p * n)
// for disc, NULLs ignored, NULL without rows (SQLite runs the store's own aggregates).
double Cont(std::vector<double> x, double p) {
  std::sort(x.begin(), x.end());
  const double pos = p * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
  return x[lo] + (x[hi] - x[lo]) * (pos - static_cast<double>(lo));
}
template <typename T>
T Disc(std::vector<T> x, double p) {
  std::sort(x.begin(), x.end());
  const auto row = static_cast<size_t>(std::ceil(p * static_cast<double>(x.size())));
  return x[std::max<size_t>(row, 1) - 1];
}

TEST_P(StoreSelectTest, PercentilesFollowPostgres) {
  CreateSources();
  const std::vector<ColumnSpec> columns = {
      {"customer", Type::kText},  {"cont0", Type::kReal},   {"cont1", Type::kReal},
      {"cont_qty", Type::kReal},  {"disc0", Type::kInt},    {"disc1", Type::kInt},
      {"disc_text", Type::kText}, {"disc_at", Type::kTime}, {"none", Type::kReal}};
  std::vector<Row> rows = Query(Select(R"sql(
      SELECT o.customer,
             percentile_cont(0) WITHIN GROUP (ORDER BY o.price),
             percentile_cont(1) WITHIN GROUP (ORDER BY o.price),
             percentile_cont(0.25) WITHIN GROUP (ORDER BY o.qty),
             percentile_disc(0) WITHIN GROUP (ORDER BY o.qty),
             percentile_disc(1.0) WITHIN GROUP (ORDER BY o.qty),
             percentile_disc(0.3) WITHIN GROUP (ORDER BY o.status),
             percentile_disc(0.5) WITHIN GROUP (ORDER BY o.at),
             percentile_cont(0.5) WITHIN GROUP (ORDER BY o.price) FILTER (WHERE o.price < 0)
      FROM orders o GROUP BY o.customer)sql"),
                                columns);
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a[0].as_text() < b[0].as_text(); });
  std::map<std::string, std::vector<const Order*>> groups;
  const std::vector<Order> orders = MakeOrders();
  for (const Order& o : orders) groups[o.customer].push_back(&o);
  std::vector<Row> expected;
  for (const auto& [customer, group] : groups) {
    std::vector<double> prices, qtys;
    std::vector<int64_t> int_qtys, ats;
    std::vector<std::string> statuses;
    for (const Order* o : group) {
      prices.push_back(o->price);
      if (o->qty) qtys.push_back(static_cast<double>(*o->qty));
      if (o->qty) int_qtys.push_back(*o->qty);
      statuses.push_back(o->status);
      ats.push_back(o->at);
    }
    expected.push_back({Value::Text(customer), Value::Real(Cont(prices, 0)),
                        Value::Real(Cont(prices, 1)), Value::Real(Cont(qtys, 0.25)),
                        Value::Int(Disc(int_qtys, 0)), Value::Int(Disc(int_qtys, 1)),
                        Value::Text(Disc(statuses, 0.3)), Value::Time(Disc(ats, 0.5)),
                        Value::Null()});
  }
  ExpectRowsMatch(rows, expected, columns);

  absl::Status s = store_->QuerySelect(
      Select("SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY o.price) FROM orders o"),
      {{"p", Type::kReal}}, [](const Row&) {});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), ::testing::HasSubstr("between 0 and 1"));
}

// One row of every type; each expression's store result must equal the engine's own value.
TEST_P(StoreSelectTest, ScalarExpressionsMatchTheEngine) {
  TableSpec vals;
  vals.name = "vals__v1";
  vals.columns = {{"id", Type::kInt},  {"i", Type::kInt},  {"r", Type::kReal}, {"s", Type::kText},
                  {"at", Type::kTime}, {"f", Type::kBool}, {"n", Type::kInt}};
  vals.key = {0};
  const Row row = {Value::Int(1),
                   Value::Int(7),
                   Value::Real(2.5),
                   Value::Text("Hello%World"),
                   Value::Time(*ParseTime("2024-03-10T13:45:30.25Z")),
                   Value::Bool(true),
                   Value::Null()};
  CreateView("vals", vals, {row});
  const sql::ColumnTypeFn types = [&](std::string_view,
                                      std::string_view column) -> std::optional<Type> {
    for (const ColumnSpec& c : vals.columns) {
      if (c.name == column) return c.type;
    }
    return std::nullopt;
  };
  const sql::Resolver resolver = [&](const sql::NameRef& ref) -> absl::StatusOr<sql::Binding> {
    for (size_t c = 0; c < vals.columns.size(); ++c) {
      if (vals.columns[c].name == ref.parts.back()) {
        sql::Binding b;
        b.kind = sql::Binding::Kind::kConstant;
        b.value = row[c];
        return b;
      }
    }
    return absl::InvalidArgumentError("unknown column " + ref.parts.back());
  };
  const char* kExprs[] = {
      "i / 2",
      "i % 3",
      "r * 2",
      "-i",
      "2 ^ 3",
      "i + r",
      "s || '!'",
      "i::text",
      "r::text",
      "f::text",
      "at::text",
      "r::int",
      "(r + 1)::int",
      "'42'::int",
      "f::int",
      "i::real",
      "'2024-03-10 13:00'::timestamp",
      "'true'::boolean",
      "i::numeric(10, 1) / 4",
      "lower(s)",
      "upper(s)",
      "length(s)",
      "substr(s, 2, 3)",
      "strpos(s, 'W')",
      "position('o' IN s)",
      "replace(s, 'l', 'L')",
      "left(s, 3)",
      "right(s, 3)",
      "split_part(s, '%', 2)",
      "btrim('  x  ')",
      "trim(s)",
      "concat(s, '-', i)",
      "concat_ws('/', s, 'x')",
      "starts_with(s, 'He')",
      "round(r)",
      "round(i)",
      "round(r * 3, 1)",
      "trunc(r)",
      "floor(r)",
      "ceil(r)",
      "abs(-i)",
      "sqrt(16.0)",
      "mod(i, 3)",
      "sign(-r)",
      "power(2, 10)",
      "date_trunc('hour', at)",
      "date_trunc('week', at)",
      "date_trunc('month', at)",
      "date_part('hour', at)",
      "extract(dow FROM at)",
      "extract(epoch FROM at)",
      "extract(second FROM at)",
      "date_part('doy', at)",
      "to_char(at, 'YYYY-MM-DD HH24:MI:SS')",
      "at > '2024-03-01'::timestamp",
      "s LIKE 'Hello%'",
      "s LIKE 'hello%'",
      "s ILIKE 'hello%'",
      "s NOT LIKE 'H_llo\\%World'",
      "greatest(i, n, 3)",
      "least(r, n)",
      "coalesce(n, i)",
      "nullif(i, 7)",
      "CASE WHEN f THEN 'yes' ELSE 'no' END",
      "i BETWEEN 1 AND 10",
      "i IN (1, 7)",
      "n IS NULL",
      "n IS DISTINCT FROM i",
      "f AND i > 3",
      "NOT f OR n > 1",
  };
  for (const char* expr : kExprs) {
    absl::StatusOr<sql::ExprPtr> compiled = sql::Compile(expr, resolver, Location{});
    ASSERT_TRUE(compiled.ok()) << expr << ": " << compiled.status();
    absl::StatusOr<Value> want = sql::EvalConstant(**compiled);
    ASSERT_TRUE(want.ok()) << expr << ": " << want.status();
    absl::StatusOr<std::string> select =
        sql::StoreSelect(std::string("SELECT ") + expr + " FROM vals", dialect(), types);
    ASSERT_TRUE(select.ok()) << expr << ": " << select.status();
    const Type type = want->is_null() ? Type::kText : want->type();
    std::vector<Row> got = Query(*select, {{"x", type}});
    ASSERT_EQ(got.size(), 1u) << expr;
    ExpectRowsMatch(got, {{*want}}, {{expr, type}});
  }
}

SV_INSTANTIATE_STORE_BACKENDS(StoreSelectTest);

}  // namespace
}  // namespace sv::store
