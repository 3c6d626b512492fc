#pragma once
// The long-lived engine: owns the store, the sources, the compiled catalog, and the batch loop
// that makes every event take effect exactly once.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cron.h"
#include "common/time_util.h"
#include "config/config.h"
#include "derived/maintainer.h"
#include "engine/job_thread.h"
#include "engine/monitor.h"
#include "engine/processor.h"
#include "engine/row_observer.h"
#include "engine/row_sets.h"
#include "engine/tenant_job.h"
#include "engine/view_versions.h"
#include "projection/projection.h"
#include "source/open.h"
#include "source/source.h"
#include "store/open.h"
#include "store/store.h"

namespace sv::engine {

// The store a config names, as store::OpenStore takes it.
store::StoreOptions StoreOptionsFor(const config::StoreConfig& store);

struct EngineOptions {
  std::string store_path;  // overrides the config's store path when not empty
  // Rebuild views whose definition changed (or that are new on a non-empty source) at Open.
  bool rebuild_changed_views = true;
  // Leave a changed view on its active version instead (`streamview rebuild` builds its new one
  // once); such an engine only rebuilds, it must not run. New views are still built.
  bool keep_changed_views = false;
  // Start the sources at Open (`streamview rebuild` does not: a change feed whose slot is gone
  // cannot start, and its rebuild is what makes a new one).
  bool start_sources = true;
  std::function<void(const std::string&)> progress;  // human progress lines (stderr)
  // Optional: where the loop publishes positions and counters and takes commands from.
  Monitor* monitor = nullptr;
  // Optional: called after every commit with its duration and number of records.
  std::function<void(double seconds, size_t records)> on_commit;
  // What "now" is for stash expiry, refresh schedules, dead letters and progress (see
  // common/time_util.h). Must outlive the engine; the monitor's, when one is given, should be
  // the same clock.
  const Clock* clock = Clock::Real();
  // Optional: follows the committed rows of the views it watches (see engine/row_observer.h).
  // Must outlive the engine.
  RowObserver* row_observer = nullptr;
};

struct RebuildStats {
  int64_t events = 0;
  int64_t rows_written = 0;
  double fold_seconds = 0;
  double write_seconds = 0;
  double total_seconds = 0;
  int threads = 1;
};

// Latency from append (log time) to commit, for the steady-state benchmark.
struct LatencySample {
  std::vector<int64_t> micros;  // bounded reservoir
  int64_t seen = 0;
};

// What a TRUNCATE of `table` (engine/truncate.cc) does to a view of `plan`: nothing (the table
// feeds it not), clears it (it alone feeds it), or cannot tell its rows apart (other events
// feed it too, the first named in `other_event`): the live loop then keeps them, dead-lettering
// the record.
enum class TruncateEffect { kNone, kClears, kMixed };
TruncateEffect TruncateEffectOn(const projection::SourcePlan& plan,
                                const projection::ViewPlan& view, const std::string& table,
                                std::string* other_event = nullptr);
// The table a TRUNCATE record (source::kTruncateHeader) names; empty for other records.
std::string TruncatedTable(const source::SourceRecord& record);

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const config::Config& config,
                                                      const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Processes at most one batch per source and commits it — with pipelined commits (SQLite),
  // behind the loop: it is durable when the next RunOnce returns, or after Sync. *idle = no
  // source had records.
  absl::Status RunOnce(bool* idle);
  // Waits until everything processed so far is committed.
  absl::Status Sync();
  // Loops until `stop` is set (finishing and committing the batch in hand) or, with
  // exit_when_caught_up, until every source is caught up.
  absl::Status Run(const std::atomic<bool>& stop, bool exit_when_caught_up);

  // Replays the source of the given views from its beginning into new versions and swaps them
  // in atomically. `views` empty = every view of every source (and the sources' gate state).
  // A source whose retention dropped its beginning is refused unless `allow_partial`.
  // The versions replaced are kept as standbys (engine/view_versions.h). Without `promote`
  // the new versions are built at the live positions and kept beside the active ones, not
  // switched to (`streamview views promote`); the gate state is left as it is.
  absl::StatusOr<RebuildStats> Rebuild(const std::vector<std::string>& views,
                                       bool allow_partial = false, bool promote = true);

