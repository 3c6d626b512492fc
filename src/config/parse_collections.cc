// The `collections` section: tables applications write over HTTP (issue 21). Read after
// `views` and `derived_views`, whose names a collection must not take.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::Status Parser::ParseCollections(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "collections"));
  for (const Entry& e : entries) {
    CollectionConfig collection;
    collection.name = e.name;
    collection.loc = LocOf(e.key);
    const std::string what = absl::StrCat("collection ", Quoted(e.name));
    if (!IsIdentifier(e.name) || e.name.front() == '_' || e.name.find("__") != std::string::npos) {
      return Err(e.key, absl::StrCat("collection name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_') not starting "
                                     "with '_' nor holding '__'"));
    }
    auto taken = [&](const std::string& name) { return name == e.name; };
    if (std::any_of(config->views.begin(), config->views.end(),
                    [&](const ViewConfig& v) { return taken(v.name); }) ||
        std::any_of(config->derived_views.begin(), config->derived_views.end(),
                    [&](const DerivedViewConfig& d) { return taken(d.name); })) {
      return Err(e.key, absl::StrCat(what,
                                     " has the name of a view: both would be served at "
                                     "/views/",
                                     e.name));
    }
    SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(e.value, e.key, what));
    // A source-fed table written behind the engine's back would drift from its events.
    for (const char* engine_key : {"source", "on"}) {
      if (const Entry* f = Find(fields, engine_key)) {
        return Err(f->key, absl::StrCat(what, " is written by applications over HTTP and has no '",
                                        engine_key,
                                        "': declare a view under 'views' for an event-fed table"));
      }
    }
    SV_RETURN_IF_ERROR(
        CheckKeys(fields, {"columns", "key", "tenant", "require_preconditions"}, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "columns", e.key, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "key", e.key, what));

    const Entry& columns_entry = *Find(fields, "columns");
    SV_ASSIGN_OR_RETURN(Entries columns, MapEntries(columns_entry.value, columns_entry.key,
                                                    absl::StrCat("'columns' of ", what)));
    if (columns.empty()) {
      return Err(columns_entry.value, absl::StrCat("'columns' of ", what, " must not be empty"));
    }
    for (const Entry& c : columns) {
      SV_ASSIGN_OR_RETURN(ColumnConfig column, ParseColumn(c, e.name));
      if (column.name.front() == '_') {
        return Err(c.key, absl::StrCat("column ", Quoted(column.name), " of ", what,
                                       ": names starting with '_' are the store's own"));
      }
      if (column.type == Type::kInterval) {
        return Err(c.value, absl::StrCat("column ", Quoted(column.name), " of ", what,
                                         ": interval is no collection type (text, integer, "
                                         "numeric, boolean, timestamp, json)"));
      }
      if (column.default_value.has_value()) {
        return Err(c.value, absl::StrCat("column ", Quoted(column.name), " of ", what,
                                         ": a collection column has no default (a PUT sends "
                                         "the whole row)"));
      }
      collection.columns.push_back(std::move(column));
    }
    auto is_column = [&](absl::string_view name) {
      return std::any_of(collection.columns.begin(), collection.columns.end(),
                         [&](const ColumnConfig& c) { return c.name == name; });
    };

    SV_RETURN_IF_ERROR(ParseKey(*Find(fields, "key"), what, is_column, &collection.key));

    if (const Entry* tenant = Find(fields, "tenant")) {
      SV_ASSIGN_OR_RETURN(collection.tenant, Name(*tenant, absl::StrCat("'tenant' of ", what)));
      collection.tenant_loc = LocOf(tenant->value);
      if (!is_column(collection.tenant)) {
        return Err(tenant->value, absl::StrCat("tenant column ", Quoted(collection.tenant),
                                               " is not a column of ", what));
      }
      if (config->server.enabled && !config->server.auth.enabled) {
        return Err(tenant->value,
                   absl::StrCat(what, " declares tenant ", Quoted(collection.tenant),
                                " but server.auth is not configured: without callers, every "
                                "organization's rows would be open to anyone"));
      }
    }
    if (const Entry* r = Find(fields, "require_preconditions")) {
      SV_ASSIGN_OR_RETURN(collection.require_preconditions,
                          Bool(*r, absl::StrCat("'require_preconditions' of ", what)));
    }
    if (config->store.kind == "memory") {
      return Err(e.key, absl::StrCat(what, " needs a sqlite or postgres store, not memory"));
    }
    config->collections.push_back(std::move(collection));
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
