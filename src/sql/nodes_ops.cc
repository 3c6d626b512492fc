// Expression nodes: arithmetic, comparison, boolean logic, IN, BETWEEN, LIKE.

#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "sql/nodes_internal.h"

namespace sv::sql::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// ---------------------------------------------------------------------------------------------
// Operators.

// An object or array field is a json value: arithmetic and || refuse it even beside a NULL
// (PostgreSQL refuses the types before it sees a row), so a malformed event is an error.
absl::Status RefuseDocuments(std::string_view what, const Value& a, const Value& b) {
  if (a.type() == Type::kJson) return TypeError(what, a);
  if (b.type() == Type::kJson) return TypeError(what, b);
  return absl::OkStatus();
}

class ArithExpr final : public Expr {
 public:
  ArithExpr(BinOp op, ExprPtr l, ExprPtr r) : op_(op), l_(std::move(l)), r_(std::move(r)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    Value a, b;
    SV_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    SV_RETURN_IF_ERROR(RefuseDocuments(Cat("operator ", OpName(op_)), a, b));
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
    SV_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    SV_RETURN_IF_ERROR(RefuseDocuments("operator ||", a, b));
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
    SV_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (a.is_null() || b.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    int c;
    SV_RETURN_IF_ERROR(CompareValues(what_, a, b, &c));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, out));
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
      SV_RETURN_IF_ERROR(arg->Eval(ctx, out));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, out));
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
      SV_RETURN_IF_ERROR(arg_->Eval(ctx, out));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, out));
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
    SV_RETURN_IF_ERROR(l_->Eval(ctx, &a));
    SV_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    bool distinct;
    if (a.is_null() || b.is_null()) {
      distinct = a.is_null() != b.is_null();
    } else {
      int c;
      SV_RETURN_IF_ERROR(CompareValues("IS DISTINCT FROM", a, b, &c));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
    if (x.is_null()) {
      *out = Value::Null();
      return absl::OkStatus();
    }
    bool saw_null = false;
    for (const ExprPtr& item : list_) {
      SV_RETURN_IF_ERROR(item->Eval(ctx, out));
      if (out->is_null()) {
        saw_null = true;
        continue;
      }
      int c;
      SV_RETURN_IF_ERROR(CompareValues(negate_ ? "NOT IN" : "IN", x, *out, &c));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
    SV_RETURN_IF_ERROR(low_->Eval(ctx, &lo));
    SV_RETURN_IF_ERROR(high_->Eval(ctx, &hi));
    int c;
    if (symmetric_ && !lo.is_null() && !hi.is_null()) {
      SV_RETURN_IF_ERROR(CompareValues("BETWEEN", lo, hi, &c));
      if (c > 0) std::swap(lo, hi);
    }
    // x >= lo AND x <= hi, three-valued.
    int lower = -1, upper = -1;  // -1 unknown, 0 false, 1 true
    if (!x.is_null() && !lo.is_null()) {
      SV_RETURN_IF_ERROR(CompareValues("BETWEEN", x, lo, &c));
      lower = c >= 0;
    }
    if (!x.is_null() && !hi.is_null()) {
      SV_RETURN_IF_ERROR(CompareValues("BETWEEN", x, hi, &c));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, &s));
    SV_RETURN_IF_ERROR(pattern_->Eval(ctx, &p));
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

}  // namespace

ExprPtr MakeBinary(BinOp op, ExprPtr left, ExprPtr right) {
  if (IsComparison(op)) return std::make_unique<CompareExpr>(op, std::move(left), std::move(right));
  switch (op) {
    case BinOp::kConcat:
      return std::make_unique<ConcatExpr>(std::move(left), std::move(right));
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

}  // namespace sv::sql::internal
