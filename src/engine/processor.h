#pragma once
// Decode → gate → apply for one source, with every effect recorded for the next commit.
// Shared by the steady `run` loop (state read through from the store) and by rebuild (state
// purely in memory). Bad events never stop it: they become dead letters, and a key whose event
// fails is parked — its later events are held behind the failure, other keys go on.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/decoder.h"
#include "engine/traces.h"
#include "gate/gate.h"
#include "gate/key_gates.h"
#include "gate/waiting.h"
#include "projection/projection.h"
#include "source/source.h"
#include "store/store.h"

namespace sv::engine {

// Everything besides view rows that one batch must commit.
struct Changes {
  absl::flat_hash_map<std::string, store::KeyState> key_states;
  // By (partition, position): positions of different Kafka partitions coincide.
  absl::flat_hash_map<std::pair<int32_t, int64_t>, store::PendingEvent> pending_put;
  std::vector<std::pair<int32_t, int64_t>> pending_deleted;
  std::vector<store::DeadLetter> dead_letters;  // new; replace an entry at the same position
  std::vector<std::pair<int64_t, store::DeadLetterState>> dead_letter_states;  // by id
  std::vector<std::pair<std::string, int64_t>> event_ids;
  int64_t prune_event_ids_below = 0;
  std::map<std::string, int64_t> counters;  // "<source>/<name>", filled by MaterializeCounters
  // Hot-path counts, by the address of the counter's name literal and by event type id.
  absl::flat_hash_map<const char*, int64_t> raw_counts;
  std::vector<int64_t> type_counts;
  std::map<int32_t, int64_t> positions;
  std::vector<TracedEvent> traced;  // events with a sampled traceparent (engine/traces.h)

  bool empty() const;
  void Clear();
  // Adds another lane's changes of the same source (their keys are disjoint; positions are
  // the furthest either reached). Counters must be materialized first.
  void MergeFrom(Changes&& other);
};

// How the processor reaches durable state it has not cached (steady mode). Rebuild passes none:
// it starts from nothing.
struct StateLoader {
  std::function<absl::StatusOr<std::optional<store::KeyState>>(const std::string& key)> key_state;
  // The stored states of many keys (those never seen left out): Prefetch's one read.
  std::function<absl::StatusOr<std::vector<store::KeyState>>(const std::vector<std::string>& keys)>
      key_states;
};

// Reads the gate state of `source` from `store` (the live loop's).
StateLoader StoreStateLoader(store::Store* store, const std::string& source);

class Processor {
 public:
  Processor(const projection::Catalog* catalog, int source, const config::GateConfig& gate,
            projection::RowSet* rows, StateLoader loader);

  // Loads the pending events (stash and held) and the dedup window (steady mode start).
  void Restore(std::vector<store::PendingEvent> pending,
               const std::vector<std::pair<std::string, int64_t>>& event_ids);

  // Processes one record. Only infrastructure failures (store reads) return an error; the
  // caller then discards uncommitted state.
  absl::Status Process(const source::SourceRecord& record);
  // Before processing `records` (engine/prefetch.cc): reads the gate states and rows they will
  // need and the caches do not hold, each kind in one read, when set_prefetch(true) was called
  // (a store whose reads are round trips) and the loader has key_states. Only a hint: what it
  // did not foresee is read when met, as without it.
  absl::Status Prefetch(const std::vector<const source::SourceRecord*>& records);
  void set_prefetch(bool prefetch) { prefetch_ = prefetch; }
  bool prefetches() const { return prefetch_ && loader_.key_states != nullptr; }

  // Gives up stashes older than the configured age at `now_us` (log time) or larger than the
  // configured size: the first waiting event becomes a dead letter and parks its key.
  absl::Status ExpireStashes(int64_t now_us);

