// The SQLite backend: the log's organization index (LogStore::AddToLogOrgIndex), and reading
// the records it names.

#include "store/sqlite/sqlite_store_internal.h"

namespace sv::store::sqlite_impl {
namespace {

constexpr char kFieldName[] = "log_org_field";
constexpr char kThroughName[] = "log_org_through";

}  // namespace

absl::StatusOr<LogStore::LogOrgIndexMark> SqliteStore::GetLogOrgIndexMark() {
  LogOrgIndexMark mark;
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * get, Fixed(kMetaGet));
  for (const bool field : {true, false}) {
    ResetOnExit reset(get);
    BindText(get, 1, field ? kFieldName : kThroughName);
    const int rc = sqlite3_step(get);
    if (rc == SQLITE_DONE) return LogOrgIndexMark{};
    if (rc != SQLITE_ROW) return Error(db_, rc, "read the log's organization index mark");
    if (field) {
      mark.field = ColumnString(get, 0);
    } else {
      mark.through = sqlite3_column_int64(get, 0);
    }
  }
  return mark;
}

absl::Status SqliteStore::AddToLogOrgIndex(
    const LogOrgIndexMark& mark, bool restart,
    const std::vector<std::pair<std::string, std::string>>& org_keys) {
  SV_RETURN_IF_ERROR(ReopenIfFailed());
  return InTxn([&]() -> absl::Status {
    // Made once, by the first index: appends to a log nobody indexes pay nothing for it.
    SV_RETURN_IF_ERROR(Exec("CREATE INDEX IF NOT EXISTS sv_log__by_key ON sv_log(key, position)"));
    if (restart) SV_RETURN_IF_ERROR(Exec("DELETE FROM sv_log_orgs"));
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * insert,
                        CachedWrite("INSERT OR IGNORE INTO sv_log_orgs(org, key) VALUES(?1, ?2)"));
    for (const auto& [org, key] : org_keys) {
      ResetOnExit reset(insert);
      BindText(insert, 1, org);
      BindText(insert, 2, key);
      SV_RETURN_IF_ERROR(StepDone(insert));
    }
    SV_ASSIGN_OR_RETURN(sqlite3_stmt * put, Fixed(kMetaPut));
    const std::string through = absl::StrCat(mark.through);
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{kFieldName, &mark.field},
          {kThroughName, &through}}) {
      ResetOnExit reset(put);
      BindText(put, 1, name);
      BindText(put, 2, *value);
      SV_RETURN_IF_ERROR(StepDone(put));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<int64_t>> SqliteStore::LogPositionsOfOrganization(
    const std::string& organization, int64_t until) {
  // The organization's keys by the primary key, each key's records by the key index.
  SV_ASSIGN_OR_RETURN(
      sqlite3_stmt * select,
      CachedWrite("SELECT l.position FROM sv_log_orgs o JOIN sv_log l INDEXED BY sv_log__by_key "
                  "ON l.key = o.key WHERE o.org = ?1 AND l.position <= ?2 ORDER BY l.position"));
  ResetOnExit reset(select);
  BindText(select, 1, organization);
  sqlite3_bind_int64(select, 2, until);
  std::vector<int64_t> positions;
  for (;;) {
    const int rc = sqlite3_step(select);
    if (rc == SQLITE_DONE) return positions;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read the log's organization index");
    positions.push_back(sqlite3_column_int64(select, 0));
  }
}

absl::StatusOr<std::vector<int64_t>> SqliteStore::LogPositionsOfKey(const std::string& key,
                                                                    int64_t until) {
  SV_ASSIGN_OR_RETURN(
      sqlite3_stmt * select,
      CachedWrite("SELECT position FROM sv_log INDEXED BY sv_log__by_key WHERE key = ?1 AND "
                  "position <= ?2 ORDER BY position"));
  ResetOnExit reset(select);
  BindText(select, 1, key);
  sqlite3_bind_int64(select, 2, until);
  std::vector<int64_t> positions;
  for (;;) {
    const int rc = sqlite3_step(select);
    if (rc == SQLITE_DONE) return positions;
    if (rc != SQLITE_ROW) return Error(db_, rc, "read sv_log by key");
    positions.push_back(sqlite3_column_int64(select, 0));
  }
}

absl::Status SqliteStore::ReadLogAt(const std::vector<int64_t>& positions,
                                    std::vector<LogRecord>* out) {
  SV_ASSIGN_OR_RETURN(sqlite3_stmt * read,
                      CachedWrite("SELECT log_time_us, key, raw FROM sv_log WHERE position = ?1"));
  out->resize(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    ResetOnExit reset(read);
    sqlite3_bind_int64(read, 1, positions[i]);
    const int rc = sqlite3_step(read);
    if (rc != SQLITE_ROW) {
      out->clear();
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(absl::StrCat("sqlite: no log record at ", positions[i]));
      }
      return Error(db_, rc, "read sv_log");
    }
    LogRecord& record = (*out)[i];
    record.position = positions[i];
    record.log_time_us = sqlite3_column_int64(read, 0);
    AssignColumnString(read, 1, &record.key);
    AssignColumnString(read, 2, &record.raw);
  }
  return absl::OkStatus();
}

}  // namespace sv::store::sqlite_impl
