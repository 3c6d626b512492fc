#include "server/server.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

ViewApi BuildViewApi(const config::Config& config, const projection::ViewPlan& plan) {
  ViewApi api;
  api.view = plan.name;
  api.table.name = plan.name;  // the stable SQL view that follows the active version
  for (const auto& c : plan.columns) api.table.columns.push_back({c.name, c.type});
  api.table.key = plan.key;
  api.table.key_nullable = plan.key_nullable;  // a NULL group: a cursor may stop on it
  auto column_index = [&](std::string name) {
    if (!name.empty() && name[0] == '-') name.erase(0, 1);
    for (size_t i = 0; i < plan.columns.size(); ++i) {
      if (plan.columns[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };
  for (const auto& index : plan.indexes) {
    api.table.indexes.push_back({index});
    // An index serves sort=col (then the key, which every index carries) when col leads it.
    const int c = column_index(index.front());
    if (c >= 0 && std::find(api.sortable.begin(), api.sortable.end(), c) == api.sortable.end()) {
      api.sortable.push_back(c);
    }
  }
  for (const config::ViewConfig& vc : config.views) {
    if (vc.name == plan.name && !vc.api.time_column.empty()) {
      api.time_column = column_index(vc.api.time_column);
    }
  }
  for (const config::DerivedViewConfig& dc : config.derived_views) {
    if (dc.name == plan.name && !dc.api.time_column.empty()) {
      api.time_column = column_index(dc.api.time_column);
    }
  }
  api.default_limit = config.server.default_limit;
  api.max_limit = config.server.max_limit;
  return api;
}

}  // namespace

const ViewApi& Server::Impl::ActiveApi(int view, const std::vector<store::ViewVersion>& versions,
                                       ViewApi* scratch, bool* previous) const {
  if (previous != nullptr) *previous = false;
  if (!previous_views[view]) return views[view];
  const projection::ViewPlan& plan = catalog->views[view];
  const int index = plan.previous - static_cast<int>(catalog->views.size());
  for (const store::ViewVersion& v : versions) {
    if (v.view != plan.name || !v.active) continue;
    if (v.definition_hash == plan.definition_hash) {
      *scratch = views[view];
    } else if (v.definition_hash == catalog->previous_views[index].definition_hash) {
      *scratch = *previous_views[view];
      if (previous != nullptr) *previous = true;
    } else {
      break;  // a definition neither knows: as before, the config's columns
    }
    scratch->table.name = v.table;
    return *scratch;
  }
  return views[view];
}

absl::StatusOr<const ViewApi*> Server::Impl::ActiveApi(int view, store::Store& reader,
                                                       ViewApi* scratch, bool* previous) const {
  if (previous != nullptr) *previous = false;
  if (!previous_views[view]) return &views[view];
  SV_ASSIGN_OR_RETURN(std::vector<store::ViewVersion> versions, reader.ListViewVersions());
  return &ActiveApi(view, versions, scratch, previous);
}

namespace {

// Route label for metrics: the pattern, not the path (bounded cardinality).
std::string RouteLabel(const Server::Impl& impl, const std::string& path) {
  if (path.rfind("/views/", 0) == 0) {
    const size_t slash = path.find('/', 7);
    if (path.size() > 7 && path.compare(path.size() - 8, 8, "/rebuild") == 0) {
      return "/views/{view}/rebuild";
    }
    if (path.size() > 7 && path.compare(path.size() - 10, 10, "/subscribe") == 0) {
      return "/views/{view}/subscribe";
    }
    return slash == std::string::npos ? "/views/{view}" : "/views/{view}/{key}";
  }
  if (path.rfind("/dlq/", 0) == 0) return "/dlq/{id}";
  if (path.rfind("/lookups/", 0) == 0) return "/lookups/{name}";
  for (const auto& [prefix, view] : impl.by_path) {
    if (path == prefix) return prefix;
    if (path.rfind(prefix + "/", 0) == 0) return prefix + "/{key}";
  }
  static const char* kFixed[] = {"/views",         "/lags",           "/dlq",
                                 "/events",        "/metrics",        "/health/live",
                                 "/health/ready",  "/health/startup", "/openapi.json",
                                 "/views/rebuild", "/lookups"};
  for (const char* f : kFixed) {
    if (path == f) return f;
  }
  return "other";
}

}  // namespace

void ReplyJson(http::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void ReplyError(http::Response& res, int status, absl::string_view message,
                absl::string_view parameter) {
  ReplyJson(res, status,
            ErrorBody(std::string_view(message.data(), message.size()),
                      std::string_view(parameter.data(), parameter.size())));
}

void ReplyRow(const http::Request& req, http::Response& res, const std::string& etag,
              const store::TableSpec& table, const Row& row) {
  res.set_header("ETag", etag);
  const std::string if_none_match = req.get_header_value("If-None-Match");
  if (!if_none_match.empty() && (if_none_match == etag || if_none_match == "*")) {
    res.status = 304;
    return;
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  WriteRow(w, table, row);
  ReplyJson(res, 200, buf.GetString());
}

int HttpStatusOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return 503;
    default:
      return 500;
  }
}

void ReplyStatus(http::Response& res, const absl::Status& status) {
  if (HttpStatusOf(status) == 503) res.set_header("Retry-After", "1");
  ReplyError(res, HttpStatusOf(status), status.message());
}

bool OnlyParams(const http::Request& req, http::Response& res,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : req.params) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      ReplyError(res, 400, absl::StrCat("unknown parameter '", name, "'"), name);
      return false;
    }
  }
  return true;
}

