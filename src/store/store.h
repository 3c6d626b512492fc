#pragma once
// The store seam: where view tables, the engine's own state and the embedded log live.
//
// Contract shared by every backend (SQLite now, PostgreSQL later):
// - A Batch is one atomic transaction. Everything the engine learns from a batch of events —
//   view rows, per-key gate state, pending (stashed/held) events, dead letters, counters and the
//   source position — is written through one Batch and becomes visible and durable together at
//   Commit(), or not at all. This is what makes every event take effect exactly once.
// - Readers (SQL tools, the REST layer) see views through a stable name (the view's name) that
//   points at the active physical version (`<view>__v<N>`); ActivateVersion repoints it
//   atomically, so a reader never sees an empty or half-built view.
// - Methods are not thread-safe unless stated; one Store object per thread. Several Store
//   objects (and processes) may open the same database.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"

namespace sv::store {

struct ColumnSpec {
  std::string name;
  Type type = Type::kText;
};

struct IndexSpec {
  std::vector<std::string> columns;  // "-col" = descending
};

// A physical view table.
struct TableSpec {
  std::string name;  // physical name, e.g. "orders_view__v2"
  std::vector<ColumnSpec> columns;
  std::vector<int> key;  // indices into columns: the primary key, in order
  std::vector<IndexSpec> indexes;
  // Key values may be NULL (a derived view's GROUP BY): NULL is one key value, equal to itself
  // as in GROUP BY, and sorts first like everywhere else. Such tables take a slower path in
  // some stores (no clustered primary key on SQLite); base views' keys are never NULL.
  bool key_nullable = false;
};

// ---- View queries (the REST layer's reads; every backend answers them the same way)

// kPrefix and kContains: text starting with / containing the value, case-insensitively (ASCII
// letters on SQLite, the server's case folding on PostgreSQL); text columns only.
enum class FilterOp { kEq, kIn, kGt, kGte, kLt, kLte, kPrefix, kContains };

// `column op value(s)`; values are typed like the column and always bound, never spliced.
struct Filter {
  int column = 0;  // index into TableSpec::columns
  FilterOp op = FilterOp::kEq;
  std::vector<Value> values;  // one, or several for kIn
};

// A page of a view in a total order: the sort column (if any) then the primary key, all
// ascending or all descending. NULL sorts before every value (NULLS FIRST ascending, NULLS LAST
// descending), identically on every backend. Keyset pagination: `after` holds the previous
// page's boundary row values in that order (sort column, then key columns); the page holds
// the rows strictly past it. `backward` walks the other way from `after` (for a "prev" link)
// and still returns the rows in the query's order.
struct ViewQuery {
  std::vector<Filter> filters;  // ANDed
  std::optional<int> sort;      // column index; none = the primary key alone
  bool descending = false;
  std::optional<Row> after;  // boundary tuple: [sort value,] key values
  bool backward = false;
  int64_t limit = 50;
  int64_t offset = 0;  // page-number compatibility routes only; cursors never use it
};

// One record of the embedded log.
struct LogRecord {
  int64_t position = 0;     // assigned by AppendLog, 1-based, dense
  int64_t log_time_us = 0;  // append time, assigned by AppendLog when 0
  std::string key;          // routing key if the appender could tell; "" otherwise
  std::string raw;          // the NDJSON line as received (event or envelope)
};

// Per source and key: the gate's durable state.
struct KeyState {
  std::string key;
  int64_t last_sequence = 0;  // last applied sequence; 0 = none yet
  int64_t parked_on = 0;      // 1 + source position of the dead-lettered event the key is
                              // parked behind; 0 = not parked
};

// An event waiting for its key: stashed (sequence gap) or held (key parked).
struct PendingEvent {
  std::string key;
  int64_t position = 0;  // source position, unique per source
  int32_t partition = 0;
  int64_t sequence = 0;
  int64_t log_time_us = 0;
  bool held = false;  // false: stashed for a gap; true: held behind a parked key
  std::string raw;    // envelope JSON: {"key":…, "headers":{…}, "value":…}
};

enum class DeadLetterState { kOpen, kReplayed, kDiscarded };

// The names every store writes and every API shows ("open", "replayed", "discarded"); an
// unknown name reads as open.
inline const char* DeadLetterStateName(DeadLetterState state) {
  switch (state) {
    case DeadLetterState::kReplayed:
      return "replayed";
    case DeadLetterState::kDiscarded:
      return "discarded";
    case DeadLetterState::kOpen:
      break;
  }
  return "open";
}
inline DeadLetterState ParseDeadLetterState(std::string_view name) {
  if (name == "replayed") return DeadLetterState::kReplayed;
  if (name == "discarded") return DeadLetterState::kDiscarded;
  return DeadLetterState::kOpen;
}

struct DeadLetter {
  int64_t id = 0;  // assigned by AddDeadLetter
  std::string source;
  int32_t partition = 0;
  int64_t position = 0;
  std::string key;  // "" when no key could be read
  std::string reason;
  std::string raw;  // the record as received
  int64_t created_us = 0;
  DeadLetterState state = DeadLetterState::kOpen;
  bool parks_key = false;  // the key is parked behind this dead letter
};

// A view's physical version as recorded in the catalog.
struct ViewVersion {
  ViewVersion() = default;
  // What every version has; the notes below default to "not kept, no config version".
  ViewVersion(std::string view, int64_t version, std::string table, std::string definition_hash,
              bool active)
      : view(std::move(view)),
        version(version),
        table(std::move(table)),
        definition_hash(std::move(definition_hash)),
        active(active) {}

