#include "store/sqlite/sqlite_functions.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_aggregate.h"
#include "common/json_value.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "common/value.h"
#include "sql/catalog.h"
#include "store/sqlite/sqlite_util.h"

namespace sv::store::sqlite {
namespace {

Value FromSqlite(sqlite3_value* v) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      return Value::Int(sqlite3_value_int64(v));
    case SQLITE_FLOAT:
      return Value::Real(sqlite3_value_double(v));
    case SQLITE_NULL:
      return Value::Null();
    default: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(v));
      return Value::Text(std::string(text != nullptr ? text : "", sqlite3_value_bytes(v)));
    }
  }
}

std::vector<Value> Args(int argc, sqlite3_value** argv) {
  std::vector<Value> args;
  args.reserve(argc);
  for (int i = 0; i < argc; ++i) args.push_back(FromSqlite(argv[i]));
  return args;
}

// Booleans as 1/0 and timestamps as FormatTime text, as the SQLite store writes them.
void SetResult(sqlite3_context* ctx, const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      sqlite3_result_null(ctx);
      return;
    case Type::kBool:
    case Type::kInt:
    case Type::kInterval:
      sqlite3_result_int64(ctx, v.as_int());
      return;
    case Type::kReal:
      sqlite3_result_double(ctx, v.as_real());
      return;
    case Type::kText:
    case Type::kJson:
      sqlite3_result_text64(ctx, v.as_text().data(), v.as_text().size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8);
      return;
    case Type::kTime: {
      const std::string text = FormatTime(v.as_int());
      sqlite3_result_text64(ctx, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      return;
    }
  }
}

void SetError(sqlite3_context* ctx, const absl::Status& status) {
  sqlite3_result_error(ctx, status.message().data(), static_cast<int>(status.message().size()));
}

void SetResult(sqlite3_context* ctx, const absl::StatusOr<Value>& v) {
  if (v.ok()) {
    SetResult(ctx, *v);
  } else {
    SetError(ctx, v.status());
  }
}

void CallEngineFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  const auto* spec = static_cast<const sql::FunctionSpec*>(sqlite3_user_data(ctx));
  std::vector<Value> args = Args(argc, argv);
  Value out;
  const absl::Status s = sql::CallFunction(*spec, args.data(), argc, &out);
  if (!s.ok()) return SetError(ctx, s);
  SetResult(ctx, out);
}

// sv_cast(x, type [, scale]).
void Cast(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  // The names the printer writes (sql::CastTargetName).
  static constexpr sql::CastTarget kTargets[] = {sql::CastTarget::kInt, sql::CastTarget::kReal,
                                                 sql::CastTarget::kText, sql::CastTarget::kBool,
                                                 sql::CastTarget::kTime};
  Value value = FromSqlite(argv[0]);
  const Value type = FromSqlite(argv[1]);
  const int scale = argc > 2 ? sqlite3_value_int(argv[2]) : -1;
  for (const sql::CastTarget target : kTargets) {
    if (type.type() != Type::kText || type.as_text() != sql::CastTargetName(target)) continue;
    const absl::Status s = sql::CastValue(target, scale, &value);
    if (!s.ok()) return SetError(ctx, s);
    return SetResult(ctx, value);
  }
  SetError(ctx,
           absl::InvalidArgumentError(absl::StrCat("sv_cast(): unknown type ", type.ToString())));
}

// sv_like / sv_ilike (user data: non-null for ILIKE) through the engine's LIKE node.
void Like(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const bool icase = sqlite3_user_data(ctx) != nullptr;
  SetResult(ctx, sql::ApplyLike(FromSqlite(argv[0]), FromSqlite(argv[1]), /*negate=*/false, icase));
}

// greatest / least (user data: non-null for greatest) through the engine's node.
void MinMax(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc == 0) return SetError(ctx, absl::InvalidArgumentError("greatest/least need arguments"));
  SetResult(ctx, sql::ApplyMinMax(Args(argc, argv), sqlite3_user_data(ctx) != nullptr));
}

