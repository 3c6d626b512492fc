#pragma once
// One way to open a store, whatever the backend: callers (engine, server, cli, bench, tests)
// name the backend by configuration and the role the connection plays, so a new backend is a
// new folder under src/store/ plus a case here, not edits everywhere.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "sql/deparse.h"
#include "store/store.h"

namespace sv::store {

struct StoreOptions {
  std::string kind = "sqlite";  // "sqlite", "postgres" or "memory"
  // sqlite: the database file; memory: the in-process database's name (stores opened with
  // the same name share it while any of them is open; see store/memory/memory_store.h)
  std::string path;
  std::string dsn;                     // postgres: libpq connection string or URI
  std::string schema = "streamview";   // postgres: the engine's own tables
  std::string view_schema = "public";  // postgres: view tables and views
  // Several engines write this store, each for the partitions its consumer group assigned it:
  // no store-wide engine lock; partitions are fenced with Store::LockPartitions instead.
  bool shared_by_partition = false;
  // postgres: how long the engine waits for a previous engine's session to release its locks.
  int64_t engine_lock_wait_ms = 60'000;
  // sqlite: each connection's page cache, in KiB: readers' (StoreRole::kReader) and the others'.
  int64_t cache_kib = 65'536;
  int64_t reader_cache_kib = 65'536;
};

enum class StoreRole {
  kEngine,  // the engine's long-lived writer (one per store: PostgreSQL holds an engine lock)
  kWriter,  // a short-lived or auxiliary writer (ingest, POST /events, CLI commands, tests)
  // A writer whose commits are the only copy of what they write (collections, the library):
  // each commit is on disk before it returns, power cuts included.
  kDurableWriter,
  kBulk,    // a rebuild/bulk loader
  kReader,  // read-only (REST threads)
};

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, StoreRole role);

// What callers may know of a store kind without naming it: this file's open.cc is the one
// place that branches on the kind.
struct StoreTraits {
  // The SQL a store runs for `refresh:` views and `verify`; nullopt: it runs none (memory).
  std::optional<sql::SqlDialect> select_dialect;
  // Batches may be written behind the loop on a connection of their own (SQLite: pipelined
  // commits; a PostgreSQL statement held open would also hold a killed engine's lock).
  bool commits_behind_loop = false;
  // Events per transaction when the config leaves `engine.batch_events` at 0.
  int64_t default_batch_events = 5'000;
  // The one-engine lock is on a file, taken by `run` before it serves (SQLite); elsewhere the
  // engine's own connection holds it.
  bool engine_lock_before_serving = false;
  // A batch may be left open across polls and written in pages (Batch::Flush), reads through
  // the same Store seeing its writes: a source transaction larger than memory is applied in one
  // store transaction. Elsewhere (memory) such a transaction is held whole until its end.
  bool writes_open_batches = false;
};
StoreTraits TraitsOf(const StoreOptions& options);

// A human name for where the store is ("orders.db", "postgres schema streamview").
std::string StoreLabel(const StoreOptions& options);

}  // namespace sv::store
