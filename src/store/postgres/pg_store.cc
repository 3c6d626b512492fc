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

#include "store/postgres/pg_store.h"

#include <algorithm>
#include <array>
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
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_lock.h"
#include "store/postgres/pg_query.h"
#include "store/sql_text.h"
#include "store/store.h"

namespace sv::store {
namespace {

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

// ---- Schema: kMigrations[v] takes the engine schema from version v to v + 1 ({S} is the
// quoted engine schema). Append new steps; never edit an old one.
constexpr int kSchemaVersion = 2;
constexpr std::array<const char*, kSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE {S}.sv_log(
  position bigint PRIMARY KEY,
  log_time_us bigint NOT NULL,
  key text NOT NULL,
  raw text NOT NULL);
CREATE TABLE {S}.sv_keys(
  source text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  last_sequence bigint NOT NULL,
  parked_on bigint NOT NULL,
  PRIMARY KEY(source, key));
CREATE TABLE {S}.sv_pending(
  source text COLLATE "C" NOT NULL,
  "partition" integer NOT NULL,
  position bigint NOT NULL,
  key text COLLATE "C" NOT NULL,
  sequence bigint NOT NULL,
  log_time_us bigint NOT NULL,
  held boolean NOT NULL,
  raw text NOT NULL,
  PRIMARY KEY(source, "partition", position));
CREATE INDEX sv_pending__by_key ON {S}.sv_pending(source, key, held, sequence, position);
CREATE TABLE {S}.sv_dead_letters(
  id bigint PRIMARY KEY,
  source text COLLATE "C" NOT NULL,
  "partition" integer NOT NULL,
  position bigint NOT NULL,
  key text NOT NULL,
  reason text NOT NULL,
  raw text NOT NULL,
  created_us bigint NOT NULL,
  state text NOT NULL CHECK(state IN ('open', 'replayed', 'discarded')),
  parks_key boolean NOT NULL);
CREATE UNIQUE INDEX sv_dead_letters__by_position
  ON {S}.sv_dead_letters(source, "partition", position);
CREATE TABLE {S}.sv_event_ids(
  source text COLLATE "C" NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  position bigint NOT NULL,
  PRIMARY KEY(source, event_id));
CREATE INDEX sv_event_ids__by_position ON {S}.sv_event_ids(source, position);
CREATE TABLE {S}.sv_positions(
  source text COLLATE "C" NOT NULL,
  "partition" integer NOT NULL,
  position bigint NOT NULL,
  PRIMARY KEY(source, "partition"));
CREATE TABLE {S}.sv_counters(
  name text COLLATE "C" PRIMARY KEY,
  value bigint NOT NULL);
CREATE TABLE {S}.sv_view_versions(
  view text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  table_name text NOT NULL,
  definition_hash text NOT NULL,
  active boolean NOT NULL,
  PRIMARY KEY(view, version));
)sql",
    // 1 -> 2: the dead-letter outbox (dead letters whose topic copy is not yet confirmed).
    R"sql(
CREATE TABLE IF NOT EXISTS {S}.sv_dead_letter_outbox(id bigint PRIMARY KEY);
)sql",
};

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  size_t at = 0;
  while ((at = text.find(from, at)) != std::string::npos) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

// ---- Types

absl::string_view SqlType(Type type) {
  switch (type) {
    case Type::kText:
      return "text";
    case Type::kInt:
      return "bigint";
    case Type::kReal:
      return "double precision";
    case Type::kBool:
      return "boolean";
    case Type::kTime:
      return "timestamptz";
    case Type::kInterval:
      return "bigint";  // microseconds, exact (an interval's text form is lossy at the extremes)
    case Type::kNull:
      break;
  }
  return "text";
}

std::string FormatReal(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// A value as PostgreSQL text input, for a column of type `column` (kNull: by the value's own
// type). False for SQL NULL.
bool FormatValue(const Value& v, Type column, std::string* out) {
  if (v.is_null()) return false;
  if (column == Type::kNull) column = v.type();
  switch (column) {
    case Type::kBool:
      *out = (v.type() == Type::kReal ? v.as_real() != 0 : v.as_int() != 0) ? "t" : "f";
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
    case Type::kNull:
      *out = v.type() == Type::kText ? v.as_text() : v.ToString();
      return true;
  }
  return false;
}

std::optional<std::string> Param(const Value& v, Type column) {
  std::string s;
  if (!FormatValue(v, column, &s)) return std::nullopt;
  return s;
}

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

// Appends one binary COPY field (length + payload) of a column of type `column`.
void AppendCopyField(std::string* out, const Value& v, Type column, std::string* scratch) {
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
    case Type::kInterval:
      if (v.type() != Type::kText) {
        pg::AppendInt32(out, 8);
        pg::AppendInt64(out,
                        v.type() == Type::kReal ? static_cast<int64_t>(v.as_real()) : v.as_int());
        return;
      }
      break;
    case Type::kText:
    case Type::kNull:
      break;
  }
  // Text payloads (and values a column's binary form cannot take: the server rejects them).
  const std::string& text = v.type() == Type::kText ? v.as_text() : (*scratch = v.ToString());
  pg::AppendInt32(out, static_cast<int32_t>(text.size()));
  out->append(text);
}

