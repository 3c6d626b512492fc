#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "sql/expr.h"

namespace sv::sql {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kHour = 3'600'000'000LL;
constexpr int64_t kDay = 24 * kHour;

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}

std::string Msg(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

int64_t T(const char* iso) {
  std::optional<int64_t> t = ParseTime(iso);
  EXPECT_TRUE(t.has_value()) << iso;
  return t.value_or(0);
}

// e.<path> -> event field; i.<path> -> explode element (slot 0); meta.<name>; params.vat;
// headers.<name>; other.<column> -> another view's row; bare names -> current row columns.
absl::StatusOr<Binding> TestResolve(const NameRef& ref) {
  const std::vector<std::string>& p = ref.parts;
  Binding b;
  if (p.size() >= 2 && p[0] == "e") {
    b.kind = Binding::Kind::kEventField;
    b.path.assign(p.begin() + 1, p.end());
    return b;
  }
  if (p.size() >= 2 && p[0] == "i") {
    b.kind = Binding::Kind::kElementField;
    b.slot = 0;
    b.path.assign(p.begin() + 1, p.end());
    return b;
  }
  if (p.size() == 2 && p[0] == "meta") {
    static const std::pair<const char*, MetaField> kMeta[] = {
        {"key", MetaField::kKey},
        {"sequence", MetaField::kSequence},
        {"log_time", MetaField::kLogTime},
        {"ordinality", MetaField::kOrdinality}};
    for (const auto& [name, field] : kMeta) {
      if (p[1] == name) {
        b.kind = Binding::Kind::kMeta;
        b.slot = static_cast<int>(field);
        return b;
      }
    }
  }
  if (p.size() == 2 && p[0] == "params" && p[1] == "vat") {
    b.kind = Binding::Kind::kConstant;
    b.value = Value::Real(0.2);
    return b;
  }
  if (p.size() == 2 && p[0] == "headers") {
    b.kind = Binding::Kind::kHeader;
    b.path = {p[1]};
    return b;
  }
  if (p.size() == 2 && p[0] == "other" && p[1] == "total") {
    b.kind = Binding::Kind::kViewColumn;
    b.slot = 1;
    b.column = 0;
    return b;
  }
  if (p.size() == 1) {
    static const char* kColumns[] = {"total", "status", "qty"};
    for (int c = 0; c < 3; ++c) {
      if (p[0] == kColumns[c]) {
        b.kind = Binding::Kind::kRowColumn;
        b.slot = c;
        return b;
      }
    }
  }
  return absl::InvalidArgumentError("unknown column '" + Join(p) + "'");
}

constexpr char kEvent[] = R"({
  "orderId": "o-1", "orderid": "wrong", "qty": 3, "qtyText": "3", "price": 2.5, "whole": 2.0,
  "big": 18446744073709551615, "paid": true, "note": null, "name": "Ada", "nums": "4x",
  "ts": "2024-03-05T10:20:30Z", "Weird Name": 7,
  "customer": {"id": 7, "Tier": "gold"},
  "items": [
    {"qty": 2, "price": 10.5, "sku": "a", "tags": ["x", "y"]},
    {"qty": 1, "price": 3, "sku": "b", "tags": []},
    {"qty": 5, "price": 1, "sku": "c", "gift": true, "tags": ["z"]}
  ],
  "lineItems": [{"unitPrice": 4}, {"unitPrice": 6}],
  "prices": [1, 2, 3.5],
  "durations": ["1 hour", "2 hours", null],
  "empty": [],
  "badItems": [{"qty": "3", "price": 2}],
  "huge": 1e308, "hugePrices": [1e308, 1e308], "infText": "Infinity"
})";

class SqlExprTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(parser_.parse(kEvent, sizeof(kEvent) - 1).get(event_), simdjson::SUCCESS);
    meta_[static_cast<int>(MetaField::kKey)] = Value::Text("o-1");
    meta_[static_cast<int>(MetaField::kSequence)] = Value::Int(4);
    meta_[static_cast<int>(MetaField::kLogTime)] = Value::Time(T("2024-03-05T10:20:30.123456Z"));
    headers_ = {{"trace", "t-9"}, {"x-seq", "12"}};
    row_ = {Value::Real(10.5), Value::Text("open"), Value::Null()};
    other_row_ = {Value::Int(99)};
    view_rows_[0] = nullptr;
    view_rows_[1] = &other_row_;
  }

  EvalContext Context() {
    EvalContext ctx;
    ctx.event = event_;
    ctx.meta = meta_;
    ctx.headers = &headers_;
    ctx.row = &row_;
    ctx.view_rows = view_rows_;
    return ctx;
  }

  absl::StatusOr<ExprPtr> CompileSql(std::string_view sql) {
    return Compile(sql, TestResolve, Location{"views.yaml", 10, 12});
  }

  absl::StatusOr<Value> Eval(std::string_view sql) {
    absl::StatusOr<ExprPtr> expr = CompileSql(sql);
    if (!expr.ok()) return expr.status();
    EvalContext ctx = Context();
    if (element_set_) ctx.elements[0] = element_;
    Value v;
    absl::Status status = (*expr)->Eval(ctx, &v);
    if (!status.ok()) return status;
    return v;
  }

  Value Ok(std::string_view sql) {
    absl::StatusOr<Value> v = Eval(sql);
    EXPECT_TRUE(v.ok()) << sql << " -> " << v.status();
    return v.ok() ? *v : Value();
  }

  // Compiles fine, fails at evaluation.
  std::string EvalError(std::string_view sql) {
    absl::StatusOr<ExprPtr> expr = CompileSql(sql);
    EXPECT_TRUE(expr.ok()) << sql << " -> " << expr.status();
    if (!expr.ok()) return "";
    EvalContext ctx = Context();
    Value v;
    absl::Status status = (*expr)->Eval(ctx, &v);
    EXPECT_FALSE(status.ok()) << sql;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << sql << " -> " << status;
    return Msg(status);
  }

  std::string CompileError(std::string_view sql) {
    absl::StatusOr<ExprPtr> expr = CompileSql(sql);
    EXPECT_FALSE(expr.ok()) << sql;
    if (expr.ok()) return "";
    EXPECT_EQ(expr.status().code(), absl::StatusCode::kInvalidArgument) << expr.status();
    return Msg(expr.status());
  }

  void ExpectInt(std::string_view sql, int64_t want) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kInt) << sql;
    EXPECT_EQ(v.as_int(), want) << sql;
  }
  void ExpectReal(std::string_view sql, double want) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kReal) << sql;
    EXPECT_DOUBLE_EQ(v.as_real(), want) << sql;
  }
  void ExpectText(std::string_view sql, std::string_view want) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kText) << sql;
    EXPECT_EQ(v.as_text(), want) << sql;
  }
  void ExpectBool(std::string_view sql, bool want) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kBool) << sql;
    EXPECT_EQ(v.as_bool(), want) << sql;
  }
  void ExpectNull(std::string_view sql) {
    Value v = Ok(sql);
    EXPECT_TRUE(v.is_null()) << sql << " has type " << static_cast<int>(v.type());
  }
  void ExpectTime(std::string_view sql, const char* iso) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kTime) << sql;
    EXPECT_EQ(FormatTime(v.as_int()), FormatTime(T(iso))) << sql;
  }
  void ExpectInterval(std::string_view sql, int64_t micros) {
    Value v = Ok(sql);
    ASSERT_EQ(v.type(), Type::kInterval) << sql;
    EXPECT_EQ(v.as_int(), micros) << sql;
  }

  simdjson::dom::parser parser_;
  simdjson::dom::element event_;
  simdjson::dom::element element_;
  bool element_set_ = false;
  Value meta_[static_cast<int>(MetaField::kCount)];
  std::vector<std::pair<std::string, std::string>> headers_;
  Row row_;
  Row other_row_;
  const Row* view_rows_[2];
};

