#include "server/org_activity.h"

#include <utility>

namespace sv::server {

OrgActivity::OrgActivity(const projection::Catalog& catalog, Clock clock)
    : clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }) {
  tenancy_.resize(catalog.views.size());
  last_change_.resize(catalog.views.size());
  for (size_t v = 0; v < catalog.views.size(); ++v) {
    const projection::ViewPlan& plan = catalog.views[v];
    tenancy_[v].column = plan.tenant;
    for (size_t k = 0; k < plan.key.size(); ++k) {
      if (plan.tenant >= 0 && plan.key[k] == plan.tenant) {
        tenancy_[v].key_index = static_cast<int>(k);
      }
    }
  }
}

std::vector<bool> OrgActivity::Watched(size_t view_count) const {
  std::vector<bool> watched(view_count, false);
  for (size_t v = 0; v < view_count && v < tenancy_.size(); ++v) {
    watched[v] = tenancy_[v].column >= 0;
  }
  return watched;
}

void OrgActivity::OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                              const std::vector<Row>& deleted_keys) {
  const Tenancy& t = tenancy_[view];
  if (t.column < 0) return;
  // The batch's organizations first, then one lock: a batch holds thousands of rows of a few.
  absl::flat_hash_map<std::string, bool> orgs;
  const Value* last = nullptr;  // a batch's rows come in runs of one organization
  for (const auto& row : upserts) {
    if (static_cast<size_t>(t.column) >= row->size()) continue;
    const Value& org = (*row)[t.column];
    if (org.is_null() || (last != nullptr && *last == org)) continue;
    last = &org;
    orgs.try_emplace(org.ToString(), true);
  }
  if (t.key_index >= 0) {
    for (const Row& key : deleted_keys) {
      if (static_cast<size_t>(t.key_index) < key.size() && !key[t.key_index].is_null()) {
        orgs.try_emplace(key[t.key_index].ToString(), true);
      }
    }
  }
  if (orgs.empty()) return;
  const Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [org, unused] : orgs) last_change_[view][org] = now;
}

void OrgActivity::OnReplaced(int view) {
  // A rebuild or refresh rewrote the view: every organization it holds is as fresh as now.
  const Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [org, at] : last_change_[view]) at = now;
}

void OrgActivity::ForEach(
    const std::function<void(int view, const std::string& org, double seconds)>& each) const {
  const Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t v = 0; v < last_change_.size(); ++v) {
    for (const auto& [org, at] : last_change_[v]) {
      each(static_cast<int>(v), org, std::chrono::duration<double>(now - at).count());
    }
  }
}

}  // namespace sv::server
