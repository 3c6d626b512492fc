// Expression tree nodes. Each node evaluates its children into stack temporaries and writes one
// Value; names were resolved at compile time, so evaluation is lookups by slot and JSON walks.

#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

#define SV_SQL_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::absl::Status sv_status_ = (expr);      \
    if (!sv_status_.ok()) return sv_status_; \
  } while (0)

// A default-constructed element (an EvalContext field the caller did not fill) has no document;
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

// ---------------------------------------------------------------------------------------------
// Leaves.

class ConstExpr final : public Expr {
 public:
  explicit ConstExpr(Value value) : value_(std::move(value)) {}
  absl::Status Eval(EvalContext&, Value* out) const override {
    *out = value_;
    return absl::OkStatus();
  }
  const Value& value() const { return value_; }

 private:
  Value value_;
};

class HeaderExpr final : public Expr {
 public:
  explicit HeaderExpr(std::string name) : name_(std::move(name)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.headers != nullptr) {
      for (const auto& [name, value] : *ctx.headers) {
        if (name == name_) {
          *out = Value::Text(value);
          return absl::OkStatus();
        }
      }
    }
    *out = Value::Null();
    return absl::OkStatus();
  }

 private:
  std::string name_;
};

class MetaExpr final : public Expr {
 public:
  explicit MetaExpr(int slot) : slot_(slot) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.meta == nullptr) {
      *out = Value::Null();
    } else {
      *out = ctx.meta[slot_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
};

class RowColumnExpr final : public Expr {
 public:
  explicit RowColumnExpr(int slot) : slot_(slot) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (ctx.row == nullptr || static_cast<size_t>(slot_) >= ctx.row->size()) {
      *out = Value::Null();
    } else {
      *out = (*ctx.row)[slot_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
};

class ViewColumnExpr final : public Expr {
 public:
  ViewColumnExpr(int slot, int column) : slot_(slot), column_(column) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    const Row* row = ctx.view_rows == nullptr ? nullptr : ctx.view_rows[slot_];
    if (row == nullptr || static_cast<size_t>(column_) >= row->size()) {
      *out = Value::Null();
    } else {
      *out = (*row)[column_];
    }
    return absl::OkStatus();
  }

 private:
  int slot_;
  int column_;
};

// ---------------------------------------------------------------------------------------------
// Operators.

class ArithExpr final : public Expr {
 public:
  ArithExpr(BinOp op, ExprPtr l, ExprPtr r) : op_(op), l_(std::move(l)), r_(std::move(r)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value a, b;
    SV_SQL_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_SQL_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (a.is_null() || b.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    return Arith(op_, a, b, out);
  }

 private:
  BinOp op_;
  ExprPtr l_, r_;
};

class ConcatExpr final : public Expr {
 public:
  ConcatExpr(ExprPtr l, ExprPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value a, b;
    SV_SQL_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_SQL_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (a.is_null() || b.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    std::string s;
    AppendText(a, &s);
    AppendText(b, &s);
    *out = Value::Text(std::move(s));
    return absl::OkStatus();
  }

 private:
  ExprPtr l_, r_;
};

class CompareExpr final : public Expr {
 public:
  CompareExpr(BinOp op, ExprPtr l, ExprPtr r)
      : op_(op), what_(Cat("operator ", OpName(op))), l_(std::move(l)), r_(std::move(r)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value a, b;
    SV_SQL_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_SQL_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (a.is_null() || b.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    int c;
    SV_SQL_RETURN_IF_ERROR(CompareValues(what_, a, b, &c));
    bool r = false;
    switch (op_) {
      case BinOp::kEq:
        r = c == 0;
        break;
      case BinOp::kNe:
        r = c != 0;
        break;
      case BinOp::kLt:
        r = c < 0;
        break;
      case BinOp::kLe:
        r = c <= 0;
        break;
      case BinOp::kGt:
        r = c > 0;
        break;
      case BinOp::kGe:
        r = c >= 0;
        break;
      default:
        break;
    }
    *out = Value::Bool(r);
    return absl::OkStatus();
  }

 private:
  BinOp op_;
  std::string what_;
  ExprPtr l_, r_;
};

class NegateExpr final : public Expr {
 public:
  NegateExpr(ExprPtr arg, bool plus) : arg_(std::move(arg)), plus_(plus) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, out));
    switch (out->type()) {
      case Type::kNull:
        return absl::OkStatus();
      case Type::kInt:
        if (!plus_) {
          int64_t r;
          if (__builtin_sub_overflow(int64_t{0}, out->as_int(), &r)) return OutOfRange("integer");
          *out = Value::Int(r);
        }
        return absl::OkStatus();
      case Type::kReal:
        if (!plus_) *out = Value::Real(-out->as_real());
        return absl::OkStatus();
      case Type::kInterval:
        if (!plus_) {
          int64_t r;
          if (__builtin_sub_overflow(int64_t{0}, out->as_int(), &r)) return OutOfRange("interval");
          *out = Value::Interval(r);
        }
        return absl::OkStatus();
      default:
        return TypeError(plus_ ? "unary operator +" : "unary operator -", *out);
    }
  }

 private:
  ExprPtr arg_;
  bool plus_;
};

class AndOrExpr final : public Expr {
 public:
  AndOrExpr(std::vector<ExprPtr> args, bool is_and) : args_(std::move(args)), is_and_(is_and) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    bool saw_null = false;
    for (const ExprPtr& arg : args_) {
      SV_SQL_RETURN_IF_ERROR(arg->Eval(ctx, out));
      if (out->is_null()) {
        saw_null = true;
        continue;
      }
      if (out->type() != Type::kBool) return NotBoolean(is_and_ ? "AND" : "OR", *out);
      if (out->as_bool() != is_and_) return absl::OkStatus();  // decided: false / true
    }
    *out = saw_null ? Value::Null() : Value::Bool(is_and_);
    return absl::OkStatus();
  }

 private:
  std::vector<ExprPtr> args_;
  bool is_and_;
};

class NotExpr final : public Expr {
 public:
  explicit NotExpr(ExprPtr arg) : arg_(std::move(arg)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, out));
    if (out->is_null()) return absl::OkStatus();
    if (out->type() != Type::kBool) return NotBoolean("NOT", *out);
    *out = Value::Bool(!out->as_bool());
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_;
};