// ---------------------------------------------------------------------------------------------
// Constants and names.

TEST_F(SqlExprTest, Constants) {
  ExpectInt("42", 42);
  ExpectInt("-3", -3);  // libpg_query 15 drops negative ivals from its JSON
  ExpectInt("0", 0);
  ExpectInt("- (7)", -7);
  ExpectInt("9999999999999", 9999999999999LL);
  ExpectInt("-9999999999999", -9999999999999LL);
  ExpectReal("2.5", 2.5);
  ExpectReal("-0.25", -0.25);
  ExpectReal("1e3", 1000.0);
  ExpectText("'it''s'", "it's");
  ExpectText("''", "");
  ExpectBool("true", true);
  ExpectBool("FALSE", false);
  ExpectNull("NULL");
  ExpectInterval("interval '2 days'", 2 * kDay);
  ExpectInterval("'1 hour'::interval", kHour);
  ExpectInterval("interval '1 hour 30 minutes'", kHour + kHour / 2);
  ExpectInterval("interval '1.5 hours'", kHour + kHour / 2);
  ExpectInterval("interval '2 weeks'", 14 * kDay);
  ExpectInterval("interval '250 milliseconds'", 250'000);
  ExpectInterval("interval '7 microseconds'", 7);
  ExpectInterval("interval '45 seconds'", 45'000'000);
  ExpectInterval("interval '-1 day'", -kDay);
  ExpectInterval("interval '01:30:00'", kHour + kHour / 2);
  ExpectInterval("interval 'PT2H'", 2 * kHour);
  EXPECT_THAT(CompileError("interval '1 month'"), HasSubstr("months and years have no fixed"));
  EXPECT_THAT(CompileError("interval '3 fortnights'"), HasSubstr("unknown unit 'fortnights'"));
}

TEST_F(SqlExprTest, NamesKeepTheirOriginalCase) {
  ExpectText("e.orderId", "o-1");
  ExpectText("e.orderid", "wrong");
  ExpectInt("e.\"Weird Name\"", 7);
  ExpectText("e.customer.Tier", "gold");
  ExpectInt("e.lineItems[2].unitPrice", 6);
}

TEST_F(SqlExprTest, JsonFieldTypes) {
  ExpectInt("e.qty", 3);
  ExpectText("e.qtyText", "3");
  ExpectReal("e.price", 2.5);
  ExpectReal("e.whole", 2.0);  // written with a fraction: real
  ExpectReal("e.big", 18446744073709551615.0);
  ExpectBool("e.paid", true);
  ExpectNull("e.note");
  ExpectNull("e.missing");
  ExpectNull("e.customer.missing.deeper");
  ExpectNull("e.name.first");  // a step through a scalar reads as missing
  ExpectInt("e.customer.id", 7);
  // A nested document is a json value (for json columns), in canonical form.
  EXPECT_EQ(Ok("e.customer"), Value::Json(R"({"Tier":"gold","id":7})"));
  EXPECT_THAT(EvalError("e.customer + 1"), HasSubstr("json"));
}

TEST_F(SqlExprTest, JsonBuilders) {
  EXPECT_EQ(Ok("json_build_object('b', e.qty, 'a', e.customer, 'c', NULL)"),
            Value::Json(R"({"a":{"Tier":"gold","id":7},"b":3,"c":null})"));
  EXPECT_EQ(Ok("jsonb_build_array(e.paid, e.price, 'x', e.items[1].tags)"),
            Value::Json(R"([true,2.5,"x",["x","y"]])"));
  EXPECT_EQ(Ok("to_jsonb(e.qtyText)"), Value::Json(R"("3")"));
  EXPECT_EQ(Ok("json_build_object()"), Value::Json("{}"));
  EXPECT_THAT(CompileError("json_build_object('a')"), HasSubstr("even number of arguments"));
  EXPECT_THAT(CompileError("json_build_object(NULL, 1)"), HasSubstr("must not be NULL"));
  EXPECT_THAT(EvalError("json_build_object(e.note, 1)"), HasSubstr("must not be NULL"));
}

TEST_F(SqlExprTest, ArrayIndexing) {
  ExpectInt("e.items[1].qty", 2);
  ExpectText("e.items[3].sku", "c");
  ExpectText("e.items[1].tags[2]", "y");
  ExpectReal("e.prices[3]", 3.5);
  ExpectNull("e.items[9].qty");
  ExpectNull("e.items[0].qty");
  ExpectNull("e.items[-1].qty");
  EXPECT_THAT(CompileError("e.items[1:2]"), HasSubstr("unsupported array slice"));
  EXPECT_THAT(CompileError("meta.key[1]"), HasSubstr("cannot subscript meta.key"));
}

TEST_F(SqlExprTest, OtherBindings) {
  ExpectText("meta.key", "o-1");
  ExpectInt("meta.sequence + 1", 5);
  ExpectReal("params.vat * 10", 2.0);
  ExpectText("headers.trace", "t-9");
  ExpectNull("headers.absent");
  ExpectReal("total", 10.5);
  ExpectText("status", "open");
  ExpectNull("qty");
  ExpectInt("other.total", 99);
  view_rows_[1] = nullptr;
  ExpectNull("other.total");
  // Without a current row, row columns read as NULL.
  absl::StatusOr<ExprPtr> expr = CompileSql("coalesce(total, -1)");
  ASSERT_TRUE(expr.ok()) << expr.status();
  EvalContext ctx = Context();
  ctx.row = nullptr;
  Value v;
  ASSERT_TRUE((*expr)->Eval(ctx, &v).ok());
  ASSERT_EQ(v.type(), Type::kInt);
  EXPECT_EQ(v.as_int(), -1);
}

TEST_F(SqlExprTest, ResolverReceivesOriginalCaseAndOffset) {
  std::vector<NameRef> seen;
  Resolver spy = [&seen](const NameRef& ref) -> absl::StatusOr<Binding> {
    seen.push_back(ref);
    return TestResolve(ref);
  };
  ASSERT_TRUE(Compile("1 + e.orderId", spy, Location{"f", 1, 1}).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].parts, (std::vector<std::string>{"e", "orderId"}));
  EXPECT_EQ(seen[0].offset, 4u);
}

// ---------------------------------------------------------------------------------------------
// Operators.

