#include "engine/processor.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace sv::engine {

bool Changes::empty() const {
  return key_states.empty() && pending_put.empty() && pending_deleted.empty() &&
         dead_letters.empty() && dead_letter_states.empty() && event_ids.empty() &&
         prune_event_ids_below == 0 && counters.empty() && raw_counts.empty() && positions.empty();
}

void Changes::Clear() {
  key_states.clear();
  pending_put.clear();
  pending_deleted.clear();
  dead_letters.clear();
  dead_letter_states.clear();
  event_ids.clear();
  prune_event_ids_below = 0;
  counters.clear();
  raw_counts.clear();
  type_counts.clear();
  positions.clear();
  traced.clear();
}

void Changes::MergeFrom(Changes&& other) {
  for (auto& [key, state] : other.key_states) key_states.insert_or_assign(key, std::move(state));
  for (auto& [at, p] : other.pending_put) pending_put.insert_or_assign(at, std::move(p));
  pending_deleted.insert(pending_deleted.end(), other.pending_deleted.begin(),
                         other.pending_deleted.end());
  std::move(other.dead_letters.begin(), other.dead_letters.end(), std::back_inserter(dead_letters));
  std::move(other.dead_letter_states.begin(), other.dead_letter_states.end(),
            std::back_inserter(dead_letter_states));
  std::move(other.event_ids.begin(), other.event_ids.end(), std::back_inserter(event_ids));
  // (prune_event_ids_below is the source's, set by Seal from every lane's DedupProgress.)
  for (const auto& [name, n] : other.counters) counters[name] += n;
  for (const auto& [partition, position] : other.positions) {
    int64_t& mine = positions[partition];
    mine = std::max(mine, position);
  }
  std::move(other.traced.begin(), other.traced.end(), std::back_inserter(traced));
  other.Clear();
}

Processor::Processor(const projection::Catalog* catalog, int source, const config::GateConfig& gate,
                     projection::RowSet* rows, StateLoader loader)
    : source_(source),
      source_views_(&catalog->sources[source].views),
      source_name_(catalog->sources[source].config.name),
      source_config_(&catalog->sources[source].config),
      gate_config_(gate),
      rows_(rows),
      loader_(std::move(loader)),
      decoder_(&catalog->sources[source]),
      applier_(catalog),
      event_ids_(static_cast<size_t>(gate.dedup_window)),
      gates_(loader_.key_state) {
  catalog_ = catalog;
  for (int v : *source_views_) {
    any_tenant_view_ = any_tenant_view_ || catalog->views[v].tenant >= 0;
    for (const auto& handler : catalog->views[v].handlers) {
      key_reads_other_views_ |= handler != nullptr && handler->key_reads_other_views;
    }
  }
}

void Processor::Restore(std::vector<store::PendingEvent> pending,
                        const std::vector<std::pair<std::string, int64_t>>& event_ids) {
  waiting_.Restore(std::move(pending));
  waiting_orgs_.clear();
  restored_unattributed_ = any_tenant_view_;
  event_ids_.Clear();
  for (const auto& [id, position] : event_ids) event_ids_.Restore(id, position);
}

void Processor::ForgetCache() {
  gates_.Forget();
  parked_in_store_.reset();  // parks made since may be in the store only: read each key again
  changes_.Clear();
}

void Processor::MaterializeCounters() {
  for (const auto& [name, n] : changes_.raw_counts) {
    changes_.counters[absl::StrCat(source_name_, "/", name)] += n;
  }
  changes_.raw_counts.clear();
  const auto& types = source_config_->event_types;
  for (size_t t = 0; t < changes_.type_counts.size() && t < types.size(); ++t) {
    if (changes_.type_counts[t] != 0) {
      changes_.counters[absl::StrCat(source_name_, "/type/", types[t])] += changes_.type_counts[t];
    }
  }
  changes_.type_counts.clear();
}

void Processor::MarkDirty(const std::string& key, const gate::KeyGate& g) {
  if (!track_key_states_) return;
  changes_.key_states[key] = gate::KeyGates::ToStored(key, g);
}