class NullTestExpr final : public Expr {
 public:
  NullTestExpr(ExprPtr arg, bool is_not) : arg_(std::move(arg)), is_not_(is_not) {
    path_ = dynamic_cast<const JsonPathExpr*>(arg_.get());
  }
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    bool is_null;
    if (path_ != nullptr) {
      // Objects and arrays are not NULL; no scalar conversion needed.
      is_null = path_->Lookup(ctx).is_null();
    } else {
      SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, out));
      is_null = out->is_null();
    }
    *out = Value::Bool(is_null != is_not_);
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_;
  const JsonPathExpr* path_;
  bool is_not_;
};

class BoolTestExpr final : public Expr {
 public:
  BoolTestExpr(ExprPtr arg, BoolTest test) : arg_(std::move(arg)), test_(test) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, out));
    if (!out->is_null() && out->type() != Type::kBool) return NotBoolean("IS TRUE/FALSE", *out);
    const bool is_null = out->is_null();
    const bool v = !is_null && out->as_bool();
    bool r = false;
    switch (test_) {
      case BoolTest::kTrue:
        r = !is_null && v;
        break;
      case BoolTest::kNotTrue:
        r = is_null || !v;
        break;
      case BoolTest::kFalse:
        r = !is_null && !v;
        break;
      case BoolTest::kNotFalse:
        r = is_null || v;
        break;
      case BoolTest::kUnknown:
        r = is_null;
        break;
      case BoolTest::kNotUnknown:
        r = !is_null;
        break;
    }
    *out = Value::Bool(r);
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_;
  BoolTest test_;
};

class DistinctExpr final : public Expr {
 public:
  DistinctExpr(ExprPtr l, ExprPtr r, bool not_distinct)
      : l_(std::move(l)), r_(std::move(r)), not_distinct_(not_distinct) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value a, b;
    SV_SQL_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_SQL_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    bool distinct;
    if (a.is_null() || b.is_null()) {
      distinct = a.is_null() != b.is_null();
    } else {
      int c;
      SV_SQL_RETURN_IF_ERROR(CompareValues("IS DISTINCT FROM", a, b, &c));
      distinct = c != 0;
    }
    *out = Value::Bool(distinct != not_distinct_);
    return absl::OkStatus();
  }

 private:
  ExprPtr l_, r_;
  bool not_distinct_;
};

