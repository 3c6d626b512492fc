// The commit path: a batch sealed out of the loop's state, written in one transaction (in
// line, or behind the loop on the commit worker), then finished: positions, counters, mirrors; and
// the restart from the store after a batch failed.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

// Test hook (TESTING.md, "Injected faults"): SV_TEST_EXIT_AFTER_DEAD_LETTER_COMMIT=N ends the
// process with _exit(9) right after the Nth commit that wrote mirrored dead letters, before
// their copies are sent: the crash the outbox is for. Inert unless set.
void ExitAfterDeadLetterCommitIfTold() {
  static const int64_t exit_at = [] {
    const char* v = std::getenv("SV_TEST_EXIT_AFTER_DEAD_LETTER_COMMIT");
    return v == nullptr ? int64_t{0} : std::atoll(v);
  }();
  static int64_t commits = 0;
  if (exit_at > 0 && ++commits == exit_at) _exit(9);
}

}  // namespace

absl::Status Engine::Restart() {
  // The store holds none of the failed batch: forget what we believed, resume from the store.
  (void)Drain();  // a batch still being written either committed or is lost with the rest
  CancelTenantJob("the engine restarted from the store");  // its records come again
  open_batch_.reset();  // rolled back: its source transaction comes again from the start
  open_pages_.clear();
  for (SourceState& st : sources_) {
    st.mid_transaction = false;
    st.traced_polls.clear();
  }
  ResetRows();
  derived_stale_ = true;  // reloaded before the next batch (the store may be down now)
  return StartSources();
}

absl::Status Engine::Recover(const absl::Status& failure) {
  absl::Status restart = Restart();
  if (!restart.ok()) {
    return absl::Status(failure.code(), absl::StrCat(failure.message(), "; ", restart.message()));
  }
  return failure;
}

absl::Status Engine::CommitInHand() {
  if (open_batch_ != nullptr) {
    // Half a source transaction cannot commit: all of it comes again after the restart.
    return absl::UnavailableError(
        "partitions were revoked while a large source transaction was being applied");
  }
  if (!AnyChanges()) return absl::OkStatus();
  store_->EndRead();  // a batch may not begin inside a read snapshot
  absl::Status s = Commit();
  absl::Status r = store_->BeginRead();
  return s.ok() ? r : s;
}

Engine::Sealed Engine::Seal() {
  Sealed out;
  for (SourceState& st : sources_) {
    Changes merged;
    for (Lane& lane : st.lanes) {
      lane.rows->TakeDirty(&out.rows);
      std::move(lane.derived_changes.begin(), lane.derived_changes.end(),
                std::back_inserter(out.derived_changes));
      lane.derived_changes.clear();
      lane.processor->MaterializeCounters();
      merged.MergeFrom(std::move(lane.processor->changes()));
    }
    // The store keeps the event ids the source as a whole may still see repeated.
    gate::DedupProgress progress;
    for (const Lane& lane : st.lanes) progress.Merge(lane.processor->dedup_progress());
    merged.prune_event_ids_below = progress.StoreBound(config_.gate.dedup_window);
    std::move(merged.traced.begin(), merged.traced.end(), std::back_inserter(out.traced));
    merged.traced.clear();
    std::move(st.traced_polls.begin(), st.traced_polls.end(), std::back_inserter(out.traced_polls));
    st.traced_polls.clear();
    out.changes.push_back(std::move(merged));
    out.event_time_us.push_back(st.pending_event_time_us);
    out.dead_letter_outbox.push_back(st.source != nullptr && st.source->MirrorsDeadLetters() ? 1
                                                                                             : 0);
    st.pending_event_time_us = 0;
  }
  out.latency.swap(pending_latency_);
  out.clock_us = timed_ ? options_.clock->NowMicros() : 0;
  out.tables = WriteTables();  // maintained versions' rows in their slots after the views'
  out.served_slots = ServedSlots();
  return out;
}

absl::Status Engine::Write(store::Store* store, Sealed& sealed) {
  const auto started = std::chrono::steady_clock::now();
  const bool traced = !sealed.traced.empty() || !sealed.traced_polls.empty();
  if (traced) sealed.write_start_ns = trace::NowNanos();
  auto batch = store->BeginBatch();
  absl::Status s = WriteInto(batch.get(), sealed);
  if (s.ok()) s = batch->Commit();
  if (traced) sealed.write_end_ns = trace::NowNanos();
  sealed.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return s;
}

