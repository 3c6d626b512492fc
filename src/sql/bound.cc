// The bound tree's helpers and its type inference: the one place that says what type an
// expression has (the maintainer's column types and the printer's casts both read it).

#include "sql/bound.h"

#include "sql/expr_internal.h"

namespace sv::sql {

using internal::Append;
using internal::Cat;

std::string BoundExpr::Display() const {
  std::string out = internal::Join(names, ".");
  for (const std::string& step : path) {
    if (!step.empty() && step[0] == '[') {
      out += step;
    } else {
      Append(&out, ".", step);
    }
  }
  return out;
}

namespace {

void AppendFingerprint(const BoundExpr& e, std::string* out) {
  Append(out, "(", static_cast<int>(e.kind));
  switch (e.kind) {
    case BoundKind::kConst:
      Append(out, ":", static_cast<int>(e.value.type()), ":");
      if (!e.value.is_null()) internal::AppendText(e.value, out);
      break;
    case BoundKind::kColumn:
      Append(out, ":", internal::Join(e.folded, "."), ":", internal::Join(e.path, "."), ":",
             e.element_slot);
      break;
    case BoundKind::kBinary:
      Append(out, ":", static_cast<int>(e.op));
      break;
    case BoundKind::kBoolTest:
      Append(out, ":", static_cast<int>(e.test));
      break;
    case BoundKind::kCast:
      Append(out, ":", static_cast<int>(e.cast), ":", e.scale);
      break;
    case BoundKind::kFunction:
    case BoundKind::kAggregate:
      Append(out, ":", e.name, e.star ? "*" : "", e.distinct ? "distinct" : "");
      break;
    case BoundKind::kSubquery:
      Append(out, ":", e.alias);
      break;
    default:
      break;
  }
  Append(out, ":", e.negate ? "n" : "", e.symmetric ? "s" : "", e.icase ? "i" : "",
         e.greatest ? "g" : "", e.has_operand ? "o" : "", e.has_else ? "e" : "");
  for (const BoundPtr& a : e.args) AppendFingerprint(*a, out);
  if (!e.order_by.empty()) {
    out->append("order");
    for (const BoundPtr& o : e.order_by) AppendFingerprint(*o, out);
    for (bool desc : e.order_desc) out->append(desc ? "d" : "a");
  }
  if (e.filter != nullptr) {
    out->append("filter");
    AppendFingerprint(*e.filter, out);
  }
  out->push_back(')');
}

// The type several branches yield (CASE, COALESCE, GREATEST): NULLs aside, int with real is
// real; otherwise the first known one, as the evaluator returns whichever value it picks.
std::optional<Type> Common(const std::vector<const BoundExpr*>& branches) {
  std::optional<Type> out;
  for (const BoundExpr* b : branches) {
    if (b->type == Type::kNull) continue;
    if (!b->type) return std::nullopt;
    if (!out) {
      out = b->type;
    } else if ((*out == Type::kInt && b->type == Type::kReal) ||
               (*out == Type::kReal && b->type == Type::kInt)) {
      out = Type::kReal;
    }
  }
  return out ? out : std::optional<Type>(Type::kNull);
}

std::optional<Type> TypeOf(BoundExpr* e) {
  auto arg_type = [e](size_t i) { return e->args[i]->type; };
  switch (e->kind) {
    case BoundKind::kConst:
      return e->value.type();
    case BoundKind::kNow:
      return Type::kTime;
    case BoundKind::kColumn:
      return std::nullopt;  // set by the caller's typer
    case BoundKind::kNegate:
    case BoundKind::kUnaryPlus:
    case BoundKind::kNullIf:
      return arg_type(0);
    case BoundKind::kBinary: {
      std::optional<Type> t = BinOpResultType(e->op, arg_type(0), arg_type(1));
      if (!t && arg_type(0) && arg_type(1)) {
        e->untyped_reason = Cat("operator ", BinOpSymbol(e->op), " cannot take ",
                                TypeName(*arg_type(0)), " and ", TypeName(*arg_type(1)));
      }
      return t;
    }
    case BoundKind::kAnd:
    case BoundKind::kOr:
    case BoundKind::kNot:
    case BoundKind::kNullTest:
    case BoundKind::kBoolTest:
    case BoundKind::kDistinct:
    case BoundKind::kIn:
    case BoundKind::kBetween:
    case BoundKind::kLike:
      return Type::kBool;
    case BoundKind::kCase: {
      std::vector<const BoundExpr*> results;
      const size_t first = e->has_operand ? 1 : 0;
      const size_t pairs_end = e->args.size() - (e->has_else ? 1 : 0);
      for (size_t i = first + 1; i < pairs_end; i += 2) results.push_back(e->args[i].get());
      if (e->has_else) results.push_back(e->args.back().get());
      return Common(results);
    }
    case BoundKind::kCoalesce:
    case BoundKind::kMinMax: {
      std::vector<const BoundExpr*> branches;
      for (const BoundPtr& a : e->args) branches.push_back(a.get());
      return Common(branches);
    }
    case BoundKind::kCast:
      return CastResultType(e->cast);
    case BoundKind::kFunction: {
      std::vector<std::optional<Type>> types;
      for (const BoundPtr& a : e->args) types.push_back(a->type);
      std::optional<std::string> first_text;
      if (!e->args.empty() && e->args[0]->kind == BoundKind::kConst &&
          e->args[0]->value.type() == Type::kText) {
        first_text = internal::Lower(e->args[0]->value.as_text());
      }
      std::optional<Type> t = FunctionResultType(*e->function, types, first_text);
      if (!t) {
        e->untyped_reason =
            Cat("cannot tell the type of ", e->name, "(); cast it, e.g. ", e->name, "(…)::real");
      }
      return t;
    }
    case BoundKind::kAggregate: {
      Type arg = Type::kNull;
      const BoundExpr* input = e->aggregate->ordered_set
                                   ? (e->order_by.empty() ? nullptr : e->order_by[0].get())
                                   : (e->star || e->args.empty() ? nullptr : e->args[0].get());
      if (input != nullptr) {
        if (!input->type) return std::nullopt;
        arg = *input->type;
      }
      absl::StatusOr<Type> t = AggregateResultType(*e->aggregate, arg);
      if (!t.ok()) {
        e->untyped_reason = std::string(internal::MessageOf(t.status()));
        return std::nullopt;
      }
      return *t;
    }
    case BoundKind::kSubquery:
      return std::nullopt;
  }
  return std::nullopt;
}

void Infer(BoundExpr* e, const ColumnTyper& column_type) {
  for (BoundPtr& a : e->args) Infer(a.get(), column_type);
  for (BoundPtr& o : e->order_by) Infer(o.get(), column_type);
  if (e->filter != nullptr) Infer(e->filter.get(), column_type);
  if (e->kind == BoundKind::kColumn) {
    e->type = column_type != nullptr && e->element_slot == 0 ? column_type(*e) : std::nullopt;
    return;
  }
  e->type = TypeOf(e);
  if (e->type || !e->untyped_reason.empty()) return;
  // Unknown because a part is: say which.
  for (const BoundPtr& a : e->args) {
    if (!a->type && !a->untyped_reason.empty()) {
      e->untyped_reason = a->untyped_reason;
      return;
    }
  }
}

}  // namespace

std::string Fingerprint(const BoundExpr& expr) {
  std::string out;
  AppendFingerprint(expr, &out);
  return out;
}

void InferTypes(BoundExpr* expr, const ColumnTyper& column_type) { Infer(expr, column_type); }

}  // namespace sv::sql
