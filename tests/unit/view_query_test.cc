#include "server/view_query.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "absl/strings/escaping.h"
#include "common/time_util.h"

namespace sv::server {
namespace {

using store::FilterOp;
using namespace std::string_literals;

// Column indices of the test view.
enum Col { kId, kCustomer, kStatus, kTotal, kItems, kPaid, kCreated, kTtl, kExtra, kNumCols };

ViewApi OrdersApi() {
  ViewApi api;
  api.view = "orders";
  api.table.name = "orders";
  api.table.columns = {
      {"order_id", Type::kText},   {"customer", Type::kText}, {"status", Type::kText},
      {"total", Type::kReal},      {"items", Type::kInt},     {"paid", Type::kBool},
      {"created_at", Type::kTime}, {"ttl", Type::kInterval},  {"extra", Type::kNull}};
  api.table.key = {kId};
  api.sortable = {kTotal, kCreated, kExtra};
  api.time_column = kCreated;
  return api;
}

std::variant<ParsedQuery, ParamError> Parse(const ViewApi& api, const Params& params,
                                            Mode mode = Mode::kNative) {
  return ParseViewQuery(api, params, mode);
}

// The parsed query, failing the test (with the error) when parsing failed.
store::ViewQuery Ok(const ViewApi& api, const Params& params, Mode mode = Mode::kNative) {
  auto result = Parse(api, params, mode);
  if (auto* e = std::get_if<ParamError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << e->parameter << ": " << e->message;
    return {};
  }
  return std::get<ParsedQuery>(result).query;
}

// The error's parameter name ("" and a test failure when parsing succeeded).
std::string Err(const ViewApi& api, const Params& params, Mode mode = Mode::kNative) {
  auto result = Parse(api, params, mode);
  if (auto* e = std::get_if<ParamError>(&result)) {
    EXPECT_FALSE(e->message.empty());
    return e->parameter;
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

std::string ErrMessage(const ViewApi& api, const Params& params, Mode mode = Mode::kNative) {
  auto result = Parse(api, params, mode);
  if (auto* e = std::get_if<ParamError>(&result)) return e->message;
  ADD_FAILURE() << "expected an error";
  return "";
}

// The single filter of a query with exactly one.
store::Filter OneFilter(const ViewApi& api, const Params& params) {
  store::ViewQuery q = Ok(api, params);
  EXPECT_EQ(q.filters.size(), 1u);
  return q.filters.empty() ? store::Filter{} : q.filters[0];
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

Row FullRow(Value sort_value, int sort_col, Value key) {
  Row row(kNumCols);
  row[kId] = std::move(key);
  row[sort_col] = std::move(sort_value);
  return row;
}

// ---- Defaults and filters

TEST(ViewQueryTest, DefaultsWithoutParameters) {
  ViewApi api = OrdersApi();
  api.default_limit = 25;
  auto result = Parse(api, {});
  ASSERT_TRUE(std::holds_alternative<ParsedQuery>(result));
  const ParsedQuery& parsed = std::get<ParsedQuery>(result);
  EXPECT_EQ(parsed.page, 0);
  EXPECT_TRUE(parsed.query.filters.empty());
  EXPECT_FALSE(parsed.query.sort.has_value());
  EXPECT_FALSE(parsed.query.descending);
  EXPECT_FALSE(parsed.query.after.has_value());
  EXPECT_FALSE(parsed.query.backward);
  EXPECT_EQ(parsed.query.limit, 25);
  EXPECT_EQ(parsed.query.offset, 0);
}

TEST(ViewQueryTest, EqualityIsTypedByColumn) {
  const ViewApi api = OrdersApi();
  store::Filter f = OneFilter(api, {{"customer", "alice"}});
  EXPECT_EQ(f.column, kCustomer);
  EXPECT_EQ(f.op, FilterOp::kEq);
  EXPECT_EQ(f.values, Row{Value::Text("alice")});

  EXPECT_EQ(OneFilter(api, {{"items", "-42"}}).values, Row{Value::Int(-42)});
  EXPECT_EQ(OneFilter(api, {{"items", "9223372036854775807"}}).values,
            Row{Value::Int(std::numeric_limits<int64_t>::max())});
  EXPECT_EQ(OneFilter(api, {{"items", "-9223372036854775808"}}).values,
            Row{Value::Int(std::numeric_limits<int64_t>::min())});
  EXPECT_EQ(OneFilter(api, {{"total", "12.5"}}).values, Row{Value::Real(12.5)});
  EXPECT_EQ(OneFilter(api, {{"total", "7"}}).values, Row{Value::Real(7)});
  EXPECT_EQ(OneFilter(api, {{"total", "-1e-3"}}).values, Row{Value::Real(-1e-3)});
  EXPECT_EQ(OneFilter(api, {{"paid", "true"}}).values, Row{Value::Bool(true)});
  EXPECT_EQ(OneFilter(api, {{"paid", "1"}}).values, Row{Value::Bool(true)});
  EXPECT_EQ(OneFilter(api, {{"paid", "false"}}).values, Row{Value::Bool(false)});
  EXPECT_EQ(OneFilter(api, {{"paid", "0"}}).values, Row{Value::Bool(false)});
  EXPECT_EQ(OneFilter(api, {{"created_at", "2024-05-01T12:00:00Z"}}).values,
            Row{Value::Time(*ParseTime("2024-05-01T12:00:00Z"))});
  EXPECT_EQ(OneFilter(api, {{"created_at", "2024-05-01"}}).values,
            Row{Value::Time(*ParseTime("2024-05-01"))});
  EXPECT_EQ(OneFilter(api, {{"ttl", "1500"}}).values, Row{Value::Interval(1500)});
  EXPECT_EQ(OneFilter(api, {{"ttl", "-20us"}}).values, Row{Value::Interval(-20)});
  // A column without a declared type: integer, else number, else text.
  EXPECT_EQ(OneFilter(api, {{"extra", "5"}}).values, Row{Value::Int(5)});
  EXPECT_EQ(OneFilter(api, {{"extra", "5.5"}}).values, Row{Value::Real(5.5)});
  EXPECT_EQ(OneFilter(api, {{"extra", "5x"}}).values, Row{Value::Text("5x")});
}

TEST(ViewQueryTest, BadValuesNameTheParameterAndType) {
  const ViewApi api = OrdersApi();
  for (const char* bad : {"12x", " 12", "12 ", "+12", "0x10", "1.0", "1e3", "",
                          "9223372036854775808", "-9223372036854775809"}) {
    EXPECT_EQ(Err(api, {{"items", bad}}), "items") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"items", "x"}}).find("integer"), std::string::npos);
  for (const char* bad :
       {"abc", "1.5.2", "1e400", "nan", "inf", "-infinity", " 1", "1 ", "+1", ""}) {
    EXPECT_EQ(Err(api, {{"total", bad}}), "total") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"total", "x"}}).find("number"), std::string::npos);
  for (const char* bad : {"yes", "TRUE", "2", "", "t"}) {
    EXPECT_EQ(Err(api, {{"paid", bad}}), "paid") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"paid", "x"}}).find("boolean"), std::string::npos);
  for (const char* bad : {"yesterday", "2024-13-01", "", "1714564800"}) {
    EXPECT_EQ(Err(api, {{"created_at", bad}}), "created_at") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"created_at", "x"}}).find("timestamp"), std::string::npos);
  // URL decoding turned '+02:00' into ' 02:00': the message says how to send it.
  EXPECT_NE(ErrMessage(api, {{"created_at", "2024-05-01T12:00:00 02:00"}}).find("%2B"),
            std::string::npos);
  for (const char* bad : {"1s", "us", "", "1.5us", "10 us"}) {
    EXPECT_EQ(Err(api, {{"ttl", bad}}), "ttl") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"ttl", "x"}}).find("interval"), std::string::npos);
}