  std::string view;
  int64_t version = 0;
  std::string table;            // physical table name
  std::string definition_hash;  // hash of the compiled definition
  bool active = false;          // the view name points at this table
  // The config's `version:` of the view when this version was built (0: none declared).
  int64_t config_version = 0;
  // An inactive version kept on purpose: a standby left by a swap (for a rollback) or a
  // version built without promotion. Inactive versions not kept are leftovers of interrupted
  // rebuilds and are dropped at the next start.
  bool kept = false;
  // The positions of the view's sources this version's rows stand at while it is not the
  // active one (engine::FormatAsOf); it lags once the live positions move past them.
  std::string as_of;
};

// ---- The seams by concern. A caller takes the narrowest one it needs (the log source only
// reads and appends the log); Store and Batch compose them for the engine and the backends.

// What a batch writes into view tables.
class ViewBatch {
 public:
  virtual ~ViewBatch() = default;
  // Insert or replace the row with the same primary key. `row` has table.columns.size() values.
  virtual absl::Status Upsert(const TableSpec& table, const Row& row) = 0;
  // Upsert of many rows with distinct keys (a backend may write them several per statement).
  // The rows must stay alive until the call returns.
  virtual absl::Status UpsertRows(const TableSpec& table, const std::vector<const Row*>& rows) {
    for (const Row* row : rows) {
      absl::Status s = Upsert(table, *row);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Delete by primary key; `key` has table.key.size() values. Absent rows are not an error.
  virtual absl::Status Delete(const TableSpec& table, const Row& key) = 0;
  // Points the view's name at `table` and marks that version active, as part of this batch
  // (same contract as ViewStore::ActivateVersion).
  virtual absl::Status ActivateVersion(const std::string& view, int64_t version,
                                       const std::string& table) = 0;
  // Replaces every row of `table` with the rows of `select_sql`, a SELECT in this store's
  // dialect (sql::StoreSelect) yielding the table's columns in order, as part of this batch:
  // readers see the old rows until Commit, and a batch that does not commit leaves them. A
  // failure (a duplicate key, say) fails the batch: it can no longer commit.
  virtual absl::Status ReplaceWithSelect(const TableSpec& table, const std::string& select_sql) = 0;

  // ---- Optimistic concurrency, for the public library's projections (include/streamview/).
  // `version_column` is an integer column holding the row's version. The row is written only
  // when the stored row's version equals `expected` (0: no row is stored; nullopt: whatever is
  // stored), with its version set to the stored version + 1 (for a new row: the version its
  // key had when last deleted + 1, else 1, so a version never names two different rows) whatever
  // `row` holds there; check and write are one statement, so of concurrent writers expecting
  // the same version exactly one succeeds. Returns the version written, or nullopt when the check
  // failed and nothing was written. Written at once, not buffered. Memory: Unimplemented.
  virtual absl::StatusOr<std::optional<int64_t>> UpsertVersioned(
      const TableSpec& /*table*/, const Row& /*row*/, int /*version_column*/,
      std::optional<int64_t> /*expected*/) {
    return absl::UnimplementedError("this store has no versioned writes");
  }
  // UpsertVersioned of many rows with distinct keys, each at its stored version + 1 (no
  // expected version), several per statement where the backend can.
  virtual absl::Status UpsertRowsVersioned(const TableSpec& table,
                                           const std::vector<const Row*>& rows,
                                           int version_column) {
    for (const Row* row : rows) {
      absl::StatusOr<std::optional<int64_t>> written =
          UpsertVersioned(table, *row, version_column, std::nullopt);
      if (!written.ok()) return written.status();
    }
    return absl::OkStatus();
  }
  // Deletes the row of `key` only when its stored version equals `expected` (nullopt: any
  // version), remembering that version for the key's next row. Returns whether a row was
  // deleted.
  virtual absl::StatusOr<bool> DeleteVersioned(const TableSpec& /*table*/, const Row& /*key*/,
                                               int /*version_column*/,
                                               std::optional<int64_t> /*expected*/) {
    return absl::UnimplementedError("this store has no versioned writes");
  }
};

// What a batch writes into the engine's own state: gate state, pending events, event ids,
// counters, positions, dead letters and their outbox.
class StateBatch {
 public:
  virtual ~StateBatch() = default;
  virtual absl::Status PutKeyState(const std::string& source, const KeyState& state) = 0;
  virtual absl::Status PutPending(const std::string& source, const PendingEvent& event) = 0;
  virtual absl::Status DeletePending(const std::string& source, int32_t partition,
                                     int64_t position) = 0;
  // Assigns dl->id. A dead letter for the same (source, partition, position) is replaced
  // (keeping its id): an event that fails again after a replay updates its reason.
  virtual absl::Status AddDeadLetter(DeadLetter* dl) = 0;
  virtual absl::Status SetDeadLetterState(int64_t id, DeadLetterState state) = 0;
  // Puts dead letter `id` (added before, in this batch or earlier) in the outbox: its copy for
  // a dead-letter topic is to be sent after Commit and stays listed until the topic confirmed
  // it, so a crash between Commit and the send loses nothing. Already there: no change.
  virtual absl::Status AddDeadLetterOutbox(int64_t id) = 0;
  // Remembers an event id for deduplication of events without a sequence, with its order of
  // arrival in the source's dedup window (stored in the `position` column).
  virtual absl::Status PutEventId(const std::string& source, const std::string& event_id,
                                  int64_t position) = 0;
  // Forgets event ids remembered at orders < `below` (the durable dedup window).
  virtual absl::Status PruneEventIds(const std::string& source, int64_t below) = 0;
  // Remembers `event_id` for `source` unless it is remembered already: true when this batch
  // claimed it. Atomic against concurrent batches (on PostgreSQL a claim of an id another open
  // transaction claimed waits for that transaction's end). Written at once, not buffered.
  virtual absl::StatusOr<bool> ClaimEventId(const std::string& /*source*/,
                                            const std::string& /*event_id*/, int64_t /*position*/) {
    return absl::UnimplementedError("this store cannot claim event ids");
  }
  // Forgets one event id (a claim whose write did not happen).
  virtual absl::Status ForgetEventId(const std::string& /*source*/,
                                     const std::string& /*event_id*/) {
    return absl::UnimplementedError("this store cannot claim event ids");
  }
  // Adds to persistent counters (out_of_order, duplicates, ... per source).
  virtual absl::Status AddCounters(const std::map<std::string, int64_t>& deltas) = 0;
  virtual absl::Status SetPosition(const std::string& source, int32_t partition,
                                   int64_t position) = 0;
  // Deletes every key state, pending event and event id of a source (a rebuild that swaps in
  // its own gate state writes it after this).
  virtual absl::Status ClearSourceState(const std::string& source) = 0;
};

// One atomic transaction over views and engine state (see the contract at the top).
class Batch : public ViewBatch, public StateBatch {
 public:
  ~Batch() override = default;
  // Makes everything written through this batch durable and visible atomically. After Commit
  // (ok or not) the batch is finished; destroying an uncommitted batch rolls it back.
  virtual absl::Status Commit() = 0;
  // Sends what the batch still buffers into its transaction, uncommitted, so that reads
  // through the same Store see everything written so far (StoreTraits::writes_open_batches).
  virtual absl::Status Flush() { return absl::OkStatus(); }
};

// The embedded log.
class LogStore {
 public:
  virtual ~LogStore() = default;
  // Appends records, assigning positions (and log_time_us when 0); durable when it returns.
  // Returns the last position written.
  virtual absl::StatusOr<int64_t> AppendLog(std::vector<LogRecord>* records) = 0;
  // Up to `max` records with position > after, in position order.
  virtual absl::Status ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) = 0;
  // Highest position written (0 when empty).
  virtual absl::StatusOr<int64_t> LogEnd() = 0;
  // Waits at most `timeout_ms` for an append by any process, so that a tail that read nothing
  // need not read again until there is something (PostgreSQL: LISTEN, the append NOTIFYs).
  // Returns false when this store cannot wait (the caller reads again after a short pause).
  // True says only that reading again is worth it: an append since the previous call, the
  // timeout, or a first call (which starts listening, so no append after it is missed).
  virtual absl::StatusOr<bool> WaitForAppend(int /*timeout_ms*/) { return false; }

  // The log's organization index (engine/tenant_log_index.cc): the keys some record declared to
  // be of an organization, so that one organization's records are read without the others'.
  // Kept by the engine from the records themselves, not at append: it covers the log through
  // `through` for the event field `field` (an empty field: nothing indexed yet). A backend
  // without it answers Unimplemented, and a tenant rebuild reads the whole log.
  struct LogOrgIndexMark {
    std::string field;
    int64_t through = 0;
  };
  virtual absl::StatusOr<LogOrgIndexMark> GetLogOrgIndexMark() {
    return absl::UnimplementedError("this store keeps no organization index of its log");
  }
  // Adds (organization, key) pairs (already there: no change) and moves the mark to `field`,
  // `through`, in one transaction; with `restart`, the index's pairs are dropped first.
  virtual absl::Status AddToLogOrgIndex(
      const LogOrgIndexMark& /*mark*/, bool /*restart*/,
      const std::vector<std::pair<std::string, std::string>>& /*org_keys*/) {
    return absl::UnimplementedError("this store keeps no organization index of its log");
  }
  // The positions (at most `until`), ascending, of the records whose key is indexed as of
  // `organization`.
  virtual absl::StatusOr<std::vector<int64_t>> LogPositionsOfOrganization(
      const std::string& /*organization*/, int64_t /*until*/) {
    return absl::UnimplementedError("this store keeps no organization index of its log");
  }
  // The positions (at most `until`), ascending, of the records of `key`.
  virtual absl::StatusOr<std::vector<int64_t>> LogPositionsOfKey(const std::string& /*key*/,
                                                                 int64_t /*until*/) {
    return absl::UnimplementedError("this store keeps no organization index of its log");
  }
  // The records at `positions` (ascending, each written), in that order.
  virtual absl::Status ReadLogAt(const std::vector<int64_t>& /*positions*/,
                                 std::vector<LogRecord>* /*out*/) {
    return absl::UnimplementedError("this store keeps no organization index of its log");
  }
};

// Reads of the engine's own state outside batches (written through StateBatch).
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual absl::StatusOr<std::optional<KeyState>> GetKeyState(const std::string& source,
                                                              const std::string& key) = 0;
  // The stored states of `keys` (a key never seen is left out), in any order: GetKeyState for
  // many keys, in one round trip where the backend has them (Store::ReadsAreRoundTrips).
  virtual absl::StatusOr<std::vector<KeyState>> GetKeyStates(const std::string& source,
                                                             const std::vector<std::string>& keys) {
    std::vector<KeyState> found;
    for (const std::string& key : keys) {
      absl::StatusOr<std::optional<KeyState>> state = GetKeyState(source, key);
      if (!state.ok()) return state.status();
      if (state->has_value()) found.push_back(**std::move(state));
    }
    return found;
  }
  // The keys of `source` parked behind a dead letter (few): a source without sequences needs
  // no other key state, so its keys need no read each.
  virtual absl::StatusOr<std::vector<std::string>> ListParkedKeys(const std::string& source) = 0;
  // Pending events of one key, in sequence order for stashed and position order for held.
  virtual absl::StatusOr<std::vector<PendingEvent>> GetPending(const std::string& source,
                                                               const std::string& key) = 0;
  // All pending events of a source (stash expiry scans, dlq listing).
  virtual absl::StatusOr<std::vector<PendingEvent>> ListPending(const std::string& source) = 0;
  virtual absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> LoadEventIds(
      const std::string& source) = 0;
  virtual absl::StatusOr<std::map<int32_t, int64_t>> GetPositions(const std::string& source) = 0;
  // Applied position per (source, partition), all sources; one read.
  virtual absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> AllPositions() = 0;
  virtual absl::StatusOr<std::map<std::string, int64_t>> GetCounters() = 0;
  virtual absl::StatusOr<std::vector<DeadLetter>> ListDeadLetters(bool only_open) = 0;
  virtual absl::StatusOr<std::optional<DeadLetter>> GetDeadLetter(int64_t id) = 0;
  // The dead letters of `source` in the outbox (StateBatch::AddDeadLetterOutbox), in id order.
  virtual absl::StatusOr<std::vector<DeadLetter>> ListDeadLetterOutbox(
      const std::string& source) = 0;
  // Takes dead letters out of the outbox once the topic confirmed their copies, in one
  // transaction; ids not there are not an error.
  virtual absl::Status DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) = 0;
};

