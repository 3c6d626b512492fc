#pragma once
// The change-feed source's class, shared by its files: setup.cc (checks, publication, slot,
// snapshot) and pg_changes_source.cc (the stream, Poll, acknowledgements). Private to
// source/pg_changes/.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "source/pg_changes/pg_changes_source.h"
#include "source/pg_changes/pg_link.h"
#include "source/pg_changes/pgoutput.h"
#include "source/pg_changes/tx_spool.h"

namespace sv::source::pg {

// The slot as pg_replication_slots shows it.
struct SlotState {
  bool exists = false;
  std::string plugin;
  std::string wal_status;  // reserved | extended | unreserved | lost
  uint64_t confirmed_flush = 0;
  int64_t lag_bytes = 0;   // pg_current_wal_lsn() - confirmed_flush_lsn: WAL kept for us
  std::string active_pid;  // "" when no process streams from it
};

// A committed source transaction waiting to be handed over (a page at a time when large).
struct ReadyTx {
  std::unique_ptr<TxSpool> records;
  uint64_t end = 0;  // the commit's end LSN: the last record's position
  int64_t commit_time_us = 0;
  std::string lsn;     // the commit LSN, as text, for the records' `lsn` header
  int64_t kept = 0;    // records to hand over
  int64_t handed = 0;  // handed over so far
};

// A transaction the server streams while it is in progress (protocol v2).
struct StreamedTx {
  std::unique_ptr<TxSpool> records;
  // Table definitions sent inside its stream blocks: its own until it commits.
  absl::flat_hash_map<uint32_t, Relation> relations;
};

struct TableInfo {
  std::string configured;  // as the config names it: the event type's prefix
  std::string schema;
  std::string name;
  std::vector<std::string> key_columns;  // the primary key, in order
};

class PgChangesSource final : public Source {
 public:
  explicit PgChangesSource(PgChangesOptions options) : options_(std::move(options)) {}

  absl::Status Seek(const std::map<int32_t, int64_t>& after) override;
  absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) override;
  absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() override;
  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenReplay(
      const std::optional<std::map<int32_t, int64_t>>& until, bool allow_partial) override;
  absl::StatusOr<std::unique_ptr<ReplayReader>> OpenSnapshotBeside(
      const SnapshotFilter& filter) override;
  void MarkPositionSoon() override { heartbeat_soon_ = true; }
  // Appends up to `max` more rows of the snapshot (`<table>.insert` records), table by table;
  // at the end, the closing marker (at the consistent point), and `*done`. For the replay too.
  absl::Status ReadSnapshot(size_t max, std::vector<SourceRecord>* out, bool* done);
  // A filtered snapshot's row under a live record's key (ReplayReader::SnapshotRowOf).
  absl::StatusOr<std::optional<SourceRecord>> SnapshotRowOf(const SourceRecord& live);
  const std::vector<std::string>& filtered_tables() const { return filtered_tables_; }
  uint64_t consistent_point() const { return consistent_; }
  int64_t snapshot_estimate() const { return snapshot_estimate_; }
  void AfterCommit(const std::map<int32_t, int64_t>& positions,
                   const std::vector<store::DeadLetter>& dead_letters) override;
  bool Connected(std::string* why) const override;
  UpstreamStatus Upstream() const override;

 private:
  // ---- setup.cc
  // Refuses to start, saying what to change, when the server or a table cannot be followed.
  absl::Status CheckServer();
  // Connects both sessions and checks the server, the tables and the publication.
  absl::Status Connect();
  absl::Status LoadTables();
  absl::Status EnsurePublication();
  absl::StatusOr<SlotState> ReadSlot();
  // A slot the views can resume from at `stored`: FailedPrecondition, saying how to re-snapshot,
  // when it is gone, invalidated (its WAL removed), or ahead of `stored` (recreated, or moved by
  // another consumer): changes after `stored` may be lost.
  absl::Status CheckSlotFollows(const SlotState& slot, uint64_t stored) const;
  // Creates the slot (dropping one of ours first, waiting a bounded time while a process still
  // streams from it) with an exported snapshot, taken up by the session's transaction for
  // ReadSnapshot. Returns the slot's consistent point.
  absl::StatusOr<uint64_t> CreateSlotWithSnapshot();
  // Creates slot `slot` (TEMPORARY: gone with the stream connection) with an exported snapshot
  // and takes it up in the session for ReadSnapshot. Returns the slot's consistent point.
  absl::StatusOr<uint64_t> ExportSnapshot(const std::string& slot, bool temporary);
  // The same, then every table read into snapshot_.
  absl::StatusOr<uint64_t> CreateSlotAndSnapshot();
  SourceRecord SnapshotRecord(const TableInfo& table, PGresult* row);
  // A record of the source's own (the snapshot's end, a heartbeat) at `position`: no key, no
  // fields, handled by no view.
  SourceRecord MarkerRecord(const char* type, uint64_t position) const;
  // A log line every few seconds while the snapshot is read: rows, rows/s, and an ETA from the
  // planner's row estimate.
  absl::Status StartSnapshotProgress();
  void ReportSnapshotProgress(bool done);
  absl::Status StartStreaming(uint64_t from);

