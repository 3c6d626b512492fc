// Value helpers shared by the expression nodes: text form, comparison, casts, storage coercion
// and the small whole-string parsers; plus the public EvalConstant / CoerceTo entry points.

#include "sql/expr.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "common/json_value.h"
#include "common/time_util.h"
#include "sql/expr_internal.h"

namespace sv::sql {

absl::Status Expr::EvalJson(EvalContext& /*ctx*/, simdjson::dom::element* /*out*/) const {
  return absl::UnimplementedError("expression is not a JSON path (write e.g. e.items)");
}

absl::StatusOr<Value> EvalConstant(const Expr& expr) {
  EvalContext ctx;
  Value value;
  absl::Status status = expr.Eval(ctx, &value);
  if (!status.ok()) return status;
  return value;
}

namespace internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

int CmpDouble(double a, double b) {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a == b) return 0;
  // NaN sorts above everything, like PostgreSQL.
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na && nb) return 0;
  return na ? 1 : -1;
}

// Clamps a double into int64 by rounding half away from zero; false when out of range.
bool DoubleToInt(double d, int64_t* out) {
  if (std::isnan(d)) return false;
  const double r = std::round(d);
  if (r < -9223372036854775808.0 || r >= 9223372036854775808.0) return false;
  *out = static_cast<int64_t>(r);
  return true;
}

}  // namespace

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimBlanks(std::string_view s) { return Trim(s); }

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(parts[i]);
  }
  return out;
}

std::string_view SqlTypeName(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kInt:
      return "integer";
    case Type::kReal:
      return "real";
    case Type::kText:
      return "text";
    case Type::kTime:
      return "timestamp";
    case Type::kInterval:
      return "interval";
    case Type::kJson:
      return "json";
  }
  return "unknown";
}

void AppendText(const Value& value, std::string* out) {
  char buf[64];
  switch (value.type()) {
    case Type::kNull:
      return;
    case Type::kBool:
      out->append(value.as_bool() ? "true" : "false");
      return;
    case Type::kInt: {
      auto res = std::to_chars(buf, buf + sizeof(buf), value.as_int());
      out->append(buf, res.ptr);
      return;
    }
    case Type::kReal: {
      const double d = value.as_real();
      if (std::isnan(d)) {
        out->append("NaN");
      } else if (std::isinf(d)) {
        out->append(d > 0 ? "Infinity" : "-Infinity");
      } else {
        auto res = std::to_chars(buf, buf + sizeof(buf), d);
        out->append(buf, res.ptr);
      }
      return;
    }
    case Type::kText:
    case Type::kJson:
      out->append(value.as_text());
      return;
    case Type::kTime:
      out->append(FormatTime(value.as_int()));
      return;
    case Type::kInterval:
      out->append(FormatInterval(value.as_int()));
      return;
  }
}

std::string ToText(const Value& value) {
  std::string out;
  AppendText(value, &out);
  return out;
}

std::string Describe(const Value& value) {
  if (value.is_null()) return "null";
  std::string out(SqlTypeName(value.type()));
  out += ' ';
  const bool quote =
      value.type() == Type::kText || value.type() == Type::kTime || value.type() == Type::kInterval;
  if (quote) out += '\'';
  if (value.type() == Type::kText && value.as_text().size() > 60) {
    out.append(value.as_text(), 0, 57);
    out += "...";
  } else {
    AppendText(value, &out);
  }
  if (quote) out += '\'';
  return out;
}

absl::Status TypeError(std::string_view what, const Value& value) {
  return absl::InvalidArgumentError(Cat(what, " cannot take ", Describe(value)));
}

