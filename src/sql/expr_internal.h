#pragma once
// Internals shared by the expression compiler's translation units: value helpers (text form,
// comparison, casts), the function table, the time functions and the node factories. Not part
// of the sql/ public API.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "common/value.h"
#include "simdjson.h"
#include "sql/catalog.h"
#include "sql/expr.h"

namespace sv::sql::internal {

// The catalog's types and value operations, under the names the evaluator's files use.
using ::sv::sql::AggKind;
using ::sv::sql::BinOp;
using ::sv::sql::BoolTest;
using ::sv::sql::CastTarget;
using ::sv::sql::CastTargetName;
using ::sv::sql::CastValue;
using ::sv::sql::FindFunction;
using ::sv::sql::FnImpl;
using ::sv::sql::FunctionSpec;

// ---------------------------------------------------------------------------------------------
// Strings. This abseil build's absl::string_view is not std::string_view, so absl::StrCat and
// friends do not take std::string_view; these small helpers do.

inline void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
inline void AppendPiece(std::string* out, const char* s) { out->append(s); }
inline void AppendPiece(std::string* out, const std::string& s) { out->append(s); }
inline void AppendPiece(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
         !std::is_same_v<T, char>) inline void AppendPiece(std::string* out, T v) {
  out->append(std::to_string(v));
}
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(&out, args), ...);
  return out;
}
template <typename... Args>
void Append(std::string* out, const Args&... args) {
  (AppendPiece(out, args), ...);
}
std::string Lower(std::string_view s);  // ASCII
std::string Upper(std::string_view s);  // ASCII
std::string_view TrimBlanks(std::string_view s);
std::string Join(const std::vector<std::string>& parts, std::string_view separator);
inline std::string_view MessageOf(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

// ---------------------------------------------------------------------------------------------
// Values.

// SQL spelling of a type for messages: "integer", "real", "text", "boolean", "timestamp", ...
std::string_view SqlTypeName(Type type);
// A value for messages: "text '3'", "integer 2", "real 2.5", "boolean true", "null".
std::string Describe(const Value& value);
// Appends the text form of a non-NULL value: ints plain, reals shortest round-trip, booleans
// true/false, timestamps ISO-8601, intervals PostgreSQL style ("1 day 02:00:00").
void AppendText(const Value& value, std::string* out);
std::string ToText(const Value& value);
// The catalog's value operations (catalog.h forwards to these).
absl::Status TypeError(std::string_view what, const Value& value);
absl::Status CompareValues(std::string_view what, const Value& a, const Value& b, int* cmp);

// Whole-string parsers (surrounding blanks allowed).
bool ParseInt(std::string_view text, int64_t* out);
bool ParseReal(std::string_view text, double* out);
bool ParseBool(std::string_view text, bool* out);
// "2 days", "1 hour 30 minutes", "1.5 hours", "01:30:00", "-1 day", "PT1H30M", "3 days ago".
// Units up to weeks; months and years have no fixed length and are rejected.
absl::Status ParseInterval(std::string_view text, int64_t* micros);
std::string FormatInterval(int64_t micros);

// round(x, n) exactly as std::round(x * 10^n) / 10^n.
double RoundTo(double x, int64_t digits);

// ---------------------------------------------------------------------------------------------
// Calendar (proleptic Gregorian, UTC).

int64_t DaysFromCivil(int64_t year, int month, int day);
void CivilFromDays(int64_t days, int64_t* year, int* month, int* day);
// Floor division / modulo for negative timestamps.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
inline int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }
constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

// Compile-time checks of constant unit / field arguments; the message names the bad unit.
absl::Status CheckDateTruncUnit(std::string_view unit);
absl::Status CheckDatePartField(std::string_view field);

// ---------------------------------------------------------------------------------------------
// Functions.

// Time functions (time_functions.cc), registered in the function table.
absl::Status FnDateTrunc(const Value* args, int n, Value* out);
// json_build_object(k, v, ...), json_build_array(v, ...), to_json(v) (json_functions.cc).
absl::Status FnJsonBuildObject(const Value* args, int n, Value* out);
absl::Status FnJsonBuildArray(const Value* args, int n, Value* out);
absl::Status FnToJson(const Value* args, int n, Value* out);
absl::Status FnDatePart(const Value* args, int n, Value* out);
absl::Status FnToChar(const Value* args, int n, Value* out);
absl::Status FnToTimestamp(const Value* args, int n, Value* out);

