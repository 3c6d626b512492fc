#pragma once
// The SQLite backend's internals, shared by its files (one concern each):
//   sqlite_store.cc      connection, transactions, schema and migrations
//   sqlite_log_views.cc  the embedded log, view tables and versions, bulk loads
//   sqlite_reads.cc      reads and queries
//   sqlite_batch.cc      the write batch
// Private to store/sqlite/.

// The SQLite backend of the store interface (see store/store.h).
//
// One connection per Store object, in WAL mode so that readers never block the writer and a
// view swap (DROP VIEW + CREATE VIEW in one transaction) is seen atomically. Every write
// transaction starts with BEGIN IMMEDIATE, so a writer either gets the write lock up front
// (waiting through the busy handler while another process holds it) or fails cleanly with a
// retryable Unavailable error; it never deadlocks upgrading a read transaction.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "store/engine_schema.h"
#include "store/sql_text.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/engine_lock.h"
#include "store/sqlite/fault_vfs.h"
#include "store/sqlite/sqlite_functions.h"
#include "store/sqlite/sqlite_query.h"
#include "store/sqlite/sqlite_util.h"
#include "store/store.h"

namespace sv::store::sqlite_impl {

using sqlite::BindScratch;
using sqlite::BindValue;
using sqlite::BindValues;
using sqlite::Error;
using sqlite::QuoteIdent;
using sqlite::ReadValue;
using sqlite::ResetOnExit;
using sqlite::SqlLabel;
using sqlite::Stmt;

// ---- Schema

constexpr int kCheckpointIntervalMs = 50;

// ---- Statements prepared once per connection

enum FixedId : int {
  kBegin,
  kCommit,
  kRollback,
  kMetaGet,
  kMetaPut,
  kLogEnd,
  kLogInsert,
  kLogRead,
  kKeyGet,
  kKeyParked,
  kKeyPut,
  kPendingByKey,
  kPendingList,
  kPendingPut,
  kPendingDelete,
  kDeadLetterAdd,
  kDeadLetterSetState,
  kDeadLetterGet,
  kDeadLetterList,
  kDeadLetterListOpen,
  kOutboxAdd,
  kOutboxList,
  kOutboxDelete,
  kEventIdPut,
  kEventIdPrune,
  kEventIdLoad,
  kPositionsGet,
  kPositionSet,
  kCountersGet,
  kCounterAdd,
  kClearKeys,
  kClearPending,
  kClearEventIds,
  kViewVersionsList,
  kViewVersionPut,
  kViewVersionNotePut,
  kViewVersionActivate,
  kViewVersionDeactivateOthers,
  kTableExists,
  kPositionsAll,
  kNumFixed,
};

#define SV_PENDING_COLS R"(key, "partition", position, sequence, log_time_us, held, raw)"
#define SV_DEAD_LETTER_COLS \
  R"(id, source, "partition", position, key, reason, raw, created_us, state, parks_key)"

constexpr std::array<const char*, kNumFixed> kFixedSql = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT value FROM sv_meta WHERE name = ?1",
    "INSERT INTO sv_meta(name, value) VALUES(?1, ?2) "
    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    "SELECT COALESCE(MAX(position), 0) FROM sv_log",
    "INSERT INTO sv_log(position, log_time_us, key, raw) VALUES(?1, ?2, ?3, ?4)",
    "SELECT position, log_time_us, key, raw FROM sv_log WHERE position > ?1 "
    "ORDER BY position LIMIT ?2",
    "SELECT last_sequence, parked_on FROM sv_keys WHERE source = ?1 AND key = ?2",
    "SELECT key FROM sv_keys WHERE source = ?1 AND parked_on != 0",
    "INSERT INTO sv_keys(source, key, last_sequence, parked_on) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(source, key) DO UPDATE SET last_sequence = excluded.last_sequence, "
    "parked_on = excluded.parked_on",
    "SELECT " SV_PENDING_COLS
    " FROM sv_pending WHERE source = ?1 AND key = ?2 ORDER BY held, sequence, position",
    "SELECT " SV_PENDING_COLS " FROM sv_pending WHERE source = ?1 ORDER BY \"partition\", position",
    "INSERT OR REPLACE INTO sv_pending(source, " SV_PENDING_COLS
    ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "DELETE FROM sv_pending WHERE source = ?1 AND \"partition\" = ?2 AND position = ?3",
    "INSERT INTO sv_dead_letters(" SV_DEAD_LETTER_COLS
    ") VALUES(NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT(source, \"partition\", position) DO UPDATE SET key = excluded.key, "
    "reason = excluded.reason, raw = excluded.raw, created_us = excluded.created_us, "
    "state = excluded.state, parks_key = excluded.parks_key RETURNING id",
    "UPDATE sv_dead_letters SET state = ?2 WHERE id = ?1",
    "SELECT " SV_DEAD_LETTER_COLS " FROM sv_dead_letters WHERE id = ?1",
    "SELECT " SV_DEAD_LETTER_COLS " FROM sv_dead_letters ORDER BY id",
    "SELECT " SV_DEAD_LETTER_COLS " FROM sv_dead_letters WHERE state = 'open' ORDER BY id",
    "INSERT OR IGNORE INTO sv_dead_letter_outbox(id) VALUES(?1)",
    "SELECT " SV_DEAD_LETTER_COLS
    " FROM sv_dead_letters WHERE source = ?1 "
    "AND id IN (SELECT id FROM sv_dead_letter_outbox) ORDER BY id",
    "DELETE FROM sv_dead_letter_outbox WHERE id = ?1",
    "INSERT INTO sv_event_ids(source, event_id, position) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(source, event_id) DO UPDATE SET position = excluded.position",
    "DELETE FROM sv_event_ids WHERE source = ?1 AND position < ?2",
    "SELECT event_id, position FROM sv_event_ids WHERE source = ?1 ORDER BY position, event_id",
    "SELECT \"partition\", position FROM sv_positions WHERE source = ?1",
    "INSERT INTO sv_positions(source, \"partition\", position) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(source, \"partition\") DO UPDATE SET position = excluded.position",
    "SELECT name, value FROM sv_counters",
    "INSERT INTO sv_counters(name, value) VALUES(?1, ?2) "
    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    "DELETE FROM sv_keys WHERE source = ?1",
    "DELETE FROM sv_pending WHERE source = ?1",
    "DELETE FROM sv_event_ids WHERE source = ?1",
    "SELECT v.view, v.version, v.table_name, v.definition_hash, v.active, "
    "COALESCE(n.config_version, 0), COALESCE(n.kept, 0), COALESCE(n.as_of, '') "
    "FROM sv_view_versions v LEFT JOIN sv_view_version_notes n "
    "ON n.view = v.view AND n.version = v.version ORDER BY v.view, v.version",
    "INSERT INTO sv_view_versions(view, version, table_name, definition_hash, active) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(view, version) DO UPDATE SET "
    "table_name = excluded.table_name, definition_hash = excluded.definition_hash, "
    "active = excluded.active",
    "INSERT INTO sv_view_version_notes(view, version, config_version, kept, as_of) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(view, version) DO UPDATE SET "
    "config_version = excluded.config_version, kept = excluded.kept, as_of = excluded.as_of",
    "INSERT INTO sv_view_versions(view, version, table_name, definition_hash, active) "
    "VALUES(?1, ?2, ?3, '', 1) ON CONFLICT(view, version) DO UPDATE SET "
    "table_name = excluded.table_name, active = 1",
    "UPDATE sv_view_versions SET active = 0 WHERE view = ?1 AND version <> ?2 AND active <> 0",
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
    "SELECT source, \"partition\", position FROM sv_positions",
};

