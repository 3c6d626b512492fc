// StoreSelect(): a bound derived-view statement printed in a store's dialect. Types come from
// the bound tree's one inference (bound.cc); function spellings from the catalog.

#include "sql/bind_internal.h"
#include "sql/bound.h"
#include "sql/deparse.h"
#include "sql/expr_internal.h"

namespace sv::sql {
namespace {

using internal::Append;
using internal::Cat;
using internal::Join;

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

// How sv_time_arith() reads an operand in SQLite: 't' timestamp text, 'i' interval
// microseconds, 'n' anything else.
std::string_view TemporalKind(std::optional<Type> type) {
  if (type == Type::kTime) return "t";
  if (type == Type::kInterval) return "i";
  return "n";
}

// How sv_json_agg reads a SQLite value of the type (store/sqlite/sqlite_functions.cc).
char JsonTypeCode(std::optional<Type> type) {
  if (type == Type::kBool) return 'b';
  if (type == Type::kJson) return 'j';
  return 'x';  // as SQLite has it: numbers, text, timestamps as the engine's text
}

class Printer {
 public:
  Printer(const BoundSelect& select, SqlDialect dialect)
      : select_(select), pg_(dialect == SqlDialect::kPostgres) {}

  absl::StatusOr<std::string> Run();

 private:
  struct Scope {
    std::string key;        // how column refs qualify it (folded alias or name)
    std::string qualifier;  // how the printed SQL names it
  };

  absl::StatusOr<std::string> Print(const BoundExpr& e);
  absl::StatusOr<std::string> List(const std::vector<BoundPtr>& args, size_t from = 0);
  absl::StatusOr<std::string> Column(const BoundExpr& e);
  absl::StatusOr<std::string> Binary(const BoundExpr& e);
  absl::StatusOr<std::string> Function(const BoundExpr& e);
  absl::StatusOr<std::string> Aggregate(const BoundExpr& e);
  absl::StatusOr<std::string> JsonAggregate(const BoundExpr& e, const std::string& filter);
  absl::StatusOr<std::string> JsonFunction(const BoundExpr& e);
  std::string Cast(const std::string& sql, CastTarget target, int scale,
                   std::optional<Type> from) const;
  std::string Relation(const BoundRelation& r);

