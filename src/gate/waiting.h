#pragma once
// The events a source's gate keeps waiting, per key: stashed behind a sequence gap (by sequence)
// or held behind a parked key (in arrival order). Pure bookkeeping: the caller decodes, applies,
// records dead letters and persists; time is passed in.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "gate/gate.h"
#include "store/store.h"

namespace sv::gate {

class Waiting {
 public:
  using Event = store::PendingEvent;

  // Replaces everything with stored pending events (a restart).
  void Restore(std::vector<Event> pending);
  // True when `key` already waits with `sequence` (stashed or held): a repeat is a duplicate.
  bool Contains(const std::string& key, int64_t sequence) const;
  void Stash(Event event);
  void Hold(Event event);
  size_t StashSize(const std::string& key) const;
  size_t stash_keys() const { return stash_.size(); }

  // The key was parked: its stashed events now wait behind the park, in arrival order. Returns
  // them (now held) for the caller to persist.
  std::vector<Event> Park(const std::string& key);
  // The next stashed event of `key` once `last_sequence` is applied (none while `parked`):
  // stale entries (at or below it) go to `stale`; nullopt when the next waits for a gap.
  std::optional<Event> NextInSequence(const std::string& key, int64_t last_sequence, bool parked,
                                      std::vector<Event>* stale);
  // Takes every held event of `key`, in arrival order; what is not released goes back with
  // ReturnHeld (behind anything held meanwhile).
  std::deque<Event> TakeHeld(const std::string& key);
  void ReturnHeld(const std::string& key, std::deque<Event> rest);

  // Keys whose stash is older than `max_age_us` at `now_us` or larger than `max_events`, sorted.
  std::vector<std::string> ExpiredStashes(int64_t now_us, int64_t max_age_us,
                                          int64_t max_events) const;
  // Removes and returns the lowest stashed event of `key` (which must have one).
  Event TakeFirstStashed(const std::string& key);

  std::vector<Event> All() const;
  // Adds every waiting event's position to `progress` (they are still to be decided).
  void AddTo(DedupProgress* progress) const;

 private:
  absl::flat_hash_map<std::string, absl::btree_map<int64_t, Event>> stash_;  // by sequence
  absl::flat_hash_map<std::string, std::deque<Event>> held_;                 // arrival order
};

// The gate's decision for one decoded event of `key`: Classify for a sequenced event (a
// sequence already waiting is a duplicate too), else the event-id window at `position`, else
// apply or, behind a park, hold.
Outcome Admit(const KeyGate& key_gate, const std::string& key, std::optional<int64_t> sequence,
              const std::string& event_id, int64_t position, int64_t first_sequence,
              const Waiting& waiting, const EventIdWindow& event_ids);

}  // namespace sv::gate