// Reads a binary result field of a column declared `declared`.
bool ReadField(const PGresult* r, int row, int col, Type declared, Value* out) {
  if (PQgetisnull(r, row, col)) {
    *out = Value::Null();
    return true;
  }
  const char* p = PQgetvalue(r, row, col);
  const int len = PQgetlength(r, row, col);
  switch (declared) {
    case Type::kInt:
      if (len != 8) return false;
      *out = Value::Int(pg::ReadInt64(p));
      return true;
    case Type::kReal:
      if (len != 8) return false;
      *out = Value::Real(pg::ReadFloat64(p));
      return true;
    case Type::kBool:
      if (len != 1) return false;
      *out = Value::Bool(p[0] != 0);
      return true;
    case Type::kTime:
      if (len != 8) return false;
      *out = Value::Time(pg::ReadInt64(p) + kPgEpochOffsetUs);
      return true;
    case Type::kInterval:
      if (len != 8) return false;
      *out = Value::Interval(pg::ReadInt64(p));
      return true;
    case Type::kText:
    case Type::kNull:
      *out = Value::Text(std::string(p, len));
      return true;
  }
  return false;
}

std::string Text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}
// Binary integer fields. NULL reads as 0 (nothing there); any other width than the type's
// means the column is not of the type the store created (an altered schema): an error, never
// a silent 0.
absl::Status FieldWidthError(const PGresult* r, int row, int col, int want) {
  const char* name = PQfname(r, col);
  return absl::DataLossError(absl::StrCat("postgres: column ", name != nullptr ? name : "?",
                                          " of row ", row, " is ", PQgetlength(r, row, col),
                                          " bytes, expected a ", want, "-byte integer"));
}
absl::StatusOr<int64_t> Int64(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  if (PQgetlength(r, row, col) != 8) return FieldWidthError(r, row, col, 8);
  return pg::ReadInt64(PQgetvalue(r, row, col));
}
absl::StatusOr<int32_t> Int32(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  if (PQgetlength(r, row, col) != 4) return FieldWidthError(r, row, col, 4);
  return pg::ReadInt32(PQgetvalue(r, row, col));
}
bool Bool(const PGresult* r, int row, int col) {
  return PQgetlength(r, row, col) == 1 && PQgetvalue(r, row, col)[0] != 0;
}

absl::Status ValidateSpec(const TableSpec& table) { return ValidateTableSpec(table, "postgres"); }

bool IsKey(const TableSpec& table, size_t c) {
  return std::find(table.key.begin(), table.key.end(), static_cast<int>(c)) != table.key.end();
}

std::string PkName(const std::string& table) { return QuoteIdent(absl::StrCat(table, "__pk")); }
std::string IndexName(const std::string& table, size_t i) {
  return QuoteIdent(absl::StrCat(table, "__i", i + 1));
}

// The engine's own tables as specs, so batches buffer and write them like view rows.
TableSpec EngineSpec(std::string name, std::vector<ColumnSpec> columns, std::vector<int> key) {
  TableSpec t;
  t.name = std::move(name);
  t.columns = std::move(columns);
  t.key = std::move(key);
  return t;
}

const TableSpec& KeysSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec("sv_keys",
                                                          {{"source", Type::kText},
                                                           {"key", Type::kText},
                                                           {"last_sequence", Type::kInt},
                                                           {"parked_on", Type::kInt}},
                                                          {0, 1}));
  return *spec;
}

