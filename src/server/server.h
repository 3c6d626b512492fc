#pragma once
// The HTTP face of `streamview run`: REST reads of every view, appends to the embedded log,
// ops (lags, rebuild, dead letters), Kubernetes probes, Prometheus metrics and an OpenAPI
// document. It reads through connections of its own (one per worker thread), so reads never
// wait for the engine loop; it talks to the loop only through engine::Monitor.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "engine/monitor.h"
#include "engine/row_observer.h"
#include "projection/projection.h"
#include "store/open.h"

namespace sv::server {

class Server {
 public:
  // Binds config.server.host:port (port 0 = any free port) and serves on threads of its own.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const config::Config& config,
                                                       const projection::Catalog& catalog,
                                                       engine::Monitor* monitor,
                                                       const store::StoreOptions& store);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // What the engine tells of its commits, for the lookups (EngineOptions::row_observer).
  engine::RowObserver* row_observer();
  // Called by the engine after each commit (the upserts histogram).
  void ObserveCommit(double seconds);
  // Stops accepting connections, lets in-flight requests finish, joins the threads.
  void Stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sv::server