source::SourceRecord Processor::ToRecord(const store::PendingEvent& pending) {
  source::SourceRecord r;
  r.partition = pending.partition;
  r.offset = pending.position;
  r.log_time_us = pending.log_time_us;
  r.value = pending.raw;
  return r;
}

void Processor::AddPending(const std::string& key, const source::SourceRecord& record,
                           int64_t sequence, bool held) {
  store::PendingEvent p{key,  record.offset,       record.partition, sequence, record.log_time_us,
                        held, RecordToJson(record)};
  changes_.pending_put[{record.partition, record.offset}] = p;
  if (held) {
    waiting_.Hold(std::move(p));
  } else {
    waiting_.Stash(std::move(p));
  }
}

void Processor::RemovePending(int32_t partition, int64_t position) {
  waiting_orgs_.erase({partition, position});
  if (changes_.pending_put.erase({partition, position}) == 0) {
    changes_.pending_deleted.emplace_back(partition, position);
  }
}

void Processor::DeadLetter(const source::SourceRecord& record, const std::string& key,
                           const std::string& reason, bool parks_key) {
  store::DeadLetter dl;
  dl.source = source_name_;
  dl.partition = record.partition;
  dl.position = record.offset;
  dl.key = key;
  dl.reason = reason;
  dl.raw = RecordToJson(record);
  dl.created_us = clock_->NowMicros();
  dl.parks_key = parks_key;
  changes_.dead_letters.push_back(std::move(dl));
  Count("dead_letters_total");
}

void Processor::Park(const std::string& key, gate::KeyGate* g, const source::SourceRecord& record,
                     const std::string& reason) {
  DeadLetter(record, key, reason, /*parks_key=*/true);
  if (gates_.Find(key) != g) g = gates_.Put(key, *g);  // a fresh key's state is kept from now
  g->parked_on = record.offset + 1;
  MarkDirty(key, *g);
  Count("parked_total");
  // Stashed events of a parked key now wait behind the park, in arrival order.
  for (store::PendingEvent& p : waiting_.Park(key)) {
    changes_.pending_put[{p.partition, p.position}] = std::move(p);
  }
}

absl::Status Processor::Process(const source::SourceRecord& record) {
  if (restored_unattributed_) AttributeRestored();
  now_log_time_ = std::max(now_log_time_, record.log_time_us);
  changes_.positions[record.partition] = record.offset;
  read_.Read(record.partition, record.offset);
  Count("records_total");
  DecodedEvent ev;
  std::string reason;
  const int64_t decode_start_ns = trace::Enabled() ? trace::NowNanos() : 0;
  const bool decoded = decoder_.Decode(record, &ev, &reason);
  trace::SpanContext parent;
  if (decode_start_ns != 0 && FindSampledParent(ev.headers, &parent) != nullptr) {
    return ProcessTraced(record, ev, decoded, reason, parent, decode_start_ns);
  }
  if (!decoded) {
    DeadLetter(record, ev.key, reason, /*parks_key=*/false);
    return absl::OkStatus();
  }
  if (owns_key_ && !owns_key_(ev.key)) return Misrouted(ev.key);
  return Gated(record, ev);
}

absl::Status Processor::Misrouted(const std::string& key) {
  misrouted_ = true;
  return absl::AbortedError(absl::StrCat("source '", source_name_, "': key '", key,
                                         "' reached another lane than its own"));
}

