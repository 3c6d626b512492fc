#include "store/postgres/pg_conn.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sv::store::pg {
namespace {

std::string FirstLine(absl::string_view text) {
  const size_t nl = text.find('\n');
  if (nl != absl::string_view::npos) text = text.substr(0, nl);
  return std::string(text);
}

// SQLSTATEs after which the same work may succeed on a retry (possibly after a reconnect).
bool Retryable(absl::string_view state) {
  if (state.size() != 5) return false;
  if (state.substr(0, 2) == "08") return true;  // connection exception
  for (absl::string_view s : {"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"}) {
    if (state == s) return true;
  }
  return false;
}

}  // namespace

Conn::~Conn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::Status Conn::Connect() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  prepared_.clear();
  ++generation_;
  // A killed engine's server session must end within seconds, or its locks keep the next
  // engine out: TCP keepalives and a user timeout on every connection. They come before the
  // DSN (expanded from `dbname`), so settings the DSN gives win.
  const char* keywords[] = {"keepalives",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "tcp_user_timeout",
                            "connect_timeout",
                            "dbname",
                            nullptr};
  const char* values[] = {"1", "5", "2", "3", "15000", "30", dsn_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn_ == nullptr) return absl::UnavailableError("postgres: connect: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = FirstLine(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    return absl::UnavailableError(absl::StrCat("postgres: connect: ", msg));
  }
  for (const std::string& sql : session_sql_) {
    absl::Status s = Exec(sql);
    if (!s.ok()) return s;
  }
  // PostgreSQL 14+: a backend busy with a statement checks that its client is still there, so
  // one killed mid-statement ends (and releases its locks) in seconds, not when it finishes.
  if (PQserverVersion(conn_) >= 140000) {
    return Exec(
        "SELECT set_config('client_connection_check_interval', '2s', false) "
        "WHERE current_setting('client_connection_check_interval') = '0'");
  }
  return absl::OkStatus();
}

absl::Status Conn::Error(const PGresult* result, absl::string_view context) const {
  std::string msg;
  std::string state;
  if (result != nullptr) {
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    msg = FirstLine(primary != nullptr ? primary : PQresultErrorMessage(result));
    const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (s != nullptr) state = s;
  }
  if (msg.empty() && conn_ != nullptr) msg = FirstLine(PQerrorMessage(conn_));
  std::string text = absl::StrCat("postgres: ", context, ": ", msg);
  if (!state.empty()) absl::StrAppend(&text, " (SQLSTATE ", state, ")");
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || Retryable(state)) {
    return absl::UnavailableError(std::move(text));
  }
  if (state == "42P01") return absl::NotFoundError(std::move(text));
  // Class 22 (data exception: invalid UTF-8, a NUL byte, a value out of range) and 54000 (a
  // value too long): the input is wrong, retrying cannot help.
  if (state.rfind("22", 0) == 0 || state == "54000") {
    return absl::InvalidArgumentError(std::move(text));
  }
  if (state == "55000" || state == "25006") return absl::FailedPreconditionError(std::move(text));
  return absl::InternalError(std::move(text));
}

absl::StatusOr<Result> Conn::Check(PGresult* raw, absl::string_view context) {
  Result result(raw);
  const ExecStatusType st = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return result;
  return Error(result.get(), context);
}

bool Conn::TakeNotifies() {
  bool any = false;
  if (conn_ == nullptr) return false;
  while (PGnotify* n = PQnotifies(conn_)) {
    PQfreemem(n);
    any = true;
  }
  return any;
}

absl::StatusOr<bool> Conn::WaitForNotify(int timeout_ms) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  auto lost = [this] {
    return absl::UnavailableError(absl::StrCat("postgres: ", PQerrorMessage(conn_)));
  };
  if (PQconsumeInput(conn_) == 0) return lost();
  if (TakeNotifies()) return true;
  pollfd socket{PQsocket(conn_), POLLIN, 0};
  const int ready = poll(&socket, 1, timeout_ms);
  if (ready < 0 && errno != EINTR) return lost();
  if (ready <= 0) return false;
  if (PQconsumeInput(conn_) == 0) return lost();
  return TakeNotifies();
}

