#pragma once
// The bound tree: SQL as the binder (bind.cc) reads it from libpg_query's parse tree, once, with
// every name of a function, aggregate, cast and operator looked up in the catalog, constants
// read, written spellings recovered, and types inferred (types.cc). The evaluator (lower.cc), the
// incremental maintainer (projection/derived_compile via select.h) and the printer for the stores
// (print.cc) all consume it; none of them reads the parse tree.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/location.h"
#include "common/value.h"
#include "sql/catalog.h"

namespace sv::sql {

enum class BoundKind {
  kConst,      // value (literal: a number as written)
  kColumn,     // names as written; subscripts after them; element_slot for subquery aliases
  kNegate,     // -args[0]
  kUnaryPlus,  // +args[0]
  kBinary,     // args[0] op args[1]
  kAnd,        // args...
  kOr,         // args...
  kNot,        // NOT args[0]
  kNullTest,   // args[0] IS [NOT (negate)] NULL
  kBoolTest,   // args[0] IS [NOT] TRUE/FALSE/UNKNOWN
  kDistinct,   // args[0] IS [NOT (negate)] DISTINCT FROM args[1]
  kNullIf,     // NULLIF(args[0], args[1])
  kIn,         // args[0] [NOT] IN (args[1..])
  kBetween,    // args[0] [NOT] BETWEEN [SYMMETRIC] args[1] AND args[2]
  kLike,       // args[0] [NOT] [I]LIKE args[1]
  kCase,       // [operand] (when, then)... [else]: see has_operand / has_else
  kCoalesce,   // args...
  kMinMax,     // GREATEST / LEAST (greatest) of args
  kCast,       // CAST(args[0] AS cast_target [numeric scale])
  kFunction,   // function(args...)
  kAggregate,  // aggregate(args...) [FILTER (WHERE filter)] [WITHIN GROUP (ORDER BY order_by)]
  kSubquery,   // (SELECT aggregate FROM args[0] AS alias [WHERE filter]): args[1] the aggregate
  kNow,        // now() / current_timestamp (a derived view's WHERE or FILTER only): name as written
};

struct BoundExpr;
using BoundPtr = std::unique_ptr<BoundExpr>;

struct BoundExpr {
  BoundKind kind = BoundKind::kConst;
  int64_t offset = 0;  // byte offset of the construct in the bound text
  // The static type: set by InferTypes; nullopt when only known at run time (a JSON field).
  std::optional<Type> type;
  // Why `type` is unknown, for a caller that needs it ("cannot tell the type of f(); cast it").
  std::string untyped_reason;
  std::vector<BoundPtr> args;

  Value value;          // kConst
  std::string literal;  // kConst: a number as written (the printer keeps its form)

  // kColumn: the dotted name as written (original case) and as PostgreSQL folds it; `path` are
  // the steps after subscripts ("[2]" for an index, else a field name).
  std::vector<std::string> names;
  std::vector<std::string> folded;
  std::vector<std::string> path;
  // > 0: the first name is the alias of an enclosing array subquery, whose element is read
  // from this element slot.
  int element_slot = 0;

  BinOp op = BinOp::kAdd;           // kBinary
  BoolTest test = BoolTest::kTrue;  // kBoolTest
  bool negate = false;              // kNullTest, kDistinct, kIn, kBetween, kLike
  bool symmetric = false;           // kBetween
  bool icase = false;               // kLike
  bool greatest = false;            // kMinMax
  bool has_operand = false;         // kCase: args[0] is CASE's operand
  bool has_else = false;            // kCase: the last arg is ELSE's

  CastTarget cast = CastTarget::kText;  // kCast
  int scale = -1;                       // kCast: numeric(p, s)
  std::string type_name;                // kCast: as folded ("numeric", "int8")

  std::string name;                          // kFunction / kAggregate: as called, lower case
  const FunctionSpec* function = nullptr;    // kFunction
  const AggregateSpec* aggregate = nullptr;  // kAggregate
  bool star = false;                         // kAggregate: count(*)
  bool distinct = false;                     // kAggregate
  std::vector<BoundPtr> order_by;            // kAggregate: WITHIN GROUP (ORDER BY ...)
  std::vector<bool> order_desc;              // kAggregate: per order_by, DESC (array_agg)
  BoundPtr filter;                           // kAggregate: FILTER; kSubquery: WHERE
  std::string alias;                         // kSubquery: the element's alias (folded)

  // The written dotted name of a kColumn ("e.items[1].qty").
  std::string Display() const;
};

// Structure without positions or spellings: equal for `date_trunc('day', t)` written twice.
std::string Fingerprint(const BoundExpr& expr);

// The type of a column a statement reads (a kColumn node); nullopt when unknown.
using ColumnTyper = std::function<std::optional<Type>(const BoundExpr& column)>;

// Sets `type` on every node of `expr`, bottom-up, by the catalog's rules.
void InferTypes(BoundExpr* expr, const ColumnTyper& column_type);

// What is bound, and which constructs are allowed.
enum class BindMode {
  kHandler,  // a view handler's scalar: event fields, array subqueries; no aggregates
  kView,     // a derived view's statement: columns of views, aggregates; no subqueries
};

// Binds `SELECT <expression>` (a handler's column): one expression, no clauses. Errors are
// InvalidArgument "file:line:col: problem" located in `sql` through `where`.
absl::StatusOr<BoundPtr> BindExpression(std::string_view sql, const Location& where);

// A statement: `CREATE VIEW name AS SELECT ...` or a bare SELECT.
struct BoundRelation {
  std::string name;    // as written
  std::string folded;  // as PostgreSQL folds it
  std::string alias;   // folded alias, or the folded name when none is written
  bool aliased = false;
  int64_t offset = 0;
};

struct BoundJoin {
  BoundRelation relation;
  bool left = false;  // LEFT [OUTER] JOIN; otherwise INNER
  BoundPtr on;
  int64_t offset = 0;
};

struct BoundTarget {
  std::string name;  // the alias, else what PostgreSQL would name the column
  bool aliased = false;
  BoundPtr expr;
  int64_t offset = 0;
};

struct BoundSelect {
  std::string text;  // the statement, which every offset points into
  Location where;
  bool is_view = false;
  std::string view_name;  // CREATE VIEW's name, folded
  bool view_has_columns = false;
  BoundRelation from;
  std::vector<BoundJoin> joins;
  BoundPtr where_clause;
  std::vector<BoundPtr> group_by;
  bool grouped = false;
  std::vector<BoundTarget> targets;

  // InvalidArgument "file:line:col: message" at a byte offset of the statement.
  absl::Status Error(int64_t offset, std::string_view message) const;
};

absl::StatusOr<std::unique_ptr<BoundSelect>> BindSelect(std::string_view sql,
                                                        const Location& where);

}  // namespace sv::sql
