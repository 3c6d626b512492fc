#pragma once
// A rebuild of one organization's rows of tenant views (engine/tenant_rebuild.cc): its request,
// and the job the engine keeps while the source is folded beside the running loop.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"
#include "engine/processor.h"
#include "engine/row_sets.h"
#include "engine/source_verify.h"
#include "source/source.h"
#include "store/store.h"

namespace sv::engine {

struct RebuildStats;

struct TenantRebuildRequest {
  std::vector<std::string> views;  // base views with a tenant column, all of one source
  Value tenant;                    // the organization: a value of the views' tenant column
  // Every row, not one organization's: a view's version of a changed definition built beside
  // the serving one (engine/version_build.cc); `tenant` is unused.
  bool whole = false;
};

// What the loop polled of the job's source after the fold's end position, in poll order, with
// the log time its stashes expired at afterwards: the same steps, replayed into the job, make it
// reach exactly the loop's position.
struct TailStep {
  std::vector<source::SourceRecord> records;
  int64_t expire_at_us = 0;
};

// A source folded beside the running loop up to where the loop stands: for a tenant rebuild (its
// rows swapped in) or for a verify (`verify` set: the rows compared, drifting keys repaired).
struct TenantJob {
  const projection::Catalog* catalog = nullptr;
  int source = 0;
  std::vector<int> views;
  TenantRebuildRequest request;
  std::map<int32_t, int64_t> fold_until;  // the stored positions when the job began
  std::unique_ptr<store::Store> reader;   // the fold's own connection
  std::unique_ptr<MemoryRowSet> rows;
  std::unique_ptr<Processor> processor;
  // A tenant rebuild folds the maintained versions of its views too (a `previous:` definition's
  // version serving, a standby kept for a rollback) into the working-set slots the loop writes
  // them through (Engine::WriteTables, so many slots then), and swaps their rows in with the
  // views': a rollback or a promotion after it finds the organization's rows as the source says.
  size_t version_slots = 0;  // 0: the views' own slots only
  std::thread fold;
  std::atomic<bool> stop{false};
  std::atomic<bool> folded{false};  // the fold thread is done (joinable without waiting)
  absl::Status fold_status;         // read after the join
  int64_t events = 0;               // records folded (fold thread, then the loop)
  int64_t tail_events = 0;          // ... of them polled by the loop during the fold
  std::mutex mu;                    // guards `tail`
  std::vector<TailStep> tail;
  std::chrono::steady_clock::time_point started;
  // Told the outcome once, on the loop's thread (or the caller's, for RebuildTenant).
  std::function<void(const absl::StatusOr<RebuildStats>&)> done;
  std::shared_ptr<VerifyRun> verify;  // set for a verify job (then `request` is unused)
  // A change feed: the fold reads a new snapshot taken beside the live slot instead of
  // replaying to `fold_until`, and the live records it Holds (committed before it, by commit
  // LSN) are left out of the tail; the shadow is compared with the live views, or swapped in,
  // once the loop's committed position has passed the snapshot's (`snapshot_at`, set by the
  // fold under `mu` once the slot is made).
  bool snapshot = false;
  std::map<int32_t, int64_t> snapshot_at;
  std::unique_ptr<source::Source> replay_source;  // the fold's source (a snapshot's slot)
  std::unique_ptr<source::ReplayReader> replay;   // its replay (read by the fold, then the tail)
  // A tenant rebuild's snapshot of one organization (engine/tenant_snapshot.cc): what it asks
  // the source for; the rows of its filtered tables the snapshot read ("table\nkey"); the live
  // records of the other rows of those tables, set aside by row in arrival order until the tail
  // is complete (then folded, after the row as the snapshot held it, only for the rows that end
  // in the organization); tables truncated in the tail (every later record of theirs folds).
  source::SnapshotFilter filter;
  std::vector<std::string> filtered_tables;
  absl::flat_hash_set<std::string> snapshot_rows;
  absl::flat_hash_map<std::string, std::vector<source::SourceRecord>> set_aside;
  std::vector<std::string> set_aside_order;
  std::vector<std::string> truncated_in_tail;
  // The embedded log read by its organization index (engine/tenant_log_index.cc): the index
  // is brought up to the fold's end through `index_writer`, then only the records of the
  // organization's keys are folded. Null where that would not be exact.
  std::unique_ptr<store::Store> index_writer;
  std::string index_unused;          // why the index is not used, when it is not ("" when it is)
  int64_t fold_end_log_time_us = 0;  // the log time of the fold's last position, when read so
  // Once the fold read by the index (set then): reads the tail's records' organizations, and
  // the keys folded so far (FoldTailRecordByIndex).
  std::unique_ptr<Decoder> index_decoder;
  absl::flat_hash_set<std::string> index_keys;
  int64_t rows_fetched = 0;  // set-aside rows whose snapshot row was read afterwards
  bool nudged = false;       // the live source was asked to pass it
  std::chrono::steady_clock::time_point waiting_since;  // folded, the loop not past it yet
};

// engine/tenant_snapshot.cc. The event field a handler sets `column` from (a key set or a value
// set, when its expression is a bare `e.<field>`), or "".
std::string FieldOf(const projection::HandlerPlan& h, int column);
// engine/tenant_snapshot.cc. The filter of a change feed's snapshot for a tenant rebuild of
// `views` (of source `source`) for `tenant`: a table is read for that organization only where
// each of those views' rows is one of its rows and takes its organization from a column of it,
// skipped where it feeds none of them, and read whole otherwise.
source::SnapshotFilter TenantSnapshotFilter(const projection::Catalog& catalog, int source,
                                            const std::vector<int>& views, const Value& tenant);
// engine/tenant_log_index.cc. Why a tenant rebuild of `views` (of source `source`) may not read
// the embedded log by its organization index; "" when it may.
std::string LogOrgIndexProblem(const projection::Catalog& catalog, int source,
                               const std::vector<int>& views);
// What a fold of the embedded log by organization reads, for progress lines: the
// organization's keys' records (its index), or the whole log and why (job.index_unused).
std::string LogFoldScope(const TenantJob& job);
// Brings the log's organization index up to the fold's end and opens a replay of the records of
// the organization's keys; null (with job.index_unused) when the log broke the index's rules.
absl::StatusOr<std::unique_ptr<source::ReplayReader>> OpenOrganizationReplay(
    const projection::SourcePlan& source, const config::GateConfig& gate, TenantJob& job);
// engine/tenant_log_index.cc. A thread bringing the embedded log's organization index up to the
// log's end every `every` the loop was idle in, on a connection of its own, until destroyed (or
// the log breaks the index's rules); a tenant rebuild's fold then reads only what was appended
// since.
// What the index's catch-up carries from one call to the next: the event ids of the dedup
// window it read last (id -> key, position), valid when the index's mark is still `through`.
struct IndexScanState {
  int64_t through = -1;
  absl::flat_hash_map<std::string, std::pair<std::string, int64_t>> ids;
};
class LogOrgIndexKeeper {
 public:
  LogOrgIndexKeeper(const projection::SourcePlan* source, int64_t dedup_window,
                    std::unique_ptr<store::Store> writer, std::chrono::milliseconds every);
  ~LogOrgIndexKeeper();
  LogOrgIndexKeeper(const LogOrgIndexKeeper&) = delete;
  LogOrgIndexKeeper& operator=(const LogOrgIndexKeeper&) = delete;
  // The loop found nothing to do: the keeper's next turn may read (it skips turns otherwise, so
  // that a loop catching up keeps both cores).
  void NoteLoopIdle() { loop_was_idle_.store(true); }

