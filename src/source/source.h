#pragma once
// The source seam: where events come from (the embedded log now; Kafka, PostgreSQL logical
// replication later).
//
// A source is a set of partitions, each an ordered sequence of records with increasing offsets.
// State machine: constructed → Seek(after) positions every partition just after the given
// offsets (partitions not named start at their beginning) → Poll() returns records in offset
// order per partition; an empty result means "caught up for now", never "ended". A Poll may end
// inside a source transaction (its last record `continues`): the rest comes in the next Polls,
// and nothing of it may be committed before its last record. Resuming after
// a crash is Seek(stored positions): the consumer checks nothing is skipped because positions
// are stored in the same transaction as the effects of the records before them.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store.h"

namespace sv::source {

// A record carrying this header says every row its source took from the named table is gone
// (a TRUNCATE): the engine clears the views that table alone feeds, in the record's batch.
inline constexpr char kTruncateHeader[] = "sv-truncate";

struct SourceRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t log_time_us = 0;  // append / broker timestamp
  // The record's bytes: for the embedded log a whole NDJSON line (an event object or an
  // envelope {"key","headers","value"}); for Kafka the message value.
  std::string value;
  std::optional<std::string> key;                            // native message key, if any
  std::vector<std::pair<std::string, std::string>> headers;  // native headers, if any
  // The routing key when known without decoding (stored beside a log line at ingest; a Kafka
  // message key), so that keys can be folded (rebuild) and processed (lanes) in parallel.
  std::string routing_key;
  // More records of the same source transaction follow in a later Poll (a transaction larger
  // than one Poll): the engine must not commit between them.
  bool continues = false;
};

// A one-pass reader over everything a source retains, for rebuilds.
class ReplayReader {
 public:
  virtual ~ReplayReader() = default;
  // Appends the next records (in offset order within each partition) to `out`, cleared first;
  // empty when every partition has reached the end the replay was opened with.
  virtual absl::Status Next(size_t max, std::vector<SourceRecord>* out) = 0;
  // Where the replay stops, per partition (the positions a completed replay has applied).
  virtual std::map<int32_t, int64_t> Ends() const = 0;
  // How many records it will give, when that is not the sum of Ends() (a snapshot, whose end is
  // an LSN): an estimate for progress, or -1 to use Ends().
  virtual int64_t EstimatedRecords() const { return -1; }
  // True when a record the live stream delivers is already in this replay: a snapshot holds
  // every transaction committed before it, whatever its records' positions (a transaction
  // straddling the snapshot's position is not in it, and comes whole from the stream).
  virtual bool Holds(const SourceRecord& /*live*/) const { return false; }
  // For a snapshot limited by a SnapshotFilter (its transaction stays open while the reader
  // lives): the row a live record's table held under the record's key in the snapshot, as the
  // snapshot's insert record would have been, or nullopt when it held none or read that table
  // whole anyway (the record's row is then in the snapshot, or was never there).
  virtual absl::StatusOr<std::optional<SourceRecord>> SnapshotRowOf(const SourceRecord& /*live*/) {
    return absl::UnimplementedError("this replay is not a filtered snapshot");
  }
  // The tables (as the config names them) a filtered snapshot read one organization's rows of:
  // their other rows are not in it. Empty for any other replay.
  virtual std::vector<std::string> FilteredTables() const { return {}; }
};

// A snapshot taken for one organization (a tenant rebuild of a change feed's views): a table
// named here is read `WHERE <column> = value` when its key columns are exactly `key_fields`
// (each of the views' rows is then one of its rows), whole otherwise; a table not named and
// listed in `skipped` is not read at all (it feeds none of the views rebuilt).
struct SnapshotFilter {
  struct Table {
    std::string column;                   // the table's column holding the organization
    std::vector<std::string> key_fields;  // the fields the views' key columns are set from
  };
  std::map<std::string, Table> tables;  // by the table's name in the config
  std::vector<std::string> skipped;
  std::string value;  // the organization, as text (a query parameter, never spliced)
  bool empty() const { return tables.empty() && skipped.empty(); }
};

