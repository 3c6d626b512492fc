// The PostgreSQL backend: session, transactions, locks, schema and migrations (see
// pg_store_internal.h).

#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {

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
    if (version != EngineSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres: read-only store: schema ", options_.schema, " is at version ", version,
          ", this binary needs ", EngineSchemaVersion(), " (a writer initializes it)"));
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
    if (version > EngineSchemaVersion()) {
      return absl::FailedPreconditionError(
          absl::StrCat("postgres: schema ", options_.schema, " is at version ", version,
                       ", newer than this binary supports (", EngineSchemaVersion(), ")"));
    }
    if (version == EngineSchemaVersion()) return absl::OkStatus();
    for (int64_t v = std::max<int64_t>(version, 0); v < EngineSchemaVersion(); ++v) {
      SV_RETURN_IF_ERROR(conn_.Exec(EngineSchemaStep(static_cast<int>(v), SqlDialect::Postgres(),
                                                     absl::StrCat(schema_q_, "."))));
    }
    return conn_.Exec(absl::StrCat("INSERT INTO ", meta, "(name, value) VALUES('schema_version', '",
                                   EngineSchemaVersion(),
                                   "') ON CONFLICT(name) DO UPDATE SET value = excluded.value"));
  });
}

}  // namespace sv::store::pg_impl

namespace sv::store {

using pg::Params;
using pg::Result;
using pg_impl::Param;
using pg_impl::Text;

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  return pg_impl::PgStore::Open(options);
}

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