// The rest of Process for an event traced under an incoming parent: its decode and apply timed,
// and its log lines carrying the apply span's ids.
absl::Status Processor::ProcessTraced(const source::SourceRecord& record, DecodedEvent& ev,
                                      bool decoded, const std::string& reason,
                                      const trace::SpanContext& parent, int64_t decode_start_ns) {
  TracedEvent t;
  t.parent = parent;
  t.decode_span = trace::ChildOf(parent).span_id;
  t.apply_span = trace::ChildOf(parent).span_id;
  t.source = source_name_;
  t.partition = record.partition;
  t.offset = record.offset;
  t.type = ev.type;
  t.key = ev.key;
  t.views = static_cast<int64_t>(source_views_->size());
  t.poll_start_ns = poll_start_ns_;
  t.poll_end_ns = poll_end_ns_;
  t.decode_start_ns = decode_start_ns;
  t.decode_end_ns = trace::NowNanos();
  t.dead_letter = !decoded;
  absl::Status result = absl::OkStatus();
  if (!decoded) {
    DeadLetter(record, ev.key, reason, /*parks_key=*/false);
  } else if (owns_key_ && !owns_key_(ev.key)) {
    return Misrouted(ev.key);
  } else {
    LogTraceContext log;
    std::snprintf(log.trace_id, sizeof(log.trace_id), "%s", trace::Hex(parent.trace_id).c_str());
    std::snprintf(log.span_id, sizeof(log.span_id), "%s", trace::Hex(t.apply_span).c_str());
    const LogTraceContext* outer = ExchangeLogTraceContext(&log);
    const size_t dead_letters_before = changes_.dead_letters.size();
    t.apply_start_ns = trace::NowNanos();
    result = Gated(record, ev);
    t.apply_end_ns = trace::NowNanos();
    ExchangeLogTraceContext(outer);
    t.dead_letter = changes_.dead_letters.size() > dead_letters_before;
  }
  changes_.traced.push_back(std::move(t));
  return result;
}

absl::Status Processor::Gated(const source::SourceRecord& record, DecodedEvent& ev) {
  gate::KeyGate fresh;  // a key never parked, of a source without sequences: no state to keep
  gate::KeyGate* g = parked_in_store_ && !ev.sequence ? gates_.Find(ev.key) : nullptr;
  if (g == nullptr) {
    if (parked_in_store_ && !ev.sequence && !parked_in_store_->contains(ev.key)) {
      g = &fresh;
    } else {
      SV_ASSIGN_OR_RETURN(g, Gate(ev.key));
    }
  }
  const gate::Outcome outcome = gate::Admit(*g, ev.key, ev.sequence, ev.event_id, record.offset,
                                            source_config_->first_sequence, waiting_, event_ids_);
  switch (outcome) {
    case gate::Outcome::kDuplicate:
      Count("duplicates_total");
      return absl::OkStatus();
    case gate::Outcome::kOutOfOrder:
      Count("out_of_order_total");
      return absl::OkStatus();
    case gate::Outcome::kStash:
      AddPending(ev.key, record, *ev.sequence, /*held=*/false);
      NoteWaitingOrgs(record, ev);
      Count("stashed_total");
      // Over its size at once, not at the batch's end: the input alone decides, not where a
      // poll (or a rebuild's chunk) ends.
      if (static_cast<int64_t>(waiting_.StashSize(ev.key)) > gate_config_.stash_max_events) {
        return ExpireStash(ev.key);
      }
      return absl::OkStatus();
    case gate::Outcome::kHold:
      AddPending(ev.key, record, ev.sequence.value_or(0), /*held=*/true);
      NoteWaitingOrgs(record, ev);
      Count("held_total");
      return absl::OkStatus();
    case gate::Outcome::kApply:
      break;
  }
  bool applied = false;
  SV_RETURN_IF_ERROR(ApplyNow(record, ev, g, &applied));
  if (applied && ev.sequence) return DrainStash(ev.key);
  return absl::OkStatus();
}

namespace {

// The working set as the projections see it, keeping a failed read's status: an error from a
// read is the store's, never the event's.
class ReadCheckedRows : public projection::RowSet {
 public:
  explicit ReadCheckedRows(projection::RowSet* rows) : rows_(rows) {}
  absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                  const Row& key_values) override {
    absl::StatusOr<const Row*> row = rows_->Find(view, key, key_values);
    if (!row.ok()) read_error_ = row.status();
    return row;
  }
  void Put(int view, const std::string& key, Row row) override {
    rows_->Put(view, key, std::move(row));
  }
  void Erase(int view, const std::string& key) override { rows_->Erase(view, key); }
  const absl::Status& read_error() const { return read_error_; }

 private:
  projection::RowSet* rows_;
  absl::Status read_error_;
};

