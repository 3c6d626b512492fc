#pragma once
// Values as the memory store keeps and compares them: the same answers a SQL backend gives.
// A value written into a typed column is converted the way SQLite's column affinity and typed
// reads convert it (an integer into a real column reads back as a real, a numeric text into an
// integer column as an integer, ...); comparisons follow SQL: NULL is least, numbers compare
// by value across int/real, numbers sort before text, text compares bytewise.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "store/store.h"

namespace sv::store::memory {

// `value` as a column of `column` type stores and reads it back (kNull: kept as it is).
Value Coerce(Type column, const Value& value);

// <0, 0, >0 in SQL order with NULL least; total over every pair of values.
int SqlCompare(const Value& a, const Value& b);

// One page of `query` over `rows`, whose values are laid out as `table.columns` (already
// coerced), in the contract's order (see ViewQuery in store/store.h). InvalidArgument for an
// inconsistent query, with the same checks the SQL backends make.
// Whether `row` passes every filter (ANDed), as the SQL stores evaluate them: NULL matches
// nothing, prefix/contains are case-insensitive on text (a subscription's filters, too).
bool RowMatches(const Row& row, const std::vector<Filter>& filters);

absl::StatusOr<std::vector<Row>> QueryPage(const TableSpec& table, std::vector<Row> rows,
                                           const ViewQuery& query);

}  // namespace sv::store::memory