  // One organization's rows of tenant views rebuilt (engine/tenant_rebuild.cc): the source is
  // replayed beside the live views up to where they stand, and that organization's rows are
  // swapped in as one batch, derived views following; other organizations' rows stay as they
  // are. RebuildTenant runs it to its end here (`streamview rebuild --tenant`; a change feed's
  // fold is a new snapshot beside the live slot, and the loop is run here until it passes it:
  // the engine must have been opened with its sources started). StartTenantRebuild folds on a
  // thread of its own while the loop goes on serving and applying every organization's events; the
  // loop swaps the rows in once the fold is done and tells `done` (on its thread).
  absl::StatusOr<RebuildStats> RebuildTenant(const TenantRebuildRequest& request);
  absl::Status StartTenantRebuild(const TenantRebuildRequest& request,
                                  std::function<void(const absl::StatusOr<RebuildStats>&)> done);
  // Every view (or one organization's rows) compared key by key with what its source says
  // (engine/source_verify.cc): each source is folded into a shadow beside the live views, as a
  // tenant rebuild does, and compared with them at the live position, so rows the stream
  // changes meanwhile are never flagged; with `repair`, the drifting keys are written as the
  // source says through the commit path. Verify runs it to its end here (no sources running);
  // StartVerify folds beside the loop and tells `done` on the loop's thread. The outcome is
  // also told to the monitor (metrics). A change feed's shadow is a new snapshot of its tables
  // (beside the live slot), followed by the live records after it; the two sides are compared
  // once the loop has committed past the snapshot. Verify then runs the loop itself until it
  // has (the engine must have been opened with its sources started); views of a change feed
  // are skipped, saying why, when it was not.
  absl::StatusOr<VerifyReport> Verify(const VerifyRequest& request);
  absl::Status StartVerify(const VerifyRequest& request,
                           std::function<void(const absl::StatusOr<VerifyReport>&)> done);

  // Promote or roll back a view to a kept version (engine/view_versions.h), between batches:
  // the loop writes the new active table from the next batch on.
  absl::StatusOr<store::ViewVersion> SwitchViewVersion(const SwitchRequest& request,
                                                       const std::function<void(std::string)>& say);

  // Dead-letter operations (exclusive: the caller holds the engine lock).
  absl::Status ReplayDeadLetter(int64_t id, const std::string* payload);
  absl::Status DiscardDeadLetter(int64_t id);

  store::Store* store() { return store_.get(); }
  const Clock& clock() const { return *options_.clock; }
  const projection::Catalog& catalog() const { return *catalog_; }
  LatencySample& latency() { return latency_; }

 private:
  // A row change of a view derived views read, as the working set saw it.
  struct DerivedChange {
    int view;
    std::shared_ptr<const Row> old_row;  // null: inserted; shared with the working set
    std::shared_ptr<const Row> new_row;  // null: deleted
  };
  // One share of a source's keys (a hash of the gate key): its own gate state, working set and
  // read connection, so that lanes process a poll's records concurrently. A view row belongs to
  // one key (ViewPlan::partition_local), so lanes never touch the same row.
  struct Lane {
    std::unique_ptr<store::Store> reader;  // lanes after the first; the first reads via store_
    std::unique_ptr<JobThread> thread;     // likewise: the first runs on the loop's thread
    std::unique_ptr<CachedRowSet> rows;
    std::unique_ptr<Processor> processor;
    std::vector<const source::SourceRecord*> records;  // of the current poll
    std::vector<DerivedChange> derived_changes;        // of the batch in hand
  };
  struct SourceState {
    int index = 0;
    std::unique_ptr<source::Source> source;
    source::SourceTraits traits;
    std::vector<Lane> lanes;
    std::unique_ptr<Decoder> router;  // keys of records that carry none (lanes > 1)
    std::vector<source::SourceRecord> records;
    std::map<int32_t, int64_t> applied;    // committed positions, for the monitor
    int64_t last_event_time_us = 0;        // log time of the last committed record
    int64_t pending_event_time_us = 0;     // ... of the last record of the uncommitted batch
    std::vector<TracedPoll> traced_polls;  // polls of the uncommitted batch that began a trace
    bool mid_transaction = false;  // its last record polled `continues` a source transaction
  };

