#include "store/sql_text.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/value.h"

namespace sv::store {
namespace {

// Appends values to bind and names their parameters.
class Params {
 public:
  Params(std::vector<Value>* binds, char placeholder) : binds_(binds), placeholder_(placeholder) {}
  std::string Add(const Value& value) {
    binds_->push_back(value);
    return absl::StrCat(absl::string_view(&placeholder_, 1), binds_->size());
  }

 private:
  std::vector<Value>* binds_;
  char placeholder_;
};

const char* OpSql(FilterOp op) {
  switch (op) {
    case FilterOp::kEq:
      return "=";
    case FilterOp::kGt:
      return ">";
    case FilterOp::kGte:
      return ">=";
    case FilterOp::kLt:
      return "<";
    case FilterOp::kLte:
      return "<=";
    case FilterOp::kIn:
    case FilterOp::kPrefix:
    case FilterOp::kContains:
      break;
  }
  return "=";
}

// The LIKE pattern of a text search: the value's own '%', '_' and '\' taken literally.
std::string LikePattern(const std::string& text, FilterOp op) {
  std::string out = op == FilterOp::kContains ? "%" : "";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  out += '%';
  return out;
}

// Rows whose key tuple is strictly past the bound one in the scan direction (`op` is ">" or
// "<"), expanded lexicographically because keys may be of mixed types and a backend may not
// seek on row values: k1 > ?a OR (k1 = ?a AND k2 > ?b). With several key columns a redundant
// k1 >= ?a leads, a plain range every backend can seek on.
std::string KeyPast(const std::vector<std::string>& cols, const std::vector<std::string>& params,
                    const char* op) {
  const size_t n = cols.size();
  std::string inner = absl::StrCat(cols[n - 1], " ", op, " ", params[n - 1]);
  for (size_t i = n - 1; i-- > 0;) {
    const bool compound = i + 2 < n;
    inner = absl::StrCat(cols[i], " ", op, " ", params[i], " OR (", cols[i], " = ", params[i],
                         " AND ", compound ? "(" : "", inner, compound ? ")" : "", ")");
  }
  if (n == 1) return inner;
  return absl::StrCat(cols[0], " ", op, "= ", params[0], " AND (", inner, ")");
}

// KeyPast for keys whose values may be NULL (TableSpec::key_nullable), NULL being the least
// value: a NULL bound value makes `k > NULL` k IS NOT NULL and `k = NULL` k IS NULL, and past
// a value scanning down come the NULLs too. Only such tables pay for the ORs.
std::string NullableKeyPast(const std::vector<std::string>& cols, const Row& values, Params* params,
                            bool up) {
  std::vector<std::string> past(cols.size());
  std::vector<std::string> equal(cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    if (values[i].is_null()) {
      past[i] = up ? absl::StrCat(cols[i], " IS NOT NULL") : "FALSE";
      equal[i] = absl::StrCat(cols[i], " IS NULL");
      continue;
    }
    const std::string p = params->Add(values[i]);
    past[i] = up ? absl::StrCat(cols[i], " > ", p)
                 : absl::StrCat("(", cols[i], " < ", p, " OR ", cols[i], " IS NULL)");
    equal[i] = absl::StrCat(cols[i], " = ", p);
  }
  std::string inner = past.back();
  for (size_t i = cols.size() - 1; i-- > 0;) {
    inner = absl::StrCat(past[i], " OR (", equal[i], " AND (", inner, "))");
  }
  return absl::StrCat("(", inner, ")");
}

absl::Status Invalid(const TableSpec& table, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("query ", table.name, ": ", absl::string_view(what.data(), what.size())));
}

}  // namespace

std::string QuoteIdent(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

absl::Status ValidateTableSpec(const TableSpec& table, std::string_view backend) {
  const absl::string_view b(backend.data(), backend.size());
  if (table.name.empty())
    return absl::InvalidArgumentError(absl::StrCat(b, ": table without a name"));
  if (table.columns.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(b, ": table ", table.name, " has no columns"));
  }
  if (table.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(b, ": table ", table.name, " has no primary key"));
  }
  for (int k : table.key) {
    if (k < 0 || static_cast<size_t>(k) >= table.columns.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(b, ": table ", table.name, ": key column index ", k, " out of range"));
    }
  }
  return absl::OkStatus();
}

