#pragma once
// Shared state of the server's route handlers (server.cc, routes_*.cc). Not a public header.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "engine/monitor.h"
#include "metrics/metrics.h"
#include "projection/projection.h"
#include "server/auth.h"
#include "server/collections.h"
#include "server/http.h"
#include "server/http_server.h"
#include "server/lookups.h"
#include "server/org_activity.h"
#include "server/row_fanout.h"
#include "server/server.h"
#include "server/subscriptions.h"
#include "server/view_query.h"
#include "source/open.h"
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
  std::vector<source::SourceTraits> sources;  // one per catalog source, same index
  std::vector<ViewApi> views;                 // one per catalog view, same index
  // A view's API as its `previous:` definition has it (same index; empty without one): while
  // a version of that definition is active, readers read it with its own columns.
  std::vector<std::optional<ViewApi>> previous_views;
  std::map<std::string, int> by_path;         // compat route path ("/orders") -> view index
  std::unique_ptr<Lookups> lookups;           // GET /lookups/{name}
  std::unique_ptr<OrgActivity> org_activity;  // staleness per organization
  // GET /views/{view}/subscribe; shared with the streams it serves, which may outlive Impl.
  std::shared_ptr<SubscriptionHub> subscriptions;
  std::unique_ptr<RowFanout> row_fanout;     // the engine's one observer: the three above
  std::unique_ptr<Authenticator> auth;       // null: no server.auth, reads are open
  std::unique_ptr<Collections> collections;  // config `collections:`, written over HTTP

  std::unique_ptr<http::HttpServer> http;
  int port = 0;
  bool stopped = false;

  metrics::Registry registry;
  metrics::Histogram* upserts = nullptr;

  // Readiness judges progress: when each (source, partition) position last moved.
  std::mutex progress_mu;
  std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>> last_seen;  // pos, us

  // A rebuild request checks that none runs and records its start under this lock, so two
  // concurrent requests cannot both start one.
  std::mutex rebuild_mu;

  // Appends from POST /events go through one writer connection.
  std::mutex writer_mu;
  std::unique_ptr<store::Store> writer;

  // The calling thread's reader connection (opened on first use).
  absl::StatusOr<store::Store*> Reader();
  // Applied position of the view's source (0 before any commit), the highest of its
  // partitions: for /views and metrics; reads answer with AppliedPositions' token.
  // Applied position of the view's source, every partition.
  Position AppliedPositions(int view) const;
  const source::SourceTraits& SourceOf(int view) const;
  // The API of `view` as its active version (in the store's `versions`) has it. A view with a
  // previous: definition may have versions of two shapes (columns added, dropped, retyped): it
  // is read from the active version's own table with that version's columns, so a read is of
  // one version, whole, whatever a promotion does meanwhile. Others: views[view] (the stable
  // name). `scratch` holds the answer when it is not views[view]; `previous`, when given, says
  // whether the active version is of the previous: definition.
  const ViewApi& ActiveApi(int view, const std::vector<store::ViewVersion>& versions,
                           ViewApi* scratch, bool* previous = nullptr) const;
  // Same, listing the versions with `reader` when the view has a previous: definition.
  absl::StatusOr<const ViewApi*> ActiveApi(int view, store::Store& reader, ViewApi* scratch,
                                           bool* previous = nullptr) const;
  // The request-latency histogram child for this method, route and status.
  metrics::Histogram* RequestHistogram(const std::string& method, const std::string& path,
                                       int status);

  void RegisterViewRoutes();
  void RegisterSubscribeRoutes();  // routes_subscribe.cc, before RegisterViewRoutes
  void RegisterLookupRoutes();
  void RegisterOpsRoutes();
  void RegisterRebuildRoutes();     // routes_rebuild.cc
  void RegisterVerifyRoutes();      // routes_verify.cc
  void RegisterVersionRoutes();     // routes_versions.cc
  void RegisterCollectionRoutes();  // routes_collections.cc: PUT/DELETE /views/{c}/{key...}
  void RegisterMetrics();
  // Each view as its active version in `versions` (the store's) has it.
  std::string OpenApiDocument(const std::vector<store::ViewVersion>& versions) const;
};

