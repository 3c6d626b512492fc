#pragma once
// One connection to a StreamView store (a SQLite file or a PostgreSQL database): the
// projection, snapshot and position stores over it, and its units of work. Not thread-safe:
// one Connection per thread; several connections (and processes) may share one store.
// A unit of work's Commit returns once its writes are on disk (SQLite: the WAL synced, power
// cuts included; PostgreSQL: synchronous_commit as the server has it, on by default).

#include <memory>
#include <string>

#include "streamview/position_store.h"
#include "streamview/projection_store.h"
#include "streamview/snapshot_store.h"
#include "streamview/status.h"
#include "streamview/unit_of_work.h"

namespace streamview {

struct StoreOptions {
  static StoreOptions Sqlite(std::string path) {
    StoreOptions o;
    o.sqlite_path = std::move(path);
    return o;
  }
  // `dsn`: a libpq connection string or URI. The store's own tables go in `schema`, the
  // collections' tables and views in `view_schema`.
  static StoreOptions Postgres(std::string dsn, std::string schema = "streamview",
                               std::string view_schema = "public") {
    StoreOptions o;
    o.postgres_dsn = std::move(dsn);
    o.schema = std::move(schema);
    o.view_schema = std::move(view_schema);
    return o;
  }
  std::string sqlite_path;   // set: SQLite
  std::string postgres_dsn;  // set: PostgreSQL
  std::string schema = "streamview";
  std::string view_schema = "public";
};

class Connection {
 public:
  // Opens the store and creates (or migrates) its own tables.
  static Result<std::unique_ptr<Connection>> Open(const StoreOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One unit of work open at a time per connection.
  UnitOfWork Begin();

  ProjectionStore& projections() { return projections_; }
  SnapshotStore& snapshots() { return snapshots_; }
  PositionStore& positions() { return positions_; }

 private:
  explicit Connection(std::unique_ptr<detail::ConnectionState> state);
  std::unique_ptr<detail::ConnectionState> state_;
  ProjectionStore projections_;
  SnapshotStore snapshots_;
  PositionStore positions_;
};

}  // namespace streamview