TEST(ViewQueryTest, EmptyValueIsEmptyTextOnlyForTextColumns) {
  const ViewApi api = OrdersApi();
  store::Filter f = OneFilter(api, {{"status", ""}});
  EXPECT_EQ(f.op, FilterOp::kEq);
  EXPECT_EQ(f.values, Row{Value::Text("")});
  EXPECT_EQ(OneFilter(api, {{"status.gt", ""}}).values, Row{Value::Text("")});
  EXPECT_EQ(Err(api, {{"items", ""}}), "items");
  EXPECT_EQ(Err(api, {{"items.gte", ""}}), "items.gte");
  EXPECT_EQ(Err(api, {{"extra", ""}}), "extra");
  for (const char* reserved : {"from", "to", "sort", "limit", "cursor"}) {
    EXPECT_EQ(Err(api, {{reserved, ""}}), reserved);
  }
  EXPECT_EQ(Err(api, {{"page", ""}}, Mode::kCompat), "page");
  EXPECT_EQ(Err(api, {{"pageSize", ""}}, Mode::kCompat), "pageSize");
}

TEST(ViewQueryTest, CommaListIsIn) {
  const ViewApi api = OrdersApi();
  store::Filter f = OneFilter(api, {{"status", "open,paid,shipped"}});
  EXPECT_EQ(f.column, kStatus);
  EXPECT_EQ(f.op, FilterOp::kIn);
  EXPECT_EQ(f.values, (Row{Value::Text("open"), Value::Text("paid"), Value::Text("shipped")}));
  f = OneFilter(api, {{"items", "1,-2,3"}});
  EXPECT_EQ(f.op, FilterOp::kIn);
  EXPECT_EQ(f.values, (Row{Value::Int(1), Value::Int(-2), Value::Int(3)}));
  EXPECT_EQ(Err(api, {{"items", "1,x"}}), "items");
  for (const char* bad : {"a,,b", "a,", ",a", ","}) {
    EXPECT_EQ(Err(api, {{"status", bad}}), "status") << bad;
    EXPECT_NE(ErrMessage(api, {{"status", bad}}).find("empty element"), std::string::npos);
  }
  // Comparison operators take the value whole: a comma is part of it.
  f = OneFilter(api, {{"status.gte", "a,b"}});
  EXPECT_EQ(f.op, FilterOp::kGte);
  EXPECT_EQ(f.values, Row{Value::Text("a,b")});
}

