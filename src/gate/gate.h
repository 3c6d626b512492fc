#pragma once
// Seed 003's per-key ordering rule, and the durable-window dedup for events without a sequence.
// Pure logic: no I/O, no clocks. The engine owns persistence (store/) and decides what "now" is.

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace sv::gate {

enum class Outcome {
  kApply,       // the next sequence: apply now
  kDuplicate,   // == last applied (or already stashed): drop, count
  kOutOfOrder,  // < last applied: drop, count
  kStash,       // > last + 1: keep until the gap fills (or expires to the dead-letter store)
  kHold,        // the key is parked behind a dead letter: keep, in arrival order, until released
};

const char* OutcomeName(Outcome outcome);

// What the gate knows about one key.
struct KeyGate {
  int64_t last_sequence = 0;  // last applied; 0 = nothing applied yet
  int64_t parked_on = 0;      // dead-letter id the key waits behind; 0 = not parked
};

// Classifies a sequenced event. `first_sequence` is the sequence a key must start at.
// Old and duplicate events are dropped even while parked (they can never apply); newer ones
// wait behind the park.
Outcome Classify(const KeyGate& key, int64_t sequence, int64_t first_sequence);

// True when a stash must be given up: its oldest event is older than `max_age_us` at `now_us`
// (both in log time) or it holds more than `max_events` events.
bool StashExpired(int64_t oldest_log_time_us, int64_t now_us, int64_t max_age_us, size_t size,
                  int64_t max_events);

// Event ids seen in the last `capacity` events without a sequence: a FIFO with a hash set.
// The engine persists insertions and prunes in the same transaction as their effects. Each id
// carries its order of arrival (a per-source clock, not a source position: offsets of different
// Kafka partitions are not comparable).
class EventIdWindow {
 public:
  explicit EventIdWindow(size_t capacity) : capacity_(capacity) {}
  bool Contains(const std::string& id) const { return ids_.contains(id); }
  // Remembers `id` seen at `position`; returns the position below which ids were forgotten
  // (0 when nothing was evicted).
  int64_t Insert(const std::string& id, int64_t position);
  size_t size() const { return order_.size(); }
  // The order of the oldest id remembered; 0 when empty.
  int64_t oldest() const { return order_.empty() ? 0 : order_.front().first; }
  void Clear() {
    ids_.clear();
    order_.clear();
  }

 private:
  size_t capacity_;
  absl::flat_hash_set<std::string> ids_;
  std::deque<std::pair<int64_t, std::string>> order_;
};

}  // namespace sv::gate