absl::Status Conn::Exec(absl::string_view sql) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  const std::string text(sql);
  std::string label = text.substr(0, std::min<size_t>(text.find('\n'), 100));
  absl::StatusOr<Result> r = Check(PQexec(conn_, text.c_str()), label);
  return r.status();
}

absl::StatusOr<Result> Conn::Query(const std::string& sql, const Params& params,
                                   bool text_results) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  std::vector<const char*> values(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i] ? params[i]->c_str() : nullptr;
  }
  return Check(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            values.data(), nullptr, nullptr, text_results ? 0 : 1),
               sql.substr(0, std::min<size_t>(sql.size(), 100)));
}

absl::Status Conn::Stream(const std::string& sql,
                          const std::function<absl::Status(const PGresult* row)>& each) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  const std::string label = sql.substr(0, std::min<size_t>(sql.size(), 100));
  if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1) == 0 ||
      PQsetSingleRowMode(conn_) == 0) {
    return Check(PQgetResult(conn_), label).status();
  }
  absl::Status status;
  bool cancelled = false;
  // Every result is read to the end (NULL), whatever happened, so the connection is usable.
  while (PGresult* raw = PQgetResult(conn_)) {
    Result result(raw);
    const ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_SINGLE_TUPLE && status.ok()) {
      status = each(raw);
      if (!status.ok() && !cancelled) {
        // The rest is not wanted: ask the server to stop sending it.
        std::unique_ptr<PGcancel, void (*)(PGcancel*)> cancel(PQgetCancel(conn_), PQfreeCancel);
        char error[256];
        if (cancel != nullptr) PQcancel(cancel.get(), error, sizeof error);
        cancelled = true;
      }
    } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && status.ok()) {
      status = Error(raw, label);
    }
  }
  return status;
}

absl::StatusOr<Result> Conn::Prepared(const std::string& sql, const Params& params) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("sv", prepared_.size() + 1);
    absl::StatusOr<Result> r = Check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr),
                                     sql.substr(0, std::min<size_t>(sql.size(), 100)));
    if (!r.ok()) return r.status();
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i] ? params[i]->c_str() : nullptr;
  }
  return Check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                              values.data(), nullptr, nullptr, 1),
               sql.substr(0, std::min<size_t>(sql.size(), 100)));
}

absl::Status Conn::CopyStart(const std::string& sql) {
  if (conn_ == nullptr) return absl::UnavailableError("postgres: not connected");
  Result r(PQexec(conn_, sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN) return Error(r.get(), sql);
  return absl::OkStatus();
}

absl::Status Conn::CopyData(absl::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    return Error(nullptr, "COPY data");
  }
  return absl::OkStatus();
}

absl::Status Conn::CopyFinish() {
  if (PQputCopyEnd(conn_, nullptr) != 1) return Error(nullptr, "COPY end");
  absl::Status status;
  for (;;) {
    Result r(PQgetResult(conn_));
    if (!r) break;
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && status.ok()) {
      status = Error(r.get(), "COPY");
    }
  }
  return status;
}

int64_t ReadInt64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<int64_t>(v);
}

int32_t ReadInt32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<int32_t>(v);
}

double ReadFloat64(const char* p) {
  const int64_t bits = ReadInt64(p);
  double d = 0;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

void AppendInt16(std::string* out, int16_t v) {
  const auto u = static_cast<uint16_t>(v);
  out->push_back(static_cast<char>(u >> 8));
  out->push_back(static_cast<char>(u & 0xff));
}

void AppendInt32(std::string* out, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  char b[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
               static_cast<char>(u)};
  out->append(b, 4);
}

void AppendInt64(std::string* out, int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(u >> (56 - 8 * i));
  out->append(b, 8);
}

void AppendFloat64(std::string* out, double v) {
  int64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  AppendInt64(out, bits);
}

std::string QuoteLiteral(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace sv::store::pg