absl::Status Engine::WriteInto(store::Batch* batch, Sealed& sealed) {
  for (size_t v = 0; v < sealed.rows.upserts.size(); ++v) {
    const store::TableSpec& table = sealed.tables[v];
    sealed.rows_written +=
        static_cast<int64_t>(sealed.rows.upserts[v].size() + sealed.rows.deletes[v].size());
    if (!sealed.rows.upserts[v].empty()) {
      std::vector<const Row*> pointers;
      pointers.reserve(sealed.rows.upserts[v].size());
      for (const auto& row : sealed.rows.upserts[v]) pointers.push_back(row.get());
      SV_RETURN_IF_ERROR(batch->UpsertRows(table, pointers));
    }
    for (const Row& key : sealed.rows.deletes[v]) SV_RETURN_IF_ERROR(batch->Delete(table, key));
    const int served = v < sealed.served_slots.size() ? sealed.served_slots[v] : -1;
    if (served >= 0 && Observed(served) &&
        !(sealed.rows.upserts[v].empty() && sealed.rows.deletes[v].empty())) {
      ObservedRows& seen = sealed.observed[served];
      seen.upserts = sealed.rows.upserts[v];
      seen.deleted_keys = sealed.rows.deletes[v];
    }
  }
  if (!sealed.derived_changes.empty() || sealed.clock_us != 0) {
    // Derived rows commit with the upstream rows they follow from. The maintainer is touched
    // only here (and between batches), so this may run behind the loop.
    AdvanceDerivedClock(sealed);
    for (const DerivedChange& c : sealed.derived_changes) {
      derived_->OnChange(c.view, c.old_row.get(), c.new_row.get());
    }
    std::map<int, std::vector<Row>> upserts;
    SV_RETURN_IF_ERROR(derived_->Flush([&](int view, const Row* old_row, const Row* new_row) {
      ++sealed.derived_counters[absl::StrCat("derived/", catalog_->views[view].name,
                                             "/rows_written")];
      if (new_row != nullptr) {
        upserts[view].push_back(*new_row);
        if (Observed(view)) {
          sealed.observed[view].upserts.push_back(std::make_shared<const Row>(*new_row));
        }
        return absl::OkStatus();
      }
      Row key;
      for (int k : sealed.tables[view].key) key.push_back((*old_row)[k]);
      if (Observed(view)) sealed.observed[view].deleted_keys.push_back(key);
      return batch->Delete(sealed.tables[view], key);
    }));
    for (const auto& [view, rows] : upserts) {
      std::vector<const Row*> pointers;
      pointers.reserve(rows.size());
      for (const Row& row : rows) pointers.push_back(&row);
      SV_RETURN_IF_ERROR(batch->UpsertRows(sealed.tables[view], pointers));
    }
    for (const auto& [view, errors] : derived_->TakeErrors()) {
      sealed.derived_counters[absl::StrCat("derived/", catalog_->views[view].name,
                                           "/expression_errors")] += errors;
    }
    // Persisted with the rows they count: /metrics resumes from them after a restart.
    if (!sealed.derived_counters.empty()) {
      SV_RETURN_IF_ERROR(batch->AddCounters(sealed.derived_counters));
    }
    SV_RETURN_IF_ERROR(StoreDerivedClock(batch, sealed));
  }
  absl::Status s;
  for (size_t i = 0; i < sealed.changes.size() && s.ok(); ++i) {
    Changes& c = sealed.changes[i];
    const std::string& name = catalog_->sources[sources_[i].index].config.name;
    for (const auto& [key, state] : c.key_states) {
      s.Update(batch->PutKeyState(name, state));
    }
    for (const auto& [pos, p] : c.pending_put) s.Update(batch->PutPending(name, p));
    for (const auto& [part, pos] : c.pending_deleted)
      s.Update(batch->DeletePending(name, part, pos));
    for (store::DeadLetter& dl : c.dead_letters) {
      s.Update(batch->AddDeadLetter(&dl));
      // Its topic copy is sent after the commit: the outbox remembers it until confirmed.
      if (s.ok() && sealed.dead_letter_outbox[i]) s.Update(batch->AddDeadLetterOutbox(dl.id));
    }
    for (const auto& [id, state] : c.dead_letter_states) {
      s.Update(batch->SetDeadLetterState(id, state));
    }
    for (const auto& [id, pos] : c.event_ids) s.Update(batch->PutEventId(name, id, pos));
    if (c.prune_event_ids_below > 0) s.Update(batch->PruneEventIds(name, c.prune_event_ids_below));
    if (!c.counters.empty()) s.Update(batch->AddCounters(c.counters));
    for (const auto& [part, pos] : c.positions) s.Update(batch->SetPosition(name, part, pos));
  }
  sealed.rows = WriteSet();  // freed here, behind the loop when pipelined
  return s;
}

