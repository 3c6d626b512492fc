#include "engine/view_versions.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "store/sql_text.h"

namespace sv::engine {
namespace {

void SourcesOf(const projection::Catalog& catalog, int view, std::set<std::string>* out) {
  const projection::ViewPlan& plan = catalog.views[view];
  if (plan.derived == nullptr) {
    out->insert(catalog.sources[plan.source].config.name);
    return;
  }
  for (int input : plan.derived->inputs) SourcesOf(catalog, input, out);
}

// The rows of `table`, counted by the store's SQL; -1 where the store has none.
absl::StatusOr<int64_t> CountRows(store::Store& store, const std::string& table) {
  int64_t count = -1;
  absl::Status s =
      store.QuerySelect(absl::StrCat("SELECT count(*) FROM ", store::QuoteIdent(table)),
                        {{"n", Type::kInt}}, [&](const Row& row) { count = row[0].as_int(); });
  if (absl::IsUnimplemented(s)) return -1;
  SV_RETURN_IF_ERROR(s);
  return count;
}

std::string RowText(const Row& row) {
  std::vector<std::string> parts;
  parts.reserve(row.size());
  for (const Value& v : row) parts.push_back(v.is_null() ? "NULL" : v.ToString());
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

// Whether two versions' columns (table specs' or plans') are the same: same name and type.
template <typename Column>
bool SameColumn(const Column& a, const Column& b) {
  return a.name == b.name && a.type == b.type;
}

// The columns of `from` holding `to`'s key, by name and type; empty when `from` lacks one.
std::vector<int> KeyColumnsIn(const store::TableSpec& from, const store::TableSpec& to) {
  std::vector<int> out;
  for (int k : to.key) {
    int found = -1;
    for (size_t c = 0; c < from.columns.size() && found < 0; ++c) {
      if (SameColumn(from.columns[c], to.columns[k])) found = static_cast<int>(c);
    }
    if (found < 0) return {};
    out.push_back(found);
  }
  return out;
}

// Whether every key column of `to` is a key column of `from`: then a row of `from` names its
// row of `to` by identity columns alone, so a key missing from `to` is a missing row. (Same key:
// always. A changed key — columns added to it, say — only from the finer-keyed side.)
bool KeyedWithin(const store::TableSpec& from, const store::TableSpec& to) {
  for (int k : to.key) {
    bool found = false;
    for (int f : from.key) {
      found = found || SameColumn(from.columns[f], to.columns[k]);
    }
    if (!found) return false;
  }
  return true;
}

// Compares about `sample` rows of `from`, spread over its key order, with the rows of the same
// keys in `to` (`to`'s key read from `from`'s columns of the same names). Each table is read
// with its own version's columns (a changed definition may add, drop or retype columns, or
// change the key), and rows compared on the columns both have. Missing keys are problems when
// `to`'s key columns are key columns of `from` (else values of a non-key column name the row,
// which a changed definition may change: said only); differing rows only when
// `same_definition` (a changed definition is expected to change values), otherwise said.
absl::Status CompareSample(store::Store& store, const store::TableSpec& from,
                           const store::TableSpec& to, int64_t from_rows, int sample,
                           bool same_definition, const std::function<void(std::string)>& say,
                           std::vector<std::string>* problems) {
  const std::vector<int> key_columns = KeyColumnsIn(from, to);
  if (key_columns.empty()) {
    say(absl::StrCat("rows of ", from.name, " not looked up in ", to.name, ": ", to.name,
                     " is keyed by a column ", from.name, " does not have"));
    return absl::OkStatus();
  }
  const bool strict = KeyedWithin(from, to);
  const int64_t step = std::max<int64_t>(1, from_rows / std::max(1, sample));
  std::vector<Row> sampled;
  int64_t index = 0;
  SV_RETURN_IF_ERROR(store.ScanTable(from, [&](const Row& row) {
    if (index++ % step == 0 && sampled.size() < static_cast<size_t>(sample)) {
      sampled.push_back(row);
    }
  }));
  // (column of `from`, column of `to`) of each column both have, by name and type.
  std::vector<std::pair<size_t, size_t>> shared;
  for (size_t f = 0; f < from.columns.size(); ++f) {
    for (size_t t = 0; t < to.columns.size(); ++t) {
      if (SameColumn(from.columns[f], to.columns[t])) shared.emplace_back(f, t);
    }
  }
  int64_t differing = 0;
  int64_t unmatched = 0;
  for (const Row& row : sampled) {
    Row key;
    for (int k : key_columns) key.push_back(row[k]);
    SV_ASSIGN_OR_RETURN(std::optional<Row> other, store.GetRow(to, key));
    if (!other) {
      const std::string line =
          absl::StrCat("key ", RowText(key), " is in ", from.name, " but not in ", to.name);
      if (strict) {
        problems->push_back(line);
      } else if (++unmatched <= 3) {
        say(absl::StrCat("not matched (the key changed): ", line));
      }
      continue;
    }
    bool same = true;
    for (const auto& [f, t] : shared) same = same && row[f] == (*other)[t];
    if (same) continue;
    ++differing;
    const std::string line =
        absl::StrCat(from.name, " ", RowText(row), " vs ", to.name, " ", RowText(*other));
    if (same_definition) {
      problems->push_back(absl::StrCat("row differs: ", line));
    } else if (differing <= 3) {
      say(absl::StrCat("differs (the definition changed): ", line));
    }
  }
  say(absl::StrCat("compared ", sampled.size(), " rows of ", from.name, " with ", to.name, ": ",
                   differing, " differ",
                   strict ? "" : absl::StrCat(", ", unmatched, " unmatched")));
  return absl::OkStatus();
}

// The table of `version` of view `view` read with the columns of the definition it was built
// from: the config's, or the view's previous: one.
store::TableSpec VersionTable(const projection::Catalog& catalog, int view,
                              const store::ViewVersion& version) {
  const projection::ViewPlan& plan = catalog.views[view];
  const projection::ViewPlan* previous = RunnablePrevious(catalog, view);
  store::TableSpec spec = TableFor(
      previous != nullptr && version.definition_hash == previous->definition_hash ? *previous
                                                                                  : plan,
      version.version);
  spec.name = version.table;
  return spec;
}

// The checks before `target` becomes the active version of `view`.
absl::Status Validate(store::Store& store, const projection::Catalog& catalog, int view_index,
                      const store::ViewVersion& serving, const store::ViewVersion& target,
                      int sample, const std::function<void(std::string)>& say) {
  const projection::ViewPlan& view = catalog.views[view_index];
  SV_ASSIGN_OR_RETURN(const int64_t serving_rows, CountRows(store, serving.table));
  SV_ASSIGN_OR_RETURN(const int64_t target_rows, CountRows(store, target.table));
  std::vector<std::string> problems;
  if (serving_rows >= 0) {
    say(absl::StrCat("rows: ", serving.table, " ", serving_rows, ", ", target.table, " ",
                     target_rows));
    if (serving_rows != target_rows) {
      problems.push_back(absl::StrCat("row counts differ: ", serving.table, " has ", serving_rows,
                                      ", ", target.table, " has ", target_rows));
    }
  }
  // Each table is read with its own definition's columns: keys are compared, and the values
  // of the columns both definitions have.
  const store::TableSpec target_spec = VersionTable(catalog, view_index, target);
  const store::TableSpec serving_spec = VersionTable(catalog, view_index, serving);
  const bool same_definition = serving.definition_hash == target.definition_hash;
  absl::Status sampled = CompareSample(store, target_spec, serving_spec, target_rows, sample,
                                       same_definition, say, &problems);
  if (sampled.ok()) {
    sampled = CompareSample(store, serving_spec, target_spec, serving_rows, sample, same_definition,
                            say, &problems);
  }
  if (!sampled.ok()) {
    say(absl::StrCat("rows not compared (", sampled.message(), "): counts only"));
  }
  if (problems.empty()) return absl::OkStatus();
  for (const std::string& p : problems) say(p);
  return absl::FailedPreconditionError(absl::StrCat(
      "view ", view.name, ": version ", target.version, " fails validation against version ",
      serving.version, ": ", problems.front(),
      problems.size() > 1 ? absl::StrCat(" (and ", problems.size() - 1, " more)") : ""));
}

}  // namespace

const projection::ViewPlan* RunnablePrevious(const projection::Catalog& catalog, int view,
                                             std::string* why) {
  std::string reason;
  if (why == nullptr) why = &reason;
  const projection::ViewPlan& plan = catalog.views[view];
  const int index = plan.previous - static_cast<int>(catalog.views.size());
  if (plan.previous < 0 || index < 0 || index >= static_cast<int>(catalog.previous_views.size())) {
    *why = "it has no previous: definition";
    return nullptr;
  }
  const projection::ViewPlan& previous = catalog.previous_views[index];
  // Any source: a change feed's build folds a new snapshot beside the live slot, then the live
  // records committed after it (engine/tenant_rebuild.cc).
  // The columns and the key are free to change: readers (lookups too) read each version with
  // its own columns and key, and validation looks rows up by the key columns both versions have.
  for (size_t i = 0; i < catalog.lookups.size(); ++i) {
    if (catalog.lookups[i].view == view && !catalog.previous_lookups[i]) {
      *why = absl::StrCat("lookup ", catalog.lookups[i].name,
                          " reads it and does not fit its previous: definition's columns");
      return nullptr;
    }
  }
  return &previous;
}

bool DefinedBy(const projection::Catalog& catalog, int view, const store::ViewVersion& version) {
  if (version.definition_hash == catalog.views[view].definition_hash) return true;
  const projection::ViewPlan* previous = RunnablePrevious(catalog, view);
  return previous != nullptr && version.definition_hash == previous->definition_hash;
}

bool Maintainable(const projection::ViewPlan& view, const store::ViewVersion& version) {
  return view.derived == nullptr && version.view == view.name &&
         version.definition_hash == view.definition_hash;
}

absl::StatusOr<std::string> CurrentAsOf(store::StateStore& store,
                                        const projection::Catalog& catalog, int view) {
  std::set<std::string> sources;
  SourcesOf(catalog, view, &sources);
  std::vector<std::string> parts;
  for (const std::string& source : sources) {
    SV_ASSIGN_OR_RETURN(auto positions, store.GetPositions(source));
    for (const auto& [partition, position] : positions) {
      parts.push_back(absl::StrCat(source, "/", partition, "=", position));
    }
  }
  return absl::StrJoin(parts, ";");
}

absl::StatusOr<std::vector<VersionInfo>> ListVersions(store::Store& store,
                                                      const projection::Catalog& catalog,
                                                      const std::string& view) {
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store.ListViewVersions());
  std::map<std::string, int64_t> active;
  for (const auto& v : versions) {
    if (v.active) active[v.view] = v.version;
  }
  std::vector<VersionInfo> out;
  for (const store::ViewVersion& v : versions) {
    if (!view.empty() && v.view != view) continue;
    VersionInfo& info = out.emplace_back();
    info.version = v;
    if (v.active) {
      info.role = "active";
    } else if (!v.kept) {
      info.role = "leftover";
    } else {
      info.role = v.version < active[v.view] ? "standby" : "candidate";
    }
    SV_ASSIGN_OR_RETURN(info.rows, CountRows(store, v.table));
    info.maintained = !v.active && v.kept && v.as_of == kMaintainedAsOf;
    const int plan = catalog.FindView(v.view);
    if (!v.active && !info.maintained && plan >= 0) {
      SV_ASSIGN_OR_RETURN(const std::string now, CurrentAsOf(store, catalog, plan));
      info.lags = v.as_of != now;
    }
  }
  return out;
}

absl::StatusOr<store::ViewVersion> SwitchVersion(store::Store& store,
                                                 const projection::Catalog& catalog,
                                                 const SwitchRequest& request,
                                                 const std::function<void(std::string)>& say,
                                                 const Activate& activate) {
  const int plan_index = catalog.FindView(request.view);
  if (plan_index < 0) {
    return absl::NotFoundError(absl::StrCat("no view named '", request.view, "'"));
  }
  const projection::ViewPlan& plan = catalog.views[plan_index];
  const bool promote = request.kind == SwitchKind::kPromote;
  const char* verb = promote ? "promote" : "roll back";
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store.ListViewVersions());
  std::optional<store::ViewVersion> serving, target;
  for (const store::ViewVersion& v : versions) {
    if (v.view != request.view) continue;
    if (v.active) serving = v;
  }
  if (!serving) {
    return absl::FailedPreconditionError(absl::StrCat("view ", request.view, " has no version"));
  }
  for (const store::ViewVersion& v : versions) {
    if (v.view != request.view || v.active) continue;
    if (request.version) {
      if (v.version == *request.version) target = v;
      continue;
    }
    if (!v.kept || (promote ? v.version < serving->version : v.version > serving->version)) {
      continue;
    }
    // The newest candidate, or the newest standby (the version active before this one).
    if (!target || v.version > target->version) target = v;
  }
  if (!target && promote && !request.version) {
    for (const store::ViewVersion& v : versions) {
      // A version of the config's definition being built beside the serving one.
      if (v.view == request.view && !v.active && !v.kept && v.version > serving->version &&
          v.definition_hash == plan.definition_hash) {
        return absl::FailedPreconditionError(
            absl::StrCat("view ", request.view, ": version ", v.version,
                         " is still being built beside version ", serving->version,
                         " (or was left by an interrupted build): promote it once it is built"));
      }
    }
  }
  if (!target) {
    if (request.version && *request.version == serving->version) {
      return absl::FailedPreconditionError(absl::StrCat(
          "view ", request.view, ": version ", serving->version, " is already the active one"));
    }
    return absl::FailedPreconditionError(
        request.version ? absl::StrCat("view ", request.view, " has no version ", *request.version)
                        : absl::StrCat("view ", request.view, " has no ",
                                       promote ? "newer version to promote (build one with "
                                                 "`streamview rebuild --view V --no-promote`)"
                                               : "standby version to roll back to"));
  }
  if (!DefinedBy(catalog, plan_index, *target)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "view ", request.view, ": cannot ", verb, " to version ", target->version,
        ": it was built from another definition (", target->definition_hash,
        ") than the config's (", plan.definition_hash,
        ") or its previous: one; the engine could not maintain it: switch with the config that "
        "defines it"));
  }
  if (!target->kept) {
    return absl::FailedPreconditionError(
        absl::StrCat("view ", request.view, ": cannot ", verb, " to version ", target->version,
                     ": it is still being built (or was left by an interrupted build)"));
  }
  if (const std::vector<int> readers = DerivedReaders(catalog, plan_index);
      activate == nullptr && !readers.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "view ", request.view, ": cannot ", verb, " while no engine runs: derived view ",
        catalog.views[readers.front()].name,
        " reads it and is computed again in the switch's transaction by the running engine (`POST "
        "/views/",
        request.view, promote ? "/promote" : "/rollback", "`)"));
  }
  SV_ASSIGN_OR_RETURN(const std::string now, CurrentAsOf(store, catalog, plan_index));
  // A maintained version was written by every batch with the serving one: it stands at `now`.
  if (target->as_of != now && target->as_of != kMaintainedAsOf) {
    return absl::FailedPreconditionError(
        absl::StrCat("view ", request.view, ": cannot ", verb, " to version ", target->version,
                     ": it lags (its rows stand at [", target->as_of, "], the live positions are [",
                     now, "], and it was not maintained since); ",
                     promote ? absl::StrCat("rebuild it (`streamview rebuild --view ", request.view,
                                            " --no-promote`): the new candidate is kept current")
                             : std::string("events applied since it was left are not in it")));
  }
  if (promote) {
    SV_RETURN_IF_ERROR(
        Validate(store, catalog, plan_index, *serving, *target, request.sample_rows, say));
  }
  // The version left behind is kept, maintained from now on when the engine can (a rollback
  // or a promotion back stays possible while events arrive), else at the positions it stands
  // at; one maintained version per view: any other one stops here. Recorded before the switch:
  // kept means nothing while a version is active, so a crash in between changes nothing.
  // (One per definition: with a previous: definition, its version stays maintained too.)
  for (store::ViewVersion v : versions) {
    if (v.view != request.view || v.active || v.version == target->version ||
        v.as_of != kMaintainedAsOf ||
        (v.definition_hash != serving->definition_hash && DefinedBy(catalog, plan_index, v))) {
      continue;
    }
    v.as_of = now;
    SV_RETURN_IF_ERROR(store.RecordViewVersion(v));
  }
  store::ViewVersion leaving = *serving;
  leaving.kept = true;
  leaving.as_of =
      plan.derived == nullptr && DefinedBy(catalog, plan_index, leaving) ? kMaintainedAsOf : now;
  SV_RETURN_IF_ERROR(store.RecordViewVersion(leaving));
  if (activate != nullptr) {
    SV_RETURN_IF_ERROR(activate(*target));
  } else {
    SV_RETURN_IF_ERROR(store.ActivateVersion(request.view, target->version, target->table));
  }
  SV_RETURN_IF_ERROR(store.SyncCommitted());  // the caller is told it is done
  say(absl::StrCat("view ", request.view, ": version ", target->version, " (", target->table,
                   ") is active; version ", serving->version, " is kept"));
  target->active = true;
  return *target;
}

