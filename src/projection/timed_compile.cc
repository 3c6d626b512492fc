// CollectTimeAtoms: where a derived view may read the clock. Only comparisons that are monotone
// in time are allowed, so that each changes value at most once per row and the maintainer can
// wake a row at that instant instead of recomputing the view as the clock moves.

#include "projection/timed_compile.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace sv::projection::internal {
namespace {

using sql::BoundExpr;
using sql::BoundKind;

constexpr char kWhereAllowed[] =
    "is allowed only in a derived view's WHERE or an aggregate's FILTER, compared with a "
    "timestamp of the row: <row timestamp> <, <=, > or >= now() [+/- interval], "
    "date_trunc('<unit>', now()) [+/- interval] or current_date [+/- interval]";

bool ReadsClock(const BoundExpr& e) {
  if (e.kind == BoundKind::kNow) return true;
  for (const sql::BoundPtr& a : e.args) {
    if (ReadsClock(*a)) return true;
  }
  for (const sql::BoundPtr& a : e.order_by) {
    if (ReadsClock(*a)) return true;
  }
  return e.filter != nullptr && ReadsClock(*e.filter);
}

bool ReadsColumns(const BoundExpr& e) {
  if (e.kind == BoundKind::kColumn || e.kind == BoundKind::kAggregate) return true;
  for (const sql::BoundPtr& a : e.args) {
    if (ReadsColumns(*a)) return true;
  }
  return false;
}

std::optional<sql::AtomOp> AtomOpOf(sql::BinOp op) {
  switch (op) {
    case sql::BinOp::kLt:
      return sql::AtomOp::kLess;
    case sql::BinOp::kLe:
      return sql::AtomOp::kLessEqual;
    case sql::BinOp::kGt:
      return sql::AtomOp::kGreater;
    case sql::BinOp::kGe:
      return sql::AtomOp::kGreaterEqual;
    default:
      return std::nullopt;
  }
}

class Collector {
 public:
  Collector(const sql::SelectStatement& st,
            const std::function<absl::StatusOr<sql::ExprPtr>(const sql::ExprNode&)>& compile_row,
            std::vector<TimeAtomPlan>* atoms)
      : st_(st), compile_row_(compile_row), atoms_(atoms) {}

  // `allowed`: inside WHERE or FILTER, where a comparison may read the clock.
  absl::Status Visit(const BoundExpr& e, bool allowed) {
    if (e.kind == BoundKind::kNow) return Refuse(e);
    if (e.kind == BoundKind::kAggregate) {
      for (const sql::BoundPtr& a : e.args) SV_RETURN_IF_ERROR(Visit(*a, false));
      for (const sql::BoundPtr& a : e.order_by) SV_RETURN_IF_ERROR(Visit(*a, false));
      if (e.filter != nullptr) SV_RETURN_IF_ERROR(Visit(*e.filter, true));
      return absl::OkStatus();
    }
    if (allowed && e.kind == BoundKind::kBinary && AtomOpOf(e.op) && ReadsClock(e)) {
      return Atom(e);
    }
    for (const sql::BoundPtr& a : e.args) SV_RETURN_IF_ERROR(Visit(*a, allowed));
    for (const sql::BoundPtr& a : e.order_by) SV_RETURN_IF_ERROR(Visit(*a, false));
    if (e.filter != nullptr) SV_RETURN_IF_ERROR(Visit(*e.filter, allowed));
    return absl::OkStatus();
  }

 private:
  absl::Status Refuse(const BoundExpr& e) const {
    return st_.Error(e.offset,
                     absl::StrCat(e.name == "now" ? "now()" : e.name, " ", kWhereAllowed));
  }
  // The first now() under `e`, for an error's position.
  const BoundExpr* FirstNow(const BoundExpr& e) const {
    if (e.kind == BoundKind::kNow) return &e;
    for (const sql::BoundPtr& a : e.args) {
      if (const BoundExpr* n = FirstNow(*a)) return n;
    }
    return nullptr;
  }

