#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"

namespace sv::engine {

store::TableSpec TableFor(const projection::ViewPlan& view, int64_t version) {
  store::TableSpec t;
  t.name = absl::StrCat(view.name, "__v", version);
  for (const auto& c : view.columns) t.columns.push_back({c.name, c.type});
  t.key = view.key;
  t.key_nullable = view.key_nullable;
  for (const auto& idx : view.indexes) {
    // An ascending prefix of the primary key is already served by the key's own B-tree (every
    // backend stores the key ordered): building it would only cost writes.
    bool key_prefix = idx.size() <= view.key.size();
    for (size_t i = 0; key_prefix && i < idx.size(); ++i) {
      key_prefix = idx[i] == view.columns[view.key[i]].name;
    }
    if (!key_prefix) t.indexes.push_back({idx});
  }
  return t;
}

store::ViewVersion NewVersionRecord(const projection::ViewPlan& view, int64_t version,
                                    const std::string& table) {
  store::ViewVersion record{view.name, version, table, view.definition_hash, false};
  record.config_version = view.config_version;
  return record;
}

store::StoreOptions StoreOptionsFor(const config::StoreConfig& store) {
  store::StoreOptions so;
  so.kind = store.kind;
  so.path = store.path;
  so.dsn = store.dsn;
  so.schema = store.schema;
  so.view_schema = store.view_schema;
  so.shared_by_partition = store.shared_by_partition;
  so.engine_lock_wait_ms = store.engine_lock_wait_ms;
  so.cache_kib = store.cache_mib * 1024;
  so.reader_cache_kib = store.reader_cache_mib * 1024;
  return so;
}

Engine::Engine(const config::Config& config, const EngineOptions& options)
    : config_(config), options_(options) {}

Engine::~Engine() {
  CancelTenantJob("the engine stopped");  // its fold thread reads the catalog
  // The batch being written reads in_flight_ and writer_store_: let it end first.
  if (worker_ != nullptr) (void)worker_->Wait();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const config::Config& config,
                                                     const EngineOptions& options) {
  std::unique_ptr<Engine> engine(new Engine(config, options));
  SV_RETURN_IF_ERROR(engine->Init());
  return engine;
}

void Engine::ReplacedAllObserved() {
  for (size_t v = 0; v < observed_views_.size(); ++v) {
    if (observed_views_[v]) options_.row_observer->OnReplaced(static_cast<int>(v));
  }
}

void Engine::Progress(const std::string& line) {
  if (options_.progress) options_.progress(line);
}

absl::Status Engine::Init() {
  SV_ASSIGN_OR_RETURN(catalog_, projection::Compile(config_));
  SV_RETURN_IF_ERROR(CompilePreviousDefinitions());
  if (options_.row_observer != nullptr) {
    observed_views_ = options_.row_observer->Watched(catalog_->views.size());
  }
  store::StoreOptions so = StoreOptionsFor(config_.store);
  if (!options_.store_path.empty()) so.path = options_.store_path;
  SV_ASSIGN_OR_RETURN(store_, store::OpenStore(so, store::StoreRole::kEngine));
  SV_RETURN_IF_ERROR(store_->Init());
  for (const projection::ViewPlan& view : catalog_->views) {
    if (view.derived != nullptr && config_.store.shared_by_partition) {
      // Each engine of the group sees only its partitions; a group spans them all.
      return absl::FailedPreconditionError(
          absl::StrCat("derived view ", view.name,
                       " needs one engine per store; store.shared_by_partition splits the inputs"));
    }
  }
  SV_RETURN_IF_ERROR(InitDerivedClock());  // before views are built at it
  SV_RETURN_IF_ERROR(PrepareViews());
  SV_RETURN_IF_ERROR(LoadMaintainedVersions());
  SV_RETURN_IF_ERROR(ResetDerived());
  SV_RETURN_IF_ERROR(StartRefreshes());
  if (options_.start_sources && !config_.verify.schedule.empty()) {
    // Only a running loop verifies on schedule (the first time at the first due time).
    SV_ASSIGN_OR_RETURN(verify_schedule_, ParseCron(config_.verify.schedule));
    verify_next_us_ = verify_schedule_->NextAfter(options_.clock->NowMicros());
  }
  if (options_.start_sources) {
    SV_RETURN_IF_ERROR(SnapshotNewChangeFeeds());
    SV_RETURN_IF_ERROR(StartSources());
    SV_RETURN_IF_ERROR(StartLogOrgIndexKeeper());
  }
  if (options_.monitor != nullptr) {
    SV_ASSIGN_OR_RETURN(auto counters, store_->GetCounters());
    options_.monitor->AddCounters(counters);
    PublishProgress();
    options_.monitor->SetStarted();
  }
  return absl::OkStatus();
}

void Engine::PublishProgress() {
  if (options_.monitor == nullptr) return;
  std::vector<SourceProgress> out;
  const int64_t now = options_.clock->NowMicros();
  for (const SourceState& st : sources_) {
    SourceProgress p;
    p.name = catalog_->sources[st.index].config.name;
    p.applied = st.applied;
    p.last_event_time_us = st.last_event_time_us;
    p.last_commit_us = now;
    if (!st.traits.end_in_store) {
      // The server reads the embedded log's end itself; other sources know theirs.
      if (auto ends = st.source->EndOffsets(); ends.ok()) p.end = *std::move(ends);
      p.connected = st.source->Connected(&p.disconnect_reason);
      p.upstream = st.source->Upstream();
    }
    out.push_back(std::move(p));
  }
  options_.monitor->PublishSources(std::move(out));
  Processor::OrgLags lags;
  for (const SourceState& st : sources_) {
    for (const Lane& lane : st.lanes) {
      if (lane.processor != nullptr) lane.processor->AddOrgLags(&lags);
    }
  }
  std::vector<OrgLagProgress> org_lags;
  org_lags.reserve(lags.size());
  for (const auto& [entry, lag] : lags) {
    org_lags.push_back(
        {catalog_->views[entry.first].name, entry.second, lag.events, lag.oldest_log_time_us});
  }
  options_.monitor->PublishOrgLags(std::move(org_lags));
}

absl::Status Engine::DropLeftoverVersions() {
  // With a shared store another process of the group may be building a version right now.
  if (config_.store.shared_by_partition) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());
  for (const store::ViewVersion& vv : versions) {
    if (vv.active || vv.kept) continue;  // kept: a standby or an unpromoted build
    // The loop's table of a view whose version is being built (engine/version_build.cc).
    const int view = catalog_->FindView(vv.view);
    if (view >= 0 && static_cast<size_t>(view) < versions_.size() &&
        versions_[view] == vv.version) {
      continue;
    }
    Progress(absl::StrCat("view ", vv.view, ": dropping ", vv.table,
                          ", a version no view uses (left by an interrupted rebuild)"));
    SV_RETURN_IF_ERROR(store_->DropViewVersion(vv));
  }
  return absl::OkStatus();
}