const TableSpec& PendingSpec() {
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

const TableSpec& EventIdsSpec() {
  static const TableSpec* spec = new TableSpec(EngineSpec(
      "sv_event_ids",
      {{"source", Type::kText}, {"event_id", Type::kText}, {"position", Type::kInt}}, {0, 1}));
  return *spec;
}

const TableSpec& PositionsSpec() {
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
  absl::Status Commit() override;

  // Starts the transaction (first statement) and sends every buffered row, so that reads
  // through the Store inside the batch see the batch's own writes.
  absl::Status Begin();

 private:
  absl::Status Usable();
  void Release();
  TableWrites* Writes(const TableSpec& spec, bool engine_table);
  void Put(TableWrites* w, Row row, bool deleted);
  absl::Status Flush();
  absl::Status FlushTable(TableWrites* w);
  absl::Status StageUpserts(TableWrites* w, const std::string& on_conflict);
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
  absl::StatusOr<std::optional<KeyState>> GetKeyState(const std::string& source,
                                                      const std::string& key) override;
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

  PostgresOptions options_;
  std::vector<std::pair<std::string, int32_t>>
      partition_locks_;  // held, to take again on reconnect
  std::string schema_q_;
  std::string view_schema_q_;
  Conn conn_;
  bool in_txn_ = false;
};

std::vector<std::string> SessionSql(const PostgresOptions& options) {
  std::vector<std::string> out = {
      // jit: the engine's statements are short; compiling one costs more than running it.
      "SET TimeZone = 'UTC'; SET client_min_messages = warning; "
      "SET application_name = 'streamview'; SET jit = off",
      // Derived views' SELECTs (QuerySelect, ReplaceWithSelect) name views unqualified; every
      // statement of the store itself qualifies its tables.
      absl::StrCat("SET search_path = ", QuoteIdent(options.view_schema), ", public")};
  if (options.read_only) out.push_back("SET default_transaction_read_only = on");
  if (options.bulk_mode) out.push_back("SET maintenance_work_mem = '1GB'");
  return out;
}

PgStore::PgStore(PostgresOptions options)
    : options_(std::move(options)),
      schema_q_(QuoteIdent(options_.schema)),
      view_schema_q_(QuoteIdent(options_.view_schema)),
      conn_(options_.dsn, SessionSql(options_)) {}

PgStore::~PgStore() {
  if (in_txn_) RollbackTxn();
}

absl::StatusOr<std::unique_ptr<Store>> PgStore::Open(const PostgresOptions& options) {
  if (options.dsn.empty()) {
    return absl::InvalidArgumentError("postgres: no connection string (store.dsn or dsn_env)");
  }
  if (options.schema.empty() || options.view_schema.empty()) {
    return absl::InvalidArgumentError("postgres: schema names must not be empty");
  }
  if (options.schema == options.view_schema) {
    return absl::InvalidArgumentError(absl::StrCat(
        "postgres: the engine schema and the view schema must differ (both ", options.schema, ")"));
  }
  std::unique_ptr<PgStore> store(new PgStore(options));
  SV_RETURN_IF_ERROR(store->conn_.Connect());
  SV_RETURN_IF_ERROR(store->AcquireEngineLock());
  return store;
}

absl::Status PgStore::AcquireEngineLock() {
  if (!options_.engine_lock) return absl::OkStatus();
  const AdvisoryLock lock{std::to_string(kLockClass),
                          absl::StrCat("hashtext(", LockName("engine"), ")"),
                          absl::StrCat("engine lock of schema ", options_.schema)};
  std::string holder;
  SV_ASSIGN_OR_RETURN(bool taken, TakeAdvisoryLock(conn_, lock, LockWait(), &holder));
  if (taken) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "postgres: another streamview engine (run, rebuild or dlq) is writing schema ",
      options_.schema, " (server process ", holder, "; waited ", options_.engine_lock_wait_ms,
      " ms for it to end); stop it first: two engines on one schema would corrupt each other's "
      "positions"));
}

absl::Status PgStore::EnsureConnected() {
  if (conn_.ok()) return absl::OkStatus();
  if (in_txn_) {
    return absl::UnavailableError("postgres: connection lost inside a transaction");
  }
  SV_RETURN_IF_ERROR(conn_.Connect());
  SV_RETURN_IF_ERROR(AcquireEngineLock());
  return RelockPartitions();
}

// Session advisory locks keyed (schema:source, partition).
absl::Status PgStore::LockPartitions(const std::string& source,
                                     const std::vector<int32_t>& partitions) {
  SV_RETURN_IF_ERROR(EnsureConnected());
  // Called from the consumer's rebalance callback: wait for the previous owner bounded.
  for (int32_t p : partitions) {
    const AdvisoryLock lock{
        absl::StrCat("hashtext(", LockName(absl::StrCat("partition:", source)), ")"),
        std::to_string(p), absl::StrCat("partition ", p, " of source ", source)};
    std::string holder;
    SV_ASSIGN_OR_RETURN(bool taken, TakeAdvisoryLock(conn_, lock, LockWait(), &holder));
    if (!taken) {
      return absl::UnavailableError(
          absl::StrCat("postgres: ", lock.label, " is still held by another engine's session (",
                       holder, ") after ", options_.engine_lock_wait_ms, " ms"));
    }
    partition_locks_.emplace_back(source, p);
  }
  return absl::OkStatus();
}

absl::Status PgStore::UnlockPartitions(const std::string& source) {
  std::vector<std::pair<std::string, int32_t>> kept;
  for (const auto& [s, p] : partition_locks_) {
    if (s != source) {
      kept.emplace_back(s, p);
      continue;
    }
    if (conn_.ok()) {
      SV_RETURN_IF_ERROR(
          conn_.Exec(absl::StrCat("SELECT pg_advisory_unlock(hashtext(",
                                  LockName(absl::StrCat("partition:", s)), "), ", p, ")")));
    }
  }
  partition_locks_ = std::move(kept);
  return absl::OkStatus();
}

