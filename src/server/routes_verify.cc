// Verify routes: POST /views/verify (?tenant=O, ?repair=true) starts a verify of every view
// against its source in the engine loop (engine/source_verify.cc); GET /views/verify tells the
// running one's state and the last one's report. The token or the admin only: a verify reads
// and repairs every organization's rows.

#include <chrono>
#include <future>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "engine/engine.h"
#include "server/json.h"
#include "server/server_internal.h"
#include "server/verify_json.h"

namespace sv::server {
namespace {

void WriteKeys(JsonWriter& w, const char* name, const std::vector<std::string>& keys) {
  w.Key(name);
  w.StartArray();
  for (const std::string& k : keys) WriteText(w, k);
  w.EndArray();
}

void WriteDrift(JsonWriter& w, const engine::ViewDrift& d) {
  w.StartObject();
  w.Key("check");
  w.String("source");
  w.Key("view");
  WriteText(w, d.view);
  if (!d.skipped.empty()) {
    w.Key("skipped");
    WriteText(w, d.skipped);
    w.EndObject();
    return;
  }
  const std::pair<const char*, int64_t> counts[] = {
      {"live_rows", d.live_rows}, {"source_rows", d.source_rows}, {"missing", d.missing},
      {"extra", d.extra},         {"differing", d.differing},     {"repaired", d.repaired}};
  for (const auto& [name, n] : counts) {
    w.Key(name);
    w.Int64(n);
  }
  WriteKeys(w, "missing_keys", d.missing_keys);
  WriteKeys(w, "extra_keys", d.extra_keys);
  WriteKeys(w, "differing_keys", d.differing_keys);
  if (!d.organizations.empty()) {
    w.Key("organizations");
    w.StartArray();
    for (const engine::OrganizationCounts& o : d.organizations) {
      w.StartObject();
      w.Key("tenant");
      WriteText(w, o.tenant);
      w.Key("live");
      w.Int64(o.live);
      w.Key("source");
      w.Int64(o.source);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

void WriteStatus(JsonWriter& w, const engine::VerifyStatus& v) {
  w.StartObject();
  w.Key("state");
  w.String(v.running            ? "running"
           : v.finished_us == 0 ? "idle"
           : !v.error.empty()   ? "failed"
           : v.report.Drifted() ? "drift"
                                : "clean");
  w.Key("runs");
  w.Int64(v.runs);
  w.Key("started");
  v.started_us ? WriteText(w, FormatTime(v.started_us)) : (void)w.Null();
  w.Key("finished");
  v.finished_us ? WriteText(w, FormatTime(v.finished_us)) : (void)w.Null();
  w.Key("error");
  v.error.empty() ? (void)w.Null() : WriteText(w, v.error);
  if (v.has_report) {
    w.Key("repair");
    w.Bool(v.report.repair);
    w.Key("events");
    w.Int64(v.report.events);
    w.Key("events_during_check");
    w.Int64(v.report.tail_events);
    w.Key("seconds");
    w.Double(v.report.seconds);
    w.Key("views");
    w.StartArray();
    for (const engine::ViewDrift& d : v.report.views) WriteDrift(w, d);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string ViewDriftJson(const engine::ViewDrift& drift) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  WriteDrift(w, drift);
  return buf.GetString();
}

void Server::Impl::RegisterVerifyRoutes() {
  const http::RouteOptions token{.needs_token = true};
  http->Get("/views/verify", token, [this](const http::Request& req, http::Response& res) {
    if (!OnlyParams(req, res, {})) return;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    WriteStatus(w, monitor->Snapshot().verify);
    ReplyJson(res, 200, buf.GetString());
  });
  http->Post("/views/verify", token, [this](const http::Request& req, http::Response& res) {
    if (!OnlyParams(req, res, {"tenant", "repair"})) return;
    engine::VerifyRequest request;
    if (req.has_param("repair")) {
      const std::string repair = req.get_param_value("repair");
      if (repair != "true" && repair != "false") {
        return ReplyError(res, 400, "repair= is true or false", "repair");
      }
      request.repair = repair == "true";
    }
    if (req.has_param("tenant")) {
      // The organization as the tenant columns hold it: their type (the first tenant view's).
      const std::string asked = req.get_param_value("tenant");
      for (const projection::ViewPlan& plan : catalog->views) {
        if (plan.tenant < 0) continue;
        request.tenant = ParseTypedValue(asked, plan.columns[plan.tenant].type);
        break;
      }
      if (!request.tenant.has_value()) {
        return ReplyError(res, 400, "no view has a tenant column of that organization", "tenant");
      }
    }
    // Started on the loop between batches; the answer waits for the start only (a fold runs
    // beside the loop, the comparison later between batches).
    std::future<absl::Status> started = monitor->Submit(
        [request](engine::Engine* engine) { return engine->StartVerify(request, nullptr); });
    if (started.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      return ReplyError(res, 503, "the engine loop did not take the verify within 60 s");
    }
    const absl::Status s = started.get();
    if (absl::IsFailedPrecondition(s)) return ReplyError(res, 409, std::string(s.message()));
    if (!s.ok()) return ReplyError(res, 500, std::string(s.message()));
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    WriteStatus(w, monitor->Snapshot().verify);
    ReplyJson(res, 202, buf.GetString());
  });
}

}  // namespace sv::server