absl::Status DropVersion(store::Store& store, const std::string& view, int64_t version) {
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store.ListViewVersions());
  for (const store::ViewVersion& v : versions) {
    if (v.view != view || v.version != version) continue;
    if (v.active) {
      return absl::FailedPreconditionError(
          absl::StrCat("view ", view, ": version ", version,
                       " is the active one; roll back or promote another version first"));
    }
    SV_RETURN_IF_ERROR(store.DropViewVersion(v));
    return store.SyncCommitted();
  }
  return absl::NotFoundError(absl::StrCat("view ", view, " has no version ", version));
}

absl::Status PruneKeptVersions(store::Store& store, const std::string& view, int standbys) {
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store.ListViewVersions());
  int64_t active = 0;
  for (const store::ViewVersion& v : versions) {
    if (v.view == view && v.active) active = v.version;
  }
  int older = 0, newer = 0;
  // Newest first: the ones kept are the nearest to the active version.
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.version > b.version; });
  for (const store::ViewVersion& v : versions) {
    if (v.view != view || v.active || !v.kept) continue;
    const bool keep = v.version < active ? ++older <= standbys : ++newer <= 1;
    if (!keep) SV_RETURN_IF_ERROR(store.DropViewVersion(v));
  }
  return absl::OkStatus();
}

