// SelectStatement: reads a CREATE VIEW … AS SELECT into clauses and answers questions about
// its expression nodes (aggregates, equalities, static types).

#include "sql/select.h"

#include <pg_query.h>

#include <cstring>

#include "sql/expr_internal.h"
#include "sql/parse_tree.h"

namespace sv::sql {
namespace {

using internal::AExprKind;
using internal::AExprKindOf;
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
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

ExprNode NodeAt(const element& e, int64_t fallback) {
  const int64_t loc = FindLocation(e);
  return ExprNode{e, loc >= 0 ? loc : fallback};
}

std::string FuncName(const object& call) {
  std::vector<std::string> names;
  for (const element& n : GetList(call, "funcname")) names.emplace_back(StringNode(n));
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  return Lower(internal::Join(names, "."));
}

bool IsKnownAggregate(std::string_view name) {
  for (std::string_view n :
       {"count", "sum", "avg", "min", "max", "percentile_cont", "percentile_disc"}) {
    if (n == name) return true;
  }
  return false;
}

bool IsOtherAggregate(std::string_view name) {
  for (std::string_view n :
       {"stddev",          "stddev_pop", "stddev_samp", "variance",   "var_pop",
        "var_samp",        "array_agg",  "string_agg",  "json_agg",   "jsonb_agg",
        "json_object_agg", "bool_and",   "bool_or",     "every",      "bit_and",
        "bit_or",          "mode",       "rank",        "dense_rank", "percent_rank",
        "cume_dist",       "corr",       "covar_pop",   "covar_samp", "regr_slope",
        "xmlagg",          "row_number"}) {
    if (n == name) return true;
  }
  return false;
}

void AppendFingerprint(const element& e, std::string* out) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      out->push_back('{');
      for (auto field : object(e)) {
        if (field.key == "location") continue;
        out->append(field.key);
        out->push_back(':');
        AppendFingerprint(field.value, out);
        out->push_back(',');
      }
      out->push_back('}');
      return;
    }
    case simdjson::dom::element_type::ARRAY:
      out->push_back('[');
      for (element item : array(e)) {
        AppendFingerprint(item, out);
        out->push_back(',');
      }
      out->push_back(']');
      return;
    default:
      out->append(simdjson::minify(e));
  }
}

// Where `keyword` (lower case) last starts at or before `offset`: a clause's position when the
// parse tree only locates what follows it.
int64_t KeywordBefore(const std::string& text, int64_t offset, std::string_view keyword) {
  const std::string lower =
      Lower(text.substr(0, static_cast<size_t>(std::max<int64_t>(offset, 0))));
  const size_t at = lower.rfind(keyword);
  return at == std::string::npos ? offset : static_cast<int64_t>(at);
}

// Arithmetic result types as PostgreSQL has them for our types.
std::optional<Type> ArithType(std::string_view op, Type l, Type r) {
  if (l == Type::kNull) return r;
  if (r == Type::kNull) return l;
  const bool ln = l == Type::kInt || l == Type::kReal;
  const bool rn = r == Type::kInt || r == Type::kReal;
  if (ln && rn) return (l == Type::kReal || r == Type::kReal) ? Type::kReal : Type::kInt;
  if (op == "-" && l == Type::kTime && r == Type::kTime) return Type::kInterval;
  if ((op == "+" || op == "-") && l == Type::kTime && r == Type::kInterval) return Type::kTime;
  if (op == "+" && l == Type::kInterval && r == Type::kTime) return Type::kTime;
  if ((op == "+" || op == "-") && l == Type::kInterval && r == Type::kInterval) {
    return Type::kInterval;
  }
  if ((op == "*" || op == "/") && l == Type::kInterval && rn) return Type::kInterval;
  if (op == "*" && ln && r == Type::kInterval) return Type::kInterval;
  return std::nullopt;
}

Type CastType(internal::CastTarget target) {
  switch (target) {
    case internal::CastTarget::kText:
      return Type::kText;
    case internal::CastTarget::kInt:
      return Type::kInt;
    case internal::CastTarget::kReal:
      return Type::kReal;
    case internal::CastTarget::kBool:
      return Type::kBool;
    case internal::CastTarget::kTime:
    case internal::CastTarget::kDate:
      return Type::kTime;
    case internal::CastTarget::kInterval:
      return Type::kInterval;
  }
  return Type::kText;
}

