// CompileDerivedView: CREATE VIEW … AS SELECT over other views → DerivedPlan. Names resolve to
// slots of the input tuple (left row, then right row); aggregate calls and GROUP BY
// expressions in the select list become slots of the group row the maintainer computes.

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cron.h"
#include "common/status_macros.h"
#include "projection/projection.h"
#include "projection/timed_compile.h"
#include "sql/deparse.h"
#include "sql/select.h"

namespace sv::projection {
namespace {

using sql::ExprNode;
using sql::SelectStatement;

struct TupleColumn {
  std::string alias;  // the relation's alias
  std::string name;
  Type type;
  int side;   // 0 = left, 1 = right
  int index;  // column index within its side's row
};

class DerivedCompiler {
 public:
  DerivedCompiler(const config::DerivedViewConfig& config, Catalog* catalog)
      : config_(config), catalog_(catalog) {}
  absl::Status Run();

 private:
  absl::Status BindInputs();
  // Resolves a name to a tuple column; `side` < 0 = either side.
  absl::StatusOr<int> Lookup(const std::vector<std::string>& parts, int side) const;
  sql::Resolver ResolverFor(int side, std::vector<bool>* sides_seen) const;
  absl::StatusOr<sql::ExprPtr> CompileInput(const ExprNode& node, int side,
                                            std::vector<bool>* sides_seen, std::string_view where);
  absl::StatusOr<Type> InputType(const ExprNode& node);
  absl::Status CompileJoin();
  absl::Status CompileAggregateTargets();
  // The slot of the group row that holds this aggregate's result (one per distinct call).
  absl::StatusOr<sql::ExprPtr> CompileAggregate(const sql::AggregateCall& call,
                                                const std::string& print);

