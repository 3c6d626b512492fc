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
#include "store/sql_text.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/engine_lock.h"
#include "store/sqlite/fault_vfs.h"
#include "store/sqlite/sqlite_functions.h"
#include "store/sqlite/sqlite_query.h"
#include "store/sqlite/sqlite_util.h"
#include "store/store.h"

namespace sv::store {
namespace {

using sqlite::BindValue;
using sqlite::Error;
using sqlite::QuoteIdent;
using sqlite::ReadValue;
using sqlite::ResetOnExit;
using sqlite::SqlLabel;
using sqlite::Stmt;

// ---- Schema

constexpr int kSchemaVersion = 2;
constexpr int kCheckpointIntervalMs = 50;

// kMigrations[v] takes the engine tables from schema version v to v + 1. Version 0 is "no
// engine tables yet". Append new steps here; never edit an old one.
constexpr std::array<const char*, kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE IF NOT EXISTS sv_log(
  position INTEGER PRIMARY KEY,
  log_time_us INTEGER NOT NULL,
  key TEXT NOT NULL,
  raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sv_keys(
  source TEXT NOT NULL,
  key TEXT NOT NULL,
  last_sequence INTEGER NOT NULL,
  parked_on INTEGER NOT NULL,
  PRIMARY KEY(source, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sv_pending(
  source TEXT NOT NULL,
  "partition" INTEGER NOT NULL,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  log_time_us INTEGER NOT NULL,
  held INTEGER NOT NULL,
  raw TEXT NOT NULL,
  PRIMARY KEY(source, "partition", position));
CREATE INDEX IF NOT EXISTS sv_pending__by_key
  ON sv_pending(source, key, held, sequence, position);
CREATE TABLE IF NOT EXISTS sv_dead_letters(
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  "partition" INTEGER NOT NULL,
  position INTEGER NOT NULL,
  key TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  state TEXT NOT NULL CHECK(state IN ('open', 'replayed', 'discarded')),
  parks_key INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS sv_dead_letters__by_position
  ON sv_dead_letters(source, "partition", position);
CREATE TABLE IF NOT EXISTS sv_event_ids(
  source TEXT NOT NULL,
  event_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY(source, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sv_event_ids__by_position ON sv_event_ids(source, position);
CREATE TABLE IF NOT EXISTS sv_positions(
  source TEXT NOT NULL,
  "partition" INTEGER NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY(source, "partition")) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sv_counters(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sv_view_versions(
  view TEXT NOT NULL,
  version INTEGER NOT NULL,
  table_name TEXT NOT NULL,
  definition_hash TEXT NOT NULL,
  active INTEGER NOT NULL,
  PRIMARY KEY(view, version)) WITHOUT ROWID;
)sql",
    // 1 -> 2: the dead-letter outbox (dead letters whose topic copy is not yet confirmed).
    R"sql(
CREATE TABLE IF NOT EXISTS sv_dead_letter_outbox(id INTEGER PRIMARY KEY);
)sql",
};

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
    "SELECT view, version, table_name, definition_hash, active FROM sv_view_versions "
    "ORDER BY view, version",
    "INSERT INTO sv_view_versions(view, version, table_name, definition_hash, active) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(view, version) DO UPDATE SET "
    "table_name = excluded.table_name, definition_hash = excluded.definition_hash, "
    "active = excluded.active",
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
};

constexpr int64_t kBulkRowsPerTxn = 250'000;  // short write-lock holds for live writers
constexpr size_t kBulkMaxRowsPerStmt = 256;
constexpr size_t kKeyPutRows = 128;    // key states per multi-row INSERT in a batch
constexpr size_t kUpsertParams = 999;  // bound values per multi-row view upsert
constexpr int64_t kCacheKibNormal = 65536;
constexpr int64_t kCacheKibBulk = 65536;
// QueryView statements cached per connection; IN lists of many lengths make many texts.
constexpr size_t kMaxQueryStmts = 64;

std::string ColumnString(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return std::string(text != nullptr ? text : "", sqlite3_column_bytes(stmt, col));
}

void AssignColumnString(sqlite3_stmt* stmt, int col, std::string* out) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  out->assign(text != nullptr ? text : "", sqlite3_column_bytes(stmt, col));
}

int BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

absl::Status ValidateSpec(const TableSpec& table) { return ValidateTableSpec(table, "sqlite"); }

// Prepares exactly one statement (a trailing semicolon allowed): SQL handed in by callers
// (QuerySelect, ReplaceWithSelect) must not smuggle in a second one.
absl::StatusOr<Stmt> PrepareOne(sqlite3* db, const std::string& sql, const std::string& label) {
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

// "k1" = ?1 AND "k2" = ?2 ...
std::string KeyWhere(const TableSpec& table) {
  std::string out;
  for (size_t i = 0; i < table.key.size(); ++i) {
    if (i > 0) out += " AND ";
    absl::StrAppend(&out, QuoteIdent(table.columns[table.key[i]].name), " = ?", i + 1);
  }
  return out;
}

std::string IndexName(const TableSpec& table, size_t i) {
  return QuoteIdent(absl::StrCat(table.name, "__i", i + 1));
}

std::string CreateIndexSql(const TableSpec& table, size_t i) {
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
size_t UpsertRowsPerStmt(const TableSpec& table) {
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
  absl::Status Commit() override;

 private:
  // Starts the transaction at the first write, so the write lock is held only while the
  // batch is actually being written.
  absl::Status Begin();
  // Records a failed write that made SQLite roll the whole transaction back.
  absl::Status Check(absl::Status status);

  // Writes the buffered key states (kKeyPutRows at a time in one statement).
  absl::Status FlushKeys();

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

  // ---- Used by SqliteBatch
  sqlite3* db() const { return db_; }
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }
  absl::StatusOr<sqlite3_stmt*> Fixed(FixedId id);
  // INSERT … ON CONFLICT of kKeyPutRows key states.
  absl::StatusOr<sqlite3_stmt*> KeyPutMany();
  absl::StatusOr<TableStmt*> ForTable(const TableSpec& table, TableOp op);
  // Steps a statement that returns no rows.
  absl::Status StepDone(sqlite3_stmt* stmt, std::string_view label = {});
  absl::Status BeginImmediate();
  absl::Status CommitTxn();
  // ActivateVersion's work inside an open transaction.
  absl::Status ActivateInTxn(const std::string& view, int64_t version, const std::string& table);
  void RollbackTxn();

 private:
  SqliteStore(sqlite3* db, SqliteOptions options) : db_(db), options_(std::move(options)) {}

  absl::Status Configure();
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
  SqliteOptions options_;
  std::array<Stmt, kNumFixed> fixed_;
  Stmt key_put_many_;
  std::unordered_map<std::string, TableStmt> table_stmts_;
  std::string table_key_;                              // reused lookup key for table_stmts_
  std::unordered_map<std::string, Stmt> query_stmts_;  // QueryView, by SQL text
  std::chrono::steady_clock::time_point busy_since_;
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // set with background_checkpoint
  std::optional<sqlite::EngineLock> engine_lock_;       // set with engine_lock
  bool must_reopen_ = false;
};

// ---- SqliteStore: plumbing

absl::StatusOr<sqlite3*> OpenConnection(const SqliteOptions& options) {
  if (!sqlite::InstallFaultVfsFromEnv()) {
    return absl::InternalError("sqlite: SV_FAULT_DIR is set but the fault VFS could not be set up");
  }
  sqlite3* db = nullptr;
  const int flags =
      options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(options.path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = Error(db, rc, absl::StrCat("open ", options.path));
    sqlite3_close_v2(db);
    return status;
  }
  return db;
}

absl::StatusOr<std::unique_ptr<Store>> SqliteStore::Open(const SqliteOptions& options) {
  SV_ASSIGN_OR_RETURN(sqlite3 * db, OpenConnection(options));
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, options));
  if (options.engine_lock && options.path != ":memory:" && !options.path.empty()) {
    SV_ASSIGN_OR_RETURN(sqlite::EngineLock lock, sqlite::EngineLock::Acquire(options.path));
    store->engine_lock_.emplace(std::move(lock));
  }
  SV_RETURN_IF_ERROR(store->Configure());
  return store;
}

SqliteStore::~SqliteStore() {
  checkpointer_.reset();
  if (InTransaction()) RollbackTxn();
  for (Stmt& stmt : fixed_) stmt = Stmt();
  table_stmts_.clear();
  query_stmts_.clear();
  sqlite3_close_v2(db_);
}

int SqliteStore::BusyHandler(void* arg, int count) {
  auto* self = static_cast<SqliteStore*>(arg);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) self->busy_since_ = now;
  if (now - self->busy_since_ >= std::chrono::milliseconds(self->options_.busy_timeout_ms)) {
    return 0;
  }
  // Short sleeps: the lock holders here (a batch commit, a log append) are brief, and a long
  // sleep would let a busy writer starve a waiting one. 50us, 100us, ... capped at 2ms.
  const int shift = std::min(count, 5);
  std::this_thread::sleep_for(std::chrono::microseconds(std::min(50 << shift, 2000)));
  return 1;
}

absl::Status SqliteStore::Configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_handler(db_, &SqliteStore::BusyHandler, this);
  SV_RETURN_IF_ERROR(sqlite::RegisterFunctions(db_));
  {
    // A reader cannot switch the journal mode (that writes the header); it checks the
    // writer did, since its snapshots depend on WAL.
    sqlite3_stmt* raw = nullptr;
    const char* sql = options_.read_only ? "PRAGMA journal_mode" : "PRAGMA journal_mode=WAL";
    int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return Error(db_, rc, sql);
    rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_ROW) return Error(db_, rc, sql);
    const std::string mode = ColumnString(stmt.get(), 0);
    if (mode != "wal" && mode != "memory") {
      return absl::InternalError(
          absl::StrCat("sqlite: ", sql, ": database stays in journal mode ", mode));
    }
  }
  const int64_t cache_kib = options_.bulk_mode ? kCacheKibBulk : kCacheKibNormal;
  if (options_.background_checkpoint && !options_.read_only) {
    SV_RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0"));
    checkpointer_ = std::make_unique<sqlite::Checkpointer>(options_.path, kCheckpointIntervalMs);
  }
  return Exec(absl::StrCat("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; ",
                           "PRAGMA temp_store=", options_.bulk_mode ? "FILE" : "MEMORY",
                           "; PRAGMA cache_size=-", cache_kib, ";",
                           // Index builds after a bulk load sort with helper threads.
                           options_.bulk_mode ? "PRAGMA threads=2;" : ""));
}

