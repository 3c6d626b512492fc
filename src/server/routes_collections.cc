// Collections over HTTP (issue 21 item 2; README "Collections"): GET /views/{c} and
// /views/{c}/{key...} (reached through the view routes), PUT and DELETE /views/{c}/{key...}
// with If-Match / If-None-Match on the row version and an idempotency key.

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/collections.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

std::string VersionTag(int64_t version) { return absl::StrCat("\"", version, "\""); }

// A row's version, from the library's or the reader's form.
int64_t VersionOf(const std::optional<streamview::Projection>& row) {
  return row.has_value() ? row->version : 0;
}

// What the caller may touch of a collection: every row (the admin, or no tenant column) or the
// rows whose tenant column holds `tenant`.
struct Scope {
  Caller caller;
  std::optional<Value> tenant;
};

// The caller's scope in `c`; false after replying 401/403.
bool ScopeOf(const Collection& c, const Caller& caller, http::Response& res, Scope* out) {
  out->caller = caller;
  out->tenant.reset();
  if (c.tenant < 0 || caller.admin) return true;
  if (caller.organization.empty()) {
    res.set_header("WWW-Authenticate", "Bearer");
    ReplyError(res, 401, "this collection is scoped by organization: it needs a caller");
    return false;
  }
  const Type type = c.api.table.columns[c.tenant].type;
  out->tenant = ParseTypedValue(caller.organization, type);
  if (!out->tenant.has_value()) {
    ReplyError(
        res, 403,
        absl::StrCat("organization '", caller.organization, "' is no ", std::string(TypeName(type)),
                     " value of the collection's tenant column"));
    return false;
  }
  return true;
}

// The key of the path as store values; false after replying 400.
bool ParseKey(const Collection& c, const std::vector<std::string>& key_text, http::Response& res,
              Row* key) {
  const store::TableSpec& table = c.api.table;
  if (key_text.size() != table.key.size()) {
    ReplyError(res, 400,
               absl::StrCat("collection '", c.config.name, "' has a key of ", table.key.size(),
                            " column(s), one path segment each: /views/", c.config.name, "/{",
                            table.columns[table.key.front()].name, "}..."),
               "key");
    return false;
  }
  for (size_t i = 0; i < key_text.size(); ++i) {
    const store::ColumnSpec& column = table.columns[table.key[i]];
    std::optional<Value> v = ParseTypedValue(key_text[i], column.type);
    if (!v) {
      ReplyError(res, 400,
                 absl::StrCat("not a valid ", std::string(TypeName(column.type)),
                              " for key column '", column.name, "'"),
                 column.name);
      return false;
    }
    key->push_back(std::move(*v));
  }
  return true;
}

streamview::Key LibraryKey(const Row& key) {
  streamview::Key out;
  for (const Value& v : key) out.push_back(Collections::ToLibrary(v));
  return out;
}

// Whether a stored row is outside the caller's scope (then it is answered as absent).
bool OutOfScope(const Collection& c, const Scope& scope,
                const std::optional<streamview::Projection>& row) {
  if (!scope.tenant.has_value() || !row.has_value()) return false;
  auto it = row->doc.find(c.config.tenant);
  return it == row->doc.end() || !(it->second == Collections::ToLibrary(*scope.tenant));
}

// The preconditions of a write: the version expected (0: no row), whether `If-Match: *` asks
// for any existing row, and whether any was sent.
struct Preconditions {
  std::optional<int64_t> expected;
  bool any_row = false;
  bool given = false;
};

// False after replying 400 (a malformed header).
bool ParsePreconditions(const http::Request& req, bool is_delete, http::Response& res,
                        Preconditions* out) {
  const std::string if_match = req.get_header_value("If-Match");
  const std::string if_none_match = req.get_header_value("If-None-Match");
  if (!if_match.empty() && !if_none_match.empty()) {
    ReplyError(res, 400, "send If-Match or If-None-Match, not both", "If-Match");
    return false;
  }
  if (!if_none_match.empty()) {
    if (is_delete || if_none_match != "*") {
      ReplyError(res, 400, "If-None-Match: * (create only) is the one form a PUT takes",
                 "If-None-Match");
      return false;
    }
    out->expected = 0;
    out->given = true;
    return true;
  }
  if (if_match.empty()) return true;
  out->given = true;
  if (if_match == "*") {
    out->any_row = true;
    return true;
  }
  absl::string_view tag = if_match;
  int64_t version = 0;
  if (!absl::ConsumePrefix(&tag, "\"") || !absl::ConsumeSuffix(&tag, "\"") ||
      !absl::SimpleAtoi(tag, &version) || version <= 0) {
    ReplyError(res, 400,
               "If-Match takes one row version as the ETag of a read gives it (\"3\"), or *",
               "If-Match");
    return false;
  }
  out->expected = version;
  return true;
}

