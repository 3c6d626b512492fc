// Scalar functions: text and math, plus the table the compiler looks names up in. Time functions
// live in time_functions.cc. Every function validates its argument types and reports
// "<name>() cannot take <type> '<value>'" for the wrong kind of value.

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {
namespace {

absl::Status TextArg(std::string_view fn, const Value& v, std::string_view* out) {
  if (v.type() != Type::kText) return TypeError(fn, v);
  *out = v.as_text();
  return absl::OkStatus();
}

absl::Status IntArg(std::string_view fn, const Value& v, int64_t* out) {
  if (v.type() == Type::kInt) {
    *out = v.as_int();
    return absl::OkStatus();
  }
  if (v.type() == Type::kReal) {
    const double d = v.as_real();
    if (std::trunc(d) == d && d >= -9.2e18 && d <= 9.2e18) {
      *out = static_cast<int64_t>(d);
      return absl::OkStatus();
    }
  }
  return TypeError(fn, v);
}

absl::Status NumArg(std::string_view fn, const Value& v) {
  if (!v.is_number()) return TypeError(fn, v);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers: character positions to byte offsets.

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

int64_t CharCount(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += !IsContinuation(c);
  return n;
}

// Byte offset of character `k` (0-based), clamped to the end.
size_t ByteOffset(std::string_view s, int64_t k) {
  if (k <= 0) return 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!IsContinuation(s[i])) {
      if (k == 0) return i;
      --k;
    }
    ++i;
  }
  return s.size();
}

// Characters [from, to) (0-based, clamped).
std::string CharSlice(std::string_view s, int64_t from, int64_t to) {
  if (to <= from) return std::string();
  const size_t b = ByteOffset(s, from);
  const size_t e = ByteOffset(s, to);
  return std::string(s.substr(b, e - b));
}

size_t CharLen(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && IsContinuation(s[j])) ++j;
  return j - i;
}

