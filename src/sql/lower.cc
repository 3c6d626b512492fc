// Lowering: a bound expression becomes the evaluator's node tree (nodes.cc). Names are resolved
// here through the caller's Resolver (array subquery aliases are already bound to element
// slots), constant subtrees are folded, and errors point at the construct as file:line:col.

#include "sql/lower.h"

#include <utility>

#include "sql/bind_internal.h"
#include "sql/expr_internal.h"

namespace sv::sql {
namespace {

using internal::Cat;
using internal::ConstValue;
using internal::JsonLength;
using internal::JsonPathExpr;
using internal::JsonStep;
using internal::MessageOf;

std::vector<JsonStep> ToSteps(const std::vector<std::string>& path) {
  std::vector<JsonStep> steps;
  for (const std::string& p : path) {
    JsonStep s;
    int64_t index;
    if (p.size() > 2 && p.front() == '[' && p.back() == ']' &&
        internal::ParseInt(std::string_view(p).substr(1, p.size() - 2), &index)) {
      s.is_index = true;
      s.index = index;
    } else {
      s.key = p;
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

class Lowerer {
 public:
  Lowerer(const Resolver& resolver, const LowerHook* hook, std::string_view text,
          const Location& where)
      : resolver_(resolver), hook_(hook), text_(text), where_(where) {}

  absl::StatusOr<ExprPtr> Lower(const BoundExpr& e);

 private:
  absl::Status Error(int64_t offset, std::string_view message) const {
    if (offset > static_cast<int64_t>(text_.size())) offset = static_cast<int64_t>(text_.size());
    return ErrorAt(where_.Advance(text_, static_cast<size_t>(std::max<int64_t>(offset, 0))),
                   message);
  }
  absl::StatusOr<std::vector<ExprPtr>> LowerAll(const std::vector<BoundPtr>& args) {
    std::vector<ExprPtr> out;
    out.reserve(args.size());
    for (const BoundPtr& a : args) {
      SV_ASSIGN_OR_RETURN(ExprPtr e, Lower(*a));
      out.push_back(std::move(e));
    }
    return out;
  }
  // Evaluates `expr` now when every one of `parts` is a constant.
  absl::StatusOr<ExprPtr> Fold(ExprPtr expr, const std::vector<const Expr*>& parts,
                               int64_t offset) const {
    for (const Expr* p : parts) {
      if (p != nullptr && ConstValue(*p) == nullptr) return expr;
    }
    absl::StatusOr<Value> value = EvalConstant(*expr);
    if (!value.ok()) return Error(offset, MessageOf(value.status()));
    return internal::MakeConst(std::move(value).value());
  }
  static std::vector<const Expr*> Raw(const std::vector<ExprPtr>& args) {
    std::vector<const Expr*> raw;
    raw.reserve(args.size());
    for (const ExprPtr& a : args) raw.push_back(a.get());
    return raw;
  }

  absl::StatusOr<Binding> Resolve(const BoundExpr& column);
  absl::StatusOr<ExprPtr> LowerColumn(const BoundExpr& column);
  absl::StatusOr<std::unique_ptr<JsonPathExpr>> PathOf(const BoundExpr& column, const Binding& b);
  absl::StatusOr<ExprPtr> LowerFunction(const BoundExpr& e);
  absl::StatusOr<ExprPtr> LowerSubquery(const BoundExpr& e);

  const Resolver& resolver_;
  const LowerHook* hook_;
  std::string_view text_;
  Location where_;
};

absl::StatusOr<Binding> Lowerer::Resolve(const BoundExpr& column) {
  Binding b;
  if (column.element_slot > 0) {
    b.kind = Binding::Kind::kElementField;
    b.slot = column.element_slot;
    b.path.assign(column.names.begin() + 1, column.names.end());
  } else {
    NameRef ref;
    ref.parts = column.names;
    ref.offset = static_cast<size_t>(column.offset);
    absl::StatusOr<Binding> resolved = resolver_(ref);
    if (!resolved.ok()) return Error(column.offset, MessageOf(resolved.status()));
    b = *std::move(resolved);
  }
  if (!column.path.empty()) {
    if (b.kind != Binding::Kind::kEventField && b.kind != Binding::Kind::kElementField) {
      return Error(column.offset, Cat("cannot subscript ", internal::Join(column.names, "."),
                                      ": it is not a JSON field"));
    }
    b.path.insert(b.path.end(), column.path.begin(), column.path.end());
  }
  return b;
}

absl::StatusOr<std::unique_ptr<JsonPathExpr>> Lowerer::PathOf(const BoundExpr& column,
                                                              const Binding& b) {
  const std::string display = column.Display();
  int slot = -1;
  if (b.kind == Binding::Kind::kElementField) {
    if (b.slot < 0 || b.slot >= kMaxElementDepth) {
      return Error(column.offset,
                   Cat("element slot ", b.slot, " of ", display, " is out of range"));
    }
    slot = b.slot;
  } else if (b.kind != Binding::Kind::kEventField) {
    return Error(column.offset, Cat(display, " is not a JSON field"));
  }
  return std::make_unique<JsonPathExpr>(slot, ToSteps(b.path), display);
}

absl::StatusOr<ExprPtr> Lowerer::LowerColumn(const BoundExpr& column) {
  SV_ASSIGN_OR_RETURN(Binding b, Resolve(column));
  const std::string display = column.Display();
  switch (b.kind) {
    case Binding::Kind::kEventField:
    case Binding::Kind::kElementField: {
      SV_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path, PathOf(column, b));
      return ExprPtr(std::move(path));
    }
    case Binding::Kind::kHeader:
      if (b.path.empty()) return Error(column.offset, Cat("header ", display, " has no name"));
      return internal::MakeHeader(b.path[0]);
    case Binding::Kind::kMeta:
      if (b.slot < 0 || b.slot >= static_cast<int>(MetaField::kCount)) {
        return Error(column.offset, Cat("metadata slot of ", display, " is out of range"));
      }
      return internal::MakeMeta(b.slot);
    case Binding::Kind::kRowColumn:
      if (b.slot < 0) return Error(column.offset, Cat("bad column slot for ", display));
      return internal::MakeRowColumn(b.slot);
    case Binding::Kind::kViewColumn:
      if (b.slot < 0 || b.column < 0) {
        return Error(column.offset, Cat("bad view column slot for ", display));
      }
      return internal::MakeViewColumn(b.slot, b.column);
    case Binding::Kind::kConstant:
      return internal::MakeConst(b.value);
  }
  return Error(column.offset, Cat("cannot bind ", display));
}

absl::StatusOr<ExprPtr> Lowerer::LowerFunction(const BoundExpr& e) {
  const std::string& name = e.name;
  // Lengths of JSON arrays.
  const bool is_length = name == "length" || name == "char_length" || name == "character_length";
  if ((is_length || name == "cardinality" || name == "array_length") && !e.args.empty() &&
      e.args[0]->kind == BoundKind::kColumn) {
    SV_ASSIGN_OR_RETURN(Binding b, Resolve(*e.args[0]));
    if (b.kind == Binding::Kind::kEventField || b.kind == Binding::Kind::kElementField) {
      if (e.args.size() == 2) {
        const BoundExpr& dim = *e.args[1];
        if (dim.kind != BoundKind::kConst || dim.value.type() != Type::kInt ||
            dim.value.as_int() != 1) {
          return Error(dim.offset, "array_length(): only dimension 1 is supported");
        }
      }
      SV_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path, PathOf(*e.args[0], b));
      const JsonLength kind = is_length               ? JsonLength::kLength
                              : name == "cardinality" ? JsonLength::kCardinality
                                                      : JsonLength::kArrayLength;
      return internal::MakeJsonLength(std::move(path), kind);
    }
  }
  if (!is_length && (name == "cardinality" || name == "array_length")) {
    return Error(e.offset, Cat(name, "() needs a JSON array field such as e.items"));
  }
  SV_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, LowerAll(e.args));
  std::vector<const Expr*> raw = Raw(args);
  return Fold(internal::MakeFunction(e.function, std::move(args)), raw, e.offset);
}

absl::StatusOr<ExprPtr> Lowerer::LowerSubquery(const BoundExpr& e) {
  const BoundExpr& source = *e.args[0];
  SV_ASSIGN_OR_RETURN(Binding b, Resolve(source));
  if (b.kind != Binding::Kind::kEventField && b.kind != Binding::Kind::kElementField) {
    return Error(source.offset, Cat("array subquery source ", source.Display(),
                                    " must be a JSON array field such as e.items"));
  }
  SV_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path, PathOf(source, b));
  ExprPtr where;
  if (e.filter != nullptr) {
    SV_ASSIGN_OR_RETURN(where, Lower(*e.filter));
  }
  const BoundExpr& call = *e.args[1];
  SV_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, LowerAll(call.args));
  if (call.filter != nullptr) {
    SV_ASSIGN_OR_RETURN(ExprPtr filter, Lower(*call.filter));
    if (where == nullptr) {
      where = std::move(filter);
    } else {
      std::vector<ExprPtr> both;
      both.push_back(std::move(where));
      both.push_back(std::move(filter));
      where = internal::MakeAnd(std::move(both));
    }
  }
  const AggKind kind = call.star ? AggKind::kCountStar : call.aggregate->kind;
  ExprPtr arg = args.empty() ? nullptr : std::move(args[0]);
  ExprPtr separator = args.size() > 1 ? std::move(args[1]) : nullptr;
  return internal::MakeArrayAggregate(std::move(path), e.element_slot, kind, call.name,
                                      std::move(arg), std::move(separator), std::move(where));
}

