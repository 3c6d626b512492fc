// Config -> Catalog: resolves every name an expression uses and compiles it once.

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "projection/contracts_compile.h"
#include "projection/projection.h"

namespace sv::projection {
namespace {

std::vector<std::string> SplitPath(const std::string& dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

struct MetaName {
  const char* name;
  sql::MetaField field;
};
constexpr MetaName kMetaNames[] = {
    {"key", sql::MetaField::kKey},
    {"sequence", sql::MetaField::kSequence},
    {"position", sql::MetaField::kPosition},
    {"partition", sql::MetaField::kPartition},
    {"timestamp", sql::MetaField::kTimestamp},
    {"log_time", sql::MetaField::kLogTime},
    {"event_id", sql::MetaField::kEventId},
    {"type", sql::MetaField::kType},
    {"ordinality", sql::MetaField::kOrdinality},
};

// Name resolution for one handler of one view.
class HandlerScope {
 public:
  HandlerScope(const config::Config& config, const Catalog& catalog, const ViewPlan& view,
               int view_index, int type_id, const std::string& explode_alias, bool key_context)
      : config_(config),
        catalog_(catalog),
        view_(view),
        view_index_(view_index),
        type_id_(type_id),
        explode_alias_(explode_alias),
        key_context_(key_context) {}

  absl::StatusOr<sql::Binding> Resolve(const sql::NameRef& ref) {
    using Kind = sql::Binding::Kind;
    const auto& p = ref.parts;
    const std::string full = absl::StrJoin(p, ".");
    sql::Binding b;
    if (p.size() >= 2 && (p[0] == "e" || p[0] == "event")) {
      b.kind = Kind::kEventField;
      b.path.assign(p.begin() + 1, p.end());
      NoteRoutingKey(b.path);
      return b;
    }
    if (!explode_alias_.empty() && p[0] == explode_alias_) {
      b.kind = Kind::kElementField;
      b.slot = 0;
      b.path.assign(p.begin() + 1, p.end());
      return b;
    }
    if (p[0] == "meta") {
      if (p.size() == 2) {
        for (const MetaName& m : kMetaNames) {
          if (p[1] == m.name) {
            if (m.field == sql::MetaField::kOrdinality && explode_alias_.empty()) {
              return absl::InvalidArgumentError(
                  "meta.ordinality exists only in an explode handler");
            }
            if (m.field == sql::MetaField::kKey) reads_routing_key_ = true;
            b.kind = Kind::kMeta;
            b.slot = static_cast<int>(m.field);
            return b;
          }
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown metadata '", full,
          "' (expected meta.key, sequence, position, partition, timestamp, log_time, event_id, "
          "type or ordinality)"));
    }
    if (p[0] == "headers" && p.size() == 2) {
      b.kind = Kind::kHeader;
      b.path = {p[1]};
      return b;
    }
    if (p[0] == "params" && p.size() == 2) {
      auto it = config_.params.find(p[1]);
      if (it == config_.params.end()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown parameter '", full, "'"));
      }
      b.kind = Kind::kConstant;
      b.value = it->second;
      return b;
    }
    if (p.size() == 1) {
      for (size_t c = 0; c < view_.columns.size(); ++c) {
        if (view_.columns[c].name == p[0]) {
          if (key_context_) {
            return absl::InvalidArgumentError(absl::StrCat(
                "key column expressions cannot read the current row (column '", p[0], "')"));
          }
          b.kind = Kind::kRowColumn;
          b.slot = static_cast<int>(c);
          return b;
        }
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown column '", p[0], "' in view '", view_.name, "'"));
    }
    if (p.size() == 2) {
      const int other = catalog_.FindView(p[0]);
      if (other >= 0) {
        if (other >= view_index_) {
          return absl::InvalidArgumentError(absl::StrCat(
              "view '", p[0], "' must be declared before '", view_.name, "' to be read here"));
        }
        const ViewPlan& ov = catalog_.views[other];
        if (ov.source != view_.source || type_id_ < 0 ||
            static_cast<size_t>(type_id_) >= ov.handlers.size() || !ov.handlers[type_id_] ||
            ov.handlers[type_id_]->explode || ov.handlers[type_id_]->delete_row) {
          return absl::InvalidArgumentError(absl::StrCat(
              "'", full, "': view '", p[0],
              "' writes no single row for this event type, so there is no row to read"));
        }
        for (size_t c = 0; c < ov.columns.size(); ++c) {
          if (ov.columns[c].name == p[1]) {
            b.kind = Kind::kViewColumn;
            reads_views_ = true;
            b.slot = other;
            b.column = static_cast<int>(c);
            return b;
          }
        }
        return absl::InvalidArgumentError(
            absl::StrCat("unknown column '", p[1], "' in view '", p[0], "'"));
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown name '", full,
        "' (expected e.<field>, meta.<name>, headers.<name>, params.<name>, a column of '",
        view_.name, "', <view>.<column>", explode_alias_.empty() ? "" : " or the explode alias",
        ")"));
  }

  bool reads_routing_key() const { return reads_routing_key_; }
  bool reads_views() const { return reads_views_; }
  void reset_routing_key() { reads_routing_key_ = false; }

 private:
  void NoteRoutingKey(const std::vector<std::string>& path) {
    const SourcePlan& src = catalog_.sources[view_.source];
    if (!src.config.key_field.empty() && path == SplitPath(src.config.key_field)) {
      reads_routing_key_ = true;
    }
  }

  const config::Config& config_;
  const Catalog& catalog_;
  const ViewPlan& view_;
  int view_index_;
  int type_id_;
  std::string explode_alias_;
  bool key_context_;
  bool reads_routing_key_ = false;
  bool reads_views_ = false;  // some expression reads another view's row
};

bool IsBareRoutingKeyExpr(const std::string& sql, const config::SourceConfig& source) {
  std::string s;
  for (char c : sql) {
    if (c != ' ' && c != '"') s += c;
  }
  if (s == "meta.key") return true;
  return !source.key_field.empty() &&
         (s == "e." + source.key_field || s == "event." + source.key_field);
}

// "e.status" -> "status"; "" for anything but a bare one-level event field.
std::string BareEventField(const std::string& sql) {
  std::string s;
  for (char c : sql) {
    if (c != ' ' && c != '"') s += c;
  }
  for (std::string_view prefix : {"e.", "event."}) {
    if (s.rfind(prefix, 0) == 0) {
      std::string field = s.substr(prefix.size());
      if (!field.empty() && field.find_first_of(".[(") == std::string::npos) return field;
    }
  }
  return "";
}

absl::StatusOr<sql::ExprPtr> CompileIn(HandlerScope& scope, const config::ExprText& text) {
  sql::Resolver resolver = [&scope](const sql::NameRef& ref) { return scope.Resolve(ref); };
  return sql::Compile(text.sql, resolver, text.loc);
}

}  // namespace

int Catalog::FindView(std::string_view name) const {
  for (size_t i = 0; i < views.size(); ++i) {
    if (views[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

sql::ColumnTypeFn Catalog::ColumnTypes() const {
  return [this](std::string_view relation, std::string_view column) -> std::optional<Type> {
    const int v = FindView(relation);
    if (v < 0) return std::nullopt;
    for (const ColumnPlan& c : views[v].columns) {
      if (c.name == column) return c.type;
    }
    return std::nullopt;
  };
}

int Catalog::FindSource(std::string_view name) const {
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].config.name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

// A json column holds a document: it is served and stored, but it keys, scopes and sorts
// nothing (its canonical text orders no meaningful way).
absl::Status CheckJsonColumns(const config::Config& config, const Catalog& catalog) {
  for (const ViewPlan& view : catalog.views) {
    Location loc;
    for (const config::ViewConfig& vc : config.views) {
      if (vc.name == view.name) loc = vc.loc;
    }
    for (const config::DerivedViewConfig& dc : config.derived_views) {
      if (dc.name == view.name) loc = dc.loc;
    }
    auto check = [&](int column, const char* role) -> absl::Status {
      if (column < 0 || view.columns[column].type != Type::kJson) return absl::OkStatus();
      return ErrorAt(loc, absl::StrCat("json column '", view.columns[column].name, "' of view '",
                                       view.name, "' cannot be ", role));
    };
    for (int k : view.key) SV_RETURN_IF_ERROR(check(k, "a key column"));
    SV_RETURN_IF_ERROR(check(view.tenant, "the tenant column"));
    for (const std::vector<std::string>& index : view.indexes) {
      for (const std::string& name : index) {
        const std::string bare = name.substr(!name.empty() && name[0] == '-' ? 1 : 0);
        for (size_t c = 0; c < view.columns.size(); ++c) {
          if (view.columns[c].name == bare) {
            SV_RETURN_IF_ERROR(check(static_cast<int>(c), "indexed"));
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Catalog>> Compile(const config::Config& config) {
  auto catalog = std::make_unique<Catalog>();
  for (const config::SourceConfig& sc : config.sources) {
    SourcePlan sp;
    sp.config = sc;
    for (size_t t = 0; t < sc.event_types.size(); ++t) sp.type_ids[sc.event_types[t]] = t;
    SV_ASSIGN_OR_RETURN(sp.contracts, CompileContracts(sc));
    catalog->sources.push_back(std::move(sp));
  }
  // A view's `previous:` definition is compiled like a view (its hash is the one its version
  // was built with) but fed by no source until the engine runs it (engine/view_versions.h).
  auto compile_view = [&](const config::ViewConfig& vc, int previous_of) -> absl::Status {
    const int view_index = static_cast<int>(catalog->views.size());
    catalog->views.emplace_back();
    ViewPlan& view = catalog->views.back();
    view.name = previous_of < 0 ? vc.name : PreviousPlanName(vc.name);
    view.previous_of = previous_of;
    view.source = catalog->FindSource(vc.source);
    if (view.source < 0) return ErrorAt(vc.loc, absl::StrCat("unknown source '", vc.source, "'"));
    SourcePlan& source = catalog->sources[view.source];
    if (previous_of < 0) source.views.push_back(view_index);

    std::string definition = absl::StrCat(
        "source=", source.config.key_from_envelope_only ? "@envelope" : source.config.key_field,
        "|", source.config.first_sequence, "|");
    for (const auto& [name, value] : config.params) {
      absl::StrAppend(&definition, "param:", name, "=", value.ToString(), "|");
    }
    for (const config::ColumnConfig& cc : vc.columns) {
      ColumnPlan col{cc.name, cc.type, Value()};
      if (cc.default_value) {
        sql::Resolver none = [](const sql::NameRef& ref) -> absl::StatusOr<sql::Binding> {
          return absl::InvalidArgumentError(absl::StrCat("a default must be a constant, not '",
                                                         absl::StrJoin(ref.parts, "."), "'"));
        };
        SV_ASSIGN_OR_RETURN(sql::ExprPtr expr,
                            sql::Compile(cc.default_value->sql, none, cc.default_value->loc));
        SV_ASSIGN_OR_RETURN(col.default_value, sql::EvalConstant(*expr));
        absl::Status s = sql::CoerceTo(cc.type, &col.default_value);
        if (!s.ok()) return ErrorAt(cc.default_value->loc, std::string(s.message()));
        absl::StrAppend(&definition, "default:", cc.default_value->sql, "|");
      }
      absl::StrAppend(&definition, "col:", cc.name, ":", std::string(TypeName(cc.type)), "|");
      view.columns.push_back(std::move(col));
    }
    for (const std::string& k : vc.key) {
      for (size_t c = 0; c < view.columns.size(); ++c) {
        if (view.columns[c].name == k) view.key.push_back(static_cast<int>(c));
      }
      absl::StrAppend(&definition, "key:", k, "|");
    }
    if (view.key.size() != vc.key.size()) return ErrorAt(vc.loc, "key names an undeclared column");
    for (size_t c = 0; c < view.columns.size(); ++c) {
      if (!vc.tenant.empty() && view.columns[c].name == vc.tenant)
        view.tenant = static_cast<int>(c);
    }
    view.reads_tenant_rows = view.tenant >= 0;
    view.internal = vc.internal || previous_of >= 0;
    for (const config::IndexConfig& ic : vc.indexes) {
      view.indexes.push_back(ic.columns);
      absl::StrAppend(&definition, "index:", absl::StrJoin(ic.columns, ","), "|");
    }

    const config::HandlerConfig* wildcard = nullptr;
    for (const config::HandlerConfig& hc : vc.handlers) {
      if (hc.event_type == "*") wildcard = &hc;
    }
    view.handlers.resize(source.config.event_types.size());
    for (const config::HandlerConfig& hc : vc.handlers) {
      if (hc.event_type == "*") continue;
      auto type_it = source.type_ids.find(hc.event_type);
      if (type_it == source.type_ids.end()) {
        return ErrorAt(hc.loc, absl::StrCat("unknown event type '", hc.event_type, "'"));
      }
      const int type_id = type_it->second;
      auto plan = std::make_unique<HandlerPlan>();
      plan->delete_row = hc.delete_row;
      const std::string alias = hc.explode ? hc.explode_as : "";
      HandlerScope key_scope(config, *catalog, view, view_index, type_id, alias, true);
      HandlerScope value_scope(config, *catalog, view, view_index, type_id, alias, false);
      absl::StrAppend(&definition, "on:", hc.event_type, "|delete:", hc.delete_row, "|");

      // The wildcard's sets come first; the handler's own sets override them.
      std::vector<const std::pair<std::string, config::ExprText>*> sets;
      if (wildcard) {
        for (const auto& s : wildcard->set) {
          bool overridden = false;
          for (const auto& own : hc.set) overridden |= own.first == s.first;
          if (!overridden) sets.push_back(&s);
        }
      }
      for (const auto& s : hc.set) sets.push_back(&s);

      bool key_from_routing_key = false;
      std::vector<bool> key_set(view.columns.size(), false);
      for (const auto* s : sets) {
        int column = -1;
        for (size_t c = 0; c < view.columns.size(); ++c) {
          if (view.columns[c].name == s->first) column = static_cast<int>(c);
        }
        if (column < 0) {
          return ErrorAt(s->second.loc, absl::StrCat("unknown column '", s->first, "'"));
        }
        bool is_key = false;
        for (int k : view.key) is_key |= k == column;
        absl::StrAppend(&definition, "set:", s->first, "=", s->second.sql, "|");
        if (is_key) {
          SV_ASSIGN_OR_RETURN(sql::ExprPtr expr, CompileIn(key_scope, s->second));
          key_from_routing_key |= IsBareRoutingKeyExpr(s->second.sql, source.config);
          key_set[column] = true;
          plan->key_sets.emplace_back(column, std::move(expr));
          plan->key_fields.push_back(BareEventField(s->second.sql));
        } else {
          if (hc.delete_row) continue;  // a delete only needs the key
          SV_ASSIGN_OR_RETURN(sql::ExprPtr expr, CompileIn(value_scope, s->second));
          plan->value_sets.emplace_back(column, std::move(expr));
          plan->value_fields.push_back(BareEventField(s->second.sql));
        }
      }
      for (int k : view.key) {
        if (!key_set[k]) {
          return ErrorAt(hc.loc,
                         absl::StrCat("handler for ", hc.event_type, " does not set key column '",
                                      view.columns[k].name, "'"));
        }
      }
      view.partition_local &= key_from_routing_key;
      if (hc.when) {
        SV_ASSIGN_OR_RETURN(plan->when, CompileIn(value_scope, *hc.when));
        absl::StrAppend(&definition, "when:", hc.when->sql, "|");
      }
      if (hc.explode) {
        HandlerScope outer(config, *catalog, view, view_index, type_id, "", true);
        SV_ASSIGN_OR_RETURN(plan->explode, CompileIn(outer, *hc.explode));
        if (!plan->explode->IsJsonPath()) {
          return ErrorAt(hc.explode->loc, "explode needs an array field such as e.items");
        }
        absl::StrAppend(&definition, "explode:", hc.explode->sql, " as ", alias, "|");
      }
      plan->reads_other_views = key_scope.reads_views() || value_scope.reads_views();
      plan->key_reads_other_views = key_scope.reads_views();
      view.handlers[type_id] = std::move(plan);
    }
    // A declared version is part of the definition: raising it builds a new version. Absent, the
    // hash stays what it was before versions could be declared.
    if (vc.version != 0) absl::StrAppend(&definition, "version:", vc.version, "|");
    view.config_version = vc.version;
    view.definition_hash = absl::StrCat(absl::Hex(std::hash<std::string>()(definition)));
    return absl::OkStatus();
  };
  for (const config::ViewConfig& vc : config.views) SV_RETURN_IF_ERROR(compile_view(vc, -1));
  for (const config::DerivedViewConfig& dc : config.derived_views) {
    SV_RETURN_IF_ERROR(CompileDerivedView(dc, catalog.get()));
  }
  for (const config::LookupConfig& lc : config.lookups) {
    SV_RETURN_IF_ERROR(CompileLookup(lc, catalog.get()));
  }
  SV_RETURN_IF_ERROR(CheckJsonColumns(config, *catalog));
  // `previous:` definitions last, at the indices they keep once an engine appends them to
  // `views` (their expressions address rows by view index), and moved aside until then.
  const size_t compiled = catalog->views.size();
  for (const config::ViewConfig& vc : config.views) {
    if (vc.previous == nullptr) continue;
    const int view = catalog->FindView(vc.name);
    catalog->views[view].previous = static_cast<int>(catalog->views.size());
    SV_RETURN_IF_ERROR(compile_view(*vc.previous, view));
  }
  CompilePreviousLookups(config, catalog.get());
  for (size_t i = compiled; i < catalog->views.size(); ++i) {
    catalog->previous_views.push_back(std::move(catalog->views[i]));
  }
  catalog->views.resize(compiled);
  return catalog;
}

}  // namespace sv::projection