// A value as the deparser typed it (sql/deparse.cc TemporalKind): SQLite stores timestamps as
// text and intervals as integers, so their type travels beside them.
absl::StatusOr<Value> Typed(sqlite3_value* v, std::string_view tag) {
  Value value = FromSqlite(v);
  if (value.is_null()) return value;
  if (tag == "t" && value.type() == Type::kText) {
    std::optional<int64_t> t = ParseTime(value.as_text());
    if (!t) return absl::InvalidArgumentError(absl::StrCat("not a timestamp: ", value.ToString()));
    return Value::Time(*t);
  }
  if (tag == "i" && value.type() == Type::kInt) return Value::Interval(value.as_int());
  return value;
}

// sv_time_arith(op, a, a_kind, b, b_kind): timestamp and interval arithmetic by the engine.
void TimeArith(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const Value op = FromSqlite(argv[0]);
  absl::StatusOr<Value> a = Typed(argv[1], FromSqlite(argv[2]).ToString());
  if (!a.ok()) return SetError(ctx, a.status());
  absl::StatusOr<Value> b = Typed(argv[3], FromSqlite(argv[4]).ToString());
  if (!b.ok()) return SetError(ctx, b.status());
  sql::BinOp bin;
  if (op.type() == Type::kText && sql::LookupBinOp(op.as_text(), &bin)) {
    return SetResult(ctx, sql::ApplyBinOp(bin, *std::move(a), *std::move(b)));
  }
  SetError(ctx, absl::InvalidArgumentError(
                    absl::StrCat("sv_time_arith(): unknown operator ", op.ToString())));
}

// sv_interval_part(field, interval): date_part of an interval (an integer in SQLite).
void IntervalPart(sqlite3_context* ctx, int, sqlite3_value** argv) {
  absl::StatusOr<Value> interval = Typed(argv[1], "i");
  if (!interval.ok()) return SetError(ctx, interval.status());
  const Value args[] = {FromSqlite(argv[0]), *std::move(interval)};
  Value out;
  const absl::Status s = sql::CallFunction(*sql::FindFunction("date_part"), args, 2, &out);
  if (!s.ok()) return SetError(ctx, s);
  SetResult(ctx, out);
}

// ---- percentile_cont(p, x) / percentile_disc(p, x) (user data: non-null for cont)

struct Percentile {
  bool started = false;
  bool null_fraction = false;  // a NULL fraction makes the result NULL, as in PostgreSQL
  double fraction = 0;
  std::vector<Value> values;
};

void PercentileStep(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const bool cont = sqlite3_user_data(ctx) != nullptr;
  const char* name = cont ? "percentile_cont()" : "percentile_disc()";
  // SQLite keeps a pointer-sized slot per group; the state behind it is ours.
  auto** slot = static_cast<Percentile**>(
      sqlite3_aggregate_context(ctx, sizeof(Percentile*)));  // NOLINT(bugprone-sizeof-expression)
  if (slot == nullptr) return sqlite3_result_error_nomem(ctx);
  if (*slot == nullptr) *slot = new Percentile;  // deleted by PercentileFinal
  Percentile& state = **slot;
  if (!state.started) {
    // The fraction is a constant of the group; PostgreSQL reads it once too.
    state.started = true;
    const Value p = FromSqlite(argv[0]);
    if (p.is_null()) {
      state.null_fraction = true;
    } else if (!p.is_number()) {
      return SetError(ctx, sql::TypeError(name, p));
    } else if (!(p.as_number() >= 0 && p.as_number() <= 1)) {
      return SetError(
          ctx, absl::InvalidArgumentError(absl::StrCat(name, ": percentile value ", p.as_number(),
                                                       " is not between 0 and 1")));
    } else {
      state.fraction = p.as_number();
    }
  }
  Value x = FromSqlite(argv[1]);
  if (x.is_null()) return;
  if (cont && !x.is_number()) return SetError(ctx, sql::TypeError(name, x));
  if (!cont && !state.values.empty()) {
    int cmp;
    const absl::Status s = sql::CompareValues(name, state.values.front(), x, &cmp);
    if (!s.ok()) return SetError(ctx, s);
  }
  state.values.push_back(std::move(x));
}

