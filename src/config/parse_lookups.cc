// The `lookups` section: autocomplete lookups over views. Which view and columns they name is
// checked by projection::Compile, once derived views' columns are known.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::Status Parser::ParseLookups(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "lookups"));
  for (const Entry& e : entries) {
    LookupConfig lookup;
    lookup.name = e.name;
    lookup.loc = LocOf(e.key);
    const std::string what = absl::StrCat("lookup ", Quoted(e.name));
    if (!IsIdentifier(e.name)) {
      return Err(e.key, absl::StrCat("lookup name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_')"));
    }
    SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(e.value, e.key, what));
    SV_RETURN_IF_ERROR(CheckKeys(
        fields, {"view", "label", "fields", "scope", "where", "limit", "max_limit"}, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "view", e.key, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "label", e.key, what));
    SV_ASSIGN_OR_RETURN(lookup.view, Name(*Find(fields, "view"), absl::StrCat("'view' of ", what)));
    SV_ASSIGN_OR_RETURN(lookup.label,
                        Name(*Find(fields, "label"), absl::StrCat("'label' of ", what)));
    if (const Entry* f = Find(fields, "fields")) {
      SV_ASSIGN_OR_RETURN(auto names, NameList(*f, absl::StrCat("'fields' of ", what)));
      for (auto& [name, node] : names) lookup.fields.push_back(name);
    }
    if (const Entry* s = Find(fields, "scope")) {
      SV_ASSIGN_OR_RETURN(lookup.scope, Name(*s, absl::StrCat("'scope' of ", what)));
    }
    if (const Entry* w = Find(fields, "where")) {
      SV_ASSIGN_OR_RETURN(Entries conditions,
                          MapEntries(w->value, w->key, absl::StrCat("'where' of ", what)));
      for (const Entry& c : conditions) {
        if (!c.value.IsScalar()) {
          return Err(c.value.IsNull() ? c.key : c.value,
                     absl::StrCat("value of ", Quoted(c.name), " in 'where' of ", what,
                                  " must be a scalar, not ", KindName(c.value)));
        }
        lookup.where.emplace_back(c.name, ScalarValue(c.value));
      }
    }
    if (const Entry* m = Find(fields, "max_limit")) {
      SV_ASSIGN_OR_RETURN(lookup.max_limit,
                          Integer(*m, absl::StrCat("'max_limit' of ", what), 1, 10'000));
    }
    if (const Entry* l = Find(fields, "limit")) {
      SV_ASSIGN_OR_RETURN(lookup.default_limit,
                          Integer(*l, absl::StrCat("'limit' of ", what), 1, lookup.max_limit));
    }
    lookup.default_limit = std::min(lookup.default_limit, lookup.max_limit);
    config->lookups.push_back(std::move(lookup));
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