TEST(ViewQueryTest, ComparisonSuffixes) {
  const ViewApi api = OrdersApi();
  store::ViewQuery q = Ok(api, {{"total.gte", "10"},
                                {"total.lt", "20.5"},
                                {"items.gt", "1"},
                                {"items.lte", "9"},
                                {"status", "open"}});
  ASSERT_EQ(q.filters.size(), 5u);  // ANDed, in URL order
  EXPECT_EQ(q.filters[0].column, kTotal);
  EXPECT_EQ(q.filters[0].op, FilterOp::kGte);
  EXPECT_EQ(q.filters[0].values, Row{Value::Real(10)});
  EXPECT_EQ(q.filters[1].op, FilterOp::kLt);
  EXPECT_EQ(q.filters[1].values, Row{Value::Real(20.5)});
  EXPECT_EQ(q.filters[2].column, kItems);
  EXPECT_EQ(q.filters[2].op, FilterOp::kGt);
  EXPECT_EQ(q.filters[3].op, FilterOp::kLte);
  EXPECT_EQ(q.filters[4].op, FilterOp::kEq);

  EXPECT_EQ(Err(api, {{"total.foo", "1"}}), "total.foo");
  EXPECT_EQ(Err(api, {{"total.", "1"}}), "total.");
  EXPECT_EQ(Err(api, {{"total.GTE", "1"}}), "total.GTE");
  EXPECT_EQ(Err(api, {{"total.gte.lt", "1"}}), "total.gte.lt");
  EXPECT_EQ(Err(api, {{"nope.gte", "1"}}), "nope.gte");
  EXPECT_NE(ErrMessage(api, {{"nope.gte", "1"}}).find("unknown column"), std::string::npos);
  EXPECT_EQ(Err(api, {{"total.gte", "x"}}), "total.gte");
}

TEST(ViewQueryTest, UnknownParametersAreRejected) {
  const ViewApi api = OrdersApi();
  EXPECT_EQ(Err(api, {{"status", "open"}, {"colour", "red"}}), "colour");
  EXPECT_NE(ErrMessage(api, {{"colour", "red"}}).find("unknown parameter"), std::string::npos);
  EXPECT_EQ(Err(api, {{"Status", "open"}}), "Status");  // names are case-sensitive
  EXPECT_EQ(Err(api, {{"", "x"}}), "");
  // Compat-only names are unknown on native routes.
  EXPECT_EQ(Err(api, {{"page", "2"}}), "page");
  EXPECT_EQ(Err(api, {{"pageSize", "2"}}), "pageSize");
  // A stray '&' decodes to an empty name and value and is ignored.
  EXPECT_EQ(Ok(api, {{"", ""}, {"status", "open"}, {"", ""}}).filters.size(), 1u);
}

TEST(ViewQueryTest, FirstProblemInUrlOrderIsReported) {
  const ViewApi api = OrdersApi();
  EXPECT_EQ(Err(api, {{"items", "x"}, {"colour", "red"}}), "items");
  EXPECT_EQ(Err(api, {{"colour", "red"}, {"items", "x"}}), "colour");
}

TEST(ViewQueryTest, RepeatedParametersAreRejected) {
  const ViewApi api = OrdersApi();
  EXPECT_EQ(Err(api, {{"status", "a"}, {"status", "b"}}), "status");
  EXPECT_NE(ErrMessage(api, {{"status", "a"}, {"status", "b"}}).find("repeated"),
            std::string::npos);
  EXPECT_EQ(Err(api, {{"total.gte", "1"}, {"total.gte", "2"}}), "total.gte");
  EXPECT_EQ(Err(api, {{"limit", "1"}, {"limit", "2"}}), "limit");
  EXPECT_EQ(Err(api, {{"sort", "total"}, {"sort", "-total"}}), "sort");
  EXPECT_EQ(Err(api, {{"from", "2024-01-01"}, {"from", "2024-02-01"}}), "from");
  EXPECT_EQ(Err(api, {{"limit", "5"}, {"pageSize", "5"}}, Mode::kCompat), "pageSize");
  EXPECT_EQ(Err(api, {{"pageSize", "5"}, {"limit", "5"}}, Mode::kCompat), "limit");
  EXPECT_EQ(Err(api, {{"page", "1"}, {"page", "2"}}, Mode::kCompat), "page");
  // Different names on one column are fine: that is how a range is written.
  EXPECT_EQ(Ok(api, {{"status", "a"}, {"status.gte", "a"}, {"status.lt", "b"}}).filters.size(), 3u);
}

