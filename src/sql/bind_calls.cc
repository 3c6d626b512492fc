// The binder, continued: operators, boolean logic, CASE, casts, function and aggregate calls,
// and the array subqueries of handler expressions.

#include <utility>

#include "absl/strings/ascii.h"
#include "sql/bind_internal.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {

using simdjson::dom::element;
using simdjson::dom::object;

std::string FoldedFunctionName(const std::vector<element>& parts) {
  std::vector<std::string> names;
  names.reserve(parts.size());
  for (const element& n : parts) names.emplace_back(StringNode(n));
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  return Lower(Join(names, "."));
}

absl::StatusOr<BoundPtr> Binder::BindAExpr(const object& body, int64_t loc) {
  const AExprKind kind = AExprKindOf(body);
  std::vector<element> names = GetList(body, "name");
  const std::string op = names.empty() ? std::string() : std::string(StringNode(names.back()));
  element lnode, rnode;
  const bool has_l = Get(body, "lexpr", &lnode);
  const bool has_r = Get(body, "rexpr", &rnode);
  auto bind_two = [&](BoundKind k) -> absl::StatusOr<BoundPtr> {
    BoundPtr e = Make(k, loc);
    SV_ASSIGN_OR_RETURN(BoundPtr l, Bind(lnode, loc));
    SV_ASSIGN_OR_RETURN(BoundPtr r, Bind(rnode, loc));
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  };

  if (kind == AExprKind::kOp) {
    if (!has_r) return ErrorAtText(loc, Cat("unsupported postfix operator ", op));
    if (!has_l) {
      if (op != "-" && op != "+") return ErrorAtText(loc, Cat("unsupported operator ", op));
      BoundPtr e = Make(op == "-" ? BoundKind::kNegate : BoundKind::kUnaryPlus, loc);
      SV_ASSIGN_OR_RETURN(BoundPtr r, Bind(rnode, loc));
      e->args.push_back(std::move(r));
      return e;
    }
    BinOp binop;
    if (!LookupBinOp(op, &binop)) return ErrorAtText(loc, Cat("unsupported operator ", op));
    SV_ASSIGN_OR_RETURN(BoundPtr e, bind_two(BoundKind::kBinary));
    e->op = binop;
    return e;
  }
  if (!has_l || !has_r) return ErrorAtText(loc, "unsupported expression");
  if (kind == AExprKind::kDistinct || kind == AExprKind::kNotDistinct) {
    SV_ASSIGN_OR_RETURN(BoundPtr e, bind_two(BoundKind::kDistinct));
    e->negate = kind == AExprKind::kNotDistinct;
    return e;
  }
  if (kind == AExprKind::kNullIf) return bind_two(BoundKind::kNullIf);
  if (kind == AExprKind::kIn) {
    std::string_view rtype;
    object list;
    if (!Unwrap(rnode, &rtype, &list) || rtype != "List") {
      return ErrorAtText(loc, "unsupported IN operand; write a list such as x IN (1, 2)");
    }
    BoundPtr e = Make(BoundKind::kIn, loc);
    SV_ASSIGN_OR_RETURN(BoundPtr l, Bind(lnode, loc));
    SV_ASSIGN_OR_RETURN(std::vector<BoundPtr> items, BindList(GetList(list, "items"), loc));
    e->args.push_back(std::move(l));
    for (BoundPtr& item : items) e->args.push_back(std::move(item));
    e->negate = op == "<>";
    return e;
  }
  if (kind == AExprKind::kLike || kind == AExprKind::kILike) {
    if (NodeType(rnode) == "FuncCall") {
      return ErrorAtText(loc, "unsupported LIKE ... ESCAPE (backslash is the escape character)");
    }
    SV_ASSIGN_OR_RETURN(BoundPtr e, bind_two(BoundKind::kLike));
    e->negate = !op.empty() && op[0] == '!';
    e->icase = kind == AExprKind::kILike;
    return e;
  }
  if (kind == AExprKind::kBetween || kind == AExprKind::kNotBetween ||
      kind == AExprKind::kBetweenSym || kind == AExprKind::kNotBetweenSym) {
    std::string_view rtype;
    object list;
    if (!Unwrap(rnode, &rtype, &list) || rtype != "List") {
      return ErrorAtText(loc, "unsupported BETWEEN");
    }
    std::vector<element> bounds = GetList(list, "items");
    if (bounds.size() != 2) return ErrorAtText(loc, "unsupported BETWEEN");
    BoundPtr e = Make(BoundKind::kBetween, loc);
    SV_ASSIGN_OR_RETURN(BoundPtr x, Bind(lnode, loc));
    SV_ASSIGN_OR_RETURN(BoundPtr lo, Bind(bounds[0], loc));
    SV_ASSIGN_OR_RETURN(BoundPtr hi, Bind(bounds[1], loc));
    e->args.push_back(std::move(x));
    e->args.push_back(std::move(lo));
    e->args.push_back(std::move(hi));
    e->negate = kind == AExprKind::kNotBetween || kind == AExprKind::kNotBetweenSym;
    e->symmetric = kind == AExprKind::kBetweenSym || kind == AExprKind::kNotBetweenSym;
    return e;
  }
  if (kind == AExprKind::kOpAny || kind == AExprKind::kOpAll) {
    return ErrorAtText(loc, "unsupported ANY/ALL; write x IN (a, b)");
  }
  if (kind == AExprKind::kSimilar) return ErrorAtText(loc, "unsupported SIMILAR TO; use LIKE");
  return ErrorAtText(loc, Cat("unsupported operator ", op));
}