  // ---- pg_changes_source.cc
  absl::Status ReadStream(size_t want, int timeout_ms);
  absl::Status Handle(const Change& change);
  // The record for a row change of `rel`.
  SourceRecord RowRecord(const Relation& rel, std::string_view op, uint32_t xid,
                         const std::vector<ColumnValue>& row,
                         const std::vector<ColumnValue>* old_row = nullptr);
  std::unique_ptr<TxSpool> NewSpool() const {
    return std::make_unique<TxSpool>(options_.spool_memory_records, options_.spool_dir);
  }
  // The definition of relation `id` as the change being read sees it (a streamed transaction's
  // own first), or null.
  const Relation* RelationFor(uint32_t id) const;
  // Where the change being read goes: the streamed transaction's spool, or the open one's.
  TxSpool* SpoolFor();
  void Committed(std::unique_ptr<TxSpool> records, const Change& commit);
  // Appends up to `max` records of the ready transactions to `out`; a transaction larger than
  // what fits goes out in pages, each but its last flagged `continues`.
  absl::Status HandOver(size_t max, std::vector<SourceRecord>* out);
  const TableInfo* TableOf(const Relation& rel) const;
  absl::Status SendStatus(uint64_t flushed, bool force, bool reply_requested = false);
  // Writes a barrier message into the source's WAL. `caught_up_check`: until it comes back,
  // EndOffsets says more may come (a heartbeat leaves that alone).
  absl::Status SendBarrier(bool caught_up_check);
  absl::Status AskWhereTheServerStands() { return SendBarrier(/*caught_up_check=*/true); }
  // What the slot may forget: the engine's committed position, never more, so that a slot
  // found ahead of the stored position was recreated or moved by someone else.
  uint64_t FlushPosition() const { return acked_; }
  uint64_t HeldEnd() const;  // the end of what was handed over or is ready
  // Every few seconds: the server's own figure of the slot's lag, and whether it still holds.
  void CheckSlotNow();

  PgChangesOptions options_;
  Link session_;                             // checks and the snapshot
  Link stream_;                              // the replication connection
  std::map<std::string, TableInfo> tables_;  // "schema.name" -> table
  absl::flat_hash_map<uint32_t, Relation> relations_;
  bool streaming_ = false;

  std::vector<SourceRecord> snapshot_;  // handed over in one Poll
  // Where ReadSnapshot is: the tables, the one being read (its query open), rows read so far.
  std::vector<const TableInfo*> snapshot_tables_;
  // Per snapshot table: the column its rows are read `WHERE <column> = filter_.value` by, or ""
  // (read whole). A snapshot with any stays open (SnapshotRowOf) until the source goes.
  std::vector<std::string> snapshot_where_;
  SnapshotFilter filter_;
  std::vector<std::string> filtered_tables_;  // configured names of the tables read filtered
  size_t snapshot_table_ = 0;
  bool snapshot_query_open_ = false;
  bool snapshot_done_ = false;
  std::string snapshot_sql_;
  std::vector<int> snapshot_key_index_;
  int64_t snapshot_rows_ = 0;
  uint64_t consistent_ = 0;               // the slot's consistent point, where the snapshot ends
  bool snapshot_slot_temporary_ = false;  // its slot is gone with the replication connection
  int64_t snapshot_estimate_ = 0;
  int64_t snapshot_started_us_ = 0;
  int64_t snapshot_reported_us_ = 0;
  std::deque<ReadyTx> ready_;      // committed transactions, in commit order
  std::unique_ptr<TxSpool> open_;  // the transaction being received (Begin .. Commit)
  uint32_t open_xid_ = 0;
  absl::flat_hash_map<uint32_t, StreamedTx> streamed_;  // in progress, by top-level xid
  bool in_stream_ = false;                              // between Stream Start and Stop
  uint32_t stream_xid_ = 0;

  uint64_t resume_after_ = 0;  // transactions ending at or before it were applied already
  uint64_t emitted_end_ = 0;   // the end LSN of the last transaction handed to the engine
  uint64_t acked_ = 0;         // what the engine committed
  uint64_t server_wal_end_ = 0;
  uint64_t end_known_ = 0;  // what EndOffsets reports: the end of what the server has
  std::string barrier_;     // the barrier message awaited ("" when none is out)
  bool barrier_is_heartbeat_ = false;
  bool heartbeat_soon_ = false;  // MarkPositionSoon: a heartbeat at the next idle Poll
  int64_t barriers_sent_ = 0;
  int64_t asked_at_us_ = 0;
  bool confirmed_ = false;  // no data since the server last said we hold everything
  int64_t last_status_us_ = 0;
  std::string broken_;  // why the stream is down, for Connected()
  // Transactions received and not yet committed by the engine: (end LSN, commit time).
  std::deque<std::pair<uint64_t, int64_t>> unapplied_;
  UpstreamStatus upstream_;
  int64_t slot_checked_us_ = 0;
};

}  // namespace sv::source::pg