// ---- The engine's side: what a rebuild keeps, and a switch while the loop runs.

absl::StatusOr<store::ViewVersion> Engine::SwitchViewVersion(
    const SwitchRequest& request, const std::function<void(std::string)>& say) {
  SV_RETURN_IF_ERROR(Drain());  // the positions compared are the committed ones
  const int v = catalog_->FindView(request.view);
  SV_ASSIGN_OR_RETURN(
      store::ViewVersion active,
      SwitchVersion(*store_, *catalog_, request, say, [this, v](const store::ViewVersion& target) {
        return ActivateWithDerived(v, target);
      }));
  CancelTenantJob("a view switched versions");
  // A version of the previous: definition is written by the previous plans (as maintained):
  // the loop's own table of the view stays the one of its definition.
  if (active.definition_hash == catalog_->views[v].definition_hash) {
    tables_[v] = TableFor(catalog_->views[v], active.version);
    versions_[v] = active.version;
  }
  // The version left is maintained now instead of the one activated.
  SV_RETURN_IF_ERROR(LoadMaintainedVersions());
  // The working sets hold rows read from the version left. Derived views that read the view
  // were computed again from the one now active, in its transaction (ActivateWithDerived);
  // the others' state is loaded again over the catalog that now serves.
  ReplacedAllObserved();
  if (DerivedReaders(*catalog_, v).empty()) SV_RETURN_IF_ERROR(ResetDerived());
  if (!sources_.empty()) SV_RETURN_IF_ERROR(StartSources());  // fed by the slots now served
  return active;
}