absl::Status CompareValues(std::string_view what, const Value& a, const Value& b, int* cmp) {
  const Type ta = a.type(), tb = b.type();
  if (ta == tb) {
    switch (ta) {
      case Type::kInt:
      case Type::kBool:
      case Type::kTime:
      case Type::kInterval:
        *cmp = a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
        return absl::OkStatus();
      case Type::kReal:
        *cmp = CmpDouble(a.as_real(), b.as_real());
        return absl::OkStatus();
      case Type::kText:
      case Type::kJson: {  // canonical JSON: equal values have equal text
        const int c = a.as_text().compare(b.as_text());
        *cmp = c < 0 ? -1 : (c > 0 ? 1 : 0);
        return absl::OkStatus();
      }
      case Type::kNull:
        break;
    }
  } else if (a.is_number() && b.is_number()) {
    *cmp = CmpDouble(a.as_number(), b.as_number());
    return absl::OkStatus();
  } else if ((ta == Type::kTime && tb == Type::kText) || (ta == Type::kText && tb == Type::kTime)) {
    const Value& text = ta == Type::kText ? a : b;
    if (std::optional<int64_t> t = ParseTime(Trim(text.as_text()))) {
      const int64_t x = ta == Type::kTime ? a.as_int() : *t;
      const int64_t y = tb == Type::kTime ? b.as_int() : *t;
      *cmp = x < y ? -1 : (x > y ? 1 : 0);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      Cat(what, " cannot compare ", Describe(a), " and ", Describe(b)));
}

bool ParseInt(std::string_view text, int64_t* out) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  // "inf" and "nan" parse, but no non-finite number is ever a value (see nodes.cc FiniteReal).
  return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(*out);
}

bool ParseReal(std::string_view text, double* out) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  // "inf" and "nan" parse, but no non-finite number is ever a value (see nodes.cc FiniteReal).
  return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(*out);
}

bool ParseBool(std::string_view text, bool* out) {
  const std::string s = Lower(Trim(text));
  if (s == "t" || s == "true" || s == "y" || s == "yes" || s == "on" || s == "1") {
    *out = true;
    return true;
  }
  if (s == "f" || s == "false" || s == "n" || s == "no" || s == "off" || s == "0") {
    *out = false;
    return true;
  }
  return false;
}

double RoundTo(double x, int64_t digits) {
  const double p = std::pow(10.0, static_cast<double>(digits));
  return std::round(x * p) / p;
}

}  // namespace internal

std::string_view CastTargetName(CastTarget target) {
  switch (target) {
    case CastTarget::kText:
      return "text";
    case CastTarget::kInt:
      return "integer";
    case CastTarget::kReal:
      return "real";
    case CastTarget::kBool:
      return "boolean";
    case CastTarget::kTime:
      return "timestamp";
    case CastTarget::kDate:
      return "date";
    case CastTarget::kInterval:
      return "interval";
  }
  return "unknown";
}

