#pragma once
// Shared state of the server's route handlers (server.cc, routes_*.cc). Not a public header.

#include <httplib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "engine/monitor.h"
#include "metrics/metrics.h"
#include "projection/projection.h"
#include "server/server.h"
#include "server/view_query.h"
#include "store/open.h"
#include "store/store.h"

namespace sv::server {

// Response header carrying the log position a response's data reflects.
inline constexpr const char* kPositionHeader = "X-StreamView-Position";
// Request header (or min_position= parameter): wait until the view has applied this position.
inline constexpr const char* kMinPositionHeader = "X-StreamView-Min-Position";

struct Server::Impl {
  config::Config config;
  const projection::Catalog* catalog = nullptr;
  engine::Monitor* monitor = nullptr;
  store::StoreOptions store;
  std::string token;
  std::vector<ViewApi> views;          // one per catalog view, same index
  std::map<std::string, int> by_path;  // compat route path ("/orders") -> view index

  httplib::Server http;
  std::thread listener;
  int port = 0;
  bool stopped = false;

  metrics::Registry registry;
  metrics::Histogram* upserts = nullptr;

  // Readiness judges progress: when each (source, partition) position last moved.
  std::mutex progress_mu;
  std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>> last_seen;  // pos, us

  // Appends from POST /events go through one writer connection.
  std::mutex writer_mu;
  std::unique_ptr<store::Store> writer;

  // The calling thread's reader connection (opened on first use).
  absl::StatusOr<store::Store*> Reader();
  // Applied position of the view's source (0 before any commit).
  int64_t AppliedPosition(int view) const;
  // The request-latency histogram child for this method, route and status.
  metrics::Histogram* RequestHistogram(const std::string& method, const std::string& path,
                                       int status);

  void RegisterViewRoutes();
  void RegisterOpsRoutes();
  void RegisterMetrics();
  std::string OpenApiDocument() const;
};

struct PartitionLag {
  int32_t partition = 0;
  std::string label;  // "0" for the log, "topic/3" for Kafka
  std::string topic;  // Kafka only
  int64_t position = 0;
  int64_t end = 0;
  int64_t since_advance_us = 0;
  std::string state;  // caught_up | catching_up | stalled | starting | disconnected
  double staleness_seconds = 0;
};

struct SourceLag {
  std::string name;
  int64_t last_event_time_us = 0;
  bool connected = true;
  std::string disconnect_reason;
  std::vector<PartitionLag> partitions;
};

// Where each source and partition stands (positions from the store, ends from the store or the
// engine), for /lags, readiness and /metrics.
absl::StatusOr<std::vector<SourceLag>> ComputeLags(Server::Impl& impl);

// Helpers shared by the route files.
void ReplyJson(httplib::Response& res, int status, std::string body);
void ReplyError(httplib::Response& res, int status, absl::string_view message,
                absl::string_view parameter = {});
// Bearer-token check for ops routes: false after replying 401 (none) or 403 (wrong).
bool Authorized(const Server::Impl& impl, const httplib::Request& req, httplib::Response& res);
// GET /views/rebuild (reached through the /views/{view} route, which is matched first).
void ServeRebuildProgress(Server::Impl& impl, const httplib::Request& req, httplib::Response& res);
// Decoded path segments after `prefix_segments` segments ("/views/v/a/b" -> from 2: a, b).
std::vector<std::string> PathSegments(const httplib::Request& req, size_t prefix_segments);

}  // namespace sv::server
