// The SQLite backend: reads (rows, positions, key states, pending events, dead letters, queries).

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {

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
    BindScratch scratch;
    rc = BindValues(stmt, binds, &scratch);
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
  BindScratch scratch;
  int rc = BindValues(stmt, key, &scratch);
  if (rc != SQLITE_OK) return Error(db_, rc, get->label);
  rc = sqlite3_step(stmt);
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

absl::StatusOr<std::vector<std::string>> SqliteStore::ListParkedKeys(const std::string& source) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * list, Fixed(kKeyParked));
  ResetOnExit reset(list);
  BindText(list, 1, source);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list, 0)),
                     static_cast<size_t>(sqlite3_column_bytes(list, 0)));
  }
  if (rc != SQLITE_DONE) return Error(db_, rc, "read sv_keys");
  return out;
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
    if (interrupted_.load())
      return absl::CancelledError("sqlite: scan interrupted (its owner is stopping)");
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
    if (interrupted_.load())
      return absl::CancelledError("sqlite: query interrupted (its owner is stopping)");
    if (rc != SQLITE_ROW) return Error(db_, rc, label);
    SV_RETURN_IF_ERROR(ReadRow(stmt.get(), spec, &row));
    each(row);
  }
}

std::unique_ptr<Batch> SqliteStore::BeginBatch() { return std::make_unique<SqliteBatch>(this); }

}  // namespace sv::store::sqlite_impl
