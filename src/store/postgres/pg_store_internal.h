#pragma once
// The PostgreSQL backend's internals, shared by its files (one concern each):
//   pg_store.cc      session, transactions, locks, schema and migrations
//   pg_log_views.cc  the embedded log, view tables and versions, bulk loads
//   pg_reads.cc      reads and queries
//   pg_batch.cc      the write batch
// Private to store/postgres/.
//
// The PostgreSQL backend of the store interface (see store/store.h, store/postgres/pg_store.h).
//
// Layout: the engine's own tables live in `schema` (sv_meta, sv_log, sv_keys, sv_pending,
// sv_dead_letters, sv_dead_letter_outbox, sv_event_ids, sv_positions, sv_counters,
// sv_view_versions); views live in `view_schema` as ordinary tables `<view>__v<N>` (declared
// columns with native types, primary key, declared indexes) behind an SQL VIEW `<view>` that
// ActivateVersion redefines in one transaction (PostgreSQL DDL is transactional: readers see the
// old or the new definition).
//
// Writes: a Batch buffers rows per table, deduplicated by primary key (last write wins, a
// delete is a tombstone), and sends each table's rows as ONE statement over arrays —
// INSERT ... SELECT * FROM unnest($1::t1[], ...) ON CONFLICT DO UPDATE, or DELETE ... USING
// unnest(...) — inside one transaction with the gate state and positions. Operations whose
// order matters against the buffered rows (dead letters, pruning, clearing a source, a view
// swap) flush the buffers first. BulkInsert (rebuild) drops the fresh table's primary key and
// indexes, streams the rows with binary COPY, then builds them sorted.
//
// Reads use binary results (exact doubles and timestamps, no parsing); parameters are sent as
// text and typed by the server from their context.
//
// Connection loss: every call outside a transaction reconnects first when the connection is
// bad (one attempt; the caller's retry loop provides the backoff) and re-prepares its
// statements; a failure inside a transaction fails the batch with Unavailable, and the engine
// resumes from the stored positions.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "store/engine_schema.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_lock.h"
#include "store/postgres/pg_query.h"
#include "store/postgres/pg_store.h"
#include "store/sql_text.h"
#include "store/store.h"