// The working set as the fold into maintained versions sees it: a view with a maintained
// version reads that version's slot; the others read the live rows as they stand before the
// event. Writes are held back until the event applied to the active versions (an event that
// fails there parks its key and takes effect nowhere), and dropped for views without a slot.
class MaintainedRows : public projection::RowSet {
 public:
  MaintainedRows(projection::RowSet* rows, const std::vector<int>* slots)
      : rows_(rows), slots_(slots) {}
  absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                  const Row& key_values) override {
    absl::StatusOr<const Row*> row = rows_->Find(Slot(view), key, key_values);
    if (!row.ok()) read_error_ = row.status();
    return row;
  }
  void Put(int view, const std::string& key, Row row) override {
    if ((*slots_)[view] >= 0) writes_.push_back({(*slots_)[view], key, std::move(row)});
  }
  void Erase(int view, const std::string& key) override {
    if ((*slots_)[view] >= 0) writes_.push_back({(*slots_)[view], key, std::nullopt});
  }
  const absl::Status& read_error() const { return read_error_; }
  // Applies the held writes to the slots.
  void Write() {
    for (Held& w : writes_) {
      if (w.row) {
        rows_->Put(w.slot, w.key, std::move(*w.row));
      } else {
        rows_->Erase(w.slot, w.key);
      }
    }
    writes_.clear();
  }

 private:
  struct Held {
    int slot;
    std::string key;
    std::optional<Row> row;  // none: erased
  };
  int Slot(int view) const { return (*slots_)[view] >= 0 ? (*slots_)[view] : view; }
  projection::RowSet* rows_;
  const std::vector<int>* slots_;
  std::vector<Held> writes_;
  absl::Status read_error_;
};

}  // namespace

void Processor::set_maintained_slots(std::vector<int> slots) {
  maintained_slots_.clear();
  for (int v : *source_views_) {
    if (slots[v] >= 0) {
      maintained_slots_ = std::move(slots);
      return;
    }
  }
}

projection::EventInput Processor::InputOf(const source::SourceRecord& record,
                                          const DecodedEvent& ev) const {
  projection::EventInput input;
  input.source = source_;
  input.type_id = ev.type_id;
  input.value = ev.value;
  input.headers = &ev.headers;
  using M = sql::MetaField;
  input.meta[static_cast<int>(M::kKey)] = Value::Text(ev.key);
  if (ev.sequence) input.meta[static_cast<int>(M::kSequence)] = Value::Int(*ev.sequence);
  input.meta[static_cast<int>(M::kPosition)] = Value::Int(record.offset);
  input.meta[static_cast<int>(M::kPartition)] = Value::Int(record.partition);
  if (ev.timestamp_us) input.meta[static_cast<int>(M::kTimestamp)] = Value::Time(*ev.timestamp_us);
  input.meta[static_cast<int>(M::kLogTime)] = Value::Time(record.log_time_us);
  if (!ev.event_id.empty()) input.meta[static_cast<int>(M::kEventId)] = Value::Text(ev.event_id);
  input.meta[static_cast<int>(M::kType)] = Value::Text(ev.type);
  return input;
}

absl::StatusOr<std::optional<gate::EventError>> Processor::Project(
    const source::SourceRecord& record, DecodedEvent& ev) {
  if (ev.type_id < 0) {
    if (source_config_->unknown_types == config::UnknownTypePolicy::kIgnore) {
      Count("ignored_total");
      return std::nullopt;
    }
    return gate::EventError{absl::StrCat("unknown event type '", ev.type, "'")};
  }
  projection::EventInput input = InputOf(record, ev);
  // The maintained versions first, while the other views' rows are still those the event
  // finds: folded from their own rows, not copied from the active versions'.
  std::optional<MaintainedRows> maintained;
  if (!maintained_slots_.empty()) {
    maintained.emplace(rows_, &maintained_slots_);
    const absl::Status folded = applier_.Apply(input, &*maintained);
    SV_RETURN_IF_ERROR(maintained->read_error());
    // It failed on a maintained version only: that version now differs, as validation says.
    if (!folded.ok()) Count("maintained_version_errors_total");
  }
  // Likewise with the `previous:` definitions, into their versions' slots.
  std::optional<MaintainedRows> previous;
  if (previous_applier_ != nullptr) {
    previous.emplace(rows_, &previous_slots_);
    const absl::Status folded = previous_applier_->Apply(input, &*previous);
    SV_RETURN_IF_ERROR(previous->read_error());
    if (!folded.ok()) Count("maintained_version_errors_total");
  }
  ReadCheckedRows rows(rows_);
  const absl::Status result = applier_.Apply(input, &rows);
  // Whatever code a failed read carries (a store may say InvalidArgument), the batch fails.
  SV_RETURN_IF_ERROR(rows.read_error());
  if (!result.ok()) return gate::EventError{std::string(result.message())};
  if (maintained) maintained->Write();
  if (previous) previous->Write();
  return std::nullopt;
}