#undef SV_PENDING_COLS
#undef SV_DEAD_LETTER_COLS

// ---- Per-table statements

enum class TableOp : char { kUpsert = 'u', kUpsertMany = 'm', kDelete = 'd', kGet = 'g' };

struct TableStmt {
  Stmt stmt;
  std::string label;  // error context, e.g. INSERT INTO "orders__v1"
  size_t columns = 0;
  size_t key = 0;
  bool key_nullable = false;
};

constexpr int64_t kBulkRowsPerTxn = 250'000;  // short write-lock holds for live writers
constexpr size_t kBulkMaxRowsPerStmt = 256;
constexpr size_t kKeyPutRows = 128;    // key states per multi-row INSERT in a batch
constexpr size_t kUpsertParams = 999;  // bound values per multi-row view upsert
// The page cache while a bulk load builds its indexes, which bounds the sort's memory buffer.
constexpr int64_t kIndexSortKib = 16384;
// QueryView statements cached per connection; IN lists of many lengths make many texts.
constexpr size_t kMaxQueryStmts = 64;

inline std::string ColumnString(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return std::string(text != nullptr ? text : "", sqlite3_column_bytes(stmt, col));
}

inline void AssignColumnString(sqlite3_stmt* stmt, int col, std::string* out) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  out->assign(text != nullptr ? text : "", sqlite3_column_bytes(stmt, col));
}

inline int BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

inline absl::Status ValidateSpec(const TableSpec& table) {
  return ValidateTableSpec(table, "sqlite");
}

