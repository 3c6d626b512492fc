// Rebuild of derived views: which are ready to compute (their inputs rebuilt or untouched), and
// their new versions computed over the rebuilt tables of their inputs and the live ones of the
// rest.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {

std::vector<int> Engine::ReadyDerived(const std::vector<bool>& wanted,
                                      const std::vector<bool>& derived_wanted,
                                      const std::function<bool(int)>& rebuilt) const {
  std::vector<int> ready;
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    if (!derived_wanted[v]) continue;
    bool inputs_ready = true;
    for (int input : catalog_->views[v].derived->inputs) {
      // An input still to be rebuilt (by a later source's replay) is not ready; one rebuilt
      // already, or by an earlier derived view in this pass, is.
      const bool pending = derived_wanted[input] || (wanted[input] && !rebuilt(input));
      inputs_ready &=
          !pending || rebuilt(input) || std::find(ready.begin(), ready.end(), input) != ready.end();
    }
    if (inputs_ready) ready.push_back(static_cast<int>(v));
  }
  return ready;
}

absl::Status Engine::BuildDerivedVersions(const std::vector<bool>& wanted,
                                          std::vector<bool>* derived_wanted,
                                          std::map<int, store::TableSpec>* fresh,
                                          const std::vector<store::ViewVersion>& versions,
                                          std::vector<BuiltVersion>* built,
                                          derived::Maintainer* loading) {
  auto rebuilt = [&](int view) { return fresh->count(view) > 0; };
  const std::vector<int> ready = ReadyDerived(wanted, *derived_wanted, rebuilt);
  if (ready.empty()) return absl::OkStatus();
  // Every ready view computed from scratch over the new tables of what was rebuilt and the
  // live tables of the rest (`loading` was already fed the rebuilt rows as they were written).
  const derived::Maintainer::Scanner scan = [&](int view,
                                                const std::function<void(const Row&)>& each) {
    auto it = fresh->find(view);
    return store_->ScanTable(it != fresh->end() ? it->second : ServedTable(view), each);
  };
  std::unique_ptr<derived::Maintainer> own;
  derived::Maintainer* compute = loading;
  if (compute != nullptr) {
    SV_RETURN_IF_ERROR(compute->FinishLoad(scan));
  } else {
    SV_ASSIGN_OR_RETURN(const projection::Catalog* over, CatalogReading(rebuilt));
    own = std::make_unique<derived::Maintainer>(over);
    ClockMaintainer(own.get());
    compute = own.get();
    SV_RETURN_IF_ERROR(compute->Load(scan, ready));
  }
  for (int v : ready) {
    const projection::ViewPlan& view = catalog_->views[v];
    int64_t max_version = 0;
    for (const auto& vv : versions) {
      if (vv.view == view.name) max_version = std::max(max_version, vv.version);
    }
    BuiltVersion b{v, std::max(max_version, versions_[v]) + 1, {}};
    b.table = TableFor(view, b.version);
    // Recorded before its table is created, as in Rebuild.
    SV_RETURN_IF_ERROR(store_->RecordViewVersion(NewVersionRecord(view, b.version, b.table.name)));
    SV_RETURN_IF_ERROR(store_->CreateTable(b.table));
    if (!view.derived->refresh.empty()) {
      // Recomputed by the store; the views it reads are refreshed again after the swap.
      SV_RETURN_IF_ERROR(Refresh(v, b.table));
      (*fresh)[v] = b.table;
      (*derived_wanted)[v] = false;
      built->push_back(std::move(b));
      continue;
    }
    std::vector<std::pair<std::string, Row>> rows;
    compute->ForEachRow(
        v, [&](const Row& row) { rows.emplace_back(EncodeKeyOf(row, view.key), row); });
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t next = 0;
    SV_RETURN_IF_ERROR(store_->BulkInsert(b.table, [&]() -> const Row* {
      return next < rows.size() ? &rows[next++].second : nullptr;
    }));
    Progress(absl::StrFormat("rebuild %s: %zu derived rows written", b.table.name, rows.size()));
    (*fresh)[v] = b.table;
    (*derived_wanted)[v] = false;
    built->push_back(std::move(b));
  }
  return absl::OkStatus();
}

}  // namespace sv::engine