namespace sv::store::pg_impl {

using pg::AdvisoryLock;
using pg::Conn;
using pg::Params;
using pg::QuoteIdent;
using pg::QuoteLiteral;
using pg::Result;
using pg::TakeAdvisoryLock;

// Advisory lock class of every StreamView lock ('SV'); the object id is hashtext(<name>).
constexpr int kLockClass = 0x5356;
// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPgEpochOffsetUs = 946'684'800'000'000;
constexpr size_t kCopyChunkBytes = 1 << 20;
// A batch's upserts into one table go through a COPY-loaded temporary table from this many on.
constexpr size_t kStageRows = 20'000;

// ---- Types

inline const char* SqlType(Type type) { return SqlDialect::Postgres().ColumnType(type); }

inline std::string FormatReal(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// A value as PostgreSQL text input, for a column of type `column` (kNull: by the value's own
// type). False for SQL NULL.
inline bool FormatValue(const Value& v, Type column, std::string* out) {
  if (v.is_null()) return false;
  if (column == Type::kNull) column = v.type();
  switch (column) {
    case Type::kBool:
      out->assign(1, (v.type() == Type::kReal ? v.as_real() != 0 : v.as_int() != 0) ? 't' : 'f');
      return true;
    case Type::kInt:
      if (v.type() == Type::kReal) {
        const double d = v.as_real();
        *out = d == std::floor(d) && std::abs(d) < 9e18 ? absl::StrCat(static_cast<int64_t>(d))
                                                        : FormatReal(d);
      } else if (v.type() == Type::kText) {
        *out = v.as_text();
      } else {
        *out = absl::StrCat(v.as_int());
      }
      return true;
    case Type::kReal:
      if (v.type() == Type::kText) {
        *out = v.as_text();
      } else {
        *out = FormatReal(v.as_number());
      }
      return true;
    case Type::kTime:
      if (v.type() == Type::kText) {
        *out = v.as_text();
      } else {
        *out = FormatTime(v.as_int());
      }
      return true;
    case Type::kInterval:
      if (v.type() == Type::kText) {
        *out = v.as_text();
      } else {
        *out =
            absl::StrCat(v.type() == Type::kReal ? static_cast<int64_t>(v.as_real()) : v.as_int());
      }
      return true;
    case Type::kText:
    case Type::kJson:
    case Type::kNull:
      *out = v.type() == Type::kText || v.type() == Type::kJson ? v.as_text() : v.ToString();
      return true;
  }
  return false;
}

inline std::optional<std::string> Param(const Value& v, Type column) {
  std::string s;
  if (!FormatValue(v, column, &s)) return std::nullopt;
  return s;
}

// Appends one binary COPY field (length + payload) of a column of type `column`.
inline void AppendCopyField(std::string* out, const Value& v, Type column, std::string* scratch) {
  if (v.is_null()) {
    pg::AppendInt32(out, -1);
    return;
  }
  switch (column) {
    case Type::kBool:
      pg::AppendInt32(out, 1);
      out->push_back((v.type() == Type::kReal ? v.as_real() != 0 : v.as_int() != 0) ? '\1' : '\0');
      return;
    case Type::kInt:
    case Type::kInterval:  // microseconds, as int8
      if (v.type() != Type::kText) {
        pg::AppendInt32(out, 8);
        pg::AppendInt64(out,
                        v.type() == Type::kReal ? static_cast<int64_t>(v.as_real()) : v.as_int());
        return;
      }
      break;
    case Type::kReal:
      if (v.type() != Type::kText) {
        pg::AppendInt32(out, 8);
        pg::AppendFloat64(out, v.as_number());
        return;
      }
      break;
    case Type::kTime:
      if (v.type() != Type::kText && v.type() != Type::kReal) {
        pg::AppendInt32(out, 8);
        pg::AppendInt64(out, v.as_int() - kPgEpochOffsetUs);
        return;
      }
      if (v.type() == Type::kText) {
        std::optional<int64_t> t = ParseTime(v.as_text());
        if (t) {
          pg::AppendInt32(out, 8);
          pg::AppendInt64(out, *t - kPgEpochOffsetUs);
          return;
        }
      }
      break;
    case Type::kJson: {  // jsonb's binary form: a version byte, then the text
      const std::string& text = v.type() == Type::kJson ? v.as_text() : (*scratch = v.ToString());
      pg::AppendInt32(out, static_cast<int32_t>(text.size() + 1));
      out->push_back('\1');
      out->append(text);
      return;
    }
    case Type::kText:
    case Type::kNull:
      break;
  }
  // Text payloads (and values a column's binary form cannot take: the server rejects them).
  const std::string& text = v.type() == Type::kText ? v.as_text() : (*scratch = v.ToString());
  pg::AppendInt32(out, static_cast<int32_t>(text.size()));
  out->append(text);
}

inline std::string Text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}
// Binary integer fields. NULL reads as 0 (nothing there); any other width than the type's
// means the column is not of the type the store created (an altered schema): an error, never
// a silent 0.
inline absl::Status FieldWidthError(const PGresult* r, int row, int col, int want) {
  const char* name = PQfname(r, col);
  return absl::DataLossError(absl::StrCat("postgres: column ", name != nullptr ? name : "?",
                                          " of row ", row, " is ", PQgetlength(r, row, col),
                                          " bytes, expected a ", want, "-byte integer"));
}
inline absl::StatusOr<int64_t> Int64(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  if (PQgetlength(r, row, col) != 8) return FieldWidthError(r, row, col, 8);
  return pg::ReadInt64(PQgetvalue(r, row, col));
}
inline absl::StatusOr<int32_t> Int32(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  if (PQgetlength(r, row, col) != 4) return FieldWidthError(r, row, col, 4);
  return pg::ReadInt32(PQgetvalue(r, row, col));
}
inline bool Bool(const PGresult* r, int row, int col) {
  return PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] != 0;
}