// Result types of scalar functions that do not follow their first argument.
std::optional<Type> FunctionType(std::string_view name) {
  struct Fn {
    std::string_view name;
    Type type;
  };
  static constexpr Fn kFns[] = {
      {"date_trunc", Type::kTime},  {"to_timestamp", Type::kTime}, {"date_part", Type::kReal},
      {"extract", Type::kReal},     {"to_char", Type::kText},      {"lower", Type::kText},
      {"upper", Type::kText},       {"trim", Type::kText},         {"btrim", Type::kText},
      {"ltrim", Type::kText},       {"rtrim", Type::kText},        {"substr", Type::kText},
      {"substring", Type::kText},   {"replace", Type::kText},      {"concat", Type::kText},
      {"concat_ws", Type::kText},   {"left", Type::kText},         {"right", Type::kText},
      {"split_part", Type::kText},  {"length", Type::kInt},        {"char_length", Type::kInt},
      {"octet_length", Type::kInt}, {"strpos", Type::kInt},        {"position", Type::kInt},
      {"starts_with", Type::kBool}, {"sqrt", Type::kReal},         {"exp", Type::kReal},
      {"ln", Type::kReal},          {"log", Type::kReal},          {"power", Type::kReal},
      {"pow", Type::kReal},         {"round", Type::kReal},        {"trunc", Type::kReal},
      {"floor", Type::kReal},       {"ceil", Type::kReal},         {"ceiling", Type::kReal},
  };
  for (const Fn& fn : kFns) {
    if (fn.name == name) return fn.type;
  }
  return std::nullopt;
}

}  // namespace

SelectStatement::~SelectStatement() = default;

absl::StatusOr<std::unique_ptr<SelectStatement>> SelectStatement::Parse(std::string_view sql,
                                                                        const Location& where) {
  std::unique_ptr<SelectStatement> st(new SelectStatement());
  st->text_ = std::string(sql);
  st->where_ = where;
  PgQueryParseResult result = pg_query_parse(st->text_.c_str());
  if (result.error != nullptr) {
    absl::Status s = st->Error(internal::CursorOffset(st->text_, result.error->cursorpos,
                                                      static_cast<int64_t>(st->text_.size())),
                               result.error->message);
    pg_query_free_parse_result(result);
    return s;
  }
  st->parse_json_ = result.parse_tree;
  pg_query_free_parse_result(result);
  absl::Status s = st->Read();
  if (!s.ok()) return s;
  return st;
}

absl::Status SelectStatement::Error(int64_t offset, std::string_view message) const {
  if (offset < 0) offset = 0;
  if (offset > static_cast<int64_t>(text_.size())) offset = static_cast<int64_t>(text_.size());
  return ErrorAt(where_.Advance(text_, static_cast<size_t>(offset)), message);
}

