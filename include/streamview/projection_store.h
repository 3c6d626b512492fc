#pragma once
// Projections (materialized views written by application code): get, query with filters and
// a cursor, upsert and delete with an expected version, bulk upsert, and skipping an event
// that was already applied. Obtained from a Connection (connection.h); one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "streamview/document.h"
#include "streamview/status.h"
#include "streamview/unit_of_work.h"

namespace streamview {

namespace detail {
struct ConnectionState;
}

// kPrefix / kContains: text starting with / containing the value, case-insensitively.
enum class FilterOp { kEq, kIn, kGt, kGte, kLt, kLte, kPrefix, kContains };

struct Filter {
  std::string column;
  FilterOp op = FilterOp::kEq;
  std::vector<Value> values;  // one, or several for kIn
};

struct Query {
  std::vector<Filter> filters;  // ANDed
  std::string sort_by;          // a column; "" = the key. Ties are ordered by the key.
  bool descending = false;
  int64_t limit = 50;
  std::string cursor;  // Page::next_cursor of the previous page; "" = the first page
};

struct Page {
  std::vector<Projection> items;
  std::string next_cursor;  // "" when this is the last page
};

struct WriteOptions {
  // Write only if the stored version is this one (0: only if no row is stored). None: write
  // whatever is stored.
  std::optional<int64_t> expected_version;
  // The event this write applies. A write naming an event already applied to this collection
  // is skipped (kAlreadyApplied), so an event delivered twice takes effect once.
  std::string event_id;
};

enum class WriteOutcome {
  kWritten,
  kConflict,        // the stored version is not the expected one; nothing written
  kAlreadyApplied,  // the event was applied before; nothing written
  kNotFound,        // delete without an expected version: there was no row
};

struct WriteResult {
  WriteOutcome outcome = WriteOutcome::kWritten;
  // kWritten: the version now stored (0 after a delete); kConflict: the version stored
  // (0 = no row).
  int64_t version = 0;
  bool written() const { return outcome == WriteOutcome::kWritten; }
  bool conflict() const { return outcome == WriteOutcome::kConflict; }
  bool already_applied() const { return outcome == WriteOutcome::kAlreadyApplied; }
};

struct BulkResult {
  int64_t written = 0;           // rows written
  bool already_applied = false;  // the bulk's event was applied before: nothing written
};

class ProjectionStore {
 public:
  // Creates the collection's table (and its SQL view named like it) or checks that the one
  // stored has this definition (FailedPrecondition if not). Each connection defines the
  // collections it uses before using them.
  Status Define(const CollectionSpec& spec);

  Result<std::optional<Projection>> Get(const std::string& collection, const Key& key);
  Result<Page> Find(const std::string& collection, const Query& query);

  // Writes `doc` (every column; those left out become NULL) inside `uow`.
  Result<WriteResult> Upsert(UnitOfWork& uow, const std::string& collection, const Document& doc,
                             const WriteOptions& options = {});
  Result<WriteResult> Delete(UnitOfWork& uow, const std::string& collection, const Key& key,
                             const WriteOptions& options = {});
  // Writes many documents (distinct keys), each at its stored version + 1. `event_id`, if
  // set, names the one event the whole bulk applies.
  Result<BulkResult> BulkUpsert(UnitOfWork& uow, const std::string& collection,
                                const std::vector<Document>& docs,
                                const std::string& event_id = "");

  // The same, each in a unit of work of its own, committed when written (rolled back
  // otherwise).
  Result<WriteResult> Upsert(const std::string& collection, const Document& doc,
                             const WriteOptions& options = {});
  Result<WriteResult> Delete(const std::string& collection, const Key& key,
                             const WriteOptions& options = {});
  Result<BulkResult> BulkUpsert(const std::string& collection, const std::vector<Document>& docs,
                                const std::string& event_id = "");

  // Forgets the ids of events applied to `collection` before `before_us` (microseconds since
  // the epoch): a replay older than that is no longer recognized.
  Status ForgetEventsBefore(const std::string& collection, int64_t before_us);

 private:
  friend class Connection;
  explicit ProjectionStore(detail::ConnectionState* state) : state_(state) {}
  detail::ConnectionState* state_;
};

}  // namespace streamview
