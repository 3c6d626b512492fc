#pragma once
// URL query parameters -> store::ViewQuery for the REST view routes. Pure: no I/O, no SQL. Every
// value becomes a typed Value that the store binds; nothing the client sends is spliced.
//
// Parameters (after URL decoding, in URL order):
//   col=v            equality, v converted by the column's type
//   col=a,b,c        IN (split on ','; a value containing ',' cannot be expressed; an empty
//                    element such as "a,,b" or "a," is rejected as a likely typo)
//   col.gt= .gte= .lt= .lte=   comparisons; .prefix= .contains= case-insensitive text search
//                    (text columns); any other suffix is rejected
//   from= / to=      the view's time column: >= from, < to (error when the view has none)
//   sort=col|-col    a column in ViewApi::sortable, the first key column (= key order), or
//                    a later column of an index whose earlier columns have equality filters
//   limit=           1..max_limit (default default_limit)
//   cursor=          opaque boundary from EncodeCursor; must match view, sort and direction
//   compat mode only: page= (1-based, sets offset) and pageSize= (alias of limit);
//   page and cursor together are rejected.
//
// Decisions:
// - Every parameter name may appear once; a repeat is rejected ("repeated parameter"), since
//   none has an obvious meaning (AND of two equalities is empty, OR is what `col=a,b` says).
//   A range uses two names (col.gte=…&col.lt=…). limit and pageSize count as one parameter.
// - Reserved names (from, to, sort, limit, cursor and in compat mode page, pageSize) win over
//   a column of the same name; such a column can still be filtered with its .gt/.lte… forms.
// - An empty value means the empty string for text columns (`col=` matches ''; `col.gt=`
//   compares with ''); for every other type and every reserved parameter it is an error.
//   NULL cannot be matched by a filter.
// - A lone "&" (empty name and value) is ignored; any other empty name is unknown.
// - Conversions are strict: integer = optional '-' and digits, in int64 range; numeric = a
//   finite decimal/exponent number (no inf/nan); boolean = true/false/1/0; timestamp =
//   ParseTime's ISO-8601; interval = integer microseconds with an optional "us" suffix; a
//   column without a declared type takes an integer, else a number, else text.
// - Caps keep bad requests cheap: kMaxParams parameters, kMaxNameBytes per name,
//   kMaxValueBytes per value (cursor: kMaxCursorBytes), kMaxInValues elements per IN list.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/value.h"
#include "store/store.h"

namespace sv::server {

inline constexpr size_t kMaxParams = 64;
inline constexpr size_t kMaxNameBytes = 256;
inline constexpr size_t kMaxValueBytes = 4096;
// Larger than other values: a cursor carries the boundary's text key in base64. A server can
// compare EncodeCursor's size with this and omit a link whose cursor would be refused.
inline constexpr size_t kMaxCursorBytes = 16384;
inline constexpr size_t kMaxInValues = 500;

// What the REST layer may do with one view (built by the server from the config).
struct ViewApi {
  std::string view;                // view name, also the table name queried (the stable SQL view)
  store::TableSpec table;          // columns with types, key (indices), indexes
  std::vector<int> sortable;       // column indices allowed in sort= (derived from indexes)
  std::optional<int> time_column;  // from=/to= filter this column (>= from, < to)
  int64_t default_limit = 50;
  int64_t max_limit = 1000;
};

struct ParsedQuery {
  store::ViewQuery query;
  int64_t page = 0;  // compat mode only: 1-based page number (0 = not given)
};

// -> an HTTP 400 body.
struct ParamError {
  std::string parameter;  // as sent (truncated when very long)
  std::string message;    // never echoes the value
};

using Params = std::vector<std::pair<std::string, std::string>>;  // decoded, in URL order

// kNative = /views/{view}; kCompat = seed 003's /orders (adds page= and pageSize=).
enum class Mode { kNative, kCompat };

// Returns the query, or the first problem found (URL order; cross-parameter checks such as
// cursor-vs-sort come after every parameter parsed).
std::variant<ParsedQuery, ParamError> ParseViewQuery(const ViewApi& api, const Params& params,
                                                     Mode mode);

// `text` as a value of a column of `type`, with the strict conversions above (also for key
// path segments); nullopt when it is not one. Empty text is a value only for kText (and a
// column without a declared type, where it is text).
std::optional<Value> ParseTypedValue(std::string_view text, Type type);

// Opaque cursor for a page boundary: view, sort column name, direction, `backward`, then the
// boundary row's [sort value,] key values — picked out of `boundary_row`, a full result row.
// URL-safe base64 (no padding) of a versioned binary encoding (EncodeRow) with a checksum, so
// every Value type round-trips exactly and accidental damage is detected. Not a secret or a
// signature: a forged cursor only picks another (bound, typed) starting point.
std::string EncodeCursor(const ViewApi& api, const store::ViewQuery& q, const Row& boundary_row,
                         bool backward);

}  // namespace sv::server
