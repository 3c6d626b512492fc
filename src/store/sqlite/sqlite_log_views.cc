// The SQLite backend: the embedded log, view tables and their versions, bulk loads.

#include <algorithm>

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {

// ---- Embedded log

absl::StatusOr<int64_t> SqliteStore::AppendLog(std::vector<LogRecord>* records) {
  if (records->empty()) return LogEnd();
  const int64_t now = Clock::Real()->NowMicros();
  int64_t first = 0;
  // An append is acknowledged when this returns, so its COMMIT syncs the WAL (FULL), whatever
  // level the connection runs its other transactions at.
  SV_RETURN_IF_ERROR(ReopenIfFailed());
  SV_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  Defer normal([this] { sqlite3_exec(db_, SyncPragma(), nullptr, nullptr, nullptr); });
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
    const absl::string_view type = SqlDialect::Sqlite().ColumnType(table.columns[i].type);
    absl::StrAppend(&sql, i > 0 ? ", " : "", QuoteIdent(table.columns[i].name),
                    type.empty() ? "" : " ", type);
  }
  if (table.key_nullable) {
    // A primary key of a WITHOUT ROWID table cannot hold NULL: a rowid table with a unique
    // index on the key instead. It treats NULLs as distinct, so rows whose key has a NULL are
    // written by delete-then-insert (SqliteBatch::Upsert), never through ON CONFLICT.
    absl::StrAppend(&sql, ");\nCREATE UNIQUE INDEX ", QuoteIdent(absl::StrCat(table.name, "__pk")),
                    " ON ", name, "(", KeyList(table), ");\n");
  } else {
    absl::StrAppend(&sql, ", PRIMARY KEY(", KeyList(table), "))",
                    SqlDialect::Sqlite().clustered_table_suffix, ";\n");
  }
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
    v.config_version = sqlite3_column_int64(list, 5);
    v.kept = sqlite3_column_int64(list, 6) != 0;
    v.as_of = ColumnString(list, 7);
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
    SV_RETURN_IF_ERROR(StepDone(put));
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * note, Fixed(kViewVersionNotePut));
    ResetOnExit reset_note(note);
    BindText(note, 1, version.view);
    sqlite3_bind_int64(note, 2, version.version);
    sqlite3_bind_int64(note, 3, version.config_version);
    sqlite3_bind_int(note, 4, version.kept ? 1 : 0);
    BindText(note, 5, version.as_of);
    return StepDone(note);
  });
}

absl::Status SqliteStore::DropViewVersion(const ViewVersion& version) {
  InvalidateTable(version.table);
  // View names are identifiers (checked at config load) and versions are integers.
  return InTxn([&] {
    return Exec(absl::StrCat("DROP TABLE IF EXISTS ", QuoteIdent(version.table),
                             ";\nDELETE FROM sv_view_versions WHERE view = '", version.view,
                             "' AND version = ", version.version, " AND active = 0",
                             ";\nDELETE FROM sv_view_version_notes WHERE view = '", version.view,
                             "' AND version = ", version.version,
                             " AND NOT EXISTS (SELECT 1 FROM sv_view_versions WHERE view = '",
                             version.view, "' AND version = ", version.version, ")"));
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
      const std::string restored = absl::StrCat(
          SyncPragma(), options_.background_checkpoint ? "; PRAGMA wal_autocheckpoint=0"
                                                       : "; PRAGMA wal_autocheckpoint=1000");
      sqlite3_exec(db_, restored.c_str(), nullptr, nullptr, nullptr);
    });
    status = BulkLoad(table, next_row);
    if (status.ok() && !table.indexes.empty()) {
      // The index build sorts in memory up to the page cache's size, then in runs spilled to a
      // temporary file: kept to kIndexSortKib (its one buffer adds to the process's peak, with
      // the rows still to be written), spilled to disk (with the engine's temp_store=MEMORY the
      // runs would be held in memory, growing with the table).
      SV_RETURN_IF_ERROR(Exec(absl::StrCat("PRAGMA temp_store=FILE; PRAGMA cache_size=-",
                                           std::min(kIndexSortKib, options_.cache_kib))));
      Defer restore_cache([this] {
        const std::string restored =
            absl::StrCat("PRAGMA temp_store=", options_.bulk_mode ? "FILE" : "MEMORY",
                         "; PRAGMA cache_size=-", options_.cache_kib);
        sqlite3_exec(db_, restored.c_str(), nullptr, nullptr, nullptr);
      });
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

}  // namespace sv::store::sqlite_impl