absl::StatusOr<BoundPtr> Binder::BindBoolExpr(const object& body, int64_t loc) {
  const std::string_view op = GetString(body, "boolop");
  BoundKind kind;
  if (op == "NOT_EXPR") {
    kind = BoundKind::kNot;
  } else if (op == "AND_EXPR") {
    kind = BoundKind::kAnd;
  } else if (op == "OR_EXPR") {
    kind = BoundKind::kOr;
  } else {
    return ErrorAtText(loc, Cat("unsupported boolean operator ", op));
  }
  BoundPtr e = Make(kind, loc);
  SV_ASSIGN_OR_RETURN(e->args, BindList(GetList(body, "args"), loc));
  if (e->args.empty()) return ErrorAtText(loc, "unsupported empty boolean expression");
  return e;
}

absl::StatusOr<BoundPtr> Binder::BindCase(const object& body, int64_t loc) {
  BoundPtr e = Make(BoundKind::kCase, loc);
  element node;
  if (Get(body, "arg", &node)) {
    SV_ASSIGN_OR_RETURN(BoundPtr operand, Bind(node, loc));
    e->args.push_back(std::move(operand));
    e->has_operand = true;
  }
  for (const element& w : GetList(body, "args")) {
    std::string_view type;
    object when;
    element cond, result;
    if (!Unwrap(w, &type, &when) || type != "CaseWhen" || !Get(when, "expr", &cond) ||
        !Get(when, "result", &result)) {
      return ErrorAtText(loc, "unsupported CASE form");
    }
    const int64_t wloc = GetInt(when, "location", loc);
    SV_ASSIGN_OR_RETURN(BoundPtr c, Bind(cond, wloc));
    SV_ASSIGN_OR_RETURN(BoundPtr r, Bind(result, wloc));
    e->args.push_back(std::move(c));
    e->args.push_back(std::move(r));
  }
  if (Get(body, "defresult", &node)) {
    SV_ASSIGN_OR_RETURN(BoundPtr otherwise, Bind(node, loc));
    e->args.push_back(std::move(otherwise));
    e->has_else = true;
  }
  return e;
}

