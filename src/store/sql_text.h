#pragma once
// SQL text shared by the SQL backends: identifier quoting and the keyset SELECT behind
// Store::QueryView (see ViewQuery in store/store.h). Each backend supplies its dialect; the
// predicates are the same, so pages mean the same on every store.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "store/store.h"

namespace sv::store {

// "name" with embedded double quotes doubled (standard SQL).
std::string QuoteIdent(std::string_view name);

// InvalidArgument (prefixed with `backend`, e.g. "sqlite") unless the table has a name,
// columns and a primary key whose indices are in range.
absl::Status ValidateTableSpec(const TableSpec& table, std::string_view backend);
// "a", "b", … of every column / of the key columns, in order.
std::string ColumnList(const TableSpec& table);
std::string KeyList(const TableSpec& table);

struct SqlDialect {
  char placeholder = '?';  // parameters are "?N" (SQLite) or "$N" (PostgreSQL)
  // Order and limit each arm of a two-arm page on its own (PostgreSQL then merges two index
  // scans instead of sorting their union; SQLite merges a plain UNION ALL lazily already).
  bool limit_each_arm = false;
  // The case-insensitive LIKE: LIKE on SQLite (case-insensitive for ASCII by default), ILIKE on
  // PostgreSQL.
  const char* like = "LIKE";
};

// The SELECT for one page of `query` over `table`, read from `from` (a quoted, possibly
// schema-qualified table or view name). Parameters are numbered; (*binds)[N - 1] is the value
// for parameter N, and every parameter in the text has one. The rows come in scan order: the
// query's order, or its exact reverse when query.backward (the caller reverses them).
// InvalidArgument for an inconsistent query (a column index out of range, a boundary tuple of
// the wrong size or with a NULL key value, ...).
absl::StatusOr<std::string> BuildKeysetQuery(const TableSpec& table, const ViewQuery& query,
                                             const std::string& from, const SqlDialect& dialect,
                                             std::vector<Value>* binds);

}  // namespace sv::store