bool InSet(std::string_view set, std::string_view ch) {
  for (size_t i = 0; i < set.size();) {
    const size_t len = CharLen(set, i);
    if (set.substr(i, len) == ch) return true;
    i += len;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Text.

absl::Status FnLower(const Value* a, int, Value* out) {
  std::string_view s;
  SV_RETURN_IF_ERROR(TextArg("lower()", a[0], &s));
  *out = Value::Text(Lower(s));
  return absl::OkStatus();
}

absl::Status FnUpper(const Value* a, int, Value* out) {
  std::string_view s;
  SV_RETURN_IF_ERROR(TextArg("upper()", a[0], &s));
  *out = Value::Text(Upper(s));
  return absl::OkStatus();
}

absl::Status Length(const Value* a, int, Value* out) {
  std::string_view s;
  SV_RETURN_IF_ERROR(TextArg("length()", a[0], &s));
  *out = Value::Int(CharCount(s));
  return absl::OkStatus();
}

absl::Status OctetLength(const Value* a, int, Value* out) {
  std::string_view s;
  SV_RETURN_IF_ERROR(TextArg("octet_length()", a[0], &s));
  *out = Value::Int(static_cast<int64_t>(s.size()));
  return absl::OkStatus();
}

absl::Status TrimImpl(std::string_view fn, const Value* a, int n, bool left, bool right,
                      Value* out) {
  std::string_view s, set = " ";
  SV_RETURN_IF_ERROR(TextArg(fn, a[0], &s));
  if (n > 1) SV_RETURN_IF_ERROR(TextArg(fn, a[1], &set));
  if (left) {
    while (!s.empty()) {
      const size_t len = CharLen(s, 0);
      if (!InSet(set, s.substr(0, len))) break;
      s.remove_prefix(len);
    }
  }
  if (right) {
    while (!s.empty()) {
      size_t start = s.size() - 1;
      while (start > 0 && IsContinuation(s[start])) --start;
      if (!InSet(set, s.substr(start))) break;
      s.remove_suffix(s.size() - start);
    }
  }
  *out = Value::Text(std::string(s));
  return absl::OkStatus();
}

absl::Status Btrim(const Value* a, int n, Value* out) {
  return TrimImpl("trim()", a, n, true, true, out);
}
absl::Status Ltrim(const Value* a, int n, Value* out) {
  return TrimImpl("ltrim()", a, n, true, false, out);
}
absl::Status Rtrim(const Value* a, int n, Value* out) {
  return TrimImpl("rtrim()", a, n, false, true, out);
}

absl::Status Substr(const Value* a, int n, Value* out) {
  std::string_view s;
  int64_t start, count = 0;
  SV_RETURN_IF_ERROR(TextArg("substr()", a[0], &s));
  SV_RETURN_IF_ERROR(IntArg("substr()", a[1], &start));
  int64_t end = std::numeric_limits<int64_t>::max();  // 1-based, exclusive
  if (n > 2) {
    SV_RETURN_IF_ERROR(IntArg("substr()", a[2], &count));
    if (count < 0) return absl::InvalidArgumentError("substr(): negative substring length");
    if (__builtin_add_overflow(start, count, &end)) end = std::numeric_limits<int64_t>::max();
  }
  const int64_t begin = start < 1 ? 1 : start;
  *out = Value::Text(CharSlice(
      s, begin - 1,
      end == std::numeric_limits<int64_t>::max() ? std::numeric_limits<int64_t>::max() : end - 1));
  return absl::OkStatus();
}

absl::Status Replace(const Value* a, int, Value* out) {
  std::string_view s, from, to;
  SV_RETURN_IF_ERROR(TextArg("replace()", a[0], &s));
  SV_RETURN_IF_ERROR(TextArg("replace()", a[1], &from));
  SV_RETURN_IF_ERROR(TextArg("replace()", a[2], &to));
  if (from.empty()) {
    *out = a[0];
    return absl::OkStatus();
  }
  std::string r;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    r.append(s.substr(pos, hit - pos));
    r.append(to);
    pos = hit + from.size();
  }
  r.append(s.substr(pos));
  *out = Value::Text(std::move(r));
  return absl::OkStatus();
}

absl::Status Concat(const Value* a, int n, Value* out) {
  std::string r;
  for (int i = 0; i < n; ++i) AppendText(a[i], &r);  // NULL appends nothing
  *out = Value::Text(std::move(r));
  return absl::OkStatus();
}

absl::Status ConcatWs(const Value* a, int n, Value* out) {
  if (a[0].is_null()) {
    *out = Value::Null();
    return absl::OkStatus();
  }
  const std::string sep = ToText(a[0]);
  std::string r;
  bool first = true;
  for (int i = 1; i < n; ++i) {
    if (a[i].is_null()) continue;
    if (!first) r.append(sep);
    AppendText(a[i], &r);
    first = false;
  }
  *out = Value::Text(std::move(r));
  return absl::OkStatus();
}

absl::Status Left(const Value* a, int, Value* out) {
  std::string_view s;
  int64_t k;
  SV_RETURN_IF_ERROR(TextArg("left()", a[0], &s));
  SV_RETURN_IF_ERROR(IntArg("left()", a[1], &k));
  const int64_t len = CharCount(s);
  *out = Value::Text(CharSlice(s, 0, k >= 0 ? k : len + k));
  return absl::OkStatus();
}

absl::Status Right(const Value* a, int, Value* out) {
  std::string_view s;
  int64_t k;
  SV_RETURN_IF_ERROR(TextArg("right()", a[0], &s));
  SV_RETURN_IF_ERROR(IntArg("right()", a[1], &k));
  const int64_t len = CharCount(s);
  // right(s, -n) drops the first n characters; -k itself overflows for INT64_MIN (found by
  // tests/fuzz/fuzz_expr), and any k <= -len drops them all.
  *out = Value::Text(CharSlice(s, k >= 0 ? len - k : (k <= -len ? len : -k), len));
  return absl::OkStatus();
}

absl::Status SplitPart(const Value* a, int, Value* out) {
  std::string_view s, delim;
  int64_t k;
  SV_RETURN_IF_ERROR(TextArg("split_part()", a[0], &s));
  SV_RETURN_IF_ERROR(TextArg("split_part()", a[1], &delim));
  SV_RETURN_IF_ERROR(IntArg("split_part()", a[2], &k));
  if (k == 0) return absl::InvalidArgumentError("split_part(): field position must not be zero");
  std::vector<std::string_view> fields;
  if (delim.empty()) {
    fields.push_back(s);
  } else {
    size_t pos = 0;
    while (true) {
      const size_t hit = s.find(delim, pos);
      if (hit == std::string_view::npos) {
        fields.push_back(s.substr(pos));
        break;
      }
      fields.push_back(s.substr(pos, hit - pos));
      pos = hit + delim.size();
    }
  }
  const int64_t count = static_cast<int64_t>(fields.size());
  const int64_t index = k > 0 ? k - 1 : count + k;
  if (index < 0 || index >= count) {
    *out = Value::Text("");
  } else {
    *out = Value::Text(std::string(fields[index]));
  }
  return absl::OkStatus();
}

absl::Status StartsWith(const Value* a, int, Value* out) {
  std::string_view s, prefix;
  SV_RETURN_IF_ERROR(TextArg("starts_with()", a[0], &s));
  SV_RETURN_IF_ERROR(TextArg("starts_with()", a[1], &prefix));
  *out = Value::Bool(s.substr(0, prefix.size()) == prefix);
  return absl::OkStatus();
}

absl::Status Strpos(const Value* a, int, Value* out) {
  std::string_view s, sub;
  SV_RETURN_IF_ERROR(TextArg("strpos()", a[0], &s));
  SV_RETURN_IF_ERROR(TextArg("strpos()", a[1], &sub));
  const size_t hit = s.find(sub);
  *out = Value::Int(hit == std::string_view::npos ? 0 : CharCount(s.substr(0, hit)) + 1);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Math.

absl::Status Abs(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("abs()", a[0]));
  if (a[0].type() == Type::kInt) {
    const int64_t x = a[0].as_int();
    if (x == std::numeric_limits<int64_t>::min()) {
      return absl::InvalidArgumentError("abs(): integer out of range");
    }
    *out = Value::Int(x < 0 ? -x : x);
  } else {
    *out = Value::Real(std::fabs(a[0].as_real()));
  }
  return absl::OkStatus();
}

absl::Status Round(const Value* a, int n, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("round()", a[0]));
  if (n == 1) {
    if (a[0].type() == Type::kInt) {
      *out = a[0];
    } else {
      *out = Value::Real(std::round(a[0].as_real()));
    }
    return absl::OkStatus();
  }
  int64_t digits;
  SV_RETURN_IF_ERROR(IntArg("round()", a[1], &digits));
  *out = Value::Real(RoundTo(a[0].as_number(), digits));
  return absl::OkStatus();
}

