// The SQLite backend: the batch's versioned writes and event-id claims (optimistic
// concurrency for the public library), each one statement inside the batch's transaction.

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {
namespace {

constexpr char kDeletedVersions[] = "sv_deleted_versions";

}  // namespace

absl::StatusOr<sqlite3_stmt*> SqliteStore::CachedWrite(const std::string& sql) {
  auto it = write_stmts_.find(sql);
  if (it == write_stmts_.end()) {
    SV_ASSIGN_OR_RETURN(Stmt stmt, PrepareOne(db_, sql, SqlLabel(sql)));
    if (write_stmts_.size() >= kMaxQueryStmts) write_stmts_.erase(write_stmts_.begin());
    it = write_stmts_.emplace(sql, std::move(stmt)).first;
  }
  return it->second.get();
}

absl::StatusOr<std::optional<int64_t>> SqliteStore::WriteReturningInt(
    const std::string& sql, const std::vector<Value>& binds) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, CachedWrite(sql));
  ResetOnExit reset(stmt);
  BindScratch scratch;
  if (const int rc = BindValues(stmt, binds, &scratch); rc != SQLITE_OK) {
    return Error(db_, rc, SqlLabel(sql));
  }
  std::optional<int64_t> out;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) {
      NoteFailure(rc);
      return Error(db_, rc, SqlLabel(sql));
    }
    if (!out.has_value()) out = sqlite3_column_int64(stmt, 0);
  }
}

absl::StatusOr<std::optional<int64_t>> SqliteBatch::UpsertVersioned(
    const TableSpec& table, const Row& row, int version_column, std::optional<int64_t> expected) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(
      std::string sql,
      BuildVersionedWrite(table, QuoteIdent(table.name), kDeletedVersions, VersionedWrite::kUpsert,
                          row, version_column, expected, SqlDialect::Sqlite(), &binds));
  SV_RETURN_IF_ERROR(Begin());
  absl::StatusOr<std::optional<int64_t>> written = store_->WriteReturningInt(sql, binds);
  SV_RETURN_IF_ERROR(Check(written.status()));
  return written;
}

absl::StatusOr<bool> SqliteBatch::DeleteVersioned(const TableSpec& table, const Row& key,
                                                  int version_column,
                                                  std::optional<int64_t> expected) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(
      std::string sql,
      BuildVersionedWrite(table, QuoteIdent(table.name), kDeletedVersions, VersionedWrite::kDelete,
                          key, version_column, expected, SqlDialect::Sqlite(), &binds));
  SV_RETURN_IF_ERROR(Begin());
  absl::StatusOr<std::optional<int64_t>> deleted = store_->WriteReturningInt(sql, binds);
  SV_RETURN_IF_ERROR(Check(deleted.status()));
  if (!deleted->has_value()) return false;
  binds.clear();
  sql = BuildRecordDeletedVersion(table, kDeletedVersions, key, **deleted, SqlDialect::Sqlite(),
                                  &binds);
  SV_RETURN_IF_ERROR(Check(store_->WriteReturningInt(sql, binds).status()));
  return true;
}

absl::Status SqliteBatch::UpsertRowsVersioned(const TableSpec& table,
                                              const std::vector<const Row*>& rows,
                                              int version_column) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  if (version_column < 0 || version_column >= static_cast<int>(table.columns.size())) {
    return absl::InvalidArgumentError("versioned upsert: version column out of range");
  }
  const size_t per_stmt = UpsertRowsPerStmt(table);
  size_t next = 0;
  if (rows.size() >= per_stmt && per_stmt > 1) {
    SV_RETURN_IF_ERROR(Begin());
    // With no key of the table ever deleted, a new row starts at 1 and the statement looks up
    // nothing per row (twice as fast). Exact: the transaction is the store's one writer now.
    absl::StatusOr<std::optional<int64_t>> any_deleted = store_->WriteReturningInt(
        absl::StrCat("SELECT 1 FROM ", kDeletedVersions, " WHERE table_name = ?1 LIMIT 1"),
        {Value::Text(table.name)});
    SV_RETURN_IF_ERROR(Check(any_deleted.status()));
    const bool deletions = any_deleted->has_value();
    const std::string sql =
        BuildVersionedUpsertMany(table, QuoteIdent(table.name), deletions ? kDeletedVersions : "",
                                 version_column, per_stmt, SqlDialect::Sqlite());
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, store_->CachedWrite(sql));
    std::vector<std::string> scratch(per_stmt * table.columns.size());
    // Each row's version slot: its key in sv_deleted_versions (text is bound without a copy, so
    // one value per row of the statement).
    std::vector<Value> deleted_keys(per_stmt, Value::Int(1));
    for (; next + per_stmt <= rows.size(); next += per_stmt) {
      ResetOnExit reset(stmt);
      int p = 1;
      for (size_t r = 0; r < per_stmt; ++r) {
        const Row& row = *rows[next + r];
        if (row.size() != table.columns.size()) {
          return absl::InvalidArgumentError(absl::StrCat("sqlite: upsert into ", table.name,
                                                         ": row has ", row.size(), " values"));
        }
        if (deletions) deleted_keys[r] = Value::Text(DeletedVersionKey(table, row, false));
        for (size_t i = 0; i < row.size(); ++i) {
          const Value& v = static_cast<int>(i) == version_column ? deleted_keys[r] : row[i];
          const int rc = BindValue(stmt, p, v, &scratch[p - 1]);
          if (rc != SQLITE_OK) return Error(store_->db(), rc, "versioned upsert");
          ++p;
        }
      }
      SV_RETURN_IF_ERROR(Check(store_->StepDone(stmt, "versioned upsert")));
    }
  }
  for (; next < rows.size(); ++next) {
    SV_ASSIGN_OR_RETURN(std::optional<int64_t> written,
                        UpsertVersioned(table, *rows[next], version_column, std::nullopt));
    (void)written;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteBatch::ClaimEventId(const std::string& source,
                                               const std::string& event_id, int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  absl::StatusOr<std::optional<int64_t>> claimed = store_->WriteReturningInt(
      "INSERT INTO sv_event_ids(source, event_id, position) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(source, event_id) DO NOTHING RETURNING position",
      {Value::Text(source), Value::Text(event_id), Value::Int(position)});
  SV_RETURN_IF_ERROR(Check(claimed.status()));
  return claimed->has_value();
}

absl::Status SqliteBatch::ForgetEventId(const std::string& source, const std::string& event_id) {
  SV_RETURN_IF_ERROR(Begin());
  return Check(
      store_
          ->WriteReturningInt("DELETE FROM sv_event_ids WHERE source = ?1 AND event_id = ?2 "
                              "RETURNING position",
                              {Value::Text(source), Value::Text(event_id)})
          .status());
}

}  // namespace sv::store::sqlite_impl