std::string ColumnList(const TableSpec& table) {
  return absl::StrJoin(table.columns, ", ", [](std::string* out, const ColumnSpec& c) {
    out->append(QuoteIdent(c.name));
  });
}

std::string KeyList(const TableSpec& table) {
  return absl::StrJoin(table.key, ", ", [&](std::string* out, int k) {
    out->append(QuoteIdent(table.columns[k].name));
  });
}

absl::StatusOr<std::string> BuildKeysetQuery(const TableSpec& table, const ViewQuery& query,
                                             const std::string& from, const SqlDialect& dialect,
                                             std::vector<Value>* binds) {
  binds->clear();
  const int ncols = static_cast<int>(table.columns.size());
  auto in_range = [&](int c) { return c >= 0 && c < ncols; };
  if (table.name.empty() || ncols == 0 || table.key.empty()) {
    return Invalid(table, "table needs a name, columns and a primary key");
  }
  for (int k : table.key) {
    if (!in_range(k)) return Invalid(table, absl::StrCat("key column ", k, " out of range"));
  }
  if (query.sort && !in_range(*query.sort)) {
    return Invalid(table, absl::StrCat("sort column ", *query.sort, " out of range"));
  }
  if (query.limit < 0 || query.offset < 0) return Invalid(table, "negative limit or offset");
  const size_t nsort = query.sort ? 1 : 0;
  if (query.after) {
    if (query.after->size() != nsort + table.key.size()) {
      return Invalid(table, absl::StrCat("boundary has ", query.after->size(), " values, expected ",
                                         nsort + table.key.size()));
    }
    for (size_t i = nsort; i < query.after->size(); ++i) {
      if ((*query.after)[i].is_null() && !table.key_nullable) {
        return Invalid(table, "boundary key value is NULL");
      }
    }
  }

  Params params(binds, dialect.placeholder);
  std::vector<std::string> where;  // ANDed into every arm
  for (const Filter& f : query.filters) {
    if (!in_range(f.column)) {
      return Invalid(table, absl::StrCat("filter column ", f.column, " out of range"));
    }
    const std::string col = QuoteIdent(table.columns[f.column].name);
    if (f.op == FilterOp::kIn) {
      if (f.values.empty()) {
        where.push_back("FALSE");  // IN () is not portable SQL
        continue;
      }
      std::vector<std::string> list;
      for (const Value& v : f.values) list.push_back(params.Add(v));
      where.push_back(absl::StrCat(col, " IN (", absl::StrJoin(list, ", "), ")"));
    } else if (f.op == FilterOp::kPrefix || f.op == FilterOp::kContains) {
      if (f.values.size() != 1 || f.values[0].type() != Type::kText) {
        return Invalid(table, "text search needs one text value");
      }
      where.push_back(absl::StrCat(
          col, " ", dialect.like, " ",
          params.Add(Value::Text(LikePattern(f.values[0].as_text(), f.op))), " ESCAPE '\\'"));
    } else {
      if (f.values.size() != 1) return Invalid(table, "comparison filter needs one value");
      where.push_back(absl::StrCat(col, " ", OpSql(f.op), " ", params.Add(f.values[0])));
    }
  }

  // Backward scans run the query order in reverse; NULL is the least value either way.
  const bool up = query.descending == query.backward;
  const char* op = up ? ">" : "<";
  std::vector<std::string> key_cols;
  for (int k : table.key) key_cols.push_back(QuoteIdent(table.columns[k].name));
  const std::string sort_col = query.sort ? QuoteIdent(table.columns[*query.sort].name) : "";

  // One arm, or two when the rows past the boundary are partly NULL and partly not (past a
  // NULL scanning up, past a value scanning down): as one WHERE that is an OR no index can
  // seek on, so each part gets its own seek and the ORDER BY merges them, lazily under LIMIT.
  std::vector<std::string> arm = where;
  std::vector<std::string> second;
  if (query.after) {
    const Row& after = *query.after;
    const std::string s = query.sort && !after[0].is_null() ? params.Add(after[0]) : "";
    std::string key_past;
    if (table.key_nullable) {
      key_past = NullableKeyPast(key_cols, Row(after.begin() + nsort, after.end()), &params, up);
    } else {
      std::vector<std::string> key_params;
      for (size_t i = nsort; i < after.size(); ++i) key_params.push_back(params.Add(after[i]));
      key_past = KeyPast(key_cols, key_params, op);
    }
    if (!query.sort) {
      arm.push_back(key_past);
    } else if (after[0].is_null()) {
      // Past (NULL, k): the rest of the NULL group, then (scanning up) every non-NULL value.
      arm.push_back(absl::StrCat(sort_col, " IS NULL AND ", key_past));
      if (up) {
        second = where;
        second.push_back(absl::StrCat(sort_col, " IS NOT NULL"));
      }
    } else {
      // Past (s, k): the rest of the s group and the values beyond s; scanning down, NULLs
      // come last. A leading c >= s (c <= s) gives the seek and leaves NULLs out.
      arm.push_back(absl::StrCat(sort_col, " ", op, "= ", s, " AND (", sort_col, " ", op, " ", s,
                                 " OR (", sort_col, " = ", s, " AND ", key_past, "))"));
      if (!up) {
        second = where;
        second.push_back(absl::StrCat(sort_col, " IS NULL"));
      }
    }
  }

  const std::string select = absl::StrCat(
      "SELECT ",
      absl::StrJoin(table.columns, ", ",
                    [](std::string* out, const ColumnSpec& c) { out->append(QuoteIdent(c.name)); }),
      " FROM ", from);
  auto arm_sql = [&](const std::vector<std::string>& conds) {
    return conds.empty() ? select : absl::StrCat(select, " WHERE ", absl::StrJoin(conds, " AND "));
  };
  // NULL sorts first ascending (SQLite's default; PostgreSQL needs it said, and the view
  // tables' indexes there are declared with the same placement). Keys are never NULL, but in
  // a table whose key_nullable says they may be.
  const char* dir = up ? " ASC" : " DESC";
  const char* nulls = up ? " NULLS FIRST" : " NULLS LAST";
  std::vector<std::string> order;
  if (query.sort) order.push_back(absl::StrCat(sort_col, dir, nulls));
  for (const std::string& k : key_cols) {
    order.push_back(absl::StrCat(k, dir, table.key_nullable ? nulls : ""));
  }
  const std::string order_by = absl::StrCat(" ORDER BY ", absl::StrJoin(order, ", "));
  const std::string limit = params.Add(Value::Int(query.limit));
  const std::string offset = params.Add(Value::Int(query.offset));

  std::string sql;
  if (second.empty()) {
    sql = arm_sql(arm);
  } else if (dialect.limit_each_arm) {
    const std::string arm_limit = absl::StrCat(" LIMIT ", limit, "::bigint + ", offset, "::bigint");
    sql = absl::StrCat("(", arm_sql(arm), order_by, arm_limit, ") UNION ALL (", arm_sql(second),
                       order_by, arm_limit, ")");
  } else {
    sql = absl::StrCat(arm_sql(arm), " UNION ALL ", arm_sql(second));
  }
  absl::StrAppend(&sql, order_by, " LIMIT ", limit, " OFFSET ", offset);
  return sql;
}

}  // namespace sv::store

