#pragma once
// SQL scalar expressions: parsed by libpg_query (the real PostgreSQL grammar), compiled once
// into a tree of nodes whose names are already resolved to slots, evaluated per event without
// re-parsing or name lookups.
//
// Names are resolved by the caller through a Resolver, so the same compiler serves view
// handlers (event fields, meta, current row) and, later, derived SQL views (table columns).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/location.h"
#include "common/value.h"
#include "simdjson.h"

namespace sv::sql {

// A dotted name as written, original case preserved (PostgreSQL folds unquoted identifiers to
// lower case; JSON field names are case-sensitive, so the compiler recovers the spelling from
// the source text). `offset` is the name's character offset in the expression text.
struct NameRef {
  std::vector<std::string> parts;
  size_t offset = 0;
};

// Event metadata available as meta.<name>.
enum class MetaField : int {
  kKey = 0,     // routing key (text)
  kSequence,    // per-key sequence (int) or NULL
  kPosition,    // source position / offset (int)
  kPartition,   // source partition (int)
  kTimestamp,   // event time from the source's timestamp field (time) or NULL
  kLogTime,     // append / broker time (time)
  kEventId,     // event id (text) or NULL
  kType,        // event type (text)
  kOrdinality,  // 1-based index of the exploded element (int), NULL outside explode
  kCount
};

// What a name refers to; decided by the Resolver at compile time.
struct Binding {
  enum class Kind {
    kEventField,    // JSON path below the event object root: path
    kElementField,  // JSON path below an iterated array element: slot = element depth, path
    kHeader,        // envelope/Kafka header: path[0] = header name (text or NULL)
    kMeta,          // slot = MetaField
    kRowColumn,     // current row of the view being written: slot = column index
    kViewColumn,    // row of another view addressed by the same event: slot = view slot,
                    // column = column index
    kConstant,      // constant (config params): value
  };
  Kind kind = Kind::kConstant;
  std::vector<std::string> path;
  int slot = 0;
  int column = 0;
  Value value;
};

// Resolves a name to a binding or returns an error message (InvalidArgument, without location;
// the compiler adds it).
using Resolver = std::function<absl::StatusOr<Binding>(const NameRef&)>;

constexpr int kMaxElementDepth = 4;  // depth 0: explode item; 1..: array subquery variables

// Everything a compiled expression may read. The caller fills what its bindings use.
struct EvalContext {
  simdjson::dom::element event;
  const Value* meta = nullptr;  // MetaField::kCount values
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
  const Row* row = nullptr;               // nullptr: no current row, columns read as NULL
  const Row* const* view_rows = nullptr;  // by view slot; null entries read as NULL
  simdjson::dom::element elements[kMaxElementDepth];
  // What now() reads (µs since the epoch): the clock a derived view's rows are computed at.
  int64_t now_us = 0;
};

class Expr {
 public:
  virtual ~Expr() = default;
  // Evaluates to a scalar. Type errors (text in arithmetic, bad cast, division by zero, an
  // object where a scalar is needed) return InvalidArgument naming the expression part.
  virtual absl::Status Eval(EvalContext& ctx, Value* out) const = 0;
  // For array contexts (explode, subquery FROM): yields the JSON value of a path reference.
  // A missing field (or a path step through a non-object / past the end of an array) yields a
  // JSON null element. Non-path expressions return Unimplemented.
  virtual absl::Status EvalJson(EvalContext& ctx, simdjson::dom::element* out) const;
  // True when the expression is a reference to a JSON path (usable as an array source).
  virtual bool IsJsonPath() const { return false; }
};
using ExprPtr = std::unique_ptr<Expr>;

// Compiles one scalar SQL expression (`sql` is what follows SELECT). `where` locates the text in
// the config file; errors are InvalidArgument "file:line:col: problem" pointing at the offending
// construct, and name it ("unsupported function foo()", "unknown column ...", "now() is not
// deterministic ...").
absl::StatusOr<ExprPtr> Compile(std::string_view sql, const Resolver& resolver,
                                const Location& where);

// An expression reading column `slot` of EvalContext::row (NULL when there is no row): what a
// NodeHook returns for a node it computes itself (an aggregate, a GROUP BY expression).
ExprPtr MakeColumnSlot(int slot);

// Evaluates an expression that references nothing (constants, defaults).
absl::StatusOr<Value> EvalConstant(const Expr& expr);

// Coerces a value for storage in a column of `type` (int->real, real->int when integral,
// number->text, text->timestamp by ISO-8601 parse, ...). NULL passes. Errors are
// InvalidArgument "cannot store <type> value '<v>' in <type> column".
absl::Status CoerceTo(Type type, Value* value);

}  // namespace sv::sql
