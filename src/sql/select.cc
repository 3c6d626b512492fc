// SelectStatement: a derived view's bound statement, with the checks incremental maintenance
// needs on top of the binder's, and the questions the maintainer asks of its expressions.

#include "sql/select.h"

#include <utility>

#include "sql/bind_internal.h"
#include "sql/expr_internal.h"
#include "sql/lower.h"

namespace sv::sql {
namespace {

using internal::Cat;

ExprNode NodeOf(const BoundPtr& e) { return ExprNode{e.get(), e->offset}; }

SelectStatement::Relation RelationOf(const BoundRelation& r) {
  return SelectStatement::Relation{r.folded, r.alias, r.offset};
}

}  // namespace

SelectStatement::~SelectStatement() = default;

absl::StatusOr<std::unique_ptr<SelectStatement>> SelectStatement::Parse(std::string_view sql,
                                                                        const Location& where) {
  std::unique_ptr<SelectStatement> st(new SelectStatement());
  SV_ASSIGN_OR_RETURN(st->bound_, BindSelect(sql, where));
  SV_RETURN_IF_ERROR(st->Read());
  return st;
}

absl::Status SelectStatement::Error(int64_t offset, std::string_view message) const {
  return bound_->Error(offset, message);
}

absl::Status SelectStatement::Read() {
  const BoundSelect& b = *bound_;
  if (!b.is_view) return Error(0, "unsupported statement; write CREATE VIEW <name> AS SELECT …");
  if (b.view_has_columns) return Error(0, "unsupported column list after the view name");
  if (b.joins.size() > 1) {
    return Error(b.joins[1].offset,
                 "unsupported second JOIN; join two views per derived view and build further "
                 "joins on it");
  }
  from_ = RelationOf(b.from);
  if (!b.joins.empty()) {
    join_ = Join{RelationOf(b.joins[0].relation), b.joins[0].left, NodeOf(b.joins[0].on)};
  }
  if (b.where_clause != nullptr) where_clause_ = NodeOf(b.where_clause);
  for (const BoundPtr& g : b.group_by) group_by_.push_back(NodeOf(g));
  for (const BoundTarget& t : b.targets) {
    if (t.name.empty()) return Error(t.offset, "name this column: <expression> AS <name>");
    for (const Target& other : targets_) {
      if (other.name == t.name) {
        return Error(t.offset, Cat("column ", t.name, " is selected twice; rename one with AS"));
      }
    }
    targets_.push_back(Target{t.name, NodeOf(t.expr), t.offset});
  }
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> SelectStatement::Compile(const ExprNode& node, const Resolver& resolver,
                                                 const NodeHook* hook) const {
  if (hook == nullptr) return Lower(*node.expr, resolver, nullptr, bound_->text, bound_->where);
  const LowerHook lower_hook = [hook](const BoundExpr& e) {
    return (*hook)(ExprNode{&e, e.offset});
  };
  return Lower(*node.expr, resolver, &lower_hook, bound_->text, bound_->where);
}

absl::StatusOr<std::optional<AggregateCall>> SelectStatement::AsAggregate(
    const ExprNode& node) const {
  const BoundExpr& e = *node.expr;
  if (e.kind != BoundKind::kAggregate) return std::nullopt;
  AggregateCall call;
  call.name = e.name;
  call.spec = e.aggregate;
  call.offset = e.offset;
  call.star = e.star;
  call.distinct = e.distinct;
  call.within_group = e.aggregate->ordered_set;
  for (const BoundPtr& a : e.args) call.args.push_back(NodeOf(a));
  for (const BoundPtr& o : e.order_by) call.order_by.push_back(NodeOf(o));
  call.order_desc = e.order_desc;
  if (e.filter != nullptr) call.filter = NodeOf(e.filter);
  return std::optional<AggregateCall>(std::move(call));
}

std::vector<ExprNode> SelectStatement::Conjuncts(const ExprNode& node) const {
  if (node.expr->kind != BoundKind::kAnd) return {node};
  std::vector<ExprNode> out;
  for (const BoundPtr& a : node.expr->args) {
    for (const ExprNode& c : Conjuncts(NodeOf(a))) out.push_back(c);
  }
  return out;
}

bool SelectStatement::AsEquality(const ExprNode& node, ExprNode* left, ExprNode* right) const {
  const BoundExpr& e = *node.expr;
  if (e.kind != BoundKind::kBinary || e.op != BinOp::kEq) return false;
  *left = NodeOf(e.args[0]);
  *right = NodeOf(e.args[1]);
  return true;
}

std::optional<std::vector<std::string>> SelectStatement::AsColumnRef(const ExprNode& node) const {
  if (node.expr->kind != BoundKind::kColumn || !node.expr->path.empty()) return std::nullopt;
  return node.expr->folded;
}

std::optional<int64_t> SelectStatement::AsIntConstant(const ExprNode& node) const {
  const BoundExpr& e = *node.expr;
  if (e.kind != BoundKind::kConst || e.value.type() != Type::kInt || !e.literal.empty()) {
    return std::nullopt;
  }
  return e.value.as_int();
}

std::string SelectStatement::Fingerprint(const ExprNode& node) const {
  return sql::Fingerprint(*node.expr);
}

void SelectStatement::InferTypes(const ColumnTyper& column_type) {
  auto infer = [&](BoundPtr& e) {
    if (e != nullptr) sql::InferTypes(e.get(), column_type);
  };
  for (BoundJoin& j : bound_->joins) infer(j.on);
  infer(bound_->where_clause);
  for (BoundPtr& g : bound_->group_by) infer(g);
  for (BoundTarget& t : bound_->targets) infer(t.expr);
}

absl::StatusOr<Type> SelectStatement::TypeOf(const ExprNode& node) const {
  const BoundExpr& e = *node.expr;
  if (e.type) return *e.type;
  if (!e.untyped_reason.empty()) return Error(node.offset, e.untyped_reason);
  return Error(node.offset, "cannot tell the type of this expression; cast it");
}

}  // namespace sv::sql
