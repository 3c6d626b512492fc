#pragma once
// The memory backend of the store interface (store/store.h): everything (log, view tables
// and versions, gate state, pending events, dead letters and outbox, positions, counters) in
// this process's memory, for engine unit tests that run in seconds without SQLite.
//
// - Stores opened with the same name share one database, which lives while any of them is
//   open (an engine, its lanes' readers and the server's readers all see the same data).
//   Nothing survives the process; other processes cannot open it.
// - A Batch collects its changes and applies them at Commit in one step, or not at all; its
//   own Store reads them before the commit (a read then copies the state: slow, and rare).
// - Thread-safe across stores (one lock per database); one Store object per thread, as for
//   every backend. Dead-letter ids grow and are never reused.
// - It cannot run SQL: QuerySelect and Batch::ReplaceWithSelect return Unimplemented
//   ("the memory store cannot run SQL; use sqlite"), so `refresh:` views and `verify` need
//   sqlite or postgres. Table indexes are accepted and ignored (pages are sorted per query).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace sv::store {

struct MemoryOptions {
  std::string name;  // the database: stores opened with the same name share it
  bool read_only = false;
  // The engine's writer: one per database at a time (a second one is refused).
  bool engine_lock = false;
};

absl::StatusOr<std::unique_ptr<Store>> OpenMemoryStore(const MemoryOptions& options);

}  // namespace sv::store
