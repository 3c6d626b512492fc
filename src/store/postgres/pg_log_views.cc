// The PostgreSQL backend: the embedded log, view tables and their versions, bulk loads.

#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {

// ---- Embedded log

absl::StatusOr<int64_t> PgStore::AppendLog(std::vector<LogRecord>* records) {
  if (records->empty()) return LogEnd();
  const int64_t now = Clock::Real()->NowMicros();
  int64_t first = 0;
  SV_RETURN_IF_ERROR(InTxn([&]() -> absl::Status {
    // Appends are serialized by a transaction-scoped lock taken before positions are chosen,
    // so they commit in position order: a reader that sees position p has seen everything
    // before it, and never skips a position that commits later.
    // The NOTIFY is delivered at commit (a tail waiting in WaitForAppend reads the records at
    // once); sent with the lock, it costs the append no round trip of its own.
    SV_RETURN_IF_ERROR(
        conn_.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kLockClass, ", hashtext(",
                                LockName("log"), ")); NOTIFY ", LogChannel())));
    SV_ASSIGN_OR_RETURN(
        Result end,
        conn_.Prepared(
            absl::StrCat("SELECT COALESCE(MAX(position), 0)::bigint FROM ", Engine("sv_log")), {}));
    SV_ASSIGN_OR_RETURN(first, Int64(end.get(), 0, 0));
    ++first;
    SV_RETURN_IF_ERROR(conn_.CopyStart(
        absl::StrCat("COPY ", Engine("sv_log"),
                     "(position, log_time_us, key, raw) FROM STDIN (FORMAT binary)")));
    std::string buf("PGCOPY\n\377\r\n\0", 11);
    pg::AppendInt32(&buf, 0);
    pg::AppendInt32(&buf, 0);
    int64_t position = first;
    absl::Status status;
    for (const LogRecord& record : *records) {
      pg::AppendInt16(&buf, 4);
      pg::AppendInt32(&buf, 8);
      pg::AppendInt64(&buf, position++);
      pg::AppendInt32(&buf, 8);
      pg::AppendInt64(&buf, record.log_time_us != 0 ? record.log_time_us : now);
      pg::AppendInt32(&buf, static_cast<int32_t>(record.key.size()));
      buf.append(record.key);
      pg::AppendInt32(&buf, static_cast<int32_t>(record.raw.size()));
      buf.append(record.raw);
      if (buf.size() >= kCopyChunkBytes && status.ok()) {
        status = conn_.CopyData(buf);
        buf.clear();
      }
    }
    pg::AppendInt16(&buf, -1);
    if (status.ok()) status = conn_.CopyData(buf);
    absl::Status finish = conn_.CopyFinish();
    return status.ok() ? finish : status;
  }));
  int64_t position = first;
  for (LogRecord& record : *records) {
    record.position = position++;
    if (record.log_time_us == 0) record.log_time_us = now;
  }
  return position - 1;
}

absl::StatusOr<bool> PgStore::WaitForAppend(int timeout_ms) {
  // Inside a transaction no notification arrives: the caller polls.
  if (!conn_.ok() || PQtransactionStatus(conn_.raw()) != PQTRANS_IDLE) return false;
  if (listening_generation_ != conn_.generation()) {
    // From here on every append is heard; one before it is found by the caller's next read.
    SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("LISTEN ", LogChannel())));
    listening_generation_ = conn_.generation();
    return true;
  }
  SV_RETURN_IF_ERROR(conn_.WaitForNotify(timeout_ms).status());
  return true;
}