absl::StatusOr<Store::PartitionLock> PgStore::TryLockPartition(const std::string& source,
                                                               int32_t partition) {
  if (!options_.shared) return PartitionLock::kAlreadyHeld;  // the engine lock fences
  for (const auto& [s, p] : partition_locks_) {
    if (s == source && p == partition) return PartitionLock::kAlreadyHeld;
  }
  SV_RETURN_IF_ERROR(EnsureConnected());
  SV_ASSIGN_OR_RETURN(
      Result r,
      conn_.Query(absl::StrCat("SELECT pg_try_advisory_lock(hashtext(",
                               LockName(absl::StrCat("partition:", source)), "), ", partition, ")"),
                  {}));
  if (PQntuples(r.get()) != 1 || !Bool(r.get(), 0, 0)) return PartitionLock::kHeldElsewhere;
  partition_locks_.emplace_back(source, partition);
  return PartitionLock::kTaken;
}

absl::Status PgStore::UnlockPartition(const std::string& source, int32_t partition) {
  auto it = std::find(partition_locks_.begin(), partition_locks_.end(),
                      std::make_pair(source, partition));
  if (it == partition_locks_.end()) return absl::OkStatus();
  partition_locks_.erase(it);
  if (!conn_.ok()) return absl::OkStatus();  // a lost session holds nothing
  return conn_.Exec(absl::StrCat("SELECT pg_advisory_unlock(hashtext(",
                                 LockName(absl::StrCat("partition:", source)), "), ", partition,
                                 ")"));
}

// A new connection holds nothing: take the partitions again before writing for them.
absl::Status PgStore::RelockPartitions() {
  auto held = std::move(partition_locks_);
  partition_locks_.clear();
  for (const auto& [s, p] : held) SV_RETURN_IF_ERROR(LockPartitions(s, {p}));
  return absl::OkStatus();
}

absl::StatusOr<Result> PgStore::Query(const std::string& sql, const Params& params) {
  if (owner != nullptr) SV_RETURN_IF_ERROR(owner->Begin());
  SV_RETURN_IF_ERROR(EnsureConnected());
  return conn_.Prepared(sql, params);
}

absl::Status PgStore::BeginTxn() {
  if (in_txn_) {
    return absl::FailedPreconditionError(
        "postgres: BEGIN: a transaction (an uncommitted Batch?) is already open on this Store");
  }
  if (options_.read_only) {
    return absl::FailedPreconditionError("postgres: cannot write: the store was opened read-only");
  }
  SV_RETURN_IF_ERROR(EnsureConnected());
  SV_RETURN_IF_ERROR(conn_.Exec("BEGIN"));
  in_txn_ = true;
  return absl::OkStatus();
}

absl::Status PgStore::CommitTxn() {
  absl::StatusOr<Result> r = conn_.Query("COMMIT", {}, true);
  in_txn_ = false;
  if (!r.ok()) return r.status();
  // COMMIT of a transaction that failed earlier reports ROLLBACK instead of an error.
  if (absl::string_view(PQcmdStatus(r->get())) != "COMMIT") {
    return absl::AbortedError("postgres: COMMIT: the transaction had failed and was rolled back");
  }
  return absl::OkStatus();
}

void PgStore::RollbackTxn() {
  if (!in_txn_) return;
  in_txn_ = false;
  if (conn_.ok()) conn_.Exec("ROLLBACK").IgnoreError();
}

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

// ---- Init

absl::Status PgStore::Init() {
  SV_RETURN_IF_ERROR(EnsureConnected());
  const std::string meta = Engine("sv_meta");
  if (options_.read_only) {
    absl::StatusOr<Result> r = conn_.Query(
        absl::StrCat("SELECT value FROM ", meta, " WHERE name = 'schema_version'"), {}, true);
    int64_t version = 0;
    if (r.ok() && PQntuples(r->get()) == 1) version = std::atoll(PQgetvalue(r->get(), 0, 0));
    if (!r.ok() && !absl::IsNotFound(r.status())) return r.status();
    if (version != kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres: read-only store: schema ", options_.schema, " is at version ", version,
          ", this binary needs ", kSchemaVersion, " (a writer initializes it)"));
    }
    return absl::OkStatus();
  }
  return InTxn([&]() -> absl::Status {
    // Serializes concurrent Inits (CREATE ... IF NOT EXISTS races otherwise).
    SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat(
        "SELECT pg_advisory_xact_lock(", kLockClass, ", hashtext(", LockName("init"),
        "));\nCREATE SCHEMA IF NOT EXISTS ", schema_q_, ";\nCREATE SCHEMA IF NOT EXISTS ",
        view_schema_q_, ";\nCREATE TABLE IF NOT EXISTS ", meta,
        "(name text PRIMARY KEY, value text NOT NULL)")));
    SV_ASSIGN_OR_RETURN(Result r,
                        conn_.Query(absl::StrCat("SELECT value FROM ", meta,
                                                 " WHERE name = 'schema_version' FOR UPDATE"),
                                    {}, true));
    const int64_t version = PQntuples(r.get()) == 1 ? std::atoll(PQgetvalue(r.get(), 0, 0)) : 0;
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("postgres: schema ", options_.schema, " is at version ", version,
                       ", newer than this binary supports (", kSchemaVersion, ")"));
    }
    if (version == kSchemaVersion) return absl::OkStatus();
    for (int64_t v = std::max<int64_t>(version, 0); v < kSchemaVersion; ++v) {
      SV_RETURN_IF_ERROR(conn_.Exec(ReplaceAll(kMigrations[v], "{S}", schema_q_)));
    }
    return conn_.Exec(absl::StrCat("INSERT INTO ", meta, "(name, value) VALUES('schema_version', '",
                                   kSchemaVersion,
                                   "') ON CONFLICT(name) DO UPDATE SET value = excluded.value"));
  });
}

