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
      BuildVersionedWrite(table, store_->ViewTable(table.name), VersionedWrite::kUpsert, row,
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
      BuildVersionedWrite(table, store_->ViewTable(table.name), VersionedWrite::kDelete, key,
                          version_column, expected, SqlDialect::Postgres(), &binds));
  SV_ASSIGN_OR_RETURN(std::optional<int64_t> deleted, WriteReturningInt(sql, binds));
  return deleted.has_value();
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