void SqliteStore::NoteFailure(int rc) {
  const int primary = rc & 0xff;
  if (primary == SQLITE_IOERR || primary == SQLITE_FULL) must_reopen_ = true;
}

absl::Status SqliteStore::ReopenIfFailed() {
  if (!must_reopen_) return absl::OkStatus();
  LogJson("warn", "sqlite: reopening the connection after an I/O error",
          {{"store", options_.path}});
  // The old connection stays until a new one is open. Unavailable: retried by the next
  // transaction.
  absl::StatusOr<sqlite3*> db = OpenConnection(options_);
  if (!db.ok()) return absl::UnavailableError(db.status().message());
  checkpointer_.reset();
  if (InTransaction()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  for (Stmt& stmt : fixed_) stmt = Stmt();
  key_put_many_ = Stmt();
  table_stmts_.clear();
  query_stmts_.clear();
  sqlite3_close_v2(db_);
  db_ = *db;
  must_reopen_ = false;
  absl::Status configured = Configure();
  if (!configured.ok()) must_reopen_ = true;
  return configured;
}

absl::Status SqliteStore::Exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    NoteFailure(rc);
    return Error(db_, rc, SqlLabel(sql));
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> SqliteStore::Fixed(FixedId id) {
  Stmt& slot = fixed_[id];
  if (!slot) {
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, kFixedSql[id], -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return Error(db_, rc, SqlLabel(kFixedSql[id]));
    }
    slot = Stmt(raw);
  }
  return slot.get();
}

absl::StatusOr<sqlite3_stmt*> SqliteStore::KeyPutMany() {
  if (!key_put_many_) {
    std::string sql = "INSERT INTO sv_keys(source, key, last_sequence, parked_on) VALUES ";
    for (size_t i = 0; i < kKeyPutRows; ++i) absl::StrAppend(&sql, i ? ",(?,?,?,?)" : "(?,?,?,?)");
    sql +=
        " ON CONFLICT(source, key) DO UPDATE SET last_sequence = excluded.last_sequence, "
        "parked_on = excluded.parked_on";
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return Error(db_, rc, "prepare multi-row key state insert");
    }
    key_put_many_ = Stmt(raw);
  }
  return key_put_many_.get();
}

absl::StatusOr<TableStmt*> SqliteStore::ForTable(const TableSpec& table, TableOp op) {
  table_key_.assign(1, static_cast<char>(op));
  table_key_ += table.name;
  auto it = table_stmts_.find(table_key_);
  if (it != table_stmts_.end() && it->second.columns == table.columns.size() &&
      it->second.key == table.key.size()) {
    return &it->second;
  }
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  const std::string name = QuoteIdent(table.name);
  std::string sql;
  std::string label;
  switch (op) {
    case TableOp::kUpsert:
    case TableOp::kUpsertMany: {
      label = absl::StrCat("INSERT INTO ", name);
      sql = absl::StrCat(label, "(", ColumnList(table), ") VALUES");
      const size_t rows = op == TableOp::kUpsert ? 1 : UpsertRowsPerStmt(table);
      for (size_t r = 0; r < rows; ++r) {
        absl::StrAppend(&sql, r ? ",(" : "(");
        for (size_t i = 0; i < table.columns.size(); ++i) absl::StrAppend(&sql, i ? ", ?" : "?");
        sql += ")";
      }
      absl::StrAppend(&sql, " ON CONFLICT(", KeyList(table), ") DO ");
      std::string set;
      for (size_t i = 0; i < table.columns.size(); ++i) {
        if (std::find(table.key.begin(), table.key.end(), static_cast<int>(i)) != table.key.end()) {
          continue;
        }
        const std::string col = QuoteIdent(table.columns[i].name);
        absl::StrAppend(&set, set.empty() ? "" : ", ", col, " = excluded.", col);
      }
      absl::StrAppend(&sql, set.empty() ? "NOTHING" : absl::StrCat("UPDATE SET ", set));
      break;
    }
    case TableOp::kDelete:
      label = absl::StrCat("DELETE FROM ", name);
      sql = absl::StrCat(label, " WHERE ", KeyWhere(table));
      break;
    case TableOp::kGet:
      label = absl::StrCat("SELECT FROM ", name);
      sql = absl::StrCat("SELECT ", ColumnList(table), " FROM ", name, " WHERE ", KeyWhere(table));
      break;
  }
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return Error(db_, rc, label);
  }
  TableStmt& entry = table_stmts_[table_key_];
  entry.stmt = Stmt(raw);
  entry.label = std::move(label);
  entry.columns = table.columns.size();
  entry.key = table.key.size();
  return &entry;
}