TEST_F(SqlExprTest, Arithmetic) {
  ExpectInt("1 + 2 * 3", 7);
  ExpectInt("7 / 2", 3);
  ExpectInt("-7 / 2", -3);  // truncates like PostgreSQL
  ExpectInt("7 % 3", 1);
  ExpectInt("-7 % 3", -1);
  ExpectReal("7.0 / 2", 3.5);
  ExpectReal("e.qty * e.price", 7.5);
  ExpectInt("e.qty - 5", -2);
  ExpectInt("-e.qty", -3);
  ExpectReal("-e.price", -2.5);
  ExpectReal("2 ^ 10", 1024.0);
  ExpectReal("e.price % 2", 0.5);
  ExpectNull("e.qty + NULL");
  ExpectNull("e.missing * 2");
  EXPECT_EQ(EvalError("e.qty / 0"), "division by zero");
  EXPECT_EQ(EvalError("e.price / 0"), "division by zero");
  EXPECT_EQ(EvalError("e.qty % 0"), "division by zero");
  EXPECT_THAT(EvalError("e.qty * 9223372036854775807"), HasSubstr("integer out of range"));
  // A string quantity is a type error: this is how such an event becomes a dead letter.
  EXPECT_THAT(EvalError("e.qtyText * e.price"),
              HasSubstr("operator * cannot take text '3' and real 2.5"));
  EXPECT_THAT(EvalError("e.qtyText * 2"), HasSubstr("operator * cannot take text '3' and integer"));
  EXPECT_THAT(EvalError("e.paid + 1"),
              HasSubstr("operator + cannot take boolean true and integer"));
  EXPECT_THAT(EvalError("-e.name"), HasSubstr("unary operator - cannot take text 'Ada'"));
  // Constant errors are reported at compile time, with a location.
  EXPECT_EQ(CompileError("1 / 0"), "views.yaml:10:14: division by zero");
}