void PercentileFinal(sqlite3_context* ctx) {
  const bool cont = sqlite3_user_data(ctx) != nullptr;
  auto** slot = static_cast<Percentile**>(sqlite3_aggregate_context(ctx, 0));
  std::unique_ptr<Percentile> state(slot != nullptr ? *slot : nullptr);
  if (slot != nullptr) *slot = nullptr;
  if (state == nullptr || state->null_fraction || state->values.empty()) {
    return sqlite3_result_null(ctx);
  }
  std::vector<Value>& v = state->values;
  const double p = state->fraction;
  const size_t n = v.size();
  if (cont) {
    std::vector<double> x;
    x.reserve(n);
    for (const Value& value : v) x.push_back(value.as_number());
    std::sort(x.begin(), x.end());
    // PostgreSQL: linear interpolation between the rows around p * (n - 1).
    const double pos = p * static_cast<double>(n - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const auto hi = static_cast<size_t>(std::ceil(pos));
    if (lo == hi) return sqlite3_result_double(ctx, x[lo]);
    return sqlite3_result_double(ctx, x[lo] + (x[hi] - x[lo]) * (pos - static_cast<double>(lo)));
  }
  // Every value compared with the first in PercentileStep, so these comparisons succeed.
  std::sort(v.begin(), v.end(), [](const Value& a, const Value& b) {
    int cmp = 0;
    sql::CompareValues("percentile_disc()", a, b, &cmp).IgnoreError();
    return cmp < 0;
  });
  // PostgreSQL: the first value whose position in the order reaches p (row ceil(p * n)).
  const auto row = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  SetResult(ctx, v[std::min(std::max<size_t>(row, 1), n) - 1]);
}

// ---- sv_json_agg(spec, value | key, [value | order keys...]): array_agg and json_object_agg
// as the engine maintains them (common/json_aggregate). spec: 'a' (array) or 'o' (object); 'd'
// (DISTINCT) or '-'; the value's type code (Printer::JsonAggregate); then 'a' or 'd' per ORDER BY
// key.

Value TypedValue(sqlite3_value* v, char type) {
  Value value = FromSqlite(v);
  if (value.is_null()) return value;
  if (type == 'b') return Value::Bool(value.is_number() && value.as_number() != 0);
  if (type == 'j' && value.type() == Type::kText) {
    absl::StatusOr<std::string> json = CanonicalJson(value.as_text());
    if (json.ok()) return Value::Json(*std::move(json));
  }
  return value;
}

void JsonAggStep(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto** slot = static_cast<JsonAggregate**>(sqlite3_aggregate_context(
      ctx, sizeof(JsonAggregate*)));  // NOLINT(bugprone-sizeof-expression)
  if (slot == nullptr) return sqlite3_result_error_nomem(ctx);
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const std::string_view spec(text != nullptr ? text : "", sqlite3_value_bytes(argv[0]));
  if (spec.size() < 3 || argc < 2) {
    return SetError(ctx, absl::InvalidArgumentError("sv_json_agg(): bad arguments"));
  }
  const bool object = spec[0] == 'o';
  if (*slot == nullptr) {  // deleted by JsonAggFinal
    std::vector<bool> descending;
    for (char dir : spec.substr(3)) descending.push_back(dir == 'd');
    *slot = new JsonAggregate(object, spec[1] == 'd', std::move(descending));
  }
  std::vector<Value> inputs;
  for (int i = 1; i < argc; ++i) {
    const bool is_value = object ? i == 2 : i == 1;
    inputs.push_back(is_value ? TypedValue(argv[i], spec[2]) : FromSqlite(argv[i]));
  }
  const size_t want = object ? 2 : 1 + (spec.size() - 3);
  if (inputs.size() != want) {
    return SetError(ctx, absl::InvalidArgumentError("sv_json_agg(): bad arguments"));
  }
  (*slot)->Add(1, inputs.data());
}

// sv_json_build(spec, args...): json_build_object ('o'), json_build_array ('a') or to_json
// ('v'), then a type code per argument (Printer::JsonFunction).
void JsonBuild(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const std::string_view spec(text != nullptr ? text : "", sqlite3_value_bytes(argv[0]));
  if (spec.size() != static_cast<size_t>(argc)) {
    return SetError(ctx, absl::InvalidArgumentError("sv_json_build(): bad arguments"));
  }
  std::vector<Value> args;
  for (int i = 1; i < argc; ++i) args.push_back(TypedValue(argv[i], spec[i]));
  const sql::FunctionSpec* fn = sql::FindFunction(spec[0] == 'o'   ? "json_build_object"
                                                  : spec[0] == 'a' ? "json_build_array"
                                                                   : "to_json");
  Value out;
  const absl::Status status =
      sql::CallFunction(*fn, args.data(), static_cast<int>(args.size()), &out);
  if (!status.ok()) return SetError(ctx, status);
  SetResult(ctx, out);
}

void JsonAggFinal(sqlite3_context* ctx) {
  auto** slot = static_cast<JsonAggregate**>(sqlite3_aggregate_context(ctx, 0));
  std::unique_ptr<JsonAggregate> state(slot != nullptr ? *slot : nullptr);
  if (slot != nullptr) *slot = nullptr;
  if (state == nullptr) return sqlite3_result_null(ctx);
  SetResult(ctx, state->Result());
}

}  // namespace

