// StoreSelect(): parses the view definition with libpg_query, walks the JSON parse tree with
// simdjson (as compile.cc does) and emits the SELECT in the store's dialect.

#include "sql/deparse.h"

#include <pg_query.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/status_macros.h"
#include "simdjson.h"
#include "sql/expr_internal.h"
#include "sql/parse_tree.h"

namespace sv::sql {
namespace {

using internal::Append;
using internal::Cat;
using internal::Join;
using internal::Lower;
using internal::MessageOf;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// ---- Parse-tree access

using internal::AExprKind;
using internal::AExprKindOf;
using internal::FindLocation;
using internal::Get;
using internal::GetBool;
using internal::GetInt;
using internal::GetList;
using internal::GetString;
using internal::Has;
using internal::NodeType;
using internal::StringNode;
using internal::Unwrap;

// Function and type names without a pg_catalog qualifier.
std::string FoldedName(const std::vector<element>& parts) {
  std::vector<std::string> names;
  for (const element& n : parts) names.emplace_back(StringNode(n));
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  return Lower(Join(names, "."));
}

// ---- Spelling

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

bool IsIdentStart(char c) {
  const auto u = static_cast<unsigned char>(c);
  return absl::ascii_isalpha(u) || c == '_' || u >= 0x80;
}

bool IsIdentChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return absl::ascii_isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

// The dotted name written at `pos` (quotes removed). PostgreSQL folds unquoted names to lower
// case; view tables keep their configured spelling, so names are emitted as written.
std::vector<std::string> ScanNames(std::string_view text, size_t pos) {
  std::vector<std::string> out;
  size_t i = pos;
  while (i < text.size()) {
    std::string name;
    if (text[i] == '"') {
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            name += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        name += text[i];
      }
    } else if (IsIdentStart(text[i])) {
      const size_t start = i;
      while (i < text.size() && IsIdentChar(text[i])) ++i;
      name = std::string(text.substr(start, i - start));
    } else {
      break;
    }
    out.push_back(std::move(name));
    size_t j = i;
    while (j < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j >= text.size() || text[j] != '.') break;
    ++j;
    while (j < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[j]))) ++j;
    i = j;
  }
  return out;
}

// The written spelling of `folded` names at `loc`, or `folded` when the text does not read back.
std::vector<std::string> Spelling(std::string_view text, int64_t loc,
                                  const std::vector<std::string>& folded) {
  if (loc < 0) return folded;
  std::vector<std::string> written = ScanNames(text, static_cast<size_t>(loc));
  if (written.size() < folded.size()) return folded;
  written.resize(folded.size());
  for (size_t i = 0; i < folded.size(); ++i) {
    if (written[i] != folded[i] && Lower(written[i]) != folded[i]) return folded;
  }
  return written;
}

// ---- Names of things

enum class Target { kInt, kReal, kText, kBool, kTime };

bool LookupType(std::string_view name, Target* target) {
  static constexpr std::pair<std::string_view, Target> kTypes[] = {
      {"int", Target::kInt},          {"int2", Target::kInt},     {"int4", Target::kInt},
      {"int8", Target::kInt},         {"integer", Target::kInt},  {"bigint", Target::kInt},
      {"smallint", Target::kInt},     {"real", Target::kReal},    {"float4", Target::kReal},
      {"float8", Target::kReal},      {"float", Target::kReal},   {"numeric", Target::kReal},
      {"decimal", Target::kReal},     {"text", Target::kText},    {"varchar", Target::kText},
      {"bool", Target::kBool},        {"boolean", Target::kBool}, {"timestamp", Target::kTime},
      {"timestamptz", Target::kTime},
  };
  for (const auto& [n, t] : kTypes) {
    if (n == name) {
      *target = t;
      return true;
    }
  }
  return false;
}

bool IsNondeterministic(std::string_view name) {
  static constexpr std::string_view kNames =
      " now random clock_timestamp statement_timestamp timeofday setseed gen_random_uuid "
      "transaction_timestamp nextval currval txid_current uuid_generate_v4 ";
  return kNames.find(Cat(" ", name, " ")) != std::string_view::npos;
}

// Aggregates PostgreSQL knows that derived views do not support.
bool IsOtherAggregate(std::string_view name) {
  static constexpr std::string_view kNames =
      " array_agg string_agg json_agg jsonb_agg json_object_agg jsonb_object_agg bool_and "
      "bool_or every stddev stddev_pop stddev_samp variance var_pop var_samp bit_and bit_or mode "
      "corr covar_pop covar_samp regr_slope xmlagg range_agg any_value rank dense_rank "
      "percent_rank cume_dist ";
  return kNames.find(Cat(" ", name, " ")) != std::string_view::npos;
}

bool IsPlainAggregate(std::string_view name) {
  return name == "count" || name == "sum" || name == "avg" || name == "min" || name == "max";
}

// The engine's date_part() result type for `field`: integer or double precision in PostgreSQL.
std::string_view DatePartType(std::string_view field) {
  const Value args[2] = {Value::Text(std::string(field)), Value::Time(0)};
  Value out;
  if (internal::FnDatePart(args, 2, &out).ok() && out.type() == Type::kInt) return "bigint";
  return "double precision";
}

// ---- The deparser

class Deparser {
 public:
  Deparser(std::string_view sql, SqlDialect dialect, const ColumnTypeFn& column_type)
      : text_(sql), dialect_(dialect), column_type_(column_type) {}

  absl::StatusOr<std::string> Run();

 private:
  // A FROM item: `key` is how column refs qualify it (alias or relation, folded).
  struct Scope {
    std::string key;
    std::string relation;   // as written
    std::string qualifier;  // how the emitted SQL names it
  };

  bool pg() const { return dialect_ == SqlDialect::kPostgres; }
  absl::Status Error(int64_t loc, std::string_view message) const;
  absl::Status Unsupported(int64_t loc, std::string_view what) const {
    return Error(loc, Cat("unsupported ", what));
  }

