#pragma once
// Collections (config `collections:`, issue 21 item 2): tables applications write over HTTP.
// Each is a collection of the public library (include/streamview/projection_store.h), so a C++
// application and HTTP clients share its rows, versions and event ids; writes go through the
// library's ProjectionStore (one unit of work, i.e. one store transaction, per request).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "server/view_query.h"
#include "store/open.h"
#include "streamview/connection.h"

namespace sv::server {

struct Collection {
  config::CollectionConfig config;
  streamview::CollectionSpec spec;
  // Reads: the stable SQL view named like the collection (user columns, _version,
  // _last_event_id), queried as a view is.
  ViewApi api;
  int version_column = 0;
  int tenant = -1;  // column index of the tenant column, or -1
};

// A body column that is not right: 400 naming it.
struct BodyError {
  std::string column;
  std::string message;
};

class Collections {
 public:
  // Fails (a startup error) when collections are configured on a store the library cannot
  // open (the memory store).
  static absl::StatusOr<std::unique_ptr<Collections>> Create(const config::Config& config,
                                                             const store::StoreOptions& store);

  // -1 when `name` is no collection.
  int Find(std::string_view name) const;
  const Collection& at(int index) const { return collections_[index]; }
  bool empty() const { return collections_.empty(); }
  int size() const { return static_cast<int>(collections_.size()); }

  // A JSON object body as a document of `collection`: declared columns only, typed as
  // declared (timestamps as ISO-8601 text or integer microseconds; json columns any JSON);
  // members starting with '_' (_version, _last_event_id of a row read before) are ignored.
  static std::variant<streamview::Document, BodyError> ParseBody(const Collection& collection,
                                                                 std::string_view body);
  // A store value of a column as the library's value.
  static streamview::Value ToLibrary(const Value& value);

  // A connection of the pool (opened, its collections defined, on first need); returned to the
  // pool when the lease ends.
  class Lease {
   public:
    Lease(Collections* owner, std::unique_ptr<streamview::Connection> connection)
        : owner_(owner), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    ~Lease();
    streamview::Connection& operator*() { return *connection_; }
    streamview::Connection* operator->() { return connection_.get(); }

   private:
    Collections* owner_;
    std::unique_ptr<streamview::Connection> connection_;
  };
  absl::StatusOr<Lease> Acquire();

 private:
  std::vector<Collection> collections_;
  streamview::StoreOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<streamview::Connection>> idle_;
};

}  // namespace sv::server