TEST(ViewQueryTest, InjectionLookingValuesStayBoundText) {
  const ViewApi api = OrdersApi();
  const std::string evil = "x' OR '1'='1'; DROP TABLE orders; --";
  store::Filter f = OneFilter(api, {{"customer", evil}});
  EXPECT_EQ(f.op, FilterOp::kEq);
  EXPECT_EQ(f.values, Row{Value::Text(evil)});
  const std::string nasty = "\"); DELETE FROM sv_keys; --\n\0\xff"s;
  f = OneFilter(api, {{"customer.lt", nasty}});
  EXPECT_EQ(f.values, Row{Value::Text(nasty)});
  f = OneFilter(api, {{"status", "a' --,b\" /*"}});
  EXPECT_EQ(f.op, FilterOp::kIn);
  EXPECT_EQ(f.values, (Row{Value::Text("a' --"), Value::Text("b\" /*")}));
  // Typed columns refuse rather than pass text through.
  EXPECT_EQ(Err(api, {{"items", "1 OR 1=1"}}), "items");
  EXPECT_EQ(Err(api, {{"items", "1;DROP TABLE orders"}}), "items");
  // Identifiers come only from the view's declared columns.
  EXPECT_EQ(Err(api, {{"customer;DROP TABLE orders", "x"}}), "customer;DROP TABLE orders");
  EXPECT_EQ(Err(api, {{"sort", "total; DROP TABLE orders"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "-\"total\""}}), "sort");
}

// ---- from / to

TEST(ViewQueryTest, FromToFilterTheTimeColumn) {
  const ViewApi api = OrdersApi();
  store::ViewQuery q = Ok(api, {{"from", "2024-05-01T00:00:00Z"}, {"to", "2024-06-01"}});
  ASSERT_EQ(q.filters.size(), 2u);
  EXPECT_EQ(q.filters[0].column, kCreated);
  EXPECT_EQ(q.filters[0].op, FilterOp::kGte);
  EXPECT_EQ(q.filters[0].values, Row{Value::Time(*ParseTime("2024-05-01"))});
  EXPECT_EQ(q.filters[1].column, kCreated);
  EXPECT_EQ(q.filters[1].op, FilterOp::kLt);
  EXPECT_EQ(q.filters[1].values, Row{Value::Time(*ParseTime("2024-06-01"))});
  EXPECT_EQ(Err(api, {{"from", "soon"}}), "from");
  EXPECT_EQ(Err(api, {{"to", "2024-05-01T24:00:00Z"}}), "to");

  ViewApi no_time = OrdersApi();
  no_time.time_column.reset();
  EXPECT_EQ(Err(no_time, {{"from", "2024-05-01"}}), "from");
  EXPECT_NE(ErrMessage(no_time, {{"to", "2024-05-01"}}).find("no time column"), std::string::npos);
}

// ---- sort