class InExpr final : public Expr {
 public:
  InExpr(ExprPtr arg, std::vector<ExprPtr> list, bool negate)
      : arg_(std::move(arg)), list_(std::move(list)), negate_(negate) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value x;
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
    if (x.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    bool saw_null = false;
    for (const ExprPtr& item : list_) {
      SV_SQL_RETURN_IF_ERROR(item->Eval(ctx, out));
      if (out->is_null()) {
        saw_null = true;
        continue;
      }
      int c;
      SV_SQL_RETURN_IF_ERROR(CompareValues(negate_ ? "NOT IN" : "IN", x, *out, &c));
      if (c == 0) {
        *out = Value::Bool(!negate_);
        return absl::OkStatus();
      }
    }
    *out = saw_null ? Value::Null() : Value::Bool(negate_);
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_;
  std::vector<ExprPtr> list_;
  bool negate_;
};

class BetweenExpr final : public Expr {
 public:
  BetweenExpr(ExprPtr arg, ExprPtr low, ExprPtr high, bool negate, bool symmetric)
      : arg_(std::move(arg)),
        low_(std::move(low)),
        high_(std::move(high)),
        negate_(negate),
        symmetric_(symmetric) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value x, lo, hi;
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
    SV_SQL_RETURN_IF_ERROR(low_->Eval(ctx, &lo));
    SV_SQL_RETURN_IF_ERROR(high_->Eval(ctx, &hi));
    int c;
    if (symmetric_ && !lo.is_null() && !hi.is_null()) {
      SV_SQL_RETURN_IF_ERROR(CompareValues("BETWEEN", lo, hi, &c));
      if (c > 0) std::swap(lo, hi);
    }
    // x >= lo AND x <= hi, three-valued.
    int lower = -1, upper = -1;  // -1 unknown, 0 false, 1 true
    if (!x.is_null() && !lo.is_null()) {
      SV_SQL_RETURN_IF_ERROR(CompareValues("BETWEEN", x, lo, &c));
      lower = c >= 0;
    }
    if (!x.is_null() && !hi.is_null()) {
      SV_SQL_RETURN_IF_ERROR(CompareValues("BETWEEN", x, hi, &c));
      upper = c <= 0;
    }
    if (lower == 0 || upper == 0) {
      *out = Value::Bool(negate_);
    } else if (lower == -1 || upper == -1) {
      *out = Value::Null();
    } else {
      *out = Value::Bool(!negate_);
    }
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_, low_, high_;
  bool negate_, symmetric_;
};

size_t NextChar(std::string_view s, size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

bool CharEq(char a, char b, bool icase) {
  if (a == b) return true;
  return icase && absl::ascii_tolower(static_cast<unsigned char>(a)) ==
                      absl::ascii_tolower(static_cast<unsigned char>(b));
}

// SQL LIKE: % any sequence, _ one character, backslash escapes the next pattern character.
bool LikeMatch(std::string_view s, std::string_view p, bool icase) {
  size_t si = 0, pi = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '%') {
        star_p = ++pi;
        star_s = si;
        continue;
      }
      if (c == '_') {
        si = NextChar(s, si);
        ++pi;
        continue;
      }
      size_t len = 1;
      if (c == '\\' && pi + 1 < p.size()) {
        c = p[pi + 1];
        len = 2;
      }
      if (CharEq(c, s[si], icase)) {
        ++si;
        pi += len;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    star_s = NextChar(s, star_s);
    si = star_s;
    pi = star_p;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

class LikeExpr final : public Expr {
 public:
  LikeExpr(ExprPtr arg, ExprPtr pattern, bool negate, bool icase)
      : arg_(std::move(arg)), pattern_(std::move(pattern)), negate_(negate), icase_(icase) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value s, p;
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, &s));
    SV_SQL_RETURN_IF_ERROR(pattern_->Eval(ctx, &p));
    if (s.is_null() || p.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    if (s.type() != Type::kText || p.type() != Type::kText) {
      return OperandError(
          icase_ ? (negate_ ? "NOT ILIKE" : "ILIKE") : (negate_ ? "NOT LIKE" : "LIKE"), s, p);
    }
    *out = Value::Bool(LikeMatch(s.as_text(), p.as_text(), icase_) != negate_);
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_, pattern_;
  bool negate_, icase_;
};

// ---------------------------------------------------------------------------------------------
// Conditionals.

class CaseExpr final : public Expr {
 public:
  CaseExpr(ExprPtr arg, std::vector<std::pair<ExprPtr, ExprPtr>> whens, ExprPtr otherwise)
      : arg_(std::move(arg)), whens_(std::move(whens)), otherwise_(std::move(otherwise)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (arg_ != nullptr) {
      Value x;
      SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
      for (const auto& [when, then] : whens_) {
        if (x.is_null()) break;
        SV_SQL_RETURN_IF_ERROR(when->Eval(ctx, out));
        if (out->is_null()) continue;
        int c;
        SV_SQL_RETURN_IF_ERROR(CompareValues("CASE", x, *out, &c));
        if (c == 0) return then->Eval(ctx, out);
      }
    } else {
      for (const auto& [when, then] : whens_) {
        SV_SQL_RETURN_IF_ERROR(when->Eval(ctx, out));
        if (out->is_null()) continue;
        if (out->type() != Type::kBool) return NotBoolean("CASE WHEN", *out);
        if (out->as_bool()) return then->Eval(ctx, out);
      }
    }
    if (otherwise_ != nullptr) return otherwise_->Eval(ctx, out);
    *out = Value::Null();
    return absl::OkStatus();
  }

 private:
  ExprPtr arg_;
  std::vector<std::pair<ExprPtr, ExprPtr>> whens_;
  ExprPtr otherwise_;
};

class CoalesceExpr final : public Expr {
 public:
  explicit CoalesceExpr(std::vector<ExprPtr> args) : args_(std::move(args)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    for (const ExprPtr& arg : args_) {
      SV_SQL_RETURN_IF_ERROR(arg->Eval(ctx, out));
      if (!out->is_null()) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

 private:
  std::vector<ExprPtr> args_;
};

class NullIfExpr final : public Expr {
 public:
  NullIfExpr(ExprPtr l, ExprPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    SV_SQL_RETURN_IF_ERROR(l_->Eval(ctx, out));
    if (out->is_null()) return absl::OkStatus();
    Value b;
    SV_SQL_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (b.is_null()) return absl::OkStatus();
    int c;
    SV_SQL_RETURN_IF_ERROR(CompareValues("NULLIF", *out, b, &c));
    if (c == 0) *out = Value::Null();
    return absl::OkStatus();
  }

 private:
  ExprPtr l_, r_;
};

class MinMaxExpr final : public Expr {
 public:
  MinMaxExpr(std::vector<ExprPtr> args, bool greatest)
      : args_(std::move(args)), greatest_(greatest) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    *out = Value::Null();
    Value v;
    for (const ExprPtr& arg : args_) {
      SV_SQL_RETURN_IF_ERROR(arg->Eval(ctx, &v));
      if (v.is_null()) continue;
      if (out->is_null()) {
        *out = std::move(v);
        continue;
      }
      int c;
      SV_SQL_RETURN_IF_ERROR(CompareValues(greatest_ ? "GREATEST" : "LEAST", v, *out, &c));
      if (greatest_ ? c > 0 : c < 0) *out = std::move(v);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<ExprPtr> args_;
  bool greatest_;
};

class CastExpr final : public Expr {
 public:
  CastExpr(ExprPtr arg, CastTarget target, int scale)
      : arg_(std::move(arg)), target_(target), scale_(scale) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, out));
    return CastValue(target_, scale_, out);
  }

 private:
  ExprPtr arg_;
  CastTarget target_;
  int scale_;
};

// ---------------------------------------------------------------------------------------------
// Functions.

// Arguments live in a fixed stack array for the common small arities.
template <int N>
class FixedFunctionExpr final : public Expr {
 public:
  FixedFunctionExpr(const FunctionSpec* spec, std::vector<ExprPtr> args)
      : spec_(spec), args_(std::move(args)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value values[N];
    for (int i = 0; i < N; ++i) {
      SV_SQL_RETURN_IF_ERROR(args_[i]->Eval(ctx, &values[i]));
      if (spec_->strict && values[i].is_null()) {
        *out = Value::Null();
        return absl::OkStatus();
      }
    }
    SV_SQL_RETURN_IF_ERROR(spec_->fn(values, N, out));
    return CheckFinite(*out);
  }

 private:
  const FunctionSpec* spec_;
  std::vector<ExprPtr> args_;
};

class FunctionExpr final : public Expr {
 public:
  FunctionExpr(const FunctionSpec* spec, std::vector<ExprPtr> args)
      : spec_(spec), args_(std::move(args)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    std::vector<Value> values(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
      SV_SQL_RETURN_IF_ERROR(args_[i]->Eval(ctx, &values[i]));
      if (spec_->strict && values[i].is_null()) {
        *out = Value::Null();
        return absl::OkStatus();
      }
    }
    SV_SQL_RETURN_IF_ERROR(spec_->fn(values.data(), static_cast<int>(values.size()), out));
    return CheckFinite(*out);
  }

 private:
  const FunctionSpec* spec_;
  std::vector<ExprPtr> args_;
};

int64_t Utf8Length(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

class JsonLengthExpr final : public Expr {
 public:
  JsonLengthExpr(std::unique_ptr<JsonPathExpr> path, JsonLength kind)
      : path_(std::move(path)), kind_(kind) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    const element e = path_->Lookup(ctx);
    switch (e.type()) {
      case element_type::NULL_VALUE:
        *out = Value::Null();
        return absl::OkStatus();
      case element_type::ARRAY: {
        const size_t n = e.get_array().value_unsafe().size();
        if (n == 0 && kind_ == JsonLength::kArrayLength) {
          *out = Value::Null();
        } else {
          *out = Value::Int(static_cast<int64_t>(n));
        }
        return absl::OkStatus();
      }
      case element_type::STRING:
        if (kind_ == JsonLength::kLength) {
          *out = Value::Int(Utf8Length(e.get_string().value_unsafe()));
          return absl::OkStatus();
        }
        break;
      default:
        break;
    }
    const std::string_view fn = kind_ == JsonLength::kLength        ? "length()"
                                : kind_ == JsonLength::kCardinality ? "cardinality()"
                                                                    : "array_length()";
    return absl::InvalidArgumentError(
        Cat(fn, " cannot take field ", path_->name(), ": it is ", JsonKindName(e)));
  }

 private:
  std::unique_ptr<JsonPathExpr> path_;
  JsonLength kind_;
};

// ---------------------------------------------------------------------------------------------
// Array subquery aggregate.

class ArrayAggregateExpr final : public Expr {
 public:
  ArrayAggregateExpr(std::unique_ptr<JsonPathExpr> source, int slot, AggKind kind, std::string name,
                     ExprPtr arg, ExprPtr separator, ExprPtr filter)
      : source_(std::move(source)),
        slot_(slot),
        kind_(kind),
        name_(Cat(name, "()")),
        arg_(std::move(arg)),
        separator_(std::move(separator)),
        filter_(std::move(filter)) {}

  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    const element src = source_->Lookup(ctx);
    State state;
    if (src.type() == element_type::ARRAY) {
      const element saved = ctx.elements[slot_];
      absl::Status status = Accumulate(ctx, src.get_array().value_unsafe(), &state);
      ctx.elements[slot_] = saved;
      SV_SQL_RETURN_IF_ERROR(status);
    } else if (!src.is_null()) {
      return absl::InvalidArgumentError(Cat(name_, " over ", source_->name(), ": the field is ",
                                            JsonKindName(src), ", not an array"));
    }
    Finish(state, out);
    return absl::OkStatus();
  }

 private:
  struct State {
    bool any = false;
    int64_t count = 0;
    Type sum_type = Type::kInt;
    int64_t isum = 0;
    double dsum = 0;
    bool flag = false;
    Value best;
    std::string text;
  };

  absl::Status Accumulate(EvalContext& ctx, simdjson::dom::array array, State* st) const {
    Value v, sep;
    for (element item : array) {
      ctx.elements[slot_] = item;
      if (filter_ != nullptr) {
        SV_SQL_RETURN_IF_ERROR(filter_->Eval(ctx, &v));
        if (v.is_null()) continue;
        if (v.type() != Type::kBool) return NotBoolean("WHERE", v);
        if (!v.as_bool()) continue;
      }
      if (kind_ == AggKind::kCountStar) {
        ++st->count;
        continue;
      }
      SV_SQL_RETURN_IF_ERROR(arg_->Eval(ctx, &v));
      if (v.is_null()) continue;
      switch (kind_) {
        case AggKind::kPercentileCont:  // not array aggregates: the binder refuses them there
        case AggKind::kPercentileDisc:
        case AggKind::kCountStar:
        case AggKind::kCount:
          ++st->count;
          break;
        case AggKind::kSum:
          SV_SQL_RETURN_IF_ERROR(AddToSum(v, st));
          break;
        case AggKind::kAvg:
          if (!v.is_number()) return TypeError(name_, v);
          st->dsum += v.as_number();
          ++st->count;
          break;
        case AggKind::kMin:
        case AggKind::kMax: {
          if (!st->any) {
            st->best = std::move(v);
            break;
          }
          int c;
          SV_SQL_RETURN_IF_ERROR(CompareValues(name_, v, st->best, &c));
          if (kind_ == AggKind::kMin ? c < 0 : c > 0) st->best = std::move(v);
          break;
        }
        case AggKind::kBoolAnd:
        case AggKind::kBoolOr:
          if (v.type() != Type::kBool) return TypeError(name_, v);
          if (!st->any) {
            st->flag = v.as_bool();
          } else if (kind_ == AggKind::kBoolAnd) {
            st->flag = st->flag && v.as_bool();
          } else {
            st->flag = st->flag || v.as_bool();
          }
          break;
        case AggKind::kStringAgg:
          if (st->any) {
            SV_SQL_RETURN_IF_ERROR(separator_->Eval(ctx, &sep));
            AppendText(sep, &st->text);
          }
          AppendText(v, &st->text);
          break;
      }
      st->any = true;
    }
    return absl::OkStatus();
  }

  absl::Status AddToSum(const Value& v, State* st) const {
    if (v.type() == Type::kInterval) {
      if (st->any && st->sum_type != Type::kInterval) return TypeError(name_, v);
      st->sum_type = Type::kInterval;
      if (__builtin_add_overflow(st->isum, v.as_int(), &st->isum)) return OutOfRange(name_);
      return absl::OkStatus();
    }
    if (!v.is_number() || st->sum_type == Type::kInterval) return TypeError(name_, v);
    if (v.type() == Type::kInt && st->sum_type == Type::kInt) {
      if (__builtin_add_overflow(st->isum, v.as_int(), &st->isum)) return OutOfRange(name_);
      return absl::OkStatus();
    }
    if (st->sum_type == Type::kInt) {
      st->sum_type = Type::kReal;
      st->dsum = static_cast<double>(st->isum);
    }
    st->dsum += v.as_number();
    if (!std::isfinite(st->dsum)) return OutOfRange(name_);
    return absl::OkStatus();
  }

  void Finish(State& st, Value* out) const {
    switch (kind_) {
      case AggKind::kPercentileCont:  // not array aggregates: the binder refuses them there
      case AggKind::kPercentileDisc:
      case AggKind::kCountStar:
      case AggKind::kCount:
        *out = Value::Int(st.count);
        return;
      case AggKind::kSum:
        if (!st.any) {
          *out = Value::Null();
        } else if (st.sum_type == Type::kInterval) {
          *out = Value::Interval(st.isum);
        } else if (st.sum_type == Type::kReal) {
          *out = Value::Real(st.dsum);
        } else {
          *out = Value::Int(st.isum);
        }
        return;
      case AggKind::kAvg:
        *out = st.count == 0 ? Value::Null() : Value::Real(st.dsum / static_cast<double>(st.count));
        return;
      case AggKind::kMin:
      case AggKind::kMax:
        *out = std::move(st.best);
        return;
      case AggKind::kBoolAnd:
      case AggKind::kBoolOr:
        *out = st.any ? Value::Bool(st.flag) : Value::Null();
        return;
      case AggKind::kStringAgg:
        *out = st.any ? Value::Text(std::move(st.text)) : Value::Null();
        return;
    }
  }

  std::unique_ptr<JsonPathExpr> source_;
  int slot_;
  AggKind kind_;
  std::string name_;
  ExprPtr arg_, separator_, filter_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// JSON paths.

element JsonNull() {
  static const element null_element = [] {
    // Leaked on purpose: the element points into this parser's document for the whole process.
    auto* parser = new simdjson::dom::parser();
    element e;
    if (parser->parse("null", 4).get(e) != simdjson::SUCCESS) std::abort();
    return e;
  }();
  return null_element;
}

element JsonPathExpr::Lookup(const EvalContext& ctx) const {
  element cur = slot_ < 0 ? ctx.event : ctx.elements[slot_];
  if (!IsSet(cur)) return JsonNull();
  for (const JsonStep& step : steps_) {
    if (step.is_index) {
      simdjson::dom::array array;
      if (step.index < 1 || cur.get_array().get(array) != simdjson::SUCCESS ||
          array.at(static_cast<size_t>(step.index - 1)).get(cur) != simdjson::SUCCESS) {
        return JsonNull();
      }
    } else {
      simdjson::dom::object object;
      if (cur.get_object().get(object) != simdjson::SUCCESS ||
          object.at_key(step.key).get(cur) != simdjson::SUCCESS) {
        return JsonNull();
      }
    }
  }
  return cur;
}

absl::Status JsonPathExpr::Eval(EvalContext& ctx, Value* out) const {
  return JsonToValue(Lookup(ctx), name_, out);
}

absl::Status JsonPathExpr::EvalJson(EvalContext& ctx, element* out) const {
  *out = Lookup(ctx);
  return absl::OkStatus();
}

absl::Status JsonToValue(element e, std::string_view name, Value* out) {
  switch (e.type()) {
    case element_type::INT64:
      *out = Value::Int(e.get_int64().value_unsafe());
      return absl::OkStatus();
    case element_type::UINT64:
      *out = Value::Real(static_cast<double>(e.get_uint64().value_unsafe()));
      return absl::OkStatus();
    case element_type::DOUBLE:
      *out = Value::Real(e.get_double().value_unsafe());
      return absl::OkStatus();
    case element_type::STRING:
      *out = Value::Text(std::string(e.get_string().value_unsafe()));
      return absl::OkStatus();
    case element_type::BOOL:
      *out = Value::Bool(e.get_bool().value_unsafe());
      return absl::OkStatus();
    case element_type::NULL_VALUE:
      *out = Value::Null();
      return absl::OkStatus();
    case element_type::ARRAY:
      return absl::InvalidArgumentError(Cat("field ", name, " is an array, not a scalar"));
    case element_type::OBJECT:
      return absl::InvalidArgumentError(Cat("field ", name, " is an object, not a scalar"));
  }
  return absl::InvalidArgumentError(Cat("field ", name, " has an unknown JSON type"));
}

// ---------------------------------------------------------------------------------------------
// Factories.

const Value* ConstValue(const Expr& expr) {
  const auto* c = dynamic_cast<const ConstExpr*>(&expr);
  return c == nullptr ? nullptr : &c->value();
}

ExprPtr MakeConst(Value value) { return std::make_unique<ConstExpr>(std::move(value)); }
ExprPtr MakeHeader(std::string name) { return std::make_unique<HeaderExpr>(std::move(name)); }
ExprPtr MakeMeta(int slot) { return std::make_unique<MetaExpr>(slot); }
ExprPtr MakeRowColumn(int slot) { return std::make_unique<RowColumnExpr>(slot); }
ExprPtr MakeViewColumn(int slot, int column) {
  return std::make_unique<ViewColumnExpr>(slot, column);
}

ExprPtr MakeBinary(BinOp op, ExprPtr left, ExprPtr right) {
  switch (op) {
    case BinOp::kConcat:
      return std::make_unique<ConcatExpr>(std::move(left), std::move(right));
    case BinOp::kEq:
    case BinOp::kNe:
    case BinOp::kLt:
    case BinOp::kLe:
    case BinOp::kGt:
    case BinOp::kGe:
      return std::make_unique<CompareExpr>(op, std::move(left), std::move(right));
    default:
      return std::make_unique<ArithExpr>(op, std::move(left), std::move(right));
  }
}

ExprPtr MakeNegate(ExprPtr arg) { return std::make_unique<NegateExpr>(std::move(arg), false); }
ExprPtr MakeUnaryPlus(ExprPtr arg) { return std::make_unique<NegateExpr>(std::move(arg), true); }
ExprPtr MakeAnd(std::vector<ExprPtr> args) {
  return std::make_unique<AndOrExpr>(std::move(args), true);
}
ExprPtr MakeOr(std::vector<ExprPtr> args) {
  return std::make_unique<AndOrExpr>(std::move(args), false);
}
ExprPtr MakeNot(ExprPtr arg) { return std::make_unique<NotExpr>(std::move(arg)); }
ExprPtr MakeNullTest(ExprPtr arg, bool is_not) {
  return std::make_unique<NullTestExpr>(std::move(arg), is_not);
}
ExprPtr MakeBoolTest(ExprPtr arg, BoolTest test) {
  return std::make_unique<BoolTestExpr>(std::move(arg), test);
}
ExprPtr MakeDistinct(ExprPtr left, ExprPtr right, bool not_distinct) {
  return std::make_unique<DistinctExpr>(std::move(left), std::move(right), not_distinct);
}
ExprPtr MakeIn(ExprPtr arg, std::vector<ExprPtr> list, bool negate) {
  return std::make_unique<InExpr>(std::move(arg), std::move(list), negate);
}
ExprPtr MakeBetween(ExprPtr arg, ExprPtr low, ExprPtr high, bool negate, bool symmetric) {
  return std::make_unique<BetweenExpr>(std::move(arg), std::move(low), std::move(high), negate,
                                       symmetric);
}
ExprPtr MakeLike(ExprPtr arg, ExprPtr pattern, bool negate, bool icase) {
  return std::make_unique<LikeExpr>(std::move(arg), std::move(pattern), negate, icase);
}
ExprPtr MakeCase(ExprPtr arg, std::vector<std::pair<ExprPtr, ExprPtr>> whens, ExprPtr otherwise) {
  return std::make_unique<CaseExpr>(std::move(arg), std::move(whens), std::move(otherwise));
}
ExprPtr MakeCoalesce(std::vector<ExprPtr> args) {
  return std::make_unique<CoalesceExpr>(std::move(args));
}
ExprPtr MakeNullIf(ExprPtr left, ExprPtr right) {
  return std::make_unique<NullIfExpr>(std::move(left), std::move(right));
}
ExprPtr MakeMinMax(std::vector<ExprPtr> args, bool greatest) {
  return std::make_unique<MinMaxExpr>(std::move(args), greatest);
}
ExprPtr MakeCast(ExprPtr arg, CastTarget target, int scale) {
  return std::make_unique<CastExpr>(std::move(arg), target, scale);
}

ExprPtr MakeFunction(const FunctionSpec* spec, std::vector<ExprPtr> args) {
  switch (args.size()) {
    case 1:
      return std::make_unique<FixedFunctionExpr<1>>(spec, std::move(args));
    case 2:
      return std::make_unique<FixedFunctionExpr<2>>(spec, std::move(args));
    case 3:
      return std::make_unique<FixedFunctionExpr<3>>(spec, std::move(args));
    default:
      return std::make_unique<FunctionExpr>(spec, std::move(args));
  }
}

ExprPtr MakeJsonLength(std::unique_ptr<JsonPathExpr> path, JsonLength kind) {
  return std::make_unique<JsonLengthExpr>(std::move(path), kind);
}

ExprPtr MakeArrayAggregate(std::unique_ptr<JsonPathExpr> source, int slot, AggKind kind,
                           std::string name, ExprPtr arg, ExprPtr separator, ExprPtr filter) {
  return std::make_unique<ArrayAggregateExpr>(std::move(source), slot, kind, std::move(name),
                                              std::move(arg), std::move(separator),
                                              std::move(filter));
}

}  // namespace sv::sql::internal