// View tables, their versions and the rows in them.
class ViewStore {
 public:
  virtual ~ViewStore() = default;
  virtual absl::Status CreateTable(const TableSpec& table) = 0;  // drops a leftover first
  virtual absl::Status DropTable(const std::string& table) = 0;
  virtual absl::StatusOr<std::vector<ViewVersion>> ListViewVersions() = 0;
  // Insert or update, every field (a caller updating the active version passes active = true).
  virtual absl::Status RecordViewVersion(const ViewVersion& version) = 0;
  // Runs `fn` (listing versions, creating and activating view tables) while no other process
  // sharing the store does the same: engines of a group start together on a fresh store.
  // Without sharing the engine lock already keeps other writers out.
  virtual absl::Status WithViewSetupLock(const std::function<absl::Status()>& fn) { return fn(); }
  // In one transaction: drops an inactive version's table (if it is still there) and forgets
  // the version (a shadow table a killed rebuild left, or an old one a swap did not drop).
  virtual absl::Status DropViewVersion(const ViewVersion& version) = 0;
  // In one transaction: points `view` at `table` (replacing what it pointed at), marks that
  // version active and the others inactive. Readers see the old or the new table, never neither.
  virtual absl::Status ActivateVersion(const std::string& view, int64_t version,
                                       const std::string& table) = 0;
  // Writes `rows` (sorted by primary key) into an empty table as fast as the backend allows,
  // committing every `rows_per_txn`. Used by rebuild; the table is not yet visible to readers.
  virtual absl::Status BulkInsert(const TableSpec& table,
                                  const std::function<const Row*()>& next_row) = 0;
  // Point lookup by primary key (the engine's read-through cache).
  virtual absl::StatusOr<std::optional<Row>> GetRow(const TableSpec& table, const Row& key) = 0;
  // The rows of `keys` that exist (each key's values as for GetRow), in any order: GetRow for
  // many keys, in one round trip where the backend has them (Store::ReadsAreRoundTrips).
  virtual absl::StatusOr<std::vector<Row>> GetRows(const TableSpec& table,
                                                   const std::vector<Row>& keys) {
    std::vector<Row> found;
    for (const Row& key : keys) {
      absl::StatusOr<std::optional<Row>> row = GetRow(table, key);
      if (!row.ok()) return row.status();
      if (row->has_value()) found.push_back(**std::move(row));
    }
    return found;
  }
  // All rows of a table in primary-key order (tests, oracles, dumps).
  virtual absl::Status ScanTable(const TableSpec& table,
                                 const std::function<void(const Row&)>& each) = 0;
};