void Engine::Finish(Sealed& sealed) {
  if (!sealed.traced.empty() || !sealed.traced_polls.empty()) {
    // A page of a large source transaction is timed by nobody: its spans take the finish time.
    const int64_t now = trace::NowNanos();
    ExportBatchSpans(sealed.traced, sealed.traced_polls,
                     sealed.write_start_ns != 0 ? sealed.write_start_ns : now,
                     sealed.write_end_ns != 0 ? sealed.write_end_ns : now, sealed.rows_written);
    sealed.traced.clear();
    sealed.traced_polls.clear();
  }
  // Before the positions are published: a reader that waited for them sees these rows.
  for (const auto& [view, seen] : sealed.observed) {
    options_.row_observer->OnCommitted(view, seen.upserts, seen.deleted_keys);
  }
  sealed.observed.clear();
  if (sealed.clock_us != 0) stored_clock_us_ = sealed.clock_us;
  if (options_.monitor != nullptr && !sealed.derived_counters.empty()) {
    options_.monitor->AddCounters(sealed.derived_counters);
  }
  for (size_t i = 0; i < sealed.changes.size(); ++i) {
    SourceState& st = sources_[i];
    Changes& c = sealed.changes[i];
    for (const auto& [part, pos] : c.positions) st.applied[part] = pos;
    if (sealed.event_time_us[i] != 0) st.last_event_time_us = sealed.event_time_us[i];
    if (options_.monitor != nullptr) options_.monitor->AddCounters(c.counters);
    for (const store::DeadLetter& dl : c.dead_letters) {
      LogJson("warn", "dead letter",
              {{"source", dl.source},
               {"key", dl.key},
               {"position", std::to_string(dl.position)},
               {"reason", dl.reason},
               {"parks_key", dl.parks_key ? "true" : "false"}});
    }
    if (sealed.dead_letter_outbox[i] && !c.dead_letters.empty()) ExitAfterDeadLetterCommitIfTold();
    st.source->AfterCommit(c.positions, c.dead_letters);
    SettleDeadLetterMirror(st, 0);
  }
  PublishProgress();
  if (options_.on_commit) options_.on_commit(sealed.seconds, sealed.latency.size());
  RecordLatency(options_.clock->NowMicros(), sealed.latency);
}

absl::Status Engine::Drain() {
  if (in_flight_ == nullptr) return absl::OkStatus();
  absl::Status s = worker_->Wait();
  std::unique_ptr<Sealed> done = std::move(in_flight_);
  if (!s.ok()) {
    derived_stale_ = true;
    return s;
  }
  Finish(*done);
  return absl::OkStatus();
}

bool Engine::Pipelined() const {
  return config_.engine.pipeline_commits &&
         store::TraitsOf(StoreOptionsFor(config_.store)).commits_behind_loop;
}

absl::Status Engine::CommitBehind() {
  SV_RETURN_IF_ERROR(Drain());
  if (worker_ == nullptr) {
    store::StoreOptions so = StoreOptionsFor(config_.store);
    if (!options_.store_path.empty()) so.path = options_.store_path;
    // The engine's own kind of connection: no checkpoint inside its commits (a background
    // thread copies the WAL back).
    SV_ASSIGN_OR_RETURN(writer_store_, store::OpenStore(so, store::StoreRole::kEngine));
    worker_ = std::make_unique<JobThread>();
  }
  in_flight_ = std::make_unique<Sealed>(Seal());
  Sealed* sealed = in_flight_.get();
  worker_->Submit([this, sealed] { return Write(writer_store_.get(), *sealed); });
  return absl::OkStatus();
}

absl::Status Engine::Commit() {
  SV_RETURN_IF_ERROR(Drain());
  Sealed sealed = Seal();
  absl::Status s = Write(store_.get(), sealed);
  if (!s.ok()) {
    derived_stale_ = true;
    return s;
  }
  Finish(sealed);
  return absl::OkStatus();
}

}  // namespace sv::engine
