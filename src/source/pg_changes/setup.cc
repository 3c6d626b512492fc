// The change-feed source's setup: the checks that refuse to start with a message saying what to
// change, the publication, the slot and the initial snapshot.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "source/pg_changes/pg_changes_internal.h"
#include "source/pg_changes/pg_values.h"

namespace sv::source::pg {
namespace {

std::string Value(PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) ? std::string() : std::string(PQgetvalue(r, row, col));
}

// Test hook (TESTING.md, "Injected faults"): SV_TEST_CRASH_IN_SNAPSHOT_AT_ROW=N ends the process
// abruptly once N rows of the initial snapshot are read (the slot made, nothing committed): a
// crash in the middle of the snapshot, at a moment the test names. Inert unless set.
void CrashInSnapshotIfTold(size_t rows_read) {
  static const int64_t crash_at = [] {
    const char* v = std::getenv("SV_TEST_CRASH_IN_SNAPSHOT_AT_ROW");
    return v == nullptr ? int64_t{0} : std::atoll(v);
  }();
  if (crash_at > 0 && static_cast<int64_t>(rows_read) == crash_at) _exit(9);
}

}  // namespace

absl::Status PgChangesSource::CheckServer() {
  const std::string who = absl::StrCat("source '", options_.source_name, "'");
  SV_ASSIGN_OR_RETURN(Result level, session_.Query("SHOW wal_level"));
  const std::string wal_level = Value(level.get(), 0, 0);
  if (wal_level != "logical") {
    return absl::FailedPreconditionError(absl::StrCat(
        who, ": the source database has wal_level = ", wal_level,
        "; logical replication needs wal_level = logical (set it in postgresql.conf and restart "
        "PostgreSQL)"));
  }
  SV_ASSIGN_OR_RETURN(
      Result role, session_.Query("SELECT current_user, rolreplication OR rolsuper FROM pg_roles "
                                  "WHERE rolname = current_user"));
  if (PQntuples(role.get()) != 1 || Value(role.get(), 0, 1) != "t") {
    const std::string user = PQntuples(role.get()) == 1 ? Value(role.get(), 0, 0) : "?";
    return absl::FailedPreconditionError(
        absl::StrCat(who, ": role ", user, " lacks the REPLICATION attribute (ALTER ROLE ",
                     QuoteIdent(user), " REPLICATION)"));
  }
  return absl::OkStatus();
}

absl::Status PgChangesSource::LoadTables() {
  const std::string who = absl::StrCat("source '", options_.source_name, "'");
  tables_.clear();
  for (const std::string& configured : options_.tables) {
    SV_ASSIGN_OR_RETURN(
        Result r,
        session_.Query(
            "SELECT n.nspname, c.relname, c.relreplident, "
            "  (SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum)) "
            "     FROM pg_index i JOIN pg_attribute a "
            "       ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "    WHERE i.indrelid = c.oid AND i.indisprimary) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass($1)",
            {QuoteTable(configured)}));
    if (PQntuples(r.get()) != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat(who, ": table ", configured, " does not exist in the source database"));
    }
    TableInfo t;
    t.configured = configured;
    t.schema = Value(r.get(), 0, 0);
    t.name = Value(r.get(), 0, 1);
    const std::string identity = Value(r.get(), 0, 2);
    const std::string key = Value(r.get(), 0, 3);
    if (key.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          who, ": table ", configured,
          " has no primary key; the change feed keys events by it (add a primary key)",
          identity == "f" ? "" : " and the old row of updates and deletes needs it too"));
    }
    for (absl::string_view c : absl::StrSplit(key, ',')) t.key_columns.emplace_back(c);
    tables_[absl::StrCat(t.schema, ".", t.name)] = std::move(t);
  }
  return absl::OkStatus();
}

