#pragma once
// SQL for Store::QueryView (see ViewQuery in store/store.h), kept apart from the connection
// plumbing so the exact text can be tested (and EXPLAINed) on its own.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "store/store.h"

namespace sv::store::sqlite {

// The SELECT for one page of `query` over `table` (whose name may be a view's stable name).
// Parameters are numbered (?N); (*binds)[N - 1] is the value for ?N, and every parameter in the
// text has one. The rows come in scan order: the query's order, or its exact reverse when
// query.backward (the caller reverses them). InvalidArgument for an inconsistent query (a
// column index out of range, a boundary tuple of the wrong size or with a NULL key value, ...).
absl::StatusOr<std::string> BuildViewQuerySql(const TableSpec& table, const ViewQuery& query,
                                              std::vector<Value>* binds);

}  // namespace sv::store::sqlite