void SqliteStore::InvalidateTable(std::string_view name) {
  for (TableOp op : {TableOp::kUpsert, TableOp::kDelete, TableOp::kGet}) {
    std::string key(1, static_cast<char>(op));
    key.append(name);
    table_stmts_.erase(key);
  }
}

absl::Status SqliteStore::StepDone(sqlite3_stmt* stmt, std::string_view label) {
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return absl::OkStatus();
  NoteFailure(rc);
  return Error(db_, rc, label.empty() ? SqlLabel(sqlite3_sql(stmt)) : std::string(label));
}

absl::StatusOr<int64_t> SqliteStore::QueryInt(sqlite3_stmt* stmt) {
  ResetOnExit reset(stmt);
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt, 0);
  if (rc == SQLITE_DONE) return 0;
  return Error(db_, rc, SqlLabel(sqlite3_sql(stmt)));
}

absl::Status SqliteStore::BeginRead() {
  if (InTransaction())
    return absl::FailedPreconditionError("sqlite: BeginRead inside a transaction");
  SV_RETURN_IF_ERROR(ReopenIfFailed());
  // DEFERRED: the snapshot starts at the first read and ends at EndRead.
  return Exec("BEGIN");
}

void SqliteStore::EndRead() {
  if (InTransaction()) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
}

absl::Status SqliteStore::BeginImmediate() {
  if (options_.read_only) {
    return absl::FailedPreconditionError("sqlite: cannot write: the store was opened read-only");
  }
  if (InTransaction()) {
    return absl::FailedPreconditionError(
        "sqlite: BEGIN IMMEDIATE: a transaction (an uncommitted Batch?) is already open on "
        "this Store");
  }
  SV_RETURN_IF_ERROR(ReopenIfFailed());
  if (checkpointer_ != nullptr && checkpointer_->FailedCode() != SQLITE_OK) {
    const int code = checkpointer_->FailedCode();
    return absl::UnavailableError(
        absl::StrCat("sqlite: the WAL checkpoint fails (", sqlite3_errstr(code), ", code ", code,
                     "): no commit until it succeeds, since none could become durable"));
  }
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * begin, Fixed(kBegin));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
  for (;;) {
    const int rc = sqlite3_step(begin);
    sqlite3_reset(begin);
    if (rc == SQLITE_DONE) return absl::OkStatus();
    // The busy handler already waited for most kinds of contention; a few (e.g. WAL recovery
    // by another connection) report SQLITE_BUSY without consulting it, so retry here too.
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
      return Error(db_, rc, "BEGIN IMMEDIATE");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

absl::Status SqliteStore::CommitTxn() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * commit, Fixed(kCommit));
  const int rc = sqlite3_step(commit);
  sqlite3_reset(commit);
  if (rc == SQLITE_DONE) return absl::OkStatus();
  absl::Status status = Error(db_, rc, "COMMIT");
  NoteFailure(rc);
  RollbackTxn();
  return status;
}

void SqliteStore::RollbackTxn() {
  if (!InTransaction()) return;
  absl::StatusOr<sqlite3_stmt*> rollback = Fixed(kRollback);
  int rc = SQLITE_OK;
  if (rollback.ok()) {
    rc = sqlite3_step(*rollback);
    sqlite3_reset(*rollback);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  } else {
    rc = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK || InTransaction()) {
    // The transaction may still be open (e.g. a statement still running, or an I/O error in
    // the rollback): nothing more may run on this connection's state.
    LogJson("error", "sqlite: ROLLBACK failed; the connection will be reopened",
            {{"store", options_.path}, {"error", sqlite3_errstr(rc)}});
    must_reopen_ = true;
  }
}

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

// ---- Init

absl::StatusOr<int64_t> SqliteStore::SchemaVersion() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kMetaGet));
  ResetOnExit reset(get);
  BindText(get, 1, "schema_version");
  const int rc = sqlite3_step(get);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(get, 0);
  if (rc != SQLITE_DONE) return Error(db_, rc, "read schema version");
  return 0;
}

absl::Status SqliteStore::Init() {
  if (options_.read_only) {
    // A reader can neither create nor migrate; it only checks that a writer has.
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * exists, Fixed(kTableExists));
    int rc = 0;
    {
      ResetOnExit reset(exists);
      BindText(exists, 1, "sv_meta");
      rc = sqlite3_step(exists);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error(db_, rc, "look up sv_meta");
    int64_t version = 0;
    if (rc == SQLITE_ROW) {
      SV_ASSIGN_OR_RETURN(version, SchemaVersion());
    }
    if (version != kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: read-only store: database schema version ", version,
                       ", this binary needs ", kSchemaVersion, " (a writer initializes it)"));
    }
    return absl::OkStatus();
  }
  return InTxn([&]() -> absl::Status {
    SV_RETURN_IF_ERROR(
        Exec("CREATE TABLE IF NOT EXISTS sv_meta(name TEXT PRIMARY KEY, value TEXT)"));
    SV_ASSIGN_OR_RETURN(const int64_t version, SchemaVersion());
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat("sqlite: database schema version ", version,
                                                        " is newer than this binary supports (",
                                                        kSchemaVersion, ")"));
    }
    if (version == kSchemaVersion) return absl::OkStatus();
    for (int64_t v = std::max<int64_t>(version, 0); v < kSchemaVersion; ++v) {
      SV_RETURN_IF_ERROR(Exec(kMigrations[v]));
    }
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, Fixed(kMetaPut));
    ResetOnExit reset(put);
    const std::string value = absl::StrCat(kSchemaVersion);
    BindText(put, 1, "schema_version");
    BindText(put, 2, value);
    return StepDone(put);
  });
}

// ---- Embedded log

