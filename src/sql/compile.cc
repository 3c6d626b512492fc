// Compile(): parses "SELECT <sql>" with libpg_query, walks the JSON parse tree with simdjson and
// builds the node tree. Names are resolved here (through the caller's Resolver, or to array
// subquery element variables), constant subtrees are folded, and every error points at the
// offending construct as file:line:col.

#include <pg_query.h>

#include <cstring>
#include <initializer_list>

#include "absl/strings/ascii.h"
#include "simdjson.h"
#include "sql/expr.h"
#include "sql/expr_internal.h"
#include "sql/parse_tree.h"
#include "sql/select.h"

namespace sv::sql {
namespace {

using internal::AExprKind;
using internal::AExprKindOf;
using internal::AggKind;
using internal::Append;
using internal::BinOp;
using internal::BoolTest;
using internal::CastTarget;
using internal::Cat;
using internal::ConstValue;
using internal::FindLocation;
using internal::Get;
using internal::GetBool;
using internal::GetInt;
using internal::GetList;
using internal::GetString;
using internal::Has;
using internal::Join;
using internal::JsonLength;
using internal::JsonPathExpr;
using internal::JsonStep;
using internal::Lower;
using internal::MessageOf;
using internal::NodeType;
using internal::StringNode;
using internal::Unwrap;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::string_view kPrefix = "SELECT ";
constexpr int64_t kPrefixLen = 7;

#define SV_SQL_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::absl::Status sv_status_ = (expr);      \
    if (!sv_status_.ok()) return sv_status_; \
  } while (0)

#define SV_SQL_CONCAT_INNER(a, b) a##b
#define SV_SQL_CONCAT(a, b) SV_SQL_CONCAT_INNER(a, b)
#define SV_SQL_ASSIGN_OR_RETURN(lhs, expr) \
  SV_SQL_ASSIGN_OR_RETURN_IMPL(SV_SQL_CONCAT(sv_statusor_, __LINE__), lhs, expr)
#define SV_SQL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// ---------------------------------------------------------------------------------------------
// Original spelling of dotted names (PostgreSQL folds unquoted identifiers to lower case).

bool IsIdentStart(char c) {
  const auto u = static_cast<unsigned char>(c);
  return absl::ascii_isalpha(u) || c == '_' || u >= 0x80;
}

bool IsIdentChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return absl::ascii_isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

struct PathToken {
  bool is_index = false;
  std::string ident;
};

// Reads `name ( . name | [ ... ] )*` starting at `pos`; stops at anything else.
std::vector<PathToken> ScanPath(std::string_view text, size_t pos) {
  std::vector<PathToken> out;
  size_t i = pos;
  const size_t n = text.size();
  auto skip_blanks = [&] {
    while (i < n && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  bool expect_name = true;
  while (i < n) {
    if (expect_name) {
      PathToken token;
      if (text[i] == '"') {
        ++i;
        while (i < n) {
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              token.ident += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          token.ident += text[i++];
        }
      } else if (IsIdentStart(text[i])) {
        const size_t start = i;
        while (i < n && IsIdentChar(text[i])) ++i;
        token.ident = std::string(text.substr(start, i - start));
      } else {
        break;
      }
      out.push_back(std::move(token));
      expect_name = false;
      continue;
    }
    const size_t save = i;
    skip_blanks();
    if (i < n && text[i] == '.') {
      ++i;
      skip_blanks();
      expect_name = true;
      continue;
    }
    if (i < n && text[i] == '[') {
      int depth = 0;
      while (i < n) {
        if (text[i] == '[') ++depth;
        if (text[i] == ']' && --depth == 0) break;
        ++i;
      }
      if (i >= n) break;
      ++i;
      PathToken token;
      token.is_index = true;
      out.push_back(std::move(token));
      continue;
    }
    i = save;
    break;
  }
  return out;
}

std::string IndexStep(int64_t index) { return Cat("[", index, "]"); }

// "[12]" -> 12.
bool ParseIndexStep(std::string_view s, int64_t* index) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  return internal::ParseInt(s.substr(1, s.size() - 2), index);
}

std::vector<JsonStep> ToSteps(const std::vector<std::string>& path) {
  std::vector<JsonStep> steps;
  steps.reserve(path.size());
  for (const std::string& p : path) {
    JsonStep step;
    if (ParseIndexStep(p, &step.index)) {
      step.is_index = true;
    } else {
      step.key = p;
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Names of things.

bool IsNondeterministic(std::string_view name) {
  static constexpr std::string_view kNames[] = {"now",
                                                "random",
                                                "clock_timestamp",
                                                "statement_timestamp",
                                                "timeofday",
                                                "gen_random_uuid",
                                                "setseed",
                                                "transaction_timestamp",
                                                "uuid_generate_v4",
                                                "nextval",
                                                "currval",
                                                "txid_current"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

std::string NondeterministicMessage(std::string_view what) {
  return Cat(what,
             " is not deterministic: views must be rebuildable; use meta.log_time or an "
             "event field");
}

bool AggregateKind(std::string_view name, AggKind* kind) {
  struct Agg {
    std::string_view name;
    AggKind kind;
  };
  static constexpr Agg kAggs[] = {{"count", AggKind::kCount},
                                  {"sum", AggKind::kSum},
                                  {"avg", AggKind::kAvg},
                                  {"min", AggKind::kMin},
                                  {"max", AggKind::kMax},
                                  {"bool_and", AggKind::kBoolAnd},
                                  {"every", AggKind::kBoolAnd},
                                  {"bool_or", AggKind::kBoolOr},
                                  {"string_agg", AggKind::kStringAgg}};
  for (const Agg& a : kAggs) {
    if (a.name == name) {
      *kind = a.kind;
      return true;
    }
  }
  return false;
}

bool IsUnsupportedAggregate(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "array_agg", "json_agg",   "jsonb_agg",   "json_object_agg", "jsonb_object_agg",
      "stddev",    "stddev_pop", "stddev_samp", "variance",        "var_pop",
      "var_samp",  "bit_and",    "bit_or",      "percentile_cont", "percentile_disc",
      "mode",      "corr",       "covar_pop",   "covar_samp",      "regr_slope",
      "xmlagg",    "range_agg",  "any_value"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

std::string ArityMessage(std::string_view name, int min, int max, size_t got) {
  std::string expected;
  if (max < 0) {
    expected = Cat("at least ", min, min == 1 ? " argument" : " arguments");
  } else if (min == max) {
    expected = Cat(min, min == 1 ? " argument" : " arguments");
  } else {
    expected = Cat(min, " to ", max, " arguments");
  }
  return Cat("function ", name, "() takes ", expected, ", got ", got);
}

struct TypeInfo {
  std::string_view name;
  CastTarget target;
};

bool LookupType(std::string_view name, CastTarget* target) {
  static constexpr TypeInfo kTypes[] = {
      {"text", CastTarget::kText},      {"varchar", CastTarget::kText},
      {"bpchar", CastTarget::kText},    {"char", CastTarget::kText},
      {"character", CastTarget::kText}, {"string", CastTarget::kText},
      {"int", CastTarget::kInt},        {"int2", CastTarget::kInt},
      {"int4", CastTarget::kInt},       {"int8", CastTarget::kInt},
      {"integer", CastTarget::kInt},    {"bigint", CastTarget::kInt},
      {"smallint", CastTarget::kInt},   {"numeric", CastTarget::kReal},
      {"decimal", CastTarget::kReal},   {"real", CastTarget::kReal},
      {"float", CastTarget::kReal},     {"float4", CastTarget::kReal},
      {"float8", CastTarget::kReal},    {"double", CastTarget::kReal},
      {"bool", CastTarget::kBool},      {"boolean", CastTarget::kBool},
      {"timestamp", CastTarget::kTime}, {"timestamptz", CastTarget::kTime},
      {"date", CastTarget::kDate},      {"interval", CastTarget::kInterval},
  };
  for (const TypeInfo& t : kTypes) {
    if (t.name == name) {
      *target = t.target;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The compiler.

class Compiler {
 public:
  Compiler(std::string_view sql, const Resolver& resolver, const Location& where)
      : sql_(sql), text_(Cat(kPrefix, sql)), resolver_(resolver), where_(where) {}
  // Statement mode: `statement` is the whole parsed text (no prefix); nodes of its parse tree
  // are compiled one at a time, each offered to `hook` first.
  Compiler(std::string_view statement, const Resolver& resolver, const Location& where,
           const NodeHook* hook)
      : sql_(statement),
        text_(statement),
        prefix_len_(0),
        resolver_(resolver),
        where_(where),
        hook_(hook) {}

  absl::StatusOr<ExprPtr> Run();
  absl::StatusOr<ExprPtr> CompileNode(const element& node, int64_t loc) {
    return Compile(node, loc);
  }

 private:
  struct Scope {
    std::string alias;  // as PostgreSQL folded it
    int slot;
  };

  // `loc` is a byte offset into text_ (which starts with the "SELECT " prefix).
  absl::Status Error(int64_t loc, std::string_view message) const {
    int64_t offset = loc - prefix_len_;
    if (offset < 0) offset = 0;
    if (offset > static_cast<int64_t>(sql_.size())) offset = static_cast<int64_t>(sql_.size());
    return ErrorAt(where_.Advance(sql_, static_cast<size_t>(offset)), message);
  }

  absl::Status CheckSelectClauses(const object& select, bool allow_from, int64_t loc) const;
  absl::StatusOr<ExprPtr> Compile(const element& node, int64_t parent_loc);
  absl::StatusOr<std::vector<ExprPtr>> CompileList(const std::vector<element>& nodes, int64_t loc);
  absl::StatusOr<ExprPtr> Fold(ExprPtr expr, std::initializer_list<const Expr*> children,
                               int64_t loc);

  absl::StatusOr<ExprPtr> CompileConst(const object& body, int64_t loc);
  absl::StatusOr<int64_t> IntConst(const element& node, int64_t loc, std::string_view what);
  absl::StatusOr<ExprPtr> CompileColumnRef(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileIndirection(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileAExpr(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileBoolExpr(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileCase(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileTypeCast(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileFuncCall(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileSubLink(const object& body, int64_t loc);
  absl::StatusOr<ExprPtr> CompileAggregate(const object& call, int64_t loc,
                                           std::unique_ptr<JsonPathExpr> source, int slot,
                                           ExprPtr where);

  // Folded field names -> original spelling read from the text at `loc`; falls back to the
  // folded names when the text does not read back as a plain dotted name.
  std::vector<std::string> OriginalNames(const std::vector<std::string>& folded, int64_t loc) const;
  absl::StatusOr<Binding> Resolve(const std::vector<std::string>& parts,
                                  const std::string& folded_first, int64_t loc);
  absl::StatusOr<ExprPtr> FromBinding(const Binding& binding, const std::string& display,
                                      int64_t loc);
  absl::StatusOr<std::unique_ptr<JsonPathExpr>> PathFromBinding(const Binding& binding,
                                                                std::string display, int64_t loc);

  std::string_view sql_;
  std::string text_;
  int64_t prefix_len_ = kPrefixLen;
  const Resolver& resolver_;
  Location where_;
  const NodeHook* hook_ = nullptr;
  std::vector<Scope> scopes_;
};

absl::StatusOr<ExprPtr> Compiler::Run() {
  PgQueryParseResult result = pg_query_parse(text_.c_str());
  struct Release {
    PgQueryParseResult* r;
    ~Release() { pg_query_free_parse_result(*r); }
  } release{&result};
  if (result.error != nullptr) {
    return Error(
        internal::CursorOffset(text_, result.error->cursorpos, static_cast<int64_t>(text_.size())),
        result.error->message);
  }
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(result.parse_tree, std::strlen(result.parse_tree)).get(root) !=
      simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  object root_obj;
  if (root.get_object().get(root_obj) != simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  std::vector<element> stmts = GetList(root_obj, "stmts");
  if (stmts.empty()) return Error(kPrefixLen, "empty expression");
  if (stmts.size() > 1) {
    object second;
    int64_t loc = static_cast<int64_t>(text_.size());
    if (stmts[1].get_object().get(second) == simdjson::SUCCESS) {
      loc = GetInt(second, "stmt_location", loc);
    }
    return Error(loc, "unsupported multiple statements; write one expression");
  }
  object stmt_obj;
  element stmt;
  std::string_view type;
  object select;
  if (stmts[0].get_object().get(stmt_obj) != simdjson::SUCCESS || !Get(stmt_obj, "stmt", &stmt) ||
      !Unwrap(stmt, &type, &select) || type != "SelectStmt") {
    return Error(kPrefixLen, "unsupported statement; write one expression");
  }
  SV_SQL_RETURN_IF_ERROR(CheckSelectClauses(select, /*allow_from=*/false, kPrefixLen));
  std::vector<element> targets = GetList(select, "targetList");
  if (targets.empty()) return Error(kPrefixLen, "empty expression");
  if (targets.size() > 1) {
    return Error(FindLocation(targets[1]), "unsupported list of expressions; write one expression");
  }
  object target;
  if (!Unwrap(targets[0], &type, &target) || type != "ResTarget") {
    return Error(kPrefixLen, "unsupported expression");
  }
  const int64_t loc = GetInt(target, "location", kPrefixLen);
  if (Has(target, "name")) {
    return Error(loc, Cat("unsupported column alias AS ", GetString(target, "name"),
                          "; the column name comes from the config"));
  }
  element val;
  if (!Get(target, "val", &val)) return Error(loc, "unsupported expression");
  return Compile(val, loc);
}

absl::Status Compiler::CheckSelectClauses(const object& select, bool allow_from,
                                          int64_t loc) const {
  struct Clause {
    std::string_view key;
    std::string_view name;
  };
  static constexpr Clause kClauses[] = {
      {"fromClause", "FROM clause"},      {"whereClause", "WHERE clause"},
      {"groupClause", "GROUP BY clause"}, {"havingClause", "HAVING clause"},
      {"windowClause", "WINDOW clause"},  {"sortClause", "ORDER BY clause"},
      {"limitCount", "LIMIT clause"},     {"limitOffset", "OFFSET clause"},
      {"distinctClause", "DISTINCT"},     {"withClause", "WITH clause"},
      {"intoClause", "INTO clause"},      {"lockingClause", "FOR UPDATE/SHARE clause"},
      {"valuesLists", "VALUES list"},     {"larg", "set operation"},
  };
  for (const Clause& clause : kClauses) {
    if (allow_from && (clause.key == "fromClause" || clause.key == "whereClause")) continue;
    element e;
    if (!Get(select, clause.key, &e)) continue;
    int64_t at = FindLocation(e);
    if (at < 0) at = loc;
    std::string message = Cat("unsupported ", clause.name);
    if (clause.key == "fromClause") {
      Append(&message,
             " in an expression; to aggregate a JSON array write an array subquery "
             "such as (SELECT sum(i.qty) FROM e.items AS i)");
    }
    return Error(at, message);
  }
  const std::string_view op = GetString(select, "op");
  if (!op.empty() && op != "SETOP_NONE") {
    return Error(loc, "unsupported set operation (UNION / INTERSECT / EXCEPT)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Compiler::Fold(ExprPtr expr, std::initializer_list<const Expr*> children,
                                       int64_t loc) {
  for (const Expr* child : children) {
    if (child != nullptr && ConstValue(*child) == nullptr) return expr;
  }
  absl::StatusOr<Value> value = EvalConstant(*expr);
  if (!value.ok()) return Error(loc, MessageOf(value.status()));
  return internal::MakeConst(std::move(value).value());
}

absl::StatusOr<std::vector<ExprPtr>> Compiler::CompileList(const std::vector<element>& nodes,
                                                           int64_t loc) {
  std::vector<ExprPtr> out;
  out.reserve(nodes.size());
  for (const element& node : nodes) {
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr e, Compile(node, loc));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<ExprPtr> Compiler::Compile(const element& node, int64_t parent_loc) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return Error(parent_loc, "unsupported expression");
  int64_t loc = GetInt(body, "location", -1);
  if (loc < 0) loc = parent_loc;
  if (hook_ != nullptr) {
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr hooked, (*hook_)(ExprNode{node, loc}));
    if (hooked != nullptr) return hooked;
  }
  if (type == "A_Const") return CompileConst(body, loc);
  if (type == "ColumnRef") return CompileColumnRef(body, loc);
  if (type == "A_Indirection") return CompileIndirection(body, loc);
  if (type == "A_Expr") return CompileAExpr(body, loc);
  if (type == "BoolExpr") return CompileBoolExpr(body, loc);
  if (type == "CaseExpr") return CompileCase(body, loc);
  if (type == "TypeCast") return CompileTypeCast(body, loc);
  if (type == "FuncCall") return CompileFuncCall(body, loc);
  if (type == "SubLink") return CompileSubLink(body, loc);
  if (type == "NullTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return Error(loc, "unsupported IS NULL");
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr a, Compile(arg, loc));
    const bool is_not = GetString(body, "nulltesttype") == "IS_NOT_NULL";
    const Expr* raw = a.get();
    return Fold(internal::MakeNullTest(std::move(a), is_not), {raw}, loc);
  }
  if (type == "BooleanTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return Error(loc, "unsupported IS TRUE");
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr a, Compile(arg, loc));
    const std::string_view t = GetString(body, "booltesttype");
    BoolTest test = BoolTest::kTrue;
    if (t == "IS_NOT_TRUE") test = BoolTest::kNotTrue;
    if (t == "IS_FALSE") test = BoolTest::kFalse;
    if (t == "IS_NOT_FALSE") test = BoolTest::kNotFalse;
    if (t == "IS_UNKNOWN") test = BoolTest::kUnknown;
    if (t == "IS_NOT_UNKNOWN") test = BoolTest::kNotUnknown;
    const Expr* raw = a.get();
    return Fold(internal::MakeBoolTest(std::move(a), test), {raw}, loc);
  }
  if (type == "CoalesceExpr" || type == "MinMaxExpr") {
    SV_SQL_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, CompileList(GetList(body, "args"), loc));
    if (args.empty()) return Error(loc, "unsupported empty argument list");
    ExprPtr e;
    std::vector<const Expr*> raw;
    for (const ExprPtr& a : args) raw.push_back(a.get());
    if (type == "CoalesceExpr") {
      e = internal::MakeCoalesce(std::move(args));
    } else {
      e = internal::MakeMinMax(std::move(args), GetString(body, "op") == "IS_GREATEST");
    }
    for (const Expr* r : raw) {
      if (ConstValue(*r) == nullptr) return e;
    }
    return Fold(std::move(e), {}, loc);
  }
  if (type == "SQLValueFunction") {
    std::string name = Lower(GetString(body, "op"));
    if (name.rfind("svfop_", 0) == 0) name = name.substr(6);
    if ((name.size() > 2 && name.compare(name.size() - 2, 2, "_n") == 0))
      name.resize(name.size() - 2);
    if (name == "current_timestamp" || name == "current_date" || name == "current_time" ||
        name == "localtime" || name == "localtimestamp") {
      return Error(loc, NondeterministicMessage(name));
    }
    return Error(loc, Cat("unsupported ", name));
  }
  if (type == "ParamRef") {
    return Error(loc, Cat("unsupported parameter $", GetInt(body, "number", 0)));
  }
  if (type == "A_ArrayExpr") return Error(loc, "unsupported ARRAY constructor");
  if (type == "RowExpr") return Error(loc, "unsupported ROW constructor");
  if (type == "CollateClause") return Error(loc, "unsupported COLLATE");
  if (type == "GroupingFunc") return Error(loc, "unsupported GROUPING()");
  return Error(loc, Cat("unsupported ", type, " expression"));
}

// ---------------------------------------------------------------------------------------------
// Constants.

absl::StatusOr<ExprPtr> Compiler::CompileConst(const object& body, int64_t loc) {
  if (GetBool(body, "isnull")) return internal::MakeConst(Value::Null());
  element v;
  object o;
  if (Get(body, "ival", &v)) {
    SV_SQL_ASSIGN_OR_RETURN(int64_t i, IntConst(v, loc, "integer"));
    return internal::MakeConst(Value::Int(i));
  }
  if (Get(body, "fval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    const std::string_view s = GetString(o, "fval");
    int64_t i;
    double d;
    // Integers beyond int4 arrive as "Float" nodes; keep them integers when they fit int64.
    if (s.find_first_of(".eE") == std::string_view::npos && internal::ParseInt(s, &i)) {
      return internal::MakeConst(Value::Int(i));
    }
    if (internal::ParseReal(s, &d)) return internal::MakeConst(Value::Real(d));
    return Error(loc, Cat("cannot read number ", s));
  }
  if (Get(body, "sval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    return internal::MakeConst(Value::Text(std::string(GetString(o, "sval"))));
  }
  if (Get(body, "boolval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    return internal::MakeConst(Value::Bool(GetBool(o, "boolval")));
  }
  if (Has(body, "bsval")) return Error(loc, "unsupported bit string constant");
  return Error(loc, "unsupported constant");
}

// Reads an integer constant: either an A_Const node or the "ival" payload of one. libpg_query
// 15 omits zero and negative integer values from its JSON ("ival": {}), so those are read back
// from the source text at the node's location.
absl::StatusOr<int64_t> Compiler::IntConst(const element& node, int64_t loc,
                                           std::string_view what) {
  std::string_view type;
  object body;
  element payload = node;
  if (Unwrap(node, &type, &body)) {
    if (type != "A_Const" || !Get(body, "ival", &payload)) {
      return Error(FindLocation(node) >= 0 ? FindLocation(node) : loc,
                   Cat("unsupported non-constant ", what));
    }
    loc = GetInt(body, "location", loc);
  }
  object o;
  if (payload.get_object().get(o) != simdjson::SUCCESS) return Error(loc, "malformed integer");
  element value;
  int64_t i;
  if (Get(o, "ival", &value) && value.get_int64().get(i) == simdjson::SUCCESS) return i;
  // Zero or negative: "-3", "- 3", "-(3)", "0".
  size_t p = static_cast<size_t>(loc < 0 ? 0 : loc);
  while (p < text_.size() && (text_[p] == '-' || text_[p] == '(' || text_[p] == '+' ||
                              absl::ascii_isspace(static_cast<unsigned char>(text_[p])))) {
    ++p;
  }
  int64_t magnitude = 0;
  size_t digits = 0;
  while (p < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[p]))) {
    magnitude = magnitude * 10 + (text_[p] - '0');
    ++p;
    ++digits;
    if (digits > 18) break;
  }
  if (digits == 0) return Error(loc, "cannot read integer constant");
  return -magnitude;
}

// ---------------------------------------------------------------------------------------------
// Names.

std::vector<std::string> Compiler::OriginalNames(const std::vector<std::string>& folded,
                                                 int64_t loc) const {
  if (loc >= 0) {
    std::vector<PathToken> tokens = ScanPath(text_, static_cast<size_t>(loc));
    if (tokens.size() >= folded.size()) {
      std::vector<std::string> out;
      bool ok = true;
      for (size_t i = 0; i < folded.size(); ++i) {
        // The spelling must fold to what the parser saw (guards against misreads).
        if (tokens[i].is_index ||
            (Lower(tokens[i].ident) != folded[i] && tokens[i].ident != folded[i])) {
          ok = false;
          break;
        }
        out.push_back(tokens[i].ident);
      }
      if (ok) return out;
    }
  }
  return folded;
}

absl::StatusOr<Binding> Compiler::Resolve(const std::vector<std::string>& parts,
                                          const std::string& folded_first, int64_t loc) {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->alias == folded_first) {
      Binding b;
      b.kind = Binding::Kind::kElementField;
      b.slot = it->slot;
      b.path.assign(parts.begin() + 1, parts.end());
      return b;
    }
  }
  NameRef ref;
  ref.parts = parts;
  ref.offset = static_cast<size_t>(loc > prefix_len_ ? loc - prefix_len_ : 0);
  absl::StatusOr<Binding> b = resolver_(ref);
  if (!b.ok()) return Error(loc, MessageOf(b.status()));
  return b;
}

absl::StatusOr<std::unique_ptr<JsonPathExpr>> Compiler::PathFromBinding(const Binding& binding,
                                                                        std::string display,
                                                                        int64_t loc) {
  int slot = -1;
  if (binding.kind == Binding::Kind::kElementField) {
    if (binding.slot < 0 || binding.slot >= kMaxElementDepth) {
      return Error(loc, Cat("element slot ", binding.slot, " of ", display, " is out of range"));
    }
    slot = binding.slot;
  } else if (binding.kind != Binding::Kind::kEventField) {
    return Error(loc, Cat(display, " is not a JSON field"));
  }
  return std::make_unique<JsonPathExpr>(slot, ToSteps(binding.path), std::move(display));
}

absl::StatusOr<ExprPtr> Compiler::FromBinding(const Binding& binding, const std::string& display,
                                              int64_t loc) {
  switch (binding.kind) {
    case Binding::Kind::kEventField:
    case Binding::Kind::kElementField: {
      SV_SQL_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path,
                              PathFromBinding(binding, display, loc));
      return ExprPtr(std::move(path));
    }
    case Binding::Kind::kHeader:
      if (binding.path.empty()) return Error(loc, Cat("header ", display, " has no name"));
      return internal::MakeHeader(binding.path[0]);
    case Binding::Kind::kMeta:
      if (binding.slot < 0 || binding.slot >= static_cast<int>(MetaField::kCount)) {
        return Error(loc, Cat("metadata slot of ", display, " is out of range"));
      }
      return internal::MakeMeta(binding.slot);
    case Binding::Kind::kRowColumn:
      if (binding.slot < 0) return Error(loc, Cat("bad column slot for ", display));
      return internal::MakeRowColumn(binding.slot);
    case Binding::Kind::kViewColumn:
      if (binding.slot < 0 || binding.column < 0) {
        return Error(loc, Cat("bad view column slot for ", display));
      }
      return internal::MakeViewColumn(binding.slot, binding.column);
    case Binding::Kind::kConstant:
      return internal::MakeConst(binding.value);
  }
  return Error(loc, Cat("cannot bind ", display));
}

absl::StatusOr<ExprPtr> Compiler::CompileColumnRef(const object& body, int64_t loc) {
  std::vector<std::string> folded;
  for (const element& f : GetList(body, "fields")) {
    if (NodeType(f) != "String") {
      return Error(loc, "unsupported * in a name; name the field (e.g. e.total)");
    }
    folded.emplace_back(StringNode(f));
  }
  if (folded.empty()) return Error(loc, "unsupported empty name");
  std::vector<std::string> parts = OriginalNames(folded, loc);
  SV_SQL_ASSIGN_OR_RETURN(Binding b, Resolve(parts, folded[0], loc));
  return FromBinding(b, Join(parts, "."), loc);
}

absl::StatusOr<ExprPtr> Compiler::CompileIndirection(const object& body, int64_t loc) {
  element arg;
  std::string_view arg_type;
  object ref;
  if (!Get(body, "arg", &arg) || !Unwrap(arg, &arg_type, &ref) || arg_type != "ColumnRef") {
    return Error(loc, "unsupported subscript; subscripts apply to JSON fields such as e.items[1]");
  }
  loc = GetInt(ref, "location", loc);
  std::vector<std::string> folded;
  for (const element& f : GetList(ref, "fields")) {
    if (NodeType(f) != "String") return Error(loc, "unsupported * in a name");
    folded.emplace_back(StringNode(f));
  }
  if (folded.empty()) return Error(loc, "unsupported empty name");
  // Subscripts and the fields after them, in order.
  struct Step {
    bool is_index;
    int64_t index;
    std::string field;
  };
  std::vector<Step> steps;
  for (const element& item : GetList(body, "indirection")) {
    std::string_view type;
    object ibody;
    if (!Unwrap(item, &type, &ibody)) return Error(loc, "unsupported subscript");
    if (type == "A_Indices") {
      if (GetBool(ibody, "is_slice") || Has(ibody, "lidx")) {
        return Error(loc, "unsupported array slice; use one index such as e.items[1]");
      }
      element uidx;
      if (!Get(ibody, "uidx", &uidx)) return Error(loc, "unsupported subscript");
      SV_SQL_ASSIGN_OR_RETURN(int64_t index, IntConst(uidx, loc, "array index"));
      steps.push_back({true, index, {}});
    } else if (type == "String") {
      steps.push_back({false, 0, std::string(GetString(ibody, "sval"))});
    } else {
      return Error(loc, "unsupported * in a name");
    }
  }
  // Recover the original spelling of the names and of the fields after subscripts.
  std::vector<std::string> parts = folded;
  std::vector<PathToken> tokens = ScanPath(text_, static_cast<size_t>(loc));
  if (tokens.size() == folded.size() + steps.size()) {
    bool ok = true;
    for (size_t i = 0; i < tokens.size() && ok; ++i) {
      const bool want_index = i >= folded.size() && steps[i - folded.size()].is_index;
      ok = tokens[i].is_index == want_index;
    }
    if (ok) {
      for (size_t i = 0; i < folded.size(); ++i) parts[i] = tokens[i].ident;
      for (size_t i = 0; i < steps.size(); ++i) {
        if (!steps[i].is_index) steps[i].field = tokens[folded.size() + i].ident;
      }
    }
  }
  SV_SQL_ASSIGN_OR_RETURN(Binding b, Resolve(parts, folded[0], loc));
  std::string display = Join(parts, ".");
  if (b.kind != Binding::Kind::kEventField && b.kind != Binding::Kind::kElementField) {
    return Error(loc, Cat("cannot subscript ", display, ": it is not a JSON field"));
  }
  for (const Step& s : steps) {
    if (s.is_index) {
      b.path.push_back(IndexStep(s.index));
      Append(&display, "[", s.index, "]");
    } else {
      b.path.push_back(s.field);
      Append(&display, ".", s.field);
    }
  }
  SV_SQL_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path,
                          PathFromBinding(b, std::move(display), loc));
  return ExprPtr(std::move(path));
}

// ---------------------------------------------------------------------------------------------
// Operators.

absl::StatusOr<ExprPtr> Compiler::CompileAExpr(const object& body, int64_t loc) {
  const AExprKind kind = AExprKindOf(body);
  std::vector<element> names = GetList(body, "name");
  const std::string op = names.empty() ? std::string() : std::string(StringNode(names.back()));
  element lnode, rnode;
  const bool has_l = Get(body, "lexpr", &lnode);
  const bool has_r = Get(body, "rexpr", &rnode);

  if (kind == AExprKind::kOp) {
    static constexpr std::pair<std::string_view, BinOp> kOps[] = {
        {"+", BinOp::kAdd}, {"-", BinOp::kSub}, {"*", BinOp::kMul},     {"/", BinOp::kDiv},
        {"%", BinOp::kMod}, {"^", BinOp::kPow}, {"||", BinOp::kConcat}, {"=", BinOp::kEq},
        {"<>", BinOp::kNe}, {"!=", BinOp::kNe}, {"<", BinOp::kLt},      {"<=", BinOp::kLe},
        {">", BinOp::kGt},  {">=", BinOp::kGe}};
    if (!has_r) return Error(loc, Cat("unsupported postfix operator ", op));
    if (!has_l) {
      if (op != "-" && op != "+") return Error(loc, Cat("unsupported operator ", op));
      SV_SQL_ASSIGN_OR_RETURN(ExprPtr r, Compile(rnode, loc));
      const Expr* raw = r.get();
      ExprPtr e =
          op == "-" ? internal::MakeNegate(std::move(r)) : internal::MakeUnaryPlus(std::move(r));
      return Fold(std::move(e), {raw}, loc);
    }
    for (const auto& [name, binop] : kOps) {
      if (name != op) continue;
      SV_SQL_ASSIGN_OR_RETURN(ExprPtr l, Compile(lnode, loc));
      SV_SQL_ASSIGN_OR_RETURN(ExprPtr r, Compile(rnode, loc));
      const Expr* rl = l.get();
      const Expr* rr = r.get();
      return Fold(internal::MakeBinary(binop, std::move(l), std::move(r)), {rl, rr}, loc);
    }
    return Error(loc, Cat("unsupported operator ", op));
  }
  if (!has_l || !has_r) return Error(loc, "unsupported expression");
  if (kind == AExprKind::kDistinct || kind == AExprKind::kNotDistinct ||
      kind == AExprKind::kNullIf) {
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr l, Compile(lnode, loc));
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr r, Compile(rnode, loc));
    const Expr* rl = l.get();
    const Expr* rr = r.get();
    ExprPtr e =
        kind == AExprKind::kNullIf
            ? internal::MakeNullIf(std::move(l), std::move(r))
            : internal::MakeDistinct(std::move(l), std::move(r), kind == AExprKind::kNotDistinct);
    return Fold(std::move(e), {rl, rr}, loc);
  }
  if (kind == AExprKind::kIn) {
    std::string_view rtype;
    object list;
    if (!Unwrap(rnode, &rtype, &list) || rtype != "List") {
      return Error(loc, "unsupported IN operand; write a list such as x IN (1, 2)");
    }
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr l, Compile(lnode, loc));
    SV_SQL_ASSIGN_OR_RETURN(std::vector<ExprPtr> items, CompileList(GetList(list, "items"), loc));
    bool constant = ConstValue(*l) != nullptr;
    for (const ExprPtr& item : items) constant = constant && ConstValue(*item) != nullptr;
    ExprPtr e = internal::MakeIn(std::move(l), std::move(items), op == "<>");
    return constant ? Fold(std::move(e), {}, loc) : std::move(e);
  }
  if (kind == AExprKind::kLike || kind == AExprKind::kILike) {
    if (NodeType(rnode) == "FuncCall") {
      return Error(loc, "unsupported LIKE ... ESCAPE (backslash is the escape character)");
    }
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr l, Compile(lnode, loc));
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr r, Compile(rnode, loc));
    const Expr* rl = l.get();
    const Expr* rr = r.get();
    const bool negate = !op.empty() && op[0] == '!';
    return Fold(internal::MakeLike(std::move(l), std::move(r), negate, kind == AExprKind::kILike),
                {rl, rr}, loc);
  }
  if (kind == AExprKind::kBetween || kind == AExprKind::kNotBetween ||
      kind == AExprKind::kBetweenSym || kind == AExprKind::kNotBetweenSym) {
    std::string_view rtype;
    object list;
    if (!Unwrap(rnode, &rtype, &list) || rtype != "List") return Error(loc, "unsupported BETWEEN");
    std::vector<element> bounds = GetList(list, "items");
    if (bounds.size() != 2) return Error(loc, "unsupported BETWEEN");
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr x, Compile(lnode, loc));
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr lo, Compile(bounds[0], loc));
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr hi, Compile(bounds[1], loc));
    const Expr* rx = x.get();
    const Expr* rlo = lo.get();
    const Expr* rhi = hi.get();
    const bool negate = kind == AExprKind::kNotBetween || kind == AExprKind::kNotBetweenSym;
    const bool symmetric = kind == AExprKind::kBetweenSym || kind == AExprKind::kNotBetweenSym;
    return Fold(
        internal::MakeBetween(std::move(x), std::move(lo), std::move(hi), negate, symmetric),
        {rx, rlo, rhi}, loc);
  }
  if (kind == AExprKind::kOpAny || kind == AExprKind::kOpAll) {
    return Error(loc, "unsupported ANY/ALL; write x IN (a, b)");
  }
  if (kind == AExprKind::kSimilar) return Error(loc, "unsupported SIMILAR TO; use LIKE");
  return Error(loc, Cat("unsupported operator ", op));
}

absl::StatusOr<ExprPtr> Compiler::CompileBoolExpr(const object& body, int64_t loc) {
  const std::string_view op = GetString(body, "boolop");
  SV_SQL_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, CompileList(GetList(body, "args"), loc));
  if (args.empty()) return Error(loc, "unsupported empty boolean expression");
  bool constant = true;
  for (const ExprPtr& a : args) constant = constant && ConstValue(*a) != nullptr;
  ExprPtr e;
  if (op == "NOT_EXPR") {
    e = internal::MakeNot(std::move(args[0]));
  } else if (op == "AND_EXPR") {
    e = internal::MakeAnd(std::move(args));
  } else if (op == "OR_EXPR") {
    e = internal::MakeOr(std::move(args));
  } else {
    return Error(loc, Cat("unsupported boolean operator ", op));
  }
  return constant ? Fold(std::move(e), {}, loc) : std::move(e);
}

absl::StatusOr<ExprPtr> Compiler::CompileCase(const object& body, int64_t loc) {
  bool constant = true;
  auto note = [&constant](const ExprPtr& e) {
    if (e != nullptr && ConstValue(*e) == nullptr) constant = false;
  };
  ExprPtr arg, otherwise;
  element node;
  if (Get(body, "arg", &node)) {
    SV_SQL_ASSIGN_OR_RETURN(arg, Compile(node, loc));
    note(arg);
  }
  std::vector<std::pair<ExprPtr, ExprPtr>> whens;
  for (const element& w : GetList(body, "args")) {
    std::string_view type;
    object when;
    element cond, result;
    if (!Unwrap(w, &type, &when) || type != "CaseWhen" || !Get(when, "expr", &cond) ||
        !Get(when, "result", &result)) {
      return Error(loc, "unsupported CASE form");
    }
    const int64_t wloc = GetInt(when, "location", loc);
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr c, Compile(cond, wloc));
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr r, Compile(result, wloc));
    note(c);
    note(r);
    whens.emplace_back(std::move(c), std::move(r));
  }
  if (Get(body, "defresult", &node)) {
    SV_SQL_ASSIGN_OR_RETURN(otherwise, Compile(node, loc));
    note(otherwise);
  }
  ExprPtr e = internal::MakeCase(std::move(arg), std::move(whens), std::move(otherwise));
  return constant ? Fold(std::move(e), {}, loc) : std::move(e);
}

absl::StatusOr<ExprPtr> Compiler::CompileTypeCast(const object& body, int64_t loc) {
  element arg_node, type_node;
  object type_name;
  if (!Get(body, "arg", &arg_node) || !Get(body, "typeName", &type_node) ||
      type_node.get_object().get(type_name) != simdjson::SUCCESS) {
    return Error(loc, "unsupported cast");
  }
  const int64_t type_loc = GetInt(type_name, "location", loc);
  std::vector<element> names = GetList(type_name, "names");
  std::vector<std::string> parts;
  for (const element& n : names) parts.push_back(Lower(StringNode(n)));
  if (parts.size() == 2 && parts[0] == "pg_catalog") parts.erase(parts.begin());
  const std::string type = Join(parts, ".");
  if (Has(type_name, "arrayBounds")) {
    return Error(type_loc, Cat("unsupported array type ", type, "[]"));
  }
  CastTarget target;
  if (parts.size() != 1 || !LookupType(parts[0], &target)) {
    return Error(type_loc, Cat("unsupported type ", type));
  }
  int scale = -1;
  std::vector<element> typmods = GetList(type_name, "typmods");
  if (!typmods.empty()) {
    if (type == "numeric" || type == "decimal") {
      scale = 0;
      if (typmods.size() >= 2) {
        SV_SQL_ASSIGN_OR_RETURN(int64_t s, IntConst(typmods[1], type_loc, "numeric scale"));
        if (s < 0 || s > 15) return Error(type_loc, "unsupported numeric scale");
        scale = static_cast<int>(s);
      }
    } else if (target == CastTarget::kInterval) {
      return Error(type_loc, "unsupported interval field qualifier; write interval '2 days'");
    }
  }
  const int64_t arg_loc = FindLocation(arg_node) >= 0 ? FindLocation(arg_node) : loc;
  SV_SQL_ASSIGN_OR_RETURN(ExprPtr a, Compile(arg_node, arg_loc));
  const Expr* raw = a.get();
  return Fold(internal::MakeCast(std::move(a), target, scale), {raw}, arg_loc);
}

// ---------------------------------------------------------------------------------------------
// Function calls and array subqueries.

absl::StatusOr<ExprPtr> Compiler::CompileFuncCall(const object& body, int64_t loc) {
  std::vector<std::string> names;
  for (const element& n : GetList(body, "funcname")) names.emplace_back(StringNode(n));
  if (names.empty()) return Error(loc, "unsupported function call");
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  std::string name = Lower(Join(names, "."));
  if (Has(body, "over")) {
    return Error(loc, Cat("unsupported window function ", name, "() OVER (...)"));
  }
  if (IsNondeterministic(name)) return Error(loc, NondeterministicMessage(name + "()"));
  AggKind agg;
  if (AggregateKind(name, &agg)) {
    return Error(loc, Cat("aggregate ", name, "() is only allowed in an array subquery (SELECT ",
                          name, "(...) FROM e.items AS i)"));
  }
  if (IsUnsupportedAggregate(name)) {
    return Error(loc, Cat("unsupported aggregate ", name, "()"));
  }
  if (name == "timezone") return Error(loc, "unsupported AT TIME ZONE (timestamps are UTC)");
  if (GetBool(body, "agg_star")) return Error(loc, Cat("unsupported ", name, "(*)"));
  if (GetBool(body, "agg_distinct") || Has(body, "agg_order") || Has(body, "agg_filter") ||
      GetBool(body, "func_variadic") || GetBool(body, "agg_within_group")) {
    return Error(loc, Cat("unsupported aggregate syntax in ", name, "()"));
  }
  std::vector<element> arg_nodes = GetList(body, "args");
  SV_SQL_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, CompileList(arg_nodes, loc));

  // Lengths of JSON arrays.
  const bool is_length = name == "length" || name == "char_length" || name == "character_length";
  if (is_length || name == "cardinality" || name == "array_length") {
    const size_t max_args = name == "array_length" ? 2 : 1;
    if (args.empty() || args.size() > max_args) {
      return Error(loc, ArityMessage(name, 1, static_cast<int>(max_args), args.size()));
    }
    if (args.size() == 2) {
      const Value* dim = ConstValue(*args[1]);
      if (dim == nullptr || dim->type() != Type::kInt || dim->as_int() != 1) {
        return Error(FindLocation(arg_nodes[1]), "array_length(): only dimension 1 is supported");
      }
    }
    auto* path = dynamic_cast<JsonPathExpr*>(args[0].get());
    if (path != nullptr) {
      std::unique_ptr<JsonPathExpr> owned(static_cast<JsonPathExpr*>(args[0].release()));
      const JsonLength kind = is_length               ? JsonLength::kLength
                              : name == "cardinality" ? JsonLength::kCardinality
                                                      : JsonLength::kArrayLength;
      return internal::MakeJsonLength(std::move(owned), kind);
    }
    if (!is_length) {
      return Error(loc, Cat(name, "() needs a JSON array field such as e.items"));
    }
  }
  // Units and fields of the date functions are checked when constant.
  if ((name == "date_trunc" || name == "date_part" || name == "extract") && !args.empty()) {
    const Value* unit = ConstValue(*args[0]);
    if (unit != nullptr && unit->type() == Type::kText) {
      absl::Status status = name == "date_trunc" ? internal::CheckDateTruncUnit(unit->as_text())
                                                 : internal::CheckDatePartField(unit->as_text());
      if (!status.ok()) {
        const int64_t at = FindLocation(arg_nodes[0]);
        return Error(at >= 0 ? at : loc, MessageOf(status));
      }
    }
  }
  const internal::FunctionSpec* spec = internal::FindFunction(name);
  if (spec == nullptr) return Error(loc, Cat("unknown function ", name, "()"));
  const int n = static_cast<int>(args.size());
  if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
    return Error(loc, ArityMessage(name, spec->min_args, spec->max_args, args.size()));
  }
  bool constant = true;
  for (const ExprPtr& a : args) constant = constant && ConstValue(*a) != nullptr;
  ExprPtr e = internal::MakeFunction(spec, std::move(args));
  return constant ? Fold(std::move(e), {}, loc) : std::move(e);
}

absl::StatusOr<ExprPtr> Compiler::CompileSubLink(const object& body, int64_t loc) {
  const std::string_view link = GetString(body, "subLinkType");
  if (link == "EXISTS_SUBLINK") return Error(loc, "unsupported EXISTS subquery");
  if (link == "ANY_SUBLINK" || link == "ALL_SUBLINK") {
    return Error(loc, "unsupported IN/ANY/ALL subquery");
  }
  if (link == "ARRAY_SUBLINK") return Error(loc, "unsupported ARRAY subquery");
  if (link != "EXPR_SUBLINK") return Error(loc, "unsupported subquery");
  element sub;
  std::string_view type;
  object select;
  if (!Get(body, "subselect", &sub) || !Unwrap(sub, &type, &select) || type != "SelectStmt") {
    return Error(loc, "unsupported subquery");
  }
  SV_SQL_RETURN_IF_ERROR(CheckSelectClauses(select, /*allow_from=*/true, loc));

  // FROM <json array path> [AS] alias
  std::vector<element> from = GetList(select, "fromClause");
  if (from.empty()) {
    return Error(loc,
                 "unsupported subquery without FROM; an array subquery reads a JSON array, "
                 "e.g. (SELECT sum(i.qty) FROM e.items AS i)");
  }
  if (from.size() > 1) {
    return Error(FindLocation(from[1]), "unsupported join in an array subquery");
  }
  object range;
  if (!Unwrap(from[0], &type, &range) || type != "RangeVar") {
    const int64_t at = FindLocation(from[0]);
    return Error(at >= 0 ? at : loc,
                 "unsupported FROM item in an array subquery; write FROM e.items AS i");
  }
  const int64_t rloc = GetInt(range, "location", loc);
  std::vector<std::string> folded;
  for (std::string_view key : {"catalogname", "schemaname", "relname"}) {
    if (Has(range, key)) folded.emplace_back(GetString(range, key));
  }
  if (folded.empty()) return Error(rloc, "unsupported FROM item in an array subquery");
  std::vector<std::string> parts = OriginalNames(folded, rloc);
  const int slot = 1 + static_cast<int>(scopes_.size());
  if (slot >= kMaxElementDepth) {
    return Error(
        loc, Cat("array subqueries nest too deeply (at most ", kMaxElementDepth - 1, " levels)"));
  }
  SV_SQL_ASSIGN_OR_RETURN(Binding source, Resolve(parts, folded[0], rloc));
  const std::string display = Join(parts, ".");
  if (source.kind != Binding::Kind::kEventField && source.kind != Binding::Kind::kElementField) {
    return Error(rloc, Cat("array subquery source ", display,
                           " must be a JSON array field such as e.items"));
  }
  SV_SQL_ASSIGN_OR_RETURN(std::unique_ptr<JsonPathExpr> path,
                          PathFromBinding(source, display, rloc));
  std::string alias = folded.back();
  element alias_node;
  object alias_obj;
  if (Get(range, "alias", &alias_node) &&
      alias_node.get_object().get(alias_obj) == simdjson::SUCCESS) {
    if (Has(alias_obj, "colnames")) {
      return Error(rloc, "unsupported column aliases in an array subquery");
    }
    alias = std::string(GetString(alias_obj, "aliasname"));
  }

  scopes_.push_back({alias, slot});
  struct PopScope {
    std::vector<Scope>* scopes;
    ~PopScope() { scopes->pop_back(); }
  } pop{&scopes_};

  ExprPtr where;
  element where_node;
  if (Get(select, "whereClause", &where_node)) {
    SV_SQL_ASSIGN_OR_RETURN(where, Compile(where_node, loc));
  }
  std::vector<element> targets = GetList(select, "targetList");
  if (targets.size() != 1) {
    const int64_t at = targets.size() > 1 ? FindLocation(targets[1]) : loc;
    return Error(at, "an array subquery selects exactly one aggregate");
  }
  object target;
  element val;
  if (!Unwrap(targets[0], &type, &target) || !Get(target, "val", &val)) {
    return Error(loc, "unsupported array subquery");
  }
  const int64_t tloc = GetInt(target, "location", loc);
  object call;
  if (!Unwrap(val, &type, &call) || type != "FuncCall") {
    return Error(tloc,
                 "an array subquery must select one aggregate: sum, count, avg, min, max, "
                 "bool_and, bool_or or string_agg (e.g. SELECT sum(i.qty) FROM e.items AS i)");
  }
  return CompileAggregate(call, GetInt(call, "location", tloc), std::move(path), slot,
                          std::move(where));
}

absl::StatusOr<ExprPtr> Compiler::CompileAggregate(const object& call, int64_t loc,
                                                   std::unique_ptr<JsonPathExpr> source, int slot,
                                                   ExprPtr where) {
  std::vector<std::string> names;
  for (const element& n : GetList(call, "funcname")) names.emplace_back(StringNode(n));
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  const std::string name = Lower(Join(names, "."));
  AggKind kind;
  if (!AggregateKind(name, &kind)) {
    if (IsUnsupportedAggregate(name)) {
      return Error(loc, Cat("unsupported aggregate ", name, "()"));
    }
    return Error(loc, Cat("an array subquery must select an aggregate (sum, count, avg, "
                          "min, max, bool_and, bool_or, string_agg), not ",
                          name, "()"));
  }
  if (Has(call, "over")) {
    return Error(loc, Cat("unsupported window function ", name, "() OVER (...)"));
  }
  if (GetBool(call, "agg_distinct")) {
    return Error(loc, Cat("unsupported DISTINCT in ", name, "()"));
  }
  if (Has(call, "agg_order")) return Error(loc, Cat("unsupported ORDER BY in ", name, "()"));
  if (GetBool(call, "agg_within_group") || GetBool(call, "func_variadic")) {
    return Error(loc, Cat("unsupported aggregate syntax in ", name, "()"));
  }
  const bool star = GetBool(call, "agg_star");
  std::vector<element> arg_nodes = GetList(call, "args");
  if (star) {
    if (kind != AggKind::kCount) return Error(loc, Cat("unsupported ", name, "(*)"));
    kind = AggKind::kCountStar;
  } else {
    const size_t want = kind == AggKind::kStringAgg ? 2 : 1;
    if (arg_nodes.size() != want) {
      return Error(loc, ArityMessage(name, static_cast<int>(want), static_cast<int>(want),
                                     arg_nodes.size()));
    }
  }
  SV_SQL_ASSIGN_OR_RETURN(std::vector<ExprPtr> args, CompileList(arg_nodes, loc));
  element filter_node;
  if (Get(call, "agg_filter", &filter_node)) {
    SV_SQL_ASSIGN_OR_RETURN(ExprPtr filter, Compile(filter_node, loc));
    if (where == nullptr) {
      where = std::move(filter);
    } else {
      std::vector<ExprPtr> both;
      both.push_back(std::move(where));
      both.push_back(std::move(filter));
      where = internal::MakeAnd(std::move(both));
    }
  }
  ExprPtr arg = args.empty() ? nullptr : std::move(args[0]);
  ExprPtr separator = args.size() > 1 ? std::move(args[1]) : nullptr;
  return internal::MakeArrayAggregate(std::move(source), slot, kind, name, std::move(arg),
                                      std::move(separator), std::move(where));
}

}  // namespace

absl::StatusOr<ExprPtr> Compile(std::string_view sql, const Resolver& resolver,
                                const Location& where) {
  Compiler compiler(sql, resolver, where);
  return compiler.Run();
}

ExprPtr MakeColumnSlot(int slot) { return internal::MakeRowColumn(slot); }

namespace internal {
bool LookupCastType(std::string_view name, CastTarget* target) { return LookupType(name, target); }
}  // namespace internal

absl::StatusOr<ExprPtr> CompileStatementNode(std::string_view statement, const ExprNode& node,
                                             const Resolver& resolver, const Location& where,
                                             const NodeHook* hook) {
  Compiler compiler(statement, resolver, where, hook);
  return compiler.CompileNode(node.node, node.offset);
}

}  // namespace sv::sql