  // A view version built by a rebuild, activated with the others in one transaction.
  struct BuiltVersion {
    int view;
    int64_t version;
    store::TableSpec table;
  };

  Engine(const config::Config& config, const EngineOptions& options);
  absl::Status Init();
  absl::Status PrepareViews();
  absl::Status PrepareViewsLocked();
  // Drops the versions no view points at: shadow tables of a rebuild that was killed, old
  // tables a swap did not get to drop. Only while this engine is the store's one writer.
  absl::Status DropLeftoverVersions();
  // A change feed with nothing stored yet (its first start, or after a crash during it): its
  // views are built by a rebuild from a new snapshot — folded in memory as compact rows, written
  // in bulk, swapped in with the slot's consistent point — before its stream starts.
  absl::Status SnapshotNewChangeFeeds();
  absl::Status StartSources();
  absl::StatusOr<std::unique_ptr<source::Source>> MakeSource(const config::SourceConfig& cfg);
  // Fresh processors for the lanes of `st` with the stored pending events (of `partitions`
  // only, if given).
  absl::Status NewProcessors(SourceState& st, const std::vector<int32_t>* partitions);
  // Lanes (engine/lanes.cc): how many a source gets, their working sets and connections.
  int LaneCount(int source) const;
  absl::Status StartLanes(SourceState& st);
  size_t LaneOf(const SourceState& st, const std::string& key) const;
  // Processes the records of the last poll of `st`, each lane on its own thread.
  absl::Status ProcessLanes(SourceState& st);
  bool AnyChanges() const;
  // A TRUNCATE (engine/truncate.cc; a record with source::kTruncateHeader, processed on one
  // lane): every row of each view the table alone feeds is erased through the working set, in
  // the record's batch, so derived views see each row go; a view the table shares with other
  // event types cannot tell its rows apart, and the record becomes a dead letter saying so.
  absl::Status ClearTruncated(SourceState& st, const source::SourceRecord& record);
  // Shared stores (engine/fence.cc): takes `partitions` for work outside the loop, refusing
  // while another engine owns one; returns those to give back with ReleaseFence.
  absl::StatusOr<std::vector<int32_t>> FencePartitions(const std::string& source,
                                                       const std::set<int32_t>& partitions,
                                                       const source::Source& labels,
                                                       std::string_view what);
  void ReleaseFence(const std::string& source, const std::vector<int32_t>& taken);
  // Dead letter `id` (open) handed to `act` with the processor of its key's lane, its
  // partition fenced, then committed (engine/dead_letters.cc). A failed `act` is committed too
  // when `commit_failed`, else the engine starts over from the store.
  absl::Status ActOnDeadLetter(
      int64_t id, const char* what, bool commit_failed,
      const std::function<absl::Status(Processor&, const store::DeadLetter&)>& act);
  // A lane met a record whose key is not the one it was routed by.
  bool Misrouted() const;
  void ResetRows();
  // Everything processed so far, taken out of the loop's state for one transaction.
  struct ObservedRows {
    std::vector<std::shared_ptr<const Row>> upserts;
    std::vector<Row> deleted_keys;
  };
  struct Sealed {
    WriteSet rows;                               // base rows
    std::vector<DerivedChange> derived_changes;  // become derived rows in Write
    // Filled by Write for the views the row observer watches; told to it by Finish.
    std::map<int, ObservedRows> observed;
    std::map<std::string, int64_t> derived_counters;  // filled by Write: rows written, errors
    std::vector<Changes> changes;                     // by source
    std::vector<int64_t> event_time_us;               // by source: log time of its last record
    std::vector<int64_t> latency;                     // log times of the records
    std::vector<store::TableSpec> tables;             // by view, as they were
    // By slot of `tables`: the view whose readers read that table (-1: none reads it, as a
    // version built beside the serving one); what the row observer is told. Beyond: none.
    std::vector<int> served_slots;
    std::vector<char> dead_letter_outbox;  // by source: its dead letters are mirrored (outbox)
    double seconds = 0;                    // how long the write took
    // Timed derived views: the clock their rows are computed at in this batch (stored with
    // it); 0 when no view reads the clock.
    int64_t clock_us = 0;
    // Tracing (engine/traces.h): the batch's traced events and polls, and its write's times.
    std::vector<TracedEvent> traced;
    std::vector<TracedPoll> traced_polls;
    int64_t write_start_ns = 0, write_end_ns = 0, rows_written = 0;
  };
  Sealed Seal();
  // Writes a sealed batch in one transaction (on either thread: touches no loop state).
  absl::Status Write(store::Store* store, Sealed& sealed);
  // Writes it into `batch`, uncommitted.
  absl::Status WriteInto(store::Batch* batch, Sealed& sealed);
  // Large source transactions (engine/open_batch.cc). A source transaction spans polls when a
  // record `continues` it: what was processed so far is written into one store transaction left
  // open on the loop's connection (whose reads see it), a page at a time, and committed with
  // its last record, so the transaction takes bounded memory and commits whole.
  bool MidTransaction() const;
  absl::Status WritePage();
  absl::Status CommitOpenBatch();
  // Lanes read through connections of their own, which cannot see an open batch: a source
  // transaction spanning polls turns them off (see RunOnce).
  absl::Status CheckLanesForOpenBatch(const SourceState& st);
  // After its commit: applied positions, counters, mirrors (Kafka offsets, dead-letter topic).
  void Finish(Sealed& sealed);
  // Waits for the batch being written behind the loop, if any, and finishes it.
  absl::Status Drain();
  // The dead-letter outbox of a source that mirrors dead letters (a Kafka dead-letter topic):
  // forgets the copies the mirror confirmed, waiting up to `wait_ms` for those in flight.
  void SettleDeadLetterMirror(SourceState& st, int wait_ms);
  // Sends again the outbox's unconfirmed copies of `partitions` (their new owner's job).
  absl::Status ResendDeadLetterOutbox(SourceState& st, const std::vector<int32_t>& partitions);
  // Settles every source's mirror before the engine stops (copies in flight get a moment).
  void StopDeadLetterMirrors();
  bool Pipelined() const;
  // Seals the batch in hand and writes it on the commit worker (after the previous one).
  absl::Status CommitBehind();
  // Writes everything processed so far in one batch, now. On failure the in-memory state is
  // ahead of the store: the caller must Recover.
  absl::Status Commit();
  // Commit() from inside a source's Poll (rebalance hooks): closes and reopens the read snapshot.
  absl::Status CommitInHand();
  // After a failed batch: drops uncommitted state and restarts the sources from the store.
  // Returns `failure` (with any restart error appended).
  absl::Status Recover(const absl::Status& failure);
  // What Recover does, returning only whether the restart worked.
  absl::Status Restart();
  absl::Status RunOnceOrFail(bool* idle);
  // Every source has applied what it has (see Run's exit_when_caught_up).
  bool CaughtUp();
  void Progress(const std::string& line);
  // Polls every source once (up to `max` records each, a source with nothing new waiting up to
  // `wait_ms` for something) and processes what came; returns how many records came.
  absl::StatusOr<size_t> PollAndProcess(size_t max, int wait_ms);
  // Tracing: a poll of `st` that returned records, begun at `start_ns` (engine/traces.h).
  void NotePoll(SourceState& st, int64_t start_ns);
  void RecordLatency(int64_t now_us, const std::vector<int64_t>& log_times_us);
  // Tells the monitor (if any) where each source stands.
  void PublishProgress();
  // Computes the derived views' state from the stored rows of the views they read (the
  // versions readers read).
  absl::Status LoadDerived();
  // ---- Derived views follow the versions that serve (engine/derived_serving.cc).
  // The config compiled with the `previous:` definition of each view for which `previous_of`
  // holds (the same views at the same indices); null when it holds for none (catalog_ is that).
  absl::StatusOr<std::unique_ptr<projection::Catalog>> CompileWithPrevious(
      const std::vector<bool>& previous_of) const;
  // By view: whether its previous: definition's version serves (maintained_, active).
  std::vector<bool> PreviousServing() const;
  // The catalog derived views are maintained over: the config's, with the previous: definition
  // of each view whose previous: version serves (serving_catalog_; null when none does).
  std::unique_ptr<projection::Catalog> serving_catalog_;
  absl::Status ChooseServingCatalog();
  const projection::Catalog& ServingCatalog() const;
  // The catalog a rebuild computes derived views over: the views `rebuilt` read from their new
  // tables (the config's definition), the others from the versions serving. Valid until the
  // next call (build_catalog_ holds it when it is neither catalog_ nor a serving one).
  absl::StatusOr<const projection::Catalog*> CatalogReading(
      const std::function<bool(int)>& rebuilt);
  std::unique_ptr<projection::Catalog> build_catalog_;
  // The table readers read of `view`: its previous: definition's version while that one serves.
  const store::TableSpec& ServedTable(int view) const;
  // derived_ made again over the serving catalog (after maintained_ changed), loaded.
  absl::Status ResetDerived();
  // Makes `target` the active version of `view` and writes, in the same transaction, the rows
  // of the derived views that read it as computed from it; derived_ is that computation then.
  absl::Status ActivateWithDerived(int view, const store::ViewVersion& target);
  // By view: why this engine does not run its previous: definition although RunnablePrevious
  // allows it (a derived view reading it would change columns), else empty.
  std::vector<std::string> previous_refused_;
  void RefusePreviousUnderChangedDerived();
  // Views with `refresh: <cron>`: the store recomputes each in full when its time comes.
  absl::Status StartRefreshes();
  absl::Status RefreshDue(int64_t now_us);
  absl::Status Refresh(int view, const store::TableSpec& table);
  // Builds new versions of the wanted derived views whose inputs are ready (not wanted, or
  // built: `fresh` holds their new tables), from scratch, and appends them to `built`; each
  // one built is cleared from `derived_wanted`. `loading`, if set, was BeginLoad-ed with the
  // same ready views and fed the rebuilt rows.
  absl::Status BuildDerivedVersions(const std::vector<bool>& wanted,
                                    std::vector<bool>* derived_wanted,
                                    std::map<int, store::TableSpec>* fresh,
                                    const std::vector<store::ViewVersion>& versions,
                                    std::vector<BuiltVersion>* built, derived::Maintainer* loading);
  // Before a swap: the active versions `built` replaces are recorded as kept (standbys, at the
  // live positions they stand at).
  absl::Status KeepReplacedVersions(const std::vector<BuiltVersion>& built);
  // After a swap (or a build without `promote`, whose versions are recorded as kept
  // candidates): the engine follows the new tables, and kept versions beyond
  // `engine.standby_versions` are dropped.
  absl::Status FinishVersions(const std::vector<BuiltVersion>& built, bool promote);
  // Maintained versions (engine/view_versions.h): the inactive versions every batch writes
  // too, through the working sets' slot `catalog_->views.size() + i` for maintained_[i]. Read
  // from the store after anything that may change them (start, rebuild, switch); a version
  // marked maintained that this engine cannot maintain (another definition, a derived view, a
  // second one of a view) is recorded at the live positions instead, before any batch.
  struct MaintainedVersion {
    int view;
    int64_t version;
    store::TableSpec table;
    bool previous = false;  // built from the view's `previous:` definition (previous_catalog_)
    bool active = false;    // readers read it (a previous: definition's version serving)
  };
  std::vector<MaintainedVersion> maintained_;
  absl::Status LoadMaintainedVersions();
  // Stops maintaining the versions of `views` (the positions are about to move without them:
  // a full rebuild replaces the source's state): each recorded at the live positions.
  absl::Status FreezeMaintainedVersions(const std::vector<int>& views);
  // The tables the working sets write: tables_, then the maintained versions'.
  std::vector<store::TableSpec> WriteTables() const;
  // By view: the working-set slot of its maintained version, -1 for none (of its `previous:`
  // definition's version with `previous`).
  std::vector<int> MaintainedSlots(bool previous = false) const;
  // Sealed::served_slots for the working sets' slots (WriteTables()).
  std::vector<int> ServedSlots() const;
  // A changed definition built beside the serving version (engine/version_build.cc). The
  // config compiled with the views' `previous:` definitions (null when none has one): the
  // loop folds events with its plans into the version built from that definition, so the
  // version serving (or kept for a rollback) stays current while the view's own runs.
  std::unique_ptr<projection::Catalog> previous_catalog_;
  absl::Status CompilePreviousDefinitions();
  // Whether this engine keeps `view`'s previous definition's version current (it runs the loop).
  bool RunsPrevious(int view) const;
  // At start, `view` whose active version was built from its previous definition: the loop
  // writes the view's own definition into its newest maintained version of that definition, or
  // into a new one built in the background (pending_builds_). False: not possible here (the
  // view is then rebuilt before the loop starts, as any changed view).
  absl::StatusOr<bool> PrepareBesidePrevious(int view, const store::ViewVersion& active,
                                             const std::vector<store::ViewVersion>& versions,
                                             int64_t max_version);
  std::vector<int> pending_builds_;  // views whose version the loop builds in the background
  int build_failures_ = 0;           // in a row: the build is given up after a few
  // Between batches: starts the next pending build when no fold runs.
  absl::Status StartPendingBuild();
  // The wanted derived views computable now: each input not wanted, or `rebuilt`, or itself
  // ready (derived views follow their inputs in the catalog).
  std::vector<int> ReadyDerived(const std::vector<bool>& wanted,
                                const std::vector<bool>& derived_wanted,
                                const std::function<bool(int)>& rebuilt) const;