absl::Status Processor::ApplyNow(const source::SourceRecord& record, DecodedEvent& ev,
                                 gate::KeyGate* g, bool* applied) {
  *applied = false;
  SV_ASSIGN_OR_RETURN(std::optional<gate::EventError> error, Project(record, ev));
  if (error) {
    Park(ev.key, g, record, error->reason);
    return absl::OkStatus();
  }
  *applied = true;
  if (ev.sequence) {
    g->last_sequence = *ev.sequence;
    MarkDirty(ev.key, *g);
  } else if (!ev.event_id.empty()) {
    event_ids_.Remember(ev.event_id, record.partition, record.offset);
    changes_.event_ids.emplace_back(ev.event_id, record.offset);
  }
  Count("applied_total");
  if (ev.type_id >= 0) {
    if (changes_.type_counts.size() <= static_cast<size_t>(ev.type_id)) {
      changes_.type_counts.resize(source_config_->event_types.size());
    }
    ++changes_.type_counts[ev.type_id];
  }
  return absl::OkStatus();
}

absl::Status Processor::DrainStash(const std::string& key) {
  std::vector<store::PendingEvent> stale;
  while (true) {
    SV_ASSIGN_OR_RETURN(gate::KeyGate * g, Gate(key));
    std::optional<store::PendingEvent> next =
        waiting_.NextInSequence(key, g->last_sequence, g->parked_on != 0, &stale);
    // Entries at or below the applied sequence can never apply (duplicates): dropped.
    for (const store::PendingEvent& p : stale) {
      RemovePending(p.partition, p.position);
      Count("duplicates_total");
    }
    stale.clear();
    if (!next) return absl::OkStatus();
    RemovePending(next->partition, next->position);
    Count("unstashed_total");
    const source::SourceRecord record = ToRecord(*next);
    DecodedEvent ev;
    std::string reason;
    if (!decoder_.Decode(record, &ev, &reason)) {
      Park(key, g, record, reason);
      return absl::OkStatus();
    }
    bool applied = false;
    SV_RETURN_IF_ERROR(ApplyNow(record, ev, g, &applied));
    if (!applied) return absl::OkStatus();
  }
}

absl::Status Processor::ReleaseHeld(const std::string& key) {
  std::deque<store::PendingEvent> held = waiting_.TakeHeld(key);
  while (!held.empty()) {
    SV_ASSIGN_OR_RETURN(gate::KeyGate * g, Gate(key));
    if (g->parked_on != 0) {
      // Parked again by one of the released events: the rest keep waiting.
      waiting_.ReturnHeld(key, std::move(held));
      return absl::OkStatus();
    }
    store::PendingEvent p = std::move(held.front());
    held.pop_front();
    RemovePending(p.partition, p.position);
    Count("released_total");
    const source::SourceRecord record = ToRecord(p);
    DecodedEvent ev;
    std::string reason;
    if (!decoder_.Decode(record, &ev, &reason)) {
      DeadLetter(record, key, reason, false);
      continue;
    }
    SV_RETURN_IF_ERROR(Gated(record, ev));
  }
  return absl::OkStatus();
}

absl::Status Processor::ExpireStashes(int64_t now_us) {
  if (restored_unattributed_) AttributeRestored();  // an idle source after a restart
  now_us = std::max(now_us, now_log_time_);
  for (const std::string& key : waiting_.ExpiredStashes(
           now_us, gate_config_.stash_max_age_ms * 1000, gate_config_.stash_max_events)) {
    SV_RETURN_IF_ERROR(ExpireStash(key));
  }
  ForgetEventIds();
  return absl::OkStatus();
}