// Prepares exactly one statement (a trailing semicolon allowed): SQL handed in by callers
// (QuerySelect, ReplaceWithSelect) must not smuggle in a second one.
inline absl::StatusOr<Stmt> PrepareOne(sqlite3* db, const std::string& sql,
                                       const std::string& label) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return Error(db, rc, label);
  std::string_view rest = tail != nullptr ? std::string_view(tail) : std::string_view();
  while (!rest.empty() &&
         (rest.front() == ';' || std::isspace(static_cast<unsigned char>(rest.front())))) {
    rest.remove_prefix(1);
  }
  if (!stmt || !rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite: ", label, ": expected exactly one SQL statement"));
  }
  return stmt;
}

// "k1" = ?1 AND "k2" = ?2 ... (IS where a key value may be NULL: as indexable, and NULL IS NULL)
inline std::string KeyWhere(const TableSpec& table) {
  std::string out;
  const char* op = table.key_nullable ? " IS ?" : " = ?";
  for (size_t i = 0; i < table.key.size(); ++i) {
    if (i > 0) out += " AND ";
    absl::StrAppend(&out, QuoteIdent(table.columns[table.key[i]].name), op, i + 1);
  }
  return out;
}

// Whether a row of `table` has a NULL key value (it cannot be upserted by ON CONFLICT).
inline bool HasNullKey(const TableSpec& table, const Row& row) {
  if (!table.key_nullable) return false;
  for (int k : table.key) {
    if (row[k].is_null()) return true;
  }
  return false;
}

inline std::string IndexName(const TableSpec& table, size_t i) {
  return QuoteIdent(absl::StrCat(table.name, "__i", i + 1));
}

inline std::string CreateIndexSql(const TableSpec& table, size_t i) {
  std::string sql =
      absl::StrCat("CREATE INDEX ", IndexName(table, i), " ON ", QuoteIdent(table.name), "(");
  const std::vector<std::string>& cols = table.indexes[i].columns;
  for (size_t c = 0; c < cols.size(); ++c) {
    if (c > 0) sql += ", ";
    std::string_view col = cols[c];
    const bool desc = !col.empty() && col.front() == '-';
    if (desc) col.remove_prefix(1);
    sql += QuoteIdent(col);
    if (desc) sql += " DESC";
  }
  sql += ")";
  return sql;
}

// Rows per multi-row upsert statement of `table`.
inline size_t UpsertRowsPerStmt(const TableSpec& table) {
  return std::max<size_t>(1, kUpsertParams / std::max<size_t>(1, table.columns.size()));
}

// Runs `fn` when the scope ends.
template <typename F>
class Defer {
 public:
  explicit Defer(F fn) : fn_(std::move(fn)) {}
  ~Defer() { fn_(); }
  Defer(const Defer&) = delete;
  Defer& operator=(const Defer&) = delete;

 private:
  F fn_;
};

class SqliteStore;

class SqliteBatch final : public Batch {
 public:
  explicit SqliteBatch(SqliteStore* store) : store_(store) {}
  ~SqliteBatch() override;

  absl::Status Upsert(const TableSpec& table, const Row& row) override;
  absl::Status UpsertRows(const TableSpec& table, const std::vector<const Row*>& rows) override;
  absl::Status Delete(const TableSpec& table, const Row& key) override;
  absl::Status PutKeyState(const std::string& source, const KeyState& state) override;
  absl::Status PutPending(const std::string& source, const PendingEvent& event) override;
  absl::Status DeletePending(const std::string& source, int32_t partition,
                             int64_t position) override;
  absl::Status AddDeadLetter(DeadLetter* dl) override;
  absl::Status SetDeadLetterState(int64_t id, DeadLetterState state) override;
  absl::Status AddDeadLetterOutbox(int64_t id) override;
  absl::Status PutEventId(const std::string& source, const std::string& event_id,
                          int64_t position) override;
  absl::Status PruneEventIds(const std::string& source, int64_t below) override;
  absl::Status AddCounters(const std::map<std::string, int64_t>& deltas) override;
  absl::Status SetPosition(const std::string& source, int32_t partition, int64_t position) override;
  absl::Status ActivateVersion(const std::string& view, int64_t version,
                               const std::string& table) override;
  absl::Status ReplaceWithSelect(const TableSpec& table, const std::string& select_sql) override;
  absl::Status ClearSourceState(const std::string& source) override;
  absl::StatusOr<std::optional<int64_t>> UpsertVersioned(const TableSpec& table, const Row& row,
                                                         int version_column,
                                                         std::optional<int64_t> expected) override;
  absl::StatusOr<bool> DeleteVersioned(const TableSpec& table, const Row& key, int version_column,
                                       std::optional<int64_t> expected) override;
  absl::Status UpsertRowsVersioned(const TableSpec& table, const std::vector<const Row*>& rows,
                                   int version_column) override;
  absl::StatusOr<bool> ClaimEventId(const std::string& source, const std::string& event_id,
                                    int64_t position) override;
  absl::Status ForgetEventId(const std::string& source, const std::string& event_id) override;
  absl::Status Commit() override;
  absl::Status Flush() override { return broken_.ok() ? FlushKeys() : broken_; }