// Reads for readers of views: REST pages and SELECTs in the store's dialect.
class QueryStore {
 public:
  virtual ~QueryStore() = default;
  // A page of a view (see ViewQuery). `table.name` may be the view's stable name.
  virtual absl::StatusOr<std::vector<Row>> QueryView(const TableSpec& table,
                                                     const ViewQuery& query) = 0;
  // Runs a read-only SELECT in this store's dialect (sql::StoreSelect) and yields its rows
  // decoded as `columns` (one per result column, in order) the way ScanTable decodes a table's
  // columns; NULL stays NULL. Inside a batch it sees the batch's writes.
  virtual absl::Status QuerySelect(const std::string& select_sql,
                                   const std::vector<ColumnSpec>& columns,
                                   const std::function<void(const Row&)>& each) = 0;
};

// One connection to a store: every concern, plus setup, read snapshots, batches and the
// partition fencing of engines that share a store.
class Store : public LogStore, public StateStore, public ViewStore, public QueryStore {
 public:
  ~Store() override = default;

  // Creates or migrates the engine's own tables. Idempotent.
  virtual absl::Status Init() = 0;

  // ---- Read snapshots. Reads between BeginRead and EndRead may share one snapshot (one read
  // transaction) instead of paying for one each; the engine brackets a batch's lookups with
  // them. A backend without the notion keeps the defaults. No batch may begin in between.
  virtual absl::Status BeginRead() { return absl::OkStatus(); }
  virtual void EndRead() {}