absl::Status PgStore::ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) {
  // The records read cover the appends heard so far: what a wait hears next is newer.
  conn_.TakeNotifies();
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT position, log_time_us, key, raw FROM ", Engine("sv_log"),
                         " WHERE position > $1 ORDER BY position LIMIT $2"),
            {absl::StrCat(after), absl::StrCat(std::min<uint64_t>(max, uint64_t{INT64_MAX}))}));
  const int n = PQntuples(r.get());
  out->resize(n);
  for (int i = 0; i < n; ++i) {
    LogRecord& record = (*out)[i];
    SV_ASSIGN_OR_RETURN(record.position, Int64(r.get(), i, 0));
    SV_ASSIGN_OR_RETURN(record.log_time_us, Int64(r.get(), i, 1));
    record.key.assign(PQgetvalue(r.get(), i, 2), PQgetlength(r.get(), i, 2));
    record.raw.assign(PQgetvalue(r.get(), i, 3), PQgetlength(r.get(), i, 3));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgStore::LogEnd() {
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT COALESCE(MAX(position), 0)::bigint FROM ", Engine("sv_log"))));
  return Int64(r.get(), 0, 0);
}

// ---- View tables and versions

// CREATE INDEX for declared index i. NULL placement follows the query contract (least value)
// and the primary key columns follow the declared ones in the same direction as the last of
// them, so `ORDER BY col, key...` (either direction) is one index scan, as in SQLite where
// every index carries the key.
std::string CreateIndexSql(const TableSpec& table, const std::string& qualified, size_t i) {
  std::vector<std::string> parts;
  std::vector<std::string> named;
  bool desc = false;
  for (const std::string& raw : table.indexes[i].columns) {
    absl::string_view col = raw;
    desc = !col.empty() && col.front() == '-';
    if (desc) col.remove_prefix(1);
    named.emplace_back(col);
    parts.push_back(absl::StrCat(QuoteIdent(col), desc ? " DESC NULLS LAST" : " ASC NULLS FIRST"));
  }
  for (int k : table.key) {
    const std::string& col = table.columns[k].name;
    if (std::find(named.begin(), named.end(), col) != named.end()) continue;
    parts.push_back(absl::StrCat(QuoteIdent(col), desc ? " DESC" : " ASC",
                                 !table.key_nullable ? ""
                                 : desc              ? " NULLS LAST"
                                                     : " NULLS FIRST"));
  }
  return absl::StrCat("CREATE INDEX ", IndexName(table.name, i), " ON ", qualified, "(",
                      absl::StrJoin(parts, ", "), ")");
}

// The key of a table whose key values may be NULL: a unique index treating NULLs as equal
// (PostgreSQL 15), which ON CONFLICT(key) infers like a primary key, NULL first like the
// query contract so that key order is an index scan.
std::string NullableKeySql(const TableSpec& table, const std::string& qualified) {
  std::vector<std::string> parts;
  for (int k : table.key) {
    parts.push_back(absl::StrCat(QuoteIdent(table.columns[k].name), " ASC NULLS FIRST"));
  }
  return absl::StrCat("CREATE UNIQUE INDEX ", PkName(table.name), " ON ", qualified, "(",
                      absl::StrJoin(parts, ", "), ") NULLS NOT DISTINCT");
}

absl::Status PgStore::CreateTable(const TableSpec& table) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  const std::string name = ViewTable(table.name);
  std::string sql =
      absl::StrCat("DROP TABLE IF EXISTS ", name, " CASCADE;\nCREATE TABLE ", name, "(");
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const Type type = table.columns[i].type;
    absl::StrAppend(&sql, i > 0 ? ", " : "", QuoteIdent(table.columns[i].name), " ", SqlType(type),
                    type == Type::kText || type == Type::kNull ? " COLLATE \"C\"" : "",
                    IsKey(table, i) && !table.key_nullable ? " NOT NULL" : "");
  }
  if (table.key_nullable) {
    absl::StrAppend(&sql, ");\n", NullableKeySql(table, name), ";\n");
  } else {
    absl::StrAppend(&sql, ", CONSTRAINT ", PkName(table.name), " PRIMARY KEY(", KeyList(table),
                    "));\n");
  }
  for (size_t i = 0; i < table.indexes.size(); ++i) {
    absl::StrAppend(&sql, CreateIndexSql(table, name, i), ";\n");
  }
  return InTxn([&] { return conn_.Exec(sql); });
}

absl::Status PgStore::DropTable(const std::string& table) {
  // CASCADE: a view still pointing at the table goes with it (SQLite leaves it dangling).
  return InTxn([&] {
    return conn_.Exec(absl::StrCat("DROP TABLE IF EXISTS ", ViewTable(table), " CASCADE"));
  });
}

