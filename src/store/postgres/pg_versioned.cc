// The PostgreSQL backend: the batch's versioned writes and event-id claims (optimistic
// concurrency for the public library), each one statement sent at once.

#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {

absl::StatusOr<std::optional<int64_t>> PgBatch::WriteReturningInt(const std::string& sql,
                                                                  const std::vector<Value>& binds) {
  SV_RETURN_IF_ERROR(Begin());
  Params params;
  params.reserve(binds.size());
  for (const Value& v : binds) params.push_back(Param(v, Type::kNull));
  SV_ASSIGN_OR_RETURN(Result r, Run(sql, params));
  if (PQntuples(r.get()) == 0) return std::optional<int64_t>();
  if (PQgetisnull(r.get(), 0, 0) || PQgetlength(r.get(), 0, 0) != 8) {
    return absl::InternalError("postgres: a versioned write returned no bigint");
  }
  return std::optional<int64_t>(pg::ReadInt64(PQgetvalue(r.get(), 0, 0)));
}

absl::StatusOr<std::optional<int64_t>> PgBatch::UpsertVersioned(const TableSpec& table,
                                                                const Row& row, int version_column,
                                                                std::optional<int64_t> expected) {
  SV_RETURN_IF_ERROR(Usable());
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(
      std::string sql,
      BuildVersionedWrite(table, store_->ViewTable(table.name),
                          store_->Engine("sv_deleted_versions"), VersionedWrite::kUpsert, row,
                          version_column, expected, SqlDialect::Postgres(), &binds));
  return WriteReturningInt(sql, binds);
}

absl::StatusOr<bool> PgBatch::DeleteVersioned(const TableSpec& table, const Row& key,
                                              int version_column, std::optional<int64_t> expected) {
  SV_RETURN_IF_ERROR(Usable());
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  std::vector<Value> binds;
  SV_ASSIGN_OR_RETURN(
      std::string sql,
      BuildVersionedWrite(table, store_->ViewTable(table.name),
                          store_->Engine("sv_deleted_versions"), VersionedWrite::kDelete, key,
                          version_column, expected, SqlDialect::Postgres(), &binds));
  SV_ASSIGN_OR_RETURN(std::optional<int64_t> deleted, WriteReturningInt(sql, binds));
  if (!deleted.has_value()) return false;
  binds.clear();
  sql = BuildRecordDeletedVersion(table, store_->Engine("sv_deleted_versions"), key, *deleted,
                                  SqlDialect::Postgres(), &binds);
  SV_RETURN_IF_ERROR(WriteReturningInt(sql, binds).status());
  return true;
}

absl::Status PgBatch::UpsertRowsVersioned(const TableSpec& table,
                                          const std::vector<const Row*>& rows, int version_column) {
  SV_RETURN_IF_ERROR(Usable());
  SV_RETURN_IF_ERROR(ValidateSpec(table));
  if (version_column < 0 || version_column >= static_cast<int>(table.columns.size())) {
    return absl::InvalidArgumentError("versioned upsert: version column out of range");
  }
  // Rows per statement: PostgreSQL takes up to 65535 parameters; a few hundred rows amortize
  // the round trip without a huge statement.
  const size_t per_stmt = std::max<size_t>(1, 4000 / table.columns.size());
  SV_RETURN_IF_ERROR(Begin());
  for (size_t next = 0; next < rows.size(); next += per_stmt) {
    const size_t n = std::min(per_stmt, rows.size() - next);
    Params params;
    params.reserve(n * table.columns.size());
    for (size_t r = 0; r < n; ++r) {
      const Row& row = *rows[next + r];
      if (row.size() != table.columns.size()) {
        return absl::InvalidArgumentError(absl::StrCat("postgres: upsert into ", table.name,
                                                       ": row has ", row.size(), " values"));
      }
      for (size_t i = 0; i < row.size(); ++i) {
        params.push_back(static_cast<int>(i) == version_column
                             ? Param(Value::Text(DeletedVersionKey(table, row, false)), Type::kText)
                             : Param(row[i], table.columns[i].type));
      }
    }
    const std::string sql = BuildVersionedUpsertMany(table, store_->ViewTable(table.name),
                                                     store_->Engine("sv_deleted_versions"),
                                                     version_column, n, SqlDialect::Postgres());
    SV_RETURN_IF_ERROR(Run(sql, params, /*prepare=*/n == per_stmt).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PgBatch::ClaimEventId(const std::string& source, const std::string& event_id,
                                           int64_t position) {
  SV_RETURN_IF_ERROR(Usable());
  SV_ASSIGN_OR_RETURN(
      std::optional<int64_t> claimed,
      WriteReturningInt(absl::StrCat("INSERT INTO ", store_->Engine("sv_event_ids"),
                                     "(source, event_id, position) VALUES($1, $2, $3) ON CONFLICT "
                                     "(source, event_id) DO NOTHING RETURNING position"),
                        {Value::Text(source), Value::Text(event_id), Value::Int(position)}));
  return claimed.has_value();
}

absl::Status PgBatch::ForgetEventId(const std::string& source, const std::string& event_id) {
  SV_RETURN_IF_ERROR(Usable());
  return WriteReturningInt(absl::StrCat("DELETE FROM ", store_->Engine("sv_event_ids"),
                                        " WHERE source = $1 AND event_id = $2 RETURNING position"),
                           {Value::Text(source), Value::Text(event_id)})
      .status();
}

}  // namespace sv::store::pg_impl
