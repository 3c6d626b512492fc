// sql::StoreSelect: each supported construct in both dialects, and the errors for the rest.
// (tests/integration/store_select_test.cc runs the output on real stores.)

#include "sql/deparse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace sv::sql {
namespace {

using ::testing::HasSubstr;

std::string Deparse(std::string_view sql, SqlDialect dialect, const ColumnTypeFn& types = nullptr) {
  absl::StatusOr<std::string> out = StoreSelect(sql, dialect, types);
  EXPECT_TRUE(out.ok()) << sql << ": " << out.status();
  return out.ok() ? *out : "";
}

// The select list StoreSelect emits for `SELECT <expr> FROM t`.
std::string Expr(std::string_view expr, SqlDialect dialect) {
  const std::string out = Deparse("SELECT " + std::string(expr) + " FROM t", dialect);
  constexpr std::string_view kTail = " FROM \"t\"";
  if (out.size() < 7 + kTail.size()) return out;
  return out.substr(7, out.size() - 7 - kTail.size());
}
std::string Lite(std::string_view expr) { return Expr(expr, SqlDialect::kSqlite); }
std::string Pg(std::string_view expr) { return Expr(expr, SqlDialect::kPostgres); }

// The error, which must be the same in both dialects.
std::string ErrorOf(std::string_view sql) {
  absl::StatusOr<std::string> lite = StoreSelect(sql, SqlDialect::kSqlite);
  absl::StatusOr<std::string> pg = StoreSelect(sql, SqlDialect::kPostgres);
  EXPECT_FALSE(lite.ok()) << sql << " -> " << *lite;
  EXPECT_FALSE(pg.ok()) << sql << " -> " << *pg;
  if (lite.ok() || pg.ok()) return "";
  EXPECT_EQ(lite.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lite.status(), pg.status());
  return std::string(lite.status().message());
}
std::string ExprError(std::string_view expr) {
  return ErrorOf("SELECT " + std::string(expr) + " FROM t");
}

TEST(StoreSelect, TakesCreateViewOrABareSelect) {
  EXPECT_EQ(Deparse("CREATE VIEW v AS SELECT a FROM t", SqlDialect::kSqlite),
            "SELECT \"a\" FROM \"t\"");
  EXPECT_EQ(Deparse("create or replace view v as select a from t;", SqlDialect::kPostgres),
            "SELECT \"a\" FROM \"t\"");
  EXPECT_EQ(Deparse("SELECT a FROM t", SqlDialect::kSqlite), "SELECT \"a\" FROM \"t\"");
}

TEST(StoreSelect, NamesKeepTheirSpellingAndAliasesAreFolded) {
  EXPECT_EQ(
      Deparse("SELECT o.customerId AS Who, \"Odd\"\"Name\" FROM Orders o", SqlDialect::kSqlite),
      "SELECT \"o\".\"customerId\" AS \"who\", \"Odd\"\"Name\" FROM \"Orders\" AS \"o\"");
  // Without an alias the relation qualifies its columns under its own name.
  EXPECT_EQ(Deparse("SELECT Orders.id FROM Orders", SqlDialect::kPostgres),
            "SELECT \"Orders\".\"id\" FROM \"Orders\"");
  // GROUP BY may name a select-list alias.
  EXPECT_EQ(Deparse("SELECT date_trunc('day', at) AS Day, count(*) FROM t GROUP BY Day",
                    SqlDialect::kSqlite),
            "SELECT date_trunc('day', \"at\") AS \"day\", count(*) FROM \"t\" GROUP BY \"day\"");
}

TEST(StoreSelect, Constants) {
  EXPECT_EQ(Lite("1, 0, -3, 3000000000, 2.5, -2.5, 'it''s', NULL, true, false"),
            "1, 0, (-3), 3000000000, 2.5, (-2.5), 'it''s', NULL, 1, 0");
  EXPECT_EQ(Pg("1, 0, -3, 3000000000, 2.5, 'it''s', NULL, true, false"),
            "1, 0, (-3), 3000000000, CAST(2.5 AS double precision), 'it''s', NULL, true, false");
  EXPECT_EQ(Lite("E'a\\nb'"), "'a\nb'");
}

TEST(StoreSelect, OperatorsAreParenthesized) {
  EXPECT_EQ(Lite("a + b * c, (a + b) * c, a - -3, -a, +a, a / b % c"),
            "(\"a\" + (\"b\" * \"c\")), ((\"a\" + \"b\") * \"c\"), (\"a\" - (-3)), (-\"a\"), "
            "(+\"a\"), ((\"a\" / \"b\") % \"c\")");
  EXPECT_EQ(Lite("a = 1, a <> 1, a != 1, a < 1, a <= 1, a > 1, a >= 1, a || 'x'"),
            "(\"a\" = 1), (\"a\" <> 1), (\"a\" <> 1), (\"a\" < 1), (\"a\" <= 1), (\"a\" > 1), "
            "(\"a\" >= 1), (\"a\" || 'x')");
  EXPECT_EQ(Lite("2 ^ a"), "pow(2, \"a\")");
  EXPECT_EQ(Pg("2 ^ a"), "(2 ^ \"a\")");
}

TEST(StoreSelect, BooleanLogic) {
  EXPECT_EQ(Lite("a AND b OR NOT c"), "((\"a\" AND \"b\") OR (NOT \"c\"))");
  EXPECT_EQ(Lite("a IS NULL, a IS NOT NULL"), "(\"a\" IS NULL), (\"a\" IS NOT NULL)");
  EXPECT_EQ(Lite("a IS TRUE, a IS NOT FALSE, a IS UNKNOWN"),
            "(\"a\" IS TRUE), (\"a\" IS NOT FALSE), (\"a\" IS NULL)");
  EXPECT_EQ(Lite("a IS DISTINCT FROM b, a IS NOT DISTINCT FROM b"),
            "(\"a\" IS NOT \"b\"), (\"a\" IS \"b\")");
  EXPECT_EQ(Pg("a IS DISTINCT FROM b, a IS NOT DISTINCT FROM b"),
            "(\"a\" IS DISTINCT FROM \"b\"), (\"a\" IS NOT DISTINCT FROM \"b\")");
}

TEST(StoreSelect, InBetweenLike) {
  EXPECT_EQ(Lite("a IN (1, 2), a NOT IN ('x')"), "(\"a\" IN (1, 2)), (\"a\" NOT IN ('x'))");
  EXPECT_EQ(Lite("a BETWEEN 1 AND b + 1, a NOT BETWEEN 1 AND 2"),
            "(\"a\" BETWEEN 1 AND (\"b\" + 1)), (\"a\" NOT BETWEEN 1 AND 2)");
  EXPECT_EQ(Pg("a BETWEEN SYMMETRIC 2 AND 1"), "(\"a\" BETWEEN SYMMETRIC 2 AND 1)");
  EXPECT_EQ(Lite("a NOT BETWEEN SYMMETRIC 2 AND 1"),
            "(NOT ((\"a\" BETWEEN 2 AND 1) OR (\"a\" BETWEEN 1 AND 2)))");
  EXPECT_EQ(Pg("a LIKE 'x%', a NOT LIKE 'x%', a ILIKE 'x%', a NOT ILIKE 'x%'"),
            "(\"a\" LIKE 'x%'), (\"a\" NOT LIKE 'x%'), (\"a\" ILIKE 'x%'), (\"a\" NOT ILIKE 'x%')");
  EXPECT_EQ(Lite("a LIKE 'x%', a NOT LIKE 'x%', a ILIKE 'x%', a NOT ILIKE 'x%'"),
            "sv_like(\"a\", 'x%'), (NOT sv_like(\"a\", 'x%')), sv_ilike(\"a\", 'x%'), "
            "(NOT sv_ilike(\"a\", 'x%'))");
}

TEST(StoreSelect, ConditionalExpressions) {
  EXPECT_EQ(Lite("CASE WHEN a > 1 THEN 'big' WHEN a IS NULL THEN NULL ELSE 'small' END"),
            "(CASE WHEN (\"a\" > 1) THEN 'big' WHEN (\"a\" IS NULL) THEN NULL ELSE 'small' END)");
  EXPECT_EQ(Lite("CASE a WHEN 1 THEN 'one' END"), "(CASE \"a\" WHEN 1 THEN 'one' END)");
  EXPECT_EQ(Lite("COALESCE(a, b, 0), COALESCE(a), NULLIF(a, 0)"),
            "coalesce(\"a\", \"b\", 0), (\"a\"), nullif(\"a\", 0)");
  EXPECT_EQ(Pg("GREATEST(a, 1), LEAST(a, b)"), "greatest(\"a\", 1), least(\"a\", \"b\")");
  EXPECT_EQ(Lite("GREATEST(a, 1), LEAST(a, b)"), "greatest(\"a\", 1), least(\"a\", \"b\")");
}

TEST(StoreSelect, Casts) {
  EXPECT_EQ(Pg("a::int, CAST(a AS bigint), a::integer, a::real, a::double precision, "
               "a::float, a::numeric, a::text, a::boolean, a::timestamp, a::numeric(10, 2)"),
            "CAST(\"a\" AS bigint), CAST(\"a\" AS bigint), CAST(\"a\" AS bigint), "
            "CAST(\"a\" AS double precision), CAST(\"a\" AS double precision), "
            "CAST(\"a\" AS double precision), CAST(\"a\" AS double precision), "
            "(CAST(\"a\" AS text) COLLATE \"C\"), CAST(\"a\" AS boolean), "
            "CAST(\"a\" AS timestamptz), "
            "CAST(round(CAST(\"a\" AS numeric), 2) AS double precision)");
  EXPECT_EQ(Lite("a::int, a::real, a::text, a::boolean, a::timestamp, a::numeric(10, 2)"),
            "sv_cast(\"a\", 'integer'), sv_cast(\"a\", 'real'), sv_cast(\"a\", 'text'), "
            "sv_cast(\"a\", 'boolean'), sv_cast(\"a\", 'timestamp'), sv_cast(\"a\", 'real', 2)");
  EXPECT_EQ(Lite("'2024-01-01'::timestamp"), "sv_cast('2024-01-01', 'timestamp')");
}

TEST(StoreSelect, ScalarFunctions) {
  EXPECT_EQ(Lite("lower(a), substr(a, 2, 3), position('x' IN a), trim(a)"),
            "lower(\"a\"), substr(\"a\", 2, 3), strpos(\"a\", 'x'), btrim(\"a\")");
  EXPECT_EQ(Pg("lower(a), position('x' IN a), round(r, 2), round(r), trunc(r), round(i::int)"),
            "lower(\"a\"), strpos(\"a\", 'x'), "
            "CAST(round(CAST(\"r\" AS numeric), 2) AS double precision), "
            "CAST(round(CAST(\"r\" AS numeric)) AS double precision), "
            "CAST(trunc(CAST(\"r\" AS numeric)) AS double precision), "
            "CAST(CAST(\"i\" AS bigint) AS bigint)");
  EXPECT_EQ(Pg("log(2, r), mod(r, 2), mod(7, 2)"),
            "CAST(log(CAST(2 AS numeric), CAST(\"r\" AS numeric)) AS double precision), "
            "CAST(mod(CAST(\"r\" AS numeric), CAST(2 AS numeric)) AS double precision), mod(7, 2)");
  EXPECT_EQ(Lite("round(r, 2)"), "round(\"r\", 2)");
}

TEST(StoreSelect, TimeFunctions) {
  EXPECT_EQ(Lite("date_trunc('day', at), to_char(at, 'YYYY-MM'), date_part('hour', at), "
                 "extract(epoch FROM at)"),
            "date_trunc('day', \"at\"), to_char(\"at\", 'YYYY-MM'), date_part('hour', \"at\"), "
            "date_part('epoch', \"at\")");
  // The engine's date_part is an integer for most fields, a double for the others.
  EXPECT_EQ(Pg("date_trunc('day', at), to_char(at, 'YYYY-MM'), date_part('hour', at), "
               "extract(epoch FROM at), EXTRACT(DOW FROM at), extract(second from at)"),
            "date_trunc('day', \"at\"), to_char(\"at\", 'YYYY-MM'), "
            "CAST(EXTRACT(hour FROM \"at\") AS bigint), "
            "CAST(EXTRACT(epoch FROM \"at\") AS double precision), "
            "CAST(EXTRACT(dow FROM \"at\") AS bigint), "
            "CAST(EXTRACT(second FROM \"at\") AS double precision)");
}

// SQLite holds timestamps as text and intervals as integers: `a - b` of two timestamps there
// subtracted text (0), and date_part('epoch', 0) failed ("cannot take integer 0"). With the
// column types known, the engine's own arithmetic and date_part run in SQLite.
TEST(StoreSelect, SqliteTimestampArithmeticKeepsItsTypes) {
  const ColumnTypeFn types = [](std::string_view, std::string_view column) -> std::optional<Type> {
    if (column == "at" || column == "done") return Type::kTime;
    if (column == "wait") return Type::kInterval;
    if (column == "n") return Type::kInt;
    return std::nullopt;
  };
  EXPECT_EQ(Deparse("SELECT extract(epoch FROM done - at), done - at, at + wait, wait * n, "
                    "date_part('hour', wait), a - n FROM t",
                    SqlDialect::kSqlite, types),
            "SELECT sv_interval_part('epoch', sv_time_arith('-', \"done\", 't', \"at\", 't')), "
            "sv_time_arith('-', \"done\", 't', \"at\", 't'), "
            "sv_time_arith('+', \"at\", 't', \"wait\", 'i'), "
            "sv_time_arith('*', \"wait\", 'i', \"n\", 'n'), "
            "sv_interval_part('hour', \"wait\"), (\"a\" - \"n\") FROM \"t\"");
  // PostgreSQL has the types natively.
  EXPECT_EQ(Deparse("SELECT done - at FROM t", SqlDialect::kPostgres, types),
            "SELECT (\"done\" - \"at\") FROM \"t\"");
}

TEST(StoreSelect, Aggregates) {
  EXPECT_EQ(Lite("count(*), count(a), count(DISTINCT a), sum(a), avg(a), min(a), max(a)"),
            "count(*), count(\"a\"), count(DISTINCT \"a\"), sum(\"a\"), avg(\"a\"), min(\"a\"), "
            "max(\"a\")");
  EXPECT_EQ(Pg("count(*), count(DISTINCT a), sum(a), avg(a), min(a), max(a)"),
            "count(*), count(DISTINCT \"a\"), sum(\"a\"), CAST(avg(\"a\") AS double precision), "
            "min(\"a\"), max(\"a\")");
  EXPECT_EQ(Lite("count(*) FILTER (WHERE a > 1), sum(b) FILTER (WHERE c)"),
            "count(*) FILTER (WHERE (\"a\" > 1)), sum(\"b\") FILTER (WHERE \"c\")");
  EXPECT_EQ(Pg("avg(b) FILTER (WHERE c)"),
            "CAST(avg(\"b\") FILTER (WHERE \"c\") AS double precision)");
}

TEST(StoreSelect, PostgresSumsOfIntegersStayIntegers) {
  EXPECT_EQ(Pg("sum(1), sum(CASE WHEN a THEN 1 ELSE 0 END), sum(q::int * 2), sum(r)"),
            "CAST(sum(1) AS bigint), CAST(sum((CASE WHEN \"a\" THEN 1 ELSE 0 END)) AS bigint), "
            "CAST(sum((CAST(\"q\" AS bigint) * 2)) AS bigint), sum(\"r\")");
  // With the columns' types known.
  const ColumnTypeFn types = [](std::string_view relation,
                                std::string_view column) -> std::optional<Type> {
    if (relation == "Orders" && column == "qty") return Type::kInt;
    if (relation == "Orders" && column == "price") return Type::kReal;
    if (relation == "items" && column == "n") return Type::kInt;
    return std::nullopt;
  };
  EXPECT_EQ(Deparse("SELECT sum(o.qty), sum(qty * n), sum(o.qty * price), sum(i.n) FROM Orders o "
                    "JOIN items i ON o.id = i.oid",
                    SqlDialect::kPostgres, types),
            "SELECT CAST(sum(\"o\".\"qty\") AS bigint), CAST(sum((\"qty\" * \"n\")) AS bigint), "
            "sum((\"o\".\"qty\" * \"price\")), CAST(sum(\"i\".\"n\") AS bigint) FROM \"Orders\" "
            "AS \"o\" JOIN \"items\" AS \"i\" ON (\"o\".\"id\" = \"i\".\"oid\")");
}

TEST(StoreSelect, PostgresCastsFollowTheEngineWhenTheTypeIsKnown) {
  const ColumnTypeFn types = [](std::string_view, std::string_view column) -> std::optional<Type> {
    if (column == "r") return Type::kReal;
    if (column == "f") return Type::kBool;
    if (column == "at") return Type::kTime;
    return std::nullopt;
  };
  // Doubles round half away from zero, booleans go through integer, timestamps read as ISO.
  EXPECT_EQ(Deparse("SELECT r::int, (r * 2)::int, f::int, at::text, u::int FROM t",
                    SqlDialect::kPostgres, types),
            "SELECT CAST(round(CAST(\"r\" AS numeric)) AS bigint), "
            "CAST(round(CAST((\"r\" * 2) AS numeric)) AS bigint), "
            "CAST(CAST(\"f\" AS integer) AS bigint), "
            "(to_char(\"at\", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') COLLATE \"C\"), "
            "CAST(\"u\" AS bigint) FROM \"t\"");
  // SQLite's booleans are integers: their text is spelled out.
  EXPECT_EQ(Deparse("SELECT f::text FROM t", SqlDialect::kSqlite, types),
            "SELECT (CASE WHEN \"f\" THEN 'true' WHEN NOT \"f\" THEN 'false' END) FROM \"t\"");
  EXPECT_EQ(Lite("\"left\"(s, 1), right(s, 1)"), "\"left\"(\"s\", 1), \"right\"(\"s\", 1)");
}

TEST(StoreSelect, Percentiles) {
  EXPECT_EQ(Lite("percentile_cont(0.5) WITHIN GROUP (ORDER BY a), "
                 "percentile_disc(0.9) WITHIN GROUP (ORDER BY a ASC) FILTER (WHERE b)"),
            "percentile_cont(0.5, \"a\"), percentile_disc(0.9, \"a\") FILTER (WHERE \"b\")");
  EXPECT_EQ(Pg("percentile_cont(0.5) WITHIN GROUP (ORDER BY a), "
               "percentile_disc(0.9) WITHIN GROUP (ORDER BY a) FILTER (WHERE b)"),
            "percentile_cont(CAST(0.5 AS double precision)) WITHIN GROUP (ORDER BY CAST(\"a\" AS "
            "double precision)), percentile_disc(CAST(0.9 AS double precision)) WITHIN GROUP "
            "(ORDER BY \"a\") FILTER (WHERE \"b\")");
}

TEST(StoreSelect, FromJoinsWhereGroupBy) {
  const std::string sql =
      "CREATE VIEW by_day AS SELECT date_trunc('day', o.at) AS day, c.region, count(*) AS n, "
      "sum(o.total) AS total FROM orders o LEFT OUTER JOIN customers AS c ON o.customer = c.id "
      "AND c.active INNER JOIN regions r ON r.name = c.region WHERE o.status <> 'void' "
      "GROUP BY 1, c.region";
  EXPECT_EQ(Deparse(sql, SqlDialect::kSqlite),
            "SELECT date_trunc('day', \"o\".\"at\") AS \"day\", \"c\".\"region\", count(*) AS "
            "\"n\", sum(\"o\".\"total\") AS \"total\" FROM \"orders\" AS \"o\" LEFT JOIN "
            "\"customers\" AS \"c\" ON ((\"o\".\"customer\" = \"c\".\"id\") AND \"c\".\"active\") "
            "JOIN \"regions\" AS \"r\" ON (\"r\".\"name\" = \"c\".\"region\") WHERE "
            "(\"o\".\"status\" <> 'void') GROUP BY 1, \"c\".\"region\"");
}

TEST(StoreSelect, UnsupportedStatementsAndClauses) {
  EXPECT_THAT(ErrorOf("INSERT INTO t VALUES (1)"), HasSubstr("unsupported statement"));
  EXPECT_THAT(ErrorOf("SELECT 1 FROM t; SELECT 2 FROM t"), HasSubstr("multiple statements"));
  EXPECT_THAT(ErrorOf("SELEC a FROM t"), HasSubstr("syntax error at or near \"SELEC\""));
  EXPECT_THAT(ErrorOf("CREATE VIEW v (x) AS SELECT a FROM t"), HasSubstr("column list"));
  EXPECT_THAT(ErrorOf("SELECT 1"), HasSubstr("unsupported SELECT without FROM"));
  EXPECT_THAT(ErrorOf("SELECT FROM t"), HasSubstr("unsupported empty select list"));
  EXPECT_EQ(ErrorOf("SELECT DISTINCT a FROM t"),
            "view:1:8: unsupported SELECT DISTINCT (write GROUP BY)");
  EXPECT_EQ(ErrorOf("SELECT a, count(*) FROM t GROUP BY a\nHAVING count(*) > 1"),
            "view:2:1: unsupported HAVING clause");
  EXPECT_THAT(ErrorOf("SELECT a FROM t ORDER BY a"), HasSubstr("unsupported ORDER BY clause"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t LIMIT 1"), HasSubstr("unsupported LIMIT clause"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t OFFSET 1"), HasSubstr("unsupported OFFSET clause"));
  EXPECT_THAT(ErrorOf("WITH x AS (SELECT 1) SELECT a FROM t"), HasSubstr("unsupported WITH"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t UNION SELECT a FROM u"),
              HasSubstr("unsupported set operation (UNION / INTERSECT / EXCEPT)"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t GROUP BY ROLLUP (a)"), HasSubstr("ROLLUP"));
  EXPECT_THAT(ErrorOf("SELECT * FROM t"), HasSubstr("unsupported SELECT *"));
  EXPECT_THAT(ErrorOf("SELECT t.* FROM t"), HasSubstr("unsupported SELECT *"));
}

TEST(StoreSelect, UnsupportedFromItems) {
  EXPECT_EQ(ErrorOf("SELECT a FROM t, u"),
            "view:1:18: unsupported comma-separated FROM list; write JOIN ... ON a.x = b.y");
  EXPECT_THAT(ErrorOf("SELECT a FROM t RIGHT JOIN u ON t.a = u.a"), HasSubstr("RIGHT JOIN"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t FULL JOIN u ON t.a = u.a"), HasSubstr("FULL JOIN"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t CROSS JOIN u"), HasSubstr("CROSS JOIN"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t NATURAL JOIN u"), HasSubstr("NATURAL JOIN"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t JOIN u USING (a)"), HasSubstr("USING"));
  EXPECT_THAT(ErrorOf("SELECT a FROM (SELECT a FROM t) s"), HasSubstr("subquery in FROM"));
  EXPECT_THAT(ErrorOf("SELECT a FROM generate_series(1, 3) g"), HasSubstr("function in FROM"));
  EXPECT_THAT(ErrorOf("SELECT a FROM public.t"), HasSubstr("schema-qualified"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t x(b)"), HasSubstr("column aliases"));
  EXPECT_THAT(ErrorOf("SELECT a FROM t x JOIN u x ON true"), HasSubstr("used twice"));
  EXPECT_THAT(ErrorOf("SELECT z.a FROM t"), HasSubstr("unknown relation z in z.a"));
  EXPECT_THAT(ErrorOf("SELECT s.t.a FROM t"), HasSubstr("unsupported name s.t.a"));
}

TEST(StoreSelect, UnsupportedExpressions) {
  EXPECT_THAT(ExprError("(SELECT 1)"), HasSubstr("unsupported subquery"));
  EXPECT_THAT(ExprError("a IN (SELECT 1)"), HasSubstr("unsupported subquery"));
  EXPECT_THAT(ExprError("a = ANY (b)"), HasSubstr("ANY/ALL"));
  EXPECT_THAT(ExprError("a SIMILAR TO 'x'"), HasSubstr("SIMILAR TO"));
  EXPECT_THAT(ExprError("a LIKE 'x' ESCAPE '!'"), HasSubstr("ESCAPE"));
  EXPECT_THAT(ExprError("a ~ 'x'"), HasSubstr("unsupported operator ~"));
  EXPECT_THAT(ExprError("a[1]"), HasSubstr("subscript"));
  EXPECT_THAT(ExprError("ARRAY[1]"), HasSubstr("ARRAY constructor"));
  EXPECT_THAT(ExprError("ROW(1, 2)"), HasSubstr("ROW constructor"));
  EXPECT_THAT(ExprError("$1"), HasSubstr("parameter"));
  // The store's clock is not the engine's: a time-relative view is never the store's to compute.
  EXPECT_THAT(ExprError("current_timestamp"),
              HasSubstr("current_timestamp cannot be computed by the store"));
  EXPECT_THAT(ExprError("a COLLATE \"C\""), HasSubstr("COLLATE"));
  EXPECT_THAT(ExprError("a::date"), HasSubstr("unsupported type date"));
  EXPECT_THAT(ExprError("a::int[]"), HasSubstr("array type"));
  EXPECT_THAT(ExprError("a::varchar(3)"), HasSubstr("type modifier on varchar"));
  EXPECT_THAT(ExprError("a::numeric(20, 30)"), HasSubstr("numeric scale"));
  EXPECT_THAT(ExprError("a AT TIME ZONE 'UTC'"), HasSubstr("AT TIME ZONE"));
  EXPECT_EQ(ExprError("frobnicate(a)"), "view:1:8: unknown function frobnicate()");
  EXPECT_THAT(ExprError("lower(a, b)"), HasSubstr("function lower() takes 1 argument, got 2"));
  EXPECT_THAT(ExprError("now()"), HasSubstr("now() cannot be computed by the store"));
  EXPECT_THAT(ExprError("random()"), HasSubstr("not deterministic"));
  EXPECT_THAT(ExprError("date_trunc('fortnight', at)"), HasSubstr("date_trunc(): unknown unit"));
  EXPECT_THAT(ExprError("date_part('century', at)"), HasSubstr("century"));
}

TEST(StoreSelect, UnsupportedAggregates) {
  EXPECT_THAT(ExprError("string_agg(a, ',')"), HasSubstr("unsupported aggregate string_agg()"));
  EXPECT_THAT(ExprError("bool_and(a)"), HasSubstr("unsupported aggregate bool_and()"));
  EXPECT_THAT(ExprError("sum(a) OVER ()"), HasSubstr("window function sum()"));
  EXPECT_THAT(ExprError("sum(*)"), HasSubstr("unsupported sum(*)"));
  EXPECT_THAT(ExprError("sum(a ORDER BY a)"), HasSubstr("ORDER BY in sum()"));
  EXPECT_THAT(ExprError("sum(a, b)"), HasSubstr("takes 1 argument, got 2"));
  EXPECT_THAT(ExprError("lower(a) FILTER (WHERE b)"), HasSubstr("which is not an aggregate"));
  EXPECT_THAT(ExprError("percentile_cont(0.5)"), HasSubstr("needs WITHIN GROUP"));
  EXPECT_THAT(ExprError("percentile_cont(0.5) WITHIN GROUP (ORDER BY a DESC)"), HasSubstr("DESC"));
  EXPECT_THAT(ExprError("percentile_cont(0.5, 0.9) WITHIN GROUP (ORDER BY a)"),
              HasSubstr("one fraction"));
  EXPECT_THAT(ExprError("max(a) WITHIN GROUP (ORDER BY a)"), HasSubstr("WITHIN GROUP in max()"));
}

}  // namespace
}  // namespace sv::sql