  const BoundSelect& select_;
  bool pg_;
  std::vector<Scope> scopes_;
  bool in_group_by_ = false;
};

std::string Printer::Relation(const BoundRelation& r) {
  std::string sql = QuoteIdent(r.name);
  std::string qualifier = sql;
  if (r.aliased) {
    qualifier = QuoteIdent(r.alias);
    Append(&sql, " AS ", qualifier);
  }
  scopes_.push_back({r.alias, qualifier});
  return sql;
}

absl::StatusOr<std::string> Printer::Run() {
  std::string from = Relation(select_.from);
  for (const BoundJoin& j : select_.joins) {
    const std::string right = Relation(j.relation);
    SV_ASSIGN_OR_RETURN(std::string on, Print(*j.on));
    Append(&from, j.left ? " LEFT JOIN " : " JOIN ", right, " ON ", on);
  }
  std::string sql = "SELECT ";
  for (size_t i = 0; i < select_.targets.size(); ++i) {
    const BoundTarget& t = select_.targets[i];
    SV_ASSIGN_OR_RETURN(std::string e, Print(*t.expr));
    Append(&sql, i > 0 ? ", " : "", e);
    if (t.aliased) Append(&sql, " AS ", QuoteIdent(t.name));
  }
  Append(&sql, " FROM ", from);
  if (select_.where_clause != nullptr) {
    SV_ASSIGN_OR_RETURN(std::string w, Print(*select_.where_clause));
    Append(&sql, " WHERE ", w);
  }
  if (!select_.group_by.empty()) {
    in_group_by_ = true;
    SV_ASSIGN_OR_RETURN(std::string g, List(select_.group_by));
    in_group_by_ = false;
    Append(&sql, " GROUP BY ", g);
  }
  return sql;
}

absl::StatusOr<std::string> Printer::List(const std::vector<BoundPtr>& args, size_t from) {
  std::string out;
  for (size_t i = from; i < args.size(); ++i) {
    SV_ASSIGN_OR_RETURN(std::string e, Print(*args[i]));
    Append(&out, i > from ? ", " : "", e);
  }
  return out;
}

absl::StatusOr<std::string> Printer::Column(const BoundExpr& e) {
  if (e.names.size() == 1) {
    // GROUP BY may name a select-list alias, which is printed folded.
    for (const BoundTarget& t : select_.targets) {
      if (in_group_by_ && t.aliased && t.name == e.folded[0]) return QuoteIdent(t.name);
    }
    return QuoteIdent(e.names[0]);
  }
  for (const Scope& s : scopes_) {
    if (s.key == e.folded[0]) return Cat(s.qualifier, ".", QuoteIdent(e.names[1]));
  }
  return select_.Error(e.offset, Cat("unknown relation ", e.names[0], " in ", e.Display()));
}

absl::StatusOr<std::string> Printer::Binary(const BoundExpr& e) {
  SV_ASSIGN_OR_RETURN(std::string l, Print(*e.args[0]));
  SV_ASSIGN_OR_RETURN(std::string r, Print(*e.args[1]));
  if (e.op == BinOp::kPow && !pg_) return Cat("pow(", l, ", ", r, ")");
  const bool arithmetic =
      e.op == BinOp::kAdd || e.op == BinOp::kSub || e.op == BinOp::kMul || e.op == BinOp::kDiv;
  if (!pg_ && arithmetic) {
    // SQLite holds timestamps as text and intervals as integers: `a - b` of two timestamps
    // would subtract text (0). The engine's own arithmetic runs there with the types known.
    const std::optional<Type> lt = e.args[0]->type, rt = e.args[1]->type;
    auto temporal = [](std::optional<Type> t) { return t == Type::kTime || t == Type::kInterval; };
    if (temporal(lt) || temporal(rt)) {
      return Cat("sv_time_arith('", BinOpSymbol(e.op), "', ", l, ", '", TemporalKind(lt), "', ", r,
                 ", '", TemporalKind(rt), "')");
    }
  }
  return Cat("(", l, " ", BinOpSymbol(e.op), " ", r, ")");
}

std::string Printer::Cast(const std::string& sql, CastTarget target, int scale,
                          std::optional<Type> from) const {
  if (target == CastTarget::kText && from == Type::kBool && !pg_) {
    // SQLite's booleans are 1 and 0; the engine's text is true and false.
    return Cat("(CASE WHEN ", sql, " THEN 'true' WHEN NOT ", sql, " THEN 'false' END)");
  }
  if (!pg_) {
    // The SQLite store's sv_cast() is the engine's cast (CAST(2.7 AS INTEGER) would truncate,
    // CAST('x' AS INTEGER) would be 0).
    std::string out = Cat("sv_cast(", sql, ", '", CastTargetName(target), "'");
    if (scale >= 0) Append(&out, ", ", scale);
    return out + ")";
  }
  switch (target) {
    case CastTarget::kInt:
      // PostgreSQL rounds a double half to even, the engine half away from zero; and it casts
      // booleans to integer only.
      if (from == Type::kReal) return Cat("CAST(round(CAST(", sql, " AS numeric)) AS bigint)");
      if (from == Type::kBool) return Cat("CAST(CAST(", sql, " AS integer) AS bigint)");
      return Cat("CAST(", sql, " AS bigint)");
    case CastTarget::kReal:
      if (scale >= 0) {
        return Cat("CAST(round(CAST(", sql, " AS numeric), ", scale, ") AS double precision)");
      }
      return Cat("CAST(", sql, " AS double precision)");
    case CastTarget::kText:
      if (from == Type::kTime) {
        // The engine's text of a timestamp is FormatTime's.
        return Cat("(to_char(", sql, ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') COLLATE \"C\")");
      }
      return Cat("(CAST(", sql, " AS text) COLLATE \"C\")");
    case CastTarget::kBool:
      return Cat("CAST(", sql, " AS boolean)");
    case CastTarget::kTime:
      return Cat("CAST(", sql, " AS timestamptz)");
    case CastTarget::kDate:
    case CastTarget::kInterval:
      break;  // refused by the binder in a view
  }
  return sql;
}

absl::StatusOr<std::string> Printer::Function(const BoundExpr& e) {
  const FunctionSpec& spec = *e.function;
  SV_ASSIGN_OR_RETURN(std::string list, List(e.args));
  const size_t n = e.args.size();
  // POSITION(a IN b) arrives as position(b, a): strpos in both stores.
  const std::string name = e.name == "position" ? std::string("strpos") : e.name;
  if (spec.result == ResultRule::kDatePartOfField) {
    if (!pg_ && n == 2 && e.args[1]->type == Type::kInterval) {
      // An interval is an integer in SQLite: say which it is (date_part(integer) is an error).
      return Cat("sv_interval_part(", list, ")");
    }
    if (!pg_ || !e.type) return Cat("date_part(", list, ")");
    SV_ASSIGN_OR_RETURN(std::string x, Print(*e.args[1]));
    // PostgreSQL returns numeric / double precision; the engine an integer for most fields.
    return Cat("CAST(EXTRACT(", internal::Lower(e.args[0]->value.as_text()), " FROM ", x, ") AS ",
               e.type == Type::kInt ? "bigint" : "double precision", ")");
  }
  if (spec.pg == PgSpelling::kJsonBuildObject || spec.pg == PgSpelling::kJsonBuildArray ||
      spec.pg == PgSpelling::kToJson) {
    return JsonFunction(e);
  }
  if (pg_ && spec.pg != PgSpelling::kPlain) {
    // PostgreSQL has these for numeric only (and round(double precision) rounds half to even).
    bool ints = true;
    for (const BoundPtr& a : e.args) ints = ints && a->type == Type::kInt;
    if (spec.pg == PgSpelling::kNumericRound && n == 1 && ints) {
      return Cat("CAST(", list, " AS bigint)");
    }
    if (spec.pg == PgSpelling::kNumericRound || (spec.pg == PgSpelling::kNumericLog && n == 2) ||
        (spec.pg == PgSpelling::kNumericMod && !ints)) {
      std::string numeric;
      for (size_t i = 0; i < n; ++i) {
        SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[i]));
        // round/trunc digits stay integers.
        const bool digits = i > 0 && spec.pg == PgSpelling::kNumericRound;
        Append(&numeric, i > 0 ? ", " : "", digits ? a : Cat("CAST(", a, " AS numeric)"));
      }
      return Cat("CAST(", name, "(", numeric, ") AS double precision)");
    }
  }
  // LEFT and RIGHT are join keywords in SQLite; quoted, they are plain names.
  if (!pg_ && spec.sqlite_keyword) return Cat(QuoteIdent(name), "(", list, ")");
  return Cat(name, "(", list, ")");
}

absl::StatusOr<std::string> Printer::Aggregate(const BoundExpr& e) {
  std::string filter;
  if (e.filter != nullptr) {
    SV_ASSIGN_OR_RETURN(std::string f, Print(*e.filter));
    filter = Cat(" FILTER (WHERE ", f, ")");
  }
  if (e.aggregate->kind == AggKind::kJsonArrayAgg || e.aggregate->kind == AggKind::kJsonObjectAgg) {
    return JsonAggregate(e, filter);
  }
  if (e.aggregate->ordered_set) {
    SV_ASSIGN_OR_RETURN(std::string p, Print(*e.args[0]));
    SV_ASSIGN_OR_RETURN(std::string x, Print(*e.order_by[0]));
    if (!pg_) return Cat(e.name, "(", p, ", ", x, ")", filter);
    // percentile_cont is defined over double precision (and interval) only.
    if (e.aggregate->kind == AggKind::kPercentileCont) {
      x = Cat("CAST(", x, " AS double precision)");
    }
    return Cat(e.name, "(", p, ") WITHIN GROUP (ORDER BY ", x, ")", filter);
  }
  std::string call;
  if (e.star) {
    call = "count(*)";
  } else {
    SV_ASSIGN_OR_RETURN(std::string x, Print(*e.args[0]));
    call = Cat(e.name, "(", e.distinct ? "DISTINCT " : "", x, ")");
  }
  call += filter;
  if (pg_ && e.aggregate->kind == AggKind::kAvg) return Cat("CAST(", call, " AS double precision)");
  // PostgreSQL sums integers to numeric.
  if (pg_ && e.aggregate->kind == AggKind::kSum && e.type == Type::kInt) {
    return Cat("CAST(", call, " AS bigint)");
  }
  return call;
}

// array_agg and json_object_agg in the engine's order (common/json_aggregate.h). PostgreSQL:
// its jsonb aggregates with that order spelled out (ASC NULLS LAST and DESC NULLS FIRST are its
// defaults; ties by the value; text in byte order; timestamps as the engine's text). SQLite:
// the store's sv_json_agg, the engine's own code, told the value's type (SQLite has no
// booleans or JSON values of its own).
absl::StatusOr<std::string> Printer::JsonAggregate(const BoundExpr& e, const std::string& filter) {
  const bool object = e.aggregate->kind == AggKind::kJsonObjectAgg;
  const BoundExpr& value = *e.args[object ? 1 : 0];
  SV_ASSIGN_OR_RETURN(std::string v, Print(value));
  if (pg_ && value.type == Type::kTime) v = Cast(v, CastTarget::kText, -1, Type::kTime);
  if (pg_ && value.type == Type::kText) v = Cat("(", v, ") COLLATE \"C\"");
  if (object) {
    SV_ASSIGN_OR_RETURN(std::string k, Print(*e.args[0]));
    k = Cast(k, CastTarget::kText, -1, e.args[0]->type);
    if (pg_) return Cat("jsonb_object_agg(", k, ", ", v, ")", filter);
    return Cat("sv_json_agg('o-", JsonTypeCode(value.type), "', ", k, ", ", v, ")", filter);
  }
  std::vector<std::string> keys;
  std::string dirs;
  for (size_t i = 0; i < e.order_by.size(); ++i) {
    SV_ASSIGN_OR_RETURN(std::string k, Print(*e.order_by[i]));
    if (pg_ && e.order_by[i]->type == Type::kText) k = Cat("(", k, ") COLLATE \"C\"");
    keys.push_back(std::move(k));
    dirs.push_back(e.order_desc[i] ? 'd' : 'a');
  }
  if (pg_) {
    std::string order;
    for (size_t i = 0; i < keys.size(); ++i)
      Append(&order, keys[i], dirs[i] == 'd' ? " DESC, " : ", ");
    return Cat("jsonb_agg(", e.distinct ? "DISTINCT " : "", v, " ORDER BY ", order, v, ")", filter);
  }
  std::string call =
      Cat("sv_json_agg('a", e.distinct ? "d" : "-", JsonTypeCode(value.type), dirs, "', ", v);
  for (const std::string& k : keys) Append(&call, ", ", k);
  return Cat(call, ")", filter);
}

// JSON builders as the engine computes them: PostgreSQL's jsonb builders with timestamps given
// as the engine's text; SQLite's sv_json_build ('o', 'a' or 'v', then each argument's type
// code), which calls the engine's function with the arguments typed.
absl::StatusOr<std::string> Printer::JsonFunction(const BoundExpr& e) {
  std::string args, types;
  for (const BoundPtr& a : e.args) {
    SV_ASSIGN_OR_RETURN(std::string x, Print(*a));
    if (pg_ && a->type == Type::kTime) x = Cast(x, CastTarget::kText, -1, Type::kTime);
    Append(&args, ", ", x);
    types.push_back(JsonTypeCode(a->type));
  }
  const PgSpelling form = e.function->pg;
  if (pg_) {
    const char* name = form == PgSpelling::kJsonBuildObject  ? "jsonb_build_object("
                       : form == PgSpelling::kJsonBuildArray ? "jsonb_build_array("
                                                             : "to_jsonb(";
    return Cat(name, args.empty() ? "" : args.substr(2), ")");
  }
  const char kind = form == PgSpelling::kJsonBuildObject  ? 'o'
                    : form == PgSpelling::kJsonBuildArray ? 'a'
                                                          : 'v';
  return Cat("sv_json_build('", std::string(1, kind), types, "'", args, ")");
}

absl::StatusOr<std::string> Printer::Print(const BoundExpr& e) {
  switch (e.kind) {
    case BoundKind::kConst: {
      const Value& v = e.value;
      switch (v.type()) {
        case Type::kNull:
          return std::string("NULL");
        case Type::kInt:
          return v.as_int() < 0 ? Cat("(", v.as_int(), ")") : Cat(v.as_int());
        case Type::kReal: {
          const std::string sql = e.literal.front() == '-' ? Cat("(", e.literal, ")") : e.literal;
          // PostgreSQL reads 2.5 as numeric; the engine's non-integer constants are doubles.
          return pg_ ? Cast(sql, CastTarget::kReal, -1, Type::kReal) : sql;
        }
        case Type::kBool:
          return std::string(v.as_int() != 0 ? (pg_ ? "true" : "1") : (pg_ ? "false" : "0"));
        default:
          return QuoteLiteral(v.as_text());
      }
    }
    case BoundKind::kColumn:
      return Column(e);
    case BoundKind::kNegate:
    case BoundKind::kUnaryPlus: {
      SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[0]));
      return Cat("(", e.kind == BoundKind::kNegate ? "-" : "+", a, ")");
    }
    case BoundKind::kBinary:
      return Binary(e);
    case BoundKind::kAnd:
    case BoundKind::kOr: {
      std::string out = "(";
      for (size_t i = 0; i < e.args.size(); ++i) {
        SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[i]));
        Append(&out, i == 0 ? "" : (e.kind == BoundKind::kAnd ? " AND " : " OR "), a);
      }
      return out + ")";
    }
    case BoundKind::kNot: {
      SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[0]));
      return Cat("(NOT ", a, ")");
    }
    case BoundKind::kNullTest: {
      SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[0]));
      return Cat("(", a, e.negate ? " IS NOT NULL)" : " IS NULL)");
    }
    case BoundKind::kBoolTest: {
      SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[0]));
      // SQLite has IS [NOT] TRUE/FALSE but no UNKNOWN, which is NULL.
      static constexpr std::string_view kTests[] = {"IS TRUE",      "IS NOT TRUE", "IS FALSE",
                                                    "IS NOT FALSE", "IS NULL",     "IS NOT NULL"};
      return Cat("(", a, " ", kTests[static_cast<int>(e.test)], ")");
    }
    case BoundKind::kDistinct: {
      SV_ASSIGN_OR_RETURN(std::string l, Print(*e.args[0]));
      SV_ASSIGN_OR_RETURN(std::string r, Print(*e.args[1]));
      if (pg_) {
        return Cat("(", l, e.negate ? " IS NOT DISTINCT FROM " : " IS DISTINCT FROM ", r, ")");
      }
      return Cat("(", l, e.negate ? " IS " : " IS NOT ", r, ")");
    }
    case BoundKind::kNullIf: {
      SV_ASSIGN_OR_RETURN(std::string list, List(e.args));
      return Cat("nullif(", list, ")");
    }
    case BoundKind::kIn: {
      SV_ASSIGN_OR_RETURN(std::string x, Print(*e.args[0]));
      SV_ASSIGN_OR_RETURN(std::string items, List(e.args, 1));
      return Cat("(", x, e.negate ? " NOT IN (" : " IN (", items, "))");
    }
    case BoundKind::kBetween: {
      SV_ASSIGN_OR_RETURN(std::string x, Print(*e.args[0]));
      SV_ASSIGN_OR_RETURN(std::string lo, Print(*e.args[1]));
      SV_ASSIGN_OR_RETURN(std::string hi, Print(*e.args[2]));
      const std::string_view between = e.negate ? " NOT BETWEEN " : " BETWEEN ";
      if (!e.symmetric) return Cat("(", x, between, lo, " AND ", hi, ")");
      if (pg_) return Cat("(", x, between, "SYMMETRIC ", lo, " AND ", hi, ")");
      // SYMMETRIC as PostgreSQL defines it: either order of the bounds.
      return Cat("(", e.negate ? "NOT " : "", "((", x, " BETWEEN ", lo, " AND ", hi, ") OR (", x,
                 " BETWEEN ", hi, " AND ", lo, ")))");
    }
    case BoundKind::kLike: {
      SV_ASSIGN_OR_RETURN(std::string l, Print(*e.args[0]));
      SV_ASSIGN_OR_RETURN(std::string r, Print(*e.args[1]));
      if (pg_) {
        return Cat("(", l, e.negate ? " NOT" : "", e.icase ? " ILIKE " : " LIKE ", r, ")");
      }
      // SQLite's LIKE ignores ASCII case and has no escape character: the engine's LIKE instead.
      std::string call = Cat(e.icase ? "sv_ilike(" : "sv_like(", l, ", ", r, ")");
      return e.negate ? Cat("(NOT ", call, ")") : call;
    }
    case BoundKind::kCase: {
      std::string out = "(CASE";
      size_t i = 0;
      if (e.has_operand) {
        SV_ASSIGN_OR_RETURN(std::string operand, Print(*e.args[i++]));
        Append(&out, " ", operand);
      }
      const size_t pairs_end = e.args.size() - (e.has_else ? 1 : 0);
      for (; i + 1 < pairs_end; i += 2) {
        SV_ASSIGN_OR_RETURN(std::string c, Print(*e.args[i]));
        SV_ASSIGN_OR_RETURN(std::string r, Print(*e.args[i + 1]));
        Append(&out, " WHEN ", c, " THEN ", r);
      }
      if (e.has_else) {
        SV_ASSIGN_OR_RETURN(std::string d, Print(*e.args.back()));
        Append(&out, " ELSE ", d);
      }
      return out + " END)";
    }
    case BoundKind::kCoalesce: {
      SV_ASSIGN_OR_RETURN(std::string list, List(e.args));
      // SQLite's coalesce() wants two arguments at least.
      return e.args.size() == 1 ? Cat("(", list, ")") : Cat("coalesce(", list, ")");
    }
    case BoundKind::kMinMax: {
      SV_ASSIGN_OR_RETURN(std::string list, List(e.args));
      return Cat(e.greatest ? "greatest(" : "least(", list, ")");
    }
    case BoundKind::kCast: {
      SV_ASSIGN_OR_RETURN(std::string a, Print(*e.args[0]));
      return Cast(a, e.cast, e.scale, e.args[0]->type);
    }
    case BoundKind::kFunction:
      return Function(e);
    case BoundKind::kAggregate:
      return Aggregate(e);
    case BoundKind::kSubquery:
      break;
    case BoundKind::kNow:
      // The store's now() is not the engine's clock: such a view is the engine's to maintain.
      return select_.Error(e.offset, Cat(e.name == "now" ? "now()" : e.name,
                                         " cannot be computed by the store: a time-relative view "
                                         "is maintained incrementally only (no refresh:)"));
  }
  return select_.Error(e.offset, "unsupported subquery");
}

}  // namespace

