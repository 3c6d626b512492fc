#include "store/open.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "store/memory/memory_store.h"
#include "store/memory/memory_values.h"
#include "store/postgres/pg_store.h"
#include "store/row_filter.h"

namespace sv::store {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, StoreRole role) {
  if (options.kind == "sqlite") {
    SqliteOptions so;
    so.path = options.path;
    so.background_checkpoint = role == StoreRole::kEngine;
    so.bulk_mode = role == StoreRole::kBulk;
    so.read_only = role == StoreRole::kReader;
    so.engine_lock = role == StoreRole::kEngine;
    so.sync_every_commit = role == StoreRole::kDurableWriter;
    if (role == StoreRole::kReader) so.busy_timeout_ms = 2'000;
    so.cache_kib = role == StoreRole::kReader ? options.reader_cache_kib : options.cache_kib;
    return OpenSqliteStore(so);
  }
  if (options.kind == "postgres") {
    PostgresOptions po;
    po.dsn = options.dsn;
    po.schema = options.schema;
    po.view_schema = options.view_schema;
    po.read_only = role == StoreRole::kReader;
    po.engine_lock = role == StoreRole::kEngine && !options.shared_by_partition;
    po.shared = options.shared_by_partition;
    po.engine_lock_wait_ms = options.engine_lock_wait_ms;
    po.bulk_mode = role == StoreRole::kBulk || role == StoreRole::kEngine;
    return OpenPostgresStore(po);
  }
  if (options.kind == "memory") {
    MemoryOptions mo;
    mo.name = options.path;
    mo.read_only = role == StoreRole::kReader;
    mo.engine_lock = role == StoreRole::kEngine && !options.shared_by_partition;
    return OpenMemoryStore(mo);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown store kind '", options.kind, "'"));
}

StoreTraits TraitsOf(const StoreOptions& options) {
  StoreTraits traits;
  if (options.kind == "sqlite") {
    traits.select_dialect = sql::SqlDialect::kSqlite;
    traits.commits_behind_loop = true;
    traits.default_batch_events = 50'000;
    traits.engine_lock_before_serving = true;
    traits.writes_open_batches = true;
  } else if (options.kind == "postgres") {
    traits.select_dialect = sql::SqlDialect::kPostgres;
    traits.writes_open_batches = true;
  }
  return traits;
}

std::string StoreLabel(const StoreOptions& options) {
  if (options.kind == "postgres") return absl::StrCat("postgres schema ", options.schema);
  if (options.kind == "memory") return absl::StrCat("memory store '", options.path, "'");
  return options.path;
}

bool RowMatches(const Row& row, const std::vector<Filter>& filters) {
  return memory::RowMatches(row, filters);
}

}  // namespace sv::store