  absl::StatusOr<std::string> Select(const object& select, int64_t loc);
  absl::StatusOr<std::string> FromItem(const element& node, int64_t loc);
  absl::StatusOr<std::string> Expr(const element& node, int64_t loc);
  absl::StatusOr<std::string> List(const std::vector<element>& nodes, int64_t loc);
  absl::StatusOr<std::string> Const(const object& body, int64_t loc);
  absl::StatusOr<std::string> IntConst(const object& ival, int64_t loc);
  absl::StatusOr<std::string> ColumnRef(const object& body, int64_t loc);
  absl::StatusOr<std::string> AExpr(const object& body, int64_t loc);
  absl::StatusOr<std::string> BoolExpr(const object& body, int64_t loc);
  absl::StatusOr<std::string> Case(const object& body, int64_t loc);
  absl::StatusOr<std::string> TypeCast(const object& body, int64_t loc);
  absl::StatusOr<std::string> FuncCall(const object& body, int64_t loc);
  absl::StatusOr<std::string> Aggregate(const std::string& name, const object& body, int64_t loc);
  absl::StatusOr<std::string> Scalar(const std::string& name, const object& body, int64_t loc);
  // `from`: the operand's type when known.
  std::string Cast(const std::string& sql, Target target, int scale,
                   std::optional<Type> from = std::nullopt) const;

  // The scope a qualifier names, or nullptr.
  const Scope* FindScope(std::string_view folded) const;
  // The engine's type of `node` as far as the parse tree and the column types tell, for
  // PostgreSQL, whose numeric types differ (sum(bigint) is numeric, round(double) rounds half to
  // even, ...). nullopt: unknown.
  std::optional<Type> InferType(const element& node) const;

  std::string text_;
  SqlDialect dialect_;
  const ColumnTypeFn& column_type_;
  std::vector<Scope> scopes_;
  std::vector<std::string> aliases_;  // select-list aliases, folded
  bool in_group_by_ = false;
};