bool AuthorizeRead(Server::Impl& impl, int view, const http::Request& req, http::Response& res,
                   Caller* caller) {
  if (impl.auth == nullptr) {
    *caller = Caller{true, ""};
    return true;
  }
  auto who =
      impl.auth->Identify(req.get_header_value("Authorization"), req.get_header_value("X-API-Key"));
  if (who.ok() && who->has_value()) {
    *caller = **who;
    return true;
  }
  const bool tenant = view >= 0 && impl.catalog->views[view].tenant >= 0;
  if (who.ok() && impl.config.server.auth.open_reads && !tenant) {
    *caller = Caller{false, ""};
    return true;
  }
  res.set_header("WWW-Authenticate", "Bearer");
  ReplyError(res, 401,
             who.ok() ? "this read needs a caller: 'Authorization: Bearer <API key or JWT>'"
                      : who.status().message());
  return false;
}

bool TenantValue(const Server::Impl& impl, int view, const Caller& caller, http::Response& res,
                 std::optional<Value>* out) {
  out->reset();
  const projection::ViewPlan& plan = impl.catalog->views[view];
  if (plan.tenant < 0 || caller.admin) return true;
  const Type type = plan.columns[plan.tenant].type;
  *out = ParseTypedValue(caller.organization, type);
  if (!out->has_value()) {
    ReplyError(res, 403,
               absl::StrCat("organization '", caller.organization, "' is no ",
                            std::string(TypeName(type)), " value of the view's tenant column"));
    return false;
  }
  return true;
}

bool Authorized(const Server::Impl& impl, const http::Request& req, http::Response& res) {
  // The admin of server.auth (an API key or a JWT) may use the ops routes as the token does.
  if (impl.auth != nullptr) {
    auto who = impl.auth->Identify(req.get_header_value("Authorization"),
                                   req.get_header_value("X-API-Key"));
    if (who.ok() && who->has_value() && (*who)->admin) return true;
  }
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty() || header.compare(0, kBearer.size(), kBearer) != 0) {
    res.set_header("WWW-Authenticate", "Bearer");
    ReplyError(res, 401, "this route needs 'Authorization: Bearer <token>'");
    return false;
  }
  // No configured token: nothing matches (ops stay closed rather than open).
  if (impl.token.empty() ||
      !http::SecretEquals(std::string_view(header).substr(kBearer.size()), impl.token)) {
    ReplyError(res, 403, "wrong token");
    return false;
  }
  return true;
}

bool AuthorizedCaller(const Server::Impl& impl, const http::Request& req, http::Response& res,
                      std::string* organization) {
  organization->clear();
  if (impl.auth != nullptr) {
    auto who = impl.auth->Identify(req.get_header_value("Authorization"),
                                   req.get_header_value("X-API-Key"));
    if (who.ok() && who->has_value() && !(*who)->admin) {
      *organization = (*who)->organization;
      return true;
    }
  }
  return Authorized(impl, req, res);
}