absl::Status Engine::LoadMaintainedVersions() {
  maintained_.clear();
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());
  // Newest first: the newest maintained version of a view is the one kept current.
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.version > b.version; });
  std::vector<bool> taken(catalog_->views.size(), false);
  std::vector<bool> taken_previous(catalog_->views.size(), false);
  for (store::ViewVersion& v : versions) {
    const int view = catalog_->FindView(v.view);
    if (view < 0) continue;  // a view the config dropped: left as it is
    // A version of the previous: definition, active or kept for a rollback: written with that
    // definition's plans by every batch, beside the one the loop writes as the view's.
    const bool previous = RunsPrevious(view) && v.version != versions_[view] &&
                          v.definition_hash == previous_catalog_->views[view].definition_hash &&
                          (v.active || (v.kept && v.as_of == kMaintainedAsOf));
    if (previous && !taken_previous[view]) {
      taken_previous[view] = true;
      maintained_.push_back(
          {view, v.version, TableFor(previous_catalog_->views[view], v.version), true, v.active});
      continue;
    }
    if (v.active || !v.kept || v.as_of != kMaintainedAsOf) continue;
    if (v.version == versions_[view]) continue;  // the loop's own table of the view
    if (!RunsPrevious(view) && v.definition_hash != catalog_->views[view].definition_hash &&
        DefinedBy(*catalog_, view, v)) {
      continue;  // of the previous: definition: maintained by the engine that runs the loop
    }
    if (!taken[view] && Maintainable(catalog_->views[view], v)) {
      taken[view] = true;
      maintained_.push_back({view, v.version, TableFor(catalog_->views[view], v.version)});
      continue;
    }
    // Written up to the last commit by the engine that maintained it: it stands there.
    Progress(absl::StrCat("view ", v.view, ": version ", v.version,
                          " is no longer maintained (not of the config's definition, or not "
                          "the view's newest maintained version)"));
    SV_ASSIGN_OR_RETURN(v.as_of, CurrentAsOf(*store_, *catalog_, view));
    SV_RETURN_IF_ERROR(store_->RecordViewVersion(v));
  }
  return absl::OkStatus();
}