absl::StatusOr<int64_t> SqliteStore::AppendLog(std::vector<LogRecord>* records) {
  if (records->empty()) return LogEnd();
  const int64_t now = Clock::Real()->NowMicros();
  int64_t first = 0;
  // An append is acknowledged when this returns, so its COMMIT syncs the WAL (FULL), whatever
  // level the connection runs its other transactions at.
  SV_RETURN_IF_ERROR(ReopenIfFailed());
  SV_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  Defer normal(
      [this] { sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr); });
  SV_RETURN_IF_ERROR(InTxn([&]() -> absl::Status {
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * end, Fixed(kLogEnd));
    SV_ASSIGN_OR_RETURN(first, QueryInt(end));
    ++first;
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * insert, Fixed(kLogInsert));
    int64_t position = first;
    for (const LogRecord& record : *records) {
      ResetOnExit reset(insert);
      sqlite3_bind_int64(insert, 1, position++);
      sqlite3_bind_int64(insert, 2, record.log_time_us != 0 ? record.log_time_us : now);
      BindText(insert, 3, record.key);
      BindText(insert, 4, record.raw);
      SV_RETURN_IF_ERROR(StepDone(insert));
    }
    return absl::OkStatus();
  }));
  int64_t position = first;
  for (LogRecord& record : *records) {
    record.position = position++;
    if (record.log_time_us == 0) record.log_time_us = now;
  }
  return position - 1;
}

absl::Status SqliteStore::ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * read, Fixed(kLogRead));
  ResetOnExit reset(read);
  sqlite3_bind_int64(read, 1, after);
  sqlite3_bind_int64(read, 2, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
  // Overwrite the records already in `out` so their strings' capacity is reused.
  size_t n = 0;
  for (;;) {
    const int rc = sqlite3_step(read);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      out->resize(n);
      return Error(db_, rc, "read sv_log");
    }
    if (n == out->size()) out->emplace_back();
    LogRecord& record = (*out)[n++];
    record.position = sqlite3_column_int64(read, 0);
    record.log_time_us = sqlite3_column_int64(read, 1);
    AssignColumnString(read, 2, &record.key);
    AssignColumnString(read, 3, &record.raw);
  }
  out->resize(n);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStore::LogEnd() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * end, Fixed(kLogEnd));
  return QueryInt(end);
}

// ---- View tables and versions

absl::Status SqliteStore::CreateTable(const TableSpec& table) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  InvalidateTable(table.name);
  const std::string name = QuoteIdent(table.name);
  std::string sql = absl::StrCat("DROP TABLE IF EXISTS ", name, ";\nCREATE TABLE ", name, "(");
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const std::string_view type = sqlite::SqlTypeName(table.columns[i].type);
    absl::StrAppend(&sql, i > 0 ? ", " : "", QuoteIdent(table.columns[i].name),
                    type.empty() ? "" : " ", absl::string_view(type.data(), type.size()));
  }
  absl::StrAppend(&sql, ", PRIMARY KEY(", KeyList(table), ")) WITHOUT ROWID;\n");
  for (size_t i = 0; i < table.indexes.size(); ++i) {
    absl::StrAppend(&sql, CreateIndexSql(table, i), ";\n");
  }
  return InTxn([&] { return Exec(sql); });
}

absl::Status SqliteStore::DropTable(const std::string& table) {
  InvalidateTable(table);
  return InTxn([&] { return Exec(absl::StrCat("DROP TABLE IF EXISTS ", QuoteIdent(table))); });
}

absl::StatusOr<std::vector<ViewVersion>> SqliteStore::ListViewVersions() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * list, Fixed(kViewVersionsList));
  ResetOnExit reset(list);
  std::vector<ViewVersion> out;
  for (;;) {
    const int rc = sqlite3_step(list);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_view_versions");
    ViewVersion& v = out.emplace_back();
    v.view = ColumnString(list, 0);
    v.version = sqlite3_column_int64(list, 1);
    v.table = ColumnString(list, 2);
    v.definition_hash = ColumnString(list, 3);
    v.active = sqlite3_column_int64(list, 4) != 0;
  }
  return out;
}

absl::Status SqliteStore::RecordViewVersion(const ViewVersion& version) {
  return InTxn([&]() -> absl::Status {
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, Fixed(kViewVersionPut));
    ResetOnExit reset(put);
    BindText(put, 1, version.view);
    sqlite3_bind_int64(put, 2, version.version);
    BindText(put, 3, version.table);
    BindText(put, 4, version.definition_hash);
    sqlite3_bind_int(put, 5, version.active ? 1 : 0);
    return StepDone(put);
  });
}

absl::Status SqliteStore::DropViewVersion(const ViewVersion& version) {
  InvalidateTable(version.table);
  // View names are identifiers (checked at config load) and versions are integers.
  return InTxn([&] {
    return Exec(absl::StrCat("DROP TABLE IF EXISTS ", QuoteIdent(version.table),
                             ";\nDELETE FROM sv_view_versions WHERE view = '", version.view,
                             "' AND version = ", version.version, " AND active = 0"));
  });
}

absl::Status SqliteStore::ActivateVersion(const std::string& view, int64_t version,
                                          const std::string& table) {
  return InTxn([&] { return ActivateInTxn(view, version, table); });
}

absl::Status SqliteStore::ActivateInTxn(const std::string& view, int64_t version,
                                        const std::string& table) {
  // DROP VIEW + CREATE VIEW commit together: in WAL mode a reader's snapshot holds either the
  // old schema or the new one, so the name never dangles.
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * exists, Fixed(kTableExists));
  {
    ResetOnExit reset(exists);
    BindText(exists, 1, table);
    const int rc = sqlite3_step(exists);
    if (rc == SQLITE_DONE) {
      return absl::NotFoundError(absl::StrCat("sqlite: activate ", view, " version ", version,
                                              ": no table ", QuoteIdent(table)));
    }
    if (rc != SQLITE_ROW) return Error(db_, rc, "look up table");
  }
  const std::string quoted_view = QuoteIdent(view);
  SV_RETURN_IF_ERROR(Exec(absl::StrCat("DROP VIEW IF EXISTS ", quoted_view, ";\nCREATE VIEW ",
                                       quoted_view, " AS SELECT * FROM ", QuoteIdent(table))));
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * activate, Fixed(kViewVersionActivate));
  {
    ResetOnExit reset(activate);
    BindText(activate, 1, view);
    sqlite3_bind_int64(activate, 2, version);
    BindText(activate, 3, table);
    SV_RETURN_IF_ERROR(StepDone(activate));
  }
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * others, Fixed(kViewVersionDeactivateOthers));
  ResetOnExit reset(others);
  BindText(others, 1, view);
  sqlite3_bind_int64(others, 2, version);
  return StepDone(others);
}

// ---- Bulk load