// The idempotency key (Idempotency-Key or Event-Id), scoped to the caller's organization so two
// organizations' keys never collide; "" when none. False after replying 400.
bool EventIdOf(const http::Request& req, const Scope& scope, http::Response& res,
               std::string* out) {
  const std::string idempotency = req.get_header_value("Idempotency-Key");
  const std::string event = req.get_header_value("Event-Id");
  if (!idempotency.empty() && !event.empty() && idempotency != event) {
    ReplyError(res, 400, "Idempotency-Key and Event-Id differ: send one", "Idempotency-Key");
    return false;
  }
  const std::string& id = idempotency.empty() ? event : idempotency;
  if (id.size() > 512) {
    ReplyError(res, 400, "the idempotency key is longer than 512 bytes", "Idempotency-Key");
    return false;
  }
  *out = id.empty() || scope.caller.admin
             ? id
             : absl::StrCat("org:", scope.caller.organization, "/", id);
  return true;
}

void CountWrite(Server::Impl& impl, const Collection& c, const std::string& method,
                const char* outcome) {
  impl.registry
      .GetCounter("streamview_collection_writes_total",
                  "Writes to collections over HTTP, by collection, method and outcome "
                  "(created, updated, deleted, conflict, replayed, not_found, rejected)",
                  {{"collection", c.config.name}, {"method", method}, {"outcome", outcome}})
      ->Inc();
}

void ReplyConflict(http::Response& res, int64_t current) {
  if (current > 0) res.set_header("ETag", VersionTag(current));
  ReplyJson(res, 412,
            absl::StrCat("{\"error\":\"",
                         current > 0 ? "the row's version is not the one expected"
                                     : "there is no row at this key",
                         "\",\"current_version\":", current, "}"));
}