absl::Status PgChangesSource::EnsurePublication() {
  SV_ASSIGN_OR_RETURN(
      Result exists,
      session_.Query("SELECT 1 FROM pg_publication WHERE pubname = $1", {options_.publication}));
  std::vector<std::string> quoted;
  for (const auto& [qualified, t] : tables_) {
    quoted.push_back(absl::StrCat(QuoteIdent(t.schema), ".", QuoteIdent(t.name)));
  }
  if (PQntuples(exists.get()) == 0) {
    return session_.Exec(absl::StrCat("CREATE PUBLICATION ", QuoteIdent(options_.publication),
                                      " FOR TABLE ", absl::StrJoin(quoted, ", ")));
  }
  // An existing publication must publish every table the source reads: add what it lacks.
  SV_ASSIGN_OR_RETURN(Result published,
                      session_.Query("SELECT schemaname || '.' || tablename "
                                     "FROM pg_publication_tables WHERE pubname = $1",
                                     {options_.publication}));
  std::vector<std::string> missing;
  for (const auto& [qualified, t] : tables_) {
    bool found = false;
    for (int i = 0; i < PQntuples(published.get()); ++i) {
      found = found || Value(published.get(), i, 0) == qualified;
    }
    if (!found) missing.push_back(absl::StrCat(QuoteIdent(t.schema), ".", QuoteIdent(t.name)));
  }
  if (missing.empty()) return absl::OkStatus();
  return session_.Exec(absl::StrCat("ALTER PUBLICATION ", QuoteIdent(options_.publication),
                                    " ADD TABLE ", absl::StrJoin(missing, ", ")));
}

absl::Status PgChangesSource::Connect() {
  SV_RETURN_IF_ERROR(session_.Connect(options_.dsn, /*replication=*/false));
  SV_RETURN_IF_ERROR(CheckServer());
  SV_RETURN_IF_ERROR(LoadTables());
  SV_RETURN_IF_ERROR(EnsurePublication());
  return stream_.Connect(options_.dsn, /*replication=*/true);
}

absl::StatusOr<SlotState> PgChangesSource::ReadSlot() {
  SV_ASSIGN_OR_RETURN(Result r,
                      session_.Query("SELECT plugin, database = current_database(), wal_status, "
                                     "(confirmed_flush_lsn - '0/0')::text, active_pid, "
                                     "(pg_current_wal_lsn() - confirmed_flush_lsn)::bigint "
                                     "FROM pg_replication_slots WHERE slot_name = $1",
                                     {options_.slot}));
  SlotState slot;
  if (PQntuples(r.get()) == 0) return slot;
  if (Value(r.get(), 0, 1) != "t") {
    return absl::FailedPreconditionError(
        absl::StrCat("source '", options_.source_name, "': replication slot ", options_.slot,
                     " belongs to another database; name another slot"));
  }
  slot.exists = true;
  slot.plugin = Value(r.get(), 0, 0);
  slot.wal_status = Value(r.get(), 0, 2);
  slot.confirmed_flush = std::strtoull(Value(r.get(), 0, 3).c_str(), nullptr, 10);
  slot.active_pid = Value(r.get(), 0, 4);
  slot.lag_bytes = std::atoll(Value(r.get(), 0, 5).c_str());
  if (slot.plugin != "pgoutput") {
    return absl::FailedPreconditionError(absl::StrCat(
        "source '", options_.source_name, "': replication slot ", options_.slot, " uses plugin ",
        slot.plugin, ", not pgoutput; name another slot or drop this one"));
  }
  return slot;
}

absl::Status PgChangesSource::CheckSlotFollows(const SlotState& slot, uint64_t stored) const {
  std::string what;
  if (!slot.exists) {
    what = "is gone (dropped, or removed with its WAL)";
  } else if (slot.wal_status == "lost") {
    what = "was invalidated: the server removed WAL it still needed (max_slot_wal_keep_size)";
  } else if (slot.confirmed_flush > stored) {
    what = absl::StrCat("is at ", FormatLsn(slot.confirmed_flush),
                        ", ahead of the views (recreated, or advanced by another consumer)");
  } else {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "source '", options_.source_name, "': replication slot ", options_.slot, " ", what,
      ": changes after the views' position ", FormatLsn(stored),
      " may be lost; re-snapshot this source's views with `streamview rebuild --view <any of "
      "them>` or `--all` (a new slot, the tables read again, the views swapped in together)"));
}