absl::Status SqliteStore::BulkInsert(const TableSpec& table,
                                     const std::function<const Row*()>& next_row) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  if (InTransaction()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: bulk insert into ", table.name, ": a Batch is open on this Store"));
  }
  // Secondary indexes are cheaper to build once, sorted, after the load than row by row.
  if (!table.indexes.empty()) {
    SV_RETURN_IF_ERROR(InTxn([&]() -> absl::Status {
      for (size_t i = 0; i < table.indexes.size(); ++i) {
        SV_RETURN_IF_ERROR(Exec(absl::StrCat("DROP INDEX IF EXISTS ", IndexName(table, i))));
      }
      return absl::OkStatus();
    }));
  }
  absl::Status status;
  {
    // The shadow table is invisible until ActivateVersion, so its load may skip fsyncs; the
    // files are synced explicitly below before returning. Automatic checkpoints are off
    // meanwhile: one run under synchronous=OFF would copy pages (other writers' too) into the
    // database file without syncing it, and a later WAL restart would overwrite the only
    // synced copy. BulkLoad checkpoints with syncs itself (SyncedCheckpoint).
    if (options_.bulk_mode) {
      SV_RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0; PRAGMA synchronous=OFF"));
    }
    Defer restore([this] {
      sqlite3_exec(db_,
                   options_.background_checkpoint
                       ? "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0"
                       : "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=1000",
                   nullptr, nullptr, nullptr);
    });
    status = BulkLoad(table, next_row);
    if (status.ok() && !table.indexes.empty()) {
      status = InTxn([&]() -> absl::Status {
        for (size_t i = 0; i < table.indexes.size(); ++i) {
          SV_RETURN_IF_ERROR(Exec(CreateIndexSql(table, i)));
        }
        return absl::OkStatus();
      });
    }
  }
  if (!status.ok()) return status;
  if (options_.bulk_mode) {
    // Move what can be moved into the database file (the checkpoint syncs under NORMAL), then
    // sync both files so the load is durable even if readers held the checkpoint back.
    SV_RETURN_IF_ERROR(SyncedCheckpoint());
    SV_RETURN_IF_ERROR(SyncFiles());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::SyncFiles() {
  for (const int op : {SQLITE_FCNTL_FILE_POINTER, SQLITE_FCNTL_JOURNAL_POINTER}) {
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(db_, "main", op, &file) != SQLITE_OK || file == nullptr ||
        file->pMethods == nullptr) {
      continue;  // e.g. no WAL open
    }
    const int rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
      NoteFailure(rc);
      return Error(nullptr, rc, "fsync");
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::SyncedCheckpoint() {
  // The checkpoint takes its sync flags from the connection's current synchronous setting.
  int synchronous = 0;
  {
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(db_, "PRAGMA synchronous", -1, &raw, nullptr);
    Stmt stmt(raw);
    if (stmt && sqlite3_step(stmt.get()) == SQLITE_ROW) {
      synchronous = sqlite3_column_int(stmt.get(), 0);
    }
  }
  if (synchronous == 0) sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  // PASSIVE: never waits for readers. What it cannot copy stays in the WAL, which no writer
  // restarts before some (syncing) checkpoint has copied it.
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (synchronous == 0) sqlite3_exec(db_, "PRAGMA synchronous=OFF", nullptr, nullptr, nullptr);
  // BUSY: another connection is checkpointing; what is left stays in the (synced) WAL.
  if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) return absl::OkStatus();
  NoteFailure(rc);
  return Error(db_, rc, "checkpoint");
}

absl::Status SqliteStore::BulkLoad(const TableSpec& table,
                                   const std::function<const Row*()>& next_row) {
  const size_t ncols = table.columns.size();
  const int max_vars = sqlite3_limit(db_, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
  const size_t rows_per_stmt =
      std::max<size_t>(1, std::min(kBulkMaxRowsPerStmt, static_cast<size_t>(max_vars) / ncols));
  const std::string label = absl::StrCat("INSERT INTO ", QuoteIdent(table.name));
  auto prepare = [&](size_t rows, Stmt* out) -> absl::Status {
    std::string sql = absl::StrCat(label, " (", ColumnList(table), ") VALUES ");
    std::string tuple = "(";
    for (size_t c = 0; c < ncols; ++c) tuple += c > 0 ? ",?" : "?";
    tuple += ")";
    for (size_t r = 0; r < rows; ++r) absl::StrAppend(&sql, r > 0 ? "," : "", tuple);
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
    *out = Stmt(raw);
    if (rc != SQLITE_OK) return Error(db_, rc, label);
    return absl::OkStatus();
  };
  Stmt full;
  SV_RETURN_IF_ERROR(prepare(rows_per_stmt, &full));

  // Rows are copied into `buffer` (reusing its strings' capacity) so that text can be bound
  // without another copy: the caller's row need only live until the next next_row() call.
  std::vector<Row> buffer(rows_per_stmt);
  std::vector<std::string> scratch(rows_per_stmt * ncols);  // formatted kTime values
  auto bind_rows = [&](sqlite3_stmt* stmt, size_t rows) -> absl::Status {
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < ncols; ++c) {
        const size_t i = r * ncols + c;
        const int rc = BindValue(stmt, static_cast<int>(i + 1), buffer[r][c], &scratch[i]);
        if (rc != SQLITE_OK) return Error(db_, rc, label);
      }
    }
    return absl::OkStatus();
  };

  SV_RETURN_IF_ERROR(BeginImmediate());
  Defer rollback([this] { RollbackTxn(); });  // no-op after a successful commit
  size_t pending = 0;
  int64_t in_txn = 0;
  for (;;) {
    const Row* row = next_row();
    if (row == nullptr) break;
    if (row->size() != ncols) {
      return absl::InvalidArgumentError(absl::StrCat("sqlite: bulk insert into ", table.name,
                                                     ": row has ", row->size(),
                                                     " values, table has ", ncols, " columns"));
    }
    buffer[pending++] = *row;
    if (pending < rows_per_stmt) continue;
    SV_RETURN_IF_ERROR(bind_rows(full.get(), pending));
    SV_RETURN_IF_ERROR(StepDone(full.get(), label));
    sqlite3_reset(full.get());
    pending = 0;
    in_txn += static_cast<int64_t>(rows_per_stmt);
    if (in_txn >= kBulkRowsPerTxn) {
      SV_RETURN_IF_ERROR(CommitTxn());
      if (options_.bulk_mode) SV_RETURN_IF_ERROR(SyncedCheckpoint());  // bounds the WAL
      SV_RETURN_IF_ERROR(BeginImmediate());
      in_txn = 0;
    }
  }
  if (pending > 0) {
    Stmt tail;
    SV_RETURN_IF_ERROR(prepare(pending, &tail));
    SV_RETURN_IF_ERROR(bind_rows(tail.get(), pending));
    SV_RETURN_IF_ERROR(StepDone(tail.get(), label));
  }
  return CommitTxn();
}

// ---- Reads

absl::Status SqliteStore::ReadRow(sqlite3_stmt* stmt, const TableSpec& table, Row* row) {
  row->resize(table.columns.size());
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (!ReadValue(stmt, static_cast<int>(c), table.columns[c].type, &(*row)[c])) {
      return absl::DataLossError(absl::StrCat("sqlite: ", table.name, ".", table.columns[c].name,
                                              ": unparseable time '",
                                              ColumnString(stmt, static_cast<int>(c)), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Row>> SqliteStore::QueryView(const TableSpec& table,
                                                        const ViewQuery& query) {
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(std::string sql, sqlite::BuildViewQuerySql(table, query, &binds));
  const std::string label = absl::StrCat("query ", QuoteIdent(table.name));
  auto it = query_stmts_.find(sql);
  if (it == query_stmts_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return Error(db_, rc, label);
    }
    if (query_stmts_.size() >= kMaxQueryStmts) query_stmts_.erase(query_stmts_.begin());
    it = query_stmts_.emplace(std::move(sql), Stmt(raw)).first;
  }
  sqlite3_stmt* stmt = it->second.get();
  std::vector<Row> rows;
  int rc = SQLITE_OK;
  {
    ResetOnExit reset(stmt);
    std::vector<std::string> scratch(binds.size());
    for (size_t i = 0; i < binds.size() && rc == SQLITE_OK; ++i) {
      rc = BindValue(stmt, static_cast<int>(i + 1), binds[i], &scratch[i]);
    }
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
      rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) break;
      SV_RETURN_IF_ERROR(ReadRow(stmt, table, &rows.emplace_back()));
    }
  }
  if (rc != SQLITE_DONE) {
    absl::Status status = Error(db_, rc, label);
    query_stmts_.erase(it);  // e.g. the table is gone; prepare afresh next time
    return status;
  }
  // A backward page was scanned in reverse; hand it back in the query's order.
  if (query.backward) std::reverse(rows.begin(), rows.end());
  return rows;
}

absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> SqliteStore::AllPositions() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * all, Fixed(kPositionsAll));
  ResetOnExit reset(all);
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  for (;;) {
    const int rc = sqlite3_step(all);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_positions");
    out[{ColumnString(all, 0), sqlite3_column_int(all, 1)}] = sqlite3_column_int64(all, 2);
  }
  return out;
}

