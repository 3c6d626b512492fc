// The PostgreSQL backend: the write batch of one transaction.

#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {
namespace {

// Appends one element of an array literal: "text" with \ and " escaped, or NULL.
void AppendArrayElement(std::string* out, const Value& v, Type column, std::string* scratch) {
  if (!FormatValue(v, column, scratch)) {
    out->append("NULL");
    return;
  }
  out->push_back('"');
  for (char c : *scratch) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

// ---- PgBatch

PgBatch::~PgBatch() {
  // A finished batch has let go of its store already (which may be gone by now).
  if (finished_) return;
  if (begun_) store_->RollbackTxn();
  Release();
}

void PgBatch::Release() {
  if (store_->owner == this) store_->owner = nullptr;
}

absl::Status PgBatch::Usable() {
  if (finished_) return absl::FailedPreconditionError("postgres: batch already committed");
  if (store_->read_only()) {
    return absl::FailedPreconditionError("postgres: cannot write: the store was opened read-only");
  }
  if (store_->owner != nullptr && store_->owner != this) {
    return absl::FailedPreconditionError(
        "postgres: a transaction (an uncommitted Batch?) is already open on this Store");
  }
  store_->owner = this;
  return broken_;
}

absl::Status PgBatch::Begin() {
  SV_RETURN_IF_ERROR(Usable());
  if (!begun_) {
    absl::Status s = store_->BeginTxn();
    if (!s.ok()) {
      broken_ = s;
      return s;
    }
    begun_ = true;
  }
  return SendBuffered();
}

absl::StatusOr<Result> PgBatch::Run(const std::string& sql, const Params& params, bool prepare) {
  absl::StatusOr<Result> r =
      prepare ? store_->conn().Prepared(sql, params) : store_->conn().Query(sql, params);
  if (!r.ok() && broken_.ok()) {
    broken_ = absl::Status(r.status().code(),
                           absl::StrCat(r.status().message(), " (the batch was rolled back)"));
  }
  return r;
}

TableWrites* PgBatch::Writes(const TableSpec& spec, bool engine_table) {
  std::string qualified = engine_table ? store_->Engine(spec.name) : store_->ViewTable(spec.name);
  auto it = writes_.find(qualified);
  if (it == writes_.end() || it->second.spec.columns.size() != spec.columns.size()) {
    TableWrites& w = writes_[qualified];
    w.spec = spec;
    w.qualified = std::move(qualified);
    return &w;
  }
  return &it->second;
}

void PgBatch::Put(TableWrites* w, Row row, bool deleted) {
  std::vector<Value> key;
  key.reserve(w->spec.key.size());
  for (int k : w->spec.key) key.push_back(row[k]);
  key_scratch_.clear();
  EncodeKey(key.data(), key.size(), &key_scratch_);
  auto [it, inserted] = w->slot.emplace(key_scratch_, w->rows.size());
  if (inserted) {
    w->rows.push_back(std::move(row));
    w->deleted.push_back(deleted);
  } else {
    w->rows[it->second] = std::move(row);
    w->deleted[it->second] = deleted;
  }
}

absl::Status PgBatch::Upsert(const TableSpec& table, const Row& row) {
  SV_RETURN_IF_ERROR(Usable());
  if (row.size() != table.columns.size()) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: upsert into ", table.name,
                                                   ": row has ", row.size(), " values, table has ",
                                                   table.columns.size(), " columns"));
  }
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  for (int k : table.key) {
    if (row[k].is_null() && !table.key_nullable) {
      return absl::InvalidArgumentError(absl::StrCat("postgres: upsert into ", table.name,
                                                     ": key column ", table.columns[k].name,
                                                     " is NULL"));
    }
  }
  Put(Writes(table, false), row, false);
  return absl::OkStatus();
}

absl::Status PgBatch::Delete(const TableSpec& table, const Row& key) {
  SV_RETURN_IF_ERROR(Usable());
  if (key.size() != table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: delete from ", table.name,
                                                   ": key has ", key.size(),
                                                   " values, table key has ", table.key.size()));
  }
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  Row row(table.columns.size());
  for (size_t i = 0; i < key.size(); ++i) row[table.key[i]] = key[i];
  Put(Writes(table, false), std::move(row), true);
  return absl::OkStatus();
}

absl::Status PgBatch::PutKeyState(const std::string& source, const KeyState& state) {
  SV_RETURN_IF_ERROR(Usable());
  Put(Writes(KeysSpec(), true),
      {Value::Text(source), Value::Text(state.key), Value::Int(state.last_sequence),
       Value::Int(state.parked_on)},
      false);
  return absl::OkStatus();
}

