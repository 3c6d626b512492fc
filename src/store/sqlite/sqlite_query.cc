#include "store/sqlite/sqlite_query.h"

#include "store/sql_text.h"

namespace sv::store::sqlite {

absl::StatusOr<std::string> BuildViewQuerySql(const TableSpec& table, const ViewQuery& query,
                                              std::vector<Value>* binds) {
  return BuildKeysetQuery(table, query, QuoteIdent(table.name), SqlDialect::Sqlite(), binds);
}

}  // namespace sv::store::sqlite