TEST(ViewQueryTest, SortBySortableColumnOrKey) {
  const ViewApi api = OrdersApi();
  store::ViewQuery q = Ok(api, {{"sort", "total"}});
  EXPECT_EQ(q.sort, std::optional<int>(kTotal));
  EXPECT_FALSE(q.descending);
  q = Ok(api, {{"sort", "-created_at"}});
  EXPECT_EQ(q.sort, std::optional<int>(kCreated));
  EXPECT_TRUE(q.descending);
  // The first key column: key order, no sort column, direction honoured.
  q = Ok(api, {{"sort", "order_id"}});
  EXPECT_FALSE(q.sort.has_value());
  EXPECT_FALSE(q.descending);
  q = Ok(api, {{"sort", "-order_id"}});
  EXPECT_FALSE(q.sort.has_value());
  EXPECT_TRUE(q.descending);

  EXPECT_EQ(Err(api, {{"sort", "customer"}}), "sort");
  EXPECT_NE(ErrMessage(api, {{"sort", "customer"}}).find("not sortable"), std::string::npos);
  EXPECT_EQ(Err(api, {{"sort", "nope"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "-"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "--total"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "+total"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", " total"}}), "sort");
}

// Seed 000's list query: one organization, newest first, over an index [customer, created_at]
// (customer standing in for the organization): served once customer is fixed by an equality.
TEST(ViewQueryTest, ALaterIndexColumnSortsOnceTheColumnsBeforeItAreFixed) {
  ViewApi api = OrdersApi();
  api.sortable = {kCustomer};  // what BuildViewApi derives from the index below
  api.table.indexes = {{{"customer", "-created_at", "total"}}};
  store::ViewQuery q = Ok(api, {{"sort", "-created_at"}, {"customer", "c1"}});
  EXPECT_EQ(q.sort, std::optional<int>(kCreated));
  EXPECT_TRUE(q.descending);
  q = Ok(api, {{"customer", "c1"}, {"sort", "created_at"}});  // in either order
  EXPECT_EQ(q.sort, std::optional<int>(kCreated));
  // Two columns deep.
  q = Ok(api, {{"customer", "c1"}, {"created_at", "2024-05-01T00:00:00Z"}, {"sort", "-total"}});
  EXPECT_EQ(q.sort, std::optional<int>(kTotal));
  // Not fixed: no filter, a range, a list.
  EXPECT_EQ(Err(api, {{"sort", "-created_at"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "-created_at"}, {"customer.gte", "c1"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "-created_at"}, {"customer", "c1,c2"}}), "sort");
  EXPECT_EQ(Err(api, {{"sort", "total"}, {"customer", "c1"}}), "sort");  // created_at not fixed
  // The message names the rule, and each sortable column once.
  const std::string message = ErrMessage(api, {{"sort", "-created_at"}});
  EXPECT_NE(message.find("fixed by an equality filter"), std::string::npos) << message;
  ViewApi key_indexed = OrdersApi();
  key_indexed.sortable = {kId, kTotal};
  const std::string twice = ErrMessage(key_indexed, {{"sort", "customer"}});
  EXPECT_EQ(twice.find("order_id, order_id"), std::string::npos) << twice;
  EXPECT_NE(twice.find("sortable: order_id, total;"), std::string::npos) << twice;
}

TEST(ViewQueryTest, TextSearchOnTextColumns) {
  const ViewApi api = OrdersApi();
  store::ViewQuery q = Ok(api, {{"customer.prefix", "Ac"}});
  ASSERT_EQ(q.filters.size(), 1u);
  EXPECT_EQ(q.filters[0].op, FilterOp::kPrefix);
  EXPECT_EQ(q.filters[0].values, std::vector<Value>{Value::Text("Ac")});
  q = Ok(api, {{"status.contains", "50%_x,y"}});  // taken whole: no list, no wildcards
  EXPECT_EQ(q.filters[0].op, FilterOp::kContains);
  EXPECT_EQ(q.filters[0].values, std::vector<Value>{Value::Text("50%_x,y")});
  EXPECT_EQ(Err(api, {{"total.prefix", "1"}}), "total.prefix");
  EXPECT_NE(ErrMessage(api, {{"items.contains", "1"}}).find("text columns only"),
            std::string::npos);
  EXPECT_NE(ErrMessage(api, {{"customer.like", "a%"}}).find(".prefix or .contains"),
            std::string::npos);
}

TEST(ViewQueryTest, SecondKeyColumnNeedsToBeSortable) {
  ViewApi api = OrdersApi();
  api.table.key = {kCustomer, kId};
  EXPECT_FALSE(Ok(api, {{"sort", "-customer"}}).sort.has_value());
  EXPECT_EQ(Err(api, {{"sort", "order_id"}}), "sort");
}

TEST(ViewQueryTest, ReservedNamesWinOverSameNamedColumns) {
  ViewApi api = OrdersApi();
  api.table.columns.push_back({"sort", Type::kText});
  api.table.columns.push_back({"limit", Type::kInt});
  api.sortable.push_back(kNumCols);
  store::ViewQuery q = Ok(api, {{"sort", "-sort"}, {"limit", "7"}, {"limit.gt", "3"}});
  EXPECT_EQ(q.sort, std::optional<int>(kNumCols));
  EXPECT_TRUE(q.descending);
  EXPECT_EQ(q.limit, 7);
  ASSERT_EQ(q.filters.size(), 1u);
  EXPECT_EQ(q.filters[0].column, kNumCols + 1);
  EXPECT_EQ(q.filters[0].op, FilterOp::kGt);
}

// ---- limit / page

TEST(ViewQueryTest, LimitRange) {
  ViewApi api = OrdersApi();
  api.max_limit = 200;
  EXPECT_EQ(Ok(api, {{"limit", "1"}}).limit, 1);
  EXPECT_EQ(Ok(api, {{"limit", "200"}}).limit, 200);
  for (const char* bad : {"0", "201", "-1", "10x", " 10", "+10", "1e2", "99999999999999999999"}) {
    EXPECT_EQ(Err(api, {{"limit", bad}}), "limit") << bad;
  }
  EXPECT_NE(ErrMessage(api, {{"limit", "0"}}).find("1 to 200"), std::string::npos);
}

TEST(ViewQueryTest, CompatPageAndPageSize) {
  const ViewApi api = OrdersApi();
  auto result = Parse(api, {{"status", "open"}, {"page", "3"}, {"pageSize", "20"}}, Mode::kCompat);
  ASSERT_TRUE(std::holds_alternative<ParsedQuery>(result));
  const ParsedQuery& parsed = std::get<ParsedQuery>(result);
  EXPECT_EQ(parsed.page, 3);
  EXPECT_EQ(parsed.query.limit, 20);
  EXPECT_EQ(parsed.query.offset, 40);
  EXPECT_EQ(parsed.query.filters.size(), 1u);

  // page before pageSize in the URL gives the same offset; default limit without pageSize.
  EXPECT_EQ(Ok(api, {{"page", "2"}, {"pageSize", "10"}}, Mode::kCompat).offset, 10);
  EXPECT_EQ(Ok(api, {{"page", "2"}}, Mode::kCompat).offset, 50);
  EXPECT_EQ(Ok(api, {{"page", "1"}}, Mode::kCompat).offset, 0);
  EXPECT_EQ(Ok(api, {{"page", "2"}, {"limit", "5"}}, Mode::kCompat).offset, 5);
  EXPECT_EQ(std::get<ParsedQuery>(Parse(api, {}, Mode::kCompat)).page, 0);

  for (const char* bad : {"0", "-1", "x", "1.5", "9223372036854775807"}) {
    EXPECT_EQ(Err(api, {{"page", bad}}, Mode::kCompat), "page") << bad;
  }
  for (const char* bad : {"0", "1001", "ten"}) {
    EXPECT_EQ(Err(api, {{"pageSize", bad}}, Mode::kCompat), "pageSize") << bad;
  }
  // Compat keeps every native filter and sort form.
  store::ViewQuery q =
      Ok(api, {{"from", "2024-01-01"}, {"sort", "-total"}, {"items.gt", "2"}}, Mode::kCompat);
  EXPECT_EQ(q.filters.size(), 2u);
  EXPECT_EQ(q.sort, std::optional<int>(kTotal));
}

// ---- caps

TEST(ViewQueryTest, LengthAndCountCaps) {
  const ViewApi api = OrdersApi();
  EXPECT_EQ(
      OneFilter(api, {{"customer", std::string(kMaxValueBytes, 'a')}}).values[0].as_text().size(),
      kMaxValueBytes);
  EXPECT_EQ(Err(api, {{"customer", std::string(kMaxValueBytes + 1, 'a')}}), "customer");
  const std::string long_name(kMaxNameBytes + 1, 'n');
  const std::string echoed = Err(api, {{long_name, "x"}});
  EXPECT_LT(echoed.size(), 100u);  // echoed truncated
  EXPECT_EQ(echoed.substr(0, 10), long_name.substr(0, 10));

  std::string list;
  for (size_t i = 0; i < kMaxInValues; ++i) list += (i ? ",1" : "1");
  EXPECT_EQ(OneFilter(api, {{"items", list}}).values.size(), kMaxInValues);
  EXPECT_EQ(Err(api, {{"items", list + ",1"}}), "items");
  EXPECT_EQ(Err(api, {{"cursor", std::string(kMaxCursorBytes + 1, 'A')}}), "cursor");
}

TEST(ViewQueryTest, TooManyParameters) {
  const ViewApi api = OrdersApi();
  Params params;
  const char* names[] = {"total", "items", "customer", "status"};
  const char* ops[] = {"", ".gt", ".gte", ".lt", ".lte"};
  for (const char* n : names) {
    for (const char* op : ops) params.push_back({std::string(n) + op, "1"});
  }
  while (params.size() <= kMaxParams) params.push_back({"", ""});  // ignored: not counted
  EXPECT_EQ(Ok(api, params).filters.size(), 20u);
  Params too_many;
  for (size_t i = 0; i <= kMaxParams; ++i) too_many.push_back({"x" + std::to_string(i), "1"});
  too_many[0] = {"status", "a"};
  ViewApi wide = OrdersApi();
  for (size_t i = 0; i <= kMaxParams; ++i) {
    wide.table.columns.push_back({"x" + std::to_string(i), Type::kText});
  }
  EXPECT_EQ(Err(wide, too_many), "x" + std::to_string(kMaxParams));
  EXPECT_NE(ErrMessage(wide, too_many).find("too many parameters"), std::string::npos);
}

// ---- cursors

std::string CursorFor(const ViewApi& api, const Params& sort, const Row& row, bool backward) {
  return EncodeCursor(api, Ok(api, sort), row, backward);
}

TEST(ViewQueryTest, CursorRoundTripsEveryValueType) {
  const ViewApi api = OrdersApi();
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::vector<Value> values = {
      Value::Null(),
      Value::Bool(false),
      Value::Bool(true),
      Value::Int(0),
      Value::Int(std::numeric_limits<int64_t>::min()),
      Value::Int(std::numeric_limits<int64_t>::max()),
      Value::Real(0.1),
      Value::Real(-0.0),
      Value::Real(1.0 / 3.0),
      Value::Real(std::nextafter(1.0, 2.0)),
      Value::Real(DBL_MAX),
      Value::Real(-DBL_MIN),
      Value::Real(std::numeric_limits<double>::denorm_min()),
      Value::Text(""),
      Value::Text(all_bytes),
      Value::Text("héllo, \"wörld\"\n"),
      Value::Time(0),
      Value::Time(*ParseTime("2024-05-01T12:34:56.789012Z")),
      Value::Time(-1),
      Value::Interval(-123456789),
      Value::Interval(std::numeric_limits<int64_t>::max()),
  };
  for (const char* sort : {"extra", "-extra"}) {
    for (bool backward : {false, true}) {
      for (const Value& v : values) {
        const Row row = FullRow(v, kExtra, Value::Text(all_bytes));
        const std::string cursor = CursorFor(api, {{"sort", sort}}, row, backward);
        for (char c : cursor) {
          ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
              << cursor;
        }
        store::ViewQuery q = Ok(api, {{"sort", sort}, {"cursor", cursor}});
        ASSERT_TRUE(q.after.has_value()) << v.ToString();
        ASSERT_EQ(q.after->size(), 2u);
        EXPECT_EQ((*q.after)[0], v) << v.ToString();
        EXPECT_EQ((*q.after)[0].type(), v.type());
        if (v.type() == Type::kReal) {
          EXPECT_TRUE(SameBits((*q.after)[0].as_real(), v.as_real()));
        }
        EXPECT_EQ((*q.after)[1], Value::Text(all_bytes));
        EXPECT_EQ(q.backward, backward);
        EXPECT_EQ(q.descending, sort[0] == '-');
      }
    }
  }
}

TEST(ViewQueryTest, KeyOnlyCursorAndCompositeKeys) {
  ViewApi api = OrdersApi();
  api.table.key = {kCustomer, kItems};
  Row row(kNumCols);
  row[kCustomer] = Value::Text("alice");
  row[kItems] = Value::Int(7);
  row[kTotal] = Value::Real(2.5);
  // No sort: the boundary is the key alone.
  std::string cursor = CursorFor(api, {}, row, false);
  store::ViewQuery q = Ok(api, {{"cursor", cursor}, {"limit", "10"}});
  EXPECT_EQ(q.after, (Row{Value::Text("alice"), Value::Int(7)}));
  EXPECT_FALSE(q.backward);
  EXPECT_EQ(q.limit, 10);
  // sort=<first key column> is the same order as no sort, so their cursors are interchangeable.
  EXPECT_EQ(Ok(api, {{"sort", "customer"}, {"cursor", cursor}}).after, q.after);
  // With a sort column: sort value first, then the key.
  cursor = CursorFor(api, {{"sort", "-total"}}, row, true);
  q = Ok(api, {{"cursor", cursor}, {"sort", "-total"}});  // cursor before sort in the URL
  EXPECT_EQ(q.after, (Row{Value::Real(2.5), Value::Text("alice"), Value::Int(7)}));
  EXPECT_TRUE(q.backward);
  EXPECT_TRUE(q.descending);
  // Filters may change between pages; the cursor is only a position.
  q = Ok(api, {{"sort", "-total"}, {"cursor", cursor}, {"status", "open"}});
  EXPECT_EQ(q.filters.size(), 1u);
}

TEST(ViewQueryTest, CursorForAnotherOrderOrViewIsRejected) {
  const ViewApi api = OrdersApi();
  const Row row = FullRow(Value::Real(1.5), kTotal, Value::Text("o-1"));
  const std::string by_total = CursorFor(api, {{"sort", "total"}}, row, false);
  EXPECT_EQ(Err(api, {{"sort", "-total"}, {"cursor", by_total}}), "cursor");
  EXPECT_NE(ErrMessage(api, {{"sort", "-total"}, {"cursor", by_total}}).find("sort"),
            std::string::npos);
  EXPECT_EQ(Err(api, {{"sort", "created_at"}, {"cursor", by_total}}), "cursor");
  EXPECT_EQ(Err(api, {{"cursor", by_total}}), "cursor");  // default order: key
  const std::string by_key = CursorFor(api, {}, row, false);
  EXPECT_EQ(Err(api, {{"sort", "total"}, {"cursor", by_key}}), "cursor");
  EXPECT_EQ(Err(api, {{"sort", "-order_id"}, {"cursor", by_key}}), "cursor");

  ViewApi other = OrdersApi();
  other.view = "orders_by_customer";
  EXPECT_EQ(Err(other, {{"sort", "total"}, {"cursor", by_total}}), "cursor");
  EXPECT_NE(ErrMessage(other, {{"sort", "total"}, {"cursor", by_total}}).find("another view"),
            std::string::npos);

  // Same view name, but its key changed shape (a new version of the view).
  ViewApi rekeyed = OrdersApi();
  rekeyed.table.key = {kId, kItems};
  EXPECT_EQ(Err(rekeyed, {{"sort", "total"}, {"cursor", by_total}}), "cursor");
}

TEST(ViewQueryTest, CursorAndPageAreExclusive) {
  const ViewApi api = OrdersApi();
  const std::string cursor = CursorFor(api, {}, FullRow(Value(), kTotal, Value::Text("a")), false);
  store::ViewQuery q = Ok(api, {{"cursor", cursor}}, Mode::kCompat);
  EXPECT_EQ(q.after, Row{Value::Text("a")});
  EXPECT_EQ(q.offset, 0);
  EXPECT_EQ(Err(api, {{"page", "2"}, {"cursor", cursor}}, Mode::kCompat), "page");
  EXPECT_EQ(Err(api, {{"cursor", cursor}, {"page", "1"}}, Mode::kCompat), "page");
}

TEST(ViewQueryTest, TamperedCursorsAreRejected) {
  const ViewApi api = OrdersApi();
  const Row row = FullRow(Value::Real(99.25), kTotal, Value::Text("order-123"));
  const std::string good = CursorFor(api, {{"sort", "total"}}, row, false);
  ASSERT_FALSE(
      std::holds_alternative<ParamError>(Parse(api, {{"sort", "total"}, {"cursor", good}})));
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // Every single-character change.
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : alphabet) {
      if (c == good[i]) continue;
      std::string bad = good;
      bad[i] = c;
      EXPECT_EQ(Err(api, {{"sort", "total"}, {"cursor", bad}}), "cursor") << bad;
    }
  }
  // Truncations, extensions, padding, whitespace, the standard alphabet.
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string cut = good.substr(0, n);
    if (cut.empty()) continue;  // empty value: rejected as such
    EXPECT_EQ(Err(api, {{"sort", "total"}, {"cursor", cut}}), "cursor") << cut;
  }
  for (const std::string& bad :
       {good + "A", good + "=", good + "==", " " + good, good + "\n", "A" + good, good + good}) {
    EXPECT_EQ(Err(api, {{"sort", "total"}, {"cursor", bad}}), "cursor") << bad;
  }
}

TEST(ViewQueryTest, GarbageCursorsAreRejectedWithoutCrashing) {
  const ViewApi api = OrdersApi();
  std::mt19937 rng(20240501);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 5000; ++i) {
    const size_t len = 1 + rng() % 120;
    std::string s;
    for (size_t j = 0; j < len; ++j) {
      // Mostly base64url so decoding gets far; sometimes any byte.
      s.push_back(i % 4 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % 64]);
    }
    EXPECT_EQ(Err(api, {{"cursor", s}}), "cursor") << s;
  }
  // Valid base64 of structured-looking garbage: right version byte, random tail.
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(1, '\x01');
    const size_t len = rng() % 64;
    for (size_t j = 0; j < len; ++j) bytes.push_back(static_cast<char>(rng() % 8));
    EXPECT_EQ(Err(api, {{"cursor", absl::WebSafeBase64Escape(bytes)}}), "cursor");
  }
  for (const char* s : {"!", "====", "%00", "null", "{}", "AAAA", "_-_-"}) {
    EXPECT_EQ(Err(api, {{"cursor", s}}), "cursor") << s;
  }
}

