// Rebuild: replay a source from its beginning into new versions of its views, beside the live
// ones, then swap them in with one transaction. Built for speed: records are read by one thread
// and folded in memory by key-partitioned workers (every row is written once, at the end, in key
// order, through the store's bulk path).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/thread_boundary.h"
#include "engine/engine.h"

namespace sv::engine {
namespace {

using Chunk = std::vector<source::SourceRecord>;

// A small bounded queue between two threads (record chunks from the reader to a fold worker;
// rebuilt rows from the bulk writer to the derived views' computation).
template <typename Chunk>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}
  void Push(Chunk chunk) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    queue_.push_back(std::move(chunk));
    not_empty_.notify_one();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }
  // False when closed and drained.
  bool Pop(Chunk* chunk) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return false;
    *chunk = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Chunk> queue_;
  size_t capacity_;
  bool closed_ = false;
};

using ChunkQueue = BoundedQueue<Chunk>;

struct Worker {
  std::unique_ptr<MemoryRowSet> rows;
  std::unique_ptr<Processor> processor;
  std::unique_ptr<ChunkQueue> queue;
  absl::Status status;
};

// Resident and peak resident memory in MiB, for the progress lines (Linux /proc).
std::string MemoryNow() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return "";
  char line[256];
  long rss = 0, hwm = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    std::sscanf(line, "VmRSS: %ld kB", &rss);
    std::sscanf(line, "VmHWM: %ld kB", &hwm);
  }
  std::fclose(f);
  return absl::StrFormat("; rss %ld MiB, peak %ld MiB", rss / 1024, hwm / 1024);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

