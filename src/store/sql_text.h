#pragma once
// SQL text shared by the SQL backends: identifier quoting and the keyset SELECT behind
// Store::QueryView (see ViewQuery in store/store.h). Each backend supplies its dialect; the
// predicates are the same, so pages mean the same on every store.

#include <optional>
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

// The types of the engine's own columns (store/engine_schema.cc).
enum class EngineColumnType {
  kRowId,  // a 64-bit integer key the store may assign (SQLite's rowid alias)
  kInt64,
  kInt32,
  kText,     // free text
  kKeyText,  // text compared and sorted bytewise (keys, names)
  kBool,
};

// What differs between the SQL backends: parameter spelling, type names, LIKE, table options.
// One instance per backend (Sqlite(), Postgres()); everything that builds SQL text takes one.
struct SqlDialect {
  char placeholder = '?';  // parameters are "?N" (SQLite) or "$N" (PostgreSQL)
  // Order and limit each arm of a two-arm page on its own (PostgreSQL then merges two index
  // scans instead of sorting their union; SQLite merges a plain UNION ALL lazily already).
  bool limit_each_arm = false;
  // The case-insensitive LIKE: LIKE on SQLite (case-insensitive for ASCII by default), ILIKE on
  // PostgreSQL.
  const char* like = "LIKE";
  // Appended to CREATE TABLE (...) of a table clustered on its key.
  const char* clustered_table_suffix = "";
  // The declared type of an engine column.
  const char* (*engine_type)(EngineColumnType) = nullptr;
  // The declared type of a view column of `type` ("" for none: values keep their own type).
  const char* (*column_type)(Type) = nullptr;

  const char* EngineType(EngineColumnType type) const { return engine_type(type); }
  const char* ColumnType(Type type) const { return column_type(type); }

  static const SqlDialect& Sqlite();
  static const SqlDialect& Postgres();
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

// The one statement of ViewBatch::UpsertVersioned / DeleteVersioned over `from` (quoted,
// possibly schema-qualified), returning the version column of the row written or deleted (no
// row: the check failed). Binds are numbered like BuildKeysetQuery's. `row` is the whole row
// for an upsert, the key values for a delete. A new row's version goes on from the one its key
// had when last deleted, read from `deleted_versions` (the engine's sv_deleted_versions, quoted
// and qualified as the backend names it; BuildRecordDeletedVersion writes it).
enum class VersionedWrite { kUpsert, kDelete };
absl::StatusOr<std::string> BuildVersionedWrite(const TableSpec& table, const std::string& from,
                                                const std::string& deleted_versions,
                                                VersionedWrite write, const Row& row,
                                                int version_column, std::optional<int64_t> expected,
                                                const SqlDialect& dialect,
                                                std::vector<Value>* binds);

// How sv_deleted_versions names a row: its key values (in key order), encoded.
std::string DeletedVersionKey(const TableSpec& table, const Row& row, bool key_values_only);

// After a versioned delete that deleted the row of `key` (its key values) at `version`: the
// statement recording that version in `deleted_versions`, returning it.
std::string BuildRecordDeletedVersion(const TableSpec& table, const std::string& deleted_versions,
                                      const Row& key, int64_t version, const SqlDialect& dialect,
                                      std::vector<Value>* binds);

// ViewBatch::UpsertRowsVersioned's statement for `rows` rows: every column of each row bound in
// order, the version column's slot bound to the row's DeletedVersionKey (a new row goes on from
// its key's last deleted version, 0 if none; a stored row's version + 1). With no
// `deleted_versions` (the caller knows no key of the table was deleted) that slot is bound to 1.
std::string BuildVersionedUpsertMany(const TableSpec& table, const std::string& from,
                                     const std::string& deleted_versions, int version_column,
                                     size_t rows, const SqlDialect& dialect);

}  // namespace sv::store