// PostgreSQL raises "value out of range" where a double would become inf or NaN: a non-finite
// number can be neither stored faithfully nor written as JSON, so it fails the event.
TEST_F(SqlExprTest, NonFiniteResultsAreEvaluationErrors) {
  EXPECT_THAT(EvalError("e.qty * e.huge"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("e.huge + e.huge"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("-e.huge - e.huge"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("e.huge / 0.5"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("e.huge ^ 2"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("power(e.huge, 2)"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("exp(e.qty * 1000)"), HasSubstr("value out of range"));
  EXPECT_THAT(EvalError("(SELECT sum(p) FROM e.hugePrices AS p)"), HasSubstr("out of range"));
  EXPECT_THAT(EvalError("e.infText::numeric"), HasSubstr("cannot cast text 'Infinity' to real"));
  EXPECT_THAT(EvalError("e.qty * e.infText::float8"), HasSubstr("cannot cast"));
  ExpectReal("e.huge / 10", 1e307);  // large but finite is fine
}

TEST_F(SqlExprTest, Concatenation) {
  ExpectText("'a' || 'b'", "ab");
  ExpectText("e.name || '-' || e.qty || '-' || e.price", "Ada-3-2.5");
  ExpectText("'x' || 19.99", "x19.99");
  ExpectText("'x' || true", "xtrue");
  ExpectNull("'a' || NULL");
  ExpectNull("e.missing || 'a'");
}

TEST_F(SqlExprTest, Comparisons) {
  ExpectBool("1 < 2.5", true);
  ExpectBool("2 = 2.0", true);
  ExpectBool("e.qty <> 3", false);
  ExpectBool("e.qty != 4", true);
  ExpectBool("e.qty >= 3", true);
  ExpectBool("e.qty <= 2", false);
  ExpectBool("e.qty > 2", true);
  ExpectBool("'abc' < 'abd'", true);
  ExpectBool("e.orderId = 'o-1'", true);
  ExpectBool("true > false", true);
  ExpectNull("e.qty = NULL");
  ExpectNull("e.missing < 1");
  ExpectBool("meta.log_time > '2024-03-01'", true);  // text compared with a timestamp parses
  ExpectBool("meta.log_time < '2024-03-05T10:00:00Z'::timestamp", false);
  EXPECT_THAT(EvalError("e.qtyText = 3"),
              HasSubstr("operator = cannot compare text '3' and integer 3"));
  EXPECT_THAT(EvalError("e.qtyText < e.qty"), HasSubstr("operator < cannot compare"));
}

TEST_F(SqlExprTest, ThreeValuedLogic) {
  ExpectBool("true AND true", true);
  ExpectBool("true AND false", false);
  ExpectBool("NULL AND false", false);
  ExpectNull("NULL AND true");
  ExpectBool("NULL OR true", true);
  ExpectNull("NULL OR false");
  ExpectBool("false OR false", false);
  ExpectNull("NOT e.missing");
  ExpectBool("NOT e.paid", false);
  ExpectBool("e.qty > 1 AND e.price < 3 AND e.paid", true);
  ExpectBool("e.missing = 1 OR e.qty = 3", true);
  ExpectNull("e.missing = 1 AND e.qty = 3");
  EXPECT_THAT(EvalError("e.qty AND true"),
              HasSubstr("argument of AND must be boolean, got integer 3"));
  EXPECT_THAT(EvalError("NOT e.name"), HasSubstr("argument of NOT must be boolean"));
}

TEST_F(SqlExprTest, NullAndBooleanTests) {
  ExpectBool("e.missing IS NULL", true);
  ExpectBool("e.note IS NULL", true);
  ExpectBool("e.qty IS NULL", false);
  ExpectBool("e.qty IS NOT NULL", true);
  ExpectBool("e.items IS NOT NULL", true);  // arrays are not NULL, no scalar conversion
  ExpectBool("e.customer IS NULL", false);
  ExpectBool("(e.qty + NULL) IS NULL", true);
  ExpectBool("e.paid IS TRUE", true);
  ExpectBool("e.missing IS TRUE", false);
  ExpectBool("e.missing IS NOT TRUE", true);
  ExpectBool("e.missing IS NOT FALSE", true);
  ExpectBool("e.paid IS FALSE", false);
  ExpectBool("e.missing IS UNKNOWN", true);
  ExpectBool("e.qty IS DISTINCT FROM NULL", true);
  ExpectBool("NULL IS DISTINCT FROM NULL", false);
  ExpectBool("e.missing IS NOT DISTINCT FROM NULL", true);
  ExpectBool("e.qty IS DISTINCT FROM 3", false);
  ExpectBool("e.qty IS DISTINCT FROM 3.5", true);
  EXPECT_THAT(EvalError("e.qty IS TRUE"), HasSubstr("must be boolean, got integer 3"));
}

TEST_F(SqlExprTest, InBetweenLike) {
  ExpectBool("e.qty IN (1, 2, 3)", true);
  ExpectBool("e.qty IN (1, 2)", false);
  ExpectNull("e.qty IN (1, NULL)");
  ExpectBool("e.qty IN (3, NULL)", true);
  ExpectBool("e.qty NOT IN (1, 2)", true);
  ExpectNull("e.qty NOT IN (1, NULL)");
  ExpectNull("e.missing IN (1, 2)");
  ExpectBool("e.name IN ('Bob', 'Ada')", true);
  EXPECT_THAT(EvalError("e.name IN (1, 2)"), HasSubstr("IN cannot compare text 'Ada' and integer"));

  ExpectBool("e.qty BETWEEN 1 AND 3", true);
  ExpectBool("e.qty BETWEEN 4 AND 9", false);
  ExpectBool("e.qty NOT BETWEEN 4 AND 9", true);
  ExpectBool("e.qty BETWEEN 5 AND 1", false);
  ExpectBool("e.qty BETWEEN SYMMETRIC 5 AND 1", true);
  ExpectNull("e.qty BETWEEN NULL AND 5");
  ExpectBool("e.qty BETWEEN NULL AND 2", false);
  ExpectNull("e.missing BETWEEN 1 AND 2");

  ExpectBool("e.name LIKE 'A%'", true);
  ExpectBool("e.name LIKE '_d_'", true);
  ExpectBool("e.name LIKE 'a%'", false);
  ExpectBool("e.name ILIKE 'a%'", true);
  ExpectBool("e.name NOT LIKE '%z%'", true);
  ExpectBool("e.name NOT ILIKE '%D%'", false);
  ExpectBool("'héllo' LIKE 'h_llo'", true);
  ExpectBool("'50%' LIKE '50\\%'", true);
  ExpectBool("'500' LIKE '50\\%'", false);
  ExpectBool("'abcbc' LIKE '%bc'", true);
  ExpectBool("'' LIKE '%'", true);
  ExpectNull("e.missing LIKE 'a%'");
  EXPECT_THAT(EvalError("e.qty LIKE '3'"), HasSubstr("operator LIKE cannot take integer 3"));
}

TEST_F(SqlExprTest, Conditionals) {
  ExpectText("CASE WHEN e.qty > 2 THEN 'big' ELSE 'small' END", "big");
  ExpectText("CASE WHEN e.qty > 5 THEN 'big' WHEN e.qty > 1 THEN 'mid' END", "mid");
  ExpectNull("CASE WHEN e.qty > 5 THEN 'big' END");
  ExpectText("CASE WHEN e.missing THEN 'a' ELSE 'b' END", "b");
  ExpectText("CASE e.qty WHEN 1 THEN 'one' WHEN 3 THEN 'three' ELSE 'many' END", "three");
  ExpectText("CASE e.missing WHEN NULL THEN 'null' ELSE 'other' END", "other");
  EXPECT_THAT(EvalError("CASE WHEN e.qty THEN 1 END"),
              HasSubstr("argument of CASE WHEN must be boolean, got integer 3"));
  ExpectInt("COALESCE(e.missing, e.note, e.qty, 9)", 3);
  ExpectNull("COALESCE(e.missing, NULL)");
  ExpectNull("NULLIF(e.qty, 3)");
  ExpectInt("NULLIF(e.qty, 4)", 3);
  ExpectNull("NULLIF(e.missing, 4)");
  ExpectInt("GREATEST(1, e.qty, NULL, 2)", 3);
  ExpectReal("LEAST(e.price, e.qty, NULL)", 2.5);
  ExpectNull("GREATEST(NULL, e.missing)");
  ExpectText("GREATEST('a', 'c', 'b')", "c");
  EXPECT_THAT(EvalError("GREATEST(e.qty, e.name)"), HasSubstr("GREATEST cannot compare"));
}

// ---------------------------------------------------------------------------------------------
// Casts and coercion.

TEST_F(SqlExprTest, Casts) {
  ExpectInt("'42'::int", 42);
  ExpectInt("' 42 '::integer", 42);
  ExpectInt("CAST(e.qtyText AS bigint)", 3);
  ExpectInt("e.qtyText::smallint * 2", 6);
  ExpectInt("3.7::int", 4);
  ExpectInt("-3.5::int", -4);
  ExpectInt("true::int", 1);
  ExpectReal("'2.5'::numeric", 2.5);
  ExpectReal("e.qty::double precision / 2", 1.5);
  ExpectReal("e.qty::float", 3.0);
  ExpectReal("2.3456::numeric(10,2)", 2.35);
  ExpectReal("'1e2'::real", 100.0);
  ExpectText("e.qty::text", "3");
  ExpectText("19.99::text", "19.99");
  ExpectText("e.price::varchar", "2.5");
  ExpectText("true::text", "true");
  ExpectText("'2024-03-05T10:20:30Z'::timestamp::text", FormatTime(T("2024-03-05T10:20:30Z")));
  ExpectText("interval '26 hours'::text", "1 day 02:00:00");
  ExpectBool("'yes'::boolean", true);
  ExpectBool("'f'::bool", false);
  ExpectBool("0::boolean", false);
  ExpectTime("'2024-03-05T10:20:30Z'::timestamp", "2024-03-05T10:20:30Z");
  ExpectTime("'2024-03-05 10:20:30+01:00'::timestamptz", "2024-03-05T09:20:30Z");
  ExpectTime("CAST(e.ts AS timestamptz)", "2024-03-05T10:20:30Z");
  ExpectTime("e.ts::date", "2024-03-05T00:00:00Z");
  ExpectTime("'2024-03-05'::timestamp", "2024-03-05T00:00:00Z");
  ExpectInterval("'3 hours'::interval", 3 * kHour);
  ExpectNull("e.missing::int");
  EXPECT_THAT(EvalError("e.nums::int"), HasSubstr("cannot cast text '4x' to integer"));
  EXPECT_THAT(EvalError("e.name::numeric"), HasSubstr("cannot cast text 'Ada' to real"));
  EXPECT_THAT(EvalError("e.name::timestamp"), HasSubstr("cannot cast text 'Ada' to timestamp"));
  EXPECT_THAT(EvalError("e.name::boolean"), HasSubstr("cannot cast text 'Ada' to boolean"));
  EXPECT_THAT(EvalError("e.qty::timestamp"), HasSubstr("cannot cast integer 3 to timestamp"));
  EXPECT_EQ(CompileError("'abc'::int"), "views.yaml:10:12: cannot cast text 'abc' to integer");
  EXPECT_THAT(CompileError("e.qty::jsonb"), HasSubstr("views.yaml:10:19: unsupported type jsonb"));
  EXPECT_THAT(CompileError("e.qty::int[]"), HasSubstr("unsupported array type int4[]"));
}

TEST_F(SqlExprTest, CoerceTo) {
  Value v = Value::Null();
  EXPECT_TRUE(CoerceTo(Type::kInt, &v).ok());
  EXPECT_TRUE(v.is_null());

  v = Value::Int(3);
  ASSERT_TRUE(CoerceTo(Type::kReal, &v).ok());
  ASSERT_EQ(v.type(), Type::kReal);
  EXPECT_EQ(v.as_real(), 3.0);

  v = Value::Real(3.0);
  ASSERT_TRUE(CoerceTo(Type::kInt, &v).ok());
  ASSERT_EQ(v.type(), Type::kInt);
  EXPECT_EQ(v.as_int(), 3);

  v = Value::Real(2.5);
  absl::Status s = CoerceTo(Type::kInt, &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("cannot store real 2.5 in integer column"));

  v = Value::Text("3");
  s = CoerceTo(Type::kInt, &v);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(s), HasSubstr("cannot store text '3' in integer column"));
  v = Value::Text("3");
  EXPECT_THAT(Msg(CoerceTo(Type::kReal, &v)), HasSubstr("cannot store text '3' in real column"));

  v = Value::Real(19.99);
  ASSERT_TRUE(CoerceTo(Type::kText, &v).ok());
  EXPECT_EQ(v.as_text(), "19.99");
  v = Value::Real(0.1 + 0.2);
  ASSERT_TRUE(CoerceTo(Type::kText, &v).ok());
  EXPECT_EQ(v.as_text(), "0.30000000000000004");
  v = Value::Int(-12);
  ASSERT_TRUE(CoerceTo(Type::kText, &v).ok());
  EXPECT_EQ(v.as_text(), "-12");
  v = Value::Bool(true);
  ASSERT_TRUE(CoerceTo(Type::kText, &v).ok());
  EXPECT_EQ(v.as_text(), "true");

  v = Value::Text("2024-03-05T10:20:30Z");
  ASSERT_TRUE(CoerceTo(Type::kTime, &v).ok());
  ASSERT_EQ(v.type(), Type::kTime);
  EXPECT_EQ(v.as_int(), T("2024-03-05T10:20:30Z"));
  v = Value::Text("yesterday");
  EXPECT_THAT(Msg(CoerceTo(Type::kTime, &v)),
              HasSubstr("cannot store text 'yesterday' in timestamp column"));

  v = Value::Int(1);
  ASSERT_TRUE(CoerceTo(Type::kBool, &v).ok());
  ASSERT_EQ(v.type(), Type::kBool);
  EXPECT_TRUE(v.as_bool());
  v = Value::Int(2);
  EXPECT_THAT(Msg(CoerceTo(Type::kBool, &v)), HasSubstr("cannot store integer 2 in boolean"));
  v = Value::Text("1 day");
  EXPECT_THAT(Msg(CoerceTo(Type::kInterval, &v)), HasSubstr("in interval column"));
  v = Value::Interval(kDay);
  EXPECT_TRUE(CoerceTo(Type::kInterval, &v).ok());
}

TEST_F(SqlExprTest, EvalConstant) {
  absl::StatusOr<ExprPtr> expr = CompileSql("1 + 2");
  ASSERT_TRUE(expr.ok());
  absl::StatusOr<Value> v = EvalConstant(**expr);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->as_int(), 3);
  // References read as NULL in an empty context; nothing crashes.
  for (const char* sql : {"e.qty", "i.qty", "meta.key", "total", "headers.trace", "other.total",
                          "e.items[1].qty", "(SELECT count(*) FROM e.items AS x)"}) {
    expr = CompileSql(sql);
    ASSERT_TRUE(expr.ok()) << sql << ": " << expr.status();
    v = EvalConstant(**expr);
    ASSERT_TRUE(v.ok()) << sql << ": " << v.status();
    if (std::string_view(sql).starts_with("(SELECT")) {
      EXPECT_EQ(v->as_int(), 0);
    } else {
      EXPECT_TRUE(v->is_null()) << sql;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Functions.

TEST_F(SqlExprTest, TextFunctions) {
  ExpectText("lower('HeLLo')", "hello");
  ExpectText("UPPER(e.name)", "ADA");
  ExpectNull("lower(e.missing)");
  ExpectInt("length('héllo')", 5);
  ExpectInt("char_length(e.name)", 3);
  ExpectNull("length(e.missing)");
  ExpectText("trim('  a b  ')", "a b");
  ExpectText("trim(both 'x' from 'xxaxx')", "a");
  ExpectText("trim(leading from '  a ')", "a ");
  ExpectText("ltrim('  a ')", "a ");
  ExpectText("rtrim('  a ')", "  a");
  ExpectText("rtrim('a--', '-')", "a");
  ExpectText("substr('hello', 2, 3)", "ell");
  ExpectText("substring('hello' from 2)", "ello");
  ExpectText("substring('hello' from 2 for 2)", "el");
  ExpectText("substr('hello', 0, 3)", "he");
  ExpectText("substr('héllo', 2, 2)", "él");
  ExpectText("substr('hello', 9)", "");
  ExpectText("replace('a-b-c', '-', '+')", "a+b+c");
  ExpectText("concat('a', NULL, 1, 2.5)", "a12.5");
  ExpectText("concat_ws(', ', 'a', NULL, 'b')", "a, b");
  ExpectNull("concat_ws(NULL, 'a')");
  ExpectText("left('hello', 2)", "he");
  ExpectText("left('hello', -2)", "hel");
  ExpectText("right('hello', 2)", "lo");
  ExpectText("right('hello', -2)", "llo");
  ExpectText("right('hello', -9)", "");
  ExpectText("right('hello', -9223372036854775807 - 1)", "");  // found by fuzz_expr: -k overflowed
  ExpectText("split_part('a,b,c', ',', 2)", "b");
  ExpectText("split_part('a,b,c', ',', -1)", "c");
  ExpectText("split_part('a,b,c', ',', 7)", "");
  ExpectBool("starts_with(e.orderId, 'o-')", true);
  ExpectInt("strpos('hello', 'll')", 3);
  ExpectInt("position('lo' in 'hello')", 4);
  EXPECT_THAT(EvalError("lower(e.qty)"), HasSubstr("lower() cannot take integer 3"));
  EXPECT_THAT(EvalError("split_part(e.name, ',', 0)"), HasSubstr("must not be zero"));
  EXPECT_THAT(EvalError("substr(e.name, 1, -1)"), HasSubstr("negative substring length"));
}

TEST_F(SqlExprTest, JsonArrayLengths) {
  ExpectInt("length(e.items)", 3);
  ExpectInt("length(e.name)", 3);
  ExpectInt("cardinality(e.items)", 3);
  ExpectInt("cardinality(e.empty)", 0);
  ExpectInt("array_length(e.prices, 1)", 3);
  ExpectNull("array_length(e.empty, 1)");
  ExpectNull("cardinality(e.missing)");
  ExpectInt("length(e.items[1].tags)", 2);
  EXPECT_THAT(EvalError("cardinality(e.customer)"),
              HasSubstr("cardinality() cannot take field e.customer: it is an object"));
  EXPECT_THAT(EvalError("length(e.qty)"), HasSubstr("length() cannot take field e.qty"));
  EXPECT_THAT(CompileError("cardinality('abc')"), HasSubstr("needs a JSON array field"));
  EXPECT_THAT(CompileError("array_length(e.items, 2)"), HasSubstr("only dimension 1"));
}

TEST_F(SqlExprTest, MathFunctions) {
  ExpectInt("abs(-3)", 3);
  ExpectReal("abs(-2.5)", 2.5);
  ExpectInt("round(7)", 7);
  ExpectReal("round(2.5)", 3.0);
  ExpectReal("round(-2.5)", -3.0);
  ExpectReal("round(2.345, 2)", std::round(2.345 * 100) / 100);
  ExpectReal("round(19.999, 2)", 20.0);
  ExpectReal("round(1234.5, -2)", 1200.0);
  ExpectReal("round(e.qty, 1)", 3.0);
  ExpectReal("floor(2.7)", 2.0);
  ExpectInt("floor(5)", 5);
  ExpectReal("ceil(2.1)", 3.0);
  ExpectReal("ceiling(-2.1)", -2.0);
  ExpectReal("power(2, 10)", 1024.0);
  ExpectReal("sqrt(16)", 4.0);
  ExpectInt("mod(7, 3)", 1);
  ExpectReal("mod(7.5, 2)", 1.5);
  ExpectInt("sign(-5)", -1);
  ExpectReal("sign(2.5)", 1.0);
  ExpectReal("trunc(2.78, 1)", 2.7);
  ExpectNull("abs(e.missing)");
  EXPECT_THAT(EvalError("sqrt(e.qty - 4)"), HasSubstr("square root of a negative number"));
  EXPECT_THAT(EvalError("mod(e.qty, 0)"), HasSubstr("division by zero"));
  EXPECT_THAT(EvalError("abs(e.name)"), HasSubstr("abs() cannot take text 'Ada'"));
  EXPECT_THAT(EvalError("round(e.qtyText, 2)"), HasSubstr("round() cannot take text '3'"));
}

// ---------------------------------------------------------------------------------------------
// Time.

TEST_F(SqlExprTest, DateTrunc) {
  // meta.log_time = 2024-03-05T10:20:30.123456Z, a Tuesday.
  ExpectTime("date_trunc('second', meta.log_time)", "2024-03-05T10:20:30Z");
  ExpectTime("date_trunc('milliseconds', meta.log_time)", "2024-03-05T10:20:30.123Z");
  ExpectTime("date_trunc('minute', meta.log_time)", "2024-03-05T10:20:00Z");
  ExpectTime("date_trunc('hour', meta.log_time)", "2024-03-05T10:00:00Z");
  ExpectTime("date_trunc('day', meta.log_time)", "2024-03-05T00:00:00Z");
  ExpectTime("date_trunc('week', meta.log_time)", "2024-03-04T00:00:00Z");
  ExpectTime("date_trunc('month', meta.log_time)", "2024-03-01T00:00:00Z");
  ExpectTime("date_trunc('quarter', meta.log_time)", "2024-01-01T00:00:00Z");
  ExpectTime("date_trunc('YEAR', meta.log_time)", "2024-01-01T00:00:00Z");
  ExpectTime("date_trunc('week', '1969-12-31T23:00:00Z'::timestamp)", "1969-12-29T00:00:00Z");
  ExpectTime("date_trunc('day', e.ts)", "2024-03-05T00:00:00Z");  // ISO text is accepted
  ExpectNull("date_trunc('day', e.missing)");
  EXPECT_EQ(CompileError("date_trunc('fortnight', meta.log_time)"),
            "views.yaml:10:23: date_trunc(): unknown unit 'fortnight' (expected microseconds, "
            "milliseconds, second, minute, hour, day, week, month, quarter or year)");
  EXPECT_THAT(EvalError("date_trunc('day', e.name)"), HasSubstr("date_trunc() cannot take text"));
}

TEST_F(SqlExprTest, ExtractAndDatePart) {
  ExpectInt("EXTRACT(year FROM meta.log_time)", 2024);
  ExpectInt("extract(quarter from meta.log_time)", 1);
  ExpectInt("extract(month from meta.log_time)", 3);
  ExpectInt("extract(day from meta.log_time)", 5);
  ExpectInt("extract(hour from meta.log_time)", 10);
  ExpectInt("extract(minute from meta.log_time)", 20);
  ExpectReal("extract(second from meta.log_time)", 30.123456);
  ExpectInt("extract(dow from meta.log_time)", 2);
  ExpectInt("extract(isodow from '2024-03-10'::timestamp)", 7);
  ExpectInt("extract(dow from '2024-03-10'::timestamp)", 0);
  ExpectInt("extract(doy from meta.log_time)", 65);
  ExpectInt("extract(week from meta.log_time)", 10);
  ExpectInt("extract(week from '2021-01-01'::timestamp)", 53);
  ExpectReal("extract(epoch from meta.log_time)", 1709634030.123456);
  ExpectReal("extract(epoch from interval '1 hour')", 3600.0);
  ExpectInt("date_part('year', e.ts)", 2024);
  ExpectReal("date_part('epoch', meta.log_time - '2024-03-05'::timestamp)", 37230.123456);
  EXPECT_THAT(CompileError("date_part('fortnight', meta.log_time)"),
              HasSubstr("views.yaml:10:22: date_part(): unknown field 'fortnight'"));
  EXPECT_THAT(EvalError("date_part('hour', meta.log_time - meta.log_time)"),
              HasSubstr("not supported for intervals"));
}

TEST_F(SqlExprTest, ToCharAndToTimestamp) {
  ExpectText("to_char(meta.log_time, 'YYYY-MM-DD HH24:MI:SS')", "2024-03-05 10:20:30");
  ExpectText("to_char(meta.log_time, 'Mon DD, YYYY')", "Mar 05, 2024");
  ExpectText("to_char(meta.log_time, 'FMMonth FMDD')", "March 5");
  ExpectText("to_char(meta.log_time, 'Month|Day|Dy|DY|MON|mon')",
             "March    |Tuesday  |Tue|TUE|MAR|mar");
  ExpectText("to_char(meta.log_time, 'HH12 AM, HH12:MI pm')", "10 AM, 10:20 am");
  ExpectText("to_char(meta.log_time, 'MS US')", "123 123456");
  ExpectText("to_char(meta.log_time, 'Q IW IYYY DDD D ID')", "1 10 2024 065 3 2");
  ExpectText("to_char(meta.log_time, '\"Week\" IW \"of\" YYYY')", "Week 10 of 2024");
  ExpectText("to_char('2021-01-01'::timestamp, 'IYYY-IW')", "2020-53");
  ExpectText("to_char('2024-03-05T15:04:05Z'::timestamp, 'HH12:MI:SS PM')", "03:04:05 PM");
  ExpectText("to_char(e.ts, 'YYYY/MM/DD')", "2024/03/05");
  ExpectNull("to_char(e.missing, 'YYYY')");
  EXPECT_THAT(EvalError("to_char(e.qty, '999')"), HasSubstr("only timestamps can be formatted"));
  ExpectTime("to_timestamp(0)", "1970-01-01T00:00:00Z");
  ExpectTime("to_timestamp(1709634030.5)", "2024-03-05T10:20:30.5Z");
  EXPECT_THAT(EvalError("to_timestamp(e.ts)"), HasSubstr("to_timestamp() cannot take text"));
}

TEST_F(SqlExprTest, IntervalArithmetic) {
  ExpectTime("meta.log_time + interval '1 day'", "2024-03-06T10:20:30.123456Z");
  ExpectTime("interval '2 hours' + e.ts::timestamp", "2024-03-05T12:20:30Z");
  ExpectTime("e.ts::timestamp - interval '30 minutes'", "2024-03-05T09:50:30Z");
  ExpectInterval("e.ts::timestamp - '2024-03-04T10:20:30Z'::timestamp", kDay);
  ExpectInterval("interval '1 day' + interval '1 hour'", kDay + kHour);
  ExpectInterval("interval '1 day' - interval '1 hour'", kDay - kHour);
  ExpectInterval("interval '1 hour' * 3", 3 * kHour);
  ExpectInterval("2 * interval '1 hour'", 2 * kHour);
  ExpectInterval("interval '1 hour' / 4", kHour / 4);
  ExpectInterval("-interval '1 hour'", -kHour);
  ExpectBool("interval '1 day' > interval '23 hours'", true);
  ExpectBool("meta.log_time + interval '1 hour' > meta.log_time", true);
  EXPECT_THAT(EvalError("meta.log_time + 1"),
              HasSubstr("operator + cannot take timestamp '2024-03-05T10:20:30.123456Z' and "
                        "integer 1"));
  EXPECT_THAT(EvalError("meta.log_time + meta.log_time"), HasSubstr("operator + cannot take"));
}

// ---------------------------------------------------------------------------------------------
// Array subqueries and explode.

TEST_F(SqlExprTest, ArraySubqueries) {
  ExpectReal("(SELECT sum(x.qty * x.price) FROM e.items AS x WHERE x.sku <> 'c')", 24.0);
  ExpectReal("(SELECT sum(x.qty * x.price) FROM e.items x)", 29.0);
  ExpectInt("(SELECT sum(x.qty) FROM e.items AS x)", 8);
  ExpectInt("(SELECT count(*) FROM e.items AS x)", 3);
  ExpectInt("(SELECT count(*) FROM e.items AS x WHERE x.qty > 1)", 2);
  ExpectInt("(SELECT count(x.gift) FROM e.items AS x)", 1);
  ExpectReal("(SELECT avg(x.qty) FROM e.items AS x)", 8.0 / 3);
  ExpectText("(SELECT min(x.sku) FROM e.items AS x)", "a");
  ExpectReal("(SELECT max(x.price) FROM e.items AS x)", 10.5);
  ExpectBool("(SELECT bool_or(x.gift) FROM e.items AS x)", true);
  ExpectBool("(SELECT bool_and(x.qty > 0) FROM e.items AS x)", true);
  ExpectText("(SELECT string_agg(x.sku, ',') FROM e.items AS x)", "a,b,c");
  ExpectInt("(SELECT count(*) FILTER (WHERE x.qty < 5) FROM e.items AS x)", 2);
  ExpectReal("(SELECT sum(p) FROM e.prices AS p)", 6.5);  // the alias alone is the element
  ExpectInt("(SELECT sum(li.unitPrice) FROM e.lineItems AS li)", 10);  // case recovered
  // Nested: slot 2 inside slot 1, FROM an element field.
  ExpectInt("(SELECT sum((SELECT count(*) FROM x.tags AS t)) FROM e.items AS x)", 3);
  // The empty tags array makes the inner string_agg NULL, which the outer one skips.
  ExpectText("(SELECT string_agg((SELECT string_agg(t, '') FROM x.tags t), '|') FROM e.items x)",
             "xy|z");
  ExpectInt("(SELECT max(items.qty) FROM e.items)", 5);  // no alias: the field name is one
  ExpectInterval("(SELECT sum(x::interval) FROM e.durations AS x)", 3 * kHour);
  // Empty / missing arrays aggregate over zero elements.
  ExpectNull("(SELECT sum(x.qty) FROM e.empty AS x)");
  ExpectNull("(SELECT max(x.qty) FROM e.missing AS x)");
  ExpectNull("(SELECT avg(x.qty) FROM e.missing AS x)");
  ExpectInt("(SELECT count(*) FROM e.missing AS x)", 0);
  ExpectInt("coalesce((SELECT sum(x.qty) FROM e.empty AS x), 0)", 0);
  // Errors inside.
  EXPECT_THAT(EvalError("(SELECT sum(x.qty * x.price) FROM e.badItems AS x)"),
              HasSubstr("operator * cannot take text '3' and integer 2"));
  EXPECT_THAT(EvalError("(SELECT sum(x.sku) FROM e.items AS x)"),
              HasSubstr("sum() cannot take text 'a'"));
  EXPECT_THAT(EvalError("(SELECT sum(x) FROM e.customer AS x)"),
              HasSubstr("sum() over e.customer: the field is an object, not an array"));
  EXPECT_THAT(EvalError("(SELECT count(*) FROM e.items AS x WHERE x.qty)"),
              HasSubstr("argument of WHERE must be boolean"));
}

TEST_F(SqlExprTest, ArraySubqueryCompileErrors) {
  EXPECT_EQ(CompileError("sum(e.qty)"),
            "views.yaml:10:12: aggregate sum() is only allowed in an array subquery (SELECT "
            "sum(...) FROM e.items AS i)");
  EXPECT_THAT(CompileError("1 + count(*)"),
              HasSubstr("views.yaml:10:16: aggregate count() is only allowed in an array"));
  EXPECT_THAT(CompileError("(SELECT x.qty FROM e.items AS x)"),
              HasSubstr("must select one aggregate"));
  EXPECT_THAT(CompileError("(SELECT sum(x.qty) FROM meta.key AS x)"),
              HasSubstr("views.yaml:10:36: array subquery source meta.key must be a JSON array"));
  EXPECT_THAT(CompileError("(SELECT sum(x.qty) FROM e.items AS x GROUP BY x.sku)"),
              HasSubstr("unsupported GROUP BY clause"));
  EXPECT_THAT(CompileError("(SELECT sum(x.qty) FROM e.items AS x, e.prices AS p)"),
              HasSubstr("unsupported join"));
  EXPECT_THAT(CompileError("(SELECT 1)"), HasSubstr("subquery without FROM"));
  EXPECT_THAT(CompileError("(SELECT array_agg(x.qty) FROM e.items AS x)"),
              HasSubstr("unsupported aggregate array_agg()"));
  EXPECT_THAT(CompileError("(SELECT sum(DISTINCT x.qty) FROM e.items AS x)"),
              HasSubstr("unsupported DISTINCT in sum()"));
  EXPECT_THAT(CompileError("(SELECT sum(sum(x.qty)) FROM e.items AS x)"),
              HasSubstr("aggregate sum() is only allowed"));
  EXPECT_THAT(CompileError("(SELECT string_agg(x.sku) FROM e.items AS x)"),
              HasSubstr("function string_agg() takes 2 arguments, got 1"));
  EXPECT_THAT(CompileError("(SELECT count(*) FROM e.a AS a WHERE (SELECT count(*) FROM a.b AS b "
                           "WHERE (SELECT count(*) FROM b.c AS c WHERE (SELECT count(*) FROM "
                           "c.d AS d) > 0) > 0) > 0)"),
              HasSubstr("nest too deeply"));
  EXPECT_THAT(CompileError("EXISTS (SELECT 1)"), HasSubstr("unsupported EXISTS subquery"));
}

TEST_F(SqlExprTest, ExplodeSlot) {
  simdjson::dom::element items;
  ASSERT_EQ(event_["items"].get(items), simdjson::SUCCESS);
  ASSERT_EQ(items.at(1).get(element_), simdjson::SUCCESS);
  element_set_ = true;
  ExpectInt("i.qty", 1);
  ExpectText("i.sku || '-' || e.orderId", "b-o-1");
  ExpectInt("cardinality(i.tags)", 0);
  // A subquery over the exploded element's array uses slot 1 and leaves slot 0 alone.
  ASSERT_EQ(items.at(0).get(element_), simdjson::SUCCESS);
  ExpectText("(SELECT string_agg(t, '+') FROM i.tags AS t) || i.sku", "x+ya");
  // The subquery alias shadows the explode alias.
  ExpectInt("(SELECT sum(i.qty) FROM e.items AS i) + i.qty", 10);
}

TEST_F(SqlExprTest, EvalJsonAndIsJsonPath) {
  absl::StatusOr<ExprPtr> expr = CompileSql("e.items");
  ASSERT_TRUE(expr.ok());
  EXPECT_TRUE((*expr)->IsJsonPath());
  EvalContext ctx = Context();
  simdjson::dom::element out;
  ASSERT_TRUE((*expr)->EvalJson(ctx, &out).ok());
  ASSERT_TRUE(out.is_array());
  EXPECT_EQ(out.get_array().value_unsafe().size(), 3u);

  expr = CompileSql("e.items[1].tags");
  ASSERT_TRUE(expr.ok());
  ASSERT_TRUE((*expr)->EvalJson(ctx, &out).ok());
  EXPECT_EQ(out.get_array().value_unsafe().size(), 2u);

  expr = CompileSql("e.nothing");
  ASSERT_TRUE(expr.ok());
  ASSERT_TRUE((*expr)->EvalJson(ctx, &out).ok());
  EXPECT_TRUE(out.is_null());  // missing reads as JSON null

  expr = CompileSql("e.qty + 1");
  ASSERT_TRUE(expr.ok());
  EXPECT_FALSE((*expr)->IsJsonPath());
  EXPECT_EQ((*expr)->EvalJson(ctx, &out).code(), absl::StatusCode::kUnimplemented);
  expr = CompileSql("meta.key");
  ASSERT_TRUE(expr.ok());
  EXPECT_FALSE((*expr)->IsJsonPath());
}

// ---------------------------------------------------------------------------------------------
// Compile errors point at the construct.

TEST_F(SqlExprTest, CompileErrorsHaveLocations) {
  EXPECT_EQ(CompileError("1 + foo(2)"), "views.yaml:10:16: unknown function foo()");
  EXPECT_EQ(CompileError("1 +\n  foo(2)"), "views.yaml:11:3: unknown function foo()");
  EXPECT_EQ(CompileError("now()"),
            "views.yaml:10:12: now() is not deterministic: views must be rebuildable; use "
            "meta.log_time or an event field (now(), current_timestamp and current_date are "
            "allowed only in a derived view's WHERE or aggregate FILTER, compared as <row "
            "timestamp> < now() [+/- interval] with <, <=, > or >=)");
  EXPECT_THAT(CompileError("e.qty + random()"),
              HasSubstr("views.yaml:10:20: random() is not deterministic"));
  EXPECT_THAT(CompileError("current_timestamp"),
              HasSubstr("views.yaml:10:12: current_timestamp is not deterministic"));
  EXPECT_THAT(CompileError("clock_timestamp()"), HasSubstr("clock_timestamp() is not"));
  EXPECT_EQ(CompileError("e.qty + )"), "views.yaml:10:20: syntax error at or near \")\"");
  EXPECT_EQ(CompileError("e.qty +"), "views.yaml:10:19: syntax error at end of input");
  EXPECT_EQ(CompileError("'é' || )"), "views.yaml:10:20: syntax error at or near \")\"");
  EXPECT_EQ(CompileError("e.qty +\n  (e.price *"),
            "views.yaml:11:13: syntax error at end of input");
  EXPECT_EQ(CompileError("e.qty +\n  'abc"),
            "views.yaml:11:3: unterminated quoted string at or near \"'abc\"");
  EXPECT_EQ(CompileError("sum(e.qty) OVER ()"),
            "views.yaml:10:12: unsupported window function sum() OVER (...)");
  EXPECT_THAT(CompileError("e.qty FROM orders"),
              HasSubstr("views.yaml:10:23: unsupported FROM clause in an expression"));
  EXPECT_THAT(CompileError("e.qty WHERE true"),
              HasSubstr("views.yaml:10:24: unsupported WHERE clause"));
  EXPECT_EQ(CompileError("lower('a', 'b')"),
            "views.yaml:10:12: function lower() takes 1 argument, got 2");
  EXPECT_EQ(CompileError("round()"),
            "views.yaml:10:12: function round() takes 1 to 2 arguments, got 0");
  EXPECT_EQ(CompileError("e.qty + nope"), "views.yaml:10:20: unknown column 'nope'");
  EXPECT_THAT(CompileError("ARRAY[1, 2]"), HasSubstr("views.yaml:10:12: unsupported ARRAY"));
  EXPECT_THAT(CompileError("$1"), HasSubstr("unsupported parameter $1"));
  EXPECT_THAT(CompileError("e.qty, e.price"),
              HasSubstr("views.yaml:10:19: unsupported list of expressions"));
  EXPECT_THAT(CompileError("e.qty AS q"), HasSubstr("unsupported column alias AS q"));
  EXPECT_THAT(CompileError("1; DROP TABLE x"), HasSubstr("unsupported multiple statements"));
  EXPECT_THAT(CompileError(""), HasSubstr("views.yaml:10:12: empty expression"));
  EXPECT_THAT(CompileError("e.data->>'x'"), HasSubstr("unsupported operator ->>"));
  EXPECT_THAT(CompileError("e.* "), HasSubstr("unsupported *"));
  EXPECT_THAT(CompileError("e.name SIMILAR TO 'a'"), HasSubstr("unsupported SIMILAR TO"));
  EXPECT_THAT(CompileError("1 = ANY(e.items)"), HasSubstr("unsupported ANY/ALL"));
  EXPECT_THAT(CompileError("1 UNION SELECT 2"), HasSubstr("unsupported"));
}

TEST_F(SqlExprTest, CompiledTreeIsReusable) {
  absl::StatusOr<ExprPtr> expr =
      CompileSql("(SELECT sum(x.qty * x.price) FROM e.items AS x) * (1 + params.vat)");
  ASSERT_TRUE(expr.ok()) << expr.status();
  for (int n = 0; n < 1000; ++n) {
    EvalContext ctx = Context();
    Value v;
    ASSERT_TRUE((*expr)->Eval(ctx, &v).ok());
    ASSERT_EQ(v.type(), Type::kReal);
    ASSERT_DOUBLE_EQ(v.as_real(), 29.0 * 1.2);
  }
}

}  // namespace
}  // namespace sv::sql