absl::Status PgBatch::PutPending(const std::string& source, const PendingEvent& event) {
  SV_RETURN_IF_ERROR(Usable());
  Put(Writes(PendingSpec(), true),
      {Value::Text(source), Value::Int(event.partition), Value::Int(event.position),
       Value::Text(event.key), Value::Int(event.sequence), Value::Int(event.log_time_us),
       Value::Bool(event.held), Value::Text(event.raw)},
      false);
  return absl::OkStatus();
}

absl::Status PgBatch::DeletePending(const std::string& source, int32_t partition,
                                    int64_t position) {
  SV_RETURN_IF_ERROR(Usable());
  Row row(PendingSpec().columns.size());
  row[0] = Value::Text(source);
  row[1] = Value::Int(partition);
  row[2] = Value::Int(position);
  Put(Writes(PendingSpec(), true), std::move(row), true);
  return absl::OkStatus();
}

absl::Status PgBatch::PutEventId(const std::string& source, const std::string& event_id,
                                 int64_t position) {
  SV_RETURN_IF_ERROR(Usable());
  Put(Writes(EventIdsSpec(), true),
      {Value::Text(source), Value::Text(event_id), Value::Int(position)}, false);
  return absl::OkStatus();
}

absl::Status PgBatch::SetPosition(const std::string& source, int32_t partition, int64_t position) {
  SV_RETURN_IF_ERROR(Usable());
  Put(Writes(PositionsSpec(), true),
      {Value::Text(source), Value::Int(partition), Value::Int(position)}, false);
  return absl::OkStatus();
}

absl::Status PgBatch::AddCounters(const std::map<std::string, int64_t>& deltas) {
  SV_RETURN_IF_ERROR(Usable());
  for (const auto& [name, delta] : deltas) counters_[name] += delta;
  return absl::OkStatus();
}

absl::Status PgBatch::AddDeadLetter(DeadLetter* dl) {
  SV_RETURN_IF_ERROR(Begin());
  if (store_->shared()) {
    // Ids are MAX(id) + 1: engines sharing the schema take turns (until their commit).
    SV_RETURN_IF_ERROR(store_->LockDeadLetterIds());
  }
  const int64_t created = dl->created_us != 0 ? dl->created_us : Clock::Real()->NowMicros();
  SV_ASSIGN_OR_RETURN(
      Result r,
      Run(absl::StrCat(
              "INSERT INTO ", store_->Engine("sv_dead_letters"),
              "(id, source, \"partition\", position, key, reason, raw, created_us, state, "
              "parks_key) SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9 "
              "FROM ",
              store_->Engine("sv_dead_letters"),
              // Dense ids (a sequence would skip on conflicts and rollbacks); only the engine,
              // holding the engine lock, adds dead letters.
              " "
              "ON CONFLICT(source, \"partition\", position) DO UPDATE SET key = excluded.key, "
              "reason = excluded.reason, raw = excluded.raw, created_us = excluded.created_us, "
              "state = excluded.state, parks_key = excluded.parks_key RETURNING id"),
          {dl->source, absl::StrCat(dl->partition), absl::StrCat(dl->position), dl->key, dl->reason,
           dl->raw, absl::StrCat(created), std::string(DeadLetterStateName(dl->state)),
           std::string(dl->parks_key ? "t" : "f")}));
  SV_ASSIGN_OR_RETURN(dl->id, Int64(r.get(), 0, 0));
  dl->created_us = created;
  return absl::OkStatus();
}

absl::Status PgBatch::SetDeadLetterState(int64_t id, DeadLetterState state) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(Result r, Run(absl::StrCat("UPDATE ", store_->Engine("sv_dead_letters"),
                                                 " SET state = $2 WHERE id = $1"),
                                    {absl::StrCat(id), std::string(DeadLetterStateName(state))}));
  if (absl::string_view(PQcmdTuples(r.get())) == "0") {
    return absl::NotFoundError(absl::StrCat("postgres: no dead letter ", id));
  }
  return absl::OkStatus();
}

absl::Status PgBatch::AddDeadLetterOutbox(int64_t id) {
  SV_RETURN_IF_ERROR(Begin());
  return Run(absl::StrCat("INSERT INTO ", store_->Engine("sv_dead_letter_outbox"),
                          "(id) VALUES($1) ON CONFLICT(id) DO NOTHING"),
             {absl::StrCat(id)})
      .status();
}

absl::Status PgBatch::PruneEventIds(const std::string& source, int64_t below) {
  SV_RETURN_IF_ERROR(Begin());
  return Run(absl::StrCat("DELETE FROM ", store_->Engine("sv_event_ids"),
                          " WHERE source = $1 AND position < $2"),
             {source, absl::StrCat(below)})
      .status();
}