struct PartitionLag {
  int32_t partition = 0;
  std::string label;               // "0" for the log, "topic/3" for Kafka
  std::string topic;               // a topic'd source's (Kafka) only, with ...
  int32_t partition_in_topic = 0;  // ... the partition's number within it
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
  source::UpstreamStatus upstream;
  std::vector<PartitionLag> partitions;
};

// A view's standing over all partitions of its source (zeros when it has none yet).
struct ViewLag {
  int64_t applied = 0;           // positions summed
  int64_t lag = 0;               // records not yet applied, summed
  double staleness_seconds = 0;  // the oldest partition's
};
ViewLag SumOverPartitions(const SourceLag& source);

// Where each source and partition stands (positions from the store, ends from the store or the
// engine), for /lags, readiness and /metrics.
absl::StatusOr<std::vector<SourceLag>> ComputeLags(Server::Impl& impl);

// Helpers shared by the route files.
// The caller of a read of `view` (-1: a read about no one view, such as GET /views): the admin
// when reads are open (no server.auth); nobody (empty organization, not admin) for a read
// without a credential that server.auth.open_reads lets through, which a view with a tenant
// column never does. False after replying 401.
bool AuthorizeRead(Server::Impl& impl, int view, const http::Request& req, http::Response& res,
                   Caller* caller);
// The caller's organization as a value of `view`'s tenant column; nullopt when the caller sees
// every row (the admin, or a view without one). False after replying 403 (an organization that
// is no value of that column).
bool TenantValue(const Server::Impl& impl, int view, const Caller& caller, http::Response& res,
                 std::optional<Value>* out);
// Read-your-writes: waits (bounded) until the view's source has applied the position the
// request asks for (X-StreamView-Min-Position or min_position=). False after replying 400 or
// 503.
bool AwaitPosition(Server::Impl& impl, int view, const http::Request& req, http::Response& res);
// The HTTP status of a failed store or engine call: bad input 400, missing 404, conflict 409,
// unavailable (retry) 503, anything else 500.
int HttpStatusOf(const absl::Status& status);
void ReplyJson(http::Response& res, int status, std::string body);
void ReplyError(http::Response& res, int status, absl::string_view message,
                absl::string_view parameter = {});
// Replies with HttpStatusOf(status) and its message.
void ReplyStatus(http::Response& res, const absl::Status& status);
// A row read by its key: its ETag `etag`, then 304 when If-None-Match names it (or is *), else
// the row as JSON.
void ReplyRow(const http::Request& req, http::Response& res, const std::string& etag,
              const store::TableSpec& table, const Row& row);
// False after replying 400 when the request has a query parameter not in `allowed`.
bool OnlyParams(const http::Request& req, http::Response& res,
                std::initializer_list<std::string_view> allowed);
// Bearer-token check for ops routes (run by the HTTP layer on the request head, before the
// body is read): false after replying 401 (none) or 403 (wrong).
bool Authorized(const Server::Impl& impl, const http::Request& req, http::Response& res);
// The token, the admin (`organization` empty) or an organization's caller of server.auth (its
// organization): false after replying 401/403 as Authorized does.
bool AuthorizedCaller(const Server::Impl& impl, const http::Request& req, http::Response& res,
                      std::string* organization);
// GET /views/{view}/{key...} for a route that matched it first (routes_subscribe.cc).
void ServeRowRoute(Server::Impl& impl, int view, const std::vector<std::string>& key_text,
                   const http::Request& req, http::Response& res);
// GET /views/{c} and /views/{c}/{key...} of collection `index` (routes_collections.cc), reached
// through the view route (`key_text` empty: the list).
void ServeCollectionRead(Server::Impl& impl, int index, const std::vector<std::string>& key_text,
                         const http::Request& req, http::Response& res);
// The query parameters of a list read in URL order (min_position left out).
Params QueryParamsOf(const http::Request& req);
// Runs a parsed list query on `reader` and answers with the page (items, cursors, Link).
void ServeQueryResult(const ViewApi& api, const ParsedQuery& pq, store::Store& reader, Mode mode,
                      const http::Request& req, http::Response& res);
// GET /views/rebuild (reached through the /views/{view} route, which is matched first).
void ServeRebuildProgress(Server::Impl& impl, const http::Request& req, http::Response& res);
// Decoded path segments after `prefix_segments` segments ("/views/v/a/b" -> from 2: a, b).
std::vector<std::string> PathSegments(const http::Request& req, size_t prefix_segments);

}  // namespace sv::server