absl::StatusOr<ExprPtr> Lowerer::Lower(const BoundExpr& e) {
  if (hook_ != nullptr) {
    SV_ASSIGN_OR_RETURN(ExprPtr hooked, (*hook_)(e));
    if (hooked != nullptr) return hooked;
  }
  switch (e.kind) {
    case BoundKind::kConst:
      return internal::MakeConst(e.value);
    case BoundKind::kColumn:
      return LowerColumn(e);
    case BoundKind::kFunction:
      return LowerFunction(e);
    case BoundKind::kSubquery:
      return LowerSubquery(e);
    case BoundKind::kNow:
      return internal::MakeNow();
    case BoundKind::kAggregate:
      return Error(e.offset, Cat("aggregate ", e.name, "() is not allowed here"));
    default:
      break;
  }
  SV_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, LowerAll(e.args));
  const std::vector<const Expr*> raw = Raw(args);
  ExprPtr out;
  switch (e.kind) {
    case BoundKind::kNegate:
      out = internal::MakeNegate(std::move(args[0]));
      break;
    case BoundKind::kUnaryPlus:
      out = internal::MakeUnaryPlus(std::move(args[0]));
      break;
    case BoundKind::kBinary:
      out = internal::MakeBinary(e.op, std::move(args[0]), std::move(args[1]));
      break;
    case BoundKind::kAnd:
      out = internal::MakeAnd(std::move(args));
      break;
    case BoundKind::kOr:
      out = internal::MakeOr(std::move(args));
      break;
    case BoundKind::kNot:
      out = internal::MakeNot(std::move(args[0]));
      break;
    case BoundKind::kNullTest:
      out = internal::MakeNullTest(std::move(args[0]), e.negate);
      break;
    case BoundKind::kBoolTest:
      out = internal::MakeBoolTest(std::move(args[0]), e.test);
      break;
    case BoundKind::kDistinct:
      out = internal::MakeDistinct(std::move(args[0]), std::move(args[1]), e.negate);
      break;
    case BoundKind::kNullIf:
      out = internal::MakeNullIf(std::move(args[0]), std::move(args[1]));
      break;
    case BoundKind::kIn: {
      ExprPtr x = std::move(args[0]);
      args.erase(args.begin());
      out = internal::MakeIn(std::move(x), std::move(args), e.negate);
      break;
    }
    case BoundKind::kBetween:
      out = internal::MakeBetween(std::move(args[0]), std::move(args[1]), std::move(args[2]),
                                  e.negate, e.symmetric);
      break;
    case BoundKind::kLike:
      out = internal::MakeLike(std::move(args[0]), std::move(args[1]), e.negate, e.icase);
      break;
    case BoundKind::kCase: {
      size_t i = 0;
      ExprPtr operand = e.has_operand ? std::move(args[i++]) : nullptr;
      const size_t pairs_end = args.size() - (e.has_else ? 1 : 0);
      std::vector<std::pair<ExprPtr, ExprPtr>> whens;
      for (; i + 1 < pairs_end; i += 2) {
        whens.emplace_back(std::move(args[i]), std::move(args[i + 1]));
      }
      ExprPtr otherwise = e.has_else ? std::move(args.back()) : nullptr;
      out = internal::MakeCase(std::move(operand), std::move(whens), std::move(otherwise));
      break;
    }
    case BoundKind::kCoalesce:
      out = internal::MakeCoalesce(std::move(args));
      break;
    case BoundKind::kMinMax:
      out = internal::MakeMinMax(std::move(args), e.greatest);
      break;
    case BoundKind::kCast:
      out = internal::MakeCast(std::move(args[0]), e.cast, e.scale);
      break;
    default:
      return Error(e.offset, "unsupported expression");
  }
  return Fold(std::move(out), raw, e.offset);
}

}  // namespace

absl::StatusOr<ExprPtr> Lower(const BoundExpr& expr, const Resolver& resolver,
                              const LowerHook* hook, std::string_view text, const Location& where) {
  Lowerer lowerer(resolver, hook, text, where);
  return lowerer.Lower(expr);
}

absl::StatusOr<ExprPtr> Compile(std::string_view sql, const Resolver& resolver,
                                const Location& where) {
  SV_ASSIGN_OR_RETURN(BoundPtr bound, BindExpression(sql, where));
  return Lower(*bound, resolver, nullptr, sql, where);
}

ExprPtr MakeColumnSlot(int slot) { return internal::MakeRowColumn(slot); }

}  // namespace sv::sql