  // Maintained versions (engine/view_versions.h): by view, the slot of the working set holding
  // its maintained version's rows, -1 for none. Every event applied to the views is folded into
  // those slots too (from their own rows), in the same batch; the live loop's only.
  void set_maintained_slots(std::vector<int> slots);
  // Versions of views built from their `previous:` definition (engine/view_versions.h):
  // `previous` is the catalog compiled with those definitions (same views, same indices),
  // `slots` as for set_maintained_slots. Every event is folded into them with that catalog's
  // plans, in the same batch; the live loop's only.
  void set_previous_definitions(const projection::Catalog* previous, std::vector<int> slots);

  // What dead letters are stamped with (default: the real clock).
  void set_clock(const Clock* clock) { clock_ = clock; }

  // Operator actions on a dead letter that parks (or not) a key. `payload` replaces the raw
  // record on replay when given.
  absl::Status Replay(const store::DeadLetter& dead_letter, const std::string* payload);
  absl::Status Discard(const store::DeadLetter& dead_letter);

  // A record the engine could not apply in full (a TRUNCATE of a table that shares a view
  // with others): a dead letter with the reason, parking no key.
  void DeadLetterRecord(const source::SourceRecord& record, const std::string& reason) {
    DeadLetter(record, "", reason, /*parks_key=*/false);
  }

  Changes& changes() { return changes_; }
  const Changes& changes() const { return changes_; }
  // Turns the hot-path counts into named counters in changes().counters (before a commit).
  void MaterializeCounters();
  // A source without sequences needs gate state only for parked keys: given the keys parked in
  // the store, every other key is taken as fresh without a read or an entry (none is kept for
  // it unless it parks). Only for sources whose config names no sequence.
  void set_parked_keys(absl::flat_hash_set<std::string> parked) {
    if (source_config_->sequence_header.empty() && source_config_->sequence_field.empty()) {
      parked_in_store_ = std::move(parked);
    }
  }
  // Rebuild keeps its final state in memory and writes it once: no per-batch key-state log.
  void set_track_key_states(bool track) { track_key_states_ = track; }
  // Drops cached gate state (after a failed commit the cache may be ahead of the store).
  void ForgetCache();
  // Final gate state (rebuild): every key seen.
  const absl::flat_hash_map<std::string, gate::KeyGate>& key_gates() const { return gates_.all(); }
  std::vector<store::PendingEvent> AllPending() const;
  const std::string& source_name() const { return source_name_; }
  // Lanes: the keys this processor may touch. A decoded key outside them means the record was
  // routed by a key that is not its gate key: Process fails with Aborted, before any effect.
  void set_owns_key(std::function<bool(const std::string&)> owns) { owns_key_ = std::move(owns); }
  bool misrouted() const { return misrouted_; }
  // How far this processor read, and what it still holds pending, by partition: merged over
  // a source's lanes (or fold workers) it bounds the event ids the store keeps.
  gate::DedupProgress dedup_progress() const;
  size_t stash_keys() const { return waiting_.stash_keys(); }
  // When the poll that brought the records about to be processed ran (tracing only).
  void set_poll_window(int64_t start_ns, int64_t end_ns) {
    poll_start_ns_ = start_ns;
    poll_end_ns_ = end_ns;
  }

  // Seed 000's lag per organization: per (tenant view, organization), the events waiting in the
  // gate (stashed or held) that would change that organization's rows, and the log time of the
  // oldest. Added to `out`; an event's organizations are found when it starts waiting, by a
  // dry run of the projections over the working set (nothing written).
  struct OrgLag {
    int64_t events = 0;
    int64_t oldest_log_time_us = 0;
  };
  using OrgLags = absl::flat_hash_map<std::pair<int, std::string>, OrgLag>;
  void AddOrgLags(OrgLags* out) const;