absl::StatusOr<std::string> StoreSelect(std::string_view create_view_sql, SqlDialect dialect,
                                        const ColumnTypeFn& column_type) {
  SV_ASSIGN_OR_RETURN(std::unique_ptr<BoundSelect> select,
                      BindSelect(create_view_sql, Location{"view", 1, 1}));
  if (select->view_has_columns) {
    return select->Error(0, "unsupported column list after the view name");
  }
  // Column types by the relation each name reads (a bare name: the first relation having it).
  std::vector<const BoundRelation*> relations = {&select->from};
  for (const BoundJoin& j : select->joins) relations.push_back(&j.relation);
  const ColumnTyper typer = [&](const BoundExpr& column) -> std::optional<Type> {
    if (column_type == nullptr) return std::nullopt;
    if (column.names.size() == 2) {
      for (const BoundRelation* r : relations) {
        if (r->alias == column.folded[0]) return column_type(r->name, column.names[1]);
      }
      return std::nullopt;
    }
    for (const BoundRelation* r : relations) {
      if (std::optional<Type> t = column_type(r->name, column.names[0])) return t;
    }
    return std::nullopt;
  };
  auto infer = [&](BoundPtr& e) {
    if (e != nullptr) InferTypes(e.get(), typer);
  };
  for (BoundJoin& j : select->joins) infer(j.on);
  infer(select->where_clause);
  for (BoundPtr& g : select->group_by) infer(g);
  for (BoundTarget& t : select->targets) infer(t.expr);
  Printer printer(*select, dialect);
  return printer.Run();
}

}  // namespace sv::sql