namespace sv::store {
namespace {

const char* SqliteEngineType(EngineColumnType type) {
  switch (type) {
    case EngineColumnType::kText:
    case EngineColumnType::kKeyText:
      return "TEXT";
    case EngineColumnType::kRowId:
    case EngineColumnType::kInt64:
    case EngineColumnType::kInt32:
    case EngineColumnType::kBool:
      break;
  }
  return "INTEGER";
}

const char* SqliteColumnType(Type type) {
  switch (type) {
    case Type::kText:
    case Type::kTime:
    case Type::kJson:  // canonical JSON text
      return "TEXT";
    case Type::kInt:
    case Type::kBool:
    case Type::kInterval:
      return "INTEGER";
    case Type::kReal:
      return "REAL";
    case Type::kNull:
      break;
  }
  return "";
}

const char* PostgresEngineType(EngineColumnType type) {
  switch (type) {
    case EngineColumnType::kRowId:
    case EngineColumnType::kInt64:
      return "bigint";
    case EngineColumnType::kInt32:
      return "integer";
    case EngineColumnType::kText:
      return "text";
    case EngineColumnType::kKeyText:
      return "text COLLATE \"C\"";
    case EngineColumnType::kBool:
      break;
  }
  return "boolean";
}

const char* PostgresColumnType(Type type) {
  switch (type) {
    case Type::kText:
      return "text";
    case Type::kInt:
      return "bigint";
    case Type::kReal:
      return "double precision";
    case Type::kBool:
      return "boolean";
    case Type::kTime:
      return "timestamptz";
    case Type::kInterval:
      return "bigint";  // microseconds, exact (an interval's text form is lossy at the extremes)
    case Type::kJson:
      return "jsonb";  // queryable with PostgreSQL's JSON operators; read back canonicalized
    case Type::kNull:
      break;
  }
  return "text";
}

}  // namespace

const SqlDialect& SqlDialect::Sqlite() {
  static const SqlDialect dialect{
      '?', false, "LIKE", " WITHOUT ROWID", &SqliteEngineType, &SqliteColumnType};
  return dialect;
}

const SqlDialect& SqlDialect::Postgres() {
  static const SqlDialect dialect{'$', true, "ILIKE", "", &PostgresEngineType, &PostgresColumnType};
  return dialect;
}

namespace {

// A new row's version: the last deleted one of its key (none: 0) + 1. `key_param` is the
// placeholder bound to the row's DeletedVersionKey.
std::string NewRowVersion(const TableSpec& table, const std::string& deleted_versions,
                          const std::string& key_param) {
  return absl::StrCat("COALESCE((SELECT version FROM ", deleted_versions, " WHERE table_name = '",
                      absl::StrReplaceAll(table.name, {{"'", "''"}}), "' AND key = ", key_param,
                      "), 0) + 1");
}

}  // namespace

std::string DeletedVersionKey(const TableSpec& table, const Row& row, bool key_values_only) {
  Row key;
  key.reserve(table.key.size());
  for (size_t k = 0; k < table.key.size(); ++k) {
    key.push_back(key_values_only ? row[k] : row[table.key[k]]);
  }
  std::string encoded;
  EncodeKey(key.data(), key.size(), &encoded);
  return absl::BytesToHexString(encoded);
}

std::string BuildRecordDeletedVersion(const TableSpec& table, const std::string& deleted_versions,
                                      const Row& key, int64_t version, const SqlDialect& dialect,
                                      std::vector<Value>* binds) {
  Params params(binds, dialect.placeholder);
  const std::string name = params.Add(Value::Text(table.name));
  const std::string encoded = params.Add(Value::Text(DeletedVersionKey(table, key, true)));
  return absl::StrCat("INSERT INTO ", deleted_versions, " (table_name, key, version) VALUES (",
                      name, ", ", encoded, ", ", params.Add(Value::Int(version)),
                      ") ON CONFLICT (table_name, key) DO UPDATE SET version = excluded.version "
                      "RETURNING version");
}

absl::StatusOr<std::string> BuildVersionedWrite(const TableSpec& table, const std::string& from,
                                                const std::string& deleted_versions,
                                                VersionedWrite write, const Row& row,
                                                int version_column, std::optional<int64_t> expected,
                                                const SqlDialect& dialect,
                                                std::vector<Value>* binds) {
  if (version_column < 0 || version_column >= static_cast<int>(table.columns.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("versioned write to ", table.name, ": version column out of range"));
  }
  const size_t want = write == VersionedWrite::kUpsert ? table.columns.size() : table.key.size();
  if (row.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("versioned write to ", table.name, ": ",
                                                   row.size(), " values, expected ", want));
  }
  Params params(binds, dialect.placeholder);
  const std::string version = QuoteIdent(table.columns[version_column].name);
  auto is_key = [&](size_t i) {
    for (int k : table.key) {
      if (k == static_cast<int>(i)) return true;
    }
    return false;
  };
  // "k1" = ?1 AND … [AND version = ?n]
  auto key_where = [&](auto key_value) {
    std::string where;
    for (size_t k = 0; k < table.key.size(); ++k) {
      absl::StrAppend(&where, k ? " AND " : "", QuoteIdent(table.columns[table.key[k]].name), " = ",
                      params.Add(key_value(k)));
    }
    if (expected.has_value()) {
      absl::StrAppend(&where, " AND ", version, " = ", params.Add(Value::Int(*expected)));
    }
    return where;
  };
  if (write == VersionedWrite::kDelete) {
    std::string where = key_where([&](size_t k) { return row[k]; });
    return absl::StrCat("DELETE FROM ", from, " WHERE ", where, " RETURNING ", version);
  }
  if (expected.has_value() && *expected > 0) {
    // The row must be there at that version: an UPDATE, which takes the row's lock first.
    std::string set;
    for (size_t i = 0; i < table.columns.size(); ++i) {
      if (is_key(i) || static_cast<int>(i) == version_column) continue;
      absl::StrAppend(&set, QuoteIdent(table.columns[i].name), " = ", params.Add(row[i]), ", ");
    }
    absl::StrAppend(&set, version, " = ", version, " + 1");
    std::string where = key_where([&](size_t k) { return row[table.key[k]]; });
    return absl::StrCat("UPDATE ", from, " SET ", set, " WHERE ", where, " RETURNING ", version);
  }
  // A new row (expected 0: nothing when one is there), or any (the stored version + 1).
  std::string values;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    absl::StrAppend(
        &values, i ? ", " : "",
        static_cast<int>(i) == version_column
            ? NewRowVersion(table, deleted_versions,
                            params.Add(Value::Text(DeletedVersionKey(table, row, false))))
            : params.Add(row[i]));
  }
  std::string sql = absl::StrCat("INSERT INTO ", from, " AS cur (", ColumnList(table), ") VALUES (",
                                 values, ") ON CONFLICT (", KeyList(table), ") DO ");
  if (expected.has_value()) {
    absl::StrAppend(&sql, "NOTHING");
  } else {
    std::string set;
    for (size_t i = 0; i < table.columns.size(); ++i) {
      if (is_key(i) || static_cast<int>(i) == version_column) continue;
      const std::string col = QuoteIdent(table.columns[i].name);
      absl::StrAppend(&set, col, " = excluded.", col, ", ");
    }
    absl::StrAppend(&sql, "UPDATE SET ", set, version, " = cur.", version, " + 1");
  }
  absl::StrAppend(&sql, " RETURNING ", version);
  return sql;
}

