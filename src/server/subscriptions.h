#pragma once
// Live subscriptions to a view's changes (GET /views/{view}/subscribe, Server-Sent Events).
//
// The hub follows the engine's commits (it is one of the RowObservers row_fanout feeds): every
// committed row of a subscribed view becomes one change with an id, kept in a bounded ring per
// view (for resumes) and queued to each subscriber that may see it. The engine's thread only
// appends under a short lock and wakes the connection; rendering and writing happen on the
// connection's I/O thread, so a slow client never blocks a commit.
//
// Ids: integers, monotonic per view, starting at the process's start time in microseconds, so
// an id of an earlier process is older than the ring (a `reset`) rather than mistaken for one
// of this process.
//
// Organizations: a subscriber of an organization gets only changes of rows of that
// organization. A delete carries key values only, so for a tenant view whose key lacks the
// tenant column the hub keeps key → organization of every row (loaded from the store on the
// view's first subscription by a thread of its own, kept by the commits that follow, reloaded
// after the view is replaced). Until a load ends its subscribers are held: commits meanwhile
// only update the map (a delete among them may name a row the scan no longer saw), and the
// `ready` or `reset` sent at the load's end carries the id they are covered by — the view read
// after it holds them. A row that moves to another organization is a delete for the one it
// left.
//
// Versions: a view with a `previous:` definition serves rows of whichever definition its active
// version has (the engine tells the serving version's rows). The route says which serves, read
// after `Replacements(view)`; a subscription whose reading a replace overtook is refused with
// Aborted (read again). When the two definitions' rows differ in shape (columns, key, tenant), a
// replace ends the view's streams after their `reset`: the client reconnects and is served rows
// of the version then active.
//
// Events, in the stream: `ready` (first; its id is where the stream starts), `upsert` (the whole
// row as the list route writes it), `delete` (the key columns), `reset` (re-read the view: it
// was replaced, the resume point is no longer held, or the subscriber fell `queue_events`
// behind; events after the reset's id follow), heartbeat comments while idle.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/row_observer.h"
#include "projection/projection.h"
#include "server/http.h"
#include "store/store.h"

namespace sv::server {

struct SubscriptionLimits {
  int64_t max_subscribers = 64;  // 0: subscriptions off (no view is watched)
  int64_t resume_events = 10'000;
  int64_t queue_events = 1'000;
};

class SubscriptionHub final : public engine::RowObserver,
                              public std::enable_shared_from_this<SubscriptionHub> {
 public:
  // Calls each(row) for every stored row of the view read as `table` (the key → organization
  // load).
  using ScanView = std::function<absl::Status(const store::TableSpec& table,
                                              const std::function<void(const Row&)>& each)>;
  // The table a view's rows are written as by its definition (`previous`: its previous:
  // definition's; nullptr when it has none).
  using ViewTable = std::function<const store::TableSpec*(int view, bool previous)>;

  SubscriptionHub(const projection::Catalog& catalog, const ViewTable& table,
                  SubscriptionLimits limits, ScanView scan, int64_t first_id);
  ~SubscriptionHub() override;

  // A stream of `view`'s changes that `organization` may see (nullopt: every row). `after`:
  // resume after this event id. ResourceExhausted at max_subscribers, Unavailable after
  // Shutdown.
  // `filters` (the list route's, ANDed): only rows matching them are sent as upserts; a changed
  // row that does not match is sent as a `delete` (it may have matched before: the hub keeps no
  // old rows, so a client folding the stream drops it either way).
  // `serving`: which definition's version serves, read after Replacements(view) returned
  // `replacements` (Aborted when a replace came between: read again).
  struct Serving {
    uint64_t replacements = 0;
    bool previous = false;
  };
  absl::StatusOr<std::shared_ptr<http::StreamBody>> Subscribe(
      int view, Serving serving, std::optional<std::string> organization,
      std::optional<int64_t> after, std::vector<store::Filter> filters = {});
  uint64_t Replacements(int view) const;
  // Ends every stream (server shutdown); Subscribe refuses from now on.
  void Shutdown();
  size_t subscribers() const;
  bool enabled() const { return limits_.max_subscribers > 0; }

  // engine::RowObserver
  std::vector<bool> Watched(size_t view_count) const override;
  void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                   const std::vector<Row>& deleted_keys) override;
  void OnReplaced(int view) override;

  struct Change;
  struct Subscriber;

 private:
  class Stream;
  enum class State { kIdle, kLoading, kTracking };
  // How one definition's rows come: their table (columns, key) and organization.
  struct Shape {
    const store::TableSpec* table = nullptr;
    int tenant = -1;          // column, or -1
    int tenant_in_key = -1;   // its place in the key, or -1
    bool needs_orgs = false;  // a tenant column outside the key: deletes need the map
  };
  struct Commit {
    std::vector<std::shared_ptr<const Row>> upserts;
    std::vector<Row> deleted_keys;
  };
  struct View {
    State state = State::kIdle;
    Shape shapes[2];             // the config's definition's, the previous: one's
    bool shapes_differ = false;  // a replace may change the shape: it ends the streams
    int serving = 0;             // the shape of the rows told, while tracked
    uint64_t generation = 0;     // bumped by a replace: a load begun before it is redone
    uint64_t replacements = 0;
    const Shape& shape() const { return shapes[serving]; }
    std::deque<std::shared_ptr<const Change>> ring;
    int64_t resumable_after = 0;  // the ring holds every change with a larger id
    absl::flat_hash_map<std::string, std::string> orgs;  // encoded key → organization
    std::vector<Commit> pending;                         // commits told while loading
    std::vector<std::shared_ptr<Subscriber>> subscribers;
  };
  using Wakes = std::vector<std::function<void()>>;

  void ProcessLocked(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                     const std::vector<Row>& deleted_keys, Wakes* wakes);
  void AppendLocked(View& v, std::shared_ptr<const Change> change, Wakes* wakes);
  void ResetLocked(View& v, int64_t id, const char* reason, bool end, Wakes* wakes);
  void StartTrackingLocked(int view);
  void LoadLoop();
  static std::string KeyOf(const Shape& shape, const Row& row, bool whole_row);
  void Remove(const std::shared_ptr<Subscriber>& s);
  static std::string Render(const Shape& shape, const Change& change);

  const projection::Catalog& catalog_;
  const SubscriptionLimits limits_;
  ScanView scan_;

  mutable std::mutex mu_;
  std::condition_variable load_cv_;
  std::vector<View> views_;
  int64_t last_id_ = 0;  // ids are shared by the views: monotonic per view, and over all
  size_t count_ = 0;
  bool shut_down_ = false;
  std::deque<int> to_load_;
  std::thread loader_;
};

}  // namespace sv::server
