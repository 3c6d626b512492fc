#pragma once
// The connections a change-feed source keeps to the source database: a plain session (checks,
// the initial snapshot) and a replication session (the slot and its stream). Sessions run in
// UTC with ISO dates, so values read the same in the snapshot and the stream.

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sv::source::pg {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

class Link {
 public:
  Link() = default;
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // `dsn` as libpq reads it (key=value or a URI); `replication` opens a walsender session.
  absl::Status Connect(const std::string& dsn, bool replication);
  void Close();
  bool ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
  PGconn* raw() const { return conn_; }

  // A statement with text parameters and text results; `expect` is the status it must end in.
  absl::StatusOr<Result> Query(const std::string& sql,
                               const std::vector<std::optional<std::string>>& params = {},
                               ExecStatusType expect = PGRES_TUPLES_OK);
  absl::Status Exec(const std::string& sql);
  // Connection trouble is Unavailable (the engine retries); anything else InvalidArgument.
  absl::Status Error(const PGresult* result, const std::string& context) const;

 private:
  PGconn* conn_ = nullptr;
};

// "16/B374D848" <-> 0x16B374D848.
std::string FormatLsn(uint64_t lsn);
std::optional<uint64_t> ParseLsn(const std::string& text);
// "name" with embedded quotes doubled; "schema.table" quoted part by part.
std::string QuoteIdent(const std::string& name);
std::string QuoteTable(const std::string& table);
std::string QuoteLiteral(const std::string& text);

}  // namespace sv::source::pg
