#pragma once
// The server's autocomplete lookups (config `lookups:`): one lookup::LookupIndex per lookup,
// loaded from its view on first use and kept current by the engine's commits (it is the
// engine's RowObserver), so a renamed customer is found under its new name at the next read.
// A lookup reads the version of its view that serves, with that version's definition: the
// config's, or its `previous:` one while a version of that serves (blue/green); the engine
// tells it the rows of the serving version, and reloads it when another one serves.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/row_observer.h"
#include "lookup/lookup_index.h"
#include "projection/projection.h"
#include "store/open.h"
#include "store/store.h"

namespace sv::server {

class Lookups final : public engine::RowObserver {
 public:
  // The table of the version of `view` that serves, read through `reader`; `previous` set when
  // it is of the view's previous: definition.
  using ServingTable = std::function<absl::StatusOr<store::TableSpec>(
      int view, store::Store& reader, bool* previous)>;
  Lookups(const projection::Catalog& catalog, ServingTable serving);

  // -1 when there is no such lookup.
  int Find(std::string_view name) const;
  const projection::LookupPlan& plan(int lookup) const { return *lookups_[lookup]->config.plan; }
  size_t count() const { return lookups_.size(); }

  // The JSON objects of the best matches of `query` within `scope` (the encoded scope value;
  // empty for a lookup without one), loading the lookup through `reader` first if needed.
  absl::StatusOr<std::vector<std::string>> Search(int lookup, store::Store* reader,
                                                  std::string_view scope, std::string_view query,
                                                  size_t limit);
  // Loads every lookup not loaded yet, in the background, once the engine has started (its
  // tables exist): the first autocomplete then finds it ready. Stopped by StopPreload.
  void StartPreload(std::function<bool()> engine_started, const store::StoreOptions& store);
  void StopPreload();
  ~Lookups() override { StopPreload(); }
  // Entries held (0 before the first load).
  size_t size(int lookup) const { return lookups_[lookup]->index.size(); }

  // engine::RowObserver
  std::vector<bool> Watched(size_t view_count) const override;
  void OnCommitted(int view, const std::vector<std::shared_ptr<const Row>>& upserts,
                   const std::vector<Row>& deleted_keys) override;
  void OnReplaced(int view) override;

 private:
  enum class State { kUnloaded, kLoading, kLoaded };
  struct Queued {
    std::vector<std::shared_ptr<const Row>> upserts;
    std::vector<Row> deleted_keys;
  };
  // A lookup over one definition of its view: the plan and the view's columns and key.
  struct Over {
    const projection::LookupPlan* plan = nullptr;  // null: the lookup does not fit it
    const projection::ViewPlan* view = nullptr;
  };
  struct One {
    Over config;    // over the config's definition; config.plan is the lookup's plan
    Over previous;  // over its view's previous: definition (plan null without one)
    // Which the index holds, chosen at each load (changed only while loading, when commits
    // are queued and not applied).
    bool serving_previous = false;
    const Over& serving() const { return serving_previous ? previous : config; }
    lookup::LookupIndex index;
    std::mutex load_mu;  // one loader at a time
    std::mutex mu;       // guards the fields below
    State state = State::kUnloaded;
    uint64_t generation = 0;     // bumped when the view is replaced
    std::vector<Queued> queued;  // commits told while loading, applied after the scan
  };

  absl::Status EnsureLoaded(One& one, store::Store* reader);
  // The row as the index holds it; false when the lookup's `where` excludes it.
  bool ItemOf(const One& one, const Row& row, lookup::LookupIndex::Item* item) const;
  void Apply(One& one, const Row& row);
  void Apply(One& one, const std::vector<std::shared_ptr<const Row>>& upserts,
             const std::vector<Row>& deleted_keys);
  std::string KeyOf(const One& one, const Row& row) const;

  std::atomic<bool> stop_preload_{false};
  std::thread preload_;
  std::mutex preload_mu_;                   // guards preload_reader_
  store::Store* preload_reader_ = nullptr;  // the preload's connection while it reads

  ServingTable serving_;
  std::vector<std::unique_ptr<One>> lookups_;
};

}  // namespace sv::server