absl::StatusOr<BoundPtr> Binder::BindTypeCast(const object& body, int64_t loc) {
  element arg_node, type_node;
  object type_name;
  if (!Get(body, "arg", &arg_node) || !Get(body, "typeName", &type_node) ||
      type_node.get_object().get(type_name) != simdjson::SUCCESS) {
    return ErrorAtText(loc, "unsupported cast");
  }
  const int64_t type_loc = GetInt(type_name, "location", loc);
  const std::string type = FoldedFunctionName(GetList(type_name, "names"));
  if (Has(type_name, "arrayBounds")) {
    return ErrorAtText(type_loc, Cat("unsupported array type ", type, "[]"));
  }
  BoundPtr e = Make(BoundKind::kCast, loc);
  e->type_name = type;
  // Both stores hold dates as timestamps; a date is a timestamp at midnight only to the engine.
  if (!LookupCastType(type, &e->cast) ||
      (mode_ == BindMode::kView && e->cast == CastTarget::kDate)) {
    return ErrorAtText(type_loc, Cat("unsupported type ", type));
  }
  std::vector<element> typmods = GetList(type_name, "typmods");
  if (!typmods.empty()) {
    if (type == "numeric" || type == "decimal") {
      e->scale = 0;
      if (typmods.size() >= 2) {
        SV_ASSIGN_OR_RETURN(int64_t s, IntConst(typmods[1], type_loc, "numeric scale"));
        if (s < 0 || s > 15) return ErrorAtText(type_loc, "unsupported numeric scale");
        e->scale = static_cast<int>(s);
      }
    } else if (e->cast == CastTarget::kInterval) {
      return ErrorAtText(type_loc, "unsupported interval field qualifier; write interval '2 days'");
    } else {
      return ErrorAtText(type_loc, Cat("unsupported type modifier on ", type));
    }
  }
  const int64_t arg_loc = FindLocation(arg_node) >= 0 ? FindLocation(arg_node) : loc;
  SV_ASSIGN_OR_RETURN(BoundPtr a, Bind(arg_node, arg_loc));
  e->offset = Offset(arg_loc);
  e->args.push_back(std::move(a));
  return e;
}

absl::StatusOr<BoundPtr> Binder::BindFuncCall(const object& body, int64_t loc) {
  std::string name = FoldedFunctionName(GetList(body, "funcname"));
  if (name.empty()) return ErrorAtText(loc, "unsupported function call");
  if (IsOtherAggregate(name)) return ErrorAtText(loc, Cat("unsupported aggregate ", name, "()"));
  if (Has(body, "over")) {
    return ErrorAtText(loc, Cat("unsupported window function ", name, "() OVER (...)"));
  }
  if (name == "now" && mode_ == BindMode::kView && GetList(body, "args").empty()) {
    BoundPtr e = Make(BoundKind::kNow, loc);
    e->name = "now";
    return e;
  }
  if (IsNondeterministic(name)) return ErrorAtText(loc, NondeterministicMessage(name + "()"));
  if (GetBool(body, "func_variadic")) {
    return ErrorAtText(loc, Cat("unsupported VARIADIC in ", name, "()"));
  }
  // Only the call itself is the subquery's target; its arguments are plain expressions.
  const bool subquery_target = std::exchange(in_subquery_target_, false);
  const AggregateSpec* agg = FindAggregate(name);
  if (agg != nullptr) {
    if (subquery_target ? agg->in_array_subquery
                        : mode_ == BindMode::kView && agg->in_derived_view) {
      return BindAggregate(*agg, std::move(name), body, loc, subquery_target);
    }
    if (mode_ == BindMode::kHandler && agg->in_array_subquery && !subquery_target) {
      return ErrorAtText(
          loc, Cat("aggregate ", name, "() is only allowed in an array subquery (SELECT ", name,
                   "(...) FROM e.items AS i)"));
    }
    return ErrorAtText(loc, Cat("unsupported aggregate ", name, "()"));
  }
  if (subquery_target) {
    return ErrorAtText(loc, Cat("an array subquery must select an aggregate (sum, count, avg, "
                                "min, max, bool_and, bool_or, string_agg), not ",
                                name, "()"));
  }
  if (GetBool(body, "agg_star") || GetBool(body, "agg_distinct") || Has(body, "agg_order") ||
      Has(body, "agg_filter") || GetBool(body, "agg_within_group")) {
    return ErrorAtText(
        loc, Cat("unsupported aggregate syntax in ", name, "(), which is not an aggregate"));
  }
  return BindScalarCall(std::move(name), body, loc);
}

