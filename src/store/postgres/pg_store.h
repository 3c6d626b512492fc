#pragma once
// The PostgreSQL backend of the store interface (see store/store.h). This header does not
// include libpq: only src/store/postgres/*.cc do.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace sv::store {

struct PostgresOptions {
  std::string dsn;                     // libpq connection string or URI
  std::string schema = "streamview";   // the engine's own tables (positions, gate state, log...)
  std::string view_schema = "public";  // view tables `<view>__v<N>` and the views `<view>`
  bool read_only = false;              // REST readers: read-only transactions, no Init writes
  // The engine's writer: holds the schema's engine lock (a session advisory lock) for as long
  // as it is connected, so a second engine on the same schema refuses to start.
  bool engine_lock = false;
  // How long a start waits for the engine lock (and an assignment for partition locks) while
  // another session holds it, e.g. the backend of an engine killed a moment ago.
  int64_t engine_lock_wait_ms = 60'000;
  // Other engines write this schema too (each its own partitions, fenced by LockPartitions):
  // writes that every engine makes (dead-letter ids) serialize on a transaction lock.
  bool shared = false;
  bool bulk_mode = false;  // rebuild writer: more maintenance_work_mem for index builds
};

// Connects (Unavailable when the server cannot be reached). Every later call reconnects on
// its own after a lost connection (outside a batch), so a caller just retries Unavailable.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options);

}  // namespace sv::store

namespace sv::store {

// Drops the given schemas (CASCADE) if they exist: test and benchmark cleanup.
absl::Status DropPostgresSchemas(const std::string& dsn, const std::vector<std::string>& schemas);

// EXPLAIN (one line per plan row) of the SQL QueryView runs for `query` over `table` in
// `view_schema`: lets tests check that pages are served by the declared indexes.
absl::StatusOr<std::string> ExplainPostgresQuery(const PostgresOptions& options,
                                                 const TableSpec& table, const ViewQuery& query);

}  // namespace sv::store