std::vector<std::string> PathSegments(const http::Request& req, size_t prefix_segments) {
  // Split the raw target, then decode each segment once: req.path is already decoded, so an
  // encoded '/' or '%' inside a key would be split or decoded twice.
  std::string raw = req.target.empty() ? req.path : req.target;
  raw = raw.substr(0, raw.find('?'));
  std::vector<std::string> out;
  size_t start = 1, index = 0;
  while (start <= raw.size()) {
    size_t end = raw.find('/', start);
    if (end == std::string::npos) end = raw.size();
    if (index++ >= prefix_segments) {
      out.push_back(http::DecodeUrl(raw.substr(start, end - start), false));
    }
    start = end + 1;
  }
  return out;
}

absl::StatusOr<store::Store*> Server::Impl::Reader() {
  // One connection per (thread, server): SQLite connections are single-threaded.
  thread_local std::unordered_map<const Impl*, std::unique_ptr<store::Store>> readers;
  auto it = readers.find(this);
  if (it != readers.end()) return it->second.get();
  auto opened = store::OpenStore(store, store::StoreRole::kReader);
  if (!opened.ok()) return opened.status();
  store::Store* raw = opened->get();
  readers.emplace(this, std::move(*opened));
  return raw;
}

Position Server::Impl::AppliedPositions(int view) const {
  return monitor->AppliedPositions(catalog->sources[catalog->views[view].source].config.name);
}

const source::SourceTraits& Server::Impl::SourceOf(int view) const {
  return sources[catalog->views[view].source];
}

