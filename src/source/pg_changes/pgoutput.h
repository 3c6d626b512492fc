#pragma once
// PostgreSQL's logical replication protocol as the built-in `pgoutput` plugin writes it
// (protocol version 2): the CopyData messages of START_REPLICATION (XLogData, keepalives) and
// the change messages inside them (Begin, Commit, Relation, Insert, Update, Delete, Truncate),
// and, for transactions the server streams while they are still in progress (`streaming 'on'`,
// once a transaction outgrows logical_decoding_work_mem), Stream Start/Stop/Commit/Abort, with
// each change inside a stream block prefixed by its (sub)transaction's xid. Pure decoding.
// https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace sv::source::pg {

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPgEpochOffsetUs = 946'684'800'000'000;

// One CopyData message of the replication stream.
struct StreamMessage {
  enum class Kind { kXLogData, kKeepalive };
  Kind kind = Kind::kKeepalive;
  uint64_t wal_start = 0;  // XLogData: the LSN of this data
  uint64_t wal_end = 0;    // the server's WAL end
  int64_t send_time_us = 0;
  bool reply_requested = false;  // keepalive
  std::string_view payload;      // XLogData: a pgoutput message (points into the input)
};
absl::StatusOr<StreamMessage> ParseStreamMessage(std::string_view data);
// The standby status update ('r') that acknowledges `flushed` (written and applied alike).
std::string StandbyStatus(uint64_t flushed, int64_t now_unix_us, bool reply_requested);

// A column value of a row as pgoutput sends it.
struct ColumnValue {
  enum class Kind { kNull, kUnchangedToast, kText };
  Kind kind = Kind::kNull;
  std::string text;
};

struct RelationColumn {
  std::string name;
  uint32_t type_oid = 0;
  bool key = false;  // part of the replica identity (the primary key by default)
};

struct Relation {
  uint32_t id = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default (primary key), f full, i index, n nothing
  std::vector<RelationColumn> columns;
};

struct Change {
  enum class Kind {
    kBegin,
    kCommit,
    kRelation,
    kInsert,
    kUpdate,
    kDelete,
    kTruncate,
    kMessage,       // pg_logical_emit_message: prefix and content
    kStreamStart,   // xid (the top-level transaction), first_segment
    kStreamStop,    // the end of a stream block
    kStreamCommit,  // xid; lsn, end_lsn and commit time as for Commit
    kStreamAbort,   // xid, subxid: the subtransaction rolled back (== xid: all of it)
    kOther
  };
  Kind kind = Kind::kOther;
  // Begin: the transaction's final (commit) LSN, commit time and xid. Commit: the commit's LSN,
  // its end LSN (where a restart resumes) and time.
  uint64_t lsn = 0;
  uint64_t end_lsn = 0;
  int64_t commit_time_unix_us = 0;
  uint32_t xid = 0;
  // Inside a stream block: the (sub)transaction the change belongs to. Stream Abort: the
  // subtransaction rolled back.
  uint32_t subxid = 0;
  bool first_segment = false;  // Stream Start
  uint32_t relation_id = 0;
  Relation relation;                 // kRelation
  std::vector<ColumnValue> old_row;  // Update (with 'K'/'O'), Delete
  std::vector<ColumnValue> new_row;  // Insert, Update
  std::vector<uint32_t> truncated;   // Truncate: relation ids
  std::string prefix;                // Message
  std::string content;               // Message
};
// `in_stream`: between Stream Start and Stream Stop, where changes carry their xid first.
absl::StatusOr<Change> ParseChange(std::string_view payload, bool in_stream = false);

}  // namespace sv::source::pg