absl::Status PgBatch::ActivateVersion(const std::string& view, int64_t version,
                                      const std::string& table) {
  SV_RETURN_IF_ERROR(Begin());
  absl::Status s = store_->ActivateInTxn(view, version, table);
  if (!s.ok() && broken_.ok()) broken_ = s;
  return s;
}

absl::Status PgBatch::ReplaceWithSelect(const TableSpec& table, const std::string& select_sql) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  SV_RETURN_IF_ERROR(Begin());  // sends the rows buffered so far: they come before the swap
  const std::string qualified = store_->ViewTable(table.name);
  // DELETE, not TRUNCATE: readers keep seeing the old rows until the batch commits.
  SV_RETURN_IF_ERROR(Run(absl::StrCat("DELETE FROM ", qualified), {}).status());
  return Run(absl::StrCat("INSERT INTO ", qualified, "(", ColumnList(table), ") ", select_sql), {},
             /*prepare=*/false)
      .status();
}

absl::Status PgBatch::ClearSourceState(const std::string& source) {
  SV_RETURN_IF_ERROR(Begin());
  for (const char* table : {"sv_keys", "sv_pending", "sv_event_ids"}) {
    SV_RETURN_IF_ERROR(
        Run(absl::StrCat("DELETE FROM ", store_->Engine(table), " WHERE source = $1"), {source})
            .status());
  }
  return absl::OkStatus();
}

absl::Status PgBatch::SendBuffered() {
  for (auto& [name, w] : writes_) SV_RETURN_IF_ERROR(FlushTable(&w));
  writes_.clear();
  if (!counters_.empty()) {
    std::string names = "{";
    std::string values = "{";
    std::string scratch;
    for (const auto& [name, delta] : counters_) {
      if (names.size() > 1) {
        names += ',';
        values += ',';
      }
      AppendArrayElement(&names, Value::Text(name), Type::kText, &scratch);
      absl::StrAppend(&values, delta);
    }
    names += '}';
    values += '}';
    const std::string table = store_->Engine("sv_counters");
    SV_RETURN_IF_ERROR(Run(absl::StrCat("INSERT INTO ", table,
                                        "(name, value) SELECT * FROM unnest($1::text[], "
                                        "$2::bigint[]) ON CONFLICT(name) DO UPDATE SET value = ",
                                        table, ".value + excluded.value"),
                           {names, values})
                           .status());
    counters_.clear();
  }
  return absl::OkStatus();
}

absl::Status PgBatch::FlushTable(TableWrites* w) {
  const TableSpec& spec = w->spec;
  std::string scratch;
  // Deletes of keys with a NULL value (few: one group per NULL) one by one, with `k IS NULL`
  // (indexable, where a join on `=` would match nothing); the array DELETE below skips them.
  std::vector<bool> deleted_alone;
  if (spec.key_nullable) {
    deleted_alone.assign(w->rows.size(), false);
    for (size_t r = 0; r < w->rows.size(); ++r) {
      if (!w->deleted[r] || !HasNullKey(spec, w->rows[r])) continue;
      deleted_alone[r] = true;
      const Row& row = w->rows[r];
      Params params;
      const std::string where = KeyMatch(
          spec, [&](size_t, int k) -> const Value& { return row[k]; }, &params);
      SV_RETURN_IF_ERROR(
          Run(absl::StrCat("DELETE FROM ", w->qualified, " WHERE ", where), params).status());
    }
  }
  // One array literal per column, over the selected rows.
  auto arrays = [&](bool deleted, const std::vector<int>& cols, Params* params) {
    size_t n = 0;
    for (int c : cols) {
      std::string a = "{";
      n = 0;
      for (size_t r = 0; r < w->rows.size(); ++r) {
        if (w->deleted[r] != deleted || (deleted && !deleted_alone.empty() && deleted_alone[r])) {
          continue;
        }
        if (n++ > 0) a += ',';
        AppendArrayElement(&a, w->rows[r][c], spec.columns[c].type, &scratch);
      }
      a += '}';
      params->push_back(std::move(a));
    }
    return n;
  };
  auto array_type = [&](int c) { return absl::StrCat(SqlType(spec.columns[c].type), "[]"); };

  Params params;
  if (arrays(true, spec.key, &params) > 0) {
    std::string sql = absl::StrCat("DELETE FROM ", w->qualified, " AS t USING unnest(");
    for (size_t i = 0; i < spec.key.size(); ++i) {
      absl::StrAppend(&sql, i > 0 ? ", " : "", "$", i + 1, "::", array_type(spec.key[i]));
    }
    sql += ") AS d(";
    for (size_t i = 0; i < spec.key.size(); ++i) absl::StrAppend(&sql, i > 0 ? ", " : "", "k", i);
    sql += ") WHERE ";
    for (size_t i = 0; i < spec.key.size(); ++i) {
      absl::StrAppend(&sql, i > 0 ? " AND " : "", "t.", QuoteIdent(spec.columns[spec.key[i]].name),
                      " = d.k", i);
    }
    SV_RETURN_IF_ERROR(Run(sql, params).status());
  }
  params.clear();
  std::string on_conflict = absl::StrCat(" ON CONFLICT(", KeyList(spec), ") DO ");
  {
    std::string set;
    for (size_t c = 0; c < spec.columns.size(); ++c) {
      if (IsKey(spec, c)) continue;
      const std::string col = QuoteIdent(spec.columns[c].name);
      absl::StrAppend(&set, set.empty() ? "" : ", ", col, " = excluded.", col);
    }
    absl::StrAppend(&on_conflict, set.empty() ? "NOTHING" : absl::StrCat("UPDATE SET ", set));
  }
  const size_t upserts =
      static_cast<size_t>(std::count(w->deleted.begin(), w->deleted.end(), false));
  if (upserts >= kStageRows) return StageUpserts(w, on_conflict);
  std::vector<int> all(spec.columns.size());
  for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int>(c);
  if (arrays(false, all, &params) > 0) {
    std::string sql = absl::StrCat("INSERT INTO ", w->qualified, "(", ColumnList(spec),
                                   ") SELECT * FROM unnest(");
    for (size_t c = 0; c < all.size(); ++c) {
      absl::StrAppend(&sql, c > 0 ? ", " : "", "$", c + 1, "::", array_type(all[c]));
    }
    absl::StrAppend(&sql, ")", on_conflict);
    SV_RETURN_IF_ERROR(Run(sql, params).status());
  }
  return absl::OkStatus();
}

