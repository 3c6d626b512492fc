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
  api.default_limit = config.server.default_limit;
  api.max_limit = config.server.max_limit;
  return api;
}

// Route label for metrics: the pattern, not the path (bounded cardinality).
std::string RouteLabel(const Server::Impl& impl, const std::string& path) {
  if (path.rfind("/views/", 0) == 0) {
    const size_t slash = path.find('/', 7);
    if (path.size() > 7 && path.compare(path.size() - 8, 8, "/rebuild") == 0) {
      return "/views/{view}/rebuild";
    }
    return slash == std::string::npos ? "/views/{view}" : "/views/{view}/{key}";
  }
  if (path.rfind("/dlq/", 0) == 0) return "/dlq/{id}";
  for (const auto& [prefix, view] : impl.by_path) {
    if (path == prefix) return prefix;
    if (path.rfind(prefix + "/", 0) == 0) return prefix + "/{key}";
  }
  static const char* kFixed[] = {"/views",        "/lags",           "/dlq",
                                 "/events",       "/metrics",        "/health/live",
                                 "/health/ready", "/health/startup", "/openapi.json",
                                 "/views/rebuild"};
  for (const char* f : kFixed) {
    if (path == f) return f;
  }
  return "other";
}

}  // namespace

void ReplyJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void ReplyError(httplib::Response& res, int status, absl::string_view message,
                absl::string_view parameter) {
  ReplyJson(res, status,
            ErrorBody(std::string_view(message.data(), message.size()),
                      std::string_view(parameter.data(), parameter.size())));
}

bool Authorized(const Server::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty() || header.compare(0, kBearer.size(), kBearer) != 0) {
    res.set_header("WWW-Authenticate", "Bearer");
    ReplyError(res, 401, "this route needs 'Authorization: Bearer <token>'");
    return false;
  }
  // No configured token: nothing matches (ops stay closed rather than open).
  const std::string given = header.substr(kBearer.size());
  if (impl.token.empty() || given.size() != impl.token.size()) {
    ReplyError(res, 403, "wrong token");
    return false;
  }
  unsigned char diff = 0;  // constant time: no early exit on the first wrong byte
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ impl.token[i]);
  }
  if (diff != 0) {
    ReplyError(res, 403, "wrong token");
    return false;
  }
  return true;
}

std::vector<std::string> PathSegments(const httplib::Request& req, size_t prefix_segments) {
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
      out.push_back(httplib::detail::decode_url(raw.substr(start, end - start), false));
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

int64_t Server::Impl::AppliedPosition(int view) const {
  return monitor->AppliedPosition(catalog->sources[catalog->views[view].source].config.name);
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

void Server::ObserveCommit(double seconds) {
  if (impl_->upserts != nullptr) impl_->upserts->Observe(seconds);
}

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
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
  for (const auto& plan : catalog.views) impl->views.push_back(BuildViewApi(config, plan));
  for (const config::ViewConfig& vc : config.views) {
    if (!vc.api.path.empty()) impl->by_path[vc.api.path] = catalog.FindView(vc.name);
  }

  Impl* self = impl.get();
  const size_t threads = static_cast<size_t>(config.server.threads);
  self->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  self->http.set_payload_max_length(64 << 20);
  self->http.set_keep_alive_max_count(100'000);
  // Responses are small and written in pieces: without NODELAY, Nagle + delayed ACK add 40 ms.
  self->http.set_tcp_nodelay(true);
  // An idle keep-alive connection holds a worker until this expires, also at shutdown.
  self->http.set_keep_alive_timeout(2);
  self->RegisterMetrics();
  // Request timing: a worker thread handles a request from routing to logging, so the start
  // stamp can live in a thread_local.
  static thread_local int64_t request_start_us = 0;
  auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  self->http.set_pre_routing_handler([now_us](const httplib::Request&, httplib::Response&) {
    request_start_us = now_us();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  self->http.set_logger([self, now_us](const httplib::Request& req, const httplib::Response& res) {
    const int64_t start_us = request_start_us != 0 ? request_start_us : now_us();
    const double seconds = static_cast<double>(now_us() - start_us) / 1e6;
    metrics::Histogram* h = self->RequestHistogram(req.method, req.path, res.status);
    if (h != nullptr) h->Observe(seconds);
    if (res.status >= 500) {
      LogJson("error", "http request failed",
              {{"method", req.method},
               {"route", RouteLabel(*self, req.path)},
               {"status", std::to_string(res.status)}});
    }
  });
  self->http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a route already wrote its own error body
    if (res.status == 404) ReplyError(res, 404, "no such route");
    if (res.status == 405) ReplyError(res, 405, "method not allowed");
  });
  self->http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        ReplyError(res, 500, what);
      });
  self->RegisterViewRoutes();
  self->RegisterOpsRoutes();

  if (config.server.port == 0) {
    self->port = self->http.bind_to_any_port(config.server.host);
    if (self->port < 0) self->port = 0;
  } else if (self->http.bind_to_port(config.server.host, config.server.port)) {
    self->port = config.server.port;
  }
  if (self->port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("server: cannot listen on ", config.server.host, ":", config.server.port));
  }
  self->listener = std::thread([self] { self->http.listen_after_bind(); });
  LogJson("info", "server listening",
          {{"host", config.server.host}, {"port", std::to_string(self->port)}});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace sv::server