absl::Status Processor::ExpireStash(const std::string& key) {
  SV_ASSIGN_OR_RETURN(gate::KeyGate * g, Gate(key));
  store::PendingEvent first = waiting_.TakeFirstStashed(key);
  RemovePending(first.partition, first.position);
  Count("stash_expired_total");
  const int64_t expected =
      g->last_sequence == 0 ? source_config_->first_sequence : g->last_sequence + 1;
  Park(key, g, ToRecord(first),
       absl::StrCat("sequence gap: waited for sequence ", expected, " but it never came; ",
                    "stashed sequence ", first.sequence, " since ", FormatTime(first.log_time_us)));
  return absl::OkStatus();
}

gate::DedupProgress Processor::dedup_progress() const {
  gate::DedupProgress progress = read_;
  waiting_.AddTo(&progress);
  return progress;
}

void Processor::ForgetEventIds() { event_ids_.Forget(dedup_progress()); }

absl::Status Processor::Replay(const store::DeadLetter& dl, const std::string* payload) {
  source::SourceRecord record;
  record.partition = dl.partition;
  record.offset = dl.position;
  record.log_time_us = now_log_time_;
  record.value = payload != nullptr ? *payload : dl.raw;
  DecodedEvent ev;
  std::string reason;
  if (!decoder_.Decode(record, &ev, &reason)) {
    return absl::FailedPreconditionError(
        absl::StrCat("dead letter ", dl.id, " still fails: ", reason));
  }
  SV_ASSIGN_OR_RETURN(gate::KeyGate * g, Gate(ev.key));
  const bool parks_this = g->parked_on == dl.position + 1;
  if (g->parked_on != 0 && !parks_this) {
    return absl::FailedPreconditionError(
        absl::StrCat("key '", ev.key, "' is parked behind another dead letter (position ",
                     g->parked_on - 1, "); replay or discard that one first"));
  }
  if (ev.sequence) {
    if (*ev.sequence <= g->last_sequence) {
      return absl::FailedPreconditionError(absl::StrCat("sequence ", *ev.sequence, " of key '",
                                                        ev.key, "' is already applied (last ",
                                                        g->last_sequence, ")"));
    }
    g->last_sequence = *ev.sequence - 1;  // the operator accepts any gap before it
  }
  g->parked_on = 0;
  const size_t dead_letters_before = changes_.dead_letters.size();
  bool applied = false;
  SV_RETURN_IF_ERROR(ApplyNow(record, ev, g, &applied));
  if (!applied) {
    // Still failing: ApplyNow parked the key again and queued a replacement dead letter.
    const std::string why = changes_.dead_letters.size() > dead_letters_before
                                ? changes_.dead_letters.back().reason
                                : "not applied";
    return absl::FailedPreconditionError(
        absl::StrCat("dead letter ", dl.id, " still fails: ", why));
  }
  MarkDirty(ev.key, *g);
  changes_.dead_letter_states.emplace_back(dl.id, store::DeadLetterState::kReplayed);
  Count("replayed_total");
  if (ev.sequence) SV_RETURN_IF_ERROR(DrainStash(ev.key));
  return ReleaseHeld(ev.key);
}

absl::Status Processor::Discard(const store::DeadLetter& dl) {
  changes_.dead_letter_states.emplace_back(dl.id, store::DeadLetterState::kDiscarded);
  Count("discarded_total");
  if (dl.key.empty() || !dl.parks_key) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(gate::KeyGate * g, Gate(dl.key));
  if (g->parked_on != dl.position + 1) return absl::OkStatus();
  g->parked_on = 0;
  // The discarded event is consumed without effect: its sequence counts as applied.
  source::SourceRecord record;
  record.value = dl.raw;
  DecodedEvent ev;
  std::string reason;
  if (decoder_.Decode(record, &ev, &reason) && ev.sequence) {
    g->last_sequence = std::max(g->last_sequence, *ev.sequence);
  }
  MarkDirty(dl.key, *g);
  SV_RETURN_IF_ERROR(DrainStash(dl.key));
  return ReleaseHeld(dl.key);
}

std::vector<store::PendingEvent> Processor::AllPending() const { return waiting_.All(); }

}  // namespace sv::engine