absl::StatusOr<BoundPtr> Binder::BindScalarCall(std::string name, const object& body, int64_t loc) {
  if (name == "timezone") return ErrorAtText(loc, "unsupported AT TIME ZONE (timestamps are UTC)");
  const FunctionSpec* spec = FindFunction(name);
  if (spec == nullptr) return ErrorAtText(loc, Cat("unknown function ", name, "()"));
  std::vector<element> arg_nodes = GetList(body, "args");
  const int n = static_cast<int>(arg_nodes.size());
  if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
    return ErrorAtText(loc, ArityMessage(name, spec->min_args, spec->max_args, arg_nodes.size()));
  }
  BoundPtr e = Make(BoundKind::kFunction, loc);
  e->name = std::move(name);
  e->function = spec;
  SV_ASSIGN_OR_RETURN(e->args, BindList(arg_nodes, loc));
  // A constant unit or field of the date functions is checked now, with the engine's message.
  const bool trunc = spec->name == "date_trunc";
  if ((trunc || spec->result == ResultRule::kDatePartOfField) &&
      e->args[0]->kind == BoundKind::kConst && e->args[0]->value.type() == Type::kText) {
    const std::string& unit = e->args[0]->value.as_text();
    absl::Status status = trunc ? CheckDateTruncUnit(unit) : CheckDatePartField(unit);
    if (!status.ok()) {
      const int64_t at = FindLocation(arg_nodes[0]);
      return ErrorAtText(at >= 0 ? at : loc, MessageOf(status));
    }
  }
  return e;
}

absl::StatusOr<BoundPtr> Binder::BindAggregate(const AggregateSpec& spec, std::string name,
                                               const object& body, int64_t loc, bool in_subquery) {
  BoundPtr e = Make(BoundKind::kAggregate, loc);
  e->name = std::move(name);
  e->aggregate = &spec;
  e->star = GetBool(body, "agg_star");
  e->distinct = GetBool(body, "agg_distinct");
  const bool within = GetBool(body, "agg_within_group");
  std::vector<element> order = GetList(body, "agg_order");
  std::vector<element> args = GetList(body, "args");
  const std::string& n = e->name;
  if (spec.ordered_set != within) {
    return spec.ordered_set
               ? ErrorAtText(loc, Cat(n, "(fraction) needs WITHIN GROUP (ORDER BY <expression>)"))
               : ErrorAtText(loc, Cat("unsupported WITHIN GROUP in ", n, "()"));
  }
  if (!spec.ordered_set && !spec.order_by && !order.empty()) {
    return ErrorAtText(loc, Cat("unsupported ORDER BY in ", n, "()"));
  }
  if (e->distinct && (spec.ordered_set || in_subquery || spec.kind == AggKind::kJsonObjectAgg)) {
    return ErrorAtText(loc, Cat("unsupported DISTINCT in ", n, "()"));
  }
  if (e->star) {
    if (spec.kind != AggKind::kCount) return ErrorAtText(loc, Cat("unsupported ", n, "(*)"));
    if (!args.empty()) return ErrorAtText(loc, "unsupported count(*) with arguments");
  } else if (args.size() != static_cast<size_t>(spec.args) ||
             (spec.ordered_set && order.size() != 1)) {
    if (spec.ordered_set) {
      return ErrorAtText(loc, Cat(n, "() takes one fraction and one ORDER BY expression"));
    }
    return ErrorAtText(loc, ArityMessage(n, spec.args, spec.args, args.size()));
  }
  SV_ASSIGN_OR_RETURN(e->args, BindList(args, loc));
  for (const element& s : order) {
    std::string_view type;
    object sort;
    element key;
    if (!Unwrap(s, &type, &sort) || type != "SortBy" || !Get(sort, "node", &key)) {
      return ErrorAtText(loc, Cat("unsupported ORDER BY in ", n, "()"));
    }
    const std::string_view dir = GetString(sort, "sortby_dir");
    const bool desc = dir == "SORTBY_DESC";
    if (spec.ordered_set && dir != "SORTBY_DEFAULT" && dir != "SORTBY_ASC") {
      return ErrorAtText(loc, Cat("unsupported ORDER BY ... DESC in ", n, "(); use 1 - fraction"));
    }
    if (!spec.ordered_set && ((dir != "SORTBY_DEFAULT" && dir != "SORTBY_ASC" && !desc) ||
                              GetString(sort, "sortby_nulls") != "SORTBY_NULLS_DEFAULT")) {
      return ErrorAtText(loc, Cat("unsupported ORDER BY option in ", n,
                                  "() (ASC puts NULLs last, DESC first; NULLS FIRST/LAST and "
                                  "USING are not supported)"));
    }
    e->order_desc.push_back(desc);
    SV_ASSIGN_OR_RETURN(BoundPtr k, Bind(key, loc));
    e->order_by.push_back(std::move(k));
  }
  element filter_node;
  if (Get(body, "agg_filter", &filter_node)) {
    SV_ASSIGN_OR_RETURN(e->filter, Bind(filter_node, loc));
  }
  return e;
}

