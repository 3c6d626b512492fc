// The catalog's tables (aggregates, casts, operators, nondeterministic names) and its rules.
// The scalar functions' table lives beside their implementations in functions.cc.

#include "sql/catalog.h"

#include <utility>

#include "sql/expr.h"
#include "sql/expr_internal.h"

namespace sv::sql {

using internal::Cat;

// ---- Scalar functions

bool IsNondeterministic(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "now",     "random",      "clock_timestamp", "statement_timestamp",   "timeofday",
      "setseed", "nextval",     "gen_random_uuid", "transaction_timestamp", "uuid_generate_v4",
      "currval", "txid_current"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

std::string NondeterministicMessage(std::string_view what) {
  return Cat(what,
             " is not deterministic: views must be rebuildable; use meta.log_time or an "
             "event field (now(), current_timestamp and current_date are allowed only in a "
             "derived view's WHERE or aggregate FILTER, compared as <row timestamp> < now() [+/- "
             "interval] with <, <=, > or >=)");
}

std::string ArityMessage(std::string_view name, int min, int max, size_t got) {
  std::string expected;
  if (max < 0) {
    expected = Cat("at least ", min, min == 1 ? " argument" : " arguments");
  } else if (min == max) {
    expected = Cat(min, min == 1 ? " argument" : " arguments");
  } else {
    expected = Cat(min, " to ", max, " arguments");
  }
  return Cat("function ", name, "() takes ", expected, ", got ", got);
}

absl::Status CallFunction(const FunctionSpec& spec, const Value* args, int n, Value* out) {
  if (n < spec.min_args || (spec.max_args >= 0 && n > spec.max_args)) {
    return absl::InvalidArgumentError(
        ArityMessage(spec.name, spec.min_args, spec.max_args, static_cast<size_t>(n)));
  }
  if (spec.strict) {
    for (int i = 0; i < n; ++i) {
      if (args[i].is_null()) {
        *out = Value::Null();
        return absl::OkStatus();
      }
    }
  }
  return spec.fn(args, n, out);
}

namespace {

// Int with int stays int, with real becomes real; anything else is unknown.
std::optional<Type> CommonNumeric(const std::vector<std::optional<Type>>& types) {
  std::optional<Type> out;
  for (const std::optional<Type>& t : types) {
    if (t == Type::kNull) continue;
    if (t != Type::kInt && t != Type::kReal) return std::nullopt;
    out = (out == Type::kReal || t == Type::kReal) ? Type::kReal : Type::kInt;
  }
  return out;
}

}  // namespace

std::optional<Type> FunctionResultType(const FunctionSpec& spec,
                                       const std::vector<std::optional<Type>>& arg_types,
                                       const std::optional<std::string>& first_text) {
  switch (spec.result) {
    case ResultRule::kText:
      return Type::kText;
    case ResultRule::kInt:
      return Type::kInt;
    case ResultRule::kReal:
      return Type::kReal;
    case ResultRule::kBool:
      return Type::kBool;
    case ResultRule::kTime:
      return Type::kTime;
    case ResultRule::kJson:
      return Type::kJson;
    case ResultRule::kLikeArgs:
      return CommonNumeric(arg_types);
    case ResultRule::kLikeArgOrReal:
      if (arg_types.size() > 1) return Type::kReal;
      return CommonNumeric(arg_types);
    case ResultRule::kDatePartOfField: {
      if (arg_types.size() == 2 && arg_types[1] == Type::kInterval) return Type::kReal;
      if (!first_text) return std::nullopt;
      // The engine's own answer for this field, asked of its implementation.
      const Value args[2] = {Value::Text(*first_text), Value::Time(0)};
      Value out;
      if (!spec.fn(args, 2, &out).ok()) return std::nullopt;
      return out.type();
    }
  }
  return std::nullopt;
}

// ---- Aggregates

namespace {

constexpr AggregateSpec kAggregates[] = {
    {"count", AggKind::kCount, 1, true, true},
    {"sum", AggKind::kSum, 1, true, true},
    {"avg", AggKind::kAvg, 1, true, true},
    {"min", AggKind::kMin, 1, true, true},
    {"max", AggKind::kMax, 1, true, true},
    {"bool_and", AggKind::kBoolAnd, 1, true, false},
    {"every", AggKind::kBoolAnd, 1, true, false},
    {"bool_or", AggKind::kBoolOr, 1, true, false},
    {"string_agg", AggKind::kStringAgg, 2, true, false},
    {"percentile_cont", AggKind::kPercentileCont, 1, false, true, true},
    {"percentile_disc", AggKind::kPercentileDisc, 1, false, true, true},
    {"array_agg", AggKind::kJsonArrayAgg, 1, false, true, false, true},
    {"json_agg", AggKind::kJsonArrayAgg, 1, false, true, false, true},
    {"jsonb_agg", AggKind::kJsonArrayAgg, 1, false, true, false, true},
    {"json_object_agg", AggKind::kJsonObjectAgg, 2, false, true},
    {"jsonb_object_agg", AggKind::kJsonObjectAgg, 2, false, true},
};

}  // namespace

const AggregateSpec* FindAggregate(std::string_view name) {
  for (const AggregateSpec& spec : kAggregates) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool IsOtherAggregate(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "stddev",       "stddev_pop", "stddev_samp", "variance",  "var_pop",   "var_samp",
      "bit_and",      "bit_or",     "mode",        "corr",      "covar_pop", "covar_samp",
      "regr_slope",   "xmlagg",     "range_agg",   "any_value", "rank",      "dense_rank",
      "percent_rank", "cume_dist",  "row_number"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

absl::StatusOr<Type> AggregateResultType(const AggregateSpec& spec, Type arg) {
  const bool numeric = arg == Type::kInt || arg == Type::kReal || arg == Type::kNull;
  switch (spec.kind) {
    case AggKind::kCountStar:
    case AggKind::kCount:
      return Type::kInt;
    case AggKind::kSum:
    case AggKind::kAvg:
      if (!numeric && arg != Type::kInterval) {
        return absl::InvalidArgumentError(
            Cat(spec.name, "() needs a number, not ", std::string(TypeName(arg))));
      }
      if (arg == Type::kInterval) return Type::kInterval;
      if (spec.kind == AggKind::kAvg) return Type::kReal;
      return arg == Type::kNull ? Type::kInt : arg;
    case AggKind::kMin:
    case AggKind::kMax:
      return arg == Type::kNull ? Type::kText : arg;
    case AggKind::kBoolAnd:
    case AggKind::kBoolOr:
      return Type::kBool;
    case AggKind::kStringAgg:
      return Type::kText;
    case AggKind::kJsonArrayAgg:
    case AggKind::kJsonObjectAgg:
      return Type::kJson;
    case AggKind::kPercentileCont:
    case AggKind::kPercentileDisc:
      if (!numeric && arg != Type::kInterval) {
        return absl::InvalidArgumentError(
            Cat(spec.name, "() orders numbers or intervals, not ", std::string(TypeName(arg))));
      }
      if (arg == Type::kInterval) return Type::kInterval;
      return spec.kind == AggKind::kPercentileCont || arg == Type::kNull ? Type::kReal : arg;
  }
  return Type::kNull;
}

// ---- Casts

bool LookupCastType(std::string_view name, CastTarget* target) {
  static constexpr std::pair<std::string_view, CastTarget> kTypes[] = {
      {"text", CastTarget::kText},      {"varchar", CastTarget::kText},
      {"bpchar", CastTarget::kText},    {"char", CastTarget::kText},
      {"character", CastTarget::kText}, {"string", CastTarget::kText},
      {"int", CastTarget::kInt},        {"int2", CastTarget::kInt},
      {"int4", CastTarget::kInt},       {"int8", CastTarget::kInt},
      {"integer", CastTarget::kInt},    {"bigint", CastTarget::kInt},
      {"smallint", CastTarget::kInt},   {"numeric", CastTarget::kReal},
      {"decimal", CastTarget::kReal},   {"real", CastTarget::kReal},
      {"float", CastTarget::kReal},     {"float4", CastTarget::kReal},
      {"float8", CastTarget::kReal},    {"double", CastTarget::kReal},
      {"bool", CastTarget::kBool},      {"boolean", CastTarget::kBool},
      {"timestamp", CastTarget::kTime}, {"timestamptz", CastTarget::kTime},
      {"date", CastTarget::kDate},      {"interval", CastTarget::kInterval},
  };
  for (const auto& [n, t] : kTypes) {
    if (n == name) {
      *target = t;
      return true;
    }
  }
  return false;
}

Type CastResultType(CastTarget target) {
  switch (target) {
    case CastTarget::kText:
      return Type::kText;
    case CastTarget::kInt:
      return Type::kInt;
    case CastTarget::kReal:
      return Type::kReal;
    case CastTarget::kBool:
      return Type::kBool;
    case CastTarget::kTime:
    case CastTarget::kDate:
      return Type::kTime;
    case CastTarget::kInterval:
      return Type::kInterval;
  }
  return Type::kText;
}

// ---- Operators

namespace {

constexpr std::pair<std::string_view, BinOp> kBinOps[] = {
    {"+", BinOp::kAdd}, {"-", BinOp::kSub}, {"*", BinOp::kMul},     {"/", BinOp::kDiv},
    {"%", BinOp::kMod}, {"^", BinOp::kPow}, {"||", BinOp::kConcat}, {"=", BinOp::kEq},
    {"<>", BinOp::kNe}, {"!=", BinOp::kNe}, {"<", BinOp::kLt},      {"<=", BinOp::kLe},
    {">", BinOp::kGt},  {">=", BinOp::kGe}};

}  // namespace

bool LookupBinOp(std::string_view op, BinOp* out) {
  for (const auto& [symbol, binop] : kBinOps) {
    if (symbol == op) {
      *out = binop;
      return true;
    }
  }
  return false;
}

std::string_view BinOpSymbol(BinOp op) {
  for (const auto& [symbol, binop] : kBinOps) {
    if (binop == op) return symbol;
  }
  return "?";
}

bool IsComparison(BinOp op) {
  return op == BinOp::kEq || op == BinOp::kNe || op == BinOp::kLt || op == BinOp::kLe ||
         op == BinOp::kGt || op == BinOp::kGe;
}

std::optional<Type> BinOpResultType(BinOp op, std::optional<Type> l, std::optional<Type> r) {
  if (IsComparison(op)) return Type::kBool;
  switch (op) {
    case BinOp::kConcat:
      return Type::kText;
    case BinOp::kPow:
      return Type::kReal;
    default:
      break;
  }
  if (l == Type::kNull) return r;
  if (r == Type::kNull) return l;
  if (!l || !r) return std::nullopt;
  const bool ln = *l == Type::kInt || *l == Type::kReal;
  const bool rn = *r == Type::kInt || *r == Type::kReal;
  if (ln && rn) return (*l == Type::kReal || *r == Type::kReal) ? Type::kReal : Type::kInt;
  const bool add = op == BinOp::kAdd, sub = op == BinOp::kSub;
  if (sub && l == Type::kTime && r == Type::kTime) return Type::kInterval;
  if ((add || sub) && l == Type::kTime && r == Type::kInterval) return Type::kTime;
  if (add && l == Type::kInterval && r == Type::kTime) return Type::kTime;
  if ((add || sub) && l == Type::kInterval && r == Type::kInterval) return Type::kInterval;
  if ((op == BinOp::kMul || op == BinOp::kDiv) && l == Type::kInterval && rn) {
    return Type::kInterval;
  }
  if (op == BinOp::kMul && ln && r == Type::kInterval) return Type::kInterval;
  return std::nullopt;
}

absl::Status CompareValues(std::string_view what, const Value& a, const Value& b, int* cmp) {
  return internal::CompareValues(what, a, b, cmp);
}

absl::Status TypeError(std::string_view what, const Value& value) {
  return internal::TypeError(what, value);
}

absl::StatusOr<Value> ApplyBinOp(BinOp op, Value left, Value right) {
  return EvalConstant(*internal::MakeBinary(op, internal::MakeConst(std::move(left)),
                                            internal::MakeConst(std::move(right))));
}

absl::StatusOr<Value> ApplyLike(Value text, Value pattern, bool negate, bool icase) {
  return EvalConstant(*internal::MakeLike(internal::MakeConst(std::move(text)),
                                          internal::MakeConst(std::move(pattern)), negate, icase));
}

absl::StatusOr<Value> ApplyMinMax(std::vector<Value> args, bool greatest) {
  std::vector<ExprPtr> consts;
  consts.reserve(args.size());
  for (Value& v : args) consts.push_back(internal::MakeConst(std::move(v)));
  return EvalConstant(*internal::MakeMinMax(std::move(consts), greatest));
}

}  // namespace sv::sql