absl::Status RegisterFunctions(sqlite3* db) {
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  using Fn = void (*)(sqlite3_context*, int, sqlite3_value**);
  auto add = [db](const char* name, int args, const void* data, Fn fn, Fn step = nullptr,
                  void (*final)(sqlite3_context*) = nullptr) -> absl::Status {
    const int rc = sqlite3_create_function_v2(db, name, args, kFlags, const_cast<void*>(data), fn,
                                              step, final, nullptr);
    if (rc != SQLITE_OK) return Error(db, rc, absl::StrCat("register function ", name));
    return absl::OkStatus();
  };
  static const int kTrue = 1;
  // The engine's scalar functions under each of their names, as the printer calls them.
  for (const sql::FunctionSpec& spec : sql::ScalarFunctions()) {
    const std::string name(spec.name);
    if (spec.max_args < 0) {
      SV_RETURN_IF_ERROR(add(name.c_str(), -1, &spec, CallEngineFunction));
      continue;
    }
    // One registration per arity: SQLite prefers a built-in of the exact arity to a variadic one.
    for (int n = spec.min_args; n <= spec.max_args; ++n) {
      SV_RETURN_IF_ERROR(add(name.c_str(), n, &spec, CallEngineFunction));
    }
  }
  SV_RETURN_IF_ERROR(add("sv_cast", 2, nullptr, Cast));
  SV_RETURN_IF_ERROR(add("sv_cast", 3, nullptr, Cast));
  SV_RETURN_IF_ERROR(add("sv_time_arith", 5, nullptr, TimeArith));
  SV_RETURN_IF_ERROR(add("sv_interval_part", 2, nullptr, IntervalPart));
  SV_RETURN_IF_ERROR(add("sv_like", 2, nullptr, Like));
  SV_RETURN_IF_ERROR(add("sv_ilike", 2, &kTrue, Like));
  SV_RETURN_IF_ERROR(add("greatest", -1, &kTrue, MinMax));
  SV_RETURN_IF_ERROR(add("least", -1, nullptr, MinMax));
  SV_RETURN_IF_ERROR(add("sv_json_build", -1, nullptr, JsonBuild));
  SV_RETURN_IF_ERROR(add("sv_json_agg", -1, nullptr, nullptr, JsonAggStep, JsonAggFinal));
  SV_RETURN_IF_ERROR(add("percentile_cont", 2, &kTrue, nullptr, PercentileStep, PercentileFinal));
  return add("percentile_disc", 2, nullptr, nullptr, PercentileStep, PercentileFinal);
}

}  // namespace sv::store::sqlite