inline absl::Status ValidateSpec(const TableSpec& table) {
  return ValidateTableSpec(table, "postgres");
}

inline bool IsKey(const TableSpec& table, size_t c) {
  return std::find(table.key.begin(), table.key.end(), static_cast<int>(c)) != table.key.end();
}

// Whether a row of `table` has a NULL key value (TableSpec::key_nullable).
inline bool HasNullKey(const TableSpec& table, const Row& row) {
  if (!table.key_nullable) return false;
  for (int k : table.key) {
    if (row[k].is_null()) return true;
  }
  return false;
}

// "k1" = $n AND "k2" IS NULL ...: the key `value_of(k)` (one value per key column, by column
// index) as a WHERE clause, its non-NULL values appended to `params`. `IS NULL` for a NULL
// value: `=` would match nothing, and both stay indexable.
template <typename ValueOf>
std::string KeyMatch(const TableSpec& table, const ValueOf& value_of, Params* params) {
  std::string sql;
  for (size_t i = 0; i < table.key.size(); ++i) {
    const int k = table.key[i];
    absl::StrAppend(&sql, i > 0 ? " AND " : "", QuoteIdent(table.columns[k].name));
    const Value& v = value_of(i, k);
    if (v.is_null()) {
      sql += " IS NULL";
    } else {
      params->push_back(Param(v, table.columns[k].type));
      absl::StrAppend(&sql, " = $", params->size());
    }
  }
  return sql;
}

inline std::string PkName(const std::string& table) {
  return QuoteIdent(absl::StrCat(table, "__pk"));
}
inline std::string IndexName(const std::string& table, size_t i) {
  return QuoteIdent(absl::StrCat(table, "__i", i + 1));
}

// The engine's own tables as specs, so batches buffer and write them like view rows.
inline TableSpec EngineSpec(std::string name, std::vector<ColumnSpec> columns,
                            std::vector<int> key) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = std::move(columns);
  t.key = std::move(key);
  return t;
}

inline const TableSpec& KeysSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec("sv_keys",
                                                          {{"source", Type::kText},
                                                           {"key", Type::kText},
                                                           {"last_sequence", Type::kInt},
                                                           {"parked_on", Type::kInt}},
                                                          {0, 1}));
  return *spec;
}

inline const TableSpec& PendingSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec("sv_pending",
                                                          {{"source", Type::kText},
                                                           {"partition", Type::kInt},
                                                           {"position", Type::kInt},
                                                           {"key", Type::kText},
                                                           {"sequence", Type::kInt},
                                                           {"log_time_us", Type::kInt},
                                                           {"held", Type::kBool},
                                                           {"raw", Type::kText}},
                                                          {0, 1, 2}));
  return *spec;
}

inline const TableSpec& EventIdsSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec(
      "sv_event_ids",
      {{"source", Type::kText}, {"event_id", Type::kText}, {"position", Type::kInt}}, {0, 1}));
  return *spec;
}

inline const TableSpec& PositionsSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec(
      "sv_positions",
      {{"source", Type::kText}, {"partition", Type::kInt}, {"position", Type::kInt}}, {0, 1}));
  return *spec;
}

#define SV_PENDING_COLS R"(key, "partition", position, sequence, log_time_us, held, raw)"
#define SV_DEAD_LETTER_COLS \
  R"(id, source, "partition", position, key, reason, raw, created_us, state, parks_key)"

class PgStore;

// Rows buffered for one table within a batch.
struct TableWrites {
  TableSpec spec;
  std::string qualified;
  std::unordered_map<std::string, size_t> slot;  // encoded key -> index
  std::vector<Row> rows;
  std::vector<bool> deleted;
};

class PgBatch final : public Batch {
 public:
  explicit PgBatch(PgStore* store) : store_(store) {}
  ~PgBatch() override;