absl::Status Trunc(const Value* a, int n, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("trunc()", a[0]));
  if (n == 1) {
    if (a[0].type() == Type::kInt) {
      *out = a[0];
    } else {
      *out = Value::Real(std::trunc(a[0].as_real()));
    }
    return absl::OkStatus();
  }
  int64_t digits;
  SV_RETURN_IF_ERROR(IntArg("trunc()", a[1], &digits));
  const double p = std::pow(10.0, static_cast<double>(digits));
  *out = Value::Real(std::trunc(a[0].as_number() * p) / p);
  return absl::OkStatus();
}

absl::Status Floor(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("floor()", a[0]));
  *out = a[0].type() == Type::kInt ? a[0] : Value::Real(std::floor(a[0].as_real()));
  return absl::OkStatus();
}

absl::Status Ceil(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("ceil()", a[0]));
  *out = a[0].type() == Type::kInt ? a[0] : Value::Real(std::ceil(a[0].as_real()));
  return absl::OkStatus();
}

absl::Status Power(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("power()", a[0]));
  SV_RETURN_IF_ERROR(NumArg("power()", a[1]));
  const double x = a[0].as_number(), y = a[1].as_number();
  if (x == 0 && y < 0) {
    return absl::InvalidArgumentError("power(): zero raised to a negative power is undefined");
  }
  if (x < 0 && std::floor(y) != y) {
    return absl::InvalidArgumentError(
        "power(): a negative number raised to a non-integer power yields a complex result");
  }
  *out = Value::Real(std::pow(x, y));
  return absl::OkStatus();
}