  virtual std::unique_ptr<Batch> BeginBatch() = 0;

  // Whether each read is a round trip to a server: the engine then reads the rows and key
  // states a poll's records will need together (GetRows, GetKeyStates) before applying them,
  // instead of one read per new key as it meets it.
  virtual bool ReadsAreRoundTrips() const { return false; }

  // Returns once every transaction committed so far, through any connection to the store, is
  // on disk. An operator's action (a version switch, a dead letter's discard, a rebuild
  // reported done) is acknowledged after it: nothing redoes it if a power cut undoes it,
  // whereas the engine's own commits may lose their last ones (the source replays them). A
  // backend whose every commit is durable (PostgreSQL) or that has no disk keeps the default.
  virtual absl::Status SyncCommitted() { return absl::OkStatus(); }

  // Called from another thread by an owner that is shutting down: the table scan running on
  // this connection, and any started later, stop early with Cancelled (a lookup's preload of a
  // large view must not hold a stopping server). Nothing else changes; the connection is
  // closed afterwards. A backend whose scans are short keeps the default.
  virtual void Interrupt() {}

  // ---- Engines sharing one store (StoreOptions::shared_by_partition: a Kafka consumer group
  // over PostgreSQL). Blocks until this connection holds `partitions` of `source` exclusively,
  // so a consumer that lost them (a zombie) can no longer commit for them; held until
  // UnlockPartitions or the connection ends. A store with one writer grants it at once.
  virtual absl::Status LockPartitions(const std::string& /*source*/,
                                      const std::vector<int32_t>& /*partitions*/) {
    return absl::OkStatus();
  }
  virtual absl::Status UnlockPartitions(const std::string& /*source*/) { return absl::OkStatus(); }
  // For work outside the batch loop that writes for a partition (rebuild, dead-letter replay
  // and discard): takes it without waiting. kHeldElsewhere: an engine of the group owns it now.
  // kTaken is released with UnlockPartition when the work is done. A store with one writer has
  // nothing to fence (its engine lock keeps other writers out): kAlreadyHeld.
  enum class PartitionLock { kAlreadyHeld, kTaken, kHeldElsewhere };
  virtual absl::StatusOr<PartitionLock> TryLockPartition(const std::string& /*source*/,
                                                         int32_t /*partition*/) {
    return PartitionLock::kAlreadyHeld;
  }
  virtual absl::Status UnlockPartition(const std::string& /*source*/, int32_t /*partition*/) {
    return absl::OkStatus();
  }
};

struct SqliteOptions {
  std::string path;
  bool bulk_mode = false;  // rebuild writer: synchronous=OFF for shadow loads, temp files on disk
  int busy_timeout_ms = 10'000;
  // Long-lived writers: checkpoint the WAL on a background thread instead of inside commits.
  bool background_checkpoint = false;
  // Readers (REST threads): never write, never create; queries only.
  bool read_only = false;
  // The engine's writers: hold the store's one-engine lock (sqlite/engine_lock.h).
  bool engine_lock = false;
  // Every COMMIT syncs the WAL (synchronous=FULL), for writers whose commits are the only copy
  // of what they write (collections, the library's units of work); otherwise NORMAL, which
  // survives a process crash but not a power cut — the engine's views are replayed from their
  // source after one.
  bool sync_every_commit = false;
  int64_t cache_kib = 65'536;  // the page cache (PRAGMA cache_size), in KiB
};

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace sv::store