 private:
  void Run();
  const projection::SourcePlan* source_;
  int64_t dedup_window_;
  std::unique_ptr<store::Store> writer_;
  std::chrono::milliseconds every_;
  IndexScanState scan_;  // the keeper's thread only
  std::atomic<bool> loop_was_idle_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};
// engine/tenant_log_index.cc. For a fold read by the index, a record of the tail: of a key the
// fold read, left to the caller; of another key, skipped (`*skip`), unless it names the
// organization: then that key's earlier records (in the log, before this one) are folded first,
// and the key is one of the fold's from then on (the caller folds the record).
absl::Status FoldTailRecordByIndex(TenantJob& job, const source::SourceRecord& record, bool* skip);
// Notes a record the filtered snapshot read (its row is the shadow's from then on).
void NoteSnapshotRow(TenantJob& job, const source::SourceRecord& record);
// True when a live record of the tail is set aside: its row is of a filtered table and was not
// in the snapshot. A TRUNCATE record drops what its table set aside.
bool SetAsideLiveRecord(TenantJob& job, const source::SourceRecord& record);
// Once the tail is complete: each set-aside row whose last record leaves it in the
// organization (or might) is folded, its row as the snapshot held it first, then its records.
absl::Status FoldSetAside(TenantJob& job);

}  // namespace sv::engine
