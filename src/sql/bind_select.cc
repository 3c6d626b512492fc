// The binder's entry points: a handler's expression and a derived view's statement.

#include <algorithm>

#include "sql/bind_internal.h"
#include "sql/expr_internal.h"

namespace sv::sql {

using internal::Binder;
using internal::Cat;
using internal::FindLocation;
using internal::Get;
using internal::GetBool;
using internal::GetInt;
using internal::GetList;
using internal::GetString;
using internal::Has;
using internal::Lower;
using internal::NodeType;
using internal::StringNode;
using internal::Unwrap;
using simdjson::dom::element;
using simdjson::dom::object;

namespace {

constexpr std::string_view kPrefix = "SELECT ";

// Where `keyword` (lower case) last starts at or before `offset`: a clause's position when the
// parse tree only locates what follows it.
int64_t KeywordBefore(const std::string& text, int64_t offset, std::string_view keyword) {
  const std::string lower =
      Lower(text.substr(0, static_cast<size_t>(std::max<int64_t>(offset, 0))));
  const size_t at = lower.rfind(keyword);
  return at == std::string::npos ? offset : static_cast<int64_t>(at);
}

// The one statement of a parse; `what` names what was expected.
absl::StatusOr<element> OneStatement(const Binder& binder, const object& root,
                                     std::string_view what) {
  std::vector<element> stmts = GetList(root, "stmts");
  if (stmts.empty()) return binder.ErrorAtText(0, Cat("empty ", what));
  if (stmts.size() > 1) {
    object second;
    int64_t loc = static_cast<int64_t>(binder.text().size());
    if (stmts[1].get_object().get(second) == simdjson::SUCCESS) {
      loc = GetInt(second, "stmt_location", loc);
    }
    return binder.ErrorAtText(loc, Cat("unsupported multiple statements; write one ", what));
  }
  object stmt_obj;
  element stmt;
  if (stmts[0].get_object().get(stmt_obj) != simdjson::SUCCESS || !Get(stmt_obj, "stmt", &stmt)) {
    return binder.ErrorAtText(0, Cat("unsupported statement; write one ", what));
  }
  return stmt;
}

class StatementBinder {
 public:
  StatementBinder(Binder* binder, BoundSelect* out) : b_(*binder), out_(*out) {}

  absl::Status Run(const object& root) {
    constexpr std::string_view kExpected = "CREATE VIEW <name> AS SELECT ...";
    SV_ASSIGN_OR_RETURN(element stmt, OneStatement(b_, root, kExpected));
    std::string_view type;
    object body;
    if (!Unwrap(stmt, &type, &body)) return b_.ErrorAtText(0, "unsupported statement");
    if (type == "ViewStmt") {
      out_.is_view = true;
      out_.view_has_columns = Has(body, "aliases");
      element rel, query;
      object rel_obj;
      if (!Get(body, "view", &rel) || rel.get_object().get(rel_obj) != simdjson::SUCCESS ||
          !Get(body, "query", &query) || !Unwrap(query, &type, &body)) {
        return b_.ErrorAtText(0, "unsupported CREATE VIEW form");
      }
      out_.view_name = std::string(GetString(rel_obj, "relname"));
    }
    if (type != "SelectStmt")
      return b_.ErrorAtText(0, Cat("unsupported statement; write ", kExpected));
    return Select(body);
  }