  const config::DerivedViewConfig& config_;
  Catalog* catalog_;
  std::unique_ptr<SelectStatement> st_;
  std::unique_ptr<DerivedPlan> plan_ = std::make_unique<DerivedPlan>();
  std::vector<TupleColumn> tuple_;
  std::vector<std::string> group_prints_;
  std::vector<Type> group_types_;
  std::vector<std::string> aggregate_prints_;
  std::vector<ColumnPlan> columns_;
  std::vector<int> key_;
  // Some key value may be NULL: a GROUP BY value, a LEFT JOIN's missing right side, or an
  // input view's key that may be NULL itself.
  bool key_nullable_ = false;
};

absl::Status DerivedCompiler::BindInputs() {
  std::vector<const SelectStatement::Relation*> relations = {&st_->from()};
  if (st_->join()) relations.push_back(&st_->join()->relation);
  for (size_t side = 0; side < relations.size(); ++side) {
    const SelectStatement::Relation& rel = *relations[side];
    const int view = catalog_->FindView(rel.name);
    if (view < 0) {
      std::vector<std::string> names;
      for (const ViewPlan& v : catalog_->views) names.push_back(v.name);
      const std::string known = names.empty() ? "none" : absl::StrJoin(names, ", ");
      return st_->Error(
          rel.offset,
          rel.name == config_.name
              ? absl::StrCat("view ", rel.name, " cannot read itself")
              : absl::StrCat("unknown view ", rel.name,
                             " (a derived view reads views declared before it: ", known, ")"));
    }
    plan_->inputs.push_back(view);
    const ViewPlan& v = catalog_->views[view];
    plan_->reads[side].assign(v.columns.size(), false);
    for (size_t c = 0; c < v.columns.size(); ++c) {
      tuple_.push_back({rel.alias, v.columns[c].name, v.columns[c].type, static_cast<int>(side),
                        static_cast<int>(c)});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> DerivedCompiler::Lookup(const std::vector<std::string>& parts, int side) const {
  auto same = [](const std::string& a, const std::string& b) {
    return a == b || absl::AsciiStrToLower(a) == b;
  };
  if (parts.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported name ", absl::StrJoin(parts, "."), "; write alias.column"));
  }
  int found = -1;
  bool alias_known = parts.size() == 1;
  for (size_t i = 0; i < tuple_.size(); ++i) {
    const TupleColumn& c = tuple_[i];
    if (parts.size() == 2 && !same(parts[0], c.alias)) continue;
    alias_known = true;
    if (!same(parts.back(), c.name)) continue;
    if (found >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "column ", parts.back(), " is ambiguous; qualify it as alias.", parts.back()));
    }
    found = static_cast<int>(i);
  }
  if (!alias_known) {
    return absl::InvalidArgumentError(absl::StrCat("unknown relation ", parts[0]));
  }
  if (found < 0) {
    return absl::InvalidArgumentError(absl::StrCat("unknown column ", absl::StrJoin(parts, ".")));
  }
  if (side >= 0 && tuple_[found].side != side) {
    return absl::InvalidArgumentError(absl::StrCat("each side of a join condition reads one view; ",
                                                   absl::StrJoin(parts, "."),
                                                   " is on the other side"));
  }
  return found;
}

sql::Resolver DerivedCompiler::ResolverFor(int side, std::vector<bool>* sides_seen) const {
  return [this, side, sides_seen](const sql::NameRef& ref) -> absl::StatusOr<sql::Binding> {
    SV_ASSIGN_OR_RETURN(int slot, Lookup(ref.parts, side));
    if (sides_seen != nullptr) (*sides_seen)[tuple_[slot].side] = true;
    plan_->reads[tuple_[slot].side][tuple_[slot].index] = true;
    sql::Binding b;
    b.kind = sql::Binding::Kind::kRowColumn;
    b.slot = side >= 0 ? tuple_[slot].index : slot;
    return b;
  };
}

absl::StatusOr<sql::ExprPtr> DerivedCompiler::CompileInput(const ExprNode& node, int side,
                                                           std::vector<bool>* sides_seen,
                                                           std::string_view where) {
  const sql::NodeHook no_aggregates = [this,
                                       where](const ExprNode& n) -> absl::StatusOr<sql::ExprPtr> {
    SV_ASSIGN_OR_RETURN(std::optional<sql::AggregateCall> call, st_->AsAggregate(n));
    if (call) {
      return st_->Error(call->offset, absl::StrCat("aggregate ", call->name, "() is not allowed ",
                                                   std::string(where)));
    }
    return sql::ExprPtr();
  };
  return st_->Compile(node, ResolverFor(side, sides_seen), &no_aggregates);
}

absl::StatusOr<Type> DerivedCompiler::InputType(const ExprNode& node) { return st_->TypeOf(node); }

absl::Status DerivedCompiler::CompileJoin() {
  const SelectStatement::Join& join = *st_->join();
  plan_->left_join = join.left;
  for (const ExprNode& conjunct : st_->Conjuncts(join.on)) {
    ExprNode a, b;
    if (!st_->AsEquality(conjunct, &a, &b)) {
      return st_->Error(conjunct.offset,
                        "unsupported join condition; write equalities left.x = right.y joined "
                        "by AND (filter in WHERE)");
    }
    std::vector<bool> seen_a(2, false), seen_b(2, false);
    SV_RETURN_IF_ERROR(CompileInput(a, -1, &seen_a, "in ON").status());
    SV_RETURN_IF_ERROR(CompileInput(b, -1, &seen_b, "in ON").status());
    if (seen_a[0] == seen_a[1] || seen_b[0] == seen_b[1] || seen_a[0] == seen_b[0]) {
      return st_->Error(conjunct.offset,
                        "each equality of a join condition must compare a column of one view "
                        "with a column of the other");
    }
    if (seen_a[1]) std::swap(a, b);
    SV_ASSIGN_OR_RETURN(sql::ExprPtr l, CompileInput(a, 0, nullptr, "in ON"));
    SV_ASSIGN_OR_RETURN(sql::ExprPtr r, CompileInput(b, 1, nullptr, "in ON"));
    plan_->left_keys.push_back(std::move(l));
    plan_->right_keys.push_back(std::move(r));
  }
  return absl::OkStatus();
}

absl::StatusOr<sql::ExprPtr> DerivedCompiler::CompileAggregate(const sql::AggregateCall& call,
                                                               const std::string& print) {
  using Kind = AggregatePlan::Kind;
  const int first_slot = static_cast<int>(plan_->group_by.size());
  for (size_t i = 0; i < aggregate_prints_.size(); ++i) {
    if (aggregate_prints_[i] == print) return sql::MakeColumnSlot(first_slot + static_cast<int>(i));
  }
  AggregatePlan agg;
  agg.distinct = call.distinct;
  const std::string& n = call.name;
  // The binder checked the call's shape against the catalog (arguments, WITHIN GROUP, *).
  std::vector<ExprNode> args = call.args;
  switch (call.spec->kind) {
    case sql::AggKind::kPercentileCont:
    case sql::AggKind::kPercentileDisc: {
      SV_ASSIGN_OR_RETURN(sql::ExprPtr fraction, CompileInput(args[0], -1, nullptr, "here"));
      absl::StatusOr<Value> value = sql::EvalConstant(*fraction);
      if (!value.ok() || !value->is_number() || value->as_number() < 0 || value->as_number() > 1) {
        return st_->Error(args[0].offset,
                          absl::StrCat(n, "(): the fraction must be a constant between 0 and 1"));
      }
      agg.fraction = value->as_number();
      agg.kind = call.spec->kind == sql::AggKind::kPercentileCont ? Kind::kPercentileCont
                                                                  : Kind::kPercentileDisc;
      args = call.order_by;
      break;
    }
    case sql::AggKind::kCount:
      agg.kind = call.star ? Kind::kCountStar : Kind::kCount;
      break;
    case sql::AggKind::kSum:
      agg.kind = Kind::kSum;
      break;
    case sql::AggKind::kAvg:
      agg.kind = Kind::kAvg;
      break;
    case sql::AggKind::kMin:
      agg.kind = Kind::kMin;
      break;
    case sql::AggKind::kMax:
      agg.kind = Kind::kMax;
      break;
    case sql::AggKind::kJsonArrayAgg:
      agg.kind = Kind::kJsonArray;
      if (call.distinct && !call.order_by.empty()) {
        return st_->Error(call.offset, absl::StrCat(n,
                                                    "(DISTINCT x) is ordered by x; drop its "
                                                    "ORDER BY"));
      }
      for (const ExprNode& key : call.order_by) {
        SV_ASSIGN_OR_RETURN(sql::ExprPtr k, CompileInput(key, -1, nullptr, "inside an aggregate"));
        agg.more_args.push_back(std::move(k));
      }
      agg.descending = call.order_desc;
      break;
    case sql::AggKind::kJsonObjectAgg: {
      agg.kind = Kind::kJsonObject;
      SV_ASSIGN_OR_RETURN(sql::ExprPtr value,
                          CompileInput(args[1], -1, nullptr, "inside an aggregate"));
      agg.more_args.push_back(std::move(value));
      break;
    }
    default:
      return st_->Error(call.offset, absl::StrCat("unsupported aggregate ", n, "()"));
  }
  if (!args.empty()) {
    SV_ASSIGN_OR_RETURN(agg.arg, CompileInput(args[0], -1, nullptr, "inside an aggregate"));
    SV_ASSIGN_OR_RETURN(agg.arg_type, InputType(args[0]));
  }
  if (call.filter) {
    SV_ASSIGN_OR_RETURN(agg.filter, CompileInput(*call.filter, -1, nullptr, "in FILTER"));
  }
  absl::StatusOr<Type> result = sql::AggregateResultType(*call.spec, agg.arg_type);
  if (!result.ok()) return st_->Error(call.offset, std::string(result.status().message()));
  agg.result_type = *result;
  const int slot = first_slot + static_cast<int>(plan_->aggregates.size());
  plan_->aggregates.push_back(std::move(agg));
  aggregate_prints_.push_back(print);
  return sql::MakeColumnSlot(slot);
}

absl::Status DerivedCompiler::CompileAggregateTargets() {
  // GROUP BY expressions (GROUP BY 2 names the second selected column).
  for (const ExprNode& g : st_->group_by()) {
    ExprNode node = g;
    if (std::optional<int64_t> pos = st_->AsIntConstant(g)) {
      if (*pos < 1 || *pos > static_cast<int64_t>(st_->targets().size())) {
        return st_->Error(g.offset,
                          absl::StrCat("GROUP BY position ", *pos, " is not in the select list"));
      }
      node = st_->targets()[*pos - 1].expr;
    }
    SV_ASSIGN_OR_RETURN(sql::ExprPtr e, CompileInput(node, -1, nullptr, "in GROUP BY"));
    SV_ASSIGN_OR_RETURN(Type t, InputType(node));
    plan_->group_by.push_back(std::move(e));
    group_prints_.push_back(st_->Fingerprint(node));
    group_types_.push_back(t);
  }
  std::vector<int> key_of_group(group_prints_.size(), -1);
  // Select list over the group row: [group values…, aggregate results…].
  const sql::NodeHook over_groups = [&](const ExprNode& n) -> absl::StatusOr<sql::ExprPtr> {
    const std::string print = st_->Fingerprint(n);
    for (size_t i = 0; i < group_prints_.size(); ++i) {
      if (group_prints_[i] == print) return sql::MakeColumnSlot(static_cast<int>(i));
    }
    SV_ASSIGN_OR_RETURN(std::optional<sql::AggregateCall> call, st_->AsAggregate(n));
    if (call) return CompileAggregate(*call, print);
    if (std::optional<std::vector<std::string>> parts = st_->AsColumnRef(n)) {
      return st_->Error(n.offset, absl::StrCat("column ", absl::StrJoin(*parts, "."),
                                               " must appear in GROUP BY or be used in an "
                                               "aggregate"));
    }
    return sql::ExprPtr();
  };
  const sql::Resolver unreachable = [](const sql::NameRef&) -> absl::StatusOr<sql::Binding> {
    return absl::InvalidArgumentError("a column outside GROUP BY and aggregates");
  };
  for (size_t t = 0; t < st_->targets().size(); ++t) {
    const SelectStatement::Target& target = st_->targets()[t];
    SV_ASSIGN_OR_RETURN(sql::ExprPtr out, st_->Compile(target.expr, unreachable, &over_groups));
    plan_->outputs.push_back(std::move(out));
    SV_ASSIGN_OR_RETURN(Type type, st_->TypeOf(target.expr));
    columns_.push_back({target.name, type == Type::kNull ? Type::kText : type, Value()});
    const std::string print = st_->Fingerprint(target.expr);
    for (size_t i = 0; i < group_prints_.size(); ++i) {
      if (group_prints_[i] == print && key_of_group[i] < 0) key_of_group[i] = static_cast<int>(t);
    }
  }
  for (size_t i = 0; i < key_of_group.size(); ++i) {
    if (key_of_group[i] < 0) {
      return st_->Error(st_->group_by()[i].offset,
                        "select every GROUP BY expression: together they identify a row of the "
                        "view");
    }
    key_.push_back(key_of_group[i]);
  }
  return absl::OkStatus();
}

absl::Status DerivedCompiler::Run() {
  SV_ASSIGN_OR_RETURN(st_, SelectStatement::Parse(config_.sql.sql, config_.sql.loc));
  if (st_->view_name() != config_.name) {
    return st_->Error(0, absl::StrCat("CREATE VIEW ", st_->view_name(),
                                      " is declared under the name ", config_.name));
  }
  SV_RETURN_IF_ERROR(BindInputs());
  st_->InferTypes([this](const sql::BoundExpr& column) -> std::optional<Type> {
    absl::StatusOr<int> slot = Lookup(column.names, -1);
    if (!slot.ok()) return std::nullopt;
    return tuple_[*slot].type;
  });
  // now() only where it is monotone: its comparisons in WHERE and FILTER.
  SV_RETURN_IF_ERROR(internal::CollectTimeAtoms(
      *st_, [this](const ExprNode& n) { return CompileInput(n, -1, nullptr, "in a comparison"); },
      &plan_->time_atoms));
  if (st_->join()) SV_RETURN_IF_ERROR(CompileJoin());
  if (st_->where()) {
    SV_ASSIGN_OR_RETURN(plan_->where, CompileInput(*st_->where(), -1, nullptr, "in WHERE"));
  }
  // Aggregate view: GROUP BY, or an aggregate anywhere in the select list.
  bool has_aggregate = false;
  for (const SelectStatement::Target& t : st_->targets()) {
    const sql::NodeHook finder = [&](const ExprNode& n) -> absl::StatusOr<sql::ExprPtr> {
      SV_ASSIGN_OR_RETURN(std::optional<sql::AggregateCall> call, st_->AsAggregate(n));
      if (call) {
        has_aggregate = true;
        return sql::MakeColumnSlot(0);
      }
      return sql::ExprPtr();
    };
    std::vector<bool> seen(2, false);
    absl::StatusOr<sql::ExprPtr> probe = st_->Compile(t.expr, ResolverFor(-1, &seen), &finder);
    if (!probe.ok()) return probe.status();
  }
  plan_->aggregate = st_->grouped() || has_aggregate;
  if (plan_->aggregate) {
    if (!st_->grouped()) {
      return st_->Error(st_->targets().front().offset,
                        "an aggregate derived view needs GROUP BY (its groups are its rows)");
    }
    SV_RETURN_IF_ERROR(CompileAggregateTargets());
    key_nullable_ = true;  // GROUP BY makes one group of the rows whose value is NULL
  } else {
    // A row per input tuple, identified by the inputs' keys.
    const ViewPlan& left = catalog_->views[plan_->inputs[0]];
    std::vector<std::pair<int, int>> needed;  // (side, column)
    for (int c : left.key) needed.push_back({0, c});
    if (st_->join()) {
      const ViewPlan& right = catalog_->views[plan_->inputs[1]];
      // Joined on its whole key, the right side has one match at most: the left key suffices.
      bool right_unique = true;
      for (int c : right.key) {
        bool equated = false;
        for (const ExprNode& conjunct : st_->Conjuncts(st_->join()->on)) {
          ExprNode a, b;
          if (!st_->AsEquality(conjunct, &a, &b)) continue;
          for (const ExprNode* side : {&a, &b}) {
            std::optional<std::vector<std::string>> parts = st_->AsColumnRef(*side);
            if (!parts) continue;
            absl::StatusOr<int> slot = Lookup(*parts, -1);
            if (slot.ok() && tuple_[*slot].side == 1 && tuple_[*slot].index == c) equated = true;
          }
        }
        right_unique &= equated;
      }
      if (!right_unique) {
        for (int c : right.key) needed.push_back({1, c});
      }
    }
    for (size_t t = 0; t < st_->targets().size(); ++t) {
      const SelectStatement::Target& target = st_->targets()[t];
      SV_ASSIGN_OR_RETURN(sql::ExprPtr out, CompileInput(target.expr, -1, nullptr, "here"));
      plan_->outputs.push_back(std::move(out));
      SV_ASSIGN_OR_RETURN(Type type, InputType(target.expr));
      columns_.push_back({target.name, type == Type::kNull ? Type::kText : type, Value()});
    }
    for (const auto& [side, column] : needed) {
      int found = -1;
      for (size_t t = 0; t < st_->targets().size() && found < 0; ++t) {
        std::optional<std::vector<std::string>> parts = st_->AsColumnRef(st_->targets()[t].expr);
        if (!parts) continue;
        absl::StatusOr<int> slot = Lookup(*parts, -1);
        if (slot.ok() && tuple_[*slot].side == side && tuple_[*slot].index == column) {
          found = static_cast<int>(t);
        }
      }
      if (found < 0) {
        const ViewPlan& v = catalog_->views[plan_->inputs[side]];
        return st_->Error(st_->targets().front().offset,
                          absl::StrCat("select ", v.name, ".", v.columns[column].name,
                                       ": the key columns of the views read identify a row of "
                                       "this view"));
      }
      key_.push_back(found);
      const ViewPlan& input = catalog_->views[plan_->inputs[side]];
      if (input.key_nullable || (side == 1 && plan_->left_join)) key_nullable_ = true;
    }
  }
  ViewPlan view;
  view.name = config_.name;
  view.source = catalog_->views[plan_->inputs[0]].source;
  view.columns = columns_;
  view.key = key_;
  view.key_nullable = key_nullable_;
  view.partition_local = false;
  std::string definition = absl::StrCat("derived|", config_.sql.sql, "|");
  for (int input : plan_->inputs) {
    absl::StrAppend(&definition, catalog_->views[input].definition_hash, "|");
  }
  for (const config::IndexConfig& ic : config_.indexes) {
    for (const std::string& col : ic.columns) {
      const std::string bare = col.substr(!col.empty() && col[0] == '-' ? 1 : 0);
      if (std::none_of(columns_.begin(), columns_.end(),
                       [&](const ColumnPlan& c) { return c.name == bare; })) {
        return ErrorAt(ic.loc,
                       absl::StrCat("index column '", bare, "' is not a column of derived view '",
                                    config_.name, "'"));
      }
    }
    view.indexes.push_back(ic.columns);
    absl::StrAppend(&definition, "index:", absl::StrJoin(ic.columns, ","), "|");
  }
  if (!config_.api.time_column.empty()) {
    const auto it = std::find_if(columns_.begin(), columns_.end(), [&](const ColumnPlan& c) {
      return c.name == config_.api.time_column;
    });
    if (it == columns_.end() || it->type != Type::kTime) {
      return ErrorAt(
          config_.api.time_column_loc,
          absl::StrCat(
              "time column '", config_.api.time_column, "' of derived view '", config_.name, "' ",
              it == columns_.end()
                  ? "is not one of its columns"
                  : absl::StrCat("must be a timestamp, not ", std::string(TypeName(it->type)))));
    }
  }
  if (!config_.tenant.empty()) {
    const auto it = std::find_if(columns_.begin(), columns_.end(),
                                 [&](const ColumnPlan& c) { return c.name == config_.tenant; });
    if (it == columns_.end()) {
      return ErrorAt(config_.tenant_loc,
                     absl::StrCat("tenant column '", config_.tenant, "' of derived view '",
                                  config_.name, "' is not one of its columns"));
    }
    view.tenant = static_cast<int>(it - columns_.begin());
  }
  view.internal = config_.internal;
  for (int input : plan_->inputs) {
    view.reads_tenant_rows = view.reads_tenant_rows || catalog_->views[input].reads_tenant_rows;
  }
  // Served with no tenant column, an organization's caller would read every organization's
  // rows of it: unless the config says which it is, that is a load error.
  if (view.reads_tenant_rows && view.tenant < 0 && !config_.internal && !config_.shared) {
    std::string tenant_input;
    for (int input : plan_->inputs) {
      if (catalog_->views[input].reads_tenant_rows && tenant_input.empty()) {
        tenant_input = catalog_->views[input].name;
      }
    }
    return ErrorAt(config_.loc,
                   absl::StrCat("derived view '", config_.name, "' reads the tenant-scoped view '",
                                tenant_input,
                                "' but declares no tenant: add 'tenant: <column>' (each "
                                "organization reads its own rows), 'internal: true' (a step "
                                "other views read, not served) or 'shared: true' (every caller "
                                "reads all of it)"));
  }
  view.reads_tenant_rows = view.reads_tenant_rows || view.tenant >= 0;
  if (config_.refresh) {
    absl::StatusOr<CronSchedule> schedule = ParseCron(config_.refresh->sql);
    if (!schedule.ok()) {
      return ErrorAt(config_.refresh->loc, absl::StrCat("refresh of derived view '", config_.name,
                                                        "': ", schedule.status().message()));
    }
    // The store computes this view itself: the SELECT must be one it can run.
    absl::StatusOr<std::string> select =
        sql::StoreSelect(config_.sql.sql, sql::SqlDialect::kSqlite, catalog_->ColumnTypes());
    if (!select.ok()) return ErrorAt(config_.sql.loc, std::string(select.status().message()));
    plan_->refresh = config_.refresh->sql;
    absl::StrAppend(&definition, "refresh:", plan_->refresh, "|");
  } else {
    for (int input : plan_->inputs) {
      const ViewPlan& in = catalog_->views[input];
      if (in.derived != nullptr && !in.derived->refresh.empty()) {
        return ErrorAt(config_.sql.loc, absl::StrCat("derived view '", config_.name,
                                                     "' is maintained incrementally "
                                                     "but reads '",
                                                     in.name,
                                                     "', which is recomputed on a schedule; "
                                                     "give it a refresh schedule too"));
      }
    }
  }
  plan_->sql = config_.sql.sql;
  if (config_.version != 0) absl::StrAppend(&definition, "version:", config_.version, "|");
  view.config_version = config_.version;
  view.definition_hash = absl::StrCat(absl::Hex(std::hash<std::string>()(definition)));
  view.derived = std::move(plan_);
  catalog_->views.push_back(std::move(view));
  return absl::OkStatus();
}

}  // namespace

absl::Status CompileDerivedView(const config::DerivedViewConfig& config, Catalog* catalog) {
  DerivedCompiler compiler(config, catalog);
  return compiler.Run();
}

}  // namespace sv::projection