absl::Status Engine::FreezeMaintainedVersions(const std::vector<int>& views) {
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());
  for (int view : views) {
    for (store::ViewVersion v : versions) {
      if (v.view != catalog_->views[view].name || v.active || v.as_of != kMaintainedAsOf) {
        continue;
      }
      SV_ASSIGN_OR_RETURN(v.as_of, CurrentAsOf(*store_, *catalog_, view));
      SV_RETURN_IF_ERROR(store_->RecordViewVersion(v));
    }
  }
  std::erase_if(maintained_, [&](const MaintainedVersion& m) {
    return std::find(views.begin(), views.end(), m.view) != views.end();
  });
  return absl::OkStatus();
}

std::vector<store::TableSpec> Engine::WriteTables() const {
  std::vector<store::TableSpec> tables = tables_;
  for (const MaintainedVersion& m : maintained_) tables.push_back(m.table);
  return tables;
}

std::vector<int> Engine::MaintainedSlots(bool previous) const {
  std::vector<int> slots(catalog_->views.size(), -1);
  for (size_t i = 0; i < maintained_.size(); ++i) {
    if (maintained_[i].previous != previous) continue;
    slots[maintained_[i].view] = static_cast<int>(catalog_->views.size() + i);
  }
  return slots;
}

std::vector<int> Engine::ServedSlots() const {
  const size_t views = catalog_->views.size();
  std::vector<int> slots(views + maintained_.size(), -1);
  for (size_t v = 0; v < views; ++v) slots[v] = static_cast<int>(v);
  for (size_t i = 0; i < maintained_.size(); ++i) {
    if (!maintained_[i].active) continue;
    // Its previous: definition's version serves: the loop's own table of the view is built.
    slots[maintained_[i].view] = -1;
    slots[views + i] = maintained_[i].view;
  }
  return slots;
}