absl::Status Sqrt(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("sqrt()", a[0]));
  const double x = a[0].as_number();
  if (x < 0)
    return absl::InvalidArgumentError("sqrt(): cannot take square root of a negative number");
  *out = Value::Real(std::sqrt(x));
  return absl::OkStatus();
}

absl::Status Exp(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("exp()", a[0]));
  *out = Value::Real(std::exp(a[0].as_number()));
  return absl::OkStatus();
}

absl::Status Ln(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("ln()", a[0]));
  const double x = a[0].as_number();
  if (x <= 0) {
    return absl::InvalidArgumentError(
        Cat("ln(): cannot take logarithm of ", x == 0 ? "zero" : "a negative number"));
  }
  *out = Value::Real(std::log(x));
  return absl::OkStatus();
}

// log(x): base 10; log(b, x): base b.
absl::Status Log(const Value* a, int n, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("log()", a[0]));
  if (n > 1) SV_RETURN_IF_ERROR(NumArg("log()", a[1]));
  const double x = a[n - 1].as_number();
  const double base = n > 1 ? a[0].as_number() : 10.0;
  if (x <= 0 || base <= 0) {
    return absl::InvalidArgumentError("log(): cannot take logarithm of zero or a negative number");
  }
  if (base == 1) return absl::InvalidArgumentError("division by zero");
  *out = Value::Real(n > 1 ? std::log(x) / std::log(base) : std::log10(x));
  return absl::OkStatus();
}

absl::Status Mod(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("mod()", a[0]));
  SV_RETURN_IF_ERROR(NumArg("mod()", a[1]));
  if (a[0].type() == Type::kInt && a[1].type() == Type::kInt) {
    const int64_t y = a[1].as_int();
    if (y == 0) return absl::InvalidArgumentError("division by zero");
    *out = Value::Int(y == -1 ? 0 : a[0].as_int() % y);
    return absl::OkStatus();
  }
  const double y = a[1].as_number();
  if (y == 0) return absl::InvalidArgumentError("division by zero");
  *out = Value::Real(std::fmod(a[0].as_number(), y));
  return absl::OkStatus();
}

absl::Status Sign(const Value* a, int, Value* out) {
  SV_RETURN_IF_ERROR(NumArg("sign()", a[0]));
  if (a[0].type() == Type::kInt) {
    const int64_t x = a[0].as_int();
    *out = Value::Int(x > 0 ? 1 : (x < 0 ? -1 : 0));
  } else {
    const double x = a[0].as_real();
    *out = Value::Real(x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0));
  }
  return absl::OkStatus();
}

absl::Status JsonArrayOnly(const Value*, int, Value*) {
  return absl::InvalidArgumentError("this function needs a JSON array field such as e.items");
}

