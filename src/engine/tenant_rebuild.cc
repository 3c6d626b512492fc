// A tenant rebuild: one organization's rows of tenant views made again from the source, beside
// the live ones, and swapped in as one batch.
//
// Why it needs no pause: the source is replayed on a thread and a connection of its own up to
// the positions stored when the job began, while the loop goes on applying every organization's
// events (this one's too) and serving reads. The loop hands the job a copy of each poll of that
// source (and each stash expiry), so once the fold is done the job replays those same steps and
// stands exactly where the loop does. The swap then runs on the loop between batches, after the
// batch in flight committed: the organization's live rows are compared with the rebuilt ones and
// the differences written through the commit path (one transaction; derived views and lookups
// follow the changed rows like any batch's). Nothing is applied twice or lost: the rebuilt rows
// are the fold of exactly the records the live rows have applied. A restart or a rebalance
// (records polled again) cancels the job.
//
// A change feed keeps no history to replay: the fold reads a new snapshot of its tables through
// a temporary slot (made after the job began, so the loop stands at or before it), and the tail
// leaves out the live records the snapshot Holds (their transaction committed before it, by
// commit LSN: one straddling it comes whole from the stream). The swap waits until the loop has
// committed past the snapshot (WaitForSnapshot), so both sides have the same transactions. A
// TRUNCATE in the tail clears the shadow's rows as the loop clears the live ones.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/thread_boundary.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

constexpr int64_t kLivePage = 10'000;  // live rows read per query while comparing

double SecondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Test hook (TESTING.md, "Injected faults"): SV_TEST_TENANT_FOLD_HOLD=<file> holds the fold,
// its replay done, while <file> exists, so that a test makes events arrive during the rebuild
// without timing. Inert unless set.
void HoldWhileTestFileExists(const std::atomic<bool>& stop) {
  static const char* hold = std::getenv("SV_TEST_TENANT_FOLD_HOLD");
  while (hold != nullptr && !stop.load() && std::filesystem::exists(hold)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool SameFilter(const source::SnapshotFilter& a, const source::SnapshotFilter& b) {
  if (a.skipped != b.skipped || a.value != b.value || a.tables.size() != b.tables.size()) {
    return false;
  }
  for (const auto& [name, table] : a.tables) {
    auto it = b.tables.find(name);
    if (it == b.tables.end() || it->second.column != table.column ||
        it->second.key_fields != table.key_fields) {
      return false;
    }
  }
  return true;
}

absl::Status ApplyTail(TenantJob& job, const std::vector<TailStep>& steps) {
  for (const TailStep& step : steps) {
    for (const source::SourceRecord& r : step.records) {
      // A snapshot's transactions polled by the loop: the shadow has them already.
      if (job.replay != nullptr && job.replay->Holds(r)) continue;
      // A row a filtered snapshot did not read: kept until the tail is complete.
      if (SetAsideLiveRecord(job, r)) continue;
      // A key the log's organization index did not read, unless it joins the organization.
      bool skip = false;
      SV_RETURN_IF_ERROR(FoldTailRecordByIndex(job, r, &skip));
      if (skip) continue;
      // The loop clears a truncated table's views in its working set (engine/truncate.cc),
      // beside the processor: the shadow does the same to its rows (a view the table shares
      // with other events keeps them, as the loop does).
      if (const std::string table = TruncatedTable(r); !table.empty()) {
        const projection::SourcePlan& plan = job.catalog->sources[job.source];
        for (int v : plan.views) {
          if (TruncateEffectOn(plan, job.catalog->views[v], table) == TruncateEffect::kClears) {
            job.rows->rows(v).clear();
          }
        }
      }
      SV_RETURN_IF_ERROR(job.processor->Process(r));
      ++job.events;
      ++job.tail_events;
    }
    SV_RETURN_IF_ERROR(job.processor->ExpireStashes(step.expire_at_us));
  }
  return absl::OkStatus();
}

std::vector<TailStep> TakeTail(TenantJob& job) {
  std::vector<TailStep> steps;
  std::lock_guard lock(job.mu);
  steps.swap(job.tail);
  return steps;
}

// Replays the source up to the job's positions, then what the loop applied meanwhile (a few
// rounds, while it keeps coming: the loop replays the rest before the swap).
absl::Status Fold(const config::SourceConfig& config, const config::GateConfig& gate,
                  TenantJob& job) {
  SV_ASSIGN_OR_RETURN(job.replay_source, source::Open(config, job.reader.get()));
  if (job.snapshot) {
    // A change feed: its tables now, in a snapshot beside the live slot. The loop stood at or
    // before that point when the job began (the snapshot is made after), so every live record
    // past it is in the tail.
    SV_ASSIGN_OR_RETURN(job.replay, job.replay_source->OpenSnapshotBeside(job.filter));
    job.filtered_tables = job.replay->FilteredTables();
    std::lock_guard lock(job.mu);
    job.snapshot_at = job.replay->Ends();
  } else if (job.index_writer != nullptr) {
    // The embedded log, by its organization index (engine/tenant_log_index.cc).
    SV_ASSIGN_OR_RETURN(job.replay,
                        OpenOrganizationReplay(job.catalog->sources[job.source], gate, job));
  }
  if (job.replay == nullptr) {
    SV_ASSIGN_OR_RETURN(job.replay,
                        job.replay_source->OpenReplay(job.fold_until, /*allow_partial=*/false));
  }
  std::vector<source::SourceRecord> page;
  while (!job.stop.load()) {
    SV_RETURN_IF_ERROR(job.replay->Next(16'384, &page));
    if (page.empty()) break;
    for (const source::SourceRecord& r : page) {
      NoteSnapshotRow(job, r);
      if (job.index_decoder != nullptr) job.index_keys.insert(r.routing_key);
      SV_RETURN_IF_ERROR(job.processor->Process(r));
    }
    SV_RETURN_IF_ERROR(job.processor->ExpireStashes(page.back().log_time_us));
    job.events += static_cast<int64_t>(page.size());
  }
  // Stashes expire as the whole log's last page makes them, whichever records were read.
  if (job.fold_end_log_time_us > 0) {
    SV_RETURN_IF_ERROR(job.processor->ExpireStashes(job.fold_end_log_time_us));
  }
  HoldWhileTestFileExists(job.stop);
  for (int round = 0; round < 3 && !job.stop.load(); ++round) {
    std::vector<TailStep> steps = TakeTail(job);
    if (steps.empty()) break;
    SV_RETURN_IF_ERROR(ApplyTail(job, steps));
  }
  if (job.stop.load()) return absl::CancelledError("tenant rebuild cancelled");
  return absl::OkStatus();
}

void FoldOnThisThread(const config::SourceConfig& config, const config::GateConfig& gate,
                      TenantJob& job) {
  job.fold_status = CatchExceptions("tenant rebuild fold", [&] { return Fold(config, gate, job); });
  job.folded.store(true);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TenantJob>> Engine::NewTenantJob(
    const TenantRebuildRequest& request) {
  if (request.views.empty()) {
    return absl::InvalidArgumentError("a tenant rebuild names the views to rebuild");
  }
  auto job = std::make_unique<TenantJob>();
  job->request = request;
  job->source = -1;
  for (const std::string& name : request.views) {
    const int v = catalog_->FindView(name);
    if (v < 0) return absl::NotFoundError(absl::StrCat("no view named '", name, "'"));
    const projection::ViewPlan& plan = catalog_->views[v];
    if (plan.derived != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "view '", name,
          "' is derived: rebuild the base views it reads for the organization, it follows them"));
    }
    if (plan.tenant < 0 && !request.whole) {
      return absl::InvalidArgumentError(
          absl::StrCat("view '", name,
                       "' declares no tenant column (tenant:), so it cannot be rebuilt for one "
                       "organization; rebuild it whole"));
    }
    for (const MaintainedVersion& m : maintained_) {
      if (m.view == v && m.previous && !request.whole && previous_catalog_->views[v].tenant < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "view '", name, "': its previous: definition (version ", m.version,
            ", maintained) declares no tenant column, so its rows cannot be rebuilt for one "
            "organization; promote version ",
            versions_[v], " and drop version ", m.version, " first, or rebuild the view whole"));
      }
    }
    if (job->source >= 0 && job->source != plan.source) {
      return absl::InvalidArgumentError(
          absl::StrCat("a tenant rebuild takes the views of one source; '", name,
                       "' reads another source than '", request.views.front(), "'"));
    }
    job->source = plan.source;
    job->views.push_back(v);
  }
  // A whole rebuild is a version built beside (engine/version_build.cc): the others stay.
  SV_ASSIGN_OR_RETURN(std::unique_ptr<TenantJob> folding,
                      NewFoldJob(job->source, "a tenant rebuild", /*snapshot_ok=*/true,
                                 /*maintained_versions=*/!request.whole));
  folding->request = std::move(job->request);
  folding->views = std::move(job->views);
  if (folding->snapshot && !folding->request.whole) {
    // Only the organization's rows of the tables, where that is exact (engine/tenant_snapshot)
    // for the previous: definitions folded too.
    folding->filter =
        TenantSnapshotFilter(*catalog_, folding->source, folding->views, folding->request.tenant);
    if (folding->version_slots > 0 && previous_catalog_ != nullptr &&
        !SameFilter(folding->filter,
                    TenantSnapshotFilter(*previous_catalog_, folding->source, folding->views,
                                         folding->request.tenant))) {
      folding->filter = {};
    }
  } else if (!folding->snapshot && !folding->request.whole) {
    SV_RETURN_IF_ERROR(FoldByOrgIndexIfExact(*folding, folding->views));
  }
  return folding;
}

absl::Status Engine::FoldByOrgIndexIfExact(TenantJob& job, const std::vector<int>& views) {
  job.index_unused = LogOrgIndexProblem(*catalog_, job.source, views);
  if (job.index_unused.empty() && job.version_slots > 0 && previous_catalog_ != nullptr) {
    job.index_unused = LogOrgIndexProblem(*previous_catalog_, job.source, views);
  }
  if (!job.index_unused.empty()) return absl::OkStatus();
  store::StoreOptions so = StoreOptionsFor(config_.store);
  if (!options_.store_path.empty()) so.path = options_.store_path;
  SV_ASSIGN_OR_RETURN(job.index_writer, store::OpenStore(so, store::StoreRole::kWriter));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TenantJob>> Engine::NewFoldJob(int source_index,
                                                              std::string_view what,
                                                              bool snapshot_ok,
                                                              bool maintained_versions) {
  auto job = std::make_unique<TenantJob>();
  job->catalog = catalog_.get();
  job->source = source_index;
  const config::SourceConfig& source = catalog_->sources[source_index].config;
  SV_ASSIGN_OR_RETURN(const source::SourceTraits traits, source::TraitsOf(source));
  job->snapshot = traits.replays_snapshot;
  if (traits.replays_snapshot && !snapshot_ok) {
    // Its replay is a new slot and snapshot, at a position the live stream cannot be aligned
    // with; only a whole rebuild is exact there.
    return absl::UnimplementedError(absl::StrCat(
        "source '", source.name, "' is a change feed: ", std::string(what),
        " is not supported for change feeds (its replay is a new snapshot, at a position the "
        "live stream cannot be aligned with)"));
  }
  if (config_.store.shared_by_partition) {
    return absl::FailedPreconditionError(absl::StrCat(
        std::string(what), " follows this engine's polls; store.shared_by_partition splits them"));
  }
  SV_ASSIGN_OR_RETURN(job->fold_until, store_->GetPositions(source.name));
  store::StoreOptions so = StoreOptionsFor(config_.store);
  if (!options_.store_path.empty()) so.path = options_.store_path;
  SV_ASSIGN_OR_RETURN(job->reader, store::OpenStore(so, store::StoreRole::kReader));
  job->version_slots = maintained_versions && !maintained_.empty() ? WriteTables().size() : 0;
  job->rows = std::make_unique<MemoryRowSet>(std::max(job->version_slots, catalog_->views.size()));
  job->processor = std::make_unique<Processor>(catalog_.get(), job->source, config_.gate,
                                               job->rows.get(), StateLoader{});
  if (job->version_slots > 0) {
    job->processor->set_maintained_slots(MaintainedSlots());
    if (previous_catalog_ != nullptr) {
      job->processor->set_previous_definitions(previous_catalog_.get(), MaintainedSlots(true));
    }
  }
  job->processor->set_track_key_states(false);
  job->processor->set_parked_keys({});  // from nothing: no key is parked yet
  job->processor->set_clock(options_.clock);
  job->started = std::chrono::steady_clock::now();
  return job;
}

absl::StatusOr<std::vector<store::TableSpec>> Engine::FoldedTables(const TenantJob& job) const {
  if (job.version_slots == 0) return tables_;
  std::vector<store::TableSpec> tables = WriteTables();
  if (tables.size() != job.version_slots) {
    return absl::AbortedError("the maintained versions changed while the source was folded");
  }
  return tables;
}

int Engine::ViewOfSlot(int slot) const {
  const int views = static_cast<int>(catalog_->views.size());
  return slot < views ? slot : maintained_[slot - views].view;
}

const projection::ViewPlan& Engine::PlanOfSlot(int slot) const {
  const int views = static_cast<int>(catalog_->views.size());
  const int view = ViewOfSlot(slot);
  return slot >= views && maintained_[slot - views].previous ? previous_catalog_->views[view]
                                                             : catalog_->views[view];
}

absl::StatusOr<RebuildStats> Engine::RebuildTenant(const TenantRebuildRequest& request) {
  SV_RETURN_IF_ERROR(Drain());
  if (tenant_job_ != nullptr) return absl::FailedPreconditionError("a tenant rebuild is running");
  SV_ASSIGN_OR_RETURN(tenant_job_, NewTenantJob(request));
  FoldHere(*tenant_job_);
  // A change feed's snapshot is ahead of the views: the loop is run here until it passes it
  // (the engine must have been opened with its sources started).
  while (tenant_job_ != nullptr) {
    absl::StatusOr<bool> wait = WaitForSnapshot(*tenant_job_);
    if (!wait.ok()) {
      tenant_job_.reset();
      return wait.status();
    }
    if (!*wait) break;
    bool idle = false;
    SV_RETURN_IF_ERROR(RunOnce(&idle));
    SV_RETURN_IF_ERROR(Sync());  // committed: its position counts
  }
  // A failed batch starts over from the store, which cancels the job.
  if (tenant_job_ == nullptr) return absl::AbortedError("tenant rebuild cancelled by a restart");
  return FinishTenantJob();
}

absl::Status Engine::StartTenantRebuild(
    const TenantRebuildRequest& request,
    std::function<void(const absl::StatusOr<RebuildStats>&)> done) {
  // The fold replays to the stored positions: nothing polled may still be uncommitted.
  SV_RETURN_IF_ERROR(Drain());
  if (tenant_job_ != nullptr) return absl::FailedPreconditionError("a tenant rebuild is running");
  SV_ASSIGN_OR_RETURN(std::unique_ptr<TenantJob> job, NewTenantJob(request));
  job->done = std::move(done);
  TenantJob* raw = job.get();
  const config::SourceConfig* source = &catalog_->sources[raw->source].config;
  Progress(absl::StrCat("rebuild ", absl::StrJoin(request.views, ","), " for ",
                        request.whole ? std::string("every organization")
                                      : absl::StrCat("organization ", request.tenant.ToString()),
                        ": folding ", source->name, " beside the loop"));
  tenant_job_ = std::move(job);
  StartFold(*raw);
  return absl::OkStatus();
}

void Engine::CaptureForTenantJob(int source, const std::vector<source::SourceRecord>& records,
                                 int64_t expire_at_us) {
  if (tenant_job_ == nullptr || tenant_job_->source != source) return;
  std::lock_guard lock(tenant_job_->mu);
  tenant_job_->tail.push_back({records, expire_at_us});
}

absl::Status Engine::FinishTenantJobIfFolded() {
  if (tenant_job_ == nullptr || !tenant_job_->folded.load()) return absl::OkStatus();
  // The batch in flight must commit before the swap; if it fails, the loop starts over from
  // the store (which cancels the job) as after any failed batch.
  if (absl::Status drained = Drain(); !drained.ok()) return Recover(drained);
  // A change feed's snapshot: compared or swapped in once the loop committed past it.
  absl::StatusOr<bool> wait = WaitForSnapshot(*tenant_job_);
  if (wait.ok() && *wait) return absl::OkStatus();  // the loop goes on towards the snapshot
  if (!wait.ok()) {
    std::unique_ptr<TenantJob> job = std::move(tenant_job_);
    if (job->fold.joinable()) job->fold.join();
    if (job->verify != nullptr) {
      EndVerify(*job->verify, wait.status());
    } else if (job->done) {
      job->done(wait.status());
    }
    return absl::OkStatus();
  }
  if (tenant_job_->verify != nullptr) return FinishVerifyJob();
  auto done = std::move(tenant_job_->done);
  const absl::StatusOr<RebuildStats> result = FinishTenantJob();
  if (done) done(result);
  // A failed swap wrote nothing; the next batch finds out whether the store itself is down.
  return absl::OkStatus();
}

absl::Status Engine::CatchUpTenantJob(TenantJob& job) {
  if (job.fold.joinable()) job.fold.join();
  SV_RETURN_IF_ERROR(job.fold_status);
  // After this, every record the loop polled is committed and no poll comes before the swap:
  // the tail holds exactly what the live rows applied past the fold's positions.
  SV_RETURN_IF_ERROR(Drain());
  return CatchExceptions("tenant rebuild tail", [&] {
    SV_RETURN_IF_ERROR(ApplyTail(job, TakeTail(job)));
    return FoldSetAside(job);
  });
}

void Engine::StartFold(TenantJob& job) {
  const config::SourceConfig* source = &catalog_->sources[job.source].config;
  const config::GateConfig* gate = &config_.gate;
  TenantJob* raw = &job;
  job.fold = std::thread([source, gate, raw] { FoldOnThisThread(*source, *gate, *raw); });
}

void Engine::FoldHere(TenantJob& job) {
  FoldOnThisThread(catalog_->sources[job.source].config, config_.gate, job);
}

absl::StatusOr<RebuildStats> Engine::FinishTenantJob() {
  std::unique_ptr<TenantJob> job = std::move(tenant_job_);
  RebuildStats stats;
  SV_RETURN_IF_ERROR(CatchUpTenantJob(*job));
  stats.fold_seconds = SecondsSince(job->started);
  const auto write_started = std::chrono::steady_clock::now();
  SV_RETURN_IF_ERROR(SwapTenantRows(*job, &stats));
  SV_RETURN_IF_ERROR(store_->SyncCommitted());  // reported done: a power cut may not undo it
  stats.events = job->events;
  stats.write_seconds = SecondsSince(write_started);
  stats.total_seconds = SecondsSince(job->started);
  Progress(absl::StrFormat(
      "rebuild %s for %s: %lld events folded (%lld of them applied by the loop "
      "during the fold), %lld rows changed, %.2fs%s",
      absl::StrJoin(job->request.views, ","),
      job->request.whole ? std::string("every organization")
                         : absl::StrCat("organization ", job->request.tenant.ToString()),
      static_cast<long long>(stats.events), static_cast<long long>(job->tail_events),
      static_cast<long long>(stats.rows_written), stats.total_seconds,
      !job->filtered_tables.empty()
          ? absl::StrCat("; snapshot of its rows of ", absl::StrJoin(job->filtered_tables, ","),
                         " only, ", job->rows_fetched,
                         " rows moved into it afterwards read from the snapshot by key")
      : job->snapshot || job->request.whole ? ""
                                            : absl::StrCat("; ", LogFoldScope(*job))));
  return stats;
}

absl::Status Engine::SwapTenantRows(TenantJob& job, RebuildStats* stats) {
  if (derived_stale_) SV_RETURN_IF_ERROR(LoadDerived());
  // Each view's slot, then (TenantJob::version_slots) its maintained versions'.
  SV_ASSIGN_OR_RETURN(const std::vector<store::TableSpec> tables, FoldedTables(job));
  std::vector<int> slots = job.views;
  for (size_t slot = catalog_->views.size(); slot < tables.size(); ++slot) {
    const int view = ViewOfSlot(static_cast<int>(slot));
    if (std::find(job.views.begin(), job.views.end(), view) != job.views.end()) {
      slots.push_back(static_cast<int>(slot));
    }
  }
  // A working set of its own over the store: reads give each changed row's old value, for the
  // derived views, and its dirty rows are the swap's batch.
  CachedRowSet rows(store_.get(), tables, std::numeric_limits<size_t>::max() / 2);
  std::vector<DerivedChange> derived_changes;
  WatchForDerived(rows, &derived_changes);
  const Value& tenant = job.request.tenant;
  for (int v : slots) {
    const projection::ViewPlan& plan = PlanOfSlot(v);
    absl::flat_hash_map<std::string, std::string> rebuilt;  // key → encoded row, this tenant's
    Row row;
    for (const KeyedRow& encoded : job.rows->rows(v)) {
      if (!DecodeRow(encoded.bytes(), &row)) return absl::InternalError("corrupt row encoding");
      if (job.request.whole || row[plan.tenant] == tenant) {
        rebuilt.emplace(encoded.key(), encoded.bytes());
      }
    }
    auto key_of = [&plan](const Row& r, Row* key_values, std::string* key) {
      key_values->clear();
      for (int k : plan.key) key_values->push_back(r[k]);
      key->clear();
      EncodeKey(key_values->data(), key_values->size(), key);
    };
    store::ViewQuery query;
    if (!job.request.whole) {
      query.filters.push_back(store::Filter{plan.tenant, store::FilterOp::kEq, {tenant}});
    }
    query.limit = kLivePage;
    Row key_values;
    std::string key, live_encoded;
    while (true) {
      SV_ASSIGN_OR_RETURN(std::vector<Row> page, store_->QueryView(tables[v], query));
      for (const Row& live : page) {
        key_of(live, &key_values, &key);
        auto it = rebuilt.find(key);
        if (it == rebuilt.end()) {
          SV_RETURN_IF_ERROR(rows.Find(v, key, key_values).status());  // the old row, for Erase
          rows.Erase(v, key);
          ++stats->rows_written;
          continue;
        }
        live_encoded.clear();
        EncodeRow(live, &live_encoded);
        if (live_encoded == it->second) rebuilt.erase(it);  // unchanged: nothing to write
      }
      if (static_cast<int64_t>(page.size()) < kLivePage) break;
      query.after = key_values;  // keyset: the last row's key
    }
    for (const auto& [rebuilt_key, encoded] : rebuilt) {
      if (!DecodeRow(encoded, &row)) return absl::InternalError("corrupt row encoding");
      key_of(row, &key_values, &key);
      SV_RETURN_IF_ERROR(rows.Find(v, rebuilt_key, key_values).status());  // the old row
      rows.Put(v, rebuilt_key, row);
      ++stats->rows_written;
    }
  }
  Sealed sealed;
  rows.TakeDirty(&sealed.rows);
  sealed.derived_changes = std::move(derived_changes);
  sealed.tables = tables;
  sealed.served_slots = ServedSlots();
  if (absl::Status s = Write(store_.get(), sealed); !s.ok()) {
    derived_stale_ = true;
    return s;
  }
  Finish(sealed);
  ResetRows();  // the lanes' working sets may hold the organization's rows as they were
  for (ScheduledRefresh& r : refreshes_) r.next_us = 0;  // store-computed views read them
  return absl::OkStatus();
}

void Engine::CancelTenantJob(std::string_view why) {
  if (tenant_job_ == nullptr) return;
  std::unique_ptr<TenantJob> job = std::move(tenant_job_);
  job->stop.store(true);
  if (job->fold.joinable()) job->fold.join();
  Progress(absl::StrCat("tenant rebuild cancelled: ", std::string(why)));
  if (job->verify != nullptr) {
    // Told to the monitor too: a verify must not read as running for ever.
    EndVerify(*job->verify,
              absl::AbortedError(absl::StrCat("verify cancelled: ", std::string(why))));
  } else if (job->done)
    job->done(absl::AbortedError(absl::StrCat("tenant rebuild cancelled: ", std::string(why))));
}

}  // namespace sv::engine
