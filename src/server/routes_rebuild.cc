// Rebuild routes: POST /views/rebuild (?view=a,b), POST /views/{view}/rebuild, either with
// ?tenant=ORG (or ?<tenant column>=ORG) for one organization's rows; GET /views/rebuild.
// The token or the admin may rebuild anything; an organization's caller only its own rows of
// tenant views.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"
#include "engine/engine.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

void WriteRebuild(JsonWriter& w, const engine::RebuildProgress& r) {
  w.StartObject();
  w.Key("state");
  w.String(r.running           ? "running"
           : r.started_us == 0 ? "idle"
           : r.error.empty()   ? "done"
                               : "failed");
  w.Key("views");
  w.StartArray();
  for (const auto& v : r.views) w.String(v.c_str());
  w.EndArray();
  w.Key("tenant");
  r.tenant.empty() ? w.Null() : w.String(r.tenant.c_str());
  w.Key("progress");
  w.String(r.last_line.c_str());
  w.Key("started");
  r.started_us ? w.String(FormatTime(r.started_us).c_str()) : w.Null();
  w.Key("finished");
  r.finished_us ? w.String(FormatTime(r.finished_us).c_str()) : w.Null();
  w.Key("seconds");
  w.Double(r.seconds);
  w.Key("error");
  r.error.empty() ? w.Null() : w.String(r.error.c_str());
  w.EndObject();
}

// What the loop tells when a rebuild ends: its progress and, if it worked, a duration per view.
void RecordRebuildEnd(engine::Monitor* monitor, const engine::RebuildProgress& started,
                      const std::vector<std::string>& rebuilt, const absl::Status& outcome) {
  engine::RebuildProgress done = monitor->Snapshot().rebuild;
  done.running = false;
  done.finished_us = monitor->clock().NowMicros();
  done.seconds = static_cast<double>(done.finished_us - started.started_us) / 1e6;
  done.error = outcome.ok() ? "" : std::string(outcome.message());
  if (outcome.ok()) {
    for (const std::string& view : rebuilt)
      monitor->RecordDuration({engine::Monitor::Job::kRebuild, view, done.seconds});
  }
  monitor->SetRebuild(done);
}

// `tenant` set: only that organization's rows of `views` (tenant views, checked by the caller).
// Without `promote` the new versions are kept beside the serving ones as maintained candidates.
void StartRebuild(Server::Impl& impl, const std::vector<std::string>& views,
                  const std::optional<Value>& tenant, bool promote, http::Response& res) {
  for (const std::string& v : views) {
    if (impl.catalog->FindView(v) < 0) return ReplyError(res, 404, "no such view", "view");
  }
  engine::Monitor* monitor = impl.monitor;
  engine::RebuildProgress started;
  started.running = true;
  started.views = views;
  if (tenant.has_value()) started.tenant = tenant->ToString();
  started.started_us = monitor->clock().NowMicros();
  started.last_line = "queued";
  {
    std::lock_guard<std::mutex> lock(impl.rebuild_mu);
    if (monitor->Snapshot().rebuild.running) {
      return ReplyError(res, 409, "a rebuild is already running");
    }
    monitor->SetRebuild(started);
  }
  // Runs on the engine loop between batches; readers keep the old version until the swap. A
  // tenant rebuild only starts there: its fold runs beside the loop, which swaps it in later.
  (void)monitor->Submit([monitor, views, tenant, promote, started](engine::Engine* engine) {
    if (tenant.has_value()) {
      absl::Status begun = engine->StartTenantRebuild(
          {views, *tenant},
          [monitor, views, started](const absl::StatusOr<engine::RebuildStats>& s) {
            RecordRebuildEnd(monitor, started, views, s.status());
          });
      if (!begun.ok()) RecordRebuildEnd(monitor, started, views, begun);
      return begun;
    }
    auto stats = engine->Rebuild(views, /*allow_partial=*/false, promote);
    std::vector<std::string> rebuilt = views;
    if (rebuilt.empty()) {
      for (const auto& plan : engine->catalog().views) rebuilt.push_back(plan.name);
    }
    RecordRebuildEnd(monitor, started, rebuilt, stats.status());
    return stats.status();
  });
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  WriteRebuild(w, started);
  ReplyJson(res, 202, buf.GetString());
}

