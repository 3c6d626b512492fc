// GET /openapi.json: an OpenAPI 3.0 document of exactly the routes this config serves, with
// each view's declared filters, sorts and key, so Swagger UI and client generators work.

#include <string>
#include <vector>

#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

const char* SchemaType(Type t) {
  switch (t) {
    case Type::kBool:
      return "boolean";
    case Type::kInt:
    case Type::kInterval:
      return "integer";
    case Type::kReal:
      return "number";
    case Type::kJson:
      return "object";  // or any JSON value; served nested, not as a string
    default:
      return "string";
  }
}

void Str(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str());
}

void Param(JsonWriter& w, const std::string& name, const char* in, const char* type,
           const std::string& description, bool required = false) {
  w.StartObject();
  Str(w, "name", name);
  Str(w, "in", in);
  w.Key("required");
  w.Bool(required);
  Str(w, "description", description);
  w.Key("schema");
  w.StartObject();
  Str(w, "type", type);
  w.EndObject();
  w.EndObject();
}

void MinPositionParam(JsonWriter& w) {
  Param(w, "min_position", "query", "string",
        "read-your-writes: wait until the view has applied this position (an "
        "X-StreamView-Position token, <partition label>:<position>,..., or for the embedded log "
        "a plain integer)");
}

void Responses(JsonWriter& w, const std::vector<std::pair<int, std::string>>& codes) {
  w.Key("responses");
  w.StartObject();
  for (const auto& [code, text] : codes) {
    w.Key(std::to_string(code).c_str());
    w.StartObject();
    Str(w, "description", text);
    w.EndObject();
  }
  w.EndObject();
}

// This operation needs the bearer token.
void Security(JsonWriter& w) {
  w.Key("security");
  w.StartArray();
  w.StartObject();
  w.Key("bearer");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  w.EndArray();
}

void Operation(JsonWriter& w, const char* method, const std::string& summary, bool secured,
               const std::vector<std::pair<int, std::string>>& codes) {
  w.Key(method);
  w.StartObject();
  Str(w, "summary", summary);
  if (secured) Security(w);
  Responses(w, codes);
  w.EndObject();
}

void ListOperation(JsonWriter& w, const ViewApi& api, bool compat) {
  w.Key("get");
  w.StartObject();
  Str(w, "summary", "A page of " + api.view + " (filters, sort, cursor pagination)");
  w.Key("parameters");
  w.StartArray();
  for (const auto& c : api.table.columns) {
    const char* type = SchemaType(c.type);
    Param(w, c.name, "query", "string", "equals (a,b,c = any of)");
    for (const char* op : {"gt", "gte", "lt", "lte"}) {
      Param(w, c.name + "." + op, "query", type, std::string(op) + " comparison");
    }
    if (c.type == Type::kText) {
      Param(w, c.name + ".prefix", "query", "string", "starts with (case-insensitive)");
      Param(w, c.name + ".contains", "query", "string", "contains (case-insensitive)");
    }
  }
  if (api.time_column) {
    const std::string& t = api.table.columns[*api.time_column].name;
    Param(w, "from", "query", "string", t + " >= from (ISO-8601)");
    Param(w, "to", "query", "string", t + " < to (ISO-8601)");
  }
  {
    std::string sorts;
    for (int c : api.sortable) sorts += (sorts.empty() ? "" : ", ") + api.table.columns[c].name;
    Param(w, "sort", "query", "string",
          "col or -col; sortable: " + (sorts.empty() ? std::string("key only") : sorts));
  }
  Param(w, compat ? "pageSize" : "limit", "query", "integer",
        "rows per page (max " + std::to_string(api.max_limit) + ")");
  Param(w, "cursor", "query", "string", "opaque cursor from next_cursor / prev_cursor");
  if (compat) Param(w, "page", "query", "integer", "1-based page number (compatibility)");
  MinPositionParam(w);
  w.EndArray();
  Responses(w, {{200, "a page: {items, next_cursor, prev_cursor}"},
                {400, "unknown or malformed parameter"},
                {503, "min_position not reached in time"}});
  w.EndObject();
}

void RowOperation(JsonWriter& w, const ViewApi& api) {
  w.Key("get");
  w.StartObject();
  Str(w, "summary", "One row of " + api.view + " by key (ETag, If-None-Match)");
  w.Key("parameters");
  w.StartArray();
  for (int k : api.table.key) {
    Param(w, api.table.columns[k].name, "path", SchemaType(api.table.columns[k].type), "key", true);
  }
  MinPositionParam(w);
  w.EndArray();
  Responses(w, {{200, "the row"}, {304, "not modified"}, {404, "no such row"}});
  w.EndObject();
}