std::string BuildVersionedUpsertMany(const TableSpec& table, const std::string& from,
                                     const std::string& deleted_versions, int version_column,
                                     size_t rows, const SqlDialect& dialect) {
  std::vector<Value> unused;
  Params params(&unused, dialect.placeholder);
  std::string sql = absl::StrCat("INSERT INTO ", from, " AS cur (", ColumnList(table), ") VALUES ");
  for (size_t r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const std::string param = params.Add(Value());
      absl::StrAppend(&sql, i ? ", " : "",
                      static_cast<int>(i) == version_column && !deleted_versions.empty()
                          ? NewRowVersion(table, deleted_versions, param)
                          : param);
    }
    sql += ")";
  }
  const std::string version = QuoteIdent(table.columns[version_column].name);
  absl::StrAppend(&sql, " ON CONFLICT (", KeyList(table), ") DO UPDATE SET ");
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (static_cast<int>(i) == version_column ||
        std::find(table.key.begin(), table.key.end(), static_cast<int>(i)) != table.key.end()) {
      continue;
    }
    const std::string col = QuoteIdent(table.columns[i].name);
    absl::StrAppend(&sql, col, " = excluded.", col, ", ");
  }
  absl::StrAppend(&sql, version, " = cur.", version, " + 1");
  return sql;
}

}  // namespace sv::store
