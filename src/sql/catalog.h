#pragma once
// The one catalog of what SQL may name: scalar functions, aggregates, cast types and the
// operators, each with its argument counts, result-type rule, determinism, evaluation and how
// each store dialect spells it. The binder, the evaluator, the printer and the SQLite store's
// registered functions all read it; nothing else keeps a list of names.
//
// Also the value-level operations a store runs when it evaluates the engine's SQL itself
// (store/sqlite registers them as SQLite functions), so both compute exactly the same thing.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"

namespace sv::sql {

// ---- Scalar functions

// Called with exactly the arguments the catalog allows; for strict functions none is NULL.
using FnImpl = absl::Status (*)(const Value* args, int n, Value* out);

// How a function's result type follows from its arguments' types.
enum class ResultRule {
  kText,
  kInt,
  kReal,
  kBool,
  kTime,
  kLikeArgs,         // the common numeric type of the arguments: int with int stays int
  kLikeArgOrReal,    // round/trunc: one argument: like it; with digits: real
  kDatePartOfField,  // int or real by the (constant) field; real for an interval's epoch
  kJson,
};

// How PostgreSQL must be told to compute what the engine computes (SQLite calls the engine's
// own implementation, registered under the function's name).
enum class PgSpelling {
  kPlain,
  kNumericRound,  // round/trunc: via numeric (PostgreSQL lacks the double precision forms)
  kNumericLog,    // log(b, x): via numeric
  kNumericMod,    // mod of reals: via numeric
  kDatePart,      // EXTRACT cast to the engine's integer or double precision
  // JSON builders: PostgreSQL's jsonb forms, timestamps given as the engine's text; SQLite's
  // sv_json_build, told the arguments' types.
  kJsonBuildObject,
  kJsonBuildArray,
  kToJson,
};

struct FunctionSpec {
  std::string_view name;
  int min_args;
  int max_args;  // -1: variadic
  bool strict;   // any NULL argument -> NULL without calling fn
  FnImpl fn;
  ResultRule result;
  PgSpelling pg = PgSpelling::kPlain;
  // SQLite reads the name as a keyword (LEFT, RIGHT): quote it in a call.
  bool sqlite_keyword = false;
};

// Looks a lower-case name up, aliases included (extract -> date_part, position -> strpos,
// ceiling -> ceil, ...); nullptr when unknown.
const FunctionSpec* FindFunction(std::string_view name);
// Every scalar function under every name it answers to.
std::span<const FunctionSpec> ScalarFunctions();
// now(), random(), ... : known to PostgreSQL, refused because views must be rebuildable.
bool IsNondeterministic(std::string_view name);
std::string NondeterministicMessage(std::string_view what);
// Calls `spec` with `n` arguments: checks the count, applies strictness.
absl::Status CallFunction(const FunctionSpec& spec, const Value* args, int n, Value* out);
// The result type of `spec` for arguments of `arg_types` (nullopt: known at run time only).
// `first_text` is the first argument's value when it is a text constant (date_part's field).
std::optional<Type> FunctionResultType(const FunctionSpec& spec,
                                       const std::vector<std::optional<Type>>& arg_types,
                                       const std::optional<std::string>& first_text);
// "function f() takes 1 to 2 arguments, got 3".
std::string ArityMessage(std::string_view name, int min, int max, size_t got);

// ---- Aggregates

enum class AggKind {
  kCountStar,
  kCount,
  kSum,
  kAvg,
  kMin,
  kMax,
  kBoolAnd,
  kBoolOr,
  kStringAgg,
  kPercentileCont,
  kPercentileDisc,
  kJsonArrayAgg,   // array_agg, json_agg, jsonb_agg: a JSON array
  kJsonObjectAgg,  // json_object_agg, jsonb_object_agg: a JSON object
};

struct AggregateSpec {
  std::string_view name;
  AggKind kind;
  int args;                  // arguments besides WITHIN GROUP's ORDER BY
  bool in_array_subquery;    // (SELECT sum(i.x) FROM e.items AS i)
  bool in_derived_view;      // maintained incrementally over a GROUP BY
  bool ordered_set = false;  // percentile_*(f) WITHIN GROUP (ORDER BY x)
  bool order_by = false;     // array_agg(x ORDER BY y [DESC], ...)
};

// nullptr when `name` is not an aggregate the engine computes.
const AggregateSpec* FindAggregate(std::string_view name);
// Aggregates PostgreSQL has that the engine does not compute anywhere (stddev, array_agg, ...).
bool IsOtherAggregate(std::string_view name);
// The result type of an aggregate over `arg` (kNull: the argument is NULL or there is none);
// InvalidArgument naming the aggregate when it cannot take `arg`.
absl::StatusOr<Type> AggregateResultType(const AggregateSpec& spec, Type arg);

// ---- Casts

enum class CastTarget { kText, kInt, kReal, kBool, kTime, kDate, kInterval };
// A type name as PostgreSQL folds it ("int4", "float8", "timestamptz", ...) -> cast target.
bool LookupCastType(std::string_view name, CastTarget* target);
std::string_view CastTargetName(CastTarget target);  // "integer", "real", ...
Type CastResultType(CastTarget target);
// Casts a non-NULL value in place; `scale` >= 0 rounds reals to that many digits (numeric(p,s)).
absl::Status CastValue(CastTarget target, int scale, Value* value);

// ---- Operators and value operations

enum class BinOp { kAdd, kSub, kMul, kDiv, kMod, kPow, kConcat, kEq, kNe, kLt, kLe, kGt, kGe };
// "+" -> kAdd, "!=" -> kNe, ...; false for anything else.
bool LookupBinOp(std::string_view op, BinOp* out);
std::string_view BinOpSymbol(BinOp op);  // as PostgreSQL writes it ("<>" for kNe)
bool IsComparison(BinOp op);             // =, <>, <, <=, >, >=
// The result type of `l op r` (nullopt: unknown, or an error the evaluator reports).
std::optional<Type> BinOpResultType(BinOp op, std::optional<Type> l, std::optional<Type> r);

enum class BoolTest { kTrue, kNotTrue, kFalse, kNotFalse, kUnknown, kNotUnknown };

absl::StatusOr<Value> ApplyBinOp(BinOp op, Value left, Value right);
absl::StatusOr<Value> ApplyLike(Value text, Value pattern, bool negate, bool icase);
absl::StatusOr<Value> ApplyMinMax(std::vector<Value> args, bool greatest);
// Three-way comparison of non-NULL values as the engine orders them; `what` names the caller
// in the error ("operator =", "GREATEST").
absl::Status CompareValues(std::string_view what, const Value& a, const Value& b, int* cmp);
// InvalidArgument "<what> cannot take <value>".
absl::Status TypeError(std::string_view what, const Value& value);

}  // namespace sv::sql
