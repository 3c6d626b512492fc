#pragma once
// Documents of a projection collection: named, typed columns, a primary key of one or more of
// them (composite keys), and the two fields every projection row carries — its version and
// the id of the last event applied to it.

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace streamview {

enum class ColumnType {
  kBool,
  kInt,   // int64
  kReal,  // double (an int value is accepted)
  kText,
  kTime,  // int64 microseconds since the Unix epoch (UTC)
  kJson,  // JSON text; stored canonical (keys sorted, no spaces)
};

// NULL (monostate), bool, integer, real or text; the column says how it is stored.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string>;
// Column name → value. Columns a document leaves out are NULL; key columns are required.
using Document = std::map<std::string, Value>;
// The key columns' values in the collection's key order.
using Key = std::vector<Value>;

struct Column {
  std::string name;  // not starting with '_' (the store's own fields do)
  ColumnType type = ColumnType::kText;
};

struct CollectionSpec {
  std::string name;  // also the SQL view readers query
  std::vector<Column> columns;
  std::vector<std::string> key;                   // one column or several (composite)
  std::vector<std::vector<std::string>> indexes;  // "-col" = descending
};

// A stored projection: its document plus the store's own fields.
struct Projection {
  Document doc;
  int64_t version = 0;        // 1 when first written, +1 at each write
  std::string last_event_id;  // "" when the last write named no event
};

}  // namespace streamview
