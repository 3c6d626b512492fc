// Config sections that declare views: columns, handlers, indexes, API paths, derived views.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::StatusOr<ColumnConfig> Parser::ParseColumn(const Entry& entry, absl::string_view view) const {
  ColumnConfig column;
  column.name = entry.name;
  column.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("column ", Quoted(entry.name), " of view ", Quoted(view));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key,
               absl::StrCat("column name ", Quoted(entry.name), " in view ", Quoted(view),
                            " must be an identifier (letters, digits, '_')"));
  }
  Entry type_entry = entry;
  if (entry.value.IsMap()) {
    SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
    SV_RETURN_IF_ERROR(CheckKeys(entries, {"type", "default"}, what));
    SV_RETURN_IF_ERROR(CheckRequired(entries, "type", entry.key, what));
    type_entry = *Find(entries, "type");
    if (const Entry* d = Find(entries, "default")) {
      SV_ASSIGN_OR_RETURN(column.default_value, Expr(*d, absl::StrCat("default of ", what)));
    }
  } else if (!entry.value.IsScalar()) {
    return Err(entry.value.IsNull() ? entry.key : entry.value,
               absl::StrCat("type of ", what, " must be a type name or a map {type, default}, not ",
                            KindName(entry.value)));
  }
  SV_ASSIGN_OR_RETURN(std::string type_name, Name(type_entry, absl::StrCat("type of ", what)));
  std::optional<Type> type = ParseTypeName(type_name);
  if (!type.has_value()) {
    return Err(type_entry.value, absl::StrCat("unknown column type ", Quoted(type_name), " for ",
                                              what, " (expected one of: ", kTypeNames, ")"));
  }
  column.type = *type;
  return column;
}

absl::StatusOr<HandlerConfig> Parser::ParseHandler(const Entry& entry, const ViewConfig& view,
                                                   const SourceConfig& source) const {
  HandlerConfig handler;
  handler.event_type = entry.name;
  handler.loc = LocOf(entry.key);
  if (entry.name != "*" && std::find(source.event_types.begin(), source.event_types.end(),
                                     entry.name) == source.event_types.end()) {
    return Err(entry.key, absl::StrCat("unknown event type ", Quoted(entry.name), " for source ",
                                       Quoted(source.name),
                                       " (declared: ", JoinNames(source.event_types), ")"));
  }
  const std::string what =
      absl::StrCat("handler ", Quoted(entry.name), " of view ", Quoted(view.name));
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"set", "delete", "when", "explode", "as"}, what));
  auto is_column = [&](absl::string_view name) {
    return std::any_of(view.columns.begin(), view.columns.end(),
                       [&](const ColumnConfig& c) { return c.name == name; });
  };
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "set") {
      SV_ASSIGN_OR_RETURN(Entries sets, MapEntries(e.value, e.key, field));
      for (const Entry& s : sets) {
        if (!is_column(s.name)) {
          return Err(s.key, absl::StrCat("set target ", Quoted(s.name), " is not a column of view ",
                                         Quoted(view.name)));
        }
        SV_ASSIGN_OR_RETURN(ExprText expr, Expr(s, absl::StrCat("expression for column ",
                                                                Quoted(s.name), " in ", what)));
        handler.set.emplace_back(s.name, std::move(expr));
      }
    } else if (e.name == "delete") {
      SV_ASSIGN_OR_RETURN(handler.delete_row, Bool(e, field));
    } else if (e.name == "when") {
      SV_ASSIGN_OR_RETURN(handler.when, Expr(e, field));
    } else if (e.name == "explode") {
      SV_ASSIGN_OR_RETURN(handler.explode, Expr(e, field));
    } else if (e.name == "as") {
      SV_ASSIGN_OR_RETURN(handler.explode_as, Name(e, field));
      if (!IsIdentifier(handler.explode_as)) {
        return Err(e.value,
                   absl::StrCat(field, " must be an identifier, not ", Quoted(handler.explode_as)));
      }
    }
  }
  if (handler.delete_row) {
    const Entry* del = Find(entries, "delete");
    if (!handler.set.empty()) {
      return Err(del->key, absl::StrCat(what, " cannot both delete and set"));
    }
    if (handler.explode.has_value()) {
      return Err(del->key, absl::StrCat(what, " cannot both delete and explode"));
    }
  }
  if (const Entry* as = Find(entries, "as"); as != nullptr && !handler.explode.has_value()) {
    return Err(as->key, absl::StrCat("'as' in ", what, " requires 'explode'"));
  }
  return handler;
}

