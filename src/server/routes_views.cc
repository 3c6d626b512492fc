// Read routes (/views, /views/{view}, /views/{view}/{key...}, the configured compatibility
// routes such as /orders) and POST /events.

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "rapidjson/document.h"
#include "server/events_body.h"
#include "server/json.h"
#include "server/server_internal.h"
#include "trace/trace.h"

namespace sv::server {
namespace {

std::string Encoded(const std::string& s) { return http::EncodeQueryParam(s); }

// For messages: "orders/0:42,orders/1:17" (the log's: "42").
std::string Describe(const source::SourceTraits& traits, const Position& position) {
  if (traits.single_partition) return std::to_string(position.at(0));
  std::vector<std::string> parts;
  for (const auto& [partition, at] : position.partitions()) {
    parts.push_back(absl::StrCat(traits.partition_label(partition), ":", at));
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, ",");
}

}  // namespace

// The query parameters in URL order, so errors name the first bad parameter as sent and Link
// headers keep the client's order.
Params QueryParamsOf(const http::Request& req) {
  Params params;
  for (const auto& [name, value] : req.params) {
    if (name == "min_position") continue;  // read-your-writes, handled before the query
    params.emplace_back(name, value);
  }
  return params;
}

namespace {

// "<path>?<params, with cursor/page replaced>" for Link headers.
std::string LinkUrl(const std::string& path, const Params& params, const std::string& name,
                    const std::string& value) {
  std::string url = path + "?";
  bool first = true;
  for (const auto& [n, v] : params) {
    if (n == "cursor" || n == "page") continue;
    absl::StrAppend(&url, first ? "" : "&", Encoded(n), "=", Encoded(v));
    first = false;
  }
  absl::StrAppend(&url, first ? "" : "&", name, "=", Encoded(value));
  return url;
}

// The tenant column of `view` among `api`'s columns (the active version's, which may be
// another definition's: found by name); -1 when it has none.
int TenantColumn(const Server::Impl& impl, int view, const ViewApi& api) {
  const int tenant = impl.catalog->views[view].tenant;
  if (tenant < 0) return -1;
  const std::string& name = impl.views[view].table.columns[tenant].name;
  for (size_t c = 0; c < api.table.columns.size(); ++c) {
    if (api.table.columns[c].name == name) return static_cast<int>(c);
  }
  return -1;
}

void ServeQuery(Server::Impl& impl, int view, Mode mode, const http::Request& req,
                http::Response& res) {
  Caller caller;
  if (!AuthorizeRead(impl, view, req, res, &caller)) return;
  auto reader = impl.Reader();
  if (!reader.ok()) return ReplyStatus(res, reader.status());
  // The active version's columns: a filter or sort on a column it lacks is a 400 naming it.
  ViewApi scratch;
  auto active = impl.ActiveApi(view, **reader, &scratch);
  if (!active.ok()) return ReplyStatus(res, active.status());
  const ViewApi& api = **active;
  const Params params = QueryParamsOf(req);
  auto parsed = ParseViewQuery(api, params, mode);
  if (auto* error = std::get_if<ParamError>(&parsed)) {
    ReplyError(res, 400, error->message, error->parameter);
    return;
  }
  std::optional<Value> tenant;
  if (!TenantValue(impl, view, caller, res, &tenant)) return;
  if (!AwaitPosition(impl, view, req, res)) return;
  ParsedQuery& pq = std::get<ParsedQuery>(parsed);
  if (tenant.has_value()) {
    const int column = TenantColumn(impl, view, api);
    if (column < 0) return ReplyError(res, 503, "the active version has no organization column");
    // Bound into the store query: whatever else the request asks, only the caller's rows.
    pq.query.filters.push_back(store::Filter{column, store::FilterOp::kEq, {*tenant}});
  }
  const std::string position = impl.AppliedPositions(view).ToToken();
  res.set_header(kPositionHeader, position);
  ServeQueryResult(api, pq, **reader, mode, req, res);
}

}  // namespace

void ServeQueryResult(const ViewApi& api, const ParsedQuery& pq, store::Store& reader, Mode mode,
                      const http::Request& req, http::Response& res) {
  const Params params = QueryParamsOf(req);
  const int64_t limit = pq.query.limit;
  store::ViewQuery query = pq.query;
  query.limit = limit + 1;  // one more tells whether another page follows
  absl::StatusOr<std::vector<Row>> rows;
  {
    trace::ScopedSpan read_span("store.read", nullptr, trace::ScopedSpan::Origin::kChildOnly);
    rows = reader.QueryView(api.table, query);
    if (read_span.recording()) {
      read_span.SetAttribute("sv.table", api.table.name);
      read_span.SetAttribute("sv.read", "query");
      read_span.SetAttribute("sv.rows", rows.ok() ? static_cast<int64_t>(rows->size()) : -1);
    }
  }
  if (!rows.ok()) return ReplyStatus(res, rows.status());
  std::vector<Row>& items = *rows;
  bool more = static_cast<int64_t>(items.size()) > limit;
  if (more) {
    // Walking backward, the extra row is the farthest one: the first.
    if (query.backward) {
      items.erase(items.begin());
    } else {
      items.pop_back();
    }
  }
  std::string next, prev;
  if (!items.empty()) {
    const bool has_next = query.backward ? true : more;
    const bool has_prev = query.backward ? more : query.after.has_value() || pq.query.offset > 0;
    if (has_next) next = EncodeCursor(api, pq.query, items.back(), false);
    if (has_prev) prev = EncodeCursor(api, pq.query, items.front(), true);
  }
  std::vector<std::string> links;
  if (pq.page > 0) {
    if (more)
      links.push_back(absl::StrCat(
          "<", LinkUrl(req.path, params, "page", std::to_string(pq.page + 1)), ">; rel=\"next\""));
    if (pq.page > 1)
      links.push_back(absl::StrCat(
          "<", LinkUrl(req.path, params, "page", std::to_string(pq.page - 1)), ">; rel=\"prev\""));
  } else {
    if (!next.empty()) {
      links.push_back(
          absl::StrCat("<", LinkUrl(req.path, params, "cursor", next), ">; rel=\"next\""));
    }
    if (!prev.empty()) {
      links.push_back(
          absl::StrCat("<", LinkUrl(req.path, params, "cursor", prev), ">; rel=\"prev\""));
    }
  }
  if (!links.empty()) {
    std::string link;
    for (const std::string& l : links) absl::StrAppend(&link, link.empty() ? "" : ", ", l);
    res.set_header("Link", link);
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("items");
  w.StartArray();
  for (const Row& row : items) WriteRow(w, api.table, row);
  w.EndArray();
  w.Key("next_cursor");
  next.empty() ? w.Null() : w.String(next.c_str());
  w.Key("prev_cursor");
  prev.empty() ? w.Null() : w.String(prev.c_str());
  if (mode == Mode::kCompat && pq.page > 0) {
    w.Key("page");
    w.Int64(pq.page);
    w.Key("pageSize");
    w.Int64(limit);
  }
  w.EndObject();
  ReplyJson(res, 200, buf.GetString());
}

namespace {

void ServeRow(Server::Impl& impl, int view, const std::vector<std::string>& key_text,
              const http::Request& req, http::Response& res) {
  Caller caller;
  if (!AuthorizeRead(impl, view, req, res, &caller)) return;
  std::optional<Value> tenant;
  if (!TenantValue(impl, view, caller, res, &tenant)) return;
  auto reader = impl.Reader();
  if (!reader.ok()) return ReplyStatus(res, reader.status());
  ViewApi scratch;  // the active version's columns (its row is of that version alone)
  auto active = impl.ActiveApi(view, **reader, &scratch);
  if (!active.ok()) return ReplyStatus(res, active.status());
  const ViewApi& api = **active;
  if (key_text.size() != api.table.key.size()) {
    return ReplyError(
        res, 400,
        absl::StrCat("view '", api.view, "' has a key of ", api.table.key.size(), " column(s): /",
                     api.view, "/{", api.table.columns[api.table.key.front()].name, "}..."),
        "key");
  }
  Row key;
  for (size_t i = 0; i < key_text.size(); ++i) {
    const store::ColumnSpec& column = api.table.columns[api.table.key[i]];
    std::optional<Value> v = ParseTypedValue(key_text[i], column.type);
    if (!v) {
      return ReplyError(res, 400,
                        absl::StrCat("not a valid ", std::string(TypeName(column.type)),
                                     " for key column '", column.name, "'"),
                        column.name);
    }
    key.push_back(std::move(*v));
  }
  if (!AwaitPosition(impl, view, req, res)) return;
  const std::string position = impl.AppliedPositions(view).ToToken();
  trace::ScopedSpan read_span("store.read", nullptr, trace::ScopedSpan::Origin::kChildOnly);
  auto row = (*reader)->GetRow(api.table, key);
  if (read_span.recording()) {
    read_span.SetAttribute("sv.table", api.table.name);
    read_span.SetAttribute("sv.read", "row");
    read_span.SetAttribute("sv.rows", row.ok() ? int64_t{row->has_value() ? 1 : 0} : -1);
  }
  if (!row.ok()) return ReplyStatus(res, row.status());
  res.set_header(kPositionHeader, position);
  // Another organization's row is as absent as a missing one: its existence is not told.
  const int tenant_column = TenantColumn(impl, view, api);
  if (tenant.has_value() && tenant_column < 0) {
    return ReplyError(res, 503, "the active version has no organization column");
  }
  if (!row->has_value() || (tenant.has_value() && !((**row)[tenant_column] == *tenant))) {
    return ReplyError(res, 404, "no such row");
  }
  ReplyRow(req, res, RowETag(**row), api.table, **row);
}

// POST /events: NDJSON lines or one JSON array of events/envelopes, appended in one
// transaction; durable when the response is sent.
void AppendEvents(Server::Impl& impl, const http::Request& req, http::Response& res) {
  if (!OnlyParams(req, res, {"source"})) return;
  int source = -1;
  const std::string source_name = req.get_param_value("source");
  for (size_t s = 0; s < impl.catalog->sources.size(); ++s) {
    const auto& cfg = impl.catalog->sources[s].config;
    if (impl.sources[s].accepts_appends && (source_name.empty() || cfg.name == source_name)) {
      source = static_cast<int>(s);
      break;
    }
  }
  if (source < 0) return ReplyError(res, 404, "no embedded log source to append to", "source");
  const size_t first = req.body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && req.body[first] == '[' &&
      JsonNestingExceeds(req.body, kMaxJsonDepth)) {
    return ReplyError(res, 400,
                      absl::StrCat("the body nests JSON deeper than ", kMaxJsonDepth, " levels"),
                      "body");
  }
  absl::StatusOr<std::string> lines = EventsBodyToLines(req.body);
  if (!lines.ok()) return ReplyError(res, 400, lines.status().message(), "body");
  std::istringstream in(*lines);
  engine::IngestOptions options;
  options.batch_lines = std::numeric_limits<size_t>::max() / 2;  // one transaction
  absl::StatusOr<engine::IngestResult> result;
  {
    std::lock_guard<std::mutex> lock(impl.writer_mu);
    if (impl.writer == nullptr) {
      auto opened = store::OpenStore(impl.store, store::StoreRole::kWriter);
      if (!opened.ok()) return ReplyStatus(res, opened.status());
      impl.writer = std::move(*opened);
    }
    result = engine::IngestLines(impl.catalog->sources[source], impl.writer.get(), in, options);
  }
  if (!result.ok()) return ReplyStatus(res, result.status());
  ReplyJson(res, 200,
            absl::StrCat("{\"appended\":", result->appended,
                         ",\"last_position\":", result->last_position, "}"));
}

}  // namespace

void ServeRowRoute(Server::Impl& impl, int view, const std::vector<std::string>& key_text,
                   const http::Request& req, http::Response& res) {
  ServeRow(impl, view, key_text, req, res);
}

bool AwaitPosition(Server::Impl& impl, int view, const http::Request& req, http::Response& res) {
  std::string wanted = req.get_header_value(kMinPositionHeader);
  std::string parameter = kMinPositionHeader;
  if (wanted.empty() && req.has_param("min_position")) {
    wanted = req.get_param_value("min_position");
    parameter = "min_position";
  }
  if (wanted.empty()) return true;
  const source::SourceTraits& traits = impl.SourceOf(view);
  absl::StatusOr<Position> position = source::ParsePosition(traits, wanted);
  if (!position.ok()) {
    ReplyError(res, 400, position.status().message(), parameter);
    return false;
  }
  const std::string& source = impl.catalog->sources[impl.catalog->views[view].source].config.name;
  if (impl.monitor->WaitForPosition(source, *position,
                                    std::chrono::milliseconds(impl.config.server.read_wait_ms))) {
    return true;
  }
  res.set_header("Retry-After", "1");
  ReplyError(res, 503,
             absl::StrCat("the view has not applied position ", Describe(traits, *position),
                          " yet (applied ", Describe(traits, impl.AppliedPositions(view)), ")"),
             parameter);
  return false;
}

namespace {

// "columns" (name and type each) and "key" (column names) of a table, for GET /views.
void WriteColumnsAndKey(const store::TableSpec& table, JsonWriter& w) {
  w.Key("columns");
  w.StartArray();
  for (const auto& column : table.columns) {
    w.StartObject();
    w.Key("name");
    w.String(column.name.c_str());
    w.Key("type");
    w.String(std::string(TypeName(column.type)).c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("key");
  w.StartArray();
  for (int k : table.key) w.String(table.columns[k].name.c_str());
  w.EndArray();
}

}  // namespace

void Server::Impl::RegisterViewRoutes() {
  // Routes are tried in registration order (a regex match each): hot read routes first.
  for (const auto& [path, view] : by_path) {
    const int v = view;
    http->Get(path, [this, v](const http::Request& req, http::Response& res) {
      ServeQuery(*this, v, Mode::kCompat, req, res);
    });
    http->Get(path + "/(.+)", [this, v](const http::Request& req, http::Response& res) {
      ServeRow(*this, v, PathSegments(req, 1), req, res);
    });
  }
  http->Get("/views", [this](const http::Request& req, http::Response& res) {
    Caller caller;
    if (!AuthorizeRead(*this, -1, req, res, &caller)) return;
    auto reader = Reader();
    if (!reader.ok()) return ReplyStatus(res, reader.status());
    auto versions = (*reader)->ListViewVersions();
    if (!versions.ok()) return ReplyStatus(res, versions.status());
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("views");
    w.StartArray();
    for (size_t v = 0; v < views.size(); ++v) {
      if (catalog->views[v].internal) continue;  // served to no one
      ViewApi scratch;
      const ViewApi& api = ActiveApi(static_cast<int>(v), *versions, &scratch);
      w.StartObject();
      w.Key("name");
      w.String(api.view.c_str());
      w.Key("source");
      w.String(catalog->sources[catalog->views[v].source].config.name.c_str());
      if (const auto& derived = catalog->views[v].derived) {
        // Derived views say what they are computed from and how they are kept current.
        w.Key("derived");
        w.StartObject();
        w.Key("sql");
        w.String(derived->sql.c_str());
        w.Key("reads");
        w.StartArray();
        for (int input : derived->inputs) w.String(catalog->views[input].name.c_str());
        w.EndArray();
        w.Key("maintenance");
        w.String(derived->refresh.empty() ? "incremental" : "refresh");
        if (!derived->refresh.empty()) {
          w.Key("refresh");
          w.String(derived->refresh.c_str());
        }
        w.EndObject();
      }
      WriteColumnsAndKey(api.table, w);
      w.Key("indexes");
      w.StartArray();
      for (const auto& index : api.table.indexes) {
        w.StartArray();
        for (const auto& c : index.columns) w.String(c.c_str());
        w.EndArray();
      }
      w.EndArray();
      w.Key("sortable");
      w.StartArray();
      for (int c : api.sortable) w.String(api.table.columns[c].name.c_str());
      w.EndArray();
      w.Key("time_column");
      api.time_column ? w.String(api.table.columns[*api.time_column].name.c_str()) : w.Null();
      w.Key("version");
      int64_t version = 0;
      for (const auto& vv : *versions) {
        if (vv.view == api.view && vv.active) version = vv.version;
      }
      w.Int64(version);
      // Per partition, as the source labels them, and as the token X-StreamView-Position
      // carries; applied_position sums the partitions, as /lags and /metrics do.
      const Position applied = AppliedPositions(static_cast<int>(v));
      const source::SourceTraits& traits = SourceOf(static_cast<int>(v));
      int64_t sum = 0;
      w.Key("applied_positions");
      w.StartObject();
      for (const auto& [partition, at] : applied.partitions()) {
        w.Key(traits.partition_label(partition).c_str());
        w.Int64(at);
        sum += at;
      }
      w.EndObject();
      w.Key("applied_position");
      w.Int64(sum);
      w.Key("position");
      w.String(applied.ToToken().c_str());
      w.EndObject();
    }
    // Collections (written over HTTP): no source, no position; `writable` says so.
    for (int c = 0; collections != nullptr && c < collections->size(); ++c) {
      const ViewApi& api = collections->at(c).api;
      w.StartObject();
      w.Key("name");
      w.String(api.view.c_str());
      w.Key("source");
      w.Null();
      w.Key("writable");
      w.Bool(true);
      WriteColumnsAndKey(api.table, w);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    ReplyJson(res, 200, buf.GetString());
  });
  // /views/{view} and /views/{view}/{key...} (GET /views/rebuild, an ops route, is registered
  // first and wins).
  http->Get(R"(/views/([^/]+)(/.+)?)", [this](const http::Request& req, http::Response& res) {
    const std::vector<std::string> segments = PathSegments(req, 1);
    const int view = catalog->FindView(segments.front());
    if (view < 0 && collections != nullptr) {
      const int collection = collections->Find(segments.front());
      if (collection >= 0) {
        return ServeCollectionRead(*this, collection, {segments.begin() + 1, segments.end()}, req,
                                   res);
      }
    }
    // An internal view (a step other views read) is served to no one, admins included.
    if (view < 0 || catalog->views[view].internal) {
      return ReplyError(res, 404, "no such view", "view");
    }
    if (segments.size() == 1) return ServeQuery(*this, view, Mode::kNative, req, res);
    ServeRow(*this, view, {segments.begin() + 1, segments.end()}, req, res);
  });
  http->Post(
      "/events", http::RouteOptions{.needs_token = true},
      [this](const http::Request& req, http::Response& res) { AppendEvents(*this, req, res); });
}

}  // namespace sv::server