 private:
  const Clock* clock_ = Clock::Real();
  absl::StatusOr<gate::KeyGate*> Gate(const std::string& key) { return gates_.Get(key); }
  void MarkDirty(const std::string& key, const gate::KeyGate& g);
  absl::Status Gated(const source::SourceRecord& record, DecodedEvent& ev);
  // Runs the views' projections on an event: an EventError when the event is at fault, a status
  // error when the store is.
  absl::StatusOr<std::optional<gate::EventError>> Project(const source::SourceRecord& record,
                                                          DecodedEvent& ev);
  // Forgets dedup ids that no record still to be decided (read or pending) can repeat.
  void ForgetEventIds();
  // Applies a decoded event that the gate let through; parks the key on an event error.
  absl::Status ApplyNow(const source::SourceRecord& record, DecodedEvent& ev, gate::KeyGate* g,
                        bool* applied);
  absl::Status DrainStash(const std::string& key);
  // Gives up a key's stash: its first waiting event becomes a dead letter and parks the key.
  absl::Status ExpireStash(const std::string& key);
  absl::Status ReleaseHeld(const std::string& key);
  void Park(const std::string& key, gate::KeyGate* g, const source::SourceRecord& record,
            const std::string& reason);
  void DeadLetter(const source::SourceRecord& record, const std::string& key,
                  const std::string& reason, bool parks_key);
  void AddPending(const std::string& key, const source::SourceRecord& record, int64_t sequence,
                  bool held);
  void RemovePending(int32_t partition, int64_t position);
  void Count(const char* name) { ++changes_.raw_counts[name]; }
  absl::Status Misrouted(const std::string& key);
  absl::Status ProcessTraced(const source::SourceRecord& record, DecodedEvent& ev, bool decoded,
                             const std::string& reason, const trace::SpanContext& parent,
                             int64_t decode_start_ns);
  static source::SourceRecord ToRecord(const store::PendingEvent& pending);
  projection::EventInput InputOf(const source::SourceRecord& record, const DecodedEvent& ev) const;
  // The organizations `ev` would change (engine/pending_orgs.cc), kept until it stops waiting.
  void NoteWaitingOrgs(const source::SourceRecord& record, const DecodedEvent& ev);
  // Restored events' organizations, found at the next Process (inside the loop's read).
  void AttributeRestored();

  int source_;
  const std::vector<int>* source_views_;  // the views the source feeds
  std::vector<int> maintained_slots_;     // see set_maintained_slots; empty: none of this source
  std::vector<int> previous_slots_;       // see set_previous_definitions
  std::unique_ptr<projection::Applier> previous_applier_;  // null: none of this source
  std::string source_name_;
  const config::SourceConfig* source_config_;
  config::GateConfig gate_config_;
  projection::RowSet* rows_;
  StateLoader loader_;
  Decoder decoder_;
  projection::Applier applier_;
  gate::EventIdWindow event_ids_;
  gate::KeyGates gates_;  // each key's last sequence and park
  std::optional<absl::flat_hash_set<std::string>> parked_in_store_;  // see set_parked_keys
  gate::Waiting waiting_;                                            // stashed and held events
  Changes changes_;
  int64_t now_log_time_ = 0;
  bool track_key_states_ = true;
  bool prefetch_ = false;
  bool key_reads_other_views_ = false;  // a source view's key is computed from another's row
  std::function<bool(const std::string&)> owns_key_;
  bool misrouted_ = false;
  int64_t poll_start_ns_ = 0, poll_end_ns_ = 0;
  gate::DedupProgress read_;  // only `read`: pending positions are taken from the stash and held
  struct WaitingOrgs {
    int64_t log_time_us = 0;
    std::vector<std::pair<int, std::string>> orgs;  // (view, organization)
  };
  absl::flat_hash_map<std::pair<int32_t, int64_t>, WaitingOrgs> waiting_orgs_;  // by position
  bool restored_unattributed_ = false;
  const projection::Catalog* catalog_ = nullptr;
  bool any_tenant_view_ = false;  // the source feeds a tenant view: waiting events are attributed
};

}  // namespace sv::engine