// ---------------------------------------------------------------------------------------------
// Nodes.

// One step of a JSON path: an object key or a 1-based array index.
struct JsonStep {
  bool is_index = false;
  std::string key;
  int64_t index = 0;
};

// A JSON shared null element, for missing fields.
simdjson::dom::element JsonNull();

// A reference into the event (slot -1) or an iterated element (slot >= 0).
class JsonPathExpr final : public Expr {
 public:
  JsonPathExpr(int slot, std::vector<JsonStep> steps, std::string name)
      : slot_(slot), steps_(std::move(steps)), name_(std::move(name)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override;
  // Missing fields (and steps through non-objects / past the end) yield a JSON null.
  absl::Status EvalJson(EvalContext& ctx, simdjson::dom::element* out) const override;
  bool IsJsonPath() const override { return true; }

  simdjson::dom::element Lookup(const EvalContext& ctx) const;
  const std::string& name() const { return name_; }

 private:
  int slot_;
  std::vector<JsonStep> steps_;
  std::string name_;  // as written, for messages: e.items[1].qty
};

// Converts a scalar JSON element; objects/arrays are an error naming `name`.
absl::Status JsonToValue(simdjson::dom::element element, std::string_view name, Value* out);

// Returns the constant value of a constant node, nullptr otherwise.
const Value* ConstValue(const Expr& expr);
ExprPtr MakeConst(Value value);
ExprPtr MakeHeader(std::string name);
ExprPtr MakeMeta(int slot);
ExprPtr MakeNow();  // reads EvalContext::now_us
ExprPtr MakeRowColumn(int slot);
ExprPtr MakeViewColumn(int slot, int column);

ExprPtr MakeBinary(BinOp op, ExprPtr left, ExprPtr right);
ExprPtr MakeNegate(ExprPtr arg);
ExprPtr MakeUnaryPlus(ExprPtr arg);
ExprPtr MakeAnd(std::vector<ExprPtr> args);
ExprPtr MakeOr(std::vector<ExprPtr> args);
ExprPtr MakeNot(ExprPtr arg);
ExprPtr MakeNullTest(ExprPtr arg, bool is_not);
ExprPtr MakeBoolTest(ExprPtr arg, BoolTest test);
ExprPtr MakeDistinct(ExprPtr left, ExprPtr right, bool not_distinct);
ExprPtr MakeIn(ExprPtr arg, std::vector<ExprPtr> list, bool negate);
ExprPtr MakeBetween(ExprPtr arg, ExprPtr low, ExprPtr high, bool negate, bool symmetric);
ExprPtr MakeLike(ExprPtr arg, ExprPtr pattern, bool negate, bool icase);
ExprPtr MakeCase(ExprPtr arg, std::vector<std::pair<ExprPtr, ExprPtr>> whens, ExprPtr otherwise);
ExprPtr MakeCoalesce(std::vector<ExprPtr> args);
ExprPtr MakeNullIf(ExprPtr left, ExprPtr right);
ExprPtr MakeMinMax(std::vector<ExprPtr> args, bool greatest);
ExprPtr MakeCast(ExprPtr arg, CastTarget target, int scale);
ExprPtr MakeFunction(const FunctionSpec* spec, std::vector<ExprPtr> args);

// length()/cardinality()/array_length() of a JSON path.
enum class JsonLength {
  kLength,       // text length of a string, element count of an array
  kCardinality,  // element count of an array (0 when empty)
  kArrayLength,  // element count of an array (NULL when empty, like PostgreSQL)
};
ExprPtr MakeJsonLength(std::unique_ptr<JsonPathExpr> path, JsonLength kind);

// (SELECT agg(arg) FROM source AS alias [WHERE filter]).
ExprPtr MakeArrayAggregate(std::unique_ptr<JsonPathExpr> source, int slot, AggKind kind,
                           const std::string& name, ExprPtr arg, ExprPtr separator, ExprPtr filter);

}  // namespace sv::sql::internal