absl::StatusOr<std::optional<Row>> SqliteStore::GetRow(const TableSpec& table, const Row& key) {
  if (key.size() != table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: get from ", table.name, ": key has ",
                                                   key.size(), " values, table key has ",
                                                   table.key.size()));
  }
  SV_ASSIGN_OR_RETURN(TableStmt * get, ForTable(table, TableOp::kGet));
  sqlite3_stmt* stmt = get->stmt.get();
  ResetOnExit reset(stmt);
  std::string scratch[8];
  std::vector<std::string> more;
  if (key.size() > 8) more.resize(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    std::string* s = i < 8 ? &scratch[i] : &more[i];
    const int rc = BindValue(stmt, static_cast<int>(i + 1), key[i], s);
    if (rc != SQLITE_OK) return Error(db_, rc, get->label);
  }
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::optional<Row>();
  if (rc != SQLITE_ROW) return Error(db_, rc, get->label);
  Row row;
  SV_RETURN_IF_ERROR(ReadRow(stmt, table, &row));
  return std::optional<Row>(std::move(row));
}

absl::StatusOr<std::optional<KeyState>> SqliteStore::GetKeyState(const std::string& source,
                                                                 const std::string& key) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kKeyGet));
  ResetOnExit reset(get);
  BindText(get, 1, source);
  BindText(get, 2, key);
  const int rc = sqlite3_step(get);
  if (rc == SQLITE_DONE) return std::optional<KeyState>();
  if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_keys");
  KeyState state;
  state.key = key;
  state.last_sequence = sqlite3_column_int64(get, 0);
  state.parked_on = sqlite3_column_int64(get, 1);
  return std::optional<KeyState>(std::move(state));
}

absl::StatusOr<std::vector<PendingEvent>> SqliteStore::ReadPending(sqlite3_stmt* stmt) {
  std::vector<PendingEvent> out;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_pending");
    PendingEvent& e = out.emplace_back();
    e.key = ColumnString(stmt, 0);
    e.partition = sqlite3_column_int(stmt, 1);
    e.position = sqlite3_column_int64(stmt, 2);
    e.sequence = sqlite3_column_int64(stmt, 3);
    e.log_time_us = sqlite3_column_int64(stmt, 4);
    e.held = sqlite3_column_int(stmt, 5) != 0;
    e.raw = ColumnString(stmt, 6);
  }
  return out;
}

absl::StatusOr<std::vector<PendingEvent>> SqliteStore::GetPending(const std::string& source,
                                                                  const std::string& key) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kPendingByKey));
  ResetOnExit reset(get);
  BindText(get, 1, source);
  BindText(get, 2, key);
  SV_ASSIGN_OR_RETURN(std::vector<PendingEvent> out, ReadPending(get));
  // Stashed events come first in sequence order; held ones follow in position order.
  auto held = std::find_if(out.begin(), out.end(), [](const PendingEvent& e) { return e.held; });
  std::stable_sort(held, out.end(), [](const PendingEvent& a, const PendingEvent& b) {
    return a.position < b.position;
  });
  return out;
}

absl::StatusOr<std::vector<PendingEvent>> SqliteStore::ListPending(const std::string& source) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * list, Fixed(kPendingList));
  ResetOnExit reset(list);
  BindText(list, 1, source);
  return ReadPending(list);
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> SqliteStore::LoadEventIds(
    const std::string& source) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * load, Fixed(kEventIdLoad));
  ResetOnExit reset(load);
  BindText(load, 1, source);
  std::vector<std::pair<std::string, int64_t>> out;
  for (;;) {
    const int rc = sqlite3_step(load);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_event_ids");
    out.emplace_back(ColumnString(load, 0), sqlite3_column_int64(load, 1));
  }
  return out;
}

absl::StatusOr<std::map<int32_t, int64_t>> SqliteStore::GetPositions(const std::string& source) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kPositionsGet));
  ResetOnExit reset(get);
  BindText(get, 1, source);
  std::map<int32_t, int64_t> out;
  for (;;) {
    const int rc = sqlite3_step(get);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_positions");
    out[sqlite3_column_int(get, 0)] = sqlite3_column_int64(get, 1);
  }
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteStore::GetCounters() {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kCountersGet));
  ResetOnExit reset(get);
  std::map<std::string, int64_t> out;
  for (;;) {
    const int rc = sqlite3_step(get);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_counters");
    out[ColumnString(get, 0)] = sqlite3_column_int64(get, 1);
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> SqliteStore::ReadDeadLetters(sqlite3_stmt* stmt) {
  std::vector<DeadLetter> out;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_dead_letters");
    DeadLetter& dl = out.emplace_back();
    dl.id = sqlite3_column_int64(stmt, 0);
    dl.source = ColumnString(stmt, 1);
    dl.partition = sqlite3_column_int(stmt, 2);
    dl.position = sqlite3_column_int64(stmt, 3);
    dl.key = ColumnString(stmt, 4);
    dl.reason = ColumnString(stmt, 5);
    dl.raw = ColumnString(stmt, 6);
    dl.created_us = sqlite3_column_int64(stmt, 7);
    dl.state = ParseDeadLetterState(ColumnString(stmt, 8));
    dl.parks_key = sqlite3_column_int(stmt, 9) != 0;
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> SqliteStore::ListDeadLetters(bool only_open) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * list,
                      Fixed(only_open ? kDeadLetterListOpen : kDeadLetterList));
  ResetOnExit reset(list);
  return ReadDeadLetters(list);
}

absl::StatusOr<std::optional<DeadLetter>> SqliteStore::GetDeadLetter(int64_t id) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kDeadLetterGet));
  ResetOnExit reset(get);
  sqlite3_bind_int64(get, 1, id);
  SV_ASSIGN_OR_RETURN(std::vector<DeadLetter> found, ReadDeadLetters(get));
  if (found.empty()) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(std::move(found.front()));
}

absl::StatusOr<std::vector<DeadLetter>> SqliteStore::ListDeadLetterOutbox(
    const std::string& source) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * list, Fixed(kOutboxList));
  ResetOnExit reset(list);
  BindText(list, 1, source);
  return ReadDeadLetters(list);
}