absl::Status CastValue(CastTarget target, int scale, Value* value) {
  using namespace internal;  // NOLINT(google-build-using-namespace): the evaluator's helpers
  const Type from = value->type();
  if (from == Type::kNull) return absl::OkStatus();
  auto fail = [&](std::string_view why = {}) {
    return absl::InvalidArgumentError(
        Cat("cannot cast ", Describe(*value), " to ", CastTargetName(target), why));
  };
  switch (target) {
    case CastTarget::kText:
      if (from != Type::kText) *value = Value::Text(ToText(*value));
      return absl::OkStatus();
    case CastTarget::kInt: {
      int64_t i;
      if (from == Type::kInt) return absl::OkStatus();
      if (from == Type::kBool) {
        *value = Value::Int(value->as_bool() ? 1 : 0);
        return absl::OkStatus();
      }
      if (from == Type::kReal) {
        if (!DoubleToInt(value->as_real(), &i)) return fail(": out of range");
        *value = Value::Int(i);
        return absl::OkStatus();
      }
      if (from == Type::kText) {
        if (!ParseInt(value->as_text(), &i)) return fail();
        *value = Value::Int(i);
        return absl::OkStatus();
      }
      return fail();
    }
    case CastTarget::kReal: {
      double d;
      if (from == Type::kInt) {
        d = static_cast<double>(value->as_int());
      } else if (from == Type::kReal) {
        d = value->as_real();
      } else if (from == Type::kText) {
        if (!ParseReal(value->as_text(), &d)) return fail();
      } else {
        return fail();
      }
      if (scale >= 0 && std::isfinite(d)) d = RoundTo(d, scale);
      *value = Value::Real(d);
      return absl::OkStatus();
    }
    case CastTarget::kBool: {
      bool b;
      if (from == Type::kBool) return absl::OkStatus();
      if (from == Type::kInt) {
        *value = Value::Bool(value->as_int() != 0);
        return absl::OkStatus();
      }
      if (from == Type::kText && ParseBool(value->as_text(), &b)) {
        *value = Value::Bool(b);
        return absl::OkStatus();
      }
      return fail();
    }
    case CastTarget::kTime:
    case CastTarget::kDate: {
      int64_t t;
      if (from == Type::kTime) {
        t = value->as_int();
      } else if (from == Type::kText) {
        std::optional<int64_t> parsed = ParseTime(Trim(value->as_text()));
        if (!parsed) return fail(": not an ISO-8601 timestamp");
        t = *parsed;
      } else {
        return fail();
      }
      if (target == CastTarget::kDate) t = FloorDiv(t, kMicrosPerDay) * kMicrosPerDay;
      *value = Value::Time(t);
      return absl::OkStatus();
    }
    case CastTarget::kInterval: {
      if (from == Type::kInterval) return absl::OkStatus();
      if (from != Type::kText) return fail();
      int64_t micros;
      absl::Status status = ParseInterval(value->as_text(), &micros);
      if (!status.ok()) return status;
      *value = Value::Interval(micros);
      return absl::OkStatus();
    }
  }
  return fail();
}

absl::Status CoerceTo(Type type, Value* value) {
  using internal::Cat;
  using internal::Describe;
  const Type from = value->type();
  if (from == Type::kNull || type == Type::kNull || from == type) return absl::OkStatus();
  auto fail = [&](std::string_view why = {}) {
    return absl::InvalidArgumentError(Cat("cannot store ", Describe(*value), " in ",
                                          internal::SqlTypeName(type), " column", why));
  };
  // A document (an object or array field) goes only into a json column: anywhere else it is a
  // malformed event, not text to keep.
  if (from == Type::kJson) return fail();
  switch (type) {
    case Type::kInt:
      if (from == Type::kReal) {
        const double d = value->as_real();
        if (std::trunc(d) != d || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
          return fail(": not an integral value");
        }
        *value = Value::Int(static_cast<int64_t>(d));
        return absl::OkStatus();
      }
      break;
    case Type::kReal:
      if (from == Type::kInt) {
        *value = Value::Real(static_cast<double>(value->as_int()));
        return absl::OkStatus();
      }
      break;
    case Type::kText:
      *value = Value::Text(internal::ToText(*value));
      return absl::OkStatus();
    case Type::kBool:
      if (from == Type::kInt && (value->as_int() == 0 || value->as_int() == 1)) {
        *value = Value::Bool(value->as_int() == 1);
        return absl::OkStatus();
      }
      break;
    case Type::kTime:
      if (from == Type::kText) {
        std::optional<int64_t> t = ParseTime(value->as_text());
        if (!t) return fail(": not an ISO-8601 timestamp");
        *value = Value::Time(*t);
        return absl::OkStatus();
      }
      break;
    case Type::kJson: {  // a scalar becomes a JSON scalar (text a JSON string), like to_jsonb
      std::string json;
      AppendJsonValue(*value, &json);
      *value = Value::Json(std::move(json));
      return absl::OkStatus();
    }
    case Type::kInterval:
    case Type::kNull:
      break;
  }
  return fail();
}

}  // namespace sv::sql