// A write the caller may make, retried while a concurrent writer moves the row between the
// scope check and the write (only when the caller sent no precondition: with one, a move is
// the caller's conflict).
template <typename Write>
void ApplyWrite(Server::Impl& impl, const Collection& c, const std::string& method,
                const Scope& scope, const Row& key, const Preconditions& pre,
                const std::string& event_id, http::Response& res, Write write) {
  auto lease = impl.collections->Acquire();
  if (!lease.ok()) return ReplyStatus(res, lease.status());
  streamview::ProjectionStore& projections = (*lease)->projections();
  // A row of another organization at a key without the tenant column must not be written: the
  // write is made conditional on the version seen in scope. So is every PUT: a row's version
  // goes on from its deleted predecessor's, so only the version expected tells created (201)
  // from updated (200).
  const bool guard = scope.tenant.has_value() || method == "PUT";
  for (int attempt = 0;; ++attempt) {
    std::optional<int64_t> expected = pre.expected;
    std::optional<streamview::Projection> current;
    if (guard || pre.any_row) {
      auto got = projections.Get(c.config.name, LibraryKey(key));
      if (!got.ok()) return ReplyError(res, 500, got.status().message());
      current = std::move(*got);
      if (OutOfScope(c, scope, current)) {
        CountWrite(impl, c, method, "not_found");
        return ReplyError(res, 404, "no such row");
      }
      if (pre.any_row) {
        if (!current.has_value()) {
          CountWrite(impl, c, method, "conflict");
          return ReplyConflict(res, 0);
        }
        expected = current->version;
      } else if (!expected.has_value()) {
        expected = VersionOf(current);
      }
    }
    streamview::WriteOptions options;
    options.expected_version = expected;
    options.event_id = event_id;
    streamview::Result<streamview::WriteResult> result = write(projections, options);
    if (!result.ok()) {
      CountWrite(impl, c, method, "rejected");
      const int status = result.status().code() == streamview::Code::kInvalidArgument ? 400
                         : result.status().code() == streamview::Code::kUnavailable   ? 503
                                                                                      : 500;
      return ReplyError(res, status, result.status().message());
    }
    const bool implicit = !pre.expected.has_value() && !pre.any_row;
    switch (result->outcome) {
      case streamview::WriteOutcome::kWritten:
        if (method == "DELETE") {
          CountWrite(impl, c, method, "deleted");
          res.status = 204;
          return;
        }
        CountWrite(impl, c, method, expected == 0 ? "created" : "updated");
        res.set_header("ETag", VersionTag(result->version));
        return ReplyJson(res, expected == 0 ? 201 : 200,
                         absl::StrCat("{\"version\":", result->version, "}"));
      case streamview::WriteOutcome::kConflict:
        if (implicit && attempt < 20) continue;  // the row moved under the scope check
        CountWrite(impl, c, method, "conflict");
        return ReplyConflict(res, result->version);
      case streamview::WriteOutcome::kNotFound:
        CountWrite(impl, c, method, "not_found");
        return ReplyError(res, 404, "no such row");
      case streamview::WriteOutcome::kAlreadyApplied: {
        // The first request with this key was applied: answer with the row as it is now.
        auto got = projections.Get(c.config.name, LibraryKey(key));
        const int64_t version = got.ok() ? VersionOf(*got) : 0;
        CountWrite(impl, c, method, "replayed");
        res.set_header("Idempotent-Replayed", "true");
        if (version > 0) res.set_header("ETag", VersionTag(version));
        return ReplyJson(res, 200, absl::StrCat("{\"replayed\":true,\"version\":", version, "}"));
      }
    }
  }
}

// The caller of a write: the route's head check passed (needs_caller), so this identifies it.
Caller WriteCaller(Server::Impl& impl, const http::Request& req, http::Response& res, bool* ok) {
  std::string organization;
  *ok = AuthorizedCaller(impl, req, res, &organization);
  return organization.empty() ? Caller{true, ""} : Caller{false, organization};
}

void ServeWrite(Server::Impl& impl, bool is_delete, const http::Request& req, http::Response& res) {
  const std::string method = is_delete ? "DELETE" : "PUT";
  const std::vector<std::string> segments = PathSegments(req, 1);
  const int index = impl.collections->Find(segments.front());
  if (index < 0) {
    if (impl.catalog->FindView(segments.front()) >= 0) {
      res.set_header("Allow", "GET");
      return ReplyError(res, 405,
                        "this view is fed by its source: only collections (config "
                        "'collections:') are written over HTTP",
                        "view");
    }
    return ReplyError(res, 404, "no such collection", "view");
  }
  const Collection& c = impl.collections->at(index);
  if (!OnlyParams(req, res, {})) return;
  bool authorized = false;
  const Caller caller = WriteCaller(impl, req, res, &authorized);
  if (!authorized) return;
  Scope scope;
  if (!ScopeOf(c, caller, res, &scope)) return;
  Row key;
  if (!ParseKey(c, {segments.begin() + 1, segments.end()}, res, &key)) return;
  for (size_t k = 0; k < key.size(); ++k) {
    // A key naming another organization: that row is not the caller's to see.
    if (c.api.table.key[k] == c.tenant && scope.tenant && !(key[k] == *scope.tenant)) {
      CountWrite(impl, c, method, "not_found");
      return ReplyError(res, 404, "no such row");
    }
  }
  Preconditions pre;
  if (!ParsePreconditions(req, is_delete, res, &pre)) return;
  if (!pre.given && c.config.require_preconditions) {
    return ReplyError(res, 428,
                      "this collection requires If-Match: \"<version>\" (or If-None-Match: * to "
                      "create)",
                      "If-Match");
  }
  std::string event_id;
  if (!EventIdOf(req, scope, res, &event_id)) return;
  if (is_delete) {
    return ApplyWrite(impl, c, method, scope, key, pre, event_id, res,
                      [&](streamview::ProjectionStore& p, const streamview::WriteOptions& o) {
                        return p.Delete(c.config.name, LibraryKey(key), o);
                      });
  }
  if (JsonNestingExceeds(req.body, kMaxJsonDepth)) {
    CountWrite(impl, c, method, "rejected");
    return ReplyError(res, 400,
                      absl::StrCat("the body nests JSON deeper than ", kMaxJsonDepth, " levels"),
                      "body");
  }
  auto parsed = Collections::ParseBody(c, req.body);
  if (auto* error = std::get_if<BodyError>(&parsed)) {
    CountWrite(impl, c, method, "rejected");
    return ReplyError(res, 400, error->message, error->column);
  }
  streamview::Document& doc = std::get<streamview::Document>(parsed);
  if (scope.tenant.has_value()) {
    const streamview::Value own = Collections::ToLibrary(*scope.tenant);
    auto it = doc.find(c.config.tenant);
    if (it != doc.end() && !std::holds_alternative<std::monostate>(it->second) &&
        !(it->second == own)) {
      CountWrite(impl, c, method, "rejected");
      return ReplyError(res, 403,
                        absl::StrCat("column '", c.config.tenant,
                                     "' is the caller's organization: another cannot be written"),
                        c.config.tenant);
    }
    doc[c.config.tenant] = own;
  }
  for (size_t k = 0; k < key.size(); ++k) {
    const std::string& name = c.api.table.columns[c.api.table.key[k]].name;
    const streamview::Value path_value = Collections::ToLibrary(key[k]);
    auto it = doc.find(name);
    if (it != doc.end() && !(it->second == path_value)) {
      CountWrite(impl, c, method, "rejected");
      return ReplyError(res, 400,
                        absl::StrCat("key column '", name, "' in the body differs from the path"),
                        name);
    }
    doc[name] = path_value;
  }
  ApplyWrite(impl, c, method, scope, key, pre, event_id, res,
             [&](streamview::ProjectionStore& p, const streamview::WriteOptions& o) {
               return p.Upsert(c.config.name, doc, o);
             });
}

}  // namespace