  // A constant interval (no column, no clock): its microseconds.
  std::optional<int64_t> ConstantInterval(const BoundExpr& e) const {
    if (ReadsClock(e) || ReadsColumns(e)) return std::nullopt;
    const sql::Resolver none = [](const sql::NameRef&) -> absl::StatusOr<sql::Binding> {
      return absl::InvalidArgumentError("a column");
    };
    absl::StatusOr<sql::ExprPtr> lowered = st_.Compile({&e, e.offset}, none, nullptr);
    if (!lowered.ok()) return std::nullopt;
    absl::StatusOr<Value> v = sql::EvalConstant(**lowered);
    if (!v.ok() || v->type() != Type::kInterval) return std::nullopt;
    return v->as_int();
  }

  // g(now()): now(), date_trunc('<unit>', now()), either ± a constant interval.
  bool MatchClock(const BoundExpr& e, sql::AtomShape* shape) const {
    if (e.kind == BoundKind::kNow) return true;
    if (e.kind == BoundKind::kFunction && e.name == "date_trunc" && e.args.size() == 2 &&
        e.args[0]->kind == BoundKind::kConst && e.args[0]->value.type() == Type::kText &&
        e.args[1]->kind == BoundKind::kNow) {
      shape->unit = e.args[0]->value.as_text();
      return sql::TruncUnitStep(shape->unit).has_value();
    }
    if (e.kind != BoundKind::kBinary || (e.op != sql::BinOp::kAdd && e.op != sql::BinOp::kSub)) {
      return false;
    }
    const bool clock_left = ReadsClock(*e.args[0]);
    if (!clock_left && e.op == sql::BinOp::kSub) return false;  // interval - now()
    const BoundExpr& g = *e.args[clock_left ? 0 : 1];
    std::optional<int64_t> c = ConstantInterval(*e.args[clock_left ? 1 : 0]);
    if (!c || !MatchClock(g, shape)) return false;
    shape->offset_us += e.op == sql::BinOp::kAdd ? *c : -*c;
    return true;
  }

  absl::Status Atom(const BoundExpr& e) {
    const bool clock_right = ReadsClock(*e.args[1]);
    const BoundExpr& row = *e.args[clock_right ? 0 : 1];
    const BoundExpr& clock = *e.args[clock_right ? 1 : 0];
    TimeAtomPlan atom;
    if (ReadsClock(row) || !MatchClock(clock, &atom.shape)) {
      return st_.Error(FirstNow(e)->offset,
                       absl::StrCat("unsupported use of the clock; now() ", kWhereAllowed));
    }
    const sql::ExprNode node{&row, row.offset};
    absl::StatusOr<Type> type = st_.TypeOf(node);
    if (!type.ok() || *type != Type::kTime) {
      return st_.Error(row.offset, absl::StrCat("compare a timestamp with the clock, not ",
                                                type.ok() ? std::string(TypeName(*type)) : "this"));
    }
    atom.shape.op = *AtomOpOf(e.op);
    if (!clock_right) atom.shape.op = sql::MirrorAtomOp(atom.shape.op);
    SV_ASSIGN_OR_RETURN(atom.row, compile_row_(node));
    atoms_->push_back(std::move(atom));
    return absl::OkStatus();
  }

  const sql::SelectStatement& st_;
  const std::function<absl::StatusOr<sql::ExprPtr>(const sql::ExprNode&)>& compile_row_;
  std::vector<TimeAtomPlan>* atoms_;
};

}  // namespace

absl::Status CollectTimeAtoms(
    const sql::SelectStatement& st,
    const std::function<absl::StatusOr<sql::ExprPtr>(const sql::ExprNode&)>& compile_row,
    std::vector<TimeAtomPlan>* atoms) {
  Collector collector(st, compile_row, atoms);
  if (st.join()) SV_RETURN_IF_ERROR(collector.Visit(*st.join()->on.expr, false));
  if (st.where()) SV_RETURN_IF_ERROR(collector.Visit(*st.where()->expr, true));
  for (const sql::ExprNode& g : st.group_by()) SV_RETURN_IF_ERROR(collector.Visit(*g.expr, false));
  for (const sql::SelectStatement::Target& t : st.targets()) {
    SV_RETURN_IF_ERROR(collector.Visit(*t.expr.expr, false));
  }
  return absl::OkStatus();
}

}  // namespace sv::projection::internal
