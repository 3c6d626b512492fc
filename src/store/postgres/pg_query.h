#pragma once
// SQL for Store::QueryView on PostgreSQL (see ViewQuery in store/store.h).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "store/store.h"

namespace sv::store::pg {

// The SELECT for one page of `query` over `table`, read from `qualified_name` (the quoted,
// schema-qualified table or view). Parameters are numbered ($N); (*binds)[N - 1] is the value
// for $N. The rows come in scan order: the query's order, or its exact reverse when
// query.backward (the caller reverses them). InvalidArgument for an inconsistent query.
absl::StatusOr<std::string> BuildViewQuerySql(const TableSpec& table, const ViewQuery& query,
                                              const std::string& qualified_name,
                                              std::vector<Value>* binds);

}  // namespace sv::store::pg
