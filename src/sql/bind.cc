// The binder: the one walker over libpg_query's JSON parse tree (read with simdjson). It builds
// the bound tree (bound.h) for a handler's expression or a derived view's statement, looks every
// name up in the catalog, and refuses what the engine does not support, pointing at it.

#include <pg_query.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "sql/bind_internal.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {

using simdjson::dom::element;
using simdjson::dom::object;

namespace {

bool IsIdentStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '$';
}

}  // namespace

std::vector<PathToken> ScanPath(std::string_view text, size_t pos) {
  std::vector<PathToken> out;
  size_t i = pos;
  auto skip_blanks = [&] {
    while (i < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  while (i < text.size()) {
    skip_blanks();
    if (i >= text.size()) break;
    if (text[i] == '"') {
      std::string ident;
      ++i;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            ident.push_back('"');
            i += 2;
            continue;
          }
          break;
        }
        ident.push_back(text[i++]);
      }
      if (i >= text.size()) break;
      ++i;  // closing quote
      out.push_back({false, std::move(ident)});
    } else if (IsIdentStart(text[i])) {
      const size_t start = i;
      while (i < text.size() && IsIdentChar(text[i])) ++i;
      out.push_back({false, std::string(text.substr(start, i - start))});
    } else {
      break;
    }
    skip_blanks();
    // Subscripts: the binder reads their values from the parse tree; mark the steps.
    while (i < text.size() && text[i] == '[') {
      size_t depth = 0;
      while (i < text.size()) {
        if (text[i] == '[') ++depth;
        if (text[i] == ']' && --depth == 0) break;
        ++i;
      }
      if (i >= text.size()) return out;
      ++i;
      out.push_back({true, {}});
      skip_blanks();
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      continue;
    }
    break;
  }
  return out;
}

absl::Status Binder::Parse(std::string_view text, simdjson::dom::object* root) {
  PgQueryParseResult result = pg_query_parse(std::string(text).c_str());
  struct Release {
    PgQueryParseResult* r;
    ~Release() { pg_query_free_parse_result(*r); }
  } release{&result};
  if (result.error != nullptr) {
    return ErrorAtText(
        CursorOffset(text, result.error->cursorpos, static_cast<int64_t>(text.size())),
        result.error->message);
  }
  parse_json_ = result.parse_tree;
  element e;
  if (parser_.parse(parse_json_).get(e) != simdjson::SUCCESS ||
      e.get_object().get(*root) != simdjson::SUCCESS) {
    return absl::InternalError("cannot read the libpg_query parse tree");
  }
  return absl::OkStatus();
}

absl::Status Binder::ErrorAtText(int64_t loc, std::string_view message) const {
  int64_t offset = loc - prefix_len_;
  if (offset < 0) offset = 0;
  if (offset > static_cast<int64_t>(sql_.size())) offset = static_cast<int64_t>(sql_.size());
  return ErrorAt(where_.Advance(sql_, static_cast<size_t>(offset)), message);
}

int64_t Binder::Offset(int64_t loc) const {
  const int64_t offset = loc - prefix_len_;
  if (offset < 0) return 0;
  return std::min(offset, static_cast<int64_t>(sql_.size()));
}

BoundPtr Binder::Make(BoundKind kind, int64_t loc) const {
  auto e = std::make_unique<BoundExpr>();
  e->kind = kind;
  e->offset = Offset(loc);
  return e;
}