// Garbage that passes the checksum (recomputed here the way the encoder does: FNV-1a over the
// version byte and body, little-endian) reaches the row decoder and the header checks.
TEST(ViewQueryTest, ChecksummedGarbageIsRejectedWithoutCrashing) {
  const ViewApi api = OrdersApi();
  const auto seal = [](std::string bytes) {
    uint32_t h = 2166136261u;
    for (char c : bytes) {
      h ^= static_cast<uint8_t>(c);
      h *= 16777619u;
    }
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((h >> (8 * i)) & 0xFF));
    return absl::WebSafeBase64Escape(bytes);
  };
  // The seal matches the encoder's: a real cursor re-sealed is still accepted.
  const Row row = FullRow(Value::Real(1), kTotal, Value::Text("k"));
  std::string body(1, '\x01');
  EncodeRow({Value::Text("orders"), Value::Text("total"), Value::Bool(false), Value::Bool(true),
             Value::Real(1), Value::Text("k")},
            &body);
  EXPECT_EQ(seal(body), CursorFor(api, {{"sort", "total"}}, row, true));

  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes(1, '\x01');
    const size_t len = rng() % 48;
    // Small bytes are valid row tags, so decoding gets deep before failing.
    for (size_t j = 0; j < len; ++j) {
      bytes.push_back(static_cast<char>(i % 2 ? rng() % 9 : rng() % 256));
    }
    auto result = Parse(api, {{"cursor", seal(bytes)}});
    if (auto* e = std::get_if<ParamError>(&result)) {
      EXPECT_EQ(e->parameter, "cursor");
    } else {
      ++accepted;
    }
  }
  EXPECT_EQ(accepted, 0);
  // Well-formed rows with a wrong header shape.
  for (const Row& header :
       {Row{}, Row{Value::Text("orders")},
        Row{Value::Text("orders"), Value::Text(""), Value::Bool(false)},
        Row{Value::Int(1), Value::Text(""), Value::Bool(false), Value::Bool(false),
            Value::Text("k")},
        Row{Value::Text("orders"), Value::Null(), Value::Bool(false), Value::Bool(false),
            Value::Text("k")},
        Row{Value::Text("orders"), Value::Text(""), Value::Int(0), Value::Bool(false),
            Value::Text("k")},
        Row{Value::Text("orders"), Value::Text(""), Value::Bool(false), Value::Bool(false)}}) {
    std::string bytes(1, '\x01');
    EncodeRow(header, &bytes);
    EXPECT_EQ(Err(api, {{"cursor", seal(bytes)}}), "cursor");
  }
  // The same well-formed cursor under another version byte.
  std::string v2(1, '\x02');
  EncodeRow({Value::Text("orders"), Value::Text(""), Value::Bool(false), Value::Bool(false),
             Value::Text("k")},
            &v2);
  EXPECT_EQ(Err(api, {{"cursor", seal(v2)}}), "cursor");
  v2[0] = '\x01';
  EXPECT_EQ(Ok(api, {{"cursor", seal(v2)}}).after, Row{Value::Text("k")});
}

}  // namespace
}  // namespace sv::server