 private:
  absl::Status Select(const object& select) {
    const std::string_view op = GetString(select, "op");
    if (!op.empty() && op != "SETOP_NONE") {
      return b_.ErrorAtText(0, "unsupported set operation (UNION / INTERSECT / EXCEPT)");
    }
    struct Clause {
      std::string_view key;
      std::string_view keyword;
      std::string_view name;
    };
    static constexpr Clause kClauses[] = {
        {"havingClause", "having", "HAVING clause"},
        {"windowClause", "window", "WINDOW clause"},
        {"sortClause", "order", "ORDER BY clause (a view's order is chosen per request)"},
        {"limitCount", "limit", "LIMIT clause"},
        {"limitOffset", "offset", "OFFSET clause"},
        {"distinctClause", "distinct", "SELECT DISTINCT (write GROUP BY)"},
        {"withClause", "with", "WITH clause"},
        {"intoClause", "into", "INTO clause"},
        {"lockingClause", "for", "FOR UPDATE/SHARE clause"},
        {"valuesLists", "values", "VALUES list"},
    };
    for (const Clause& clause : kClauses) {
      element e;
      if (!Get(select, clause.key, &e)) continue;
      int64_t at = FindLocation(e);
      if (at < 0) at = static_cast<int64_t>(b_.text().size());
      return b_.ErrorAtText(KeywordBefore(b_.text(), at, clause.keyword),
                            Cat("unsupported ", clause.name));
    }
    if (GetBool(select, "groupDistinct")) return b_.ErrorAtText(0, "unsupported GROUP BY DISTINCT");
    std::vector<element> from = GetList(select, "fromClause");
    if (from.empty()) {
      return b_.ErrorAtText(0, "unsupported SELECT without FROM: a derived view reads FROM <view>");
    }
    if (from.size() > 1) {
      return b_.ErrorAtText(FindLocation(from[1]),
                            "unsupported comma-separated FROM list; write JOIN ... ON a.x = b.y");
    }
    SV_RETURN_IF_ERROR(FromItem(from[0], /*first=*/true));
    for (const element& t : GetList(select, "targetList")) {
      SV_RETURN_IF_ERROR(Target(t));
    }
    if (out_.targets.empty()) return b_.ErrorAtText(0, "unsupported empty select list");
    element where;
    if (Get(select, "whereClause", &where)) {
      SV_ASSIGN_OR_RETURN(out_.where_clause, b_.Bind(where, FindLocation(where)));
    }
    element group;
    if (Get(select, "groupClause", &group)) {
      out_.grouped = true;
      for (const element& g : GetList(select, "groupClause")) {
        SV_ASSIGN_OR_RETURN(BoundPtr e, b_.Bind(g, std::max<int64_t>(FindLocation(g), 0)));
        out_.group_by.push_back(std::move(e));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Relation(const object& body, int64_t loc, BoundRelation* out) {
    out->offset = b_.Offset(loc);
    if (Has(body, "schemaname") || Has(body, "catalogname")) {
      return b_.ErrorAtText(loc, "unsupported schema-qualified name; name the view alone");
    }
    out->folded = std::string(GetString(body, "relname"));
    out->name = b_.Written({out->folded}, loc)[0];
    out->alias = out->folded;
    element alias_node;
    object alias;
    if (Get(body, "alias", &alias_node) &&
        alias_node.get_object().get(alias) == simdjson::SUCCESS) {
      if (Has(alias, "colnames")) return b_.ErrorAtText(loc, "unsupported column aliases in FROM");
      out->alias = std::string(GetString(alias, "aliasname"));
      out->aliased = true;
    }
    const auto same = [&](const BoundRelation& r) { return r.alias == out->alias; };
    if ((&out_.from != out && same(out_.from)) ||
        std::any_of(out_.joins.begin(), out_.joins.end(),
                    [&](const BoundJoin& j) { return &j.relation != out && same(j.relation); })) {
      return b_.ErrorAtText(loc,
                            Cat("name ", out->alias, " is used twice in FROM; give one an alias"));
    }
    return absl::OkStatus();
  }

  absl::Status FromItem(const element& node, bool first) {
    std::string_view type;
    object body;
    int64_t loc = std::max<int64_t>(FindLocation(node), 0);
    if (!Unwrap(node, &type, &body)) return b_.ErrorAtText(loc, "unsupported FROM item");
    if (type == "RangeVar") {
      if (first) return Relation(body, GetInt(body, "location", loc), &out_.from);
      return b_.ErrorAtText(loc, "unsupported FROM item");
    }
    if (type == "JoinExpr") {
      const std::string_view join = GetString(body, "jointype");
      if (join != "JOIN_INNER" && join != "JOIN_LEFT") {
        return b_.ErrorAtText(loc, join == "JOIN_RIGHT"
                                       ? "unsupported RIGHT JOIN; swap the sides of a LEFT JOIN"
                                       : "unsupported FULL JOIN; use JOIN or LEFT JOIN");
      }
      if (GetBool(body, "isNatural")) {
        return b_.ErrorAtText(loc, "unsupported NATURAL JOIN; write JOIN ... ON a.x = b.y");
      }
      if (Has(body, "usingClause")) {
        return b_.ErrorAtText(loc, "unsupported JOIN ... USING; write JOIN ... ON a.x = b.y");
      }
      if (Has(body, "alias") || Has(body, "join_using_alias")) {
        return b_.ErrorAtText(loc, "unsupported alias on a join");
      }
      element larg, rarg, quals;
      if (!Get(body, "larg", &larg) || !Get(body, "rarg", &rarg)) {
        return b_.ErrorAtText(loc, "unsupported join");
      }
      object right;
      if (!Unwrap(rarg, &type, &right) || type != "RangeVar") {
        return b_.ErrorAtText(std::max<int64_t>(FindLocation(rarg), loc),
                              "unsupported parenthesized join or subquery on the right of JOIN");
      }
      SV_RETURN_IF_ERROR(FromItem(larg, first));
      if (!Get(body, "quals", &quals)) {
        return b_.ErrorAtText(loc, "unsupported CROSS JOIN; write JOIN ... ON a.x = b.y");
      }
      BoundJoin& j = out_.joins.emplace_back();
      j.left = join == "JOIN_LEFT";
      j.offset = b_.Offset(loc);
      SV_RETURN_IF_ERROR(Relation(right, GetInt(right, "location", loc), &j.relation));
      SV_ASSIGN_OR_RETURN(j.on, b_.Bind(quals, loc));
      return absl::OkStatus();
    }
    const int64_t paren = KeywordBefore(b_.text(), loc, "(");
    if (type == "RangeSubselect") {
      return b_.ErrorAtText(paren,
                            "unsupported subquery in FROM; declare it as its own derived view and "
                            "select from that");
    }
    if (type == "RangeFunction") return b_.ErrorAtText(loc, "unsupported function in FROM");
    return b_.ErrorAtText(loc, Cat("unsupported ", type, " in FROM"));
  }

  absl::Status Target(const element& t) {
    std::string_view tt;
    object target;
    element val;
    if (!Unwrap(t, &tt, &target) || tt != "ResTarget" || !Get(target, "val", &val)) {
      return b_.ErrorAtText(0, "unsupported select list item");
    }
    BoundTarget out;
    const int64_t loc = GetInt(target, "location", 0);
    out.offset = b_.Offset(loc);
    std::string_view vt;
    object vbody;
    Unwrap(val, &vt, &vbody);
    if (vt == "ColumnRef") {
      for (const element& f : GetList(vbody, "fields")) {
        if (NodeType(f) == "A_Star")
          return b_.ErrorAtText(loc, "unsupported SELECT *; name the columns");
      }
    }
    SV_ASSIGN_OR_RETURN(out.expr, b_.Bind(val, loc));
    out.expr->offset = std::min(out.expr->offset, out.offset);
    if (Has(target, "name")) {
      out.name = std::string(GetString(target, "name"));
      out.aliased = true;
    } else {
      // PostgreSQL's naming: a column keeps its name, a call its function's, a cast its
      // argument's.
      const BoundExpr* inner = out.expr.get();
      while (inner->kind == BoundKind::kCast) inner = inner->args[0].get();
      if (inner->kind == BoundKind::kColumn && inner->path.empty()) {
        out.name = inner->folded.back();
      } else if (inner->kind == BoundKind::kFunction || inner->kind == BoundKind::kAggregate) {
        out.name = inner->name;
      }
    }
    out_.targets.push_back(std::move(out));
    return absl::OkStatus();
  }

  Binder& b_;
  BoundSelect& out_;
};

}  // namespace

absl::Status BoundSelect::Error(int64_t offset, std::string_view message) const {
  if (offset < 0) offset = 0;
  if (offset > static_cast<int64_t>(text.size())) offset = static_cast<int64_t>(text.size());
  return ErrorAt(where.Advance(text, static_cast<size_t>(offset)), message);
}

absl::StatusOr<std::unique_ptr<BoundSelect>> BindSelect(std::string_view sql,
                                                        const Location& where) {
  auto out = std::make_unique<BoundSelect>();
  out->text = std::string(sql);
  out->where = where;
  Binder binder(out->text, 0, out->text, where, BindMode::kView);
  object root;
  SV_RETURN_IF_ERROR(binder.Parse(binder.text(), &root));
  StatementBinder statement(&binder, out.get());
  SV_RETURN_IF_ERROR(statement.Run(root));
  return out;
}

absl::StatusOr<BoundPtr> BindExpression(std::string_view sql, const Location& where) {
  Binder binder(Cat(kPrefix, sql), kPrefix.size(), sql, where, BindMode::kHandler);
  const int64_t start = static_cast<int64_t>(kPrefix.size());
  object root;
  SV_RETURN_IF_ERROR(binder.Parse(binder.text(), &root));
  SV_ASSIGN_OR_RETURN(element stmt, OneStatement(binder, root, "expression"));
  std::string_view type;
  object select;
  if (!Unwrap(stmt, &type, &select) || type != "SelectStmt") {
    return binder.ErrorAtText(start, "unsupported statement; write one expression");
  }
  SV_RETURN_IF_ERROR(binder.CheckExpressionClauses(select, /*allow_from=*/false, start));
  std::vector<element> targets = GetList(select, "targetList");
  if (targets.empty()) return binder.ErrorAtText(start, "empty expression");
  if (targets.size() > 1) {
    return binder.ErrorAtText(FindLocation(targets[1]),
                              "unsupported list of expressions; write one expression");
  }
  object target;
  if (!Unwrap(targets[0], &type, &target) || type != "ResTarget") {
    return binder.ErrorAtText(start, "unsupported expression");
  }
  const int64_t loc = GetInt(target, "location", start);
  if (Has(target, "name")) {
    return binder.ErrorAtText(loc, Cat("unsupported column alias AS ", GetString(target, "name"),
                                       "; the column name comes from the config"));
  }
  element val;
  if (!Get(target, "val", &val)) return binder.ErrorAtText(loc, "unsupported expression");
  return binder.Bind(val, loc);
}

}  // namespace sv::sql