  // Constant after Open.
  config::Config config_;
  EngineOptions options_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<projection::Catalog> catalog_;
  // Mutable state of the loop (single-threaded).
  std::vector<store::TableSpec> tables_;  // active physical table per view
  std::vector<int64_t> versions_;         // active version per view
  std::unique_ptr<derived::Maintainer> derived_;
  bool lanes_disabled_ = false;  // a record's key was not its routing key: one lane from now
  // ... or a TRUNCATE came (which clears rows of every lane), or a source transaction spans
  // polls (see CheckLanesForOpenBatch): why lanes must go, "" if they may stay.
  std::string one_lane_needed_;
  std::string failed_source_;     // the source whose call failed in this loop turn, if any
  bool derived_stale_ = false;    // a failed batch left the derived state ahead of the store
  bool sources_stopped_ = false;  // a rebuild stopped them: started again before the next poll
  bool waited_in_poll_ = false;   // the last poll of the loop waited in its source
  // Timed derived views (engine/derived_clock.cc): some view reads now(). The store holds their
  // rows as computed at `stored_clock_us_` (kept as a position of kDerivedClockSource, written
  // by the batch that wrote the rows); the maintainer moves to the engine's clock in each batch.
  bool timed_ = false;
  int64_t stored_clock_us_ = 0;
  std::atomic<int64_t> next_deadline_us_{std::numeric_limits<int64_t>::max()};
  absl::Status InitDerivedClock();
  // A new maintainer's clock: what the store's derived rows were computed at.
  void ClockMaintainer(derived::Maintainer* m) const { m->SetClock(stored_clock_us_); }
  // In WriteInto: moves the maintainer to the batch's clock (before its changes are applied).
  void AdvanceDerivedClock(const Sealed& sealed);
  // In WriteInto: stores the clock the batch's derived rows were computed at.
  absl::Status StoreDerivedClock(store::Batch* batch, Sealed& sealed);
  // A timed view's row is due to change: an idle loop commits a batch for it.
  bool DerivedClockDue() const;
  // How long an idle poll may wait before the next row is due (capped by `wait_ms`).
  int WaitUntilDue(int wait_ms) const;
  // How long a poll of the one source may wait for records (0 with several: none waits behind
  // another): engine.poll_idle_ms, longer for a source woken by arrivals; WaitUntilDue.
  int PollWaitMs() const;
  struct ScheduledRefresh {
    int view;
    CronSchedule schedule;
    int64_t next_us;
  };
  std::vector<ScheduledRefresh> refreshes_;
  // The config's `verify:` schedule, if any: next run time (0 = not scheduled).
  std::optional<CronSchedule> verify_schedule_;
  int64_t verify_next_us_ = 0;
  bool verify_folds_here_ = false;  // Verify (no loop): folds are run by the caller
  absl::Status VerifyDue(int64_t now_us);
  // Pipelined commits (SQLite): a connection and thread of their own, one batch in flight.
  std::unique_ptr<store::Store> writer_store_;
  std::unique_ptr<JobThread> worker_;
  std::unique_ptr<Sealed> in_flight_;
  // A source transaction spanning polls: its store transaction, and the pages written into it
  // (their rows gone), finished when it commits.
  std::unique_ptr<store::Batch> open_batch_;
  std::vector<Sealed> open_pages_;
  std::set<int> open_batch_replaced_;  // watched views an open batch wrote (told at its commit)
  std::vector<bool> observed_views_;   // by view: the row observer watches it
  // The tenant rebuild in progress, if any (engine/tenant_rebuild.cc).
  std::unique_ptr<TenantJob> tenant_job_;
  absl::StatusOr<std::unique_ptr<TenantJob>> NewTenantJob(const TenantRebuildRequest& request);
  // A job folding source `source` from nothing up to its stored positions; `what` names the
  // work in refusals. A change feed (`snapshot_ok`) is folded from a new snapshot instead,
  // compared or swapped in once the loop has passed it (WaitForSnapshot). With
  // `maintained_versions`, the maintained versions' slots are folded too (TenantJob).
  absl::StatusOr<std::unique_ptr<TenantJob>> NewFoldJob(int source, std::string_view what,
                                                        bool snapshot_ok = false,
                                                        bool maintained_versions = false);
  // The tables of the working-set slots `job` folded: tables_, then (TenantJob::version_slots)
  // the maintained versions'. Aborted if those changed since it began (a switch or a full
  // rebuild cancels the job first, so they should not).
  absl::StatusOr<std::vector<store::TableSpec>> FoldedTables(const TenantJob& job) const;
  // The view a working-set slot (WriteTables) holds rows of, and the plan they are folded with
  // (a previous: definition's for its version).
  int ViewOfSlot(int slot) const;
  const projection::ViewPlan& PlanOfSlot(int slot) const;
  // Lets `job` (of the embedded log, for the organization in job.request.tenant) fold only that
  // organization's keys' records when that is exact for `views` (LogOrgIndexProblem), else
  // says why not in job.index_unused.
  absl::Status FoldByOrgIndexIfExact(TenantJob& job, const std::vector<int>& views);
  // A folded snapshot job whose snapshot the loop has not passed yet: asks the live source to
  // move on (true: wait); fails once that takes too long (kSnapshotPassTimeout).
  absl::StatusOr<bool> WaitForSnapshot(TenantJob& job);
  void StartFold(TenantJob& job);  // on a thread of its own, beside the loop
  void FoldHere(TenantJob& job);   // on the caller's thread (no loop running)
  // Waits for the fold, drains the batch in flight and replays the loop's tail into the job:
  // it then stands exactly where the live views do.
  absl::Status CatchUpTenantJob(TenantJob& job);
  // Verify (engine/source_verify.cc): the next source's job of `run` made the tenant job, or
  // the run told its end when none is left.
  absl::Status NextVerifyJob(std::shared_ptr<VerifyRun> run);
  absl::Status FinishVerifyJob();
  // Compares the job's shadow with the live views (repairing when asked), into `report`.
  absl::Status CompareWithShadow(TenantJob& job, const VerifyRequest& request,
                                 VerifyReport* report);
  void EndVerify(VerifyRun& run, const absl::StatusOr<VerifyReport>& outcome);
  // The loop hands the job what it polled of the job's source (and when stashes expired), so
  // the job can follow the loop's position exactly.
  void CaptureForTenantJob(int source, const std::vector<source::SourceRecord>& records,
                           int64_t expire_at_us);
  // Between batches: swaps the job's rows in once its fold is done.
  absl::Status FinishTenantJobIfFolded();
  absl::StatusOr<RebuildStats> FinishTenantJob();
  absl::Status SwapTenantRows(TenantJob& job, RebuildStats* stats);
  // The loop's records may come again (a restart, a rebalance): the job could not follow them.
  void CancelTenantJob(std::string_view why);
  // Records the row changes of the views derived views read into `changes` (for the commit).
  void WatchForDerived(CachedRowSet& rows, std::vector<DerivedChange>* changes);
  // Tells the row observer that every view it watches was replaced (after a rebuild).
  void ReplacedAllObserved();
  bool Observed(int view) const {
    return static_cast<size_t>(view) < observed_views_.size() && observed_views_[view];
  }
  std::vector<SourceState> sources_;
  std::vector<int64_t> pending_latency_;  // log times of the uncommitted batch's records
  LatencySample latency_;
  // Keeps the embedded log's organization index current beside the loop (engine/
  // tenant_log_index.cc), so that even the first tenant rebuild folds its organization only.
  // Last: destroyed (its thread stopped) before the catalog it reads.
  std::unique_ptr<LogOrgIndexKeeper> org_index_keeper_;
  absl::Status StartLogOrgIndexKeeper();
};

