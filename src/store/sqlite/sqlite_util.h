#pragma once
// Small helpers over the sqlite3 C API for the SQLite store: statement ownership, error
// mapping, identifier quoting and Value <-> column conversion. Only for src/store/sqlite/.

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/value.h"
#include "store/sql_text.h"

namespace sv::store::sqlite {

// Owns a prepared statement.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      stmt_ = other.stmt_;
      other.stmt_ = nullptr;
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a (cached) statement when the scope ends, so it never stays active between calls.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() { sqlite3_reset(stmt_); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// "sqlite: <context>: <message>": SQLITE_BUSY / SQLITE_LOCKED / SQLITE_FULL / SQLITE_IOERR ->
// Unavailable (retryable), anything else -> Internal.
absl::Status Error(sqlite3* db, int rc, std::string_view context);

// A short context label for an SQL text (its first line, truncated).
std::string SqlLabel(std::string_view sql);

// QuoteIdent lives in store/sql_text.h (shared with the other SQL backend).
using ::sv::store::QuoteIdent;

// Binds `value` to parameter `index` (1-based). Text is bound without copying (the value must
// outlive the next step); kTime is formatted into `scratch` (which must likewise outlive the
// step) and bound from there.
int BindValue(sqlite3_stmt* stmt, int index, const Value& value, std::string* scratch);

// Where BindValues formats kTime values: a row or key of up to 16 values needs no allocation.
struct BindScratch {
  static constexpr size_t kFixed = 16;
  std::string fixed[kFixed];
  std::vector<std::string> more;  // the values past the first 16
};

// Binds values[i] to parameter i + 1 as BindValue does; `scratch` must outlive the next step.
// Returns the first error code, or SQLITE_OK.
int BindValues(sqlite3_stmt* stmt, const std::vector<Value>& values, BindScratch* scratch);

// Reads column `col` as a value of the declared type (NULL stays NULL). Returns false when a
// kTime column holds text that does not parse.
bool ReadValue(sqlite3_stmt* stmt, int col, Type declared, Value* out);

}  // namespace sv::store::sqlite
