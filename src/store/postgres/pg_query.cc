#include "store/postgres/pg_query.h"

#include "store/sql_text.h"

namespace sv::store::pg {

absl::StatusOr<std::string> BuildViewQuerySql(const TableSpec& table, const ViewQuery& query,
                                              const std::string& qualified_name,
                                              std::vector<Value>* binds) {
  return BuildKeysetQuery(table, query, qualified_name, SqlDialect::Postgres(), binds);
}

}  // namespace sv::store::pg
