// The SQLite backend: the write batch of one transaction.

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {

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
  if (HasNullKey(table, row)) {
    // The key's unique index sees NULLs as distinct, so ON CONFLICT would not fire: the old
    // row goes first, and the INSERT below then conflicts with nothing.
    Row key;
    for (int k : table.key) key.push_back(row[k]);
    SV_RETURN_IF_ERROR(Delete(table, key));
  }
  SV_ASSIGN_OR_RETURN(TableStmt * upsert, store_->ForTable(table, TableOp::kUpsert));
  sqlite3_stmt* stmt = upsert->stmt.get();
  ResetOnExit reset(stmt);
  BindScratch scratch;
  const int rc = BindValues(stmt, row, &scratch);
  if (rc != SQLITE_OK) return Error(store_->db(), rc, upsert->label);
  return Check(store_->StepDone(stmt, upsert->label));
}

absl::Status SqliteBatch::UpsertRows(const TableSpec& table, const std::vector<const Row*>& rows) {
  if (table.key_nullable) {
    // Rows with a NULL key value (few: one group per NULL) take Upsert's way one by one.
    std::vector<const Row*> plain;
    plain.reserve(rows.size());
    for (const Row* row : rows) {
      if (row->size() == table.columns.size() && HasNullKey(table, *row)) {
        SV_RETURN_IF_ERROR(Upsert(table, *row));
      } else {
        plain.push_back(row);
      }
    }
    return UpsertKeyedRows(table, plain);
  }
  return UpsertKeyedRows(table, rows);
}

absl::Status SqliteBatch::UpsertKeyedRows(const TableSpec& table,
                                          const std::vector<const Row*>& rows) {
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
  BindScratch scratch;
  const int rc = BindValues(stmt, key, &scratch);
  if (rc != SQLITE_OK) return Error(store_->db(), rc, del->label);
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

}  // namespace sv::store::sqlite_impl