absl::Status PgBatch::StageUpserts(TableWrites* w, const std::string& on_conflict) {
  // Many rows (a rebuild's gate state, say): binary COPY into a temporary table, then one
  // INSERT ... SELECT, instead of array literals the server must parse.
  const TableSpec& spec = w->spec;
  Conn& conn = store_->conn();
  const std::string stage = absl::StrCat("sv_stage_", ++stages_);
  absl::Status s = conn.Exec(
      absl::StrCat("CREATE TEMP TABLE ", stage, " (LIKE ", w->qualified, ") ON COMMIT DROP"));
  if (s.ok()) {
    s = conn.CopyStart(
        absl::StrCat("COPY ", stage, "(", ColumnList(spec), ") FROM STDIN (FORMAT binary)"));
  }
  if (s.ok()) {
    std::string buf("PGCOPY\n\377\r\n\0", 11);
    pg::AppendInt32(&buf, 0);
    pg::AppendInt32(&buf, 0);
    std::string scratch;
    for (size_t r = 0; r < w->rows.size() && s.ok(); ++r) {
      if (w->deleted[r]) continue;
      pg::AppendInt16(&buf, static_cast<int16_t>(spec.columns.size()));
      for (size_t c = 0; c < spec.columns.size(); ++c) {
        AppendCopyField(&buf, w->rows[r][c], spec.columns[c].type, &scratch);
      }
      if (buf.size() >= kCopyChunkBytes) {
        s = conn.CopyData(buf);
        buf.clear();
      }
    }
    pg::AppendInt16(&buf, -1);
    if (s.ok()) s = conn.CopyData(buf);
    absl::Status finish = conn.CopyFinish();
    if (s.ok()) s = finish;
  }
  if (s.ok()) {
    s = conn.Exec(absl::StrCat("INSERT INTO ", w->qualified, "(", ColumnList(spec), ") SELECT ",
                               ColumnList(spec), " FROM ", stage, on_conflict, ";\nDROP TABLE ",
                               stage));
  }
  if (!s.ok() && broken_.ok()) {
    broken_ = absl::Status(s.code(), absl::StrCat(s.message(), " (the batch was rolled back)"));
  }
  return s;
}

absl::Status PgBatch::Commit() {
  if (finished_) return absl::FailedPreconditionError("postgres: batch already committed");
  absl::Status s = Usable();
  if (s.ok() && (begun_ || !writes_.empty() || !counters_.empty())) s = Begin();
  finished_ = true;
  if (s.ok() && begun_) s = store_->CommitTxn();
  if (!s.ok() && begun_) store_->RollbackTxn();
  Release();
  return s;
}

}  // namespace sv::store::pg_impl
