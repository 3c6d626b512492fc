// A changed definition built beside the serving version (README, "Blue/green versions").
//
// Where the serving version's definition comes from: the view's `previous:` in the config (the
// definition it had, copied under the new one while the new one is deployed). Chosen over
// definitions stored with the versions because a view's plans compile against the whole config
// (sources, params, the views a handler reads): a stored fragment would be compiled against a
// config it was not written for, while `previous:` is checked against this one at load, and its
// hash must be the serving version's, so a wrong copy is caught at start (the view is then
// rebuilt before the loop starts, as without `previous:`).
//
// How: the config is compiled a second time with each view's `previous:` definition in its place
// (previous_catalog_: the same views at the same indices). The loop folds every event with those
// plans into the previous definition's version (active, or kept for a rollback) in the same
// transaction as the view's own, as it does for a maintained version (engine/view_versions.h).
// The view's own definition gets a new version, empty, written by the loop from the start, and
// built by a fold of the source beside the loop (the tenant rebuild's job, for every
// organization; a change feed's fold is a new snapshot beside the live slot, then the live
// transactions committed after it): once the fold stands where the loop does, the version's rows
// are put right in one batch and it is recorded as a kept, maintained candidate, which `views
// promote` switches to after validating it. Killed before that, it is not recorded as kept: the
// next start drops it and builds it again, while the serving version, written by every commit, is
// as current as the positions.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

constexpr int kBuildAttempts = 3;  // failed background builds in a row before giving up

}  // namespace

absl::Status Engine::CompilePreviousDefinitions() {
  bool any = false;
  for (const config::ViewConfig& vc : config_.views) any |= vc.previous != nullptr;
  if (!any) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<projection::Catalog>> compiled =
      CompileWithPrevious(std::vector<bool>(catalog_->views.size(), true));
  if (!compiled.ok()) {
    // Say, a derived view over a view whose previous: definition lacks a column it reads.
    Progress(absl::StrCat("the previous: definitions do not compile with the rest of the config (",
                          compiled.status().message(),
                          "): a changed view is rebuilt before the loop starts"));
    return absl::OkStatus();
  }
  previous_catalog_ = *std::move(compiled);
  RefusePreviousUnderChangedDerived();
  return absl::OkStatus();
}

bool Engine::RunsPrevious(int view) const {
  return previous_catalog_ != nullptr && options_.start_sources && !options_.keep_changed_views &&
         !config_.store.shared_by_partition && previous_refused_[view].empty() &&
         RunnablePrevious(*catalog_, view) != nullptr;
}

absl::StatusOr<bool> Engine::PrepareBesidePrevious(int v, const store::ViewVersion& active,
                                                   const std::vector<store::ViewVersion>& versions,
                                                   int64_t max_version) {
  const projection::ViewPlan& view = catalog_->views[v];
  if (view.previous < 0) return false;
  std::string why;
  const projection::ViewPlan* previous = RunnablePrevious(*catalog_, v, &why);
  if (previous != nullptr && !RunsPrevious(v)) {
    why = previous_catalog_ == nullptr    ? "the previous: definitions do not compile"
          : !previous_refused_[v].empty() ? previous_refused_[v]
                                          : "this engine does not run the loop";
  }
  if (previous == nullptr || !RunsPrevious(v)) {
    Progress(absl::StrCat("view ", view.name, ": its previous: definition is not kept current (",
                          why, "); the view is rebuilt before the loop starts"));
    return false;
  }
  if (active.definition_hash != previous->definition_hash) {
    Progress(absl::StrCat("view ", view.name, ": its previous: definition (",
                          previous->definition_hash, ") is not the one its active version ",
                          active.version, " was built from (", active.definition_hash,
                          "); the view is rebuilt before the loop starts"));
    return false;
  }
  // Built before a restart: kept current since, it stands at the live positions.
  const store::ViewVersion* built = nullptr;
  for (const store::ViewVersion& vv : versions) {
    if (vv.view != view.name || vv.active || !vv.kept || vv.as_of != kMaintainedAsOf ||
        vv.definition_hash != view.definition_hash) {
      continue;
    }
    if (built == nullptr || vv.version > built->version) built = &vv;
  }
  if (built != nullptr) {
    tables_[v] = TableFor(view, built->version);
    versions_[v] = built->version;
    Progress(absl::StrCat("view ", view.name, ": version ", active.version,
                          " (its previous: definition) serves; version ", built->version,
                          " (the config's) is kept current beside it"));
    return true;
  }
  const int64_t version = std::max(max_version, active.version) + 1;
  const store::TableSpec table = TableFor(view, version);
  // Recorded not kept: a start after a crash drops it (DropLeftoverVersions) and builds again.
  SV_RETURN_IF_ERROR(store_->RecordViewVersion(NewVersionRecord(view, version, table.name)));
  SV_RETURN_IF_ERROR(store_->CreateTable(table));
  tables_[v] = table;
  versions_[v] = version;
  pending_builds_.push_back(v);
  Progress(absl::StrCat("view ", view.name, ": version ", active.version,
                        " (its previous: definition) serves and is kept current; version ", version,
                        " (the config's definition) is built beside it"));
  return true;
}

absl::Status Engine::StartPendingBuild() {
  if (pending_builds_.empty() || tenant_job_ != nullptr || sources_.empty()) {
    return absl::OkStatus();
  }
  const int v = pending_builds_.front();
  const std::string name = catalog_->views[v].name;
  TenantRebuildRequest request;
  request.views = {name};
  request.whole = true;
  const int64_t version = versions_[v];
  absl::Status started = StartTenantRebuild(
      request, [this, v, name, version](const absl::StatusOr<RebuildStats>& result) {
        absl::Status s = result.status();
        if (s.ok() && versions_[v] == version) {
          // It stands where the loop does, and every batch writes it from now on.
          store::ViewVersion record =
              NewVersionRecord(catalog_->views[v], version, tables_[v].name);
          record.kept = true;
          record.as_of = kMaintainedAsOf;
          s = store_->RecordViewVersion(record);
        }
        if (s.ok()) {
          build_failures_ = 0;
          Progress(absl::StrCat("view ", name, ": version ", version,
                                " is built and kept current; promote it with `streamview views "
                                "promote --view ",
                                name, "` (or POST /views/", name, "/promote)"));
          return;
        }
        // Cancelled (a restart, a switch): started again; a failure a few times at most.
        const bool cancelled = absl::IsAborted(s);
        if (!cancelled) ++build_failures_;
        if (build_failures_ >= kBuildAttempts) {
          Progress(absl::StrCat("view ", name, ": building version ", version, " failed ",
                                build_failures_, " times (", s.message(),
                                "); given up until the engine starts again"));
          return;
        }
        Progress(absl::StrCat("view ", name, ": building version ", version, " stopped (",
                              s.message(), "); starting it again"));
        pending_builds_.push_back(v);
      });
  if (absl::IsFailedPrecondition(started)) {
    return absl::OkStatus();  // another fold runs (a verify): tried again at the next turn
  }
  if (!started.ok()) {
    Progress(absl::StrCat("view ", name, ": building version ", version,
                          " could not start: ", started.message()));
  }
  pending_builds_.erase(pending_builds_.begin());
  return absl::OkStatus();
}

void Processor::set_previous_definitions(const projection::Catalog* previous,
                                         std::vector<int> slots) {
  previous_slots_.clear();
  previous_applier_.reset();
  for (int v : *source_views_) {
    if (slots[v] >= 0) {
      previous_slots_ = std::move(slots);
      previous_applier_ = std::make_unique<projection::Applier>(previous);
      return;
    }
  }
}

}  // namespace sv::engine
