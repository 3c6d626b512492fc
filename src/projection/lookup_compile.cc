// Lookups name a view and its columns; derived views' columns are known only here, so every
// lookup is checked once the views are compiled.

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/location.h"
#include "common/status_macros.h"
#include "projection/projection.h"
#include "sql/expr.h"

namespace sv::projection {
namespace {

int FindColumn(const ViewPlan& view, const std::string& name) {
  for (size_t c = 0; c < view.columns.size(); ++c) {
    if (view.columns[c].name == name) return static_cast<int>(c);
  }
  return -1;
}

}  // namespace

namespace {

// The lookup over `view`'s columns (the config's definition of view `index`, or its previous:).
absl::StatusOr<LookupPlan> LookupOver(const config::LookupConfig& config, int index,
                                      const ViewPlan& view) {
  const std::string what = absl::StrCat("lookup '", config.name, "'");
  LookupPlan plan;
  plan.name = config.name;
  plan.view = index;
  auto column = [&](const std::string& name, const char* role, int* out) -> absl::Status {
    *out = FindColumn(view, name);
    if (*out >= 0) return absl::OkStatus();
    return ErrorAt(config.loc, absl::StrCat(what, ": ", role, " '", name,
                                            "' is not a column of view '", view.name, "'"));
  };
  SV_RETURN_IF_ERROR(column(config.label, "label", &plan.label));
  if (view.columns[plan.label].type != Type::kText) {
    return ErrorAt(config.loc,
                   absl::StrCat(what, ": label '", config.label, "' must be a text column, not ",
                                std::string(TypeName(view.columns[plan.label].type))));
  }
  for (const std::string& f : config.fields) {
    SV_RETURN_IF_ERROR(column(f, "field", &plan.fields.emplace_back()));
  }
  if (config.fields.empty()) {
    for (size_t c = 0; c < view.columns.size(); ++c) plan.fields.push_back(static_cast<int>(c));
  }
  if (!config.scope.empty()) SV_RETURN_IF_ERROR(column(config.scope, "scope", &plan.scope));
  if (view.tenant >= 0 && plan.scope != view.tenant) {
    return ErrorAt(config.loc,
                   absl::StrCat(what, ": view '", view.name, "' has the tenant column '",
                                view.columns[view.tenant].name, "': the lookup must be scoped by ",
                                "it (scope: ", view.columns[view.tenant].name, ")"));
  }
  for (const auto& [name, given] : config.where) {
    int c = -1;
    SV_RETURN_IF_ERROR(column(name, "'where' column", &c));
    Value value = given;
    if (absl::Status s = sql::CoerceTo(view.columns[c].type, &value); !s.ok()) {
      return ErrorAt(config.loc,
                     absl::StrCat(what, ": 'where' value of '", name, "': ", s.message()));
    }
    plan.where.emplace_back(c, std::move(value));
  }
  plan.default_limit = config.default_limit;
  plan.max_limit = config.max_limit;
  return plan;
}

}  // namespace

absl::Status CompileLookup(const config::LookupConfig& config, Catalog* catalog) {
  const std::string what = absl::StrCat("lookup '", config.name, "'");
  const int index = catalog->FindView(config.view);
  if (index < 0) {
    return ErrorAt(config.loc, absl::StrCat(what, ": unknown view '", config.view, "'"));
  }
  SV_ASSIGN_OR_RETURN(LookupPlan plan, LookupOver(config, index, catalog->views[index]));
  for (const LookupPlan& other : catalog->lookups) {
    if (other.name == plan.name) {
      return ErrorAt(config.loc, absl::StrCat(what, " is declared twice"));
    }
  }
  catalog->lookups.push_back(std::move(plan));
  return absl::OkStatus();
}

void CompilePreviousLookups(const config::Config& config, Catalog* catalog) {
  for (size_t i = 0; i < catalog->lookups.size(); ++i) {
    const ViewPlan& view = catalog->views[catalog->lookups[i].view];
    std::optional<LookupPlan>& previous = catalog->previous_lookups.emplace_back();
    if (view.previous < 0) continue;
    // Not over the previous: definition's columns (say, its label is new): none; an engine then
    // rebuilds the view before serving it (engine::RunnablePrevious).
    absl::StatusOr<LookupPlan> plan =
        LookupOver(config.lookups[i], catalog->lookups[i].view, catalog->views[view.previous]);
    if (plan.ok()) previous = *std::move(plan);
  }
}

}  // namespace sv::projection