// What the engine offers a source that moves partitions between consumers (Kafka groups).
// Both run on the engine's thread, from inside Poll.
struct RebalanceHooks {
  // Partitions are about to be taken away: commit the batch in hand first.
  std::function<absl::Status()> before_revoke;
  // `partitions` are now this consumer's (all of them: rebalances are eager). Forget cached
  // state (another consumer may have changed it) and return the stored positions to resume from.
  std::function<absl::StatusOr<std::map<int32_t, int64_t>>(const std::vector<int32_t>& partitions)>
      on_assign;
};

// What the upstream itself says of this consumer (a replication slot's lag and health), for
// /lags, /metrics and readiness. A source with no such notion leaves it empty.
struct UpstreamStatus {
  bool known = false;
  int64_t lag_bytes = 0;   // what the upstream keeps for us beyond what we acknowledged
  double lag_seconds = 0;  // how long the oldest change not yet applied has waited
  std::string problem;     // not empty: the upstream cannot be followed as it is
};

class Source {
 public:
  virtual ~Source() = default;
  virtual absl::Status Seek(const std::map<int32_t, int64_t>& after) = 0;
  // Appends up to `max` records to `out` (cleared first). May wait up to `timeout_ms` for data.
  virtual absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) = 0;
  // Its Poll returns the moment records arrive (it waits on them, it does not read again and
  // again): an idle loop may then give it a longer wait at no cost in latency.
  virtual bool WakesOnArrival() const { return false; }
  // The last offset present in each partition (0 when empty), for lag and progress.
  virtual absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() = 0;

  // Opens a replay of every record up to `until` (per partition, inclusive; a partition not
  // named is not read), or of all partitions to their current ends when `until` is nullopt.
  // Fails with FailedPrecondition when the source no longer retains its beginning (retention
  // dropped records the views need), unless `allow_partial`.
  virtual absl::StatusOr<std::unique_ptr<ReplayReader>> OpenReplay(
      const std::optional<std::map<int32_t, int64_t>>& until, bool allow_partial) = 0;
  // A replay of the source as it is now, taken beside a running consumer without disturbing it
  // (a change feed: a new snapshot through a temporary slot, the live slot left alone). It
  // stands at Ends(); the live stream's records it does not Hold come after it. Only for
  // sources whose replay is a snapshot (trait replays_snapshot): the others replay any past
  // position with OpenReplay(until).
  // With a non-empty `filter`, only the rows it names (SnapshotFilter).
  virtual absl::StatusOr<std::unique_ptr<ReplayReader>> OpenSnapshotBeside(
      const SnapshotFilter& /*filter*/) {
    return absl::UnimplementedError("this source replays its history, not a snapshot");
  }
  // Soon (at a Poll), even while idle, a record at a position past everything the upstream
  // holds now (a change feed's heartbeat): a caller waiting for the stream to pass a point of
  // the upstream's then sees it pass. Nothing for sources whose positions are their records'.
  virtual void MarkPositionSoon() {}

  // Called after the store committed: `positions` are durable, `dead_letters` were recorded.
  // A source may mirror them (Kafka offset commits for lag tooling, a dead-letter topic); the
  // store stays the source of truth. Also called, with no positions, with the dead letters
  // whose copies the store's outbox still holds unconfirmed when partitions are assigned.
  virtual void AfterCommit(const std::map<int32_t, int64_t>& /*positions*/,
                           const std::vector<store::DeadLetter>& /*dead_letters*/) {}
  // True when AfterCommit sends dead letters somewhere (a dead-letter topic): the engine then
  // writes each to the store's outbox with the dead letter and keeps it there until
  // TakeMirroredDeadLetters reports its copy confirmed (at least once, never lost).
  virtual bool MirrorsDeadLetters() const { return false; }
  // Ids of the dead letters whose copies were confirmed since the last call; waits up to
  // `wait_ms` for copies still in flight (0: only what is known now).
  virtual std::vector<int64_t> TakeMirroredDeadLetters(int /*wait_ms*/) { return {}; }
  virtual void SetRebalanceHooks(const RebalanceHooks& /*hooks*/) {}
  // False while the source cannot reach its upstream (brokers down), with the reason.
  virtual bool Connected(std::string* /*why*/) const { return true; }
  virtual UpstreamStatus Upstream() const { return {}; }
  // A label for partition `p` in lags and metrics ("0" for the log; "topic/3" for Kafka).
  virtual std::string PartitionLabel(int32_t p) const { return std::to_string(p); }
};

}  // namespace sv::source