// ---- Embedded log

absl::StatusOr<int64_t> PgStore::AppendLog(std::vector<LogRecord>* records) {
  if (records->empty()) return LogEnd();
  const int64_t now = Clock::Real()->NowMicros();
  int64_t first = 0;
  SV_RETURN_IF_ERROR(InTxn([&]() -> absl::Status {
    // Appends are serialized by a transaction-scoped lock taken before positions are chosen,
    // so they commit in position order: a reader that sees position p has seen everything
    // before it, and never skips a position that commits later.
    SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kLockClass,
                                               ", hashtext(", LockName("log"), "))")));
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

absl::Status PgStore::ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) {
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
    parts.push_back(absl::StrCat(QuoteIdent(col), desc ? " DESC" : " ASC"));
  }
  return absl::StrCat("CREATE INDEX ", IndexName(table.name, i), " ON ", qualified, "(",
                      absl::StrJoin(parts, ", "), ")");
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
                    IsKey(table, i) ? " NOT NULL" : "");
  }
  absl::StrAppend(&sql, ", CONSTRAINT ", PkName(table.name), " PRIMARY KEY(", KeyList(table),
                  "));\n");
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
                      Query(absl::StrCat("SELECT view, version, table_name, "
                                         "definition_hash, active FROM ",
                                         Engine("sv_view_versions"), " ORDER BY view, version")));
  std::vector<ViewVersion> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    ViewVersion& v = out.emplace_back();
    v.view = Text(r.get(), i, 0);
    SV_ASSIGN_OR_RETURN(v.version, Int64(r.get(), i, 1));
    v.table = Text(r.get(), i, 2);
    v.definition_hash = Text(r.get(), i, 3);
    v.active = Bool(r.get(), i, 4);
  }
  return out;
}