 private:
  // Starts the transaction at the first write, so the write lock is held only while the
  // batch is actually being written.
  absl::Status Begin();
  // Records a failed write that made SQLite roll the whole transaction back.
  absl::Status Check(absl::Status status);

  // Writes the buffered key states (kKeyPutRows at a time in one statement).
  absl::Status FlushKeys();
  // UpsertRows of rows without a NULL key value, several per statement.
  absl::Status UpsertKeyedRows(const TableSpec& table, const std::vector<const Row*>& rows);

  SqliteStore* store_;
  bool begun_ = false;
  bool finished_ = false;
  absl::Status broken_;
  // Key states are buffered and written kKeyPutRows per statement: a batch (and a rebuild's
  // swap, a million of them) writes many, and one row per statement costs twice as much.
  std::vector<std::pair<std::string, KeyState>> keys_;
};

class SqliteStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  absl::Status Init() override;
  absl::StatusOr<int64_t> AppendLog(std::vector<LogRecord>* records) override;
  absl::Status ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) override;
  absl::StatusOr<int64_t> LogEnd() override;
  absl::StatusOr<LogOrgIndexMark> GetLogOrgIndexMark() override;
  absl::Status AddToLogOrgIndex(
      const LogOrgIndexMark& mark, bool restart,
      const std::vector<std::pair<std::string, std::string>>& org_keys) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfOrganization(const std::string& organization,
                                                                  int64_t until) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfKey(const std::string& key,
                                                         int64_t until) override;
  absl::Status ReadLogAt(const std::vector<int64_t>& positions,
                         std::vector<LogRecord>* out) override;
  absl::Status BeginRead() override;
  void EndRead() override;
  absl::Status CreateTable(const TableSpec& table) override;
  absl::Status DropTable(const std::string& table) override;
  absl::StatusOr<std::vector<ViewVersion>> ListViewVersions() override;
  absl::Status RecordViewVersion(const ViewVersion& version) override;
  absl::Status DropViewVersion(const ViewVersion& version) override;
  absl::Status ActivateVersion(const std::string& view, int64_t version,
                               const std::string& table) override;
  absl::Status BulkInsert(const TableSpec& table,
                          const std::function<const Row*()>& next_row) override;
  absl::StatusOr<std::optional<Row>> GetRow(const TableSpec& table, const Row& key) override;
  absl::StatusOr<std::vector<Row>> QueryView(const TableSpec& table,
                                             const ViewQuery& query) override;
  absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> AllPositions() override;
  absl::StatusOr<std::optional<KeyState>> GetKeyState(const std::string& source,
                                                      const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> ListParkedKeys(const std::string& source) override;
  absl::StatusOr<std::vector<PendingEvent>> GetPending(const std::string& source,
                                                       const std::string& key) override;
  absl::StatusOr<std::vector<PendingEvent>> ListPending(const std::string& source) override;
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> LoadEventIds(
      const std::string& source) override;
  absl::StatusOr<std::map<int32_t, int64_t>> GetPositions(const std::string& source) override;
  absl::StatusOr<std::map<std::string, int64_t>> GetCounters() override;
  absl::StatusOr<std::vector<DeadLetter>> ListDeadLetters(bool only_open) override;
  absl::StatusOr<std::optional<DeadLetter>> GetDeadLetter(int64_t id) override;
  absl::StatusOr<std::vector<DeadLetter>> ListDeadLetterOutbox(const std::string& source) override;
  absl::Status DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) override;
  absl::Status ScanTable(const TableSpec& table,
                         const std::function<void(const Row&)>& each) override;
  absl::Status QuerySelect(const std::string& select_sql, const std::vector<ColumnSpec>& columns,
                           const std::function<void(const Row&)>& each) override;
  std::unique_ptr<Batch> BeginBatch() override;
  // Syncs the database file and the WAL: every commit, at any synchronous level, has written
  // its frames to the WAL (or a checkpoint copied them into the database file, syncing).
  absl::Status SyncCommitted() override {
    SV_RETURN_IF_ERROR(ReopenIfFailed());
    return SyncFiles();
  }
  void Interrupt() override {
    interrupted_.store(true);
    sqlite3_interrupt(db_);  // the step running now returns SQLITE_INTERRUPT
  }

  // ---- Used by SqliteBatch
  sqlite3* db() const { return db_; }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  absl::StatusOr<sqlite3_stmt*> Fixed(FixedId id);
  // INSERT … ON CONFLICT of kKeyPutRows key states.
  absl::StatusOr<sqlite3_stmt*> KeyPutMany();
  absl::StatusOr<TableStmt*> ForTable(const TableSpec& table, TableOp op);
  // Steps a statement that returns no rows.
  absl::Status StepDone(sqlite3_stmt* stmt, std::string_view label = {});
  // Runs a write whose RETURNING clause yields one integer, through a statement prepared once
  // per connection: the first row's value, or nullopt when it returned none.
  absl::StatusOr<std::optional<int64_t>> WriteReturningInt(const std::string& sql,
                                                           const std::vector<Value>& binds);
  // A statement prepared once per connection, by SQL text (the versioned writes' cache).
  absl::StatusOr<sqlite3_stmt*> CachedWrite(const std::string& sql);
  absl::Status BeginImmediate();
  absl::Status CommitTxn();
  // ActivateVersion's work inside an open transaction.
  absl::Status ActivateInTxn(const std::string& view, int64_t version, const std::string& table);
  void RollbackTxn();

 private:
  SqliteStore(sqlite3* db, SqliteOptions options) : db_(db), options_(std::move(options)) {}

  absl::Status Configure();
  // The synchronous level of this connection's ordinary commits (SqliteOptions).
  const char* SyncPragma() const {
    return options_.sync_every_commit ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  }
  // After an I/O error (a failed write or fsync) the connection's state is not trusted: the
  // next transaction starts on a fresh connection, from what the files durably hold (an fsync
  // that failed is never retried on the same state: PostgreSQL's "fsyncgate" lesson).
  absl::Status ReopenIfFailed();
  void NoteFailure(int rc);
  absl::Status Exec(const std::string& sql);
  // Runs `fn` in a BEGIN IMMEDIATE transaction; commits when it returns ok, else rolls back.
  template <typename F>
  absl::Status InTxn(F&& fn);
  absl::StatusOr<int64_t> QueryInt(sqlite3_stmt* stmt);
  absl::StatusOr<int64_t> SchemaVersion();
  // Forgets the cached statements of a table (it is being dropped or recreated).
  void InvalidateTable(std::string_view name);
  absl::Status ReadRow(sqlite3_stmt* stmt, const TableSpec& table, Row* row);
  absl::StatusOr<std::vector<PendingEvent>> ReadPending(sqlite3_stmt* stmt);
  absl::StatusOr<std::vector<DeadLetter>> ReadDeadLetters(sqlite3_stmt* stmt);
  absl::Status BulkLoad(const TableSpec& table, const std::function<const Row*()>& next_row);
  // A PASSIVE checkpoint that syncs the WAL before copying and the database file after, even
  // when the connection runs with synchronous=OFF.
  absl::Status SyncedCheckpoint();
  // fsyncs the database file and the WAL through SQLite's own handles (opening and closing
  // another descriptor would drop this process's POSIX locks on the file).
  absl::Status SyncFiles();
  static int BusyHandler(void* arg, int count);

  sqlite3* db_;
  std::atomic<bool> interrupted_{false};  // Interrupt(): scans stop
  SqliteOptions options_;
  std::array<Stmt, kNumFixed> fixed_;
  Stmt key_put_many_;
  std::unordered_map<std::string, TableStmt> table_stmts_;
  std::string table_key_;                              // reused lookup key for table_stmts_
  std::unordered_map<std::string, Stmt> query_stmts_;  // QueryView, by SQL text
  std::unordered_map<std::string, Stmt> write_stmts_;  // WriteReturningInt, by SQL text
  std::chrono::steady_clock::time_point busy_since_;
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // set with background_checkpoint
  std::optional<sqlite::EngineLock> engine_lock_;       // set with engine_lock
  bool must_reopen_ = false;
};

template <typename F>
absl::Status SqliteStore::InTxn(F&& fn) {
  SV_RETURN_IF_ERROR(BeginImmediate());
  absl::Status status = fn();
  if (!status.ok()) {
    RollbackTxn();
    return status;
  }
  return CommitTxn();
}

}  // namespace sv::store::sqlite_impl
