#pragma once
// The public library (include/streamview/) over the store seam: what its files share.
// Private to src/api/.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"
#include "store/store.h"
#include "streamview/document.h"
#include "streamview/status.h"
#include "streamview/unit_of_work.h"

namespace streamview {

// A defined collection: its table and where the store's own fields sit in it.
struct CollectionTable {
  CollectionSpec spec;
  sv::store::TableSpec table;  // user columns, then _version, then _last_event_id
  int version_column = 0;
  int event_column = 0;
};

namespace detail {
struct ConnectionState {
  std::unique_ptr<sv::store::Store> store;
  std::map<std::string, CollectionTable> collections;
  bool snapshots_defined = false;
  bool uow_open = false;  // one unit of work at a time
};
}  // namespace detail

struct UnitOfWork::Impl {
  detail::ConnectionState* state = nullptr;
  std::unique_ptr<sv::store::Batch> batch;
  Status failed;  // set when opening the unit of work failed
  ~Impl() {
    if (state != nullptr) state->uow_open = false;
  }
};

// absl::Status → the public Status.
Status FromAbsl(const absl::Status& status);
template <typename T>
Result<T> FromAbsl(absl::StatusOr<T> value) {
  if (!value.ok()) return FromAbsl(value.status());
  return std::move(*value);
}
Status Invalid(std::string message);

// The unit of work's batch, or why it cannot be written through.
absl::StatusOr<sv::store::Batch*> BatchOf(UnitOfWork& uow, detail::ConnectionState* state);
// Runs `fn` in a unit of work of its own; commits when `commit(result)` says so.
template <typename T, typename Fn, typename ShouldCommit>
Result<T> InOwnUnitOfWork(UnitOfWork uow, Fn fn, ShouldCommit commit) {
  Result<T> result = fn(uow);
  if (!result.ok()) return result;
  if (!commit(*result)) {
    uow.Rollback();
    return result;
  }
  Status committed = uow.Commit();
  if (!committed.ok()) return committed;
  return result;
}

// Values between the public and the engine's form, typed by the column.
absl::StatusOr<sv::Value> ToStore(const Value& value, ColumnType type, const std::string& column);
Value FromStore(const sv::Value& value);
sv::Type StoreType(ColumnType type);

// Opaque cursors: the boundary tuple of a page, "c1." + base64url of its encoding.
std::string EncodeCursor(const sv::Row& boundary);
absl::StatusOr<sv::Row> DecodeCursor(const std::string& cursor, size_t size);

int64_t NowMicros();

// Creates the snapshots' table unless it is there (at Connection::Open: no unit of work open).
absl::Status DefineSnapshots(detail::ConnectionState* state);

}  // namespace streamview