absl::StatusOr<RebuildStats> Engine::Rebuild(const std::vector<std::string>& names,
                                             bool allow_partial, bool promote) {
  SV_RETURN_IF_ERROR(Drain());  // the rebuild reads what the live views committed
  CancelTenantJob("a rebuild of whole views began");
  RebuildStats stats;
  const auto started = std::chrono::steady_clock::now();
  std::vector<bool> wanted(catalog_->views.size(), names.empty());
  for (const std::string& name : names) {
    const int v = catalog_->FindView(name);
    if (v < 0) return absl::NotFoundError(absl::StrCat("no view named '", name, "'"));
    wanted[v] = true;
  }
  // A change feed's views are rebuilt together, from one new snapshot, and its live stream
  // (which holds the slot) stops meanwhile; the sources start again when the rebuild ends, or
  // through the loop's restart if it fails.
  bool restart_sources = !sources_.empty();
  for (const projection::SourcePlan& source : catalog_->sources) {
    SV_ASSIGN_OR_RETURN(const source::SourceTraits traits, source::TraitsOf(source.config));
    if (!traits.replays_snapshot) continue;
    bool any = false;
    for (int v : source.views) any |= wanted[v];
    if (!any) continue;
    if (!promote) {
      // Its replay is a new snapshot, at a position the live stream cannot be compared with.
      return absl::FailedPreconditionError(
          absl::StrCat("source ", source.config.name,
                       " is a change feed: its views are rebuilt from a new snapshot and "
                       "swapped in at once (no --no-promote)"));
    }
    for (int v : source.views) wanted[v] = true;
    if (!sources_.empty()) {
      sources_.clear();
      sources_stopped_ = true;
    }
  }
  // A derived view is rebuilt with what it reads (derived views follow their inputs).
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    const auto& d = catalog_->views[v].derived;
    if (d == nullptr) continue;
    for (int input : d->inputs) wanted[v] = wanted[v] || wanted[input];
  }
  std::vector<bool> derived_wanted(catalog_->views.size(), false);
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    derived_wanted[v] = wanted[v] && catalog_->views[v].derived != nullptr;
  }
  std::map<int, store::TableSpec> fresh;  // built, not yet active: what derived views read
  if (derived_ != nullptr) {
    // Its memory is better spent on the rebuild; it is computed again from the swapped tables.
    derived_ = std::make_unique<derived::Maintainer>(&ServingCatalog());
    derived_stale_ = true;
  }
  SV_RETURN_IF_ERROR(DropLeftoverVersions());
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, store_->ListViewVersions());

  for (size_t s = 0; s < catalog_->sources.size(); ++s) {
    const projection::SourcePlan& source = catalog_->sources[s];
    bool any = false, all = true, partition_local = true;
    for (int v : source.views) {
      any |= wanted[v];
      all &= wanted[v];
      partition_local &= catalog_->views[v].partition_local;
    }
    if (!any) continue;
    // A full rebuild (every view of the source) replays to the source's end and replaces the
    // gate state; a partial one stops where the live views are, so all views stay consistent.
    SV_ASSIGN_OR_RETURN(auto live_positions, store_->GetPositions(source.config.name));
    SV_ASSIGN_OR_RETURN(std::unique_ptr<source::Source> src, MakeSource(source.config));
    std::optional<std::map<int32_t, int64_t>> until;
    // Built without promotion, every view stops there too: it is compared with and switched to
    // the live one at that position, and the gate state stays the live one's.
    const bool replace_state = all && promote;
    if (!replace_state) until = live_positions;
    int threads = partition_local ? std::max(1, config_.engine.rebuild_threads) : 1;
    std::vector<Worker> workers;
    std::map<int32_t, int64_t> ends;
    const int64_t events_before = stats.events;
    std::optional<std::vector<int32_t>> fenced;  // partitions taken for the rebuild
    absl::Cleanup release = [&] {
      if (fenced) ReleaseFence(source.config.name, *fenced);
    };
    // Folded again on one thread if a record's routing key turns out not to be its key.
    for (bool misrouted = true; misrouted;) {
      misrouted = false;
      SV_ASSIGN_OR_RETURN(std::unique_ptr<source::ReplayReader> replay,
                          src->OpenReplay(until, allow_partial));
      ends = replay->Ends();
      if (!fenced) {
        // A shared store: no engine of the group may write these partitions meanwhile.
        std::set<int32_t> partitions;
        for (const auto& [p, e] : ends) partitions.insert(p);
        for (const auto& [p, e] : live_positions) partitions.insert(p);
        SV_ASSIGN_OR_RETURN(fenced,
                            FencePartitions(source.config.name, partitions, *src, "rebuild"));
      }
      int64_t end = replay->EstimatedRecords();  // records to replay, for progress
      if (end < 0) {
        end = 0;
        for (const auto& [p, e] : ends) end += e;
      }
      stats.threads = threads;
      stats.events = events_before;
      workers.clear();
      workers.resize(threads);
      std::hash<std::string> hasher;
      for (size_t i = 0; i < workers.size(); ++i) {
        Worker& w = workers[i];
        w.rows = std::make_unique<MemoryRowSet>(catalog_->views.size());
        w.processor = std::make_unique<Processor>(catalog_.get(), static_cast<int>(s), config_.gate,
                                                  w.rows.get(), StateLoader{});
        w.processor->set_track_key_states(false);
        w.processor->set_parked_keys({});  // from nothing: no key is parked yet
        w.processor->set_clock(options_.clock);
        if (threads > 1) {
          w.processor->set_owns_key(
              [hasher, i, threads](const std::string& key) { return hasher(key) % threads == i; });
        }
        w.queue = std::make_unique<ChunkQueue>(2);
      }
      std::vector<std::thread> fold_threads;
      fold_threads.reserve(workers.size());
      for (Worker& w : workers) {
        fold_threads.emplace_back([&w] {
          Chunk chunk;
          while (w.queue->Pop(&chunk)) {
            for (const auto& r : chunk) {
              if (!w.status.ok()) break;
              w.status = CatchExceptions("rebuild fold", [&] { return w.processor->Process(r); });
            }
            if (w.status.ok() && !chunk.empty()) {
              w.status = CatchExceptions("rebuild fold", [&] {
                return w.processor->ExpireStashes(chunk.back().log_time_us);
              });
            }
          }
        });
      }

      // Reader: one pass over the source, records routed to workers by key.
      absl::Status read_status;
      std::vector<source::SourceRecord> page;
      int64_t read = 0;
      auto last_report = std::chrono::steady_clock::now();
      while (true) {
        read_status = replay->Next(16'384, &page);
        if (!read_status.ok() || page.empty()) break;
        std::vector<Chunk> chunks(threads);
        for (auto& c : chunks) c.reserve(page.size() / threads + 16);
        for (source::SourceRecord& r : page) {
          const size_t w = threads == 1 ? 0 : hasher(r.routing_key) % threads;
          chunks[w].push_back(std::move(r));
        }
        read += static_cast<int64_t>(page.size());
        stats.events += static_cast<int64_t>(page.size());
        for (int w = 0; w < threads; ++w) workers[w].queue->Push(std::move(chunks[w]));
        if (Seconds(last_report) >= 1.0) {
          last_report = std::chrono::steady_clock::now();
          const double secs = Seconds(started);
          const double rate = stats.events / std::max(secs, 1e-9);
          Progress(absl::StrFormat(
              "rebuild %s: %lld/%lld events (%.1f%%), %.0f events/s, ETA %.0fs%s",
              source.config.name, static_cast<long long>(read), static_cast<long long>(end),
              100.0 * read / std::max<int64_t>(end, 1), rate,
              std::max<int64_t>(end - read, 0) / std::max(rate, 1.0), MemoryNow()));
        }
      }
      for (Worker& w : workers) w.queue->Close();
      for (auto& t : fold_threads) t.join();
      SV_RETURN_IF_ERROR(read_status);
      for (Worker& w : workers) misrouted |= w.processor->misrouted();
      if (misrouted) {
        Progress(absl::StrCat("rebuild ", source.config.name,
                              ": a record's key is not the key it was routed by (the log was "
                              "ingested with another key field?); folding again on one thread"));
        threads = 1;
        continue;
      }
      for (Worker& w : workers) SV_RETURN_IF_ERROR(w.status);
    }
    stats.fold_seconds += Seconds(started);
    Progress(absl::StrFormat("rebuild %s: folded %lld events in %.2fs%s", source.config.name,
                             static_cast<long long>(stats.events), stats.fold_seconds,
                             MemoryNow()));
    const auto write_started = std::chrono::steady_clock::now();

    // New physical versions of the wanted views, filled in key order; sorting the next view
    // overlaps with writing the current one.
    using Built = BuiltVersion;
    std::vector<Built> built;
    std::vector<int> to_build;
    for (int v : source.views) {
      if (wanted[v]) to_build.push_back(v);
    }
    // The rows by key; each is freed once written, so SQLite's sorter and page cache reuse that
    // memory instead of growing the peak.
    using Entries = std::vector<const KeyedRow*>;
    auto sort_view = [&workers](int v) {
      Entries entries;
      size_t total = 0;
      for (Worker& w : workers) total += w.rows->rows(v).size();
      entries.reserve(total);
      for (Worker& w : workers) {
        for (const KeyedRow& row : w.rows->rows(v)) entries.push_back(&row);
      }
      std::sort(entries.begin(), entries.end(),
                [](const KeyedRow* a, const KeyedRow* b) { return a->key() < b->key(); });
      return entries;
    };
    // The gate state is written in key order too (a B-tree append); sort it meanwhile.
    using KeyStates = std::vector<std::pair<const std::string*, const gate::KeyGate*>>;
    std::future<KeyStates> sorted_keys;
    if (replace_state) {
      sorted_keys = std::async(std::launch::async, [&workers] {
        KeyStates states;
        for (Worker& w : workers) {
          for (const auto& [key, g] : w.processor->key_gates()) {
            // As the live run: a key without a sequence or a park has no state to keep.
            if (g.last_sequence != 0 || g.parked_on != 0) states.emplace_back(&key, &g);
          }
        }
        std::sort(states.begin(), states.end(),
                  [](const auto& a, const auto& b) { return *a.first < *b.first; });
        return states;
      });
    }
    // Derived views that read these views are computed from the rows as they are written, on
    // another thread, while SQLite writes (its single writer leaves the second core idle).
    std::vector<bool> building(catalog_->views.size(), false);
    for (int v : to_build) building[v] = true;
    auto rebuilt = [&](int view) { return fresh.count(view) > 0 || building[view]; };
    const std::vector<int> ready_here = ReadyDerived(wanted, derived_wanted, rebuilt);
    using RowChunk = std::vector<std::pair<int, Row>>;
    std::unique_ptr<derived::Maintainer> loading;
    std::unique_ptr<BoundedQueue<RowChunk>> rows_out;
    std::thread loader;
    absl::Status loader_status;  // written by the loader, read after it is joined
    std::vector<bool> feeds(catalog_->views.size(), false);
    RowChunk chunk_out;
    auto flush_rows = [&] {
      if (!chunk_out.empty()) rows_out->Push(std::move(chunk_out));
      chunk_out = RowChunk();
    };
    if (!ready_here.empty()) {
      SV_ASSIGN_OR_RETURN(const projection::Catalog* over, CatalogReading(rebuilt));
      loading = std::make_unique<derived::Maintainer>(over);
      ClockMaintainer(loading.get());  // timed views: at the clock of the stored rows
      loading->BeginLoad(ready_here);
      for (int d : ready_here) {
        for (int input : catalog_->views[d].derived->inputs) feeds[input] = building[input];
      }
      rows_out = std::make_unique<BoundedQueue<RowChunk>>(4);
      loader = std::thread([&] {
        RowChunk chunk;
        while (rows_out->Pop(&chunk)) {
          if (!loader_status.ok()) continue;  // keep draining so the writer never blocks
          loader_status = CatchExceptions("computing derived views during the rebuild", [&] {
            for (const auto& [view, row] : chunk) loading->LoadRow(view, row);
            return absl::OkStatus();
          });
        }
      });
    }
    // Joined before an early return leaves this scope.
    absl::Cleanup stop_loader = [&] {
      if (loader.joinable()) {
        rows_out->Close();
        loader.join();
      }
    };
    std::future<Entries> next_sorted;
    if (!to_build.empty()) next_sorted = std::async(std::launch::async, sort_view, to_build[0]);
    for (size_t i = 0; i < to_build.size(); ++i) {
      const int v = to_build[i];
      const projection::ViewPlan& view = catalog_->views[v];
      int64_t max_version = 0;
      for (const auto& vv : versions) {
        if (vv.view == view.name) max_version = std::max(max_version, vv.version);
      }
      Built b{v, std::max(max_version, versions_[v]) + 1, {}};
      b.table = TableFor(view, b.version);
      // Recorded first: a rebuild killed in between leaves a record whose table the next start
      // drops, never a table nothing records.
      SV_RETURN_IF_ERROR(
          store_->RecordViewVersion(NewVersionRecord(view, b.version, b.table.name)));
      SV_RETURN_IF_ERROR(store_->CreateTable(b.table));
      auto phase = std::chrono::steady_clock::now();
      Entries entries;
      SV_RETURN_IF_ERROR(CatchExceptions("sorting the rebuilt rows", [&] {
        entries = next_sorted.get();  // rethrows what the sort threw
        return absl::OkStatus();
      }));
      const double sort_wait = Seconds(phase);
      phase = std::chrono::steady_clock::now();
      if (i + 1 < to_build.size()) {
        next_sorted = std::async(std::launch::async, sort_view, to_build[i + 1]);
      }
      size_t next = 0;
      Row row;
      absl::Status decode_status;
      SV_RETURN_IF_ERROR(store_->BulkInsert(b.table, [&]() -> const Row* {
        if (next >= entries.size()) return nullptr;
        const KeyedRow* encoded = entries[next++];
        if (!DecodeRow(encoded->bytes(), &row)) {
          decode_status = absl::InternalError("corrupt row encoding");
          return nullptr;
        }
        encoded->Release();
        if (feeds[v]) {
          chunk_out.emplace_back(v, row);
          if (chunk_out.size() >= 4096) flush_rows();
        }
        return &row;
      }));
      SV_RETURN_IF_ERROR(decode_status);
      const size_t written = entries.size();
      stats.rows_written += static_cast<int64_t>(written);
      Progress(
          absl::StrFormat("rebuild %s: %zu rows written in %.2fs (waited %.2fs for the sort)%s",
                          b.table.name, written, Seconds(phase), sort_wait, MemoryNow()));
      // The rows are in the table now: give their memory back before the next view.
      entries = Entries();
      for (Worker& w : workers) {
        MemoryRowSet::Rows().swap(w.rows->rows(v));
      }
      fresh[b.view] = b.table;
      built.push_back(std::move(b));
    }
    if (loading != nullptr) {
      flush_rows();
      rows_out->Close();
      loader.join();
      SV_RETURN_IF_ERROR(loader_status);
    }
    SV_RETURN_IF_ERROR(
        BuildDerivedVersions(wanted, &derived_wanted, &fresh, versions, &built, loading.get()));

    // The swap: new versions, and for a full rebuild the source's gate state and position,
    // in one transaction.
    SV_ASSIGN_OR_RETURN(std::vector<store::DeadLetter> existing, store_->ListDeadLetters(false));
    absl::flat_hash_set<std::pair<int32_t, int64_t>> known_dead;
    for (const auto& dl : existing) {
      if (dl.source == source.config.name) known_dead.insert({dl.partition, dl.position});
    }
    const auto swap_started = std::chrono::steady_clock::now();
    if (promote) SV_RETURN_IF_ERROR(KeepReplacedVersions(built));
    // The source's positions and gate state are replaced without the maintained versions.
    if (replace_state) SV_RETURN_IF_ERROR(FreezeMaintainedVersions(source.views));
    auto batch = store_->BeginBatch();
    if (replace_state) {
      const std::string& name = source.config.name;
      SV_RETURN_IF_ERROR(batch->ClearSourceState(name));
      KeyStates key_states;
      SV_RETURN_IF_ERROR(CatchExceptions("sorting the rebuilt gate state", [&] {
        key_states = sorted_keys.get();  // rethrows what the sort threw
        return absl::OkStatus();
      }));
      for (const auto& [key, g] : key_states) {
        SV_RETURN_IF_ERROR(batch->PutKeyState(name, {*key, g->last_sequence, g->parked_on}));
      }
      for (Worker& w : workers) {
        for (const auto& p : w.processor->AllPending()) {
          SV_RETURN_IF_ERROR(batch->PutPending(name, p));
        }
        for (auto& dl : w.processor->changes().dead_letters) {
          if (known_dead.contains({dl.partition, dl.position})) continue;
          SV_RETURN_IF_ERROR(batch->AddDeadLetter(&dl));
        }
      }
      // What the live run keeps: every id applied at or above the source's bound (the last
      // application of an id wins, as in the live run's upserts).
      gate::DedupProgress progress;
      for (Worker& w : workers) progress.Merge(w.processor->dedup_progress());
      const int64_t keep_from = progress.StoreBound(config_.gate.dedup_window);
      for (Worker& w : workers) {
        for (const auto& [id, pos] : w.processor->changes().event_ids) {
          if (pos >= keep_from) SV_RETURN_IF_ERROR(batch->PutEventId(name, id, pos));
        }
      }
      for (const auto& [partition, position] : ends) {
        SV_RETURN_IF_ERROR(batch->SetPosition(name, partition, position));
      }
    }
    for (const Built& b : built) {
      if (promote) {
        SV_RETURN_IF_ERROR(
            batch->ActivateVersion(catalog_->views[b.view].name, b.version, b.table.name));
      }
    }
    SV_RETURN_IF_ERROR(batch->Commit());
    Progress(absl::StrFormat("rebuild %s: %s in %.2fs", source.config.name,
                             promote ? "swapped" : "built, not promoted", Seconds(swap_started)));
    const auto drop_started = std::chrono::steady_clock::now();
    SV_RETURN_IF_ERROR(FinishVersions(built, promote));
    Progress(absl::StrFormat("rebuild %s: versions kept and pruned in %.2fs", source.config.name,
                             Seconds(drop_started)));
    stats.write_seconds += Seconds(write_started);
  }
  // Derived views whose inputs were not rebuilt (their own definition changed).
  if (std::find(derived_wanted.begin(), derived_wanted.end(), true) != derived_wanted.end()) {
    std::vector<BuiltVersion> built;
    SV_RETURN_IF_ERROR(
        BuildDerivedVersions(wanted, &derived_wanted, &fresh, versions, &built, nullptr));
    if (promote) {
      SV_RETURN_IF_ERROR(KeepReplacedVersions(built));
      auto batch = store_->BeginBatch();
      for (const BuiltVersion& b : built) {
        SV_RETURN_IF_ERROR(
            batch->ActivateVersion(catalog_->views[b.view].name, b.version, b.table.name));
      }
      SV_RETURN_IF_ERROR(batch->Commit());
    }
    SV_RETURN_IF_ERROR(FinishVersions(built, promote));
  }
  stats.total_seconds = Seconds(started);
  ReplacedAllObserved();                         // the swapped-in tables are read afresh
  SV_RETURN_IF_ERROR(LoadMaintainedVersions());  // a candidate built unpromoted, say
  if (restart_sources) SV_RETURN_IF_ERROR(StartSources());
  if (derived_ != nullptr) SV_RETURN_IF_ERROR(ResetDerived());
  for (ScheduledRefresh& r : refreshes_) r.next_us = 0;  // over the swapped-in tables
  SV_RETURN_IF_ERROR(store_->SyncCommitted());  // reported done: a power cut may not undo it
  return stats;
}

}  // namespace sv::engine