// Reads NDJSON lines from `in` and appends them to the embedded log in batches, filling each
// record's routing key when it can be read (used to partition rebuilds). Returns the number of
// lines appended and the last position.
struct IngestResult {
  int64_t appended = 0;
  int64_t last_position = 0;
  // Input lines (blank ones and skipped ones included) up to the last appended one: where to
  // resume (IngestOptions::skip_lines) after a failure.
  int64_t lines_done = 0;
};
struct IngestOptions {
  size_t batch_lines = 10'000;  // lines per append transaction
  int64_t rate = 0;             // events per second to pace appends at; 0 = as fast as possible
  int64_t skip_lines = 0;       // input lines to pass over first (resuming an earlier ingest)
  // Updated after each append committed (durably), so that when a later append fails the
  // caller can still say what was appended and where to resume.
  IngestResult* progress = nullptr;
  // Stamps each appended line's log time (the time stash expiry and latency are measured in).
  const Clock* clock = Clock::Real();
};
absl::StatusOr<IngestResult> IngestLines(const projection::SourcePlan& source, store::Store* store,
                                         std::istream& in, const IngestOptions& options = {});

// The pseudo source whose position (partition 0) is the clock of timed derived views' stored
// rows: stored like a position, in the batch that wrote the rows (no configured source may be
// named with '#').
inline constexpr char kDerivedClockSource[] = "#derived_clock";

// Physical table of a view version: "<view>__v<version>".
store::TableSpec TableFor(const projection::ViewPlan& view, int64_t version);
// The catalog record of a new, not yet active version of `view` in `table`.
store::ViewVersion NewVersionRecord(const projection::ViewPlan& view, int64_t version,
                                    const std::string& table);

}  // namespace sv::engine
