#include "source/pg_changes/pg_link.h"

#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace sv::source::pg {

Link::~Link() { Close(); }

void Link::Close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

absl::Status Link::Connect(const std::string& dsn, bool replication) {
  Close();
  // Later keys override what the expanded dsn says: the dsn's own server options are kept
  // (say, logical_decoding_work_mem for the walsender), ours follow them and win.
  std::string options = "-c TimeZone=UTC -c DateStyle=ISO";
  char* parse_error = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error)) {
    for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) == "options" && o->val != nullptr && *o->val != '\0') {
        options = absl::StrCat(o->val, " ", options);
      }
    }
    PQconninfoFree(parsed);
  }
  if (parse_error != nullptr) PQfreemem(parse_error);  // PQconnectdbParams says it again
  std::vector<const char*> keys = {"dbname", "options", "application_name"};
  std::vector<const char*> values = {dsn.c_str(), options.c_str(), "streamview"};
  if (replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (PQstatus(conn_) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("cannot connect to the source database: ", PQerrorMessage(conn_)));
    Close();
    return s;
  }
  return absl::OkStatus();
}

absl::Status Link::Error(const PGresult* result, const std::string& context) const {
  std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message.empty() && conn_ != nullptr) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const std::string text = absl::StrCat(context, ": ", message);
  if (!ok()) return absl::UnavailableError(text);
  return absl::InvalidArgumentError(text);
}

absl::StatusOr<Result> Link::Query(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params,
                                   ExecStatusType expect) {
  if (!ok()) return absl::UnavailableError("not connected to the source database");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, 0));
  if (PQresultStatus(r.get()) != expect) return Error(r.get(), sql.substr(0, 120));
  return r;
}

absl::Status Link::Exec(const std::string& sql) {
  if (!ok()) return absl::UnavailableError("not connected to the source database");
  Result r(PQexec(conn_, sql.c_str()));
  const ExecStatusType status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Error(r.get(), sql.substr(0, 120));
  }
  return absl::OkStatus();
}

std::string FormatLsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%" PRIX32 "/%" PRIX32, static_cast<uint32_t>(lsn >> 32),
                static_cast<uint32_t>(lsn));
  return buf;
}

std::optional<uint64_t> ParseLsn(const std::string& text) {
  unsigned hi = 0, lo = 0;
  if (std::sscanf(text.c_str(), "%X/%X", &hi, &lo) != 2) return std::nullopt;
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string QuoteTable(const std::string& table) {
  const size_t dot = table.find('.');
  if (dot == std::string::npos) return QuoteIdent(table);
  return absl::StrCat(QuoteIdent(table.substr(0, dot)), ".", QuoteIdent(table.substr(dot + 1)));
}

std::string QuoteLiteral(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

}  // namespace sv::source::pg
