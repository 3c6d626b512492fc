// Shared stores (store.shared_by_partition): the engines of a consumer group each write for the
// partitions they own, fenced by partition locks taken on assignment. Work outside the batch
// loop that writes for partitions — a rebuild, a dead-letter replay or discard — takes the same
// locks first and refuses while an engine of the group owns one of them.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {

absl::StatusOr<std::vector<int32_t>> Engine::FencePartitions(const std::string& source,
                                                             const std::set<int32_t>& partitions,
                                                             const source::Source& labels,
                                                             std::string_view what) {
  std::vector<int32_t> taken;
  if (!config_.store.shared_by_partition) return taken;  // the engine lock keeps writers out
  std::vector<std::string> owned;
  for (int32_t p : partitions) {
    auto lock = store_->TryLockPartition(source, p);
    if (!lock.ok()) {
      ReleaseFence(source, taken);
      return lock.status();
    }
    if (*lock == store::Store::PartitionLock::kTaken) taken.push_back(p);
    if (*lock == store::Store::PartitionLock::kHeldElsewhere)
      owned.push_back(labels.PartitionLabel(p));
  }
  if (owned.empty()) return taken;
  ReleaseFence(source, taken);
  return absl::FailedPreconditionError(absl::StrCat(
      std::string(what), ": source '", source, "' partition ", absl::StrJoin(owned, ", "),
      owned.size() == 1 ? " is" : " are",
      " owned by a running engine of the group (store.shared_by_partition); stop the group "
      "first, or ask the engine that owns the partition"));
}

void Engine::ReleaseFence(const std::string& source, const std::vector<int32_t>& taken) {
  for (int32_t p : taken) (void)store_->UnlockPartition(source, p);
}

}  // namespace sv::engine
