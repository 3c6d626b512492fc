// The SQLite backend: connections, transactions, schema and migrations (see
// sqlite_store_internal.h).

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {

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
  if (options_.background_checkpoint && !options_.read_only) {
    SV_RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0"));
    checkpointer_ = std::make_unique<sqlite::Checkpointer>(options_.path, kCheckpointIntervalMs);
  }
  return Exec(absl::StrCat(SyncPragma(), "; PRAGMA foreign_keys=OFF; ",
                           "PRAGMA temp_store=", options_.bulk_mode ? "FILE" : "MEMORY",
                           "; PRAGMA cache_size=-", options_.cache_kib, ";",
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
      it->second.key == table.key.size() && it->second.key_nullable == table.key_nullable) {
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
  entry.key_nullable = table.key_nullable;
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
    if (version != EngineSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sqlite: read-only store: database schema version ", version, ", this binary needs ",
          EngineSchemaVersion(), " (a writer initializes it)"));
    }
    return absl::OkStatus();
  }
  return InTxn([&]() -> absl::Status {
    SV_RETURN_IF_ERROR(
        Exec("CREATE TABLE IF NOT EXISTS sv_meta(name TEXT PRIMARY KEY, value TEXT)"));
    SV_ASSIGN_OR_RETURN(const int64_t version, SchemaVersion());
    if (version > EngineSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat("sqlite: database schema version ", version,
                                                        " is newer than this binary supports (",
                                                        EngineSchemaVersion(), ")"));
    }
    if (version == EngineSchemaVersion()) return absl::OkStatus();
    for (int64_t v = std::max<int64_t>(version, 0); v < EngineSchemaVersion(); ++v) {
      SV_RETURN_IF_ERROR(Exec(EngineSchemaStep(static_cast<int>(v), SqlDialect::Sqlite(), "")));
    }
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, Fixed(kMetaPut));
    ResetOnExit reset(put);
    const std::string value = absl::StrCat(EngineSchemaVersion());
    BindText(put, 1, "schema_version");
    BindText(put, 2, value);
    return StepDone(put);
  });
}

}  // namespace sv::store::sqlite_impl

namespace sv::store {

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  return sqlite_impl::SqliteStore::Open(options);
}

}  // namespace sv::store
