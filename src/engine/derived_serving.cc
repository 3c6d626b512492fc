// The derived views follow the version of each view that readers read (README, "Blue/green
// versions").
//
// While a view's `previous:` definition's version serves, the derived views that read it are
// computed from that version's rows, with their plans compiled over that definition's columns
// (serving_catalog_), and fed that version's changes (the working-set slot that serves, not the
// loop's own table of the view, which holds the version built beside). A promotion or rollback
// computes them again from the version switched to and writes what differs in the transaction
// that activates it: readers see the old version with the old derived rows or the new with the
// new, never a mix.

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "engine/view_versions.h"

namespace sv::engine {

bool SameShape(const store::TableSpec& a, const store::TableSpec& b) {
  if (a.key != b.key || a.columns.size() != b.columns.size()) return false;
  for (size_t i = 0; i < a.columns.size(); ++i) {
    if (a.columns[i].name != b.columns[i].name || a.columns[i].type != b.columns[i].type) {
      return false;
    }
  }
  return true;
}

std::vector<int> DerivedReaders(const projection::Catalog& catalog, int view) {
  std::vector<bool> reads(catalog.views.size(), false);
  reads[view] = true;
  std::vector<int> out;
  // Derived views follow their inputs in the catalog: one pass sees every chain.
  for (size_t v = 0; v < catalog.views.size(); ++v) {
    const auto& derived = catalog.views[v].derived;
    if (derived == nullptr) continue;
    for (int input : derived->inputs) reads[v] = reads[v] || reads[input];
    if (reads[v] && derived->refresh.empty()) out.push_back(static_cast<int>(v));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<projection::Catalog>> Engine::CompileWithPrevious(
    const std::vector<bool>& previous_of) const {
  if (std::find(previous_of.begin(), previous_of.end(), true) == previous_of.end()) {
    return nullptr;  // the config's own catalog_
  }
  config::Config mixed = config_;
  for (config::ViewConfig& vc : mixed.views) {
    const int v = catalog_->FindView(vc.name);
    if (vc.previous == nullptr || v < 0 || !previous_of[v]) continue;
    config::ViewConfig before = *vc.previous;
    before.name = vc.name;
    before.internal = vc.internal;
    vc = std::move(before);
  }
  return projection::Compile(mixed);
}

void Engine::RefusePreviousUnderChangedDerived() {
  previous_refused_.assign(catalog_->views.size(), "");
  if (previous_catalog_ == nullptr) return;
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    if (catalog_->views[v].previous < 0) continue;
    for (int d : DerivedReaders(*catalog_, static_cast<int>(v))) {
      // Its table is written with one set of columns whichever version serves.
      if (SameShape(TableFor(catalog_->views[d], 1), TableFor(previous_catalog_->views[d], 1))) {
        continue;
      }
      previous_refused_[v] = absl::StrCat("derived view ", catalog_->views[d].name,
                                          " would have other columns over its previous: one");
      break;
    }
  }
}

std::vector<bool> Engine::PreviousServing() const {
  std::vector<bool> serving(catalog_->views.size(), false);
  for (const MaintainedVersion& m : maintained_) {
    if (m.previous && m.active) serving[m.view] = true;
  }
  return serving;
}

absl::Status Engine::ChooseServingCatalog() {
  SV_ASSIGN_OR_RETURN(serving_catalog_, CompileWithPrevious(PreviousServing()));
  return absl::OkStatus();
}

absl::StatusOr<const projection::Catalog*> Engine::CatalogReading(
    const std::function<bool(int)>& rebuilt) {
  std::vector<bool> previous = PreviousServing();
  for (size_t v = 0; v < previous.size(); ++v) {
    previous[v] = previous[v] && !rebuilt(static_cast<int>(v));
  }
  SV_ASSIGN_OR_RETURN(build_catalog_, CompileWithPrevious(previous));
  return build_catalog_ != nullptr ? build_catalog_.get() : catalog_.get();
}

const projection::Catalog& Engine::ServingCatalog() const {
  return serving_catalog_ != nullptr ? *serving_catalog_ : *catalog_;
}

const store::TableSpec& Engine::ServedTable(int view) const {
  for (const MaintainedVersion& m : maintained_) {
    if (m.view == view && m.active) return m.table;
  }
  return tables_[view];
}

absl::Status Engine::LoadDerived() {
  if (derived_ == nullptr || derived_->empty()) return absl::OkStatus();
  ClockMaintainer(derived_.get());
  SV_RETURN_IF_ERROR(derived_->Load([this](int view, const std::function<void(const Row&)>& each) {
    return store_->ScanTable(ServedTable(view), each);
  }));
  next_deadline_us_.store(derived_->NextDeadline().value_or(std::numeric_limits<int64_t>::max()));
  derived_stale_ = false;
  return absl::OkStatus();
}

absl::Status Engine::ResetDerived() {
  derived_.reset();  // points into the serving catalog replaced next
  SV_RETURN_IF_ERROR(ChooseServingCatalog());
  derived_ = std::make_unique<derived::Maintainer>(&ServingCatalog());
  return LoadDerived();
}

void Engine::WatchForDerived(CachedRowSet& rows, std::vector<DerivedChange>* changes) {
  if (derived_ == nullptr || derived_->empty()) return;
  // The slots readers read, as the view they are: a version built beside feeds nothing.
  std::vector<int> served = ServedSlots();
  std::vector<bool> watched(served.size());
  for (size_t slot = 0; slot < served.size(); ++slot) {
    watched[slot] = served[slot] >= 0 && derived_->Reads(served[slot]);
  }
  rows.set_listener(std::move(watched),
                    [changes, served = std::move(served)](int slot, CachedRowSet::SharedRow old_row,
                                                          CachedRowSet::SharedRow new_row) {
                      // Applied with the batch's write, on the committing thread.
                      changes->push_back({served[slot], std::move(old_row), std::move(new_row)});
                    });
}

absl::Status Engine::ActivateWithDerived(int view, const store::ViewVersion& target) {
  const projection::ViewPlan& plan = catalog_->views[view];
  const std::vector<int> readers = DerivedReaders(*catalog_, view);
  if (readers.empty()) return store_->ActivateVersion(plan.name, target.version, target.table);
  std::vector<bool> previous = PreviousServing();
  // SwitchVersion checked that the catalog defines it: the config's definition or the previous:
  // one, which the derived views can follow only where this engine runs it.
  previous[view] = target.definition_hash != plan.definition_hash;
  if (previous[view] && !RunsPrevious(view)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "view ", plan.name, ": derived view ", catalog_->views[readers.front()].name,
        " reads it, and this engine does not keep its previous: definition's version current"));
  }
  SV_ASSIGN_OR_RETURN(std::unique_ptr<projection::Catalog> serving, CompileWithPrevious(previous));
  const projection::Catalog* over = serving != nullptr ? serving.get() : catalog_.get();
  store::TableSpec target_table = TableFor(over->views[view], target.version);
  target_table.name = target.table;
  // Its memory is better spent on the computation; loaded again if the switch fails.
  derived_ = std::make_unique<derived::Maintainer>(&ServingCatalog());
  derived_stale_ = true;
  auto computed = std::make_unique<derived::Maintainer>(over);
  ClockMaintainer(computed.get());
  SV_RETURN_IF_ERROR(computed->Load([&](int v, const std::function<void(const Row&)>& each) {
    return store_->ScanTable(v == view ? target_table : ServedTable(v), each);
  }));
  auto batch = store_->BeginBatch();
  for (int d : readers) {
    const store::TableSpec& table = tables_[d];
    absl::flat_hash_map<std::string, Row> held;
    SV_RETURN_IF_ERROR(store_->ScanTable(
        table, [&](const Row& row) { held.emplace(EncodeKeyOf(row, table.key), row); }));
    std::vector<Row> changed;
    computed->ForEachRow(d, [&](const Row& row) {
      auto it = held.find(EncodeKeyOf(row, table.key));
      if (it != held.end()) {
        const bool same = it->second == row;
        held.erase(it);
        if (same) return;
      }
      changed.push_back(row);
    });
    std::vector<const Row*> upserts;
    upserts.reserve(changed.size());
    for (const Row& row : changed) upserts.push_back(&row);
    if (!upserts.empty()) SV_RETURN_IF_ERROR(batch->UpsertRows(table, upserts));
    for (const auto& [encoded, row] : held) {
      Row key;
      for (int k : table.key) key.push_back(row[k]);
      SV_RETURN_IF_ERROR(batch->Delete(table, key));
    }
    Progress(absl::StrCat("view ", plan.name, ": derived view ", catalog_->views[d].name,
                          " computed again from version ", target.version, ": ", changed.size(),
                          " rows written, ", held.size(), " deleted"));
  }
  SV_RETURN_IF_ERROR(batch->ActivateVersion(plan.name, target.version, target.table));
  SV_RETURN_IF_ERROR(batch->Commit());
  // What the store now holds: the state the loop goes on from.
  derived_.reset();
  serving_catalog_ = std::move(serving);
  derived_ = std::move(computed);
  derived_stale_ = false;
  next_deadline_us_.store(derived_->NextDeadline().value_or(std::numeric_limits<int64_t>::max()));
  return absl::OkStatus();
}

}  // namespace sv::engine