absl::Status SqliteStore::DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return InTxn([&]() -> absl::Status {
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * del, Fixed(kOutboxDelete));
    for (int64_t id : ids) {
      ResetOnExit reset(del);
      sqlite3_bind_int64(del, 1, id);
      SV_RETURN_IF_ERROR(StepDone(del));
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::ScanTable(const TableSpec& table,
                                    const std::function<void(const Row&)>& each) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  const std::string sql = absl::StrCat("SELECT ", ColumnList(table), " FROM ",
                                       QuoteIdent(table.name), " ORDER BY ", KeyList(table));
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return Error(db_, rc, absl::StrCat("scan ", QuoteIdent(table.name)));
  Row row;
  for (;;) {
    rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db_, rc, absl::StrCat("scan ", QuoteIdent(table.name)));
    SV_RETURN_IF_ERROR(ReadRow(stmt.get(), table, &row));
    each(row);
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::QuerySelect(const std::string& select_sql,
                                      const std::vector<ColumnSpec>& columns,
                                      const std::function<void(const Row&)>& each) {
  const std::string label = "query select";
  SV_ASSIGN_OR_RETURN(Stmt stmt, PrepareOne(db_, select_sql, label));
  if (!sqlite3_stmt_readonly(stmt.get())) {
    return absl::InvalidArgumentError("sqlite: query select: not a read-only SELECT");
  }
  const int n = sqlite3_column_count(stmt.get());
  if (n != static_cast<int>(columns.size())) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: query select: the SELECT yields ", n,
                                                   " columns, expected ", columns.size()));
  }
  TableSpec spec;  // ReadRow decodes by spec; the name only labels errors
  spec.name = "select";
  spec.columns = columns;
  Row row;
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW) return Error(db_, rc, label);
    SV_RETURN_IF_ERROR(ReadRow(stmt.get(), spec, &row));
    each(row);
  }
}

std::unique_ptr<Batch> SqliteStore::BeginBatch() { return std::make_unique<SqliteBatch>(this); }

// ---- SqliteBatch

SqliteBatch::~SqliteBatch() {
  if (begun_ && !finished_) store_->RollbackTxn();
}

absl::Status SqliteBatch::Begin() {
  if (finished_) return absl::FailedPreconditionError("sqlite: batch already committed");
  if (!broken_.ok()) return broken_;
  if (begun_) return absl::OkStatus();
  SV_RETURN_IF_ERROR(store_->BeginImmediate());
  begun_ = true;
  return absl::OkStatus();
}

absl::Status SqliteBatch::Check(absl::Status status) {
  // Most failures (a constraint, say) undo only the failed statement; a few (I/O errors, a full
  // disk) roll back the whole transaction, after which nothing of this batch may commit.
  if (!status.ok() && broken_.ok() && !store_->InTransaction()) {
    broken_ =
        absl::Status(status.code(), absl::StrCat(status.message(), " (the batch was rolled back)"));
  }
  return status;
}

absl::Status SqliteBatch::Upsert(const TableSpec& table, const Row& row) {
  if (row.size() != table.columns.size()) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: upsert into ", table.name, ": row has ",
                                                   row.size(), " values, table has ",
                                                   table.columns.size(), " columns"));
  }
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(TableStmt * upsert, store_->ForTable(table, TableOp::kUpsert));
  sqlite3_stmt* stmt = upsert->stmt.get();
  ResetOnExit reset(stmt);
  std::string scratch[16];
  std::vector<std::string> more;
  if (row.size() > 16) more.resize(row.size());
  for (size_t i = 0; i < row.size(); ++i) {
    std::string* s = i < 16 ? &scratch[i] : &more[i];
    const int rc = BindValue(stmt, static_cast<int>(i + 1), row[i], s);
    if (rc != SQLITE_OK) return Error(store_->db(), rc, upsert->label);
  }
  return Check(store_->StepDone(stmt, upsert->label));
}

absl::Status SqliteBatch::UpsertRows(const TableSpec& table, const std::vector<const Row*>& rows) {
  const size_t per_stmt = UpsertRowsPerStmt(table);
  size_t next = 0;
  if (rows.size() >= per_stmt && per_stmt > 1) {
    SV_RETURN_IF_ERROR(Begin());
    SV_ASSIGN_OR_RETURN(TableStmt * upsert, store_->ForTable(table, TableOp::kUpsertMany));
    sqlite3_stmt* stmt = upsert->stmt.get();
    std::vector<std::string> scratch(per_stmt * table.columns.size());
    for (; next + per_stmt <= rows.size(); next += per_stmt) {
      ResetOnExit reset(stmt);
      int p = 1;
      for (size_t r = 0; r < per_stmt; ++r) {
        const Row& row = *rows[next + r];
        if (row.size() != table.columns.size()) return Upsert(table, row);  // its error
        for (const Value& v : row) {
          const int rc = BindValue(stmt, p, v, &scratch[p - 1]);
          if (rc != SQLITE_OK) return Error(store_->db(), rc, upsert->label);
          ++p;
        }
      }
      SV_RETURN_IF_ERROR(Check(store_->StepDone(stmt, upsert->label)));
    }
  }
  for (; next < rows.size(); ++next) SV_RETURN_IF_ERROR(Upsert(table, *rows[next]));
  return absl::OkStatus();
}

absl::Status SqliteBatch::Delete(const TableSpec& table, const Row& key) {
  if (key.size() != table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("sqlite: delete from ", table.name, ": key has ",
                                                   key.size(), " values, table key has ",
                                                   table.key.size()));
  }
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(TableStmt * del, store_->ForTable(table, TableOp::kDelete));
  sqlite3_stmt* stmt = del->stmt.get();
  ResetOnExit reset(stmt);
  std::string scratch[8];
  std::vector<std::string> more;
  if (key.size() > 8) more.resize(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    std::string* s = i < 8 ? &scratch[i] : &more[i];
    const int rc = BindValue(stmt, static_cast<int>(i + 1), key[i], s);
    if (rc != SQLITE_OK) return Error(store_->db(), rc, del->label);
  }
  return Check(store_->StepDone(stmt, del->label));
}

absl::Status SqliteBatch::PutKeyState(const std::string& source, const KeyState& state) {
  SV_RETURN_IF_ERROR(Begin());
  keys_.emplace_back(source, state);
  return keys_.size() >= kKeyPutRows ? FlushKeys() : absl::OkStatus();
}

absl::Status SqliteBatch::FlushKeys() {
  if (keys_.empty()) return absl::OkStatus();
  if (keys_.size() == kKeyPutRows) {
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, store_->KeyPutMany());
    ResetOnExit reset(put);
    int p = 1;
    for (const auto& [source, state] : keys_) {
      BindText(put, p++, source);
      BindText(put, p++, state.key);
      sqlite3_bind_int64(put, p++, state.last_sequence);
      sqlite3_bind_int64(put, p++, state.parked_on);
    }
    absl::Status s = Check(store_->StepDone(put));
    keys_.clear();
    return s;
  }
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, store_->Fixed(kKeyPut));
  for (const auto& [source, state] : keys_) {
    ResetOnExit reset(put);
    BindText(put, 1, source);
    BindText(put, 2, state.key);
    sqlite3_bind_int64(put, 3, state.last_sequence);
    sqlite3_bind_int64(put, 4, state.parked_on);
    SV_RETURN_IF_ERROR(Check(store_->StepDone(put)));
  }
  keys_.clear();
  return absl::OkStatus();
}