absl::StatusOr<ViewConfig> Parser::ParseView(const Entry& entry, const Config& config) const {
  ViewConfig view;
  view.name = entry.name;
  view.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("view ", Quoted(entry.name));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key, absl::StrCat("view name ", Quoted(entry.name),
                                       " must be an identifier (letters, digits, '_')"));
  }
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"source", "key", "columns", "indexes", "on", "api", "tenant",
                                "internal", "version", "previous"},
                               what));
  for (absl::string_view required : {"source", "key", "columns"}) {
    SV_RETURN_IF_ERROR(CheckRequired(entries, required, entry.key, what));
  }

  // source
  const Entry& source_entry = *Find(entries, "source");
  SV_ASSIGN_OR_RETURN(view.source, Name(source_entry, absl::StrCat("'source' of ", what)));
  const SourceConfig* source = nullptr;
  for (const SourceConfig& s : config.sources) {
    if (s.name == view.source) source = &s;
  }
  if (source == nullptr) {
    std::vector<std::string> names;
    for (const SourceConfig& s : config.sources) names.push_back(s.name);
    return Err(source_entry.value,
               absl::StrCat("unknown source ", Quoted(view.source), " in ", what,
                            " (declared: ", names.empty() ? "none" : JoinNames(names), ")"));
  }

  // columns
  const Entry& columns_entry = *Find(entries, "columns");
  SV_ASSIGN_OR_RETURN(Entries columns, MapEntries(columns_entry.value, columns_entry.key,
                                                  absl::StrCat("'columns' of ", what)));
  if (columns.empty()) {
    return Err(columns_entry.value, absl::StrCat("'columns' of ", what, " must not be empty"));
  }
  for (const Entry& c : columns) {
    SV_ASSIGN_OR_RETURN(ColumnConfig column, ParseColumn(c, view.name));
    view.columns.push_back(std::move(column));
  }
  auto is_column = [&](absl::string_view name) {
    return std::any_of(view.columns.begin(), view.columns.end(),
                       [&](const ColumnConfig& c) { return c.name == name; });
  };

  // key
  SV_RETURN_IF_ERROR(ParseKey(*Find(entries, "key"), what, is_column, &view.key));

  // indexes
  if (const Entry* indexes = Find(entries, "indexes")) {
    SV_RETURN_IF_ERROR(ParseIndexes(*indexes, what, is_column, &view.indexes));
  }

  // on
  if (const Entry* on = Find(entries, "on")) {
    SV_ASSIGN_OR_RETURN(Entries handlers,
                        MapEntries(on->value, on->key, absl::StrCat("'on' of ", what)));
    for (const Entry& h : handlers) {
      SV_ASSIGN_OR_RETURN(HandlerConfig handler, ParseHandler(h, view, *source));
      view.handlers.push_back(std::move(handler));
    }
    // '*' only lends its sets to the handlers listed beside it; a view whose listed handlers
    // all delete would silently never hold a row.
    const bool writes =
        std::any_of(view.handlers.begin(), view.handlers.end(),
                    [](const HandlerConfig& h) { return h.event_type != "*" && !h.delete_row; });
    if (!writes) {
      return Err(
          on->key,
          absl::StrCat("'on' of ", what, " has no handler that writes a row (only deletes",
                       Find(handlers, "*") != nullptr ? " and '*'" : "",
                       "): '*' supplies default sets to the event types listed beside "
                       "it and handles none by itself; list each event type that "
                       "writes, e.g. ",
                       source->event_types.empty() ? "<type>" : source->event_types[0], ": {}"));
    }
  }
  if (const Entry* api = Find(entries, "api")) {
    SV_RETURN_IF_ERROR(ParseViewApi(*api, view.name, &view.columns, &view.api));
  }
  if (const Entry* tenant = Find(entries, "tenant")) {
    SV_ASSIGN_OR_RETURN(view.tenant, Name(*tenant, absl::StrCat("'tenant' of ", what)));
    view.tenant_loc = LocOf(tenant->value);
    if (!is_column(view.tenant)) {
      return Err(tenant->value,
                 absl::StrCat("tenant column ", Quoted(view.tenant), " is not a column of ", what));
    }
  }
  if (const Entry* internal = Find(entries, "internal")) {
    SV_ASSIGN_OR_RETURN(view.internal, Bool(*internal, absl::StrCat("'internal' of ", what)));
  }
  if (const Entry* version = Find(entries, "version")) {
    SV_ASSIGN_OR_RETURN(view.version, Integer(*version, absl::StrCat("'version' of ", what), 1,
                                              std::numeric_limits<int64_t>::max()));
  }
  if (const Entry* previous = Find(entries, "previous")) {
    // The definition the serving version was built from, written like the view itself.
    SV_ASSIGN_OR_RETURN(ViewConfig before,
                        ParseView(Entry{entry.name, previous->key, previous->value}, config));
    if (before.previous != nullptr) {
      return Err(previous->key, absl::StrCat("'previous' of ", what, " cannot have a 'previous'"));
    }
    if (before.source != view.source) {
      return Err(previous->key,
                 absl::StrCat("'previous' of ", what, " reads source ", Quoted(before.source),
                              ", the view reads ", Quoted(view.source), ": they must be the same"));
    }
    view.previous = std::make_shared<const ViewConfig>(std::move(before));
  }
  return view;
}