absl::Status PgStore::RecordViewVersion(const ViewVersion& version) {
  return InTxn([&]() -> absl::Status {
    return conn_
        .Prepared(absl::StrCat("INSERT INTO ", Engine("sv_view_versions"),
                               "(view, version, table_name, definition_hash, active) "
                               "VALUES($1, $2, $3, $4, $5) ON CONFLICT(view, version) DO UPDATE "
                               "SET table_name = excluded.table_name, definition_hash = "
                               "excluded.definition_hash, active = excluded.active"),
                  {version.view, absl::StrCat(version.version), version.table,
                   version.definition_hash, std::string(version.active ? "t" : "f")})
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
    return conn_.Exec(absl::StrCat("DROP TABLE IF EXISTS ", ViewTable(version.table), " CASCADE;\n",
                                   "DELETE FROM ", Engine("sv_view_versions"),
                                   " WHERE view = ", QuoteLiteral(version.view),
                                   " AND version = ", version.version, " AND NOT active"));
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
    std::string pre = absl::StrCat("SET LOCAL synchronous_commit = off;\nALTER TABLE ", name,
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
    std::string post = absl::StrCat("ALTER TABLE ", name, " ADD CONSTRAINT ", PkName(table.name),
                                    " PRIMARY KEY(", KeyList(table), ");\n");
    for (size_t i = 0; i < table.indexes.size(); ++i) {
      absl::StrAppend(&post, CreateIndexSql(table, name, i), ";\n");
    }
    absl::StrAppend(&post, "ANALYZE ", name);
    return conn_.Exec(post);
  });
}

// ---- Reads

absl::Status PgStore::ReadRow(const PGresult* r, int row, const TableSpec& table, Row* out) {
  out->resize(table.columns.size());
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (!ReadField(r, row, static_cast<int>(c), table.columns[c].type, &(*out)[c])) {
      return absl::DataLossError(absl::StrCat("postgres: ", table.name, ".", table.columns[c].name,
                                              ": unexpected binary value of ",
                                              PQgetlength(r, row, static_cast<int>(c)),
                                              " bytes for type ", SqlType(table.columns[c].type)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Row>> PgStore::GetRow(const TableSpec& table, const Row& key) {
  if (key.size() != table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: get from ", table.name, ": key has ",
                                                   key.size(), " values, table key has ",
                                                   table.key.size()));
  }
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::string sql =
      absl::StrCat("SELECT ", ColumnList(table), " FROM ", ViewTable(table.name), " WHERE ");
  Params params;
  for (size_t i = 0; i < table.key.size(); ++i) {
    const ColumnSpec& col = table.columns[table.key[i]];
    absl::StrAppend(&sql, i > 0 ? " AND " : "", QuoteIdent(col.name), " = $", i + 1);
    params.push_back(Param(key[i], col.type));
  }
  SV_ASSIGN_OR_RETURN(Result r, Query(sql, params));
  if (PQntuples(r.get()) == 0) return std::optional<Row>();
  Row row;
  SV_RETURN_IF_ERROR(ReadRow(r.get(), 0, table, &row));
  return std::optional<Row>(std::move(row));
}

absl::StatusOr<std::optional<KeyState>> PgStore::GetKeyState(const std::string& source,
                                                             const std::string& key) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT last_sequence, parked_on FROM ", Engine("sv_keys"),
                                         " WHERE source = $1 AND key = $2"),
                            {source, key}));
  if (PQntuples(r.get()) == 0) return std::optional<KeyState>();
  KeyState state;
  state.key = key;
  SV_ASSIGN_OR_RETURN(state.last_sequence, Int64(r.get(), 0, 0));
  SV_ASSIGN_OR_RETURN(state.parked_on, Int64(r.get(), 0, 1));
  return std::optional<KeyState>(std::move(state));
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::ReadPending(const PGresult* r) {
  std::vector<PendingEvent> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    PendingEvent& e = out.emplace_back();
    e.key = Text(r, i, 0);
    SV_ASSIGN_OR_RETURN(e.partition, Int32(r, i, 1));
    SV_ASSIGN_OR_RETURN(e.position, Int64(r, i, 2));
    SV_ASSIGN_OR_RETURN(e.sequence, Int64(r, i, 3));
    SV_ASSIGN_OR_RETURN(e.log_time_us, Int64(r, i, 4));
    e.held = Bool(r, i, 5);
    e.raw = Text(r, i, 6);
  }
  return out;
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::GetPending(const std::string& source,
                                                              const std::string& key) {
  SV_ASSIGN_OR_RETURN(
      Result r, Query(absl::StrCat("SELECT " SV_PENDING_COLS " FROM ", Engine("sv_pending"),
                                   " WHERE source = $1 AND key = $2 ORDER BY held, "
                                   "CASE WHEN held THEN position ELSE sequence END, position"),
                      {source, key}));
  return ReadPending(r.get());
}

absl::StatusOr<std::vector<PendingEvent>> PgStore::ListPending(const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT " SV_PENDING_COLS " FROM ", Engine("sv_pending"),
                                         " WHERE source = $1 ORDER BY \"partition\", "
                                         "position"),
                            {source}));
  return ReadPending(r.get());
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> PgStore::LoadEventIds(
    const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT event_id, position FROM ", Engine("sv_event_ids"),
                                         " WHERE source = $1 ORDER BY position, event_id"),
                            {source}));
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int64_t position, Int64(r.get(), i, 1));
    out.emplace_back(Text(r.get(), i, 0), position);
  }
  return out;
}

absl::StatusOr<std::map<int32_t, int64_t>> PgStore::GetPositions(const std::string& source) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT \"partition\", position FROM ",
                                                   Engine("sv_positions"), " WHERE source = $1"),
                                      {source}));
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int32_t partition, Int32(r.get(), i, 0));
    SV_ASSIGN_OR_RETURN(out[partition], Int64(r.get(), i, 1));
  }
  return out;
}

absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> PgStore::AllPositions() {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT source, \"partition\", position FROM ",
                                                   Engine("sv_positions"))));
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(int32_t partition, Int32(r.get(), i, 1));
    SV_ASSIGN_OR_RETURN(out[std::make_pair(Text(r.get(), i, 0), partition)], Int64(r.get(), i, 2));
  }
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> PgStore::GetCounters() {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT name, value FROM ", Engine("sv_counters"))));
  std::map<std::string, int64_t> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_ASSIGN_OR_RETURN(out[Text(r.get(), i, 0)], Int64(r.get(), i, 1));
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ReadDeadLetters(const PGresult* r) {
  std::vector<DeadLetter> out;
  for (int i = 0; i < PQntuples(r); ++i) {
    DeadLetter& dl = out.emplace_back();
    SV_ASSIGN_OR_RETURN(dl.id, Int64(r, i, 0));
    dl.source = Text(r, i, 1);
    SV_ASSIGN_OR_RETURN(dl.partition, Int32(r, i, 2));
    SV_ASSIGN_OR_RETURN(dl.position, Int64(r, i, 3));
    dl.key = Text(r, i, 4);
    dl.reason = Text(r, i, 5);
    dl.raw = Text(r, i, 6);
    SV_ASSIGN_OR_RETURN(dl.created_us, Int64(r, i, 7));
    dl.state = ParseDeadLetterState(Text(r, i, 8));
    dl.parks_key = Bool(r, i, 9);
  }
  return out;
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ListDeadLetters(bool only_open) {
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ", Engine("sv_dead_letters"),
                         only_open ? " WHERE state = 'open'" : "", " ORDER BY id")));
  return ReadDeadLetters(r.get());
}

absl::StatusOr<std::optional<DeadLetter>> PgStore::GetDeadLetter(int64_t id) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ",
                                                   Engine("sv_dead_letters"), " WHERE id = $1"),
                                      {absl::StrCat(id)}));
  SV_ASSIGN_OR_RETURN(std::vector<DeadLetter> found, ReadDeadLetters(r.get()));
  if (found.empty()) return std::optional<DeadLetter>();
  return std::optional<DeadLetter>(std::move(found.front()));
}

absl::StatusOr<std::vector<DeadLetter>> PgStore::ListDeadLetterOutbox(const std::string& source) {
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT " SV_DEAD_LETTER_COLS " FROM ", Engine("sv_dead_letters"),
                         " WHERE source = $1 AND id IN (SELECT id FROM ",
                         Engine("sv_dead_letter_outbox"), ") ORDER BY id"),
            {source}));
  return ReadDeadLetters(r.get());
}

absl::Status PgStore::DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return Query(absl::StrCat("DELETE FROM ", Engine("sv_dead_letter_outbox"),
                            " WHERE id = ANY($1::bigint[])"),
               {absl::StrCat("{", absl::StrJoin(ids, ","), "}")})
      .status();
}

// Whether a text value reads as a value of a column of type `type` (SQLite compares it by
// the column's affinity then; PostgreSQL would refuse the query).
bool TextFits(const std::string& text, Type type) {
  switch (type) {
    case Type::kInt:
    case Type::kInterval: {
      int64_t i = 0;
      return absl::SimpleAtoi(text, &i);
    }
    case Type::kReal: {
      double d = 0;
      return absl::SimpleAtod(text, &d);
    }
    case Type::kTime:
      return ParseTime(text).has_value();
    case Type::kBool:
      return text == "0" || text == "1" || text == "true" || text == "false";
    case Type::kText:
    case Type::kNull:
      return true;
  }
  return true;
}

absl::StatusOr<std::vector<Row>> PgStore::QueryView(const TableSpec& table,
                                                    const ViewQuery& original) {
  // A filter value that cannot be a value of its column matches no row (as in SQLite, where a
  // number never equals text): such values leave an IN list, and a comparison with one
  // becomes an empty IN list (FALSE).
  ViewQuery query = original;
  for (Filter& f : query.filters) {
    if (f.column < 0 || static_cast<size_t>(f.column) >= table.columns.size()) continue;
    const Type type = table.columns[f.column].type;
    auto misfit = [&](const Value& v) {
      return v.type() == Type::kText && !TextFits(v.as_text(), type);
    };
    if (f.op == FilterOp::kIn) {
      f.values.erase(std::remove_if(f.values.begin(), f.values.end(), misfit), f.values.end());
    } else if (f.values.size() == 1 && misfit(f.values[0])) {
      f.op = FilterOp::kIn;
      f.values.clear();
    }
  }
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(std::string sql,
                      pg::BuildViewQuerySql(table, query, ViewTable(table.name), &binds));
  Params params;
  params.reserve(binds.size());
  for (const Value& v : binds) params.push_back(Param(v, Type::kNull));
  SV_ASSIGN_OR_RETURN(Result r, Query(sql, params));
  std::vector<Row> rows(PQntuples(r.get()));
  for (size_t i = 0; i < rows.size(); ++i) {
    SV_RETURN_IF_ERROR(ReadRow(r.get(), static_cast<int>(i), table, &rows[i]));
  }
  // A backward page was scanned in reverse; hand it back in the query's order.
  if (query.backward) std::reverse(rows.begin(), rows.end());
  return rows;
}

absl::Status PgStore::ScanTable(const TableSpec& table,
                                const std::function<void(const Row&)>& each) {
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  SV_RETURN_IF_ERROR(EnsureConnected());
  SV_ASSIGN_OR_RETURN(Result r,
                      conn_.Query(absl::StrCat("SELECT ", ColumnList(table), " FROM ",
                                               ViewTable(table.name), " ORDER BY ", KeyList(table)),
                                  {}));
  Row row;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_RETURN_IF_ERROR(ReadRow(r.get(), i, table, &row));
    each(row);
  }
  return absl::OkStatus();
}