std::string KeyPath(const ViewApi& api) {
  std::string path;
  for (int k : api.table.key) path += "/{" + api.table.columns[k].name + "}";
  return path;
}

}  // namespace

std::string Server::Impl::OpenApiDocument(const std::vector<store::ViewVersion>& versions) const {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  Str(w, "openapi", "3.0.3");
  w.Key("info");
  w.StartObject();
  Str(w, "title", "StreamView");
  Str(w, "version", "1");
  w.EndObject();
  w.Key("components");
  w.StartObject();
  w.Key("securitySchemes");
  w.StartObject();
  w.Key("bearer");
  w.StartObject();
  Str(w, "type", "http");
  Str(w, "scheme", "bearer");
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.Key("paths");
  w.StartObject();
  w.Key("/views");
  w.StartObject();
  Operation(w, "get", "Every view: columns, key, indexes, version, applied position", false,
            {{200, "the views"}});
  w.EndObject();
  for (size_t v = 0; v < views.size(); ++v) {
    if (catalog->views[v].internal) continue;
    ViewApi scratch;  // the active version's columns
    const ViewApi& api = ActiveApi(static_cast<int>(v), versions, &scratch);
    w.Key(("/views/" + api.view).c_str());
    w.StartObject();
    ListOperation(w, api, false);
    w.EndObject();
    w.Key(("/views/" + api.view + KeyPath(api)).c_str());
    w.StartObject();
    RowOperation(w, api);
    w.EndObject();
    w.Key(("/views/" + api.view + "/subscribe").c_str());
    w.StartObject();
    w.Key("get");
    w.StartObject();
    Str(w, "summary",
        "The view's committed changes as Server-Sent Events (ready, upsert, delete, reset), "
        "scoped to the caller's organization");
    w.Key("parameters");
    w.StartArray();
    Param(w, "after", "query", "integer", "resume after this event id (as Last-Event-ID)", false);
    Param(w, "Last-Event-ID", "header", "integer", "resume after this event id", false);
    w.EndArray();
    Responses(w, {{200, "text/event-stream"},
                  {400, "a bad event id or parameter"},
                  {401, "no caller"},
                  {404, "no such view, or subscriptions off"},
                  {503, "server.subscriptions.max_subscribers streams are open"}});
    w.EndObject();
    w.EndObject();
  }
  for (const auto& [path, view] : by_path) {
    w.Key(path.c_str());
    w.StartObject();
    ViewApi scratch;
    const ViewApi& api = ActiveApi(view, versions, &scratch);
    ListOperation(w, api, true);
    w.EndObject();
    w.Key((path + KeyPath(api)).c_str());
    w.StartObject();
    RowOperation(w, api);
    w.EndObject();
  }
  for (size_t i = 0; i < lookups->count(); ++i) {
    const projection::LookupPlan& plan = lookups->plan(static_cast<int>(i));
    const projection::ViewPlan& view = catalog->views[plan.view];
    w.Key(("/lookups/" + plan.name).c_str());
    w.StartObject();
    w.Key("get");
    w.StartObject();
    Str(w, "summary",
        "Autocomplete over " + view.name + "." + view.columns[plan.label].name +
            ": labels starting with q first, then labels with a later word that does");
    w.Key("parameters");
    w.StartArray();
    Param(w, "q", "query", "string", "prefix of a word of the label (case-insensitive)", false);
    Param(w, "limit", "query", "integer",
          "at most this many (default " + std::to_string(plan.default_limit) + ", max " +
              std::to_string(plan.max_limit) + ")",
          false);
    if (plan.scope >= 0) {
      Param(w, view.columns[plan.scope].name, "query", "string", "the scope (required)", true);
    }
    w.EndArray();
    Responses(w, {{200, "{items: [...]}"}, {400, "a bad parameter"}, {404, "no such lookup"}});
    w.EndObject();
    w.EndObject();
  }
  for (int i = 0; collections != nullptr && i < collections->size(); ++i) {
    const ViewApi& api = collections->at(i).api;
    w.Key(("/views/" + api.view).c_str());
    w.StartObject();
    ListOperation(w, api, false);
    w.EndObject();
    w.Key(("/views/" + api.view + KeyPath(api)).c_str());
    w.StartObject();
    RowOperation(w, api);
    Operation(w, "put",
              "Write the row (a JSON object of its columns); If-Match: \"<version>\" or *, "
              "If-None-Match: * (create only); Idempotency-Key or Event-Id applies it once",
              true,
              {{200, "updated: {version}, ETag"},
               {201, "created: {version}, ETag"},
               {400, "a body or header that is not right (JSON error naming it)"},
               {401, "no caller"},
               {403, "a row naming another organization"},
               {404, "no such row in the caller's organization"},
               {412, "the version is not the one expected: {current_version}"},
               {428, "the collection requires a precondition"}});
    Operation(w, "delete", "Delete the row, with the PUT's preconditions and idempotency key", true,
              {{204, "deleted"},
               {200, "a replayed key: {replayed, version}"},
               {404, "no such row"},
               {412, "the version is not the one expected: {current_version}"}});
    w.EndObject();
  }
  struct Fixed {
    const char* path;
    const char* method;
    const char* summary;
    bool secured;
  };
  const Fixed fixed[] = {
      {"/events", "post", "Append NDJSON or a JSON array of events to the embedded log", true},
      {"/lags", "get", "Per source and partition: position, end, lag, state; per view", true},
      {"/views/rebuild", "get", "Progress of the current or last rebuild", true},
      {"/views/verify", "get",
       "State of the current verify against the source, and the last one's report", true},
      {"/dlq", "get", "Dead letters and parked keys", true},
      {"/lookups", "get", "The autocomplete lookups and their sizes", false},
      {"/health/live", "get", "Liveness probe", false},
      {"/health/ready", "get", "Readiness probe (judged from progress)", false},
      {"/health/startup", "get", "Startup probe", false},
      {"/metrics", "get", "Prometheus metrics", false},
      {"/openapi.json", "get", "This document", false},
  };
  for (const Fixed& f : fixed) {
    w.Key(f.path);
    w.StartObject();
    if (std::string(f.path) == "/events") {
      Operation(w, f.method, f.summary, f.secured,
                {{200, "{appended, last_position}"},
                 {400, "a malformed body or a value the store cannot hold"},
                 {413, "the body exceeds server.max_body_bytes"}});
    } else {
      Operation(w, f.method, f.summary, f.secured, {{200, "ok"}});
    }
    if (std::string(f.path) == "/views/rebuild") {
      Operation(w, "post",
                "Rebuild every view (or ?view=a,b) without downtime; with ?tenant=O only "
                "organization O's rows of tenant views (an organization's caller: its own)",
                true, {{202, "started"}, {409, "a rebuild is running"}});
    }
    if (std::string(f.path) == "/views/verify") {
      Operation(w, "post",
                "Compare every view key by key with its source, folded beside the live views "
                "(?tenant=O: organization O's rows; ?repair=true: rewrite the drifting keys)",
                true, {{202, "started"}, {409, "a verify or tenant rebuild is running"}});
    }
    w.EndObject();
  }
  const Fixed with_param[] = {
      {"/views/{view}/rebuild", "post",
       "Rebuild one view without downtime (?tenant=O or ?<tenant column>=O: only organization "
       "O's rows; an organization's caller: its own; ?promote=false: a candidate kept current "
       "beside the serving version, switched to by POST promote)",
       true},
      {"/views/{view}/versions", "get",
       "The view's versions: role (active, standby, candidate), table, definition, rows, lag",
       true},
      {"/views/{view}/promote", "post",
       "Switch readers to a newer kept version (?version=N), validated against the serving one "
       "(?sample=N rows); 409 with the reason when it lags or fails validation",
       true},
      {"/views/{view}/rollback", "post",
       "Switch readers back to the standby version (?version=N); 409 when it lags", true},
      {"/dlq/{id}/replay", "post", "Replay a dead letter (body: corrected event, optional)", true},
      {"/dlq/{id}/discard", "post", "Discard a dead letter and release its key", true},
  };
  for (const Fixed& f : with_param) {
    w.Key(f.path);
    w.StartObject();
    w.Key(f.method);
    w.StartObject();
    Str(w, "summary", f.summary);
    w.Key("parameters");
    w.StartArray();
    const bool is_view = std::string(f.path).find("{view}") != std::string::npos;
    Param(w, is_view ? "view" : "id", "path", is_view ? "string" : "integer", "", true);
    w.EndArray();
    Security(w);
    Responses(w, {{200, "ok"}, {404, "not found"}});
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

}  // namespace sv::server
