// Helpers the expression nodes share: operand errors, finite reals, arithmetic.

#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "sql/nodes_internal.h"

namespace sv::sql::internal {

using simdjson::dom::element;
using simdjson::dom::element_type;

// reading it would dereference null, so it reads as missing.
bool IsSet(const element& e) {
  static_assert(sizeof(element) >= sizeof(void*));
  const void* doc;
  std::memcpy(&doc, &e, sizeof(doc));
  return doc != nullptr;
}

std::string_view JsonKindName(const element& e) {
  switch (e.type()) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
    default:
      return "a number";
  }
}

std::string_view OpName(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "^";
    case BinOp::kConcat:
      return "||";
    case BinOp::kEq:
      return "=";
    case BinOp::kNe:
      return "<>";
    case BinOp::kLt:
      return "<";
    case BinOp::kLe:
      return "<=";
    case BinOp::kGt:
      return ">";
    case BinOp::kGe:
      return ">=";
  }
  return "?";
}

absl::Status OperandError(std::string_view op, const Value& a, const Value& b) {
  return absl::InvalidArgumentError(
      Cat("operator ", op, " cannot take ", Describe(a), " and ", Describe(b)));
}

absl::Status DivisionByZero() { return absl::InvalidArgumentError("division by zero"); }

absl::Status OutOfRange(std::string_view what) {
  return absl::InvalidArgumentError(Cat(what, " out of range"));
}

// PostgreSQL's float8 arithmetic raises "value out of range" instead of producing an infinity
// or NaN: a non-finite number cannot be stored faithfully or written as JSON, so it fails the
// event like any other evaluation error.
absl::Status FiniteReal(double d, Value* out) {
  if (!std::isfinite(d)) return OutOfRange("value");
  *out = Value::Real(d);
  return absl::OkStatus();
}

absl::Status CheckFinite(const Value& v) {
  if (v.type() == Type::kReal && !std::isfinite(v.as_real())) return OutOfRange("value");
  return absl::OkStatus();
}

absl::Status NotBoolean(std::string_view what, const Value& v) {
  return absl::InvalidArgumentError(
      Cat("argument of ", what, " must be boolean, got ", Describe(v)));
}

absl::Status PowReal(double x, double y, Value* out) {
  if (x == 0 && y < 0) {
    return absl::InvalidArgumentError("zero raised to a negative power is undefined");
  }
  if (x < 0 && std::floor(y) != y) {
    return absl::InvalidArgumentError(
        "a negative number raised to a non-integer power yields a complex result");
  }
  return FiniteReal(std::pow(x, y), out);
}

absl::Status Arith(BinOp op, const Value& a, const Value& b, Value* out) {
  const Type ta = a.type(), tb = b.type();
  if (ta == Type::kInt && tb == Type::kInt) {
    const int64_t x = a.as_int(), y = b.as_int();
    int64_t r;
    switch (op) {
      case BinOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) return OutOfRange("integer");
        break;
      case BinOp::kSub:
        if (__builtin_sub_overflow(x, y, &r)) return OutOfRange("integer");
        break;
      case BinOp::kMul:
        if (__builtin_mul_overflow(x, y, &r)) return OutOfRange("integer");
        break;
      case BinOp::kDiv:
        if (y == 0) return DivisionByZero();
        if (y == -1) {
          if (__builtin_sub_overflow(int64_t{0}, x, &r)) return OutOfRange("integer");
        } else {
          r = x / y;
        }
        break;
      case BinOp::kMod:
        if (y == 0) return DivisionByZero();
        r = y == -1 ? 0 : x % y;
        break;
      case BinOp::kPow:
        return PowReal(static_cast<double>(x), static_cast<double>(y), out);
      default:
        return OperandError(OpName(op), a, b);
    }
    *out = Value::Int(r);
    return absl::OkStatus();
  }
  if (a.is_number() && b.is_number()) {
    const double x = a.as_number(), y = b.as_number();
    switch (op) {
      case BinOp::kAdd:
        return FiniteReal(x + y, out);
      case BinOp::kSub:
        return FiniteReal(x - y, out);
      case BinOp::kMul:
        return FiniteReal(x * y, out);
      case BinOp::kDiv:
        if (y == 0) return DivisionByZero();
        return FiniteReal(x / y, out);
      case BinOp::kMod:
        if (y == 0) return DivisionByZero();
        return FiniteReal(std::fmod(x, y), out);
      case BinOp::kPow:
        return PowReal(x, y, out);
      default:
        return OperandError(OpName(op), a, b);
    }
  }
  int64_t r;
  switch (op) {
    case BinOp::kAdd:
      if ((ta == Type::kTime && tb == Type::kInterval) ||
          (ta == Type::kInterval && tb == Type::kTime)) {
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return OutOfRange("timestamp");
        *out = Value::Time(r);
        return absl::OkStatus();
      }
      if (ta == Type::kInterval && tb == Type::kInterval) {
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return OutOfRange("interval");
        *out = Value::Interval(r);
        return absl::OkStatus();
      }
      break;
    case BinOp::kSub:
      if (ta == Type::kTime && tb == Type::kInterval) {
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return OutOfRange("timestamp");
        *out = Value::Time(r);
        return absl::OkStatus();
      }
      if ((ta == Type::kTime && tb == Type::kTime) ||
          (ta == Type::kInterval && tb == Type::kInterval)) {
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return OutOfRange("interval");
        *out = Value::Interval(r);
        return absl::OkStatus();
      }
      break;
    case BinOp::kMul:
    case BinOp::kDiv: {
      const bool left_interval = ta == Type::kInterval && b.is_number();
      const bool right_interval = op == BinOp::kMul && a.is_number() && tb == Type::kInterval;
      if (left_interval || right_interval) {
        const double micros = static_cast<double>(left_interval ? a.as_int() : b.as_int());
        const double factor = left_interval ? b.as_number() : a.as_number();
        double result;
        if (op == BinOp::kDiv) {
          if (factor == 0) return DivisionByZero();
          result = std::round(micros / factor);
        } else {
          result = std::round(micros * factor);
        }
        if (!(result >= -9.2e18 && result <= 9.2e18)) return OutOfRange("interval");
        *out = Value::Interval(static_cast<int64_t>(result));
        return absl::OkStatus();
      }
      break;
    }
    default:
      break;
  }
  return OperandError(OpName(op), a, b);
}

}  // namespace sv::sql::internal