absl::Status Engine::KeepReplacedVersions(const std::vector<BuiltVersion>& built) {
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());
  for (const BuiltVersion& b : built) {
    const std::string& name = catalog_->views[b.view].name;
    for (store::ViewVersion v : versions) {
      if (v.view != name || !v.active || v.version == b.version) continue;
      v.kept = true;
      SV_ASSIGN_OR_RETURN(v.as_of, CurrentAsOf(*store_, *catalog_, b.view));
      SV_RETURN_IF_ERROR(store_->RecordViewVersion(v));
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::FinishVersions(const std::vector<BuiltVersion>& built, bool promote) {
  for (const BuiltVersion& b : built) {
    const projection::ViewPlan& view = catalog_->views[b.view];
    if (promote) {
      tables_[b.view] = b.table;
      versions_[b.view] = b.version;
    } else {
      // Built at the live positions (the loop is paused during a rebuild).
      store::ViewVersion candidate{view.name, b.version, b.table.name, view.definition_hash, false};
      candidate.config_version = view.config_version;
      candidate.kept = true;
      // A base view's candidate is kept current by the loop from here on (LoadMaintainedVersions
      // after the rebuild); a derived view's stands where it was built.
      if (Maintainable(view, candidate)) {
        candidate.as_of = kMaintainedAsOf;
      } else {
        SV_ASSIGN_OR_RETURN(candidate.as_of, CurrentAsOf(*store_, *catalog_, b.view));
      }
      SV_RETURN_IF_ERROR(store_->RecordViewVersion(candidate));
    }
    SV_RETURN_IF_ERROR(PruneKeptVersions(*store_, view.name, config_.engine.standby_versions));
  }
  return absl::OkStatus();
}

}  // namespace sv::engine
