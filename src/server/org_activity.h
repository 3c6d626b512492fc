#pragma once
// Seed 000's staleness per organization ("time since last update", `mv` and `org` labels):
// when each tenant-scoped view last changed a row of each organization, followed from the
// engine's commits. Counted from this process's start; an organization the view has not
// changed since then is not listed.

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/row_observer.h"
#include "projection/projection.h"

namespace sv::server {

class OrgActivity final : public engine::RowObserver {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  explicit OrgActivity(const projection::Catalog& catalog, Clock clock = nullptr);

  // Calls each(view, org, seconds since the view last changed a row of org).
  void ForEach(
      const std::function<void(int view, const std::string& org, double seconds)>& each) const;

  // engine::RowObserver
  std::vector<bool> Watched(size_t view_count) const override;
  void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                   const std::vector<Row>& deleted_keys) override;
  void OnReplaced(int view) override;

 private:
  struct Tenancy {
    int column = -1;     // the tenant column in a row
    int key_index = -1;  // its place in the key, or -1 (a delete then names no organization)
  };
  using Time = std::chrono::system_clock::time_point;

  std::vector<Tenancy> tenancy_;  // by view
  Clock clock_;
  mutable std::mutex mu_;
  std::vector<absl::flat_hash_map<std::string, Time>> last_change_;  // by view, by org
};

}  // namespace sv::server