absl::Status SelectStatement::Read() {
  element root;
  if (parser_.parse(parse_json_).get(root) != simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  object root_obj;
  if (root.get_object().get(root_obj) != simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  std::vector<element> stmts = GetList(root_obj, "stmts");
  if (stmts.size() != 1) return Error(0, "write exactly one CREATE VIEW … AS SELECT statement");
  object stmt_obj;
  element stmt;
  std::string_view type;
  object view;
  if (stmts[0].get_object().get(stmt_obj) != simdjson::SUCCESS || !Get(stmt_obj, "stmt", &stmt) ||
      !Unwrap(stmt, &type, &view) || type != "ViewStmt") {
    return Error(0, "unsupported statement; write CREATE VIEW <name> AS SELECT …");
  }
  element rel, query;
  object rel_obj, select;
  std::string_view qtype;
  if (!Get(view, "view", &rel) || rel.get_object().get(rel_obj) != simdjson::SUCCESS ||
      !Get(view, "query", &query) || !Unwrap(query, &qtype, &select)) {
    return Error(0, "unsupported CREATE VIEW form");
  }
  view_name_ = std::string(GetString(rel_obj, "relname"));
  if (qtype != "SelectStmt") return Error(FindLocation(query), "unsupported view query");
  const std::string_view op = GetString(select, "op");
  if (!op.empty() && op != "SETOP_NONE") {
    return Error(0, "unsupported set operation (UNION / INTERSECT / EXCEPT)");
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
    if (at < 0) at = static_cast<int64_t>(text_.size());
    return Error(KeywordBefore(text_, at, clause.keyword), Cat("unsupported ", clause.name));
  }
  // FROM: one relation, or one join of two.
  std::vector<element> from = GetList(select, "fromClause");
  if (from.empty()) return Error(0, "a derived view needs FROM <view>");
  if (from.size() > 1) {
    return Error(FindLocation(from[1]), "unsupported FROM list; write JOIN <view> ON a = b");
  }
  auto read_relation = [this](const element& e, Relation* out) -> absl::Status {
    std::string_view t;
    object body;
    if (!Unwrap(e, &t, &body)) return Error(FindLocation(e), "unsupported FROM item");
    if (t == "JoinExpr") {
      return Error(FindLocation(e),
                   "unsupported second JOIN; join two views per derived view "
                   "and build further joins on it");
    }
    if (t != "RangeVar") {
      return Error(KeywordBefore(text_, FindLocation(e), "("),
                   t == "RangeSubselect" ? "unsupported subquery in FROM; declare it as its own "
                                           "derived view and select from that"
                                         : "unsupported FROM item");
    }
    out->offset = GetInt(body, "location", 0);
    if (Has(body, "schemaname")) {
      return Error(out->offset, "unsupported schema-qualified name; name the view alone");
    }
    out->name = std::string(GetString(body, "relname"));
    out->alias = out->name;
    element alias;
    object alias_obj;
    if (Get(body, "alias", &alias) && alias.get_object().get(alias_obj) == simdjson::SUCCESS) {
      out->alias = std::string(GetString(alias_obj, "aliasname"));
    }
    return absl::OkStatus();
  };
  std::string_view ftype;
  object fbody;
  if (Unwrap(from[0], &ftype, &fbody) && ftype == "JoinExpr") {
    const int64_t at = FindLocation(from[0]);
    const std::string_view jt = GetString(fbody, "jointype");
    if (jt != "JOIN_INNER" && jt != "JOIN_LEFT") {
      return Error(at, jt == "JOIN_RIGHT" ? "unsupported RIGHT JOIN; swap the sides of a LEFT JOIN"
                                          : "unsupported FULL JOIN");
    }
    if (GetBool(fbody, "isNatural") || Has(fbody, "usingClause")) {
      return Error(at, "unsupported NATURAL / USING join; write ON a.x = b.y");
    }
    element larg, rarg, quals;
    if (!Get(fbody, "larg", &larg) || !Get(fbody, "rarg", &rarg)) {
      return Error(at, "unsupported join");
    }
    if (!Get(fbody, "quals", &quals)) return Error(at, "a JOIN needs ON a.x = b.y");
    absl::Status s = read_relation(larg, &from_);
    if (!s.ok()) return s;
    Join j;
    s = read_relation(rarg, &j.relation);
    if (!s.ok()) return s;
    j.left = jt == "JOIN_LEFT";
    j.on = NodeAt(quals, at);
    if (j.relation.alias == from_.alias) {
      return Error(j.relation.offset,
                   Cat("both sides of the join are named ", from_.alias, "; give one an alias"));
    }
    join_ = j;
  } else {
    absl::Status s = read_relation(from[0], &from_);
    if (!s.ok()) return s;
  }
  element wnode;
  if (Get(select, "whereClause", &wnode)) where_clause_ = NodeAt(wnode, 0);
  element gnode;
  if (Get(select, "groupClause", &gnode)) {
    grouped_ = true;
    for (const element& g : GetList(select, "groupClause")) {
      const std::string_view gt = NodeType(g);
      if (gt == "GroupingSet") {
        return Error(FindLocation(g), "unsupported GROUPING SETS / ROLLUP / CUBE");
      }
      group_by_.push_back(NodeAt(g, 0));
    }
  }
  for (const element& t : GetList(select, "targetList")) {
    std::string_view tt;
    object target;
    if (!Unwrap(t, &tt, &target) || tt != "ResTarget") return Error(0, "unsupported select list");
    Target out;
    out.offset = GetInt(target, "location", 0);
    element val;
    if (!Get(target, "val", &val)) return Error(out.offset, "unsupported select item");
    out.expr = NodeAt(val, out.offset);
    out.expr.offset = std::min(out.expr.offset, out.offset);
    std::string_view vt;
    object vbody;
    Unwrap(val, &vt, &vbody);
    if (vt == "ColumnRef") {
      for (const element& f : GetList(vbody, "fields")) {
        if (NodeType(f) == "A_Star") {
          return Error(out.offset, "unsupported SELECT *; name the columns");
        }
      }
    }
    if (Has(target, "name")) {
      out.name = std::string(GetString(target, "name"));
    } else {
      // PostgreSQL's naming: a column keeps its name, a call its function's, a cast its
      // argument's.
      element inner = val;
      for (int depth = 0; depth < 8; ++depth) {
        std::string_view it;
        object ib;
        if (!Unwrap(inner, &it, &ib)) break;
        if (it == "ColumnRef") {
          std::vector<element> fields = GetList(ib, "fields");
          if (!fields.empty()) out.name = std::string(StringNode(fields.back()));
          break;
        }
        if (it == "FuncCall") {
          out.name = FuncName(ib);
          break;
        }
        element arg;
        if (it != "TypeCast" || !Get(ib, "arg", &arg)) break;
        inner = arg;
      }
      if (out.name.empty()) {
        return Error(out.offset, "name this column: <expression> AS <name>");
      }
    }
    for (const Target& other : targets_) {
      if (other.name == out.name) {
        return Error(out.offset,
                     Cat("column ", out.name, " is selected twice; rename one with AS"));
      }
    }
    targets_.push_back(std::move(out));
  }
  if (targets_.empty()) return Error(0, "a derived view needs a select list");
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> SelectStatement::Compile(const ExprNode& node, const Resolver& resolver,
                                                 const NodeHook* hook) const {
  return CompileStatementNode(text_, node, resolver, where_, hook);
}

absl::StatusOr<std::optional<AggregateCall>> SelectStatement::AsAggregate(
    const ExprNode& node) const {
  std::string_view type;
  object body;
  if (!Unwrap(node.node, &type, &body) || type != "FuncCall") return std::nullopt;
  AggregateCall call;
  call.name = FuncName(body);
  call.offset = GetInt(body, "location", node.offset);
  if (!IsKnownAggregate(call.name)) {
    if (IsOtherAggregate(call.name)) {
      return Error(call.offset, Cat("unsupported aggregate ", call.name, "()"));
    }
    return std::nullopt;
  }
  if (Has(body, "over")) {
    return Error(call.offset, Cat("unsupported window function ", call.name, "() OVER (…)"));
  }
  call.star = GetBool(body, "agg_star");
  call.distinct = GetBool(body, "agg_distinct");
  call.within_group = GetBool(body, "agg_within_group");
  for (const element& a : GetList(body, "args")) call.args.push_back(NodeAt(a, call.offset));
  for (const element& s : GetList(body, "agg_order")) {
    std::string_view st;
    object sort;
    element sub;
    if (!Unwrap(s, &st, &sort) || st != "SortBy" || !Get(sort, "node", &sub)) {
      return Error(call.offset, "unsupported ORDER BY in an aggregate");
    }
    const std::string_view dir = GetString(sort, "sortby_dir");
    if (dir == "SORTBY_DESC") {
      return Error(call.offset, Cat("unsupported ORDER BY … DESC in ", call.name, "()"));
    }
    call.order_by.push_back(NodeAt(sub, call.offset));
  }
  element filter;
  if (Get(body, "agg_filter", &filter)) call.filter = NodeAt(filter, call.offset);
  return std::optional<AggregateCall>(std::move(call));
}

std::vector<ExprNode> SelectStatement::Conjuncts(const ExprNode& node) const {
  std::string_view type;
  object body;
  if (Unwrap(node.node, &type, &body) && type == "BoolExpr" &&
      GetString(body, "boolop") == "AND_EXPR") {
    std::vector<ExprNode> out;
    for (const element& a : GetList(body, "args")) {
      for (const ExprNode& c : Conjuncts(NodeAt(a, node.offset))) out.push_back(c);
    }
    return out;
  }
  return {node};
}

bool SelectStatement::AsEquality(const ExprNode& node, ExprNode* left, ExprNode* right) const {
  std::string_view type;
  object body;
  if (!Unwrap(node.node, &type, &body) || type != "A_Expr" || AExprKindOf(body) != AExprKind::kOp) {
    return false;
  }
  std::vector<element> names = GetList(body, "name");
  element l, r;
  if (names.size() != 1 || StringNode(names[0]) != "=" || !Get(body, "lexpr", &l) ||
      !Get(body, "rexpr", &r)) {
    return false;
  }
  *left = NodeAt(l, node.offset);
  *right = NodeAt(r, node.offset);
  return true;
}

std::optional<std::vector<std::string>> SelectStatement::AsColumnRef(const ExprNode& node) const {
  std::string_view type;
  object body;
  if (!Unwrap(node.node, &type, &body) || type != "ColumnRef") return std::nullopt;
  std::vector<std::string> parts;
  for (const element& f : GetList(body, "fields")) {
    if (NodeType(f) != "String") return std::nullopt;
    parts.emplace_back(StringNode(f));
  }
  return parts;
}

std::optional<int64_t> SelectStatement::AsIntConstant(const ExprNode& node) const {
  std::string_view type;
  object body;
  element ival;
  object io;
  if (!Unwrap(node.node, &type, &body) || type != "A_Const" || !Get(body, "ival", &ival) ||
      ival.get_object().get(io) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return GetInt(io, "ival", 0);
}

std::string SelectStatement::Fingerprint(const ExprNode& node) const {
  std::string out;
  AppendFingerprint(node.node, &out);
  return out;
}

absl::StatusOr<Type> SelectStatement::InferType(const ExprNode& node, const TypeHook& hook) const {
  if (std::optional<absl::StatusOr<Type>> owned = hook(node)) return *std::move(owned);
  std::string_view type;
  object body;
  if (!Unwrap(node.node, &type, &body)) return Error(node.offset, "unsupported expression");
  const int64_t loc = GetInt(body, "location", node.offset);
  auto child = [&](std::string_view key) -> absl::StatusOr<Type> {
    element e;
    if (!Get(body, key, &e)) return Type::kNull;
    return InferType(NodeAt(e, loc), hook);
  };
  auto first_known = [&](const std::vector<element>& items) -> absl::StatusOr<Type> {
    Type out = Type::kNull;
    for (const element& item : items) {
      absl::StatusOr<Type> t = InferType(NodeAt(item, loc), hook);
      if (!t.ok()) return t;
      if (out == Type::kNull) out = *t;
      if (out == Type::kInt && *t == Type::kReal) out = Type::kReal;
    }
    return out;
  };
  if (type == "A_Const") {
    if (GetBool(body, "isnull")) return Type::kNull;
    if (Has(body, "ival")) return Type::kInt;
    if (Has(body, "fval")) return Type::kReal;
    if (Has(body, "boolval")) return Type::kBool;
    return Type::kText;
  }
  if (type == "TypeCast") {
    element tn;
    object tno;
    if (Get(body, "typeName", &tn) && tn.get_object().get(tno) == simdjson::SUCCESS) {
      std::vector<element> names = GetList(tno, "names");
      internal::CastTarget target;
      if (!names.empty() && internal::LookupCastType(Lower(StringNode(names.back())), &target)) {
        return CastType(target);
      }
    }
    return Error(loc, "unsupported cast type");
  }
  if (type == "BoolExpr" || type == "NullTest" || type == "BooleanTest") return Type::kBool;
  if (type == "A_Expr") {
    const AExprKind kind = AExprKindOf(body);
    if (kind == AExprKind::kNullIf) return child("lexpr");
    if (kind != AExprKind::kOp) return Type::kBool;
    std::vector<element> names = GetList(body, "name");
    const std::string_view op = names.empty() ? "" : StringNode(names.back());
    if (op == "=" || op == "<>" || op == "!=" || op == "<" || op == "<=" || op == ">" ||
        op == ">=") {
      return Type::kBool;
    }
    if (op == "||") return Type::kText;
    absl::StatusOr<Type> l = child("lexpr");
    if (!l.ok()) return l;
    absl::StatusOr<Type> r = child("rexpr");
    if (!r.ok()) return r;
    if (!Has(body, "lexpr")) return *r;  // unary minus / plus
    if (std::optional<Type> t = ArithType(op, *l, *r)) return *t;
    return Error(loc, Cat("operator ", op, " cannot take ", TypeName(*l), " and ", TypeName(*r)));
  }
  if (type == "CaseExpr") {
    std::vector<element> results;
    for (const element& w : GetList(body, "args")) {
      std::string_view wt;
      object wb;
      element res;
      if (Unwrap(w, &wt, &wb) && Get(wb, "result", &res)) results.push_back(res);
    }
    element def;
    if (Get(body, "defresult", &def)) results.push_back(def);
    return first_known(results);
  }
  if (type == "CoalesceExpr" || type == "MinMaxExpr") return first_known(GetList(body, "args"));
  if (type == "FuncCall") {
    const std::string name = FuncName(body);
    if (std::optional<Type> t = FunctionType(name)) return *t;
    std::vector<element> args = GetList(body, "args");
    if (!args.empty() && (name == "abs" || name == "mod" || name == "sign" || name == "nullif")) {
      return InferType(NodeAt(args[0], loc), hook);
    }
    return Error(loc,
                 Cat("cannot tell the type of ", name, "(); cast it, e.g. ", name, "(…)::real"));
  }
  if (type == "ColumnRef") return Error(loc, "unknown column");
  return Error(loc, Cat("cannot tell the type of this ", type, " expression; cast it"));
}

}  // namespace sv::sql