void ServeCollectionRead(Server::Impl& impl, int index, const std::vector<std::string>& key_text,
                         const http::Request& req, http::Response& res) {
  const Collection& c = impl.collections->at(index);
  Caller caller;
  if (!AuthorizeRead(impl, -1, req, res, &caller)) return;
  Scope scope;
  if (!ScopeOf(c, caller, res, &scope)) return;
  auto reader = impl.Reader();
  if (!reader.ok()) return ReplyStatus(res, reader.status());
  if (key_text.empty()) {
    auto parsed = ParseViewQuery(c.api, QueryParamsOf(req), Mode::kNative);
    if (auto* error = std::get_if<ParamError>(&parsed)) {
      return ReplyError(res, 400, error->message, error->parameter);
    }
    ParsedQuery& pq = std::get<ParsedQuery>(parsed);
    if (scope.tenant.has_value()) {
      pq.query.filters.push_back(store::Filter{c.tenant, store::FilterOp::kEq, {*scope.tenant}});
    }
    return ServeQueryResult(c.api, pq, **reader, Mode::kNative, req, res);
  }
  Row key;
  if (!ParseKey(c, key_text, res, &key)) return;
  auto row = (*reader)->GetRow(c.api.table, key);
  if (!row.ok()) return ReplyStatus(res, row.status());
  if (!row->has_value() || (scope.tenant.has_value() && !((**row)[c.tenant] == *scope.tenant))) {
    return ReplyError(res, 404, "no such row");
  }
  ReplyRow(req, res, VersionTag((**row)[c.version_column].as_int()), c.api.table, **row);
}

void Server::Impl::RegisterCollectionRoutes() {
  if (collections == nullptr || collections->empty()) return;
  // The caller is checked on the head, before the body is read.
  const http::RouteOptions options{.needs_caller = true};
  http->Put(R"(/views/([^/]+)/(.+))", options,
            [this](const http::Request& req, http::Response& res) {
              ServeWrite(*this, false, req, res);
            });
  http->Delete(
      R"(/views/([^/]+)/(.+))", options,
      [this](const http::Request& req, http::Response& res) { ServeWrite(*this, true, req, res); });
}

}  // namespace sv::server
