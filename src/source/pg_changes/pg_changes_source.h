#pragma once
// A source that reads the committed row changes of chosen PostgreSQL tables through logical
// replication (the built-in pgoutput plugin, over libpq's replication protocol).
//
// One partition, 0. A source transaction's changes come out of one Poll together, or, when it
// is larger than the Poll asks for, in pages whose last records are flagged `continues`, so
// the engine commits them together; the last record of a transaction carries its commit's end
// LSN as its position, which the engine stores with the view rows. The records before it count
// up to it (end LSN - n + 1 ...), so positions increase within a transaction. The server streams
// a large transaction while it is in progress (protocol v2, `streaming 'on'`): its changes wait
// in a spool (memory, then a temporary file) until it commits, and those of a subtransaction
// rolled back are dropped.
//   - No stored position: the slot is (re)created with an exported snapshot, the tables' rows
//     are read in that snapshot as `<table>.insert` events and handed over in one Poll, then the
//     stream starts at the slot's consistent point: every row is seen once, in the snapshot or
//     as a change after it. A crash before that first commit stores nothing, so a restart
//     snapshots again. (The engine instead builds a new feed's views through OpenReplay, below,
//     then seeks to the stored consistent point: the same snapshot, read page by page.)
//   - A stored position: the stream resumes there; transactions ending at or before it are
//     skipped. The slot's flush position moves only after the engine committed (AfterCommit),
//     never past the stored position: a slot found gone, invalidated, or ahead of it (recreated,
//     or moved by another consumer) is refused, saying changes may be lost.
//   - A rebuild (OpenReplay) re-snapshots: the slot is created anew with an exported snapshot
//     whose rows are the replay, and its consistent point is where the rebuilt views resume.
// Events: type `<table>.insert|update|delete` (the table as configured), key = the primary key's
// text (several columns joined by '|'), value = the new row (the old row for deletes) as JSON,
// headers `lsn` (commit LSN), `xid`; meta.log_time is the commit time.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/time_util.h"
#include "source/source.h"

namespace sv::source {

// The event that closes the initial snapshot (declared for every change-feed source; no view
// handles it): its position, the slot's consistent point, is stored with the snapshot's rows.
inline constexpr char kSnapshotDoneType[] = "snapshot.done";
// While the tables are quiet, a heartbeat now and then (declared likewise, handled by no view):
// its position, past WAL that holds nothing of ours, is stored like any other, so the slot may
// forget that WAL, and the slot's flush position is never ahead of the stored one.
inline constexpr char kHeartbeatType[] = "heartbeat";

struct PgChangesOptions {
  std::string source_name;
  std::string dsn;
  std::string publication;
  std::string slot;
  std::vector<std::string> tables;  // "name" (schema public) or "schema.name"
  // While idle, a barrier this often: when it comes back with nothing of ours before it, the
  // slot's flush moves to it (WAL of other tables and databases is not pinned for us).
  int64_t heartbeat_us = 10'000'000;
  // A source transaction's records beyond this many wait in a temporary file in `spool_dir`
  // ("" = /tmp) until handed over: any transaction takes bounded memory.
  size_t spool_memory_records = 10'000;
  std::string spool_dir;
  const Clock* clock = Clock::Real();
};

std::unique_ptr<Source> NewPgChangesSource(const PgChangesOptions& options);

// For a change-feed source taken out of the config: drops its slot (so it no longer holds WAL)
// and, when `publication` is not empty, its publication. NotFound when there is no such slot;
// FailedPrecondition while a process streams from it. Returns what was dropped, for the user.
absl::StatusOr<std::string> DropPgChangesSlot(const std::string& dsn, const std::string& slot,
                                              const std::string& publication);

}  // namespace sv::source
