// The PostgreSQL backend: the log's organization index (LogStore::AddToLogOrgIndex), and
// reading the records it names.

#include <algorithm>

#include "store/postgres/pg_store_internal.h"

namespace sv::store::pg_impl {
namespace {

constexpr size_t kPairsPerInsert = 1000;      // 2,000 parameters a statement
constexpr size_t kPositionsPerRead = 10'000;  // an array literal of as many integers

}  // namespace

absl::StatusOr<LogStore::LogOrgIndexMark> PgStore::GetLogOrgIndexMark() {
  SV_ASSIGN_OR_RETURN(Result r,
                      Query(absl::StrCat("SELECT name, value FROM ", Engine("sv_meta"),
                                         " WHERE name IN ('log_org_field', 'log_org_through')")));
  LogOrgIndexMark mark;
  if (PQntuples(r.get()) != 2) return mark;
  for (int i = 0; i < 2; ++i) {
    const std::string name = PQgetvalue(r.get(), i, 0);
    if (name == "log_org_field") {
      mark.field = PQgetvalue(r.get(), i, 1);
    } else {
      mark.through = std::atoll(PQgetvalue(r.get(), i, 1));
    }
  }
  return mark;
}

absl::Status PgStore::AddToLogOrgIndex(
    const LogOrgIndexMark& mark, bool restart,
    const std::vector<std::pair<std::string, std::string>>& org_keys) {
  const std::string orgs = Engine("sv_log_orgs");
  return InTxn([&]() -> absl::Status {
    // Made once, by the first index: appends to a log nobody indexes pay nothing for it.
    SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("CREATE INDEX IF NOT EXISTS sv_log__by_key ON ",
                                               Engine("sv_log"), "(key, position)")));
    if (restart) SV_RETURN_IF_ERROR(conn_.Exec(absl::StrCat("DELETE FROM ", orgs)));
    for (size_t start = 0; start < org_keys.size(); start += kPairsPerInsert) {
      const size_t end = std::min(org_keys.size(), start + kPairsPerInsert);
      Params params;
      std::string values;
      for (size_t i = start; i < end; ++i) {
        params.emplace_back(org_keys[i].first);
        params.emplace_back(org_keys[i].second);
        absl::StrAppend(&values, i > start ? ", " : "", "($", params.size() - 1, ", $",
                        params.size(), ")");
      }
      SV_RETURN_IF_ERROR(Query(absl::StrCat("INSERT INTO ", orgs, "(org, key) VALUES ", values,
                                            " ON CONFLICT DO NOTHING"),
                               params)
                             .status());
    }
    return Query(absl::StrCat("INSERT INTO ", Engine("sv_meta"),
                              "(name, value) VALUES ('log_org_field', $1), ('log_org_through', $2) "
                              "ON CONFLICT(name) DO UPDATE SET value = excluded.value"),
                 {mark.field, absl::StrCat(mark.through)})
        .status();
  });
}

absl::StatusOr<std::vector<int64_t>> PgStore::LogPositionsOfOrganization(
    const std::string& organization, int64_t until) {
  // Key by key through sv_log__by_key (OFFSET 0 keeps the planner from flattening the
  // LATERAL into a join): as a plain join the planner hashed the organization's keys and
  // scanned the whole log, its time growing with the log, not the organization
  // (bench/pg_org_positions.sh, BENCHMARKS.md).
  SV_ASSIGN_OR_RETURN(
      Result r,
      Query(absl::StrCat("SELECT l.position FROM ", Engine("sv_log_orgs"),
                         " o CROSS JOIN LATERAL (SELECT position FROM ", Engine("sv_log"),
                         " WHERE key = o.key AND position <= $2 OFFSET 0) l WHERE o.org = $1 "
                         "ORDER BY l.position"),
            {organization, absl::StrCat(until)}));
  std::vector<int64_t> positions(PQntuples(r.get()));
  for (size_t i = 0; i < positions.size(); ++i) {
    SV_ASSIGN_OR_RETURN(positions[i], Int64(r.get(), static_cast<int>(i), 0));
  }
  return positions;
}

absl::StatusOr<std::vector<int64_t>> PgStore::LogPositionsOfKey(const std::string& key,
                                                                int64_t until) {
  SV_ASSIGN_OR_RETURN(Result r, Query(absl::StrCat("SELECT position FROM ", Engine("sv_log"),
                                                   " WHERE key = $1 AND position <= $2 "
                                                   "ORDER BY position"),
                                      {key, absl::StrCat(until)}));
  std::vector<int64_t> positions(PQntuples(r.get()));
  for (size_t i = 0; i < positions.size(); ++i) {
    SV_ASSIGN_OR_RETURN(positions[i], Int64(r.get(), static_cast<int>(i), 0));
  }
  return positions;
}

absl::Status PgStore::ReadLogAt(const std::vector<int64_t>& positions,
                                std::vector<LogRecord>* out) {
  out->clear();
  out->reserve(positions.size());
  for (size_t start = 0; start < positions.size(); start += kPositionsPerRead) {
    const size_t end = std::min(positions.size(), start + kPositionsPerRead);
    std::string array = "{";
    for (size_t i = start; i < end; ++i)
      absl::StrAppend(&array, i > start ? "," : "", positions[i]);
    array += "}";
    SV_ASSIGN_OR_RETURN(
        Result r,
        Query(absl::StrCat("SELECT position, log_time_us, key, raw FROM ", Engine("sv_log"),
                           " WHERE position = ANY($1::bigint[]) ORDER BY position"),
              {array}));
    const int n = PQntuples(r.get());
    if (static_cast<size_t>(n) != end - start) {
      out->clear();
      return absl::NotFoundError(absl::StrCat("postgres: ", end - start - n,
                                              " of the log records asked for are not there"));
    }
    for (int i = 0; i < n; ++i) {
      LogRecord& record = out->emplace_back();
      SV_ASSIGN_OR_RETURN(record.position, Int64(r.get(), i, 0));
      SV_ASSIGN_OR_RETURN(record.log_time_us, Int64(r.get(), i, 1));
      record.key.assign(PQgetvalue(r.get(), i, 2), PQgetlength(r.get(), i, 2));
      record.raw.assign(PQgetvalue(r.get(), i, 3), PQgetlength(r.get(), i, 3));
    }
  }
  return absl::OkStatus();
}

}  // namespace sv::store::pg_impl
