#pragma once
// What a memory store holds (State) and what a batch changes before it commits (Delta). A
// batch collects its changes in a Delta; Commit applies it to the shared State in one step
// under the database's lock, so other stores see all of a batch or none of it.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/value.h"
#include "store/store.h"

namespace sv::store::memory {

// A physical view table: rows by the order-preserving encoding of their key (EncodeKey), so a
// scan of `rows` is in primary-key order.
struct Table {
  TableSpec spec;
  std::map<std::string, Row> rows;
};

// The encoded key of `key_values` (already coerced to the key columns' types).
std::string EncodedKey(const Row& key_values);

using SourceKey = std::pair<std::string, std::string>;        // (source, key or event id)
using PendingId = std::tuple<std::string, int32_t, int64_t>;  // (source, partition, position)
using Partition = std::pair<std::string, int32_t>;            // (source, partition)

struct State {
  // Tables are shared between a State and the copies reads inside a batch make (see Apply).
  std::map<std::string, std::shared_ptr<Table>> tables;  // by physical name
  std::map<std::string, std::string> views;              // view name → physical table
  std::map<std::pair<std::string, int64_t>, ViewVersion> versions;
  std::map<SourceKey, KeyState> keys;
  std::map<PendingId, PendingEvent> pending;
  std::map<int64_t, DeadLetter> dead_letters;
  std::map<PendingId, int64_t> dead_letter_ids;  // by (source, partition, position)
  std::set<int64_t> outbox;
  std::map<SourceKey, int64_t> event_ids;  // → order of arrival ("position")
  std::map<Partition, int64_t> positions;
  std::map<std::string, int64_t> counters;
};

// The table `name` names: a physical table, or a view's active one. nullptr when neither.
const Table* FindTable(const State& state, const std::string& name);

// Points `view` at `table` and marks that version active, the view's others inactive.
// NotFound (nothing changed) when there is no such table.
absl::Status Activate(State* state, const std::string& view, int64_t version,
                      const std::string& table);

struct Delta {
  struct TableChanges {
    std::shared_ptr<Table> table;  // as the batch found it: a table recreated since fails Commit
    std::map<std::string, std::optional<Row>> rows;  // by encoded key; nullopt = deleted
  };
  std::map<std::string, TableChanges> tables;
  std::vector<std::tuple<std::string, int64_t, std::string>> activations;  // in call order
  std::set<std::string> cleared_sources;  // before every change below
  std::map<std::string, int64_t> prune_event_ids_below;
  std::map<SourceKey, KeyState> keys;
  std::map<PendingId, std::optional<PendingEvent>> pending;
  std::map<int64_t, DeadLetter> dead_letters;  // added or changed, by id
  std::map<PendingId, int64_t> dead_letter_ids;
  std::set<int64_t> outbox;
  std::map<SourceKey, std::optional<int64_t>> event_ids;
  std::map<Partition, int64_t> positions;
  std::map<std::string, int64_t> counters;

  bool empty() const;
  // Forgets this delta's key states, pending events and event ids of `source` and clears the
  // source's stored ones at Apply.
  void ClearSource(const std::string& source);
  // Forgets event ids of `source` put at orders < `below`, stored ones too at Apply.
  void PruneEventIds(const std::string& source, int64_t below);
};

// Applies `delta` to `state`, all of it or (on error) nothing. `copy_tables`: `state` is a
// private copy whose tables are still shared with the committed state, so a changed table is
// copied first (reads inside a batch); otherwise tables change in place and must still be
// the ones the batch wrote to.
absl::Status Apply(const Delta& delta, State* state, bool copy_tables);

}  // namespace sv::store::memory
