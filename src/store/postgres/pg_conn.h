#pragma once
// A thin libpq connection for the PostgreSQL store: results owned by RAII, errors mapped to
// absl::Status (connection trouble -> Unavailable, so callers retry), statements prepared once
// per connection and forgotten when it is re-established. Only for src/store/postgres/.

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/sql_text.h"

namespace sv::store::pg {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Text-format parameters; nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

class Conn {
 public:
  Conn(std::string dsn, std::vector<std::string> session_sql)
      : dsn_(std::move(dsn)), session_sql_(std::move(session_sql)) {}
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects (or reconnects after a loss) and runs the session statements.
  absl::Status Connect();
  bool ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
  PGconn* raw() const { return conn_; }
  // Bumped at every (re)connect: cached per-connection state keyed by it goes stale.
  int64_t generation() const { return generation_; }

  // Simple-protocol statements (several allowed), no result rows expected.
  absl::Status Exec(absl::string_view sql);
  // One statement with text parameters; binary results unless `text_results`.
  absl::StatusOr<Result> Query(const std::string& sql, const Params& params,
                               bool text_results = false);
  // Same through a statement prepared once per connection.
  absl::StatusOr<Result> Prepared(const std::string& sql, const Params& params);
  // One parameterless statement whose rows (binary) are handed to `each` as they arrive, one
  // result per row (libpq's single-row mode): a table larger than memory streams through. When
  // `each` fails, the statement is cancelled on the server and that failure returned.
  absl::Status Stream(const std::string& sql,
                      const std::function<absl::Status(const PGresult* row)>& each);

  // COPY ... FROM STDIN: sends `data` in one or more chunks; Finish ends the copy.
  absl::Status CopyStart(const std::string& sql);
  absl::Status CopyData(absl::string_view data);
  absl::Status CopyFinish();

  // Notifications (LISTEN): drops those received so far, true when there was one.
  bool TakeNotifies();
  // Waits at most `timeout_ms` for a notification (outside a transaction only: a session
  // receives them between transactions); true when one came.
  absl::StatusOr<bool> WaitForNotify(int timeout_ms);

  // Maps a failed result (or a broken connection) to a Status with `context`.
  absl::Status Error(const PGresult* result, absl::string_view context) const;

 private:
  absl::StatusOr<Result> Check(PGresult* result, absl::string_view context);

  std::string dsn_;
  std::vector<std::string> session_sql_;
  PGconn* conn_ = nullptr;
  int64_t generation_ = 0;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
};

// Big-endian readers for binary results.
int64_t ReadInt64(const char* p);
int32_t ReadInt32(const char* p);
double ReadFloat64(const char* p);
// Writers for binary COPY.
void AppendInt16(std::string* out, int16_t v);
void AppendInt32(std::string* out, int32_t v);
void AppendInt64(std::string* out, int64_t v);
void AppendFloat64(std::string* out, double v);

// "name" with embedded quotes doubled.
// store/sql_text.h's QuoteIdent (shared with the other SQL backend), for absl::string_view.
inline std::string QuoteIdent(absl::string_view name) {
  return ::sv::store::QuoteIdent(std::string_view(name.data(), name.size()));
}
// 'text' with embedded quotes doubled (standard_conforming_strings is on).
std::string QuoteLiteral(absl::string_view text);

}  // namespace sv::store::pg