absl::Status Binder::CheckExpressionClauses(const object& select, bool allow_from,
                                            int64_t loc) const {
  static constexpr std::pair<std::string_view, std::string_view> kClauses[] = {
      {"fromClause", "FROM clause"},      {"whereClause", "WHERE clause"},
      {"groupClause", "GROUP BY clause"}, {"havingClause", "HAVING clause"},
      {"windowClause", "WINDOW clause"},  {"sortClause", "ORDER BY clause"},
      {"limitCount", "LIMIT clause"},     {"limitOffset", "OFFSET clause"},
      {"distinctClause", "DISTINCT"},     {"withClause", "WITH clause"},
      {"intoClause", "INTO clause"},      {"lockingClause", "FOR UPDATE/SHARE clause"},
      {"valuesLists", "VALUES list"},     {"larg", "set operation"},
  };
  for (const auto& [key, name] : kClauses) {
    if (allow_from && (key == "fromClause" || key == "whereClause")) continue;
    element e;
    if (!Get(select, key, &e)) continue;
    int64_t at = FindLocation(e);
    if (at < 0) at = loc;
    std::string message = Cat("unsupported ", name);
    if (key == "fromClause") {
      Append(&message,
             " in an expression; to aggregate a JSON array write an array subquery "
             "such as (SELECT sum(i.qty) FROM e.items AS i)");
    }
    return ErrorAtText(at, message);
  }
  const std::string_view op = GetString(select, "op");
  if (!op.empty() && op != "SETOP_NONE") {
    return ErrorAtText(loc, "unsupported set operation (UNION / INTERSECT / EXCEPT)");
  }
  return absl::OkStatus();
}

