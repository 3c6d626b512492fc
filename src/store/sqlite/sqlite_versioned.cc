// The SQLite backend: the batch's versioned writes and event-id claims (optimistic
// concurrency for the public library), each one statement inside the batch's transaction.

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {

absl::StatusOr<std::optional<int64_t>> SqliteStore::WriteReturningInt(
    const std::string& sql, const std::vector<Value>& binds) {
  auto it = write_stmts_.find(sql);
  if (it == write_stmts_.end()) {
    SV_ASSIGN_OR_RETURN(Stmt stmt, PrepareOne(db_, sql, SqlLabel(sql)));
    if (write_stmts_.size() >= kMaxQueryStmts) write_stmts_.erase(write_stmts_.begin());
    it = write_stmts_.emplace(sql, std::move(stmt)).first;
  }
  sqlite3_stmt* stmt = it->second.get();
  ResetOnExit reset(stmt);
  std::vector<std::string> scratch(binds.size());
  for (size_t i = 0; i < binds.size(); ++i) {
    const int rc = BindValue(stmt, static_cast<int>(i + 1), binds[i], &scratch[i]);
    if (rc != SQLITE_OK) return Error(db_, rc, SqlLabel(sql));
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
      BuildVersionedWrite(table, QuoteIdent(table.name), VersionedWrite::kUpsert, row,
                          version_column, expected, SqlDialect::Sqlite(), &binds));
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
      BuildVersionedWrite(table, QuoteIdent(table.name), VersionedWrite::kDelete, key,
                          version_column, expected, SqlDialect::Sqlite(), &binds));
  SV_RETURN_IF_ERROR(Begin());
  absl::StatusOr<std::optional<int64_t>> deleted = store_->WriteReturningInt(sql, binds);
  SV_RETURN_IF_ERROR(Check(deleted.status()));
  return deleted->has_value();
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