absl::Status Engine::PrepareViews() {
  // Engines sharing a store start together: one at a time lists and creates the view tables,
  // so the next one sees the versions the first created instead of creating (dropping) them.
  return store_->WithViewSetupLock([this] { return PrepareViewsLocked(); });
}

absl::Status Engine::PrepareViewsLocked() {
  SV_RETURN_IF_ERROR(DropLeftoverVersions());
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());
  const size_t n = catalog_->views.size();
  tables_.assign(n, {});
  versions_.assign(n, 0);
  std::vector<std::string> stale;
  for (size_t v = 0; v < n; ++v) {
    const projection::ViewPlan& view = catalog_->views[v];
    const store::ViewVersion* active = nullptr;
    int64_t max_version = 0;
    for (const auto& vv : versions) {
      if (vv.view != view.name) continue;
      max_version = std::max(max_version, vv.version);
      if (vv.active) active = &vv;
    }
    if (active != nullptr) {
      tables_[v] = TableFor(view, active->version);
      versions_[v] = active->version;
    }
    if (active != nullptr &&
        (active->definition_hash == view.definition_hash || options_.keep_changed_views)) {
      continue;
    }
    if (active != nullptr) {
      SV_ASSIGN_OR_RETURN(const bool beside, PrepareBesidePrevious(static_cast<int>(v), *active,
                                                                   versions, max_version));
      if (beside) continue;
    }
    SV_ASSIGN_OR_RETURN(auto positions,
                        store_->GetPositions(catalog_->sources[view.source].config.name));
    if (active == nullptr && positions.empty()) {
      // Nothing consumed yet: the view starts empty and fills as the source is read.
      const int64_t version = max_version + 1;
      store::TableSpec table = TableFor(view, version);
      SV_RETURN_IF_ERROR(store_->CreateTable(table));
      SV_RETURN_IF_ERROR(store_->RecordViewVersion(NewVersionRecord(view, version, table.name)));
      SV_RETURN_IF_ERROR(store_->ActivateVersion(view.name, version, table.name));
      tables_[v] = table;
      versions_[v] = version;
      continue;
    }
    stale.push_back(view.name);
  }
  if (stale.empty()) return absl::OkStatus();
  if (!options_.rebuild_changed_views) {
    return absl::FailedPreconditionError(absl::StrCat(
        "view definition changed or view is new: ", stale.front(), " (run `streamview rebuild`)"));
  }
  for (const std::string& name : stale) {
    Progress(absl::StrCat("view ", name, ": definition changed or new; rebuilding"));
  }
  // A derived view rebuilt here reads the versions that serve (a previous: one, say).
  SV_RETURN_IF_ERROR(LoadMaintainedVersions());
  SV_RETURN_IF_ERROR(ChooseServingCatalog());
  return Rebuild(stale).status();
}