absl::StatusOr<uint64_t> PgChangesSource::CreateSlotWithSnapshot() {
  // A previous run's walsender may hold the slot for a moment after that run stopped: wait for
  // it, bounded, before dropping the slot (a new one comes with a fresh snapshot).
  constexpr int kSlotBusyWaitMs = 60'000;
  constexpr int kSlotBusyPollMs = 100;
  for (int waited = 0;; waited += kSlotBusyPollMs) {
    SV_ASSIGN_OR_RETURN(const SlotState slot, ReadSlot());
    if (!slot.exists) break;
    if (slot.active_pid.empty()) {
      SV_RETURN_IF_ERROR(session_.Exec(
          absl::StrCat("SELECT pg_drop_replication_slot(", QuoteLiteral(options_.slot), ")")));
      break;
    }
    if (waited >= kSlotBusyWaitMs) {
      return absl::FailedPreconditionError(
          absl::StrCat("source '", options_.source_name, "': replication slot ", options_.slot,
                       " is in use by server process ", slot.active_pid,
                       ": stop the engine that streams from it first"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSlotBusyPollMs));
  }
  return ExportSnapshot(options_.slot, /*temporary=*/false);
}

absl::StatusOr<uint64_t> PgChangesSource::ExportSnapshot(const std::string& slot_name,
                                                         bool temporary) {
  // Replication commands go by the simple query protocol.
  const std::string create =
      absl::StrCat("CREATE_REPLICATION_SLOT ", QuoteIdent(slot_name), temporary ? " TEMPORARY" : "",
                   " LOGICAL pgoutput EXPORT_SNAPSHOT");
  Result slot(PQexec(stream_.raw(), create.c_str()));
  if (PQresultStatus(slot.get()) != PGRES_TUPLES_OK) return stream_.Error(slot.get(), create);
  const std::optional<uint64_t> consistent = ParseLsn(Value(slot.get(), 0, 1));
  const std::string snapshot = Value(slot.get(), 0, 2);
  if (!consistent || snapshot.empty()) {
    return absl::InternalError("CREATE_REPLICATION_SLOT returned no snapshot");
  }
  // The tables as of the slot's consistent point: every later change comes from the stream.
  SV_RETURN_IF_ERROR(session_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  SV_RETURN_IF_ERROR(
      session_.Exec(absl::StrCat("SET TRANSACTION SNAPSHOT ", QuoteLiteral(snapshot))));
  consistent_ = *consistent;
  snapshot_slot_temporary_ = temporary;
  snapshot_tables_.clear();
  snapshot_where_.clear();
  filtered_tables_.clear();
  for (const auto& [qualified, table] : tables_) {
    if (std::find(filter_.skipped.begin(), filter_.skipped.end(), table.configured) !=
        filter_.skipped.end()) {
      continue;  // it feeds none of the views rebuilt
    }
    std::string where;
    if (auto it = filter_.tables.find(table.configured); it != filter_.tables.end()) {
      // One organization's rows suffice when each row of the views is one row of the table:
      // their key columns are set from exactly its primary key's.
      std::vector<std::string> pk = table.key_columns, fields = it->second.key_fields;
      std::sort(pk.begin(), pk.end());
      std::sort(fields.begin(), fields.end());
      if (pk == fields) {
        where = it->second.column;
        filtered_tables_.push_back(table.configured);
      } else {
        LogJson("info", "tenant snapshot reads a table whole",
                {{"source", options_.source_name},
                 {"table", table.configured},
                 {"why", "the views' key is not the table's primary key"}});
      }
    }
    snapshot_tables_.push_back(&table);
    snapshot_where_.push_back(std::move(where));
  }
  if (!filter_.empty()) {
    LogJson("info", "change feed snapshot of one organization",
            {{"source", options_.source_name},
             {"tables_filtered", absl::StrJoin(filtered_tables_, ",")},
             {"tables_skipped", absl::StrJoin(filter_.skipped, ",")}});
  }
  snapshot_table_ = 0;
  snapshot_query_open_ = false;
  snapshot_done_ = false;
  snapshot_rows_ = 0;
  SV_RETURN_IF_ERROR(StartSnapshotProgress());
  return *consistent;
}

absl::StatusOr<uint64_t> PgChangesSource::CreateSlotAndSnapshot() {
  SV_ASSIGN_OR_RETURN(const uint64_t consistent, CreateSlotWithSnapshot());
  snapshot_.clear();
  bool done = false;
  while (!done) SV_RETURN_IF_ERROR(ReadSnapshot(SIZE_MAX, &snapshot_, &done));
  return consistent;
}

absl::Status PgChangesSource::ReadSnapshot(size_t max, std::vector<SourceRecord>* out, bool* done) {
  *done = false;
  size_t added = 0;
  while (added < max) {
    if (!snapshot_query_open_) {
      if (snapshot_table_ >= snapshot_tables_.size()) {
        if (!snapshot_done_) {
          // A filtered snapshot's transaction stays open: SnapshotRowOf reads it later.
          if (filtered_tables_.empty()) {
            SV_RETURN_IF_ERROR(session_.Exec("COMMIT"));
            // A snapshot beside the live slot is read: its temporary slot goes with the
            // replication connection, so the server keeps no WAL for it while the reader's
            // user applies what came after (the consistent point is all Holds needs).
            if (snapshot_slot_temporary_) stream_.Close();
          }
          ReportSnapshotProgress(/*done=*/true);
          // Positions count up to the consistent point, which a closing marker carries: stored
          // with the rows (an empty snapshot too), it tells a restart the snapshot is in.
          out->push_back(MarkerRecord(kSnapshotDoneType, consistent_));
          snapshot_done_ = true;
        }
        *done = true;
        return absl::OkStatus();
      }
      const TableInfo& table = *snapshot_tables_[snapshot_table_];
      snapshot_sql_ =
          absl::StrCat("SELECT * FROM ", QuoteIdent(table.schema), ".", QuoteIdent(table.name));
      const std::string& where = snapshot_where_[snapshot_table_];
      if (!where.empty()) absl::StrAppend(&snapshot_sql_, " WHERE ", QuoteIdent(where), " = $1");
      const char* value = filter_.value.c_str();
      const int sent = where.empty() ? PQsendQuery(session_.raw(), snapshot_sql_.c_str())
                                     : PQsendQueryParams(session_.raw(), snapshot_sql_.c_str(), 1,
                                                         nullptr, &value, nullptr, nullptr, 0);
      if (sent == 0 || PQsetSingleRowMode(session_.raw()) == 0) {
        return session_.Error(nullptr, snapshot_sql_);
      }
      snapshot_query_open_ = true;
      snapshot_key_index_.clear();
    }
    Result r(PQgetResult(session_.raw()));
    if (r == nullptr) {  // the end of this table's results
      snapshot_query_open_ = false;
      ++snapshot_table_;
      continue;
    }
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_TUPLES_OK) continue;  // the end of the rows
    if (st != PGRES_SINGLE_TUPLE) {
      absl::Status error = session_.Error(r.get(), snapshot_sql_);
      while (Result rest{PQgetResult(session_.raw())}) {
      }
      snapshot_query_open_ = false;
      return error;
    }
    out->push_back(SnapshotRecord(*snapshot_tables_[snapshot_table_], r.get()));
    ++added;
    CrashInSnapshotIfTold(static_cast<size_t>(snapshot_rows_));
    if ((snapshot_rows_ & 0x3ff) == 0) ReportSnapshotProgress(/*done=*/false);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SourceRecord>> PgChangesSource::SnapshotRowOf(
    const SourceRecord& live) {
  std::string_view type;
  for (const auto& [name, value] : live.headers) {
    if (name == "sv-type") type = value;
  }
  const TableInfo* table = nullptr;
  for (const auto& [qualified, t] : tables_) {
    if (type.substr(0, type.rfind('.')) == t.configured &&
        std::find(filtered_tables_.begin(), filtered_tables_.end(), t.configured) !=
            filtered_tables_.end()) {
      table = &t;
    }
  }
  if (table == nullptr || !live.key.has_value()) return std::nullopt;  // read whole: in it
  std::vector<std::string> parts = absl::StrSplit(*live.key, '|');
  if (table->key_columns.size() == 1) parts = {*live.key};  // a '|' of its own value
  if (parts.size() != table->key_columns.size()) {
    return absl::InternalError(absl::StrCat("the key '", *live.key, "' of a record of ",
                                            table->configured, " does not split into ",
                                            table->key_columns.size(), " columns"));
  }
  std::string sql =
      absl::StrCat("SELECT * FROM ", QuoteIdent(table->schema), ".", QuoteIdent(table->name));
  std::vector<std::optional<std::string>> params;
  for (size_t k = 0; k < parts.size(); ++k) {
    absl::StrAppend(&sql, k == 0 ? " WHERE " : " AND ", QuoteIdent(table->key_columns[k]), " = $",
                    k + 1);
    params.emplace_back(parts[k]);
  }
  // In the snapshot's transaction, still open: the row as the snapshot saw it.
  SV_ASSIGN_OR_RETURN(Result r, session_.Query(sql, params));
  if (PQntuples(r.get()) == 0) return std::nullopt;
  snapshot_key_index_.clear();
  SourceRecord record = SnapshotRecord(*table, r.get());
  snapshot_key_index_.clear();
  return record;
}

absl::Status PgChangesSource::StartSnapshotProgress() {
  // The planner's estimate (pg_class.reltuples, kept by VACUUM/ANALYZE): cheap, and close
  // enough for an ETA; -1 on a table never analyzed counts as unknown.
  std::vector<std::string> oids;
  for (const auto& [qualified, table] : tables_) {
    oids.push_back(absl::StrCat(
        QuoteLiteral(QuoteIdent(table.schema) + "." + QuoteIdent(table.name)), "::regclass"));
  }
  SV_ASSIGN_OR_RETURN(Result r, session_.Query(absl::StrCat(
                                    "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint "
                                    "FROM pg_class WHERE oid IN (",
                                    absl::StrJoin(oids, ", "), ")")));
  snapshot_estimate_ = std::atoll(Value(r.get(), 0, 0).c_str());
  snapshot_started_us_ = options_.clock->NowMicros();
  snapshot_reported_us_ = snapshot_started_us_;
  LogJson("info", "change feed snapshot started",
          {{"source", options_.source_name},
           {"slot", options_.slot},
           {"estimated_rows", std::to_string(snapshot_estimate_)}});
  return absl::OkStatus();
}

void PgChangesSource::ReportSnapshotProgress(bool done) {
  constexpr int64_t kEveryUs = 5'000'000;
  const int64_t now = options_.clock->NowMicros();
  if (!done && now - snapshot_reported_us_ < kEveryUs) return;
  snapshot_reported_us_ = now;
  const double seconds = std::max(1e-6, static_cast<double>(now - snapshot_started_us_) / 1e6);
  const int64_t rows = snapshot_rows_;
  const double rate = static_cast<double>(rows) / seconds;
  const std::string count = std::to_string(rows);
  const std::string per_second = std::to_string(static_cast<int64_t>(rate));
  if (done) {
    LogJson("info", "change feed snapshot read",
            {{"source", options_.source_name}, {"rows", count}, {"rows_per_second", per_second}});
    return;
  }
  // The estimate can be below what is read already (stale statistics): no ETA then.
  const int64_t left = std::max<int64_t>(0, snapshot_estimate_ - rows);
  const std::string eta =
      left > 0 && rate > 0 ? std::to_string(static_cast<int64_t>(static_cast<double>(left) / rate))
                           : "unknown";
  LogJson("info", "change feed snapshot progress",
          {{"source", options_.source_name},
           {"rows", count},
           {"estimated_rows", std::to_string(snapshot_estimate_)},
           {"rows_per_second", per_second},
           {"eta_seconds", eta}});
}

SourceRecord PgChangesSource::MarkerRecord(const char* type, uint64_t position) const {
  SourceRecord marker;
  marker.partition = 0;
  marker.offset = static_cast<int64_t>(position);
  marker.log_time_us = options_.clock->NowMicros();
  marker.value = "{}";
  marker.key = "";
  marker.headers = {{"sv-type", type}};
  return marker;
}

SourceRecord PgChangesSource::SnapshotRecord(const TableInfo& table, PGresult* row) {
  const int columns = PQnfields(row);
  if (snapshot_key_index_.empty()) {
    for (const std::string& k : table.key_columns) {
      snapshot_key_index_.push_back(PQfnumber(row, k.c_str()));
    }
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  for (int c = 0; c < columns; ++c) {
    w.Key(PQfname(row, c));
    if (PQgetisnull(row, 0, c)) {
      w.Null();
    } else {
      WriteValue(
          w, PQftype(row, c),
          std::string_view(PQgetvalue(row, 0, c), static_cast<size_t>(PQgetlength(row, 0, c))));
    }
  }
  w.EndObject();
  std::vector<std::string> key;
  key.reserve(snapshot_key_index_.size());
  for (int k : snapshot_key_index_) key.push_back(k >= 0 ? Value(row, 0, k) : std::string());
  SourceRecord rec;
  rec.partition = 0;
  rec.offset = ++snapshot_rows_;  // counting up to the marker at the consistent point
  rec.log_time_us = options_.clock->NowMicros();
  rec.value = buf.GetString();
  rec.key = absl::StrJoin(key, "|");
  rec.routing_key = *rec.key;
  rec.headers = {{"sv-type", absl::StrCat(table.configured, ".insert")}};
  return rec;
}

absl::Status PgChangesSource::StartStreaming(uint64_t from) {
  const std::string sql = absl::StrCat(
      "START_REPLICATION SLOT ", QuoteIdent(options_.slot), " LOGICAL ", FormatLsn(from),
      " (proto_version '2', streaming 'on', messages 'true', publication_names ",
      QuoteLiteral(QuoteIdent(options_.publication)), ")");
  // A previous run's walsender may hold the slot for a moment after that run died (its server
  // process has not yet seen the closed connection): wait for it, bounded.
  constexpr int kSlotBusyWaitMs = 60'000;
  constexpr int kSlotBusyPollMs = 100;
  for (int waited = 0;; waited += kSlotBusyPollMs) {
    Result r(PQexec(stream_.raw(), sql.c_str()));
    if (PQresultStatus(r.get()) == PGRES_COPY_BOTH) break;
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const bool busy = state != nullptr && std::string_view(state) == "55006";  // object_in_use
    if (!busy || waited >= kSlotBusyWaitMs) {
      // The slot may have gone (or been invalidated) since it was checked: say so, as the check
      // does, rather than with the server's bare error.
      if (auto slot = ReadSlot(); slot.ok()) {
        SV_RETURN_IF_ERROR(CheckSlotFollows(*slot, from));
      }
      return stream_.Error(r.get(), sql);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSlotBusyPollMs));
  }
  streaming_ = true;
  broken_.clear();
  return absl::OkStatus();
}

}  // namespace sv::source::pg

namespace sv::source {

absl::StatusOr<std::string> DropPgChangesSlot(const std::string& dsn, const std::string& slot,
                                              const std::string& publication) {
  pg::Link link;
  SV_RETURN_IF_ERROR(link.Connect(dsn, /*replication=*/false));
  SV_ASSIGN_OR_RETURN(pg::Result r,
                      link.Query("SELECT active_pid, pg_size_pretty(pg_current_wal_lsn() - "
                                 "restart_lsn) FROM pg_replication_slots WHERE slot_name = $1",
                                 {slot}));
  if (PQntuples(r.get()) == 0) {
    return absl::NotFoundError(absl::StrCat("no replication slot named ", slot, " on this server"));
  }
  if (!PQgetisnull(r.get(), 0, 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "replication slot ", slot, " is in use by server process ", PQgetvalue(r.get(), 0, 0),
        ": stop the engine that streams from it (or take the source out of its "
        "config and restart it) first"));
  }
  const std::string held = PQgetisnull(r.get(), 0, 1) ? "no" : PQgetvalue(r.get(), 0, 1);
  SV_RETURN_IF_ERROR(link.Query("SELECT pg_drop_replication_slot($1)", {slot}).status());
  std::string done =
      absl::StrCat("dropped replication slot ", slot, " (it held ", held, " of WAL)");
  if (!publication.empty()) {
    SV_RETURN_IF_ERROR(
        link.Exec(absl::StrCat("DROP PUBLICATION IF EXISTS ", pg::QuoteIdent(publication))));
    absl::StrAppend(&done, " and publication ", publication);
  }
  return done;
}

}  // namespace sv::source