absl::StatusOr<std::vector<ViewVersion>> PgStore::ListViewVersions() {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT v.view, v.version, v.table_name, "
                                         "v.definition_hash, v.active, "
                                         "COALESCE(n.config_version, 0), COALESCE(n.kept, false), "
                                         "COALESCE(n.as_of, '') FROM ",
                                         Engine("sv_view_versions"), " v LEFT JOIN ",
                                         Engine("sv_view_version_notes"),
                                         " n ON n.view = v.view AND n.version = v.version "
                                         "ORDER BY v.view, v.version")));
  std::vector<ViewVersion> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    ViewVersion& v = out.emplace_back();
    v.view = Text(r.get(), i, 0);
    SV_ASSIGN_OR_RETURN(v.version, Int64(r.get(), i, 1));
    v.table = Text(r.get(), i, 2);
    v.definition_hash = Text(r.get(), i, 3);
    v.active = Bool(r.get(), i, 4);
    SV_ASSIGN_OR_RETURN(v.config_version, Int64(r.get(), i, 5));
    v.kept = Bool(r.get(), i, 6);
    v.as_of = Text(r.get(), i, 7);
  }
  return out;
}

absl::Status PgStore::RecordViewVersion(const ViewVersion& version) {
  return InTxn([&]() -> absl::Status {
    SV_RETURN_IF_ERROR(
        conn_
            .Prepared(
                absl::StrCat("INSERT INTO ", Engine("sv_view_versions"),
                             "(view, version, table_name, definition_hash, active) "
                             "VALUES($1, $2, $3, $4, $5) ON CONFLICT(view, version) DO UPDATE "
                             "SET table_name = excluded.table_name, definition_hash = "
                             "excluded.definition_hash, active = excluded.active"),
                {version.view, absl::StrCat(version.version), version.table,
                 version.definition_hash, std::string(version.active ? "t" : "f")})
            .status());
    return conn_
        .Prepared(
            absl::StrCat("INSERT INTO ", Engine("sv_view_version_notes"),
                         "(view, version, config_version, kept, as_of) "
                         "VALUES($1, $2, $3, $4, $5) ON CONFLICT(view, version) DO UPDATE "
                         "SET config_version = excluded.config_version, kept = "
                         "excluded.kept, as_of = excluded.as_of"),
            {version.view, absl::StrCat(version.version), absl::StrCat(version.config_version),
             std::string(version.kept ? "t" : "f"), version.as_of})
        .status();
  });
}

absl::Status PgStore::WithViewSetupLock(const std::function<absl::Status()>& fn) {
  if (!shared()) return fn();
  SV_RETURN_IF_ERROR(EnsureConnected());
  const std::string lock = absl::StrCat(kLockClass, ", hashtext(", LockName("views"), ")");
  // A session lock (the setup spans several transactions); a lost connection releases it.
  SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("SELECT pg_advisory_lock(", lock, ")")));
  absl::Status status = fn();
  absl::Status unlock = conn_.Exec(absl::StrCat("SELECT pg_advisory_unlock(", lock, ")"));
  if (status.ok() && !unlock.ok() && conn_.ok()) status = unlock;
  return status;
}

absl::Status PgStore::DropViewVersion(const ViewVersion& version) {
  return InTxn([&] {
    return conn_.Exec(absl::StrCat(
        "DROP TABLE IF EXISTS ", ViewTable(version.table), " CASCADE;\n", "DELETE FROM ",
        Engine("sv_view_versions"), " WHERE view = ", QuoteLiteral(version.view), " AND version = ",
        version.version, " AND NOT active;\n", "DELETE FROM ", Engine("sv_view_version_notes"),
        " n WHERE view = ", QuoteLiteral(version.view), " AND version = ", version.version,
        " AND NOT EXISTS (SELECT 1 FROM ", Engine("sv_view_versions"),
        " v WHERE v.view = n.view AND "
        "v.version = n.version)"));
  });
}

absl::Status PgStore::ActivateVersion(const std::string& view, int64_t version,
                                      const std::string& table) {
  return InTxn([&] { return ActivateInTxn(view, version, table); });
}