// Checks the parameters of a rebuild of `views` (empty: every view) and reads the organization
// it is scoped to, if any: ?tenant= or ?<the views' tenant column>=, forced to the caller's own
// for an organization's caller. False after replying 400/403.
bool ReadRebuildScope(Server::Impl& impl, const http::Request& req, http::Response& res,
                      const std::vector<std::string>& views, const std::string& organization,
                      std::optional<Value>* tenant) {
  std::optional<std::string> asked;
  for (const auto& [name, value] : req.params) {
    if (name == "view" || name == "promote") continue;  // read by the route
    bool names_tenant = name == "tenant";
    for (const std::string& v : views) {
      const int view = impl.catalog->FindView(v);
      const projection::ViewPlan* plan = view < 0 ? nullptr : &impl.catalog->views[view];
      names_tenant |=
          plan != nullptr && plan->tenant >= 0 && plan->columns[plan->tenant].name == name;
    }
    if (!names_tenant) {
      ReplyError(
          res, 400,
          absl::StrCat(
              "unknown parameter '", name,
              "' (a rebuild takes view=, promote= and tenant=, or the view's tenant column)"),
          name);
      return false;
    }
    if (asked.has_value() && *asked != value) {
      ReplyError(res, 400, "two different organizations asked", name);
      return false;
    }
    asked = value;
  }
  if (!organization.empty()) {
    if (asked.has_value() && *asked != organization) {
      ReplyError(res, 403,
                 absl::StrCat("this caller may rebuild only organization '", organization, "'"));
      return false;
    }
    if (views.empty()) {
      ReplyError(res, 403, "an organization's caller rebuilds only its own rows: name its views",
                 "view");
      return false;
    }
    asked = organization;
  }
  if (!asked.has_value()) return true;
  if (views.empty()) {
    ReplyError(res, 400, "a rebuild for one organization names its views (view=)", "view");
    return false;
  }
  for (const std::string& v : views) {
    const int view = impl.catalog->FindView(v);
    if (view < 0) {
      ReplyError(res, 404, "no such view", "view");
      return false;
    }
    const projection::ViewPlan& plan = impl.catalog->views[view];
    std::string refusal;
    if (plan.tenant < 0) {
      refusal = absl::StrCat("view '", v, "' declares no tenant column: it is rebuilt whole");
    } else if (plan.derived != nullptr) {
      refusal = absl::StrCat("view '", v, "' is derived: rebuild the base views it reads");
    }
    if (!refusal.empty()) {
      ReplyError(res, organization.empty() ? 400 : 403, refusal, "view");
      return false;
    }
    const Type type = plan.columns[plan.tenant].type;
    *tenant = ParseTypedValue(*asked, type);
    if (!tenant->has_value()) {
      ReplyError(res, 400,
                 absl::StrCat("organization '", *asked, "' is no ", std::string(TypeName(type)),
                              " value of the tenant column of '", v, "'"),
                 "tenant");
      return false;
    }
  }
  return true;
}

// ?promote=false: build beside the serving versions, not switched to (`rebuild --no-promote`).
// False after replying 400.
bool ReadPromote(const http::Request& req, http::Response& res, const std::optional<Value>& tenant,
                 bool* promote) {
  *promote = true;
  if (!req.has_param("promote")) return true;
  const std::string value = req.get_param_value("promote");
  if (value != "true" && value != "false") {
    ReplyError(res, 400, "promote= takes true or false", "promote");
    return false;
  }
  *promote = value == "true";
  if (!*promote && tenant.has_value()) {
    ReplyError(res, 400, "a rebuild for one organization swaps its rows in: no promote=false",
               "promote");
    return false;
  }
  return true;
}

}  // namespace

void Server::Impl::RegisterRebuildRoutes() {
  const http::RouteOptions token{.needs_token = true};
  http->Get("/views/rebuild", token, [this](const http::Request& req, http::Response& res) {
    if (!OnlyParams(req, res, {})) return;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    WriteRebuild(w, monitor->Snapshot().rebuild);
    ReplyJson(res, 200, buf.GetString());
  });
  // An organization's caller may rebuild its own rows (checked by ReadRebuildScope).
  const http::RouteOptions caller{.needs_caller = true};
  http->Post("/views/rebuild", caller, [this](const http::Request& req, http::Response& res) {
    std::string organization;
    if (!AuthorizedCaller(*this, req, res, &organization)) return;
    std::vector<std::string> views;
    if (req.has_param("view")) {
      // Without view= every view is rebuilt; a view= naming none ("", ",,,") is a mistake.
      views = absl::StrSplit(req.get_param_value("view"), ',', absl::SkipEmpty());
      if (views.empty()) {
        return ReplyError(res, 400, "view= names no view (omit it to rebuild every view)", "view");
      }
    }
    std::optional<Value> tenant;
    if (!ReadRebuildScope(*this, req, res, views, organization, &tenant)) return;
    bool promote = true;
    if (!ReadPromote(req, res, tenant, &promote)) return;
    StartRebuild(*this, views, tenant, promote, res);
  });
  http->Post(R"(/views/([^/]+)/rebuild)", caller,
             [this](const http::Request& req, http::Response& res) {
               std::string organization;
               if (!AuthorizedCaller(*this, req, res, &organization)) return;
               if (req.has_param("view")) {
                 return ReplyError(res, 400, "unknown parameter 'view'", "view");
               }
               const std::vector<std::string> views = {req.matches[1].str()};
               std::optional<Value> tenant;
               if (!ReadRebuildScope(*this, req, res, views, organization, &tenant)) return;
               bool promote = true;
               if (!ReadPromote(req, res, tenant, &promote)) return;
               StartRebuild(*this, views, tenant, promote, res);
             });
}

}  // namespace sv::server