absl::Status SqliteBatch::PutPending(const std::string& source, const PendingEvent& event) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, store_->Fixed(kPendingPut));
  ResetOnExit reset(put);
  BindText(put, 1, source);
  BindText(put, 2, event.key);
  sqlite3_bind_int(put, 3, event.partition);
  sqlite3_bind_int64(put, 4, event.position);
  sqlite3_bind_int64(put, 5, event.sequence);
  sqlite3_bind_int64(put, 6, event.log_time_us);
  sqlite3_bind_int(put, 7, event.held ? 1 : 0);
  BindText(put, 8, event.raw);
  return Check(store_->StepDone(put));
}

absl::Status SqliteBatch::DeletePending(const std::string& source, int32_t partition,
                                        int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * del, store_->Fixed(kPendingDelete));
  ResetOnExit reset(del);
  BindText(del, 1, source);
  sqlite3_bind_int(del, 2, partition);
  sqlite3_bind_int64(del, 3, position);
  return Check(store_->StepDone(del));
}

absl::Status SqliteBatch::AddDeadLetter(DeadLetter* dl) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * add, store_->Fixed(kDeadLetterAdd));
  ResetOnExit reset(add);
  const int64_t created = dl->created_us != 0 ? dl->created_us : Clock::Real()->NowMicros();
  BindText(add, 1, dl->source);
  sqlite3_bind_int(add, 2, dl->partition);
  sqlite3_bind_int64(add, 3, dl->position);
  BindText(add, 4, dl->key);
  BindText(add, 5, dl->reason);
  BindText(add, 6, dl->raw);
  sqlite3_bind_int64(add, 7, created);
  BindText(add, 8, DeadLetterStateName(dl->state));
  sqlite3_bind_int(add, 9, dl->parks_key ? 1 : 0);
  // RETURNING yields the id of the inserted row or of the one it replaced.
  const int rc = sqlite3_step(add);
  if (rc != SQLITE_ROW) {
    return Check(Error(store_->db(), rc, "INSERT INTO sv_dead_letters"));
  }
  dl->id = sqlite3_column_int64(add, 0);
  dl->created_us = created;
  return absl::OkStatus();
}

absl::Status SqliteBatch::SetDeadLetterState(int64_t id, DeadLetterState state) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * set, store_->Fixed(kDeadLetterSetState));
  ResetOnExit reset(set);
  sqlite3_bind_int64(set, 1, id);
  BindText(set, 2, DeadLetterStateName(state));
  SV_RETURN_IF_ERROR(Check(store_->StepDone(set)));
  if (sqlite3_changes(store_->db()) == 0) {
    return absl::NotFoundError(absl::StrCat("sqlite: no dead letter ", id));
  }
  return absl::OkStatus();
}

absl::Status SqliteBatch::AddDeadLetterOutbox(int64_t id) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * add, store_->Fixed(kOutboxAdd));
  ResetOnExit reset(add);
  sqlite3_bind_int64(add, 1, id);
  return Check(store_->StepDone(add));
}

absl::Status SqliteBatch::PutEventId(const std::string& source, const std::string& event_id,
                                     int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, store_->Fixed(kEventIdPut));
  ResetOnExit reset(put);
  BindText(put, 1, source);
  BindText(put, 2, event_id);
  sqlite3_bind_int64(put, 3, position);
  return Check(store_->StepDone(put));
}

absl::Status SqliteBatch::PruneEventIds(const std::string& source, int64_t below) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * prune, store_->Fixed(kEventIdPrune));
  ResetOnExit reset(prune);
  BindText(prune, 1, source);
  sqlite3_bind_int64(prune, 2, below);
  return Check(store_->StepDone(prune));
}

absl::Status SqliteBatch::AddCounters(const std::map<std::string, int64_t>& deltas) {
  if (deltas.empty()) return absl::OkStatus();
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * add, store_->Fixed(kCounterAdd));
  for (const auto& [name, delta] : deltas) {
    ResetOnExit reset(add);
    BindText(add, 1, name);
    sqlite3_bind_int64(add, 2, delta);
    SV_RETURN_IF_ERROR(Check(store_->StepDone(add)));
  }
  return absl::OkStatus();
}

absl::Status SqliteBatch::SetPosition(const std::string& source, int32_t partition,
                                      int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * set, store_->Fixed(kPositionSet));
  ResetOnExit reset(set);
  BindText(set, 1, source);
  sqlite3_bind_int(set, 2, partition);
  sqlite3_bind_int64(set, 3, position);
  return Check(store_->StepDone(set));
}

absl::Status SqliteBatch::ActivateVersion(const std::string& view, int64_t version,
                                          const std::string& table) {
  SV_RETURN_IF_ERROR(Begin());
  return Check(store_->ActivateInTxn(view, version, table));
}

absl::Status SqliteBatch::ReplaceWithSelect(const TableSpec& table, const std::string& select_sql) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  SV_RETURN_IF_ERROR(Begin());
  const std::string name = QuoteIdent(table.name);
  const std::string label = absl::StrCat("replace ", name, " with a SELECT");
  absl::Status s;
  for (const std::string& sql :
       {absl::StrCat("DELETE FROM ", name),
        absl::StrCat("INSERT INTO ", name, "(", ColumnList(table), ") ", select_sql)}) {
    absl::StatusOr<Stmt> stmt = PrepareOne(store_->db(), sql, label);
    s = stmt.ok() ? store_->StepDone(stmt->get(), label) : stmt.status();
    if (!s.ok()) break;
  }
  if (!s.ok() && broken_.ok()) {
    // Half a replacement (the rows deleted, the new ones not all in) must not commit; on
    // PostgreSQL a failed statement aborts the transaction too.
    store_->RollbackTxn();
    broken_ = absl::Status(s.code(), absl::StrCat(s.message(), " (the batch was rolled back)"));
  }
  return s;
}

absl::Status SqliteBatch::ClearSourceState(const std::string& source) {
  SV_RETURN_IF_ERROR(Begin());
  SV_RETURN_IF_ERROR(FlushKeys());  // states put before the clear are cleared too
  for (FixedId id : {kClearKeys, kClearPending, kClearEventIds}) {
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * clear, store_->Fixed(id));
    ResetOnExit reset(clear);
    BindText(clear, 1, source);
    SV_RETURN_IF_ERROR(Check(store_->StepDone(clear)));
  }
  return absl::OkStatus();
}

absl::Status SqliteBatch::Commit() {
  if (finished_) return absl::FailedPreconditionError("sqlite: batch already committed");
  const absl::Status flushed = broken_.ok() ? FlushKeys() : absl::OkStatus();
  finished_ = true;
  if (!broken_.ok() || !flushed.ok()) {
    store_->RollbackTxn();
    return broken_.ok() ? flushed : broken_;
  }
  if (!begun_) return absl::OkStatus();
  return store_->CommitTxn();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  return SqliteStore::Open(options);
}

}  // namespace sv::store
