#pragma once
// Aggregate snapshots: the state of one aggregate at a version, so that loading it replays
// only the events after that version. One snapshot per aggregate (the latest saved).

#include <cstdint>
#include <optional>
#include <string>

#include "streamview/status.h"
#include "streamview/unit_of_work.h"

namespace streamview {

namespace detail {
struct ConnectionState;
}

struct Snapshot {
  std::string aggregate_type;
  std::string aggregate_id;
  int64_t version = 0;   // the aggregate's version the state stands at
  std::string data;      // the state, as the application serializes it (text, e.g. JSON)
  int64_t saved_us = 0;  // set by Save: microseconds since the epoch
};

// When to take a snapshot: every N events of an aggregate.
class SnapshotPolicy {
 public:
  static SnapshotPolicy EveryNEvents(int64_t n) { return SnapshotPolicy(n); }
  int64_t every() const { return every_; }
  // True when the aggregate went from `previous_version` to `version` across a multiple of N
  // (several events applied at once still take one snapshot).
  bool ShouldSnapshot(int64_t previous_version, int64_t version) const {
    return every_ > 0 && version > previous_version && version / every_ > previous_version / every_;
  }

 private:
  explicit SnapshotPolicy(int64_t every) : every_(every) {}
  int64_t every_;
};

class SnapshotStore {
 public:
  // Replaces the aggregate's snapshot, unless the stored one is at a later version (then
  // nothing is written: a slow writer does not move it back). Returns whether it was written.
  Result<bool> Save(UnitOfWork& uow, const Snapshot& snapshot);
  Result<std::optional<Snapshot>> Load(const std::string& aggregate_type,
                                       const std::string& aggregate_id);
  // Returns whether there was one.
  Result<bool> Delete(UnitOfWork& uow, const std::string& aggregate_type,
                      const std::string& aggregate_id);

 private:
  friend class Connection;
  explicit SnapshotStore(detail::ConnectionState* state) : state_(state) {}
  detail::ConnectionState* state_;
};

}  // namespace streamview