absl::StatusOr<std::vector<BoundPtr>> Binder::BindList(const std::vector<element>& nodes,
                                                       int64_t loc) {
  std::vector<BoundPtr> out;
  out.reserve(nodes.size());
  for (const element& node : nodes) {
    SV_ASSIGN_OR_RETURN(BoundPtr e, Bind(node, loc));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<BoundPtr> Binder::Bind(const element& node, int64_t parent_loc) {
  std::string_view type;
  object body;
  if (!Unwrap(node, &type, &body)) return ErrorAtText(parent_loc, "unsupported expression");
  int64_t loc = GetInt(body, "location", -1);
  if (loc < 0) loc = parent_loc;
  if (type == "A_Const") return BindConst(body, loc);
  if (type == "ColumnRef") return BindColumnRef(body, loc);
  if (type == "A_Indirection") return BindIndirection(body, loc);
  if (type == "A_Expr") return BindAExpr(body, loc);
  if (type == "BoolExpr") return BindBoolExpr(body, loc);
  if (type == "CaseExpr") return BindCase(body, loc);
  if (type == "TypeCast") return BindTypeCast(body, loc);
  if (type == "FuncCall") return BindFuncCall(body, loc);
  if (type == "SubLink") return BindSubLink(body, loc);
  if (type == "NullTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return ErrorAtText(loc, "unsupported IS NULL");
    BoundPtr e = Make(BoundKind::kNullTest, loc);
    SV_ASSIGN_OR_RETURN(BoundPtr a, Bind(arg, loc));
    e->args.push_back(std::move(a));
    e->negate = GetString(body, "nulltesttype") == "IS_NOT_NULL";
    return e;
  }
  if (type == "BooleanTest") {
    element arg;
    if (!Get(body, "arg", &arg)) return ErrorAtText(loc, "unsupported IS TRUE");
    BoundPtr e = Make(BoundKind::kBoolTest, loc);
    SV_ASSIGN_OR_RETURN(BoundPtr a, Bind(arg, loc));
    e->args.push_back(std::move(a));
    static constexpr std::pair<std::string_view, BoolTest> kTests[] = {
        {"IS_TRUE", BoolTest::kTrue},       {"IS_NOT_TRUE", BoolTest::kNotTrue},
        {"IS_FALSE", BoolTest::kFalse},     {"IS_NOT_FALSE", BoolTest::kNotFalse},
        {"IS_UNKNOWN", BoolTest::kUnknown}, {"IS_NOT_UNKNOWN", BoolTest::kNotUnknown}};
    const std::string_view t = GetString(body, "booltesttype");
    for (const auto& [name, test] : kTests) {
      if (name == t) e->test = test;
    }
    return e;
  }
  if (type == "CoalesceExpr" || type == "MinMaxExpr") {
    const bool coalesce = type == "CoalesceExpr";
    BoundPtr e = Make(coalesce ? BoundKind::kCoalesce : BoundKind::kMinMax, loc);
    SV_ASSIGN_OR_RETURN(e->args, BindList(GetList(body, "args"), loc));
    if (e->args.empty()) return ErrorAtText(loc, "unsupported empty argument list");
    e->greatest = !coalesce && GetString(body, "op") == "IS_GREATEST";
    return e;
  }
  if (type == "SQLValueFunction") {
    std::string name = Lower(GetString(body, "op"));
    if (name.rfind("svfop_", 0) == 0) name = name.substr(6);
    if (name.size() > 2 && name.compare(name.size() - 2, 2, "_n") == 0) {
      name.resize(name.size() - 2);
    }
    if (mode_ == BindMode::kView && (name == "current_timestamp" || name == "current_date")) {
      BoundPtr now = Make(BoundKind::kNow, loc);
      now->name = name;
      if (name == "current_timestamp") return now;
      // current_date: the start of today (UTC), as a timestamp.
      BoundPtr trunc = Make(BoundKind::kFunction, loc);
      trunc->name = "date_trunc";
      trunc->function = FindFunction("date_trunc");
      BoundPtr unit = Make(BoundKind::kConst, loc);
      unit->value = Value::Text("day");
      trunc->args.push_back(std::move(unit));
      trunc->args.push_back(std::move(now));
      return trunc;
    }
    if (name == "current_timestamp" || name == "current_date" || name == "current_time" ||
        name == "localtime" || name == "localtimestamp") {
      return ErrorAtText(loc, NondeterministicMessage(name));
    }
    return ErrorAtText(loc, Cat("unsupported ", name));
  }
  if (type == "ParamRef") {
    return ErrorAtText(loc, Cat("unsupported parameter $", GetInt(body, "number", 0)));
  }
  if (type == "A_ArrayExpr") return ErrorAtText(loc, "unsupported ARRAY constructor");
  if (type == "RowExpr") return ErrorAtText(loc, "unsupported ROW constructor");
  if (type == "CollateClause") return ErrorAtText(loc, "unsupported COLLATE");
  if (type == "GroupingFunc") return ErrorAtText(loc, "unsupported GROUPING()");
  if (type == "GroupingSet") return ErrorAtText(loc, "unsupported GROUPING SETS / ROLLUP / CUBE");
  return ErrorAtText(loc, Cat("unsupported ", type, " expression"));
}

// ---- Constants

absl::StatusOr<BoundPtr> Binder::BindConst(const object& body, int64_t loc) {
  BoundPtr e = Make(BoundKind::kConst, loc);
  if (GetBool(body, "isnull")) return e;
  element v;
  object o;
  if (Get(body, "ival", &v)) {
    SV_ASSIGN_OR_RETURN(int64_t i, IntConst(v, loc, "integer"));
    e->value = Value::Int(i);
    return e;
  }
  if (Get(body, "fval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    const std::string_view s = GetString(o, "fval");
    int64_t i;
    double d;
    e->literal = std::string(s);
    // Integers beyond int4 arrive as "Float" nodes; keep them integers when they fit int64.
    if (s.find_first_of(".eE") == std::string_view::npos && ParseInt(s, &i)) {
      e->value = Value::Int(i);
    } else if (ParseReal(s, &d)) {
      e->value = Value::Real(d);
    } else {
      return ErrorAtText(loc, Cat("cannot read number ", s));
    }
    return e;
  }
  if (Get(body, "sval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    e->value = Value::Text(std::string(GetString(o, "sval")));
    return e;
  }
  if (Get(body, "boolval", &v) && v.get_object().get(o) == simdjson::SUCCESS) {
    e->value = Value::Bool(GetBool(o, "boolval"));
    return e;
  }
  if (Has(body, "bsval")) return ErrorAtText(loc, "unsupported bit string constant");
  return ErrorAtText(loc, "unsupported constant");
}

// An integer constant: an A_Const node or the "ival" payload of one. libpg_query 15 omits zero
// and negative integer values from its JSON ("ival": {}), so those are read back from the text.
absl::StatusOr<int64_t> Binder::IntConst(const element& node, int64_t loc, std::string_view what) {
  std::string_view type;
  object body;
  element payload = node;
  if (Unwrap(node, &type, &body)) {
    if (type != "A_Const" || !Get(body, "ival", &payload)) {
      return ErrorAtText(FindLocation(node) >= 0 ? FindLocation(node) : loc,
                         Cat("unsupported non-constant ", what));
    }
    loc = GetInt(body, "location", loc);
  }
  object o;
  if (payload.get_object().get(o) != simdjson::SUCCESS)
    return ErrorAtText(loc, "malformed integer");
  element value;
  int64_t i;
  if (Get(o, "ival", &value) && value.get_int64().get(i) == simdjson::SUCCESS) return i;
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
    if (++digits > 18) break;
  }
  if (digits == 0) return ErrorAtText(loc, "cannot read integer constant");
  return -magnitude;
}

// ---- Names

std::vector<std::string> Binder::Written(const std::vector<std::string>& folded,
                                         int64_t loc) const {
  if (loc >= 0) {
    std::vector<PathToken> tokens = ScanPath(text_, static_cast<size_t>(loc));
    if (tokens.size() >= folded.size()) {
      std::vector<std::string> out;
      for (size_t i = 0; i < folded.size(); ++i) {
        // The spelling must fold to what the parser saw (guards against misreads).
        if (tokens[i].is_index ||
            (Lower(tokens[i].ident) != folded[i] && tokens[i].ident != folded[i])) {
          return folded;
        }
        out.push_back(tokens[i].ident);
      }
      return out;
    }
  }
  return folded;
}

absl::StatusOr<BoundPtr> Binder::ColumnFrom(const std::vector<std::string>& folded, int64_t loc) {
  BoundPtr e = Make(BoundKind::kColumn, loc);
  e->names = Written(folded, loc);
  e->folded = folded;
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->alias == folded[0]) {
      e->element_slot = it->slot;
      break;
    }
  }
  return e;
}

absl::StatusOr<BoundPtr> Binder::BindColumnRef(const object& body, int64_t loc) {
  std::vector<std::string> folded;
  for (const element& f : GetList(body, "fields")) {
    if (NodeType(f) != "String") {
      return ErrorAtText(loc, mode_ == BindMode::kView
                                  ? "unsupported *; name the columns"
                                  : "unsupported * in a name; name the field (e.g. e.total)");
    }
    folded.emplace_back(StringNode(f));
  }
  if (folded.empty()) return ErrorAtText(loc, "unsupported empty name");
  if (mode_ == BindMode::kView && folded.size() > 2) {
    return ErrorAtText(loc, Cat("unsupported name ", Join(Written(folded, loc), "."),
                                "; write column or alias.column"));
  }
  return ColumnFrom(folded, loc);
}

absl::StatusOr<BoundPtr> Binder::BindIndirection(const object& body, int64_t loc) {
  element arg;
  std::string_view arg_type;
  object ref;
  if (mode_ == BindMode::kView || !Get(body, "arg", &arg) || !Unwrap(arg, &arg_type, &ref) ||
      arg_type != "ColumnRef") {
    return ErrorAtText(loc,
                       "unsupported subscript; subscripts apply to JSON fields such as e.items[1]");
  }
  loc = GetInt(ref, "location", loc);
  std::vector<std::string> folded;
  for (const element& f : GetList(ref, "fields")) {
    if (NodeType(f) != "String") return ErrorAtText(loc, "unsupported * in a name");
    folded.emplace_back(StringNode(f));
  }
  if (folded.empty()) return ErrorAtText(loc, "unsupported empty name");
  struct Step {
    bool is_index;
    int64_t index;
    std::string field;
  };
  std::vector<Step> steps;
  for (const element& item : GetList(body, "indirection")) {
    std::string_view type;
    object ibody;
    if (!Unwrap(item, &type, &ibody)) return ErrorAtText(loc, "unsupported subscript");
    if (type == "A_Indices") {
      if (GetBool(ibody, "is_slice") || Has(ibody, "lidx")) {
        return ErrorAtText(loc, "unsupported array slice; use one index such as e.items[1]");
      }
      element uidx;
      if (!Get(ibody, "uidx", &uidx)) return ErrorAtText(loc, "unsupported subscript");
      SV_ASSIGN_OR_RETURN(int64_t index, IntConst(uidx, loc, "array index"));
      steps.push_back({true, index, {}});
    } else if (type == "String") {
      steps.push_back({false, 0, std::string(GetString(ibody, "sval"))});
    } else {
      return ErrorAtText(loc, "unsupported * in a name");
    }
  }
  SV_ASSIGN_OR_RETURN(BoundPtr e, ColumnFrom(folded, loc));
  // The written spelling of the fields after subscripts.
  std::vector<PathToken> tokens = ScanPath(text_, static_cast<size_t>(loc));
  const bool spelled = tokens.size() == folded.size() + steps.size();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].is_index) {
      e->path.push_back(Cat("[", steps[i].index, "]"));
    } else {
      const PathToken* token = spelled ? &tokens[folded.size() + i] : nullptr;
      e->path.push_back(token != nullptr && !token->is_index ? token->ident : steps[i].field);
    }
  }
  return e;
}

}  // namespace sv::sql::internal