constexpr FunctionSpec kFunctions[] = {
    // Text.
    {"lower", 1, 1, true, FnLower, ResultRule::kText},
    {"upper", 1, 1, true, FnUpper, ResultRule::kText},
    {"length", 1, 1, true, Length, ResultRule::kInt},
    {"char_length", 1, 1, true, Length, ResultRule::kInt},
    {"character_length", 1, 1, true, Length, ResultRule::kInt},
    {"octet_length", 1, 1, true, OctetLength, ResultRule::kInt},
    {"trim", 1, 2, true, Btrim, ResultRule::kText},
    {"btrim", 1, 2, true, Btrim, ResultRule::kText},
    {"ltrim", 1, 2, true, Ltrim, ResultRule::kText},
    {"rtrim", 1, 2, true, Rtrim, ResultRule::kText},
    {"substr", 2, 3, true, Substr, ResultRule::kText},
    {"substring", 2, 3, true, Substr, ResultRule::kText},
    {"replace", 3, 3, true, Replace, ResultRule::kText},
    {"concat", 1, -1, false, Concat, ResultRule::kText},
    {"concat_ws", 2, -1, false, ConcatWs, ResultRule::kText},
    {"left", 2, 2, true, Left, ResultRule::kText, PgSpelling::kPlain, /*sqlite_keyword=*/true},
    {"right", 2, 2, true, Right, ResultRule::kText, PgSpelling::kPlain, /*sqlite_keyword=*/true},
    {"split_part", 3, 3, true, SplitPart, ResultRule::kText},
    {"starts_with", 2, 2, true, StartsWith, ResultRule::kBool},
    {"strpos", 2, 2, true, Strpos, ResultRule::kInt},
    {"position", 2, 2, true, Strpos, ResultRule::kInt},
    // JSON arrays only (lowering reads the array; a non-array argument is refused there).
    {"cardinality", 1, 1, true, JsonArrayOnly, ResultRule::kInt},
    {"array_length", 1, 2, true, JsonArrayOnly, ResultRule::kInt},
    // Math.
    {"abs", 1, 1, true, Abs, ResultRule::kLikeArgs},
    {"round", 1, 2, true, Round, ResultRule::kLikeArgOrReal, PgSpelling::kNumericRound},
    {"trunc", 1, 2, true, Trunc, ResultRule::kLikeArgOrReal, PgSpelling::kNumericRound},
    {"floor", 1, 1, true, Floor, ResultRule::kLikeArgs},
    {"ceil", 1, 1, true, Ceil, ResultRule::kLikeArgs},
    {"ceiling", 1, 1, true, Ceil, ResultRule::kLikeArgs},
    {"power", 2, 2, true, Power, ResultRule::kReal},
    {"pow", 2, 2, true, Power, ResultRule::kReal},
    {"sqrt", 1, 1, true, Sqrt, ResultRule::kReal},
    {"exp", 1, 1, true, Exp, ResultRule::kReal},
    {"ln", 1, 1, true, Ln, ResultRule::kReal},
    {"log", 1, 2, true, Log, ResultRule::kReal, PgSpelling::kNumericLog},
    {"mod", 2, 2, true, Mod, ResultRule::kLikeArgs, PgSpelling::kNumericMod},
    {"sign", 1, 1, true, Sign, ResultRule::kLikeArgs},
    // Time.
    {"date_trunc", 2, 2, true, FnDateTrunc, ResultRule::kTime},
    {"date_part", 2, 2, true, FnDatePart, ResultRule::kDatePartOfField, PgSpelling::kDatePart},
    {"extract", 2, 2, true, FnDatePart, ResultRule::kDatePartOfField, PgSpelling::kDatePart},
    {"to_char", 2, 2, true, FnToChar, ResultRule::kText},
    {"to_timestamp", 1, 1, true, FnToTimestamp, ResultRule::kTime},
    // JSON.
    {"json_build_object", 0, -1, false, FnJsonBuildObject, ResultRule::kJson,
     PgSpelling::kJsonBuildObject},
    {"jsonb_build_object", 0, -1, false, FnJsonBuildObject, ResultRule::kJson,
     PgSpelling::kJsonBuildObject},
    {"json_build_array", 0, -1, false, FnJsonBuildArray, ResultRule::kJson,
     PgSpelling::kJsonBuildArray},
    {"jsonb_build_array", 0, -1, false, FnJsonBuildArray, ResultRule::kJson,
     PgSpelling::kJsonBuildArray},
    {"to_json", 1, 1, true, FnToJson, ResultRule::kJson, PgSpelling::kToJson},
    {"to_jsonb", 1, 1, true, FnToJson, ResultRule::kJson, PgSpelling::kToJson},
};

}  // namespace
}  // namespace sv::sql::internal

namespace sv::sql {

const FunctionSpec* FindFunction(std::string_view name) {
  for (const FunctionSpec& spec : internal::kFunctions) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::span<const FunctionSpec> ScalarFunctions() { return internal::kFunctions; }

}  // namespace sv::sql
