#pragma once
// A derived view's SELECT re-emitted as SQL that a store runs itself: the `refresh: <cron>` mode
// recomputes a view in full with it, and tests use it as an oracle for incremental maintenance.
//
// The statement is bound (sql/bound.h: the same binder, catalog and type inference as
// maintenance) and printed from the bound tree (print.cc), every sub-expression parenthesized. Each
// dialect keeps the engine's semantics where a store's native ones differ:
// - PostgreSQL: integer casts are bigint, real ones double precision (non-integer constants
//   too), text casts COLLATE "C" (byte order, as the view tables), timestamps timestamptz (the
//   tables' type); avg() and percentile_cont() are double precision, EXTRACT/date_part bigint
//   or double precision as the engine's date_part returns; round/trunc/log/mod go through
//   numeric where PostgreSQL lacks a double precision version.
// - SQLite: casts, LIKE/ILIKE and GREATEST/LEAST call functions the SQLite store registers
//   (store/sqlite/sqlite_functions.h) with the engine's implementations, as do all scalar
//   functions; booleans are 1/0; percentile_cont(p) WITHIN GROUP (ORDER BY x) is
//   percentile_cont(p, x); EXTRACT(f FROM x) is date_part('f', x).
// Left to the store: integer division by zero (NULL in SQLite), integer overflow in
// arithmetic (REAL in SQLite), comparisons across types (by storage class in SQLite).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/value.h"

namespace sv::sql {

enum class SqlDialect { kSqlite, kPostgres };

// Types of the source views' columns, when the caller knows them: `relation` is the view as
// named in FROM, `column` as written. PostgreSQL sums integers to numeric; with this the sum of
// an integer expression is cast back to bigint inside the SELECT too (the stores cast a
// SELECT's result columns to the declared types in any case).
using ColumnTypeFn =
    std::function<std::optional<Type>(std::string_view relation, std::string_view column)>;

// `create_view_sql` is `CREATE VIEW name AS SELECT ...` or a bare SELECT. Returns the SELECT
// alone in `dialect`. Supported: column refs, constants, operators, AND/OR/NOT, IS [NOT] NULL,
// IS [NOT] DISTINCT FROM, IS [NOT] TRUE/FALSE, IN lists, BETWEEN, LIKE/ILIKE, CASE, COALESCE,
// NULLIF, GREATEST/LEAST, casts to integer/real/text/boolean/timestamp types, the engine's
// scalar functions, count/sum/avg/min/max (DISTINCT allowed), percentile_cont/percentile_disc
// WITHIN GROUP, FILTER (WHERE ...), one FROM relation with [INNER|LEFT] JOINs ... ON, WHERE,
// GROUP BY, column aliases. Anything else is InvalidArgument "view:<line>:<column>: ..."
// naming the construct.
absl::StatusOr<std::string> StoreSelect(std::string_view create_view_sql, SqlDialect dialect,
                                        const ColumnTypeFn& column_type = nullptr);

}  // namespace sv::sql