absl::Status Deparser::Error(int64_t loc, std::string_view message) const {
  if (loc < 0 || loc > static_cast<int64_t>(text_.size())) {
    return absl::InvalidArgumentError(std::string(message));
  }
  int line = 1, column = 1;
  for (int64_t i = 0; i < loc; ++i) {
    const auto c = static_cast<unsigned char>(text_[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  return absl::InvalidArgumentError(Cat(message, " (line ", line, ", column ", column, ")"));
}

absl::StatusOr<std::string> Deparser::Run() {
  PgQueryParseResult result = pg_query_parse(text_.c_str());
  struct Release {
    PgQueryParseResult* r;
    ~Release() { pg_query_free_parse_result(*r); }
  } release{&result};
  if (result.error != nullptr) {
    const int64_t loc = internal::CursorOffset(text_, result.error->cursorpos, -1);
    return Error(loc, result.error->message);
  }
  simdjson::dom::parser parser;
  element root;
  object root_obj;
  if (parser.parse(result.parse_tree, std::strlen(result.parse_tree)).get(root) !=
          simdjson::SUCCESS ||
      root.get_object().get(root_obj) != simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  std::vector<element> stmts = GetList(root_obj, "stmts");
  constexpr std::string_view kExpected = "expected CREATE VIEW <name> AS SELECT ... or a SELECT";
  if (stmts.size() != 1) {
    return Error(-1, stmts.empty() ? std::string(kExpected)
                                   : Cat("unsupported multiple statements; ", kExpected));
  }
  object stmt_obj, body;
  element stmt;
  std::string_view type;
  if (stmts[0].get_object().get(stmt_obj) != simdjson::SUCCESS || !Get(stmt_obj, "stmt", &stmt) ||
      !Unwrap(stmt, &type, &body)) {
    return Error(-1, kExpected);
  }
  if (type == "ViewStmt") {
    if (Has(body, "aliases")) return Unsupported(0, "column list after the view name");
    element query;
    if (!Get(body, "query", &query) || !Unwrap(query, &type, &body)) return Error(0, kExpected);
  }
  if (type != "SelectStmt") return Error(0, Cat("unsupported statement; ", kExpected));
  return Select(body, 0);
}

absl::StatusOr<std::string> Deparser::Select(const object& select, int64_t loc) {
  static constexpr std::pair<std::string_view, std::string_view> kClauses[] = {
      {"distinctClause", "DISTINCT"},
      {"havingClause", "HAVING clause"},
      {"windowClause", "WINDOW clause"},
      {"sortClause", "ORDER BY clause"},
      {"limitCount", "LIMIT clause"},
      {"limitOffset", "OFFSET clause"},
      {"withClause", "WITH clause"},
      {"intoClause", "INTO clause"},
      {"lockingClause", "FOR UPDATE/SHARE clause"},
      {"valuesLists", "VALUES list"},
      {"larg", "UNION / INTERSECT / EXCEPT"},
  };
  for (const auto& [key, name] : kClauses) {
    element e;
    if (!Get(select, key, &e)) continue;
    const int64_t at = FindLocation(e);
    return Unsupported(at >= 0 ? at : loc, name);
  }
  if (GetBool(select, "groupDistinct")) return Unsupported(loc, "GROUP BY DISTINCT");

  std::vector<element> from = GetList(select, "fromClause");
  if (from.empty()) return Unsupported(loc, "SELECT without FROM");
  if (from.size() > 1) {
    return Unsupported(FindLocation(from[1]), "comma-separated FROM list; write JOIN ... ON");
  }
  SV_ASSIGN_OR_RETURN(std::string from_sql, FromItem(from[0], loc));

  std::vector<element> targets = GetList(select, "targetList");
  if (targets.empty()) return Unsupported(loc, "empty select list");
  std::string sql = "SELECT ";
  for (size_t i = 0; i < targets.size(); ++i) {
    std::string_view type;
    object target;
    element val;
    if (!Unwrap(targets[i], &type, &target) || type != "ResTarget" || !Get(target, "val", &val)) {
      return Unsupported(loc, "select list item");
    }
    const int64_t tloc = GetInt(target, "location", loc);
    SV_ASSIGN_OR_RETURN(std::string e, Expr(val, tloc));
    Append(&sql, i > 0 ? ", " : "", e);
    if (Has(target, "name")) {
      const std::string_view name = GetString(target, "name");
      aliases_.emplace_back(name);
      Append(&sql, " AS ", QuoteIdent(name));
    }
  }
  Append(&sql, " FROM ", from_sql);
  element where;
  if (Get(select, "whereClause", &where)) {
    SV_ASSIGN_OR_RETURN(std::string w, Expr(where, loc));
    Append(&sql, " WHERE ", w);
  }
  std::vector<element> groups = GetList(select, "groupClause");
  if (!groups.empty()) {
    in_group_by_ = true;
    SV_ASSIGN_OR_RETURN(std::string g, List(groups, loc));
    in_group_by_ = false;
    Append(&sql, " GROUP BY ", g);
  }
  return sql;
}

absl::StatusOr<std::string> Deparser::FromItem(const element& node, int64_t loc) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return Unsupported(loc, "FROM item");
  if (type == "RangeVar") {
    loc = GetInt(body, "location", loc);
    if (Has(body, "schemaname") || Has(body, "catalogname")) {
      return Unsupported(loc, "schema-qualified name; name the view");
    }
    const std::string folded(GetString(body, "relname"));
    const std::string relation = Spelling(text_, loc, {folded})[0];
    std::string sql = QuoteIdent(relation);
    std::string key = folded;
    std::string qualifier = sql;
    element alias_node;
    object alias;
    if (Get(body, "alias", &alias_node) &&
        alias_node.get_object().get(alias) == simdjson::SUCCESS) {
      if (Has(alias, "colnames")) return Unsupported(loc, "column aliases in FROM");
      key = std::string(GetString(alias, "aliasname"));
      qualifier = QuoteIdent(key);
      Append(&sql, " AS ", qualifier);
    }
    for (const Scope& s : scopes_) {
      if (s.key == key) return Error(loc, Cat("name ", key, " is used twice in FROM"));
    }
    scopes_.push_back({key, relation, qualifier});
    return sql;
  }
  if (type == "JoinExpr") {
    const std::string_view join = GetString(body, "jointype");
    std::string_view keyword;
    if (join == "JOIN_INNER") {
      keyword = " JOIN ";
    } else if (join == "JOIN_LEFT") {
      keyword = " LEFT JOIN ";
    } else {
      std::string name = Lower(join.substr(join.rfind('_') + 1));
      return Unsupported(loc, Cat(absl::AsciiStrToUpper(name), " JOIN; use JOIN or LEFT JOIN"));
    }
    if (GetBool(body, "isNatural")) return Unsupported(loc, "NATURAL JOIN; write JOIN ... ON");
    if (Has(body, "usingClause")) return Unsupported(loc, "JOIN ... USING; write JOIN ... ON");
    if (Has(body, "alias") || Has(body, "join_using_alias")) {
      return Unsupported(loc, "alias on a join");
    }
    element larg, rarg, quals;
    if (!Get(body, "larg", &larg) || !Get(body, "rarg", &rarg)) return Unsupported(loc, "join");
    if (NodeType(rarg) != "RangeVar") {
      return Unsupported(loc, "parenthesized join or subquery on the right of JOIN");
    }
    SV_ASSIGN_OR_RETURN(std::string left, FromItem(larg, loc));
    SV_ASSIGN_OR_RETURN(std::string right, FromItem(rarg, loc));
    if (!Get(body, "quals", &quals)) return Unsupported(loc, "CROSS JOIN; write JOIN ... ON");
    SV_ASSIGN_OR_RETURN(std::string on, Expr(quals, loc));
    return Cat(left, keyword, right, " ON ", on);
  }
  if (type == "RangeSubselect") return Unsupported(loc, "subquery in FROM");
  if (type == "RangeFunction") return Unsupported(loc, "function in FROM");
  return Unsupported(loc, Cat(type, " in FROM"));
}

absl::StatusOr<std::string> Deparser::List(const std::vector<element>& nodes, int64_t loc) {
  std::string out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    SV_ASSIGN_OR_RETURN(std::string e, Expr(nodes[i], loc));
    Append(&out, i > 0 ? ", " : "", e);
  }
  return out;
}

absl::StatusOr<std::string> Deparser::Expr(const element& node, int64_t parent_loc) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return Unsupported(parent_loc, "expression");
  int64_t loc = GetInt(body, "location", -1);
  if (loc < 0) loc = parent_loc;
  if (type == "A_Const") return Const(body, loc);
  if (type == "ColumnRef") return ColumnRef(body, loc);
  if (type == "A_Expr") return AExpr(body, loc);
  if (type == "BoolExpr") return BoolExpr(body, loc);
  if (type == "CaseExpr") return Case(body, loc);
  if (type == "TypeCast") return TypeCast(body, loc);
  if (type == "FuncCall") return FuncCall(body, loc);
  if (type == "NullTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return Unsupported(loc, "IS NULL");
    SV_ASSIGN_OR_RETURN(std::string a, Expr(arg, loc));
    const bool is_not = GetString(body, "nulltesttype") == "IS_NOT_NULL";
    return Cat("(", a, is_not ? " IS NOT NULL)" : " IS NULL)");
  }
  if (type == "BooleanTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return Unsupported(loc, "IS TRUE");
    SV_ASSIGN_OR_RETURN(std::string a, Expr(arg, loc));
    std::string test = std::string(GetString(body, "booltesttype"));  // IS_NOT_TRUE, ...
    for (char& c : test) c = c == '_' ? ' ' : c;
    // SQLite has IS [NOT] TRUE/FALSE but no UNKNOWN, which is NULL.
    if (test == "IS UNKNOWN") test = "IS NULL";
    if (test == "IS NOT UNKNOWN") test = "IS NOT NULL";
    return Cat("(", a, " ", test, ")");
  }
  if (type == "CoalesceExpr" || type == "MinMaxExpr") {
    std::vector<element> args = GetList(body, "args");
    SV_ASSIGN_OR_RETURN(std::string list, List(args, loc));
    if (type == "CoalesceExpr") {
      // SQLite's coalesce() wants two arguments at least.
      return args.size() == 1 ? Cat("(", list, ")") : Cat("coalesce(", list, ")");
    }
    return Cat(GetString(body, "op") == "IS_GREATEST" ? "greatest(" : "least(", list, ")");
  }
  if (type == "SubLink") return Unsupported(loc, "subquery");
  if (type == "SQLValueFunction") {
    std::string name = Lower(GetString(body, "op"));
    if (name.rfind("svfop_", 0) == 0) name = name.substr(6);
    return Unsupported(loc, name);
  }
  if (type == "ParamRef") return Unsupported(loc, "parameter");
  if (type == "A_ArrayExpr") return Unsupported(loc, "ARRAY constructor");
  if (type == "RowExpr") return Unsupported(loc, "ROW constructor");
  if (type == "A_Indirection") return Unsupported(loc, "subscript");
  if (type == "CollateClause") return Unsupported(loc, "COLLATE");
  if (type == "GroupingSet") return Unsupported(loc, "GROUPING SETS / ROLLUP / CUBE");
  return Unsupported(loc, Cat(type, " expression"));
}

// ---- Constants and names

absl::StatusOr<std::string> Deparser::Const(const object& body, int64_t loc) {
  if (GetBool(body, "isnull")) return std::string("NULL");
  element v;
  object o;
  if (Get(body, "ival", &v) && v.get_object().get(o) == simdjson::SUCCESS) return IntConst(o, loc);
  if (Get(body, "fval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    const std::string_view s = GetString(o, "fval");
    const bool integral = s.find_first_of(".eE") == std::string_view::npos;
    std::string sql = s.front() == '-' ? Cat("(", s, ")") : std::string(s);
    // PostgreSQL reads 2.5 as numeric; the engine's non-integer constants are doubles.
    if (pg() && !integral) return Cast(sql, Target::kReal, -1);
    return sql;
  }
  if (Get(body, "sval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    return QuoteLiteral(GetString(o, "sval"));
  }
  if (Get(body, "boolval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    const bool b = GetBool(o, "boolval");
    if (pg()) return std::string(b ? "true" : "false");
    return std::string(b ? "1" : "0");
  }
  return Unsupported(loc, "constant");
}

// libpg_query 15 leaves zero and negative integers out of its JSON ("ival": {}), so those are
// read back from the text at the constant's location, as compile.cc does.
absl::StatusOr<std::string> Deparser::IntConst(const object& ival, int64_t loc) {
  int64_t i;
  element value;
  if (Get(ival, "ival", &value) && value.get_int64().get(i) == simdjson::SUCCESS) {
    return i < 0 ? Cat("(", i, ")") : Cat(i);
  }
  size_t p = static_cast<size_t>(loc < 0 ? 0 : loc);
  bool negative = false;
  while (p < text_.size() && (text_[p] == '-' || text_[p] == '(' || text_[p] == '+' ||
                              absl::ascii_isspace(static_cast<unsigned char>(text_[p])))) {
    negative = negative || text_[p] == '-';
    ++p;
  }
  const size_t start = p;
  while (p < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[p]))) ++p;
  if (p == start) return Error(loc, "cannot read integer constant");
  const std::string digits = text_.substr(start, p - start);
  if (digits.find_first_not_of('0') == std::string::npos) return std::string("0");
  return negative ? Cat("(-", digits, ")") : digits;
}

const Deparser::Scope* Deparser::FindScope(std::string_view folded) const {
  for (const Scope& s : scopes_) {
    if (s.key == folded) return &s;
  }
  return nullptr;
}

absl::StatusOr<std::string> Deparser::ColumnRef(const object& body, int64_t loc) {
  std::vector<std::string> folded;
  for (const element& f : GetList(body, "fields")) {
    if (NodeType(f) != "String") return Unsupported(loc, "*; name the columns");
    folded.emplace_back(StringNode(f));
  }
  if (folded.empty() || folded.size() > 2) {
    return Unsupported(loc, Cat("name ", Join(folded, "."), "; write column or alias.column"));
  }
  const std::vector<std::string> written = Spelling(text_, loc, folded);
  if (folded.size() == 1) {
    // GROUP BY may name a select-list alias, which is emitted folded.
    for (const std::string& alias : aliases_) {
      if (in_group_by_ && alias == folded[0]) return QuoteIdent(alias);
    }
    return QuoteIdent(written[0]);
  }
  const Scope* scope = FindScope(folded[0]);
  if (scope == nullptr) {
    return Error(loc, Cat("unknown relation ", written[0], " in ", Join(written, ".")));
  }
  return Cat(scope->qualifier, ".", QuoteIdent(written[1]));
}

// ---- Operators

// How sv_time_arith() reads an operand in SQLite: 't' timestamp text, 'i' interval
// microseconds, 'n' anything else.
std::string_view TemporalKind(std::optional<Type> type) {
  if (type == Type::kTime) return "t";
  if (type == Type::kInterval) return "i";
  return "n";
}

absl::StatusOr<std::string> Deparser::AExpr(const object& body, int64_t loc) {
  const AExprKind kind = AExprKindOf(body);
  std::vector<element> names = GetList(body, "name");
  const std::string op = names.empty() ? std::string() : std::string(StringNode(names.back()));
  element lnode, rnode;
  const bool has_l = Get(body, "lexpr", &lnode);
  const bool has_r = Get(body, "rexpr", &rnode);
  if (!has_r) return Unsupported(loc, Cat("postfix operator ", op));
  std::string l;
  if (has_l) {
    SV_ASSIGN_OR_RETURN(l, Expr(lnode, loc));
  }

  if (kind == AExprKind::kOp) {
    static constexpr std::string_view kOps[] = {"+", "-",  "*", "/",  "%", "^", "||",
                                                "=", "<>", "<", "<=", ">", ">="};
    bool known = op == "!=";
    for (std::string_view o : kOps) known = known || o == op;
    if (!known || (!has_l && op != "-" && op != "+")) {
      return Unsupported(loc, Cat("operator ", op));
    }
    SV_ASSIGN_OR_RETURN(std::string r, Expr(rnode, loc));
    if (!has_l) return Cat("(", op, r, ")");
    if (op == "^" && !pg()) return Cat("pow(", l, ", ", r, ")");
    if (!pg() && (op == "+" || op == "-" || op == "*" || op == "/")) {
      // SQLite holds timestamps as text and intervals as integers: `a - b` of two timestamps
      // would subtract text (0). The engine's own arithmetic runs there with the types known.
      const std::optional<Type> lt = InferType(lnode), rt = InferType(rnode);
      auto temporal = [](std::optional<Type> t) {
        return t == Type::kTime || t == Type::kInterval;
      };
      if (temporal(lt) || temporal(rt)) {
        return Cat("sv_time_arith('", op, "', ", l, ", '", TemporalKind(lt), "', ", r, ", '",
                   TemporalKind(rt), "')");
      }
    }
    return Cat("(", l, " ", op == "!=" ? "<>" : op, " ", r, ")");
  }
  if (!has_l) return Unsupported(loc, "expression");
  if (kind == AExprKind::kDistinct || kind == AExprKind::kNotDistinct) {
    SV_ASSIGN_OR_RETURN(std::string r, Expr(rnode, loc));
    const bool distinct = kind == AExprKind::kDistinct;
    if (pg())
      return Cat("(", l, distinct ? " IS DISTINCT FROM " : " IS NOT DISTINCT FROM ", r, ")");
    return Cat("(", l, distinct ? " IS NOT " : " IS ", r, ")");
  }
  if (kind == AExprKind::kNullIf) {
    SV_ASSIGN_OR_RETURN(std::string r, Expr(rnode, loc));
    return Cat("nullif(", l, ", ", r, ")");
  }
  if (kind == AExprKind::kIn) {
    std::string_view rtype;
    object list;
    if (!Unwrap(rnode, &rtype, &list) || rtype != "List") {
      return Unsupported(loc, "IN operand; write a list such as x IN (1, 2)");
    }
    SV_ASSIGN_OR_RETURN(std::string items, List(GetList(list, "items"), loc));
    return Cat("(", l, op == "<>" ? " NOT IN (" : " IN (", items, "))");
  }
  if (kind == AExprKind::kLike || kind == AExprKind::kILike) {
    if (NodeType(rnode) == "FuncCall") return Unsupported(loc, "LIKE ... ESCAPE");
    SV_ASSIGN_OR_RETURN(std::string r, Expr(rnode, loc));
    const bool negate = !op.empty() && op[0] == '!';
    const bool icase = kind == AExprKind::kILike;
    if (pg()) {
      return Cat("(", l, negate ? " NOT" : "", icase ? " ILIKE " : " LIKE ", r, ")");
    }
    // SQLite's LIKE ignores ASCII case and has no escape character: the engine's LIKE instead.
    std::string call = Cat(icase ? "sv_ilike(" : "sv_like(", l, ", ", r, ")");
    return negate ? Cat("(NOT ", call, ")") : call;
  }
  if (kind == AExprKind::kBetween || kind == AExprKind::kNotBetween ||
      kind == AExprKind::kBetweenSym || kind == AExprKind::kNotBetweenSym) {
    std::string_view rtype;
    object list;
    std::vector<element> bounds;
    if (Unwrap(rnode, &rtype, &list) && rtype == "List") bounds = GetList(list, "items");
    if (bounds.size() != 2) return Unsupported(loc, "BETWEEN");
    SV_ASSIGN_OR_RETURN(std::string lo, Expr(bounds[0], loc));
    SV_ASSIGN_OR_RETURN(std::string hi, Expr(bounds[1], loc));
    const bool negate = kind == AExprKind::kNotBetween || kind == AExprKind::kNotBetweenSym;
    const std::string_view between = negate ? " NOT BETWEEN " : " BETWEEN ";
    if (kind == AExprKind::kBetween || kind == AExprKind::kNotBetween) {
      return Cat("(", l, between, lo, " AND ", hi, ")");
    }
    if (pg()) return Cat("(", l, between, "SYMMETRIC ", lo, " AND ", hi, ")");
    // SYMMETRIC as PostgreSQL defines it: either order of the bounds.
    return Cat("(", negate ? "NOT " : "", "((", l, " BETWEEN ", lo, " AND ", hi, ") OR (", l,
               " BETWEEN ", hi, " AND ", lo, ")))");
  }
  if (kind == AExprKind::kOpAny || kind == AExprKind::kOpAll) {
    return Unsupported(loc, "ANY/ALL; write x IN (a, b)");
  }
  if (kind == AExprKind::kSimilar) return Unsupported(loc, "SIMILAR TO; use LIKE");
  return Unsupported(loc, Cat("operator ", op));
}

absl::StatusOr<std::string> Deparser::BoolExpr(const object& body, int64_t loc) {
  const std::string_view op = GetString(body, "boolop");
  std::vector<element> args = GetList(body, "args");
  if (args.empty()) return Unsupported(loc, "empty boolean expression");
  if (op == "NOT_EXPR") {
    SV_ASSIGN_OR_RETURN(std::string a, Expr(args[0], loc));
    return Cat("(NOT ", a, ")");
  }
  if (op != "AND_EXPR" && op != "OR_EXPR") return Unsupported(loc, Cat("boolean operator ", op));
  std::string out = "(";
  for (size_t i = 0; i < args.size(); ++i) {
    SV_ASSIGN_OR_RETURN(std::string a, Expr(args[i], loc));
    Append(&out, i == 0 ? "" : (op == "AND_EXPR" ? " AND " : " OR "), a);
  }
  return out + ")";
}

absl::StatusOr<std::string> Deparser::Case(const object& body, int64_t loc) {
  std::string out = "(CASE";
  element node;
  if (Get(body, "arg", &node)) {
    SV_ASSIGN_OR_RETURN(std::string arg, Expr(node, loc));
    Append(&out, " ", arg);
  }
  for (const element& w : GetList(body, "args")) {
    std::string_view type;
    object when;
    element cond, result;
    if (!Unwrap(w, &type, &when) || type != "CaseWhen" || !Get(when, "expr", &cond) ||
        !Get(when, "result", &result)) {
      return Unsupported(loc, "CASE form");
    }
    const int64_t wloc = GetInt(when, "location", loc);
    SV_ASSIGN_OR_RETURN(std::string c, Expr(cond, wloc));
    SV_ASSIGN_OR_RETURN(std::string r, Expr(result, wloc));
    Append(&out, " WHEN ", c, " THEN ", r);
  }
  if (Get(body, "defresult", &node)) {
    SV_ASSIGN_OR_RETURN(std::string d, Expr(node, loc));
    Append(&out, " ELSE ", d);
  }
  return out + " END)";
}

// ---- Casts

std::string Deparser::Cast(const std::string& sql, Target target, int scale,
                           std::optional<Type> from) const {
  if (target == Target::kText && from == Type::kBool && !pg()) {
    // SQLite's booleans are 1 and 0; the engine's text is true and false.
    return Cat("(CASE WHEN ", sql, " THEN 'true' WHEN NOT ", sql, " THEN 'false' END)");
  }
  if (!pg()) {
    // The SQLite store's sv_cast() is the engine's cast (CAST(2.7 AS INTEGER) would truncate,
    // CAST('x' AS INTEGER) would be 0).
    static constexpr std::string_view kNames[] = {"integer", "real", "text", "boolean",
                                                  "timestamp"};
    std::string out = Cat("sv_cast(", sql, ", '", kNames[static_cast<int>(target)], "'");
    if (scale >= 0) Append(&out, ", ", scale);
    return out + ")";
  }
  switch (target) {
    case Target::kInt:
      // PostgreSQL rounds a double half to even, the engine half away from zero; and it casts
      // booleans to integer only.
      if (from == Type::kReal) return Cat("CAST(round(CAST(", sql, " AS numeric)) AS bigint)");
      if (from == Type::kBool) return Cat("CAST(CAST(", sql, " AS integer) AS bigint)");
      return Cat("CAST(", sql, " AS bigint)");
    case Target::kReal:
      if (scale >= 0) {
        return Cat("CAST(round(CAST(", sql, " AS numeric), ", scale, ") AS double precision)");
      }
      return Cat("CAST(", sql, " AS double precision)");
    case Target::kText:
      if (from == Type::kTime) {
        // The engine's text of a timestamp is FormatTime's.
        return Cat("(to_char(", sql, ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') COLLATE \"C\")");
      }
      return Cat("(CAST(", sql, " AS text) COLLATE \"C\")");
    case Target::kBool:
      return Cat("CAST(", sql, " AS boolean)");
    case Target::kTime:
      return Cat("CAST(", sql, " AS timestamptz)");
  }
  return sql;
}

absl::StatusOr<std::string> Deparser::TypeCast(const object& body, int64_t loc) {
  element arg, type_node;
  object type_name;
  if (!Get(body, "arg", &arg) || !Get(body, "typeName", &type_node) ||
      type_node.get_object().get(type_name) != simdjson::SUCCESS) {
    return Unsupported(loc, "cast");
  }
  const int64_t type_loc = GetInt(type_name, "location", loc);
  const std::string type = FoldedName(GetList(type_name, "names"));
  if (Has(type_name, "arrayBounds")) return Unsupported(type_loc, Cat("array type ", type, "[]"));
  Target target;
  if (!LookupType(type, &target)) return Unsupported(type_loc, Cat("type ", type));
  int scale = -1;
  std::vector<element> typmods = GetList(type_name, "typmods");
  if (!typmods.empty()) {
    if (type != "numeric" && type != "decimal") {
      return Unsupported(type_loc, Cat("type modifier on ", type));
    }
    scale = 0;
    if (typmods.size() >= 2) {
      std::string_view t;
      object c;
      element ival;
      object io;
      int64_t s = -1;
      if (Unwrap(typmods[1], &t, &c) && t == "A_Const" && Get(c, "ival", &ival) &&
          ival.get_object().get(io) == simdjson::SUCCESS) {
        s = GetInt(io, "ival", 0);  // 0 is left out of the JSON
      }
      if (s < 0 || s > 15) return Unsupported(type_loc, "numeric scale");
      scale = static_cast<int>(s);
    }
  }
  SV_ASSIGN_OR_RETURN(std::string a, Expr(arg, loc));
  return Cast(a, target, scale, InferType(arg));
}

// ---- Function calls

absl::StatusOr<std::string> Deparser::FuncCall(const object& body, int64_t loc) {
  const std::string name = FoldedName(GetList(body, "funcname"));
  if (name.empty()) return Unsupported(loc, "function call");
  if (Has(body, "over")) return Unsupported(loc, Cat("window function ", name, "() OVER (...)"));
  if (GetBool(body, "func_variadic")) return Unsupported(loc, Cat("VARIADIC in ", name, "()"));
  if (IsNondeterministic(name)) {
    return Error(loc, Cat(name, "() is not deterministic: a derived view must be reproducible"));
  }
  if (IsPlainAggregate(name) || name == "percentile_cont" || name == "percentile_disc") {
    return Aggregate(name, body, loc);
  }
  if (IsOtherAggregate(name)) return Unsupported(loc, Cat("aggregate ", name, "()"));
  if (GetBool(body, "agg_star") || GetBool(body, "agg_distinct") || Has(body, "agg_order") ||
      Has(body, "agg_filter") || GetBool(body, "agg_within_group")) {
    return Unsupported(loc, Cat("aggregate syntax in ", name, "(), which is not an aggregate"));
  }
  return Scalar(name, body, loc);
}

absl::StatusOr<std::string> Deparser::Aggregate(const std::string& name, const object& body,
                                                int64_t loc) {
  std::vector<element> args = GetList(body, "args");
  const bool percentile = name == "percentile_cont" || name == "percentile_disc";
  if (GetBool(body, "agg_distinct") && percentile) {
    return Unsupported(loc, Cat("DISTINCT in ", name, "()"));
  }
  if (GetBool(body, "agg_star") && name != "count") return Unsupported(loc, Cat(name, "(*)"));
  std::vector<element> order = GetList(body, "agg_order");
  const bool within = GetBool(body, "agg_within_group");
  if (percentile != within) {
    return percentile ? Error(loc, Cat(name, "() needs WITHIN GROUP (ORDER BY ...)"))
                      : Unsupported(loc, Cat("WITHIN GROUP in ", name, "()"));
  }
  if (!percentile && !order.empty()) return Unsupported(loc, Cat("ORDER BY in ", name, "()"));

  std::string filter;
  element filter_node;
  if (Get(body, "agg_filter", &filter_node)) {
    SV_ASSIGN_OR_RETURN(std::string f, Expr(filter_node, loc));
    filter = Cat(" FILTER (WHERE ", f, ")");
  }
  if (percentile) {
    if (args.size() != 1 || order.size() != 1) {
      return Error(loc, Cat(name, "() takes one fraction and one ORDER BY expression"));
    }
    std::string_view type;
    object sort;
    element key;
    if (!Unwrap(order[0], &type, &sort) || type != "SortBy" || !Get(sort, "node", &key)) {
      return Unsupported(loc, Cat("ORDER BY in ", name, "()"));
    }
    const std::string_view dir = GetString(sort, "sortby_dir");
    if (dir != "SORTBY_DEFAULT" && dir != "SORTBY_ASC") {
      return Unsupported(loc, Cat("ORDER BY ... DESC in ", name, "(); use 1 - fraction"));
    }
    SV_ASSIGN_OR_RETURN(std::string p, Expr(args[0], loc));
    SV_ASSIGN_OR_RETURN(std::string x, Expr(key, loc));
    if (!pg()) return Cat(name, "(", p, ", ", x, ")", filter);
    // percentile_cont is defined over double precision (and interval) only.
    if (name == "percentile_cont") x = Cat("CAST(", x, " AS double precision)");
    return Cat(name, "(", p, ") WITHIN GROUP (ORDER BY ", x, ")", filter);
  }
  std::string call;
  if (GetBool(body, "agg_star")) {
    if (!args.empty()) return Unsupported(loc, "count(*) with arguments");
    call = "count(*)";
  } else {
    if (args.size() != 1) {
      return Error(loc, Cat("aggregate ", name, "() takes 1 argument, got ", args.size()));
    }
    SV_ASSIGN_OR_RETURN(std::string x, Expr(args[0], loc));
    call = Cat(name, "(", GetBool(body, "agg_distinct") ? "DISTINCT " : "", x, ")");
  }
  call += filter;
  if (pg() && name == "avg") return Cat("CAST(", call, " AS double precision)");
  if (pg() && name == "sum" && InferType(args[0]) == Type::kInt) {
    return Cat("CAST(", call, " AS bigint)");
  }
  return call;
}

absl::StatusOr<std::string> Deparser::Scalar(const std::string& original, const object& body,
                                             int64_t loc) {
  if (original == "timezone") return Unsupported(loc, "AT TIME ZONE (timestamps are UTC)");
  // POSITION(a IN b) arrives as position(b, a): strpos in both stores.
  const std::string name = original == "position" ? std::string("strpos") : original;
  const internal::FunctionSpec* spec = internal::FindFunction(name);
  if (spec == nullptr) return Error(loc, Cat("unknown function ", name, "()"));
  std::vector<element> arg_nodes = GetList(body, "args");
  const int n = static_cast<int>(arg_nodes.size());
  if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
    return Error(loc, Cat("function ", name, "() does not take ", n, " arguments"));
  }
  std::vector<std::string> args;
  for (const element& a : arg_nodes) {
    SV_ASSIGN_OR_RETURN(std::string s, Expr(a, loc));
    args.push_back(std::move(s));
  }
  // A constant unit or field is checked here, with the engine's message.
  std::string field;
  if (name == "date_trunc" || name == "date_part" || name == "extract") {
    std::string_view type;
    object c, sv;
    element v;
    if (Unwrap(arg_nodes[0], &type, &c) && type == "A_Const" && Get(c, "sval", &v) &&
        v.get_object().get(sv) == simdjson::SUCCESS) {
      field = Lower(GetString(sv, "sval"));
      absl::Status s = name == "date_trunc" ? internal::CheckDateTruncUnit(field)
                                            : internal::CheckDatePartField(field);
      if (!s.ok()) return Error(GetInt(c, "location", loc), MessageOf(s));
    }
  }
  const std::string list = Join(args, ", ");
  if (name == "extract" || name == "date_part") {
    if (!pg() && n == 2 && InferType(arg_nodes[1]) == Type::kInterval) {
      // An interval is an integer in SQLite: say which it is (date_part(integer) is an error).
      return Cat("sv_interval_part(", list, ")");
    }
    if (!pg()) return Cat("date_part(", list, ")");
    if (field.empty()) return Cat("date_part(", list, ")");
    // PostgreSQL returns numeric / double precision; the engine an integer for most fields.
    return Cat("CAST(EXTRACT(", field, " FROM ", args[1], ") AS ", DatePartType(field), ")");
  }
  if (pg()) {
    // PostgreSQL has these for numeric only (and round(double precision) rounds half to even).
    bool ints = true;
    for (const element& a : arg_nodes) ints = ints && InferType(a) == Type::kInt;
    if ((name == "round" || name == "trunc") && n == 1 && ints) {
      return Cat("CAST(", list, " AS bigint)");
    }
    if (name == "round" || name == "trunc" || (name == "log" && n == 2) ||
        (name == "mod" && !ints)) {
      std::string numeric;
      for (int i = 0; i < n; ++i) {
        // round/trunc digits stay integers.
        Append(&numeric, i > 0 ? ", " : "",
               i == 0 || name == "log" || name == "mod" ? Cat("CAST(", args[i], " AS numeric)")
                                                        : args[i]);
      }
      return Cat("CAST(", name, "(", numeric, ") AS double precision)");
    }
  }
  // LEFT and RIGHT are join keywords in SQLite; quoted, they are plain names.
  if (!pg() && (name == "left" || name == "right")) return Cat(QuoteIdent(name), "(", list, ")");
  return Cat(name, "(", list, ")");
}

// ---- Type inference (PostgreSQL's numeric types)

std::optional<Type> Deparser::InferType(const element& node) const {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return std::nullopt;
  // Int with int stays int, with real becomes real; other mixes are unknown.
  auto common = [this](const std::vector<element>& nodes) -> std::optional<Type> {
    std::optional<Type> out;
    for (const element& n : nodes) {
      std::string_view t;
      object c;
      if (Unwrap(n, &t, &c) && t == "A_Const" && GetBool(c, "isnull")) continue;
      const std::optional<Type> next = InferType(n);
      if (!next) return std::nullopt;
      if (!out || *out == *next) {
        out = next;
      } else if ((*out == Type::kInt || *out == Type::kReal) &&
                 (*next == Type::kInt || *next == Type::kReal)) {
        out = Type::kReal;
      } else {
        return std::nullopt;
      }
    }
    return out;
  };
  if (type == "A_Const") {
    element v;
    object o;
    if (Has(body, "ival")) return Type::kInt;
    if (Get(body, "fval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
      const bool integral = GetString(o, "fval").find_first_of(".eE") == std::string_view::npos;
      return integral ? Type::kInt : Type::kReal;
    }
    if (Has(body, "sval")) return Type::kText;
    if (Has(body, "boolval")) return Type::kBool;
    return std::nullopt;
  }
  if (type == "ColumnRef") {
    if (column_type_ == nullptr) return std::nullopt;
    std::vector<std::string> folded;
    for (const element& f : GetList(body, "fields")) folded.emplace_back(StringNode(f));
    const std::vector<std::string> written = Spelling(text_, GetInt(body, "location", -1), folded);
    if (written.size() == 2) {
      const Scope* s = FindScope(folded[0]);
      return s != nullptr ? column_type_(s->relation, written[1]) : std::nullopt;
    }
    for (const Scope& s : scopes_) {
      if (written.size() != 1) break;
      if (std::optional<Type> t = column_type_(s.relation, written[0])) return t;
    }
    return std::nullopt;
  }
  if (type == "TypeCast") {
    element tn;
    object type_name;
    Target target;
    if (!Get(body, "typeName", &tn) || tn.get_object().get(type_name) != simdjson::SUCCESS ||
        !LookupType(FoldedName(GetList(type_name, "names")), &target)) {
      return std::nullopt;
    }
    static constexpr Type kTypes[] = {Type::kInt, Type::kReal, Type::kText, Type::kBool,
                                      Type::kTime};
    return kTypes[static_cast<int>(target)];
  }
  if (type == "BoolExpr" || type == "NullTest" || type == "BooleanTest") return Type::kBool;
  if (type == "A_Expr") {
    const AExprKind kind = AExprKindOf(body);
    std::vector<element> names = GetList(body, "name");
    const std::string_view op = names.empty() ? std::string_view() : StringNode(names.back());
    element l, r;
    const bool has_l = Get(body, "lexpr", &l);
    if (kind == AExprKind::kNullIf) return has_l ? InferType(l) : std::nullopt;
    if (kind != AExprKind::kOp) return Type::kBool;  // IN, LIKE, BETWEEN, IS DISTINCT FROM
    if (!Get(body, "rexpr", &r)) return std::nullopt;
    if (op == "||") return Type::kText;
    if (op == "^") return Type::kReal;
    if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
      if (!has_l) return InferType(r);
      // Timestamp and interval arithmetic, as the engine types it.
      const std::optional<Type> lt = InferType(l), rt = InferType(r);
      if (lt == Type::kTime && rt == Type::kTime && op == "-") return Type::kInterval;
      if ((lt == Type::kTime && rt == Type::kInterval) ||
          (lt == Type::kInterval && rt == Type::kTime && op == "+")) {
        return Type::kTime;
      }
      if (lt == Type::kInterval || rt == Type::kInterval) {
        if (lt == rt && (op == "+" || op == "-")) return Type::kInterval;
        const bool number = (lt == Type::kInterval ? rt : lt) == Type::kInt ||
                            (lt == Type::kInterval ? rt : lt) == Type::kReal;
        if (number && (op == "*" || (op == "/" && lt == Type::kInterval))) return Type::kInterval;
      }
      return common({l, r});
    }
    return Type::kBool;
  }
  if (type == "CaseExpr") {
    std::vector<element> results;
    for (const element& w : GetList(body, "args")) {
      std::string_view t;
      object when;
      element result;
      if (Unwrap(w, &t, &when) && Get(when, "result", &result)) results.push_back(result);
    }
    element d;
    if (Get(body, "defresult", &d)) results.push_back(d);
    return common(results);
  }
  if (type == "CoalesceExpr" || type == "MinMaxExpr") return common(GetList(body, "args"));
  if (type != "FuncCall") return std::nullopt;
  const std::string name = FoldedName(GetList(body, "funcname"));
  std::vector<element> args = GetList(body, "args");
  static constexpr std::string_view kInts =
      " count length char_length character_length octet_length strpos position ";
  static constexpr std::string_view kReals = " avg percentile_cont sqrt exp ln log power pow ";
  static constexpr std::string_view kTexts =
      " lower upper trim btrim ltrim rtrim substr substring replace concat concat_ws left right "
      "split_part to_char ";
  static constexpr std::string_view kSame = " sum min max abs sign floor ceil ceiling mod ";
  const std::string key = Cat(" ", name, " ");
  if (kInts.find(key) != std::string_view::npos) return Type::kInt;
  if (kReals.find(key) != std::string_view::npos) return Type::kReal;
  if (kTexts.find(key) != std::string_view::npos) return Type::kText;
  if (name == "starts_with") return Type::kBool;
  if (name == "date_trunc" || name == "to_timestamp") return Type::kTime;
  if (kSame.find(key) != std::string_view::npos) return common(args);
  if (name == "round" || name == "trunc") return args.size() == 1 ? common(args) : Type::kReal;
  if (name == "percentile_disc") {
    std::vector<element> order = GetList(body, "agg_order");
    std::string_view t;
    object sort;
    element key_node;
    if (order.size() == 1 && Unwrap(order[0], &t, &sort) && Get(sort, "node", &key_node)) {
      return InferType(key_node);
    }
  }
  if ((name == "date_part" || name == "extract") && !args.empty()) {
    std::string_view t;
    object c, sv;
    element v;
    if (Unwrap(args[0], &t, &c) && t == "A_Const" && Get(c, "sval", &v) &&
        v.get_object().get(sv) == simdjson::SUCCESS) {
      return DatePartType(Lower(GetString(sv, "sval"))) == "bigint" ? Type::kInt : Type::kReal;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::string> StoreSelect(std::string_view create_view_sql, SqlDialect dialect,
                                        const ColumnTypeFn& column_type) {
  Deparser deparser(create_view_sql, dialect, column_type);
  return deparser.Run();
}

}  // namespace sv::sql
