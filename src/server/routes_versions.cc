// View version routes (engine/view_versions.h): GET /views/{view}/versions lists a view's
// versions; POST /views/{view}/promote and /views/{view}/rollback switch readers to another kept
// version, run by the engine loop between batches. Admin only (the token or the admin caller).

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/view_versions.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

void WriteVersion(JsonWriter& w, const engine::VersionInfo& info) {
  const store::ViewVersion& v = info.version;
  w.StartObject();
  w.Key("version");
  w.Int64(v.version);
  w.Key("role");
  w.String(info.role.c_str());
  w.Key("table");
  w.String(v.table.c_str());
  w.Key("definition_hash");
  w.String(v.definition_hash.c_str());
  w.Key("config_version");
  v.config_version != 0 ? w.Int64(v.config_version) : w.Null();
  w.Key("rows");
  info.rows >= 0 ? w.Int64(info.rows) : w.Null();
  w.Key("lags");
  w.Bool(info.lags);
  w.Key("maintained");
  w.Bool(info.maintained);
  w.EndObject();
}

// False after replying 403: switching versions changes what every organization reads.
bool AuthorizedAdmin(Server::Impl& impl, const http::Request& req, http::Response& res) {
  std::string organization;
  if (!AuthorizedCaller(impl, req, res, &organization)) return false;
  if (organization.empty()) return true;
  ReplyError(res, 403, "only the admin may switch view versions");
  return false;
}

void Switch(Server::Impl& impl, engine::SwitchKind kind, const http::Request& req,
            http::Response& res) {
  if (!OnlyParams(req, res, {"version", "sample"})) return;
  engine::SwitchRequest request;
  request.view = req.matches[1].str();
  request.kind = kind;
  if (impl.catalog->FindView(request.view) < 0) return ReplyError(res, 404, "no such view");
  for (const char* name : {"version", "sample"}) {
    if (!req.has_param(name)) continue;
    int64_t n = 0;
    if (!absl::SimpleAtoi(req.get_param_value(name), &n) || n < 1) {
      return ReplyError(res, 400, absl::StrCat(name, " must be a positive integer"), name);
    }
    if (std::string_view(name) == "version") {
      request.version = n;
    } else {
      request.sample_rows = static_cast<int>(std::min<int64_t>(n, 100'000));
    }
  }
  // What the checks found, told on the loop's thread and read here once it is done.
  auto said = std::make_shared<std::vector<std::string>>();
  auto result = std::make_shared<absl::StatusOr<store::ViewVersion>>();
  std::future<absl::Status> done =
      impl.monitor->Submit([request, said, result](engine::Engine* engine) {
        *result = engine->SwitchViewVersion(
            request, [said](std::string line) { said->push_back(std::move(line)); });
        // A refusal is the caller's answer, not the loop's failure.
        return absl::OkStatus();
      });
  if (done.wait_for(std::chrono::minutes(5)) != std::future_status::ready) {
    return ReplyError(res, 503, "the engine loop did not run the switch in time");
  }
  if (absl::Status s = done.get(); !s.ok()) return ReplyStatus(res, s);
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("view");
  w.String(request.view.c_str());
  if (result->ok()) {
    w.Key("active_version");
    w.Int64((*result)->version);
    w.Key("table");
    w.String((*result)->table.c_str());
  } else {
    w.Key("error");
    w.String(std::string(result->status().message()).c_str());
  }
  w.Key("checks");
  w.StartArray();
  for (const std::string& line : *said) w.String(line.c_str());
  w.EndArray();
  w.EndObject();
  ReplyJson(res, result->ok() ? 200 : HttpStatusOf(result->status()), buf.GetString());
}

}  // namespace

void Server::Impl::RegisterVersionRoutes() {
  const http::RouteOptions token{.needs_token = true};
  http->Get(R"(/views/([^/]+)/versions)", token,
            [this](const http::Request& req, http::Response& res) {
              if (!OnlyParams(req, res, {})) return;
              const std::string view = req.matches[1].str();
              if (catalog->FindView(view) < 0) return ReplyError(res, 404, "no such view");
              auto reader = Reader();
              if (!reader.ok()) return ReplyStatus(res, reader.status());
              auto versions = engine::ListVersions(**reader, *catalog, view);
              if (!versions.ok()) return ReplyStatus(res, versions.status());
              rapidjson::StringBuffer buf;
              JsonWriter w(buf);
              w.StartObject();
              w.Key("view");
              w.String(view.c_str());
              w.Key("versions");
              w.StartArray();
              for (const engine::VersionInfo& info : *versions) WriteVersion(w, info);
              w.EndArray();
              w.EndObject();
              ReplyJson(res, 200, buf.GetString());
            });
  const http::RouteOptions caller{.needs_caller = true};
  http->Post(R"(/views/([^/]+)/promote)", caller,
             [this](const http::Request& req, http::Response& res) {
               if (!AuthorizedAdmin(*this, req, res)) return;
               Switch(*this, engine::SwitchKind::kPromote, req, res);
             });
  http->Post(R"(/views/([^/]+)/rollback)", caller,
             [this](const http::Request& req, http::Response& res) {
               if (!AuthorizedAdmin(*this, req, res)) return;
               Switch(*this, engine::SwitchKind::kRollback, req, res);
             });
}

}  // namespace sv::server