absl::Status Engine::SnapshotNewChangeFeeds() {
  for (const projection::SourcePlan& source : catalog_->sources) {
    SV_ASSIGN_OR_RETURN(const source::SourceTraits traits, source::TraitsOf(source.config));
    if (!traits.replays_snapshot || source.views.empty()) continue;
    SV_ASSIGN_OR_RETURN(auto positions, store_->GetPositions(source.config.name));
    if (!positions.empty()) continue;
    std::vector<std::string> views;
    for (int v : source.views) views.push_back(catalog_->views[v].name);
    Progress(absl::StrCat("source ", source.config.name,
                          ": first start, its views are built from a snapshot of its tables"));
    SV_RETURN_IF_ERROR(Rebuild(views).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<source::Source>> Engine::MakeSource(
    const config::SourceConfig& cfg) {
  return source::Open(cfg, store_.get());
}

absl::Status Engine::NewProcessors(SourceState& st, const std::vector<int32_t>* partitions) {
  const std::string& name = catalog_->sources[st.index].config.name;
  SV_ASSIGN_OR_RETURN(auto pending, store_->ListPending(name));
  if (partitions != nullptr) {
    // Only the keys of this consumer's partitions: another consumer owns the others' stashes.
    std::erase_if(pending, [&](const store::PendingEvent& p) {
      return std::find(partitions->begin(), partitions->end(), p.partition) == partitions->end();
    });
  }
  std::vector<std::vector<store::PendingEvent>> by_lane(st.lanes.size());
  for (store::PendingEvent& p : pending) by_lane[LaneOf(st, p.key)].push_back(std::move(p));
  SV_ASSIGN_OR_RETURN(auto ids, store_->LoadEventIds(name));
  SV_ASSIGN_OR_RETURN(const std::vector<std::string> parked, store_->ListParkedKeys(name));
  const size_t lanes = st.lanes.size();
  for (size_t i = 0; i < lanes; ++i) {
    Lane& lane = st.lanes[i];
    store::Store* store = lane.reader != nullptr ? lane.reader.get() : store_.get();
    lane.processor = std::make_unique<Processor>(catalog_.get(), st.index, config_.gate,
                                                 lane.rows.get(), StoreStateLoader(store, name));
    lane.processor->set_clock(options_.clock);
    lane.processor->set_prefetch(store->ReadsAreRoundTrips());
    lane.processor->set_maintained_slots(MaintainedSlots());
    if (previous_catalog_ != nullptr) {
      lane.processor->set_previous_definitions(previous_catalog_.get(), MaintainedSlots(true));
    }
    lane.processor->set_parked_keys(absl::flat_hash_set<std::string>(parked.begin(), parked.end()));
    if (lanes > 1) {
      lane.processor->set_owns_key(
          [this, &st, i](const std::string& key) { return LaneOf(st, key) == i; });
    }
    // Every lane is given every stored id: duplicates share a key, hence a lane, but the ids
    // carry no key to route them by.
    lane.processor->Restore(std::move(by_lane[i]), ids);
  }
  return absl::OkStatus();
}

absl::Status Engine::StartSources() {
  sources_.clear();
  sources_stopped_ = true;  // until all of them are started
  int logs = 0;
  for (const auto& plan : catalog_->sources) {
    SV_ASSIGN_OR_RETURN(source::SourceTraits traits, source::TraitsOf(plan.config));
    logs += traits.accepts_appends ? 1 : 0;
  }
  if (logs > 1) {
    // The store holds one embedded log; a second log source would read the same records.
    return absl::UnimplementedError("one embedded log source per store is supported");
  }
  sources_.resize(catalog_->sources.size());
  for (size_t s = 0; s < catalog_->sources.size(); ++s) {
    const auto& cfg = catalog_->sources[s].config;
    SourceState& st = sources_[s];
    st.index = static_cast<int>(s);
    SV_ASSIGN_OR_RETURN(st.traits, source::TraitsOf(cfg));
    SV_ASSIGN_OR_RETURN(st.source, MakeSource(cfg));
    SV_RETURN_IF_ERROR(StartLanes(st));
    SV_RETURN_IF_ERROR(NewProcessors(st, nullptr));
    const std::string name = cfg.name;
    SV_ASSIGN_OR_RETURN(auto positions, store_->GetPositions(name));
    if (!positions.empty()) {
      Progress(
          absl::StrCat("source ", name, ": resuming after position ", positions.begin()->second));
    }
    if (absl::Status sought = st.source->Seek(positions); !sought.ok()) {
      if (!st.traits.end_in_store) failed_source_ = name;
      return sought;
    }
    st.applied = positions;
    source::RebalanceHooks hooks;
    hooks.before_revoke = [this, name] {
      SV_RETURN_IF_ERROR(CommitInHand());
      return store_->UnlockPartitions(name);  // the next owner may write them now
    };
    hooks.on_assign =
        [this, s, name](
            const std::vector<int32_t>& partitions) -> absl::StatusOr<std::map<int32_t, int64_t>> {
      // Rows and gate state of these keys may have been changed by their previous owner.
      SV_RETURN_IF_ERROR(CommitInHand());
      // Fencing (shared stores): wait until no other engine still holds these partitions,
      // then read with a snapshot taken after their previous owner's last commit.
      store_->EndRead();
      const absl::Status locked = store_->LockPartitions(name, partitions);
      SV_RETURN_IF_ERROR(store_->BeginRead());
      SV_RETURN_IF_ERROR(locked);
      SourceState& owner = sources_[s];
      CancelTenantJob("partitions were reassigned");
      for (Lane& lane : owner.lanes) lane.rows->Reset();
      SV_RETURN_IF_ERROR(NewProcessors(owner, &partitions));
      SV_ASSIGN_OR_RETURN(auto stored, store_->GetPositions(name));
      owner.applied.clear();
      for (int32_t p : partitions) owner.applied[p] = stored.count(p) ? stored[p] : 0;
      SV_RETURN_IF_ERROR(ResendDeadLetterOutbox(owner, partitions));
      return stored;
    };
    st.source->SetRebalanceHooks(hooks);
  }
  sources_stopped_ = false;
  return absl::OkStatus();
}

void Engine::RecordLatency(int64_t now_us, const std::vector<int64_t>& log_times_us) {
  constexpr size_t kMaxSamples = 2'000'000;
  for (int64_t log_time_us : log_times_us) {
    ++latency_.seen;
    if (latency_.micros.size() < kMaxSamples) latency_.micros.push_back(now_us - log_time_us);
  }
}

absl::StatusOr<size_t> Engine::PollAndProcess(size_t max, int wait_ms) {
  size_t seen = 0;
  // One read snapshot for the log read and the lookups; it ends before any commit. Inside an
  // open batch, reads are the batch's transaction's.
  if (open_batch_ == nullptr) SV_RETURN_IF_ERROR(store_->BeginRead());
  absl::Cleanup end_read = [this] {
    if (open_batch_ == nullptr) store_->EndRead();
  };
  for (SourceState& st : sources_) {
    const int64_t poll_start_ns = trace::Enabled() ? trace::NowNanos() : 0;
    if (absl::Status polled = st.source->Poll(max, wait_ms, &st.records); !polled.ok()) {
      // The embedded log is read from the store: its failures are the store's.
      if (!st.traits.end_in_store) failed_source_ = catalog_->sources[st.index].config.name;
      return polled;
    }
    if (st.records.empty()) continue;
    if (poll_start_ns != 0) NotePoll(st, poll_start_ns);
    st.mid_transaction = st.records.back().continues;
    if (st.mid_transaction) SV_RETURN_IF_ERROR(CheckLanesForOpenBatch(st));
    seen += st.records.size();
    SV_RETURN_IF_ERROR(ProcessLanes(st));
    CaptureForTenantJob(st.index, st.records, st.records.back().log_time_us);
    // A sample of at most kMaxPendingLatency per batch: a source transaction of any size
    // spans one batch, and its records share one commit time anyway.
    constexpr size_t kMaxPendingLatency = size_t{1} << 16;
    for (const source::SourceRecord& r : st.records) {
      if (pending_latency_.size() >= kMaxPendingLatency) break;
      pending_latency_.push_back(r.log_time_us);
    }
    st.pending_event_time_us = st.records.back().log_time_us;
  }
  if (seen == 0) {
    // Nothing new: a gap can still expire by the wall clock.
    const int64_t now = options_.clock->NowMicros();
    for (SourceState& st : sources_) {
      CaptureForTenantJob(st.index, {}, now);
      for (Lane& lane : st.lanes) {
        if (lane.processor->stash_keys() > 0) {
          SV_RETURN_IF_ERROR(lane.processor->ExpireStashes(now));
        }
      }
    }
  }
  return seen;
}

absl::Status Engine::Sync() {
  absl::Status s = Drain();
  return s.ok() ? s : Recover(s);
}

absl::Status Engine::RunOnce(bool* idle) {
  if (sources_stopped_) {
    *idle = false;
    SV_RETURN_IF_ERROR(StartSources());
  }
  absl::Status s = RunOnceOrFail(idle);
  if (*idle && org_index_keeper_ != nullptr) org_index_keeper_->NoteLoopIdle();
  if (!s.ok() && (Misrouted() || !one_lane_needed_.empty())) {
    // A key outside its lane (see Processor::set_owns_key), a TRUNCATE, a source transaction
    // spanning polls: nothing of the batch took effect. Start over from the store with one lane
    // per source.
    LogJson("warn",
            absl::StrCat("lanes off: ", one_lane_needed_.empty()
                                            ? "a record's key differs from the key it was routed by"
                                            : one_lane_needed_),
            {{"error", std::string(s.message())}});
    one_lane_needed_.clear();
    lanes_disabled_ = true;
    *idle = false;  // the batch is still to do
    return Restart();
  }
  return s.ok() ? s : Recover(s);
}

absl::Status Engine::RunOnceOrFail(bool* idle) {
  *idle = true;
  if (derived_stale_) SV_RETURN_IF_ERROR(LoadDerived());
  // A refresh writes in a transaction of its own: not while a source transaction's is open.
  if (!refreshes_.empty() && open_batch_ == nullptr) {
    SV_RETURN_IF_ERROR(RefreshDue(options_.clock->NowMicros()));
  }
  if (verify_schedule_.has_value() && open_batch_ == nullptr) {
    SV_RETURN_IF_ERROR(VerifyDue(options_.clock->NowMicros()));
  }
  // Group commit: keep taking what arrives until the batch is full or its first event has
  // waited commit_delay_ms. A commit writes every page it dirtied once, so a few milliseconds
  // of grouping cut the pages written per event several times over at a bounded latency cost.
  const int64_t configured = config_.engine.batch_events;
  const size_t batch_events = static_cast<size_t>(
      configured > 0 ? configured
                     : store::TraitsOf(StoreOptionsFor(config_.store)).default_batch_events);
  const auto delay = std::chrono::microseconds(config_.engine.commit_delay_us);
  const auto started = std::chrono::steady_clock::now();
  size_t taken = 0;
  // With one source, a poll that finds nothing waits in the source (on its socket, in its
  // consumer) for what comes next, and returns the moment it does: a fixed sleep here instead
  // left a change feed's stream unread for most of the time (catch-up at 108k changes/s against
  // 250k). With several, each is polled without waiting, so none waits behind another.
  const int wait_ms = PollWaitMs();
  waited_in_poll_ = false;
  int next_wait_ms = wait_ms;
  while (taken < batch_events) {
    // A batch written behind the loop is finished as soon as it committed, not when the next
    // one is sealed: its positions reach the monitor, and its Kafka offsets the group (whose
    // lag is what producers and lag tooling watch), without waiting for the next batch.
    if (in_flight_ != nullptr && !worker_->Busy()) SV_RETURN_IF_ERROR(Drain());
    SV_ASSIGN_OR_RETURN(size_t seen, PollAndProcess(batch_events - taken, next_wait_ms));
    waited_in_poll_ = next_wait_ms > 0;
    taken += seen;
    if (seen > 0) *idle = false;
    if (taken == 0 || std::chrono::steady_clock::now() - started >= delay) break;
    // Mid-batch: wait again for more (at most a millisecond past the commit delay).
    next_wait_ms = seen == 0 && wait_ms > 0 ? 1 : 0;
    if (seen == 0 && wait_ms == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (MidTransaction()) return AnyChanges() ? WritePage() : absl::OkStatus();
  if (open_batch_ != nullptr) return CommitOpenBatch();
  if (!AnyChanges()) {
    pending_latency_.clear();
    // A timed view's row is due: a batch of no events moves the derived views' clock.
    if (DerivedClockDue()) return Pipelined() ? CommitBehind() : Commit();
    // Nothing new: let the batch being written finish (positions, progress, caught-up).
    return Drain();
  }
  return Pipelined() ? CommitBehind() : Commit();
}

absl::Status Engine::Run(const std::atomic<bool>& stop, bool exit_when_caught_up) {
  int backoff_ms = 10;
  auto last_publish = std::chrono::steady_clock::now();
  bool restart = false;
  bool failing = false;
  // A batch still being written when the loop ends is finished (positions, mirrors) first.
  absl::Cleanup drain = [this] {
    (void)Drain();
    StopDeadLetterMirrors();
  };
  while (!stop.load()) {
    absl::Status s;
    failed_source_.clear();
    if (restart) {
      // After a failed read or commit (e.g. a lost database connection) the in-memory state
      // may hold half a batch: start over from what the store holds.
      s = StartSources();
      if (s.ok()) restart = false;
    }
    // Commands (a rebuild) write in transactions of their own: not inside an open one.
    if (s.ok() && options_.monitor != nullptr && open_batch_ == nullptr) {
      options_.monitor->RunCommands(this);
    }
    if (s.ok() && open_batch_ == nullptr) s = FinishTenantJobIfFolded();
    if (s.ok() && open_batch_ == nullptr) s = StartPendingBuild();
    bool idle = false;
    if (s.ok()) s = RunOnce(&idle);
    // After a failure, the store is not called working again (readiness) before a batch has
    // really committed: a pipelined commit's result is known only once it is drained.
    if (s.ok() && failing) s = Sync();
    // A source's failure is its own (readiness reports it as that source's); the store's
    // status is about the store.
    if (options_.monitor != nullptr) {
      if (failed_source_.empty()) {
        options_.monitor->SetStoreStatus(s);
      } else {
        options_.monitor->SetSourceDown(failed_source_, std::string(s.message()));
      }
    }
    failing = !s.ok();
    if (!s.ok()) {
      if (!absl::IsUnavailable(s)) return s;
      restart = true;
      Progress(
          absl::StrCat(failed_source_.empty() ? "store" : absl::StrCat("source ", failed_source_),
                       " unavailable, retrying in ", backoff_ms, " ms: ", s.message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 5'000);
      continue;
    }
    backoff_ms = 10;
    // Commits publish progress; an idle loop still tells the monitor how its sources are
    // (a consumer that lost its brokers commits nothing).
    const auto now = std::chrono::steady_clock::now();
    if (now - last_publish >= std::chrono::milliseconds(500)) {
      PublishProgress();
      // Copies confirmed after the last commit leave the outbox without waiting for the next
      // (not while a batch is being written behind the loop: that would wait for its lock).
      if (in_flight_ == nullptr) {
        for (SourceState& st : sources_) SettleDeadLetterMirror(st, 0);
      }
      last_publish = now;
    }
    if (idle) {
      if (exit_when_caught_up && CaughtUp()) return absl::OkStatus();
      // The poll waited already when it could (see RunOnceOrFail).
      if (!waited_in_poll_) {
        // Not past the moment a timed view's row is due.
        std::this_thread::sleep_for(
            std::chrono::milliseconds(WaitUntilDue(static_cast<int>(config_.engine.poll_idle_ms))));
      }
    }
  }
  return absl::OkStatus();
}

bool Engine::CaughtUp() {
  for (SourceState& st : sources_) {
    // An idle poll of the embedded log means caught up; a consumer group may still be joining
    // or fetching, so those compare applied positions with the partitions' ends.
    if (st.traits.end_in_store) continue;
    auto ends = st.source->EndOffsets();
    if (!ends.ok()) return false;
    for (const auto& [partition, end] : *ends) {
      auto it = st.applied.find(partition);
      if ((it == st.applied.end() ? 0 : it->second) < end) return false;
    }
  }
  return true;
}

}  // namespace sv::engine