metrics::Histogram* Server::Impl::RequestHistogram(const std::string& method,
                                                   const std::string& path, int status) {
  // The registry's lookup builds label vectors under a lock; requests hit a few dozen children
  // at most, so each worker thread remembers the ones it has used.
  thread_local std::unordered_map<std::string, metrics::Histogram*> cache;
  std::string route = RouteLabel(*this, path);
  std::string key = absl::StrCat(method, " ", route, " ", status);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  metrics::Histogram* h = registry.GetHistogram(
      "http_requests_duration_seconds", "HTTP request latency by route, method and status",
      metrics::Registry::DefaultLatencyBuckets(),
      {{"method", method}, {"route", std::move(route)}, {"status", std::to_string(status)}});
  cache.emplace(std::move(key), h);
  return h;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

int Server::port() const { return impl_->port; }

engine::RowObserver* Server::row_observer() { return impl_->row_fanout.get(); }

void Server::ObserveCommit(double seconds) {
  if (impl_->upserts != nullptr) impl_->upserts->Observe(seconds);
}

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->lookups->StopPreload();
  impl_->subscriptions->Shutdown();  // every stream ends with its last chunk
  if (impl_->http != nullptr) impl_->http->Stop();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const config::Config& config,
                                                      const projection::Catalog& catalog,
                                                      engine::Monitor* monitor,
                                                      const store::StoreOptions& store) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->catalog = &catalog;
  impl->monitor = monitor;
  impl->store = store;
  impl->token = config.server.token;
  if (impl->token.empty() && !config.server.token_env.empty()) {
    if (const char* env = std::getenv(config.server.token_env.c_str())) impl->token = env;
  }
  for (const auto& plan : catalog.sources) {
    SV_ASSIGN_OR_RETURN(source::SourceTraits traits, source::TraitsOf(plan.config));
    impl->sources.push_back(std::move(traits));
  }
  for (const auto& plan : catalog.views) impl->views.push_back(BuildViewApi(config, plan));
  impl->previous_views.resize(catalog.views.size());
  for (const config::ViewConfig& vc : config.views) {
    const int v = catalog.FindView(vc.name);
    const int index =
        v < 0 ? -1 : catalog.views[v].previous - static_cast<int>(catalog.views.size());
    if (vc.previous == nullptr || index < 0 ||
        index >= static_cast<int>(catalog.previous_views.size())) {
      continue;
    }
    ViewApi api = BuildViewApi(config, catalog.previous_views[index]);
    api.view = api.table.name = vc.name;  // its plan is named apart ("V#previous")
    api.time_column = std::nullopt;
    for (size_t c = 0; c < api.table.columns.size(); ++c) {
      if (api.table.columns[c].name == vc.previous->api.time_column) {
        api.time_column = static_cast<int>(c);
      }
    }
    impl->previous_views[v] = std::move(api);
  }
  for (const config::ViewConfig& vc : config.views) {
    if (!vc.api.path.empty() && !vc.internal) {
      impl->by_path[vc.api.path] = catalog.FindView(vc.name);
    }
  }
  for (const config::DerivedViewConfig& dc : config.derived_views) {
    if (!dc.api.path.empty() && !dc.internal) {
      impl->by_path[dc.api.path] = catalog.FindView(dc.name);
    }
  }

  if (config.server.auth.enabled) {
    SV_ASSIGN_OR_RETURN(impl->auth, Authenticator::Create(config.server.auth, config.base_dir));
  }
  SV_ASSIGN_OR_RETURN(impl->collections, Collections::Create(config, store));
  Impl* self = impl.get();
  self->lookups = std::make_unique<Lookups>(
      catalog,
      [self](int view, store::Store& reader, bool* previous) -> absl::StatusOr<store::TableSpec> {
        ViewApi scratch;
        SV_ASSIGN_OR_RETURN(const ViewApi* api, self->ActiveApi(view, reader, &scratch, previous));
        return api->table;
      });
  self->org_activity = std::make_unique<OrgActivity>(catalog);
  SubscriptionLimits subscription_limits;
  subscription_limits.max_subscribers = config.server.subscriptions.max_subscribers;
  subscription_limits.resume_events = config.server.subscriptions.resume_events;
  subscription_limits.queue_events = config.server.subscriptions.queue_events;
  self->subscriptions = std::make_shared<SubscriptionHub>(
      catalog,
      [self](int view, bool previous) -> const store::TableSpec* {
        if (!previous) return &self->views[view].table;
        return self->previous_views[view] ? &self->previous_views[view]->table : nullptr;
      },
      subscription_limits,
      [self](const store::TableSpec& table,
             const std::function<void(const Row&)>& each) -> absl::Status {
        SV_ASSIGN_OR_RETURN(store::Store * reader, self->Reader());
        return reader->ScanTable(table, each);
      },
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  self->row_fanout = std::make_unique<RowFanout>(std::vector<engine::RowObserver*>{
      self->lookups.get(), self->org_activity.get(), self->subscriptions.get()});
  http::Limits limits;
  limits.worker_threads = static_cast<int>(config.server.threads);
  limits.max_connections = config.server.max_connections;
  limits.header_timeout_ms = config.server.header_timeout_ms;
  limits.idle_timeout_ms = config.server.idle_timeout_ms;
  limits.max_body_bytes = config.server.max_body_bytes;
  limits.stream_heartbeat_ms = config.server.subscriptions.heartbeat_ms;
  http::Hooks hooks;
  hooks.authorize = [self](const http::Request& req, http::Response& res) {
    return Authorized(*self, req, res);
  };
  hooks.authorize_caller = [self](const http::Request& req, http::Response& res) {
    std::string organization;
    return AuthorizedCaller(*self, req, res, &organization);
  };
  hooks.reply_error = [](http::Response& res, int status, std::string_view message) {
    ReplyError(res, status, absl::string_view(message.data(), message.size()));
  };
  hooks.log = [self](const http::Request& req, const http::Response& res, double seconds) {
    const std::string method = req.method.empty() ? "?" : req.method;
    metrics::Histogram* h = self->RequestHistogram(method, req.path, res.status);
    if (h != nullptr) h->Observe(seconds);
    if (res.status >= 500) {
      LogJson("error", "http request failed",
              {{"method", method},
               {"route", RouteLabel(*self, req.path)},
               {"status", std::to_string(res.status)}});
    }
  };
  self->http = std::make_unique<http::HttpServer>(limits, std::move(hooks));
  self->RegisterMetrics();
  self->RegisterOpsRoutes();
  self->RegisterSubscribeRoutes();
  self->RegisterViewRoutes();
  self->RegisterCollectionRoutes();
  self->RegisterLookupRoutes();

  auto port = self->http->Listen(config.server.host, config.server.port);
  if (!port.ok()) return absl::UnavailableError(absl::StrCat("server: ", port.status().message()));
  self->port = *port;
  self->lookups->StartPreload([self] { return self->monitor->Snapshot().started; }, self->store);
  LogJson("info", "server listening",
          {{"host", config.server.host}, {"port", std::to_string(self->port)}});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace sv::server