// PostgreSQL's result types follow its own rules (sum(bigint) is numeric, 1 is integer, ...):
// the SELECT runs as a subquery whose columns are cast to the declared types, which ReadRow
// then decodes like a table's. The subquery's width is checked first: a column alias list
// alone would let extra columns through.
absl::Status PgStore::QuerySelect(const std::string& select_sql,
                                  const std::vector<ColumnSpec>& columns,
                                  const std::function<void(const Row&)>& each) {
  if (owner != nullptr) SV_RETURN_IF_ERROR(owner->Begin());
  SV_RETURN_IF_ERROR(EnsureConnected());
  constexpr absl::string_view kLabel = "query select";
  Result prepared(PQprepare(conn_.raw(), "", select_sql.c_str(), 0, nullptr));
  if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK)
    return conn_.Error(prepared.get(), kLabel);
  Result described(PQdescribePrepared(conn_.raw(), ""));
  if (PQresultStatus(described.get()) != PGRES_COMMAND_OK) {
    return conn_.Error(described.get(), kLabel);
  }
  const int n = PQnfields(described.get());
  if (n != static_cast<int>(columns.size())) {
    return absl::InvalidArgumentError(absl::StrCat("postgres: query select: the SELECT yields ", n,
                                                   " columns, expected ", columns.size()));
  }
  std::string outer = "SELECT ";
  std::string names;
  for (size_t c = 0; c < columns.size(); ++c) {
    absl::StrAppend(&outer, c > 0 ? ", " : "", "CAST(q.c", c, " AS ", SqlType(columns[c].type),
                    ")");
    absl::StrAppend(&names, c > 0 ? ", " : "", "c", c);
  }
  absl::string_view inner = select_sql;  // a trailing semicolon cannot go into a subquery
  while (!inner.empty() && (inner.back() == ';' || absl::ascii_isspace(inner.back()))) {
    inner.remove_suffix(1);
  }
  absl::StrAppend(&outer, " FROM (", inner, ") AS q(", names, ")");
  SV_ASSIGN_OR_RETURN(Result r, conn_.Query(outer, {}));
  TableSpec spec;  // ReadRow decodes by spec; the name only labels errors
  spec.name = "select";
  spec.columns = columns;
  Row row;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    SV_RETURN_IF_ERROR(ReadRow(r.get(), i, spec, &row));
    each(row);
  }
  return absl::OkStatus();
}

std::unique_ptr<Batch> PgStore::BeginBatch() { return std::make_unique<PgBatch>(this); }

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
  return Flush();
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
    if (row[k].is_null()) {
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

absl::Status PgBatch::Flush() {
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
  // One array literal per column, over the selected rows.
  auto arrays = [&](bool deleted, const std::vector<int>& cols, Params* params) {
    size_t n = 0;
    for (int c : cols) {
      std::string a = "{";
      n = 0;
      for (size_t r = 0; r < w->rows.size(); ++r) {
        if (w->deleted[r] != deleted) continue;
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

#undef SV_PENDING_COLS
#undef SV_DEAD_LETTER_COLS

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  return PgStore::Open(options);
}

}  // namespace sv::store

namespace sv::store {

absl::Status DropPostgresSchemas(const std::string& dsn, const std::vector<std::string>& schemas) {
  pg::Conn conn(dsn, {"SET client_min_messages = warning"});
  SV_RETURN_IF_ERROR(conn.Connect());
  for (const std::string& schema : schemas) {
    SV_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("DROP SCHEMA IF EXISTS ", pg::QuoteIdent(schema), " CASCADE")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ExplainPostgresQuery(const PostgresOptions& options,
                                                 const TableSpec& table, const ViewQuery& query) {
  pg::Conn conn(options.dsn,
                {"SET TimeZone = 'UTC'; SET enable_sort = off; SET enable_seqscan = off"});
  SV_RETURN_IF_ERROR(conn.Connect());
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(std::string sql,
                      pg::BuildViewQuerySql(table, query,
                                            absl::StrCat(pg::QuoteIdent(options.view_schema), ".",
                                                         pg::QuoteIdent(table.name)),
                                            &binds));
  Params params;
  for (const Value& v : binds) params.push_back(Param(v, Type::kNull));
  SV_ASSIGN_OR_RETURN(Result r, conn.Query("EXPLAIN " + sql, params, /*text_results=*/true));
  std::string plan;
  for (int i = 0; i < PQntuples(r.get()); ++i) absl::StrAppend(&plan, Text(r.get(), i, 0), "\n");
  return plan;
}

}  // namespace sv::store