absl::Status PgStore::ActivateInTxn(const std::string& view, int64_t version,
                                    const std::string& table) {
  const std::string qualified = ViewTable(table);
  SV_ASSIGN_OR_RETURN(Result exists,
                      conn_.Query("SELECT to_regclass($1) IS NOT NULL", {qualified}));
  if (!Bool(exists.get(), 0, 0)) {
    return absl::NotFoundError(
        absl::StrCat("postgres: activate ", view, " version ", version, ": no table ", qualified));
  }
  // DROP VIEW + CREATE VIEW commit together (DDL is transactional): a reader resolves the name
  // to the old definition or, after waiting for this transaction's lock, to the new one.
  const std::string quoted_view = ViewTable(view);
  SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("DROP VIEW IF EXISTS ", quoted_view, ";\nCREATE VIEW ",
                                             quoted_view, " AS SELECT * FROM ", qualified)));
  return conn_
      .Prepared(absl::StrCat("WITH a AS (INSERT INTO ", Engine("sv_view_versions"),
                             "(view, version, table_name, definition_hash, active) "
                             "VALUES($1, $2, $3, '', true) ON CONFLICT(view, version) DO UPDATE "
                             "SET table_name = excluded.table_name, active = true RETURNING 1) "
                             "UPDATE ",
                             Engine("sv_view_versions"),
                             " SET active = false WHERE view = $1 AND version <> $2 AND active"),
                {view, absl::StrCat(version), table})
      .status();
}

// ---- Bulk load

absl::Status PgStore::BulkInsert(const TableSpec& table,
                                 const std::function<const Row*()>& next_row) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  if (in_txn_) {
    return absl::FailedPreconditionError(
        absl::StrCat("postgres: bulk insert into ", table.name, ": a Batch is open on this Store"));
  }
  const std::string name = ViewTable(table.name);
  const size_t ncols = table.columns.size();
  return InTxn([&]() -> absl::Status {
    // The table is new and invisible to the view until ActivateVersion, whose commit is
    // synchronous and follows this one in the WAL: this commit need not wait for its flush.
    // The primary key and indexes are built once, sorted, after the load.
    std::string pre =
        table.key_nullable
            ? absl::StrCat("SET LOCAL synchronous_commit = off;\nDROP INDEX IF EXISTS ",
                           view_schema_q_, ".", PkName(table.name), ";\n")
            : absl::StrCat("SET LOCAL synchronous_commit = off;\nALTER TABLE ", name,
                           " DROP CONSTRAINT IF EXISTS ", PkName(table.name), ";\n");
    for (size_t i = 0; i < table.indexes.size(); ++i) {
      absl::StrAppend(&pre, "DROP INDEX IF EXISTS ", view_schema_q_, ".", IndexName(table.name, i),
                      ";\n");
    }
    SV_RETURN_IF_ERROR(conn_.Exec(pre));
    SV_RETURN_IF_ERROR(conn_.CopyStart(
        absl::StrCat("COPY ", name, "(", ColumnList(table), ") FROM STDIN (FORMAT binary)")));
    std::string buf("PGCOPY\n\377\r\n\0", 11);
    buf.reserve(kCopyChunkBytes + size_t{64} * 1024);
    pg::AppendInt32(&buf, 0);
    pg::AppendInt32(&buf, 0);
    std::string scratch;
    absl::Status status;
    for (;;) {
      const Row* row = next_row();
      if (row == nullptr) break;
      if (row->size() != ncols) {
        status = absl::InvalidArgumentError(absl::StrCat("postgres: bulk insert into ", table.name,
                                                         ": row has ", row->size(),
                                                         " values, table has ", ncols, " columns"));
        break;
      }
      pg::AppendInt16(&buf, static_cast<int16_t>(ncols));
      for (size_t c = 0; c < ncols; ++c) {
        AppendCopyField(&buf, (*row)[c], table.columns[c].type, &scratch);
      }
      if (buf.size() >= kCopyChunkBytes) {
        status = conn_.CopyData(buf);
        buf.clear();
        if (!status.ok()) break;
      }
    }
    if (!status.ok()) {
      PQputCopyEnd(conn_.raw(), "bulk insert aborted");
      conn_.CopyFinish().IgnoreError();
      return status;
    }
    pg::AppendInt16(&buf, -1);
    SV_RETURN_IF_ERROR(conn_.CopyData(buf));
    SV_RETURN_IF_ERROR(conn_.CopyFinish());
    std::string post = table.key_nullable ? absl::StrCat(NullableKeySql(table, name), ";\n")
                                          : absl::StrCat("ALTER TABLE ", name, " ADD CONSTRAINT ",
                                                         PkName(table.name), " PRIMARY KEY(",
                                                         KeyList(table), ");\n");
    for (size_t i = 0; i < table.indexes.size(); ++i) {
      absl::StrAppend(&post, CreateIndexSql(table, name, i), ";\n");
    }
    absl::StrAppend(&post, "ANALYZE ", name);
    return conn_.Exec(post);
  });
}

}  // namespace sv::store::pg_impl