absl::StatusOr<BoundPtr> Binder::BindSubLink(const object& body, int64_t loc) {
  if (mode_ == BindMode::kView) return ErrorAtText(loc, "unsupported subquery");
  const std::string_view link = GetString(body, "subLinkType");
  if (link == "EXISTS_SUBLINK") return ErrorAtText(loc, "unsupported EXISTS subquery");
  if (link == "ANY_SUBLINK" || link == "ALL_SUBLINK") {
    return ErrorAtText(loc, "unsupported IN/ANY/ALL subquery");
  }
  if (link == "ARRAY_SUBLINK") return ErrorAtText(loc, "unsupported ARRAY subquery");
  if (link != "EXPR_SUBLINK") return ErrorAtText(loc, "unsupported subquery");
  element sub;
  std::string_view type;
  object select;
  if (!Get(body, "subselect", &sub) || !Unwrap(sub, &type, &select) || type != "SelectStmt") {
    return ErrorAtText(loc, "unsupported subquery");
  }
  SV_RETURN_IF_ERROR(CheckExpressionClauses(select, /*allow_from=*/true, loc));
  std::vector<element> from = GetList(select, "fromClause");
  if (from.empty()) {
    return ErrorAtText(loc,
                       "unsupported subquery without FROM; an array subquery reads a JSON array, "
                       "e.g. (SELECT sum(i.qty) FROM e.items AS i)");
  }
  if (from.size() > 1) {
    return ErrorAtText(FindLocation(from[1]), "unsupported join in an array subquery");
  }
  object range;
  if (!Unwrap(from[0], &type, &range) || type != "RangeVar") {
    const int64_t at = FindLocation(from[0]);
    return ErrorAtText(at >= 0 ? at : loc,
                       "unsupported FROM item in an array subquery; write FROM e.items AS i");
  }
  const int64_t rloc = GetInt(range, "location", loc);
  std::vector<std::string> folded;
  for (std::string_view key : {"catalogname", "schemaname", "relname"}) {
    if (Has(range, key)) folded.emplace_back(GetString(range, key));
  }
  if (folded.empty()) return ErrorAtText(rloc, "unsupported FROM item in an array subquery");
  const int slot = 1 + static_cast<int>(scopes_.size());
  if (slot >= kMaxElementDepth) {
    return ErrorAtText(
        loc, Cat("array subqueries nest too deeply (at most ", kMaxElementDepth - 1, " levels)"));
  }
  BoundPtr e = Make(BoundKind::kSubquery, loc);
  SV_ASSIGN_OR_RETURN(BoundPtr source, ColumnFrom(folded, rloc));
  e->args.push_back(std::move(source));
  e->alias = folded.back();
  element alias_node;
  object alias_obj;
  if (Get(range, "alias", &alias_node) &&
      alias_node.get_object().get(alias_obj) == simdjson::SUCCESS) {
    if (Has(alias_obj, "colnames")) {
      return ErrorAtText(rloc, "unsupported column aliases in an array subquery");
    }
    e->alias = std::string(GetString(alias_obj, "aliasname"));
  }
  e->element_slot = slot;

  scopes_.push_back({e->alias, slot});
  struct PopScope {
    std::vector<Scope>* scopes;
    ~PopScope() { scopes->pop_back(); }
  } pop{&scopes_};
  element where_node;
  if (Get(select, "whereClause", &where_node)) {
    SV_ASSIGN_OR_RETURN(e->filter, Bind(where_node, loc));
  }
  std::vector<element> targets = GetList(select, "targetList");
  if (targets.size() != 1) {
    const int64_t at = targets.size() > 1 ? FindLocation(targets[1]) : loc;
    return ErrorAtText(at, "an array subquery selects exactly one aggregate");
  }
  object target;
  element val;
  if (!Unwrap(targets[0], &type, &target) || !Get(target, "val", &val)) {
    return ErrorAtText(loc, "unsupported array subquery");
  }
  const int64_t tloc = GetInt(target, "location", loc);
  if (NodeType(val) != "FuncCall") {
    return ErrorAtText(tloc,
                       "an array subquery must select one aggregate: sum, count, avg, min, max, "
                       "bool_and, bool_or or string_agg (e.g. SELECT sum(i.qty) FROM e.items AS "
                       "i)");
  }
  in_subquery_target_ = true;
  absl::StatusOr<BoundPtr> aggregate = Bind(val, tloc);
  in_subquery_target_ = false;
  if (!aggregate.ok()) return aggregate.status();
  e->args.push_back(*std::move(aggregate));
  return e;
}

}  // namespace sv::sql::internal