absl::Status Parser::ParseKey(const Entry& key_entry, absl::string_view what,
                              const std::function<bool(absl::string_view)>& is_column,
                              std::vector<std::string>* key) const {
  SV_ASSIGN_OR_RETURN(auto names, NameList(key_entry, absl::StrCat("'key' of ", what)));
  if (names.empty()) {
    return Err(key_entry.value, absl::StrCat("'key' of ", what, " must not be empty"));
  }
  for (auto& [name, node] : names) {
    if (!is_column(name)) {
      return Err(node, absl::StrCat("key column ", Quoted(name), " is not a column of ", what));
    }
    if (std::find(key->begin(), key->end(), name) != key->end()) {
      return Err(node, absl::StrCat("duplicate key column ", Quoted(name), " in ", what));
    }
    key->push_back(name);
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseIndexes(const Entry& indexes, absl::string_view what,
                                  const std::function<bool(absl::string_view)>& is_column,
                                  std::vector<IndexConfig>* out) const {
  const std::string iwhat = absl::StrCat("'indexes' of ", what);
  if (indexes.value.IsNull()) return absl::OkStatus();
  if (!indexes.value.IsSequence()) {
    return Err(indexes.value, absl::StrCat(iwhat, " must be a list of column lists, not ",
                                           KindName(indexes.value)));
  }
  for (auto it = indexes.value.begin(); it != indexes.value.end(); ++it) {
    const YAML::Node node = *it;
    if (!node.IsSequence()) {
      return Err(
          node.IsNull() ? indexes.value : node,
          absl::StrCat("an index in ", iwhat, " must be a list of columns, not ", KindName(node)));
    }
    IndexConfig index;
    index.loc = LocOf(node);
    SV_ASSIGN_OR_RETURN(
        auto cols, NameList(Entry{"", indexes.key, node}, absl::StrCat("an index in ", iwhat)));
    if (cols.empty()) return Err(node, absl::StrCat("an index in ", iwhat, " is empty"));
    for (auto& [name, col_node] : cols) {
      const absl::string_view bare =
          absl::string_view(name).substr(!name.empty() && name[0] == '-' ? 1 : 0);
      if (!is_column(bare)) {
        return Err(col_node,
                   absl::StrCat("index column ", Quoted(bare), " is not a column of ", what));
      }
      index.columns.push_back(name);
    }
    out->push_back(std::move(index));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseDerivedViews(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "derived_views"));
  for (const Entry& e : entries) {
    DerivedViewConfig view;
    view.name = e.name;
    view.loc = LocOf(e.key);
    const std::string what = absl::StrCat("derived view ", Quoted(e.name));
    if (!IsIdentifier(e.name)) {
      return Err(e.key, absl::StrCat("view name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_')"));
    }
    for (const ViewConfig& v : config->views) {
      if (v.name == e.name) {
        return Err(e.key, absl::StrCat(what, " has the name of a view declared under 'views'"));
      }
    }
    SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(e.value, e.key, what));
    SV_RETURN_IF_ERROR(CheckKeys(
        fields, {"sql", "indexes", "refresh", "api", "tenant", "internal", "shared", "version"},
        what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "sql", e.key, what));
    SV_ASSIGN_OR_RETURN(view.sql, Expr(*Find(fields, "sql"), absl::StrCat("'sql' of ", what)));
    if (const Entry* indexes = Find(fields, "indexes")) {
      // The columns come from the SELECT; projection/ checks them once it is compiled.
      SV_RETURN_IF_ERROR(ParseIndexes(
          *indexes, what, [](absl::string_view) { return true; }, &view.indexes));
    }
    if (const Entry* refresh = Find(fields, "refresh")) {
      SV_ASSIGN_OR_RETURN(view.refresh, Expr(*refresh, absl::StrCat("'refresh' of ", what)));
    }
    if (const Entry* api = Find(fields, "api")) {
      SV_RETURN_IF_ERROR(ParseViewApi(*api, view.name, nullptr, &view.api));
    }
    if (const Entry* tenant = Find(fields, "tenant")) {
      // Checked against the SELECT's columns once it is bound (projection/).
      SV_ASSIGN_OR_RETURN(view.tenant, Name(*tenant, absl::StrCat("'tenant' of ", what)));
      view.tenant_loc = LocOf(tenant->value);
    }
    if (const Entry* internal = Find(fields, "internal")) {
      SV_ASSIGN_OR_RETURN(view.internal, Bool(*internal, absl::StrCat("'internal' of ", what)));
    }
    if (const Entry* shared = Find(fields, "shared")) {
      SV_ASSIGN_OR_RETURN(view.shared, Bool(*shared, absl::StrCat("'shared' of ", what)));
      if (view.shared && !view.tenant.empty()) {
        return Err(shared->key, absl::StrCat(what, " cannot both be shared and have a tenant"));
      }
    }
    if (const Entry* version = Find(fields, "version")) {
      SV_ASSIGN_OR_RETURN(view.version, Integer(*version, absl::StrCat("'version' of ", what), 1,
                                                std::numeric_limits<int64_t>::max()));
    }
    config->derived_views.push_back(std::move(view));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseViewApi(const Entry& entry, const std::string& view_name,
                                  const std::vector<ColumnConfig>* columns,
                                  ViewApiConfig* api) const {
  const std::string what = absl::StrCat("'api' of view ", Quoted(view_name));
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"path", "time_column"}, what));
  api->loc = LocOf(entry.key);
  if (const Entry* e = Find(entries, "path")) {
    SV_ASSIGN_OR_RETURN(std::string path, Name(*e, absl::StrCat("'path' of ", what)));
    // One plain segment: the route and its /{key} sibling must not shadow the built-in ones.
    const bool plain =
        path.size() > 1 && path[0] == '/' && IsIdentifier(absl::string_view(path).substr(1));
    if (!plain) {
      return Err(e->value, absl::StrCat("'path' of ", what,
                                        " must be one segment like /orders, not ", Quoted(path)));
    }
    for (absl::string_view reserved :
         {"/views", "/lags", "/dlq", "/events", "/metrics", "/health", "/openapi", "/lookups"}) {
      if (path == reserved) {
        return Err(e->value,
                   absl::StrCat("'path' of ", what, " ", Quoted(path), " is a built-in route"));
      }
    }
    api->path = path;
  }
  if (const Entry* e = Find(entries, "time_column")) {
    SV_ASSIGN_OR_RETURN(std::string column, Name(*e, absl::StrCat("'time_column' of ", what)));
    api->time_column_loc = LocOf(e->value);
    if (columns != nullptr) {
      const auto it = std::find_if(columns->begin(), columns->end(),
                                   [&](const ColumnConfig& c) { return c.name == column; });
      if (it == columns->end()) {
        return Err(e->value, absl::StrCat("time column ", Quoted(column),
                                          " is not a column of view ", Quoted(view_name)));
      }
      if (it->type != Type::kTime) {
        return Err(e->value,
                   absl::StrCat("time column ", Quoted(column), " of view ", Quoted(view_name),
                                " must be a timestamp, not ", std::string(TypeName(it->type))));
      }
    }
    api->time_column = column;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseViews(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "views"));
  for (const Entry& e : entries) {
    SV_ASSIGN_OR_RETURN(ViewConfig view, ParseView(e, *config));
    config->views.push_back(std::move(view));
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
