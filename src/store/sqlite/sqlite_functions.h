#pragma once
// SQL functions the SQLite store registers on each of its connections, so that the SELECTs
// sql::StoreSelect() emits for SQLite compute what the engine computes. They call the engine's
// own implementations (sql/), converting SQLite values to sv::Value and back (timestamps are
// ISO-8601 text in SQLite, which the engine's time functions parse; a timestamp result is
// written back as FormatTime text).
//
// - every scalar function of the engine's function table (date_trunc, date_part, to_char,
//   lower, round, ...), replacing SQLite's built-ins of the same name and arity;
// - sv_cast(x, 'integer'|'real'|'text'|'boolean'|'timestamp' [, scale]): the engine's casts;
// - sv_like(x, pattern), sv_ilike(x, pattern): the engine's LIKE / ILIKE (case-sensitive
//   LIKE, backslash escapes), which SQLite's LIKE is not;
// - greatest(...), least(...): NULLs ignored, as in PostgreSQL;
// - aggregates percentile_cont(p, x) and percentile_disc(p, x) with PostgreSQL's semantics
//   (NULL x ignored; NULL when no rows).

#include <sqlite3.h>

#include "absl/status/status.h"

namespace sv::store::sqlite {

absl::Status RegisterFunctions(sqlite3* db);

}  // namespace sv::store::sqlite