  absl::Status Upsert(const TableSpec& table, const Row& row) override;
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
  absl::StatusOr<std::optional<int64_t>> UpsertVersioned(const TableSpec& table, const Row& row,
                                                         int version_column,
                                                         std::optional<int64_t> expected) override;
  absl::StatusOr<bool> DeleteVersioned(const TableSpec& table, const Row& key, int version_column,
                                       std::optional<int64_t> expected) override;
  absl::Status UpsertRowsVersioned(const TableSpec& table, const std::vector<const Row*>& rows,
                                   int version_column) override;
  absl::StatusOr<bool> ClaimEventId(const std::string& source, const std::string& event_id,
                                    int64_t position) override;
  absl::Status ForgetEventId(const std::string& source, const std::string& event_id) override;
  absl::Status Commit() override;
  absl::Status Flush() override { return Begin(); }

  // Starts the transaction (first statement) and sends every buffered row, so that reads
  // through the Store inside the batch see the batch's own writes.
  absl::Status Begin();

 private:
  absl::Status Usable();
  void Release();
  TableWrites* Writes(const TableSpec& spec, bool engine_table);
  void Put(TableWrites* w, Row row, bool deleted);
  absl::Status SendBuffered();
  absl::Status FlushTable(TableWrites* w);
  absl::Status StageUpserts(TableWrites* w, const std::string& on_conflict);
  // Runs a write at once (after what is buffered) whose RETURNING yields one bigint.
  absl::StatusOr<std::optional<int64_t>> WriteReturningInt(const std::string& sql,
                                                           const std::vector<Value>& binds);
  // Runs one statement of the batch (through a statement prepared once per connection, unless
  // it is one-off SQL); a failure breaks the batch (PostgreSQL aborted it).
  absl::StatusOr<Result> Run(const std::string& sql, const Params& params, bool prepare = true);

  PgStore* store_;
  bool begun_ = false;
  bool finished_ = false;
  absl::Status broken_;
  std::map<std::string, TableWrites> writes_;  // by qualified name
  std::map<std::string, int64_t> counters_;
  std::string key_scratch_;
  int stages_ = 0;
};

class PgStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const PostgresOptions& options);
  ~PgStore() override;

  absl::Status Init() override;
  absl::StatusOr<int64_t> AppendLog(std::vector<LogRecord>* records) override;
  absl::Status ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) override;
  absl::StatusOr<int64_t> LogEnd() override;
  absl::StatusOr<bool> WaitForAppend(int timeout_ms) override;
  absl::StatusOr<LogOrgIndexMark> GetLogOrgIndexMark() override;
  absl::Status AddToLogOrgIndex(
      const LogOrgIndexMark& mark, bool restart,
      const std::vector<std::pair<std::string, std::string>>& org_keys) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfOrganization(const std::string& organization,
                                                                  int64_t until) override;
  absl::StatusOr<std::vector<int64_t>> LogPositionsOfKey(const std::string& key,
                                                         int64_t until) override;
  absl::Status ReadLogAt(const std::vector<int64_t>& positions,
                         std::vector<LogRecord>* out) override;
  absl::Status CreateTable(const TableSpec& table) override;
  absl::Status DropTable(const std::string& table) override;
  absl::StatusOr<std::vector<ViewVersion>> ListViewVersions() override;
  absl::Status RecordViewVersion(const ViewVersion& version) override;
  absl::Status DropViewVersion(const ViewVersion& version) override;
  absl::Status WithViewSetupLock(const std::function<absl::Status()>& fn) override;
  absl::Status ActivateVersion(const std::string& view, int64_t version,
                               const std::string& table) override;
  absl::Status BulkInsert(const TableSpec& table,
                          const std::function<const Row*()>& next_row) override;
  absl::StatusOr<std::optional<Row>> GetRow(const TableSpec& table, const Row& key) override;
  absl::StatusOr<std::vector<Row>> GetRows(const TableSpec& table,
                                           const std::vector<Row>& keys) override;
  absl::StatusOr<std::vector<KeyState>> GetKeyStates(const std::string& source,
                                                     const std::vector<std::string>& keys) override;
  bool ReadsAreRoundTrips() const override { return true; }
  absl::StatusOr<std::optional<KeyState>> GetKeyState(const std::string& source,
                                                      const std::string& key) override;
  absl::StatusOr<std::vector<std::string>> ListParkedKeys(const std::string& source) override;
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
  absl::StatusOr<std::vector<Row>> QueryView(const TableSpec& table,
                                             const ViewQuery& query) override;
  absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> AllPositions() override;
  absl::Status ScanTable(const TableSpec& table,
                         const std::function<void(const Row&)>& each) override;
  absl::Status QuerySelect(const std::string& select_sql, const std::vector<ColumnSpec>& columns,
                           const std::function<void(const Row&)>& each) override;
  std::unique_ptr<Batch> BeginBatch() override;
  void Interrupt() override { interrupted_.store(true); }

  // ---- Used by PgBatch
  Conn& conn() { return conn_; }
  const std::string& schema() const { return schema_q_; }
  std::string Engine(absl::string_view table) const { return absl::StrCat(schema_q_, ".", table); }
  std::string ViewTable(absl::string_view table) const {
    return absl::StrCat(view_schema_q_, ".", QuoteIdent(table));
  }
  // Reconnects when the connection is bad and no transaction is open.
  absl::Status EnsureConnected();
  absl::Status BeginTxn();
  absl::Status CommitTxn();
  void RollbackTxn();
  absl::Status ActivateInTxn(const std::string& view, int64_t version, const std::string& table);
  bool read_only() const { return options_.read_only; }
  bool shared() const { return options_.shared; }
  absl::Status LockDeadLetterIds() {
    return conn_.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kLockClass, ", hashtext(",
                                   LockName("dead_letters"), "))"));
  }
  // The batch whose writes this Store's connection carries (one at a time).
  PgBatch* owner = nullptr;

 private:
  explicit PgStore(PostgresOptions options);

  absl::Status AcquireEngineLock();
  std::chrono::milliseconds LockWait() const {
    return std::chrono::milliseconds(options_.engine_lock_wait_ms);
  }
  absl::Status LockPartitions(const std::string& source,
                              const std::vector<int32_t>& partitions) override;
  absl::Status UnlockPartitions(const std::string& source) override;
  absl::StatusOr<PartitionLock> TryLockPartition(const std::string& source,
                                                 int32_t partition) override;
  absl::Status UnlockPartition(const std::string& source, int32_t partition) override;
  absl::Status RelockPartitions();
  template <typename F>
  absl::Status InTxn(F&& fn);
  absl::StatusOr<Result> Query(const std::string& sql, const Params& params = {});
  absl::Status ReadRow(const PGresult* r, int row, const TableSpec& table, Row* out);
  absl::StatusOr<std::vector<PendingEvent>> ReadPending(const PGresult* r);
  absl::StatusOr<std::vector<DeadLetter>> ReadDeadLetters(const PGresult* r);
  std::string LockName(absl::string_view what) const {
    return QuoteLiteral(absl::StrCat(options_.schema, ":", what));
  }
  // The channel appends to this schema's log notify (LISTEN/NOTIFY).
  std::string LogChannel() const { return QuoteIdent(absl::StrCat(options_.schema, ":log")); }
  int64_t listening_generation_ = -1;  // the connection generation LISTEN ran on

  PostgresOptions options_;
  std::vector<std::pair<std::string, int32_t>>
      partition_locks_;  // held, to take again on reconnect
  std::string schema_q_;
  std::string view_schema_q_;
  Conn conn_;
  std::atomic<bool> interrupted_{false};  // Interrupt(): scans stop (checked between rows)
  bool in_txn_ = false;
};

template <typename F>
absl::Status PgStore::InTxn(F&& fn) {
  SV_RETURN_IF_ERROR(BeginTxn());
  absl::Status status = fn();
  if (!status.ok()) {
    RollbackTxn();
    return status;
  }
  return CommitTxn();
}

}  // namespace sv::store::pg_impl
