// Expression nodes: CASE, COALESCE, NULLIF, GREATEST/LEAST, casts, function calls, JSON array
// lengths and array-subquery aggregates.

#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "sql/nodes_internal.h"

namespace sv::sql::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// ---------------------------------------------------------------------------------------------
// Conditionals.

class CaseExpr final : public Expr {
 public:
  CaseExpr(ExprPtr arg, std::vector<std::pair<ExprPtr, ExprPtr>> whens, ExprPtr otherwise)
      : arg_(std::move(arg)), whens_(std::move(whens)), otherwise_(std::move(otherwise)) {}
  absl::Status Eval(EvalContext& ctx, Value* out) const override {
    if (arg_ != nullptr) {
      Value x;
      SV_RETURN_IF_ERROR(arg_->Eval(ctx, &x));
      for (const auto& [when, then] : whens_) {
        if (x.is_null()) break;
        SV_RETURN_IF_ERROR(when->Eval(ctx, out));
        if (out->is_null()) continue;
        int c;
        SV_RETURN_IF_ERROR(CompareValues("CASE", x, *out, &c));
        if (c == 0) return then->Eval(ctx, out);
      }
    } else {
      for (const auto& [when, then] : whens_) {
        SV_RETURN_IF_ERROR(when->Eval(ctx, out));
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
      SV_RETURN_IF_ERROR(arg->Eval(ctx, out));
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
    SV_RETURN_IF_ERROR(l_->Eval(ctx, out));
    if (out->is_null()) return absl::OkStatus();
    Value b;
    SV_RETURN_IF_ERROR(r_->Eval(ctx, &b));
    if (b.is_null()) return absl::OkStatus();
    int c;
    SV_RETURN_IF_ERROR(CompareValues("NULLIF", *out, b, &c));
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
      SV_RETURN_IF_ERROR(arg->Eval(ctx, &v));
      if (v.is_null()) continue;
      if (out->is_null()) {
        *out = std::move(v);
        continue;
      }
      int c;
      SV_RETURN_IF_ERROR(CompareValues(greatest_ ? "GREATEST" : "LEAST", v, *out, &c));
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
    SV_RETURN_IF_ERROR(arg_->Eval(ctx, out));
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
      SV_RETURN_IF_ERROR(args_[i]->Eval(ctx, &values[i]));
      if (spec_->strict && values[i].is_null()) {
        *out = Value::Null();
        return absl::OkStatus();
      }
    }
    SV_RETURN_IF_ERROR(spec_->fn(values, N, out));
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
      SV_RETURN_IF_ERROR(args_[i]->Eval(ctx, &values[i]));
      if (spec_->strict && values[i].is_null()) {
        *out = Value::Null();
        return absl::OkStatus();
      }
    }
    SV_RETURN_IF_ERROR(spec_->fn(values.data(), static_cast<int>(values.size()), out));
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
  ArrayAggregateExpr(std::unique_ptr<JsonPathExpr> source, int slot, AggKind kind,
                     const std::string& name, ExprPtr arg, ExprPtr separator, ExprPtr filter)
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
      SV_RETURN_IF_ERROR(status);
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
        SV_RETURN_IF_ERROR(filter_->Eval(ctx, &v));
        if (v.is_null()) continue;
        if (v.type() != Type::kBool) return NotBoolean("WHERE", v);
        if (!v.as_bool()) continue;
      }
      if (kind_ == AggKind::kCountStar) {
        ++st->count;
        continue;
      }
      SV_RETURN_IF_ERROR(arg_->Eval(ctx, &v));
      if (v.is_null()) continue;
      switch (kind_) {
        case AggKind::kJsonArrayAgg:  // not array aggregates: the binder refuses them there
        case AggKind::kJsonObjectAgg:
        case AggKind::kPercentileCont:
        case AggKind::kPercentileDisc:
        case AggKind::kCountStar:
        case AggKind::kCount:
          ++st->count;
          break;
        case AggKind::kSum:
          SV_RETURN_IF_ERROR(AddToSum(v, st));
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
          SV_RETURN_IF_ERROR(CompareValues(name_, v, st->best, &c));
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
            SV_RETURN_IF_ERROR(separator_->Eval(ctx, &sep));
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
      case AggKind::kJsonArrayAgg:  // not array aggregates: the binder refuses them there
      case AggKind::kJsonObjectAgg:
      case AggKind::kPercentileCont:
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
                           const std::string& name, ExprPtr arg, ExprPtr separator,
                           ExprPtr filter) {
  return std::make_unique<ArrayAggregateExpr>(std::move(source), slot, kind, name, std::move(arg),
                                              std::move(separator), std::move(filter));
}

}  // namespace sv::sql::internal
