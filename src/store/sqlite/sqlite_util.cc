#include "store/sqlite/sqlite_util.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/json_value.h"
#include "common/time_util.h"

namespace sv::store::sqlite {

absl::Status Error(sqlite3* db, int rc, std::string_view context) {
  // The connection's message belongs to the last failed call; fall back to the code's text.
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : nullptr;
  if (msg == nullptr || (db != nullptr && sqlite3_extended_errcode(db) != rc)) {
    msg = sqlite3_errstr(rc);
  }
  std::string text = absl::StrCat("sqlite: ", absl::string_view(context.data(), context.size()),
                                  ": ", msg, " (code ", rc, ")");
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::UnavailableError(std::move(text));
  }
  // A full disk or a failed read/write/fsync: nothing of the failed transaction is kept, and
  // the store may work again once space returns (the engine retries with backoff, not ready).
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR) {
    return absl::UnavailableError(std::move(text));
  }
  return absl::InternalError(std::move(text));
}

std::string SqlLabel(std::string_view sql) {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n')) sql.remove_prefix(1);
  const size_t nl = sql.find('\n');
  if (nl != std::string_view::npos) sql = sql.substr(0, nl);
  constexpr size_t kMax = 120;
  if (sql.size() > kMax) return absl::StrCat(absl::string_view(sql.data(), kMax), "…");
  return std::string(sql);
}

int BindValue(sqlite3_stmt* stmt, int index, const Value& value, std::string* scratch) {
  switch (value.type()) {
    case Type::kNull:
      return sqlite3_bind_null(stmt, index);
    case Type::kBool:
    case Type::kInt:
    case Type::kInterval:
      return sqlite3_bind_int64(stmt, index, value.as_int());
    case Type::kReal:
      return sqlite3_bind_double(stmt, index, value.as_real());
    case Type::kText:
    case Type::kJson:
      return sqlite3_bind_text64(stmt, index, value.as_text().data(), value.as_text().size(),
                                 SQLITE_STATIC, SQLITE_UTF8);
    case Type::kTime:
      *scratch = FormatTime(value.as_int());
      return sqlite3_bind_text64(stmt, index, scratch->data(), scratch->size(), SQLITE_STATIC,
                                 SQLITE_UTF8);
  }
  return sqlite3_bind_null(stmt, index);
}

int BindValues(sqlite3_stmt* stmt, const std::vector<Value>& values, BindScratch* scratch) {
  constexpr size_t kFixed = BindScratch::kFixed;
  if (values.size() > kFixed) scratch->more.resize(values.size() - kFixed);
  for (size_t i = 0; i < values.size(); ++i) {
    std::string* s = i < kFixed ? &scratch->fixed[i] : &scratch->more[i - kFixed];
    const int rc = BindValue(stmt, static_cast<int>(i + 1), values[i], s);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

namespace {

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
  return std::string(text != nullptr ? text : "", sqlite3_column_bytes(stmt, col));
}

// A value by its storage class, for columns without a declared type or holding a value of a
// storage class the declared type does not cover.
Value NaturalValue(sqlite3_stmt* stmt, int col, int storage) {
  switch (storage) {
    case SQLITE_INTEGER:
      return Value::Int(sqlite3_column_int64(stmt, col));
    case SQLITE_FLOAT:
      return Value::Real(sqlite3_column_double(stmt, col));
    case SQLITE_NULL:
      return Value::Null();
    default:
      return Value::Text(ColumnText(stmt, col));
  }
}

}  // namespace

bool ReadValue(sqlite3_stmt* stmt, int col, Type declared, Value* out) {
  const int storage = sqlite3_column_type(stmt, col);
  if (storage == SQLITE_NULL) {
    *out = Value::Null();
    return true;
  }
  const bool numeric = storage == SQLITE_INTEGER || storage == SQLITE_FLOAT;
  switch (declared) {
    case Type::kText:
      if (storage == SQLITE_TEXT) {
        *out = Value::Text(ColumnText(stmt, col));
        return true;
      }
      break;
    case Type::kInt:
      if (storage == SQLITE_INTEGER) {
        *out = Value::Int(sqlite3_column_int64(stmt, col));
        return true;
      }
      break;
    case Type::kReal:
      if (numeric) {
        *out = Value::Real(sqlite3_column_double(stmt, col));
        return true;
      }
      break;
    case Type::kBool:
      if (numeric) {
        *out = Value::Bool(sqlite3_column_int64(stmt, col) != 0);
        return true;
      }
      break;
    case Type::kInterval:
      if (storage == SQLITE_INTEGER) {
        *out = Value::Interval(sqlite3_column_int64(stmt, col));
        return true;
      }
      break;
    case Type::kTime:
      if (storage == SQLITE_TEXT) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
        std::optional<int64_t> micros =
            ParseTime(std::string_view(text, sqlite3_column_bytes(stmt, col)));
        if (!micros) return false;
        *out = Value::Time(*micros);
        return true;
      }
      if (storage == SQLITE_INTEGER) {
        *out = Value::Time(sqlite3_column_int64(stmt, col));
        return true;
      }
      break;
    case Type::kJson:
      // Canonicalized: the text may come from SQLite's own JSON functions (a refresh, verify).
      if (storage == SQLITE_TEXT) {
        absl::StatusOr<std::string> json = CanonicalJson(ColumnText(stmt, col));
        if (!json.ok()) return false;
        *out = Value::Json(*std::move(json));
        return true;
      }
      break;
    case Type::kNull:
      break;
  }
  *out = NaturalValue(stmt, col, storage);
  return true;
}

}  // namespace sv::store::sqlite
