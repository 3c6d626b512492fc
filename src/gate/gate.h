#pragma once
// Seed 003's per-key ordering rule, and the durable-window dedup for events without a sequence.
// Pure logic: no I/O, no clocks. The engine owns persistence (store/) and decides what "now" is.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"

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

// Why an event cannot be applied, when the fault is the event's own (it does not decode, its
// type is unknown, a view's expression fails on it): it becomes a dead letter and parks its key.
// Infrastructure failures (a store read) are absl::Status errors instead: they fail the batch,
// which the engine retries from the stored positions; they never park a key.
struct EventError {
  std::string reason;
};

// Where a source stands for dedup, per partition: the furthest position read and the oldest
// position still pending (stashed or held, to be decided later). Lanes and fold workers each
// keep their own; merged, they give the source's.
struct DedupProgress {
  std::map<int32_t, int64_t> read;
  std::map<int32_t, int64_t> pending;

  void Read(int32_t partition, int64_t position);
  void Pending(int32_t partition, int64_t position);
  void Merge(const DedupProgress& other);
  // Per partition, the lowest position still to be decided.
  std::map<int32_t, int64_t> Floors() const;
  // The position below which the store keeps no event ids: no record still to be decided can
  // repeat one (every partition's floor less `capacity`; 0 when none). A function of the input
  // alone, so the live run with any lane count and a rebuild store the same ids.
  int64_t StoreBound(int64_t capacity) const;
};

// Dedup for events without a sequence. The rule, the same for the live run whatever its lane
// count, a rebuild whatever its worker count, and a restart: an event id is a duplicate when the
// same id was applied from a record at most `capacity` positions away from this one. Source
// positions, not arrival order: they are the same in every run, while the order in which lanes,
// workers or Kafka partitions interleave is not. Offsets of different partitions are not
// comparable, so the rule is exact for duplicates within one partition (Kafka keeps a key on one
// partition, and an id belongs to one key, hence one lane); a repeat across partitions is
// compared by offset too, but its entry may already be forgotten. Forgetting never changes a
// decision: an id is forgotten only once every record still to be decided is more than
// `capacity` positions past it. The engine persists applied ids (PutEventId) and prunes the
// store below DedupProgress::StoreBound in the same transaction as their effects; a restart
// loads them back (their partition is not stored).
class EventIdWindow {
 public:
  explicit EventIdWindow(int64_t capacity) : capacity_(capacity) {}
  bool IsDuplicate(const std::string& id, int64_t position) const;
  void Remember(const std::string& id, int32_t partition, int64_t position);
  // An id loaded from the store, whose partition is not stored.
  void Restore(const std::string& id, int64_t position) {
    Remember(id, kUnknownPartition, position);
  }
  // Forgets ids no record still to be decided (DedupProgress::Floors) can repeat.
  void Forget(const DedupProgress& progress);
  size_t size() const { return ids_.size(); }
  void Clear() {
    ids_.clear();
    by_partition_.clear();
  }

 private:
  static constexpr int32_t kUnknownPartition = INT32_MIN;
  int64_t capacity_;
  absl::flat_hash_map<std::string, std::pair<int32_t, int64_t>> ids_;  // -> (partition, position)
  std::map<int32_t, absl::btree_set<std::pair<int64_t, std::string>>> by_partition_;
};

}  // namespace sv::gate
