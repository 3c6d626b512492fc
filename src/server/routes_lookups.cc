// GET /lookups (the lookups and their sizes) and GET /lookups/{name}?q=&limit=[&<scope>=]:
// autocomplete from memory (server/lookups.h).

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

void ServeLookup(Server::Impl& impl, int lookup, const http::Request& req, http::Response& res) {
  const projection::LookupPlan& plan = impl.lookups->plan(lookup);
  const projection::ViewPlan& view = impl.catalog->views[plan.view];
  Caller caller;
  if (!AuthorizeRead(impl, plan.view, req, res, &caller)) return;
  std::optional<Value> tenant;
  if (!TenantValue(impl, plan.view, caller, res, &tenant)) return;
  const std::string scope_name = plan.scope >= 0 ? view.columns[plan.scope].name : "";
  for (const auto& [name, value] : req.params) {
    if (name != "q" && name != "limit" && name != "min_position" && name != scope_name) {
      return ReplyError(res, 400,
                        absl::StrCat("unknown parameter '", name, "' (expected q, limit",
                                     scope_name.empty() ? "" : ", " + scope_name, ")"),
                        name);
    }
  }
  int64_t limit = plan.default_limit;
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    if (!absl::SimpleAtoi(text, &limit) || limit < 1 || limit > plan.max_limit) {
      return ReplyError(
          res, 400, absl::StrCat("limit must be an integer from 1 to ", plan.max_limit), "limit");
    }
  }
  std::string scope;
  if (tenant.has_value()) {
    // A lookup over a tenant view is scoped by its tenant column (checked at load): the
    // caller's organization is the scope, and asking for another one finds nothing.
    if (req.has_param(scope_name)) {
      std::optional<Value> asked =
          ParseTypedValue(req.get_param_value(scope_name), view.columns[plan.scope].type);
      if (!asked.has_value() || !(*asked == *tenant)) {
        return ReplyError(
            res, 403, absl::StrCat("this caller reads only ", scope_name, "=", tenant->ToString()),
            scope_name);
      }
    }
    EncodeKey(&*tenant, 1, &scope);
  } else if (plan.scope >= 0) {
    if (!req.has_param(scope_name)) {
      return ReplyError(
          res, 400,
          absl::StrCat("lookup '", plan.name, "' is scoped: ", scope_name, "= is required"),
          scope_name);
    }
    const Type type = view.columns[plan.scope].type;
    std::optional<Value> value = ParseTypedValue(req.get_param_value(scope_name), type);
    if (!value) {
      return ReplyError(
          res, 400,
          absl::StrCat("not a valid ", std::string(TypeName(type)), " for '", scope_name, "'"),
          scope_name);
    }
    EncodeKey(&*value, 1, &scope);
  }
  if (!AwaitPosition(impl, plan.view, req, res)) return;
  const std::string position = impl.AppliedPositions(plan.view).ToToken();
  auto reader = impl.Reader();
  if (!reader.ok()) return ReplyStatus(res, reader.status());
  auto found = impl.lookups->Search(lookup, *reader, scope, req.get_param_value("q"),
                                    static_cast<size_t>(limit));
  if (!found.ok()) return ReplyStatus(res, found.status());
  std::string body = "{\"items\":[";
  for (size_t i = 0; i < found->size(); ++i) absl::StrAppend(&body, i > 0 ? "," : "", (*found)[i]);
  absl::StrAppend(&body, "]}");
  res.set_header(kPositionHeader, position);
  ReplyJson(res, 200, std::move(body));
}

}  // namespace

void Server::Impl::RegisterLookupRoutes() {
  http->Get("/lookups", [this](const http::Request& req, http::Response& res) {
    Caller caller;
    if (!AuthorizeRead(*this, -1, req, res, &caller)) return;
    if (!OnlyParams(req, res, {})) return;
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("lookups");
    w.StartArray();
    for (size_t i = 0; i < lookups->count(); ++i) {
      const projection::LookupPlan& plan = lookups->plan(static_cast<int>(i));
      w.StartObject();
      w.Key("name");
      w.String(plan.name.c_str());
      w.Key("view");
      w.String(catalog->views[plan.view].name.c_str());
      w.Key("path");
      w.String(absl::StrCat("/lookups/", plan.name).c_str());
      w.Key("entries");
      w.Uint64(lookups->size(static_cast<int>(i)));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    ReplyJson(res, 200, buf.GetString());
  });
  http->Get("/lookups/(.+)", [this](const http::Request& req, http::Response& res) {
    const std::vector<std::string> segments = PathSegments(req, 1);
    const int lookup = segments.size() == 1 ? lookups->Find(segments[0]) : -1;
    if (lookup < 0) {
      return ReplyError(res, 404,
                        absl::StrCat("no such lookup: ", segments.empty() ? "" : segments[0]));
    }
    ServeLookup(*this, lookup, req, res);
  });
}

}  // namespace sv::server
