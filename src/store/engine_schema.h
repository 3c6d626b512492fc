#pragma once
// The engine's own tables (sv_log, sv_keys, sv_pending, ...), declared once for every SQL
// backend. Each backend renders the same declarations in its dialect (store/sql_text.h), so a
// column added here reaches SQLite and PostgreSQL alike.

#include <string>
#include <string_view>

#include "store/sql_text.h"

namespace sv::store {

// The schema version a store initialized by this binary is at.
int EngineSchemaVersion();

// The DDL that takes the engine tables from schema version `from` to `from + 1`, in `dialect`,
// with every table and index created in `schema` (a quoted schema name followed by '.', or
// empty for the default one). Each step is idempotent (IF NOT EXISTS), so a step interrupted
// before its version was recorded runs again safely.
std::string EngineSchemaStep(int from, const SqlDialect& dialect, std::string_view schema);

}  // namespace sv::store
