#include "gate/gate.h"

#include <algorithm>
#include <climits>

namespace sv::gate {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApply:
      return "apply";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kOutOfOrder:
      return "out_of_order";
    case Outcome::kStash:
      return "stash";
    case Outcome::kHold:
      return "hold";
  }
  return "?";
}

Outcome Classify(const KeyGate& key, int64_t sequence, int64_t first_sequence) {
  const int64_t expected = key.last_sequence == 0 ? first_sequence : key.last_sequence + 1;
  if (key.last_sequence != 0 && sequence == key.last_sequence) return Outcome::kDuplicate;
  if (sequence < expected) return Outcome::kOutOfOrder;
  if (key.parked_on != 0) return Outcome::kHold;
  return sequence == expected ? Outcome::kApply : Outcome::kStash;
}

bool StashExpired(int64_t oldest_log_time_us, int64_t now_us, int64_t max_age_us, size_t size,
                  int64_t max_events) {
  return now_us - oldest_log_time_us > max_age_us || static_cast<int64_t>(size) > max_events;
}

bool EventIdWindow::IsDuplicate(const std::string& id, int64_t position) const {
  auto it = ids_.find(id);
  if (it == ids_.end()) return false;
  const int64_t seen = it->second.second;
  return (position > seen ? position - seen : seen - position) <= capacity_;
}

void EventIdWindow::Remember(const std::string& id, int32_t partition, int64_t position) {
  auto [it, added] = ids_.try_emplace(id, partition, position);
  if (!added) {
    // Applied again beyond the window: it is remembered at its new position.
    by_partition_[it->second.first].erase({it->second.second, id});
    it->second = {partition, position};
  }
  by_partition_[partition].emplace(position, id);
}

void DedupProgress::Read(int32_t partition, int64_t position) {
  auto [it, added] = read.try_emplace(partition, position);
  it->second = std::max(it->second, position);
}

void DedupProgress::Pending(int32_t partition, int64_t position) {
  auto [it, added] = pending.try_emplace(partition, position);
  it->second = std::min(it->second, position);
}

void DedupProgress::Merge(const DedupProgress& other) {
  for (const auto& [partition, position] : other.read) Read(partition, position);
  for (const auto& [partition, position] : other.pending) Pending(partition, position);
}

std::map<int32_t, int64_t> DedupProgress::Floors() const {
  std::map<int32_t, int64_t> floors = read;
  for (const auto& [partition, position] : pending) {
    auto [it, added] = floors.try_emplace(partition, position);
    it->second = std::min(it->second, position);
  }
  return floors;
}

int64_t DedupProgress::StoreBound(int64_t capacity) const {
  const std::map<int32_t, int64_t> floors = Floors();
  if (floors.empty()) return 0;
  int64_t bound = INT64_MAX;
  for (const auto& [partition, floor] : floors) bound = std::min(bound, floor - capacity);
  return std::max<int64_t>(bound, 0);
}

void EventIdWindow::Forget(const DedupProgress& progress) {
  const std::map<int32_t, int64_t> floors = progress.Floors();
  if (floors.empty()) return;
  const int64_t every_partition = progress.StoreBound(capacity_);
  for (auto& [partition, entries] : by_partition_) {
    auto floor = floors.find(partition);
    // Ids of a partition with nothing to decide in this run, or loaded without a partition,
    // wait for the bound of every partition.
    const int64_t below = floor != floors.end() ? floor->second - capacity_ : every_partition;
    while (!entries.empty() && entries.begin()->first < below) {
      ids_.erase(entries.begin()->second);
      entries.erase(entries.begin());
    }
  }
}

}  // namespace sv::gate
