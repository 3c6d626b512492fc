#include "store/memory/memory_state.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace sv::store::memory {
namespace {

// The least key of `source` in maps keyed by (source, ...).
SourceKey First(const std::string& source, const SourceKey*) { return {source, ""}; }
PendingId First(const std::string& source, const PendingId*) {
  return {source, INT32_MIN, INT64_MIN};
}
template <typename Map>
auto FirstOf(Map* map, const std::string& source) {
  return map->lower_bound(First(source, static_cast<const typename Map::key_type*>(nullptr)));
}

// Erases the entries of `map` whose key starts with `source`.
template <typename Map>
void EraseSource(Map* map, const std::string& source) {
  for (auto it = FirstOf(map, source); it != map->end();) {
    if (std::get<0>(it->first) != source) break;
    it = map->erase(it);
  }
}

template <typename Map>
void EraseSourceIf(Map* map, const std::string& source, int64_t below) {
  for (auto it = FirstOf(map, source); it != map->end();) {
    if (it->first.first != source) break;
    it = it->second < below ? map->erase(it) : std::next(it);
  }
}

}  // namespace

std::string EncodedKey(const Row& key_values) {
  std::string out;
  EncodeKey(key_values.data(), key_values.size(), &out);
  return out;
}

const Table* FindTable(const State& state, const std::string& name) {
  auto it = state.tables.find(name);
  if (it == state.tables.end()) {
    auto view = state.views.find(name);
    if (view == state.views.end()) return nullptr;
    it = state.tables.find(view->second);
    if (it == state.tables.end()) return nullptr;
  }
  return it->second.get();
}

absl::Status Activate(State* state, const std::string& view, int64_t version,
                      const std::string& table) {
  if (state->tables.count(table) == 0) {
    return absl::NotFoundError(absl::StrCat("memory: activate ", view, " version ", version,
                                            ": no table \"", table, "\""));
  }
  state->views[view] = table;
  for (auto it = state->versions.lower_bound({view, INT64_MIN});
       it != state->versions.end() && it->first.first == view; ++it) {
    it->second.active = false;
  }
  ViewVersion& v = state->versions[{view, version}];
  v.view = view;
  v.version = version;
  v.table = table;
  v.active = true;
  return absl::OkStatus();
}

bool Delta::empty() const {
  return tables.empty() && activations.empty() && cleared_sources.empty() &&
         prune_event_ids_below.empty() && keys.empty() && pending.empty() && dead_letters.empty() &&
         outbox.empty() && event_ids.empty() && positions.empty() && counters.empty();
}

void Delta::ClearSource(const std::string& source) {
  EraseSource(&keys, source);
  EraseSource(&pending, source);
  EraseSource(&event_ids, source);
  prune_event_ids_below.erase(source);
  cleared_sources.insert(source);
}

void Delta::PruneEventIds(const std::string& source, int64_t below) {
  for (auto it = FirstOf(&event_ids, source); it != event_ids.end() && it->first.first == source;
       ++it) {
    // Deleted rather than forgotten: a stored id of the same name goes too.
    if (it->second && *it->second < below) it->second.reset();
  }
  int64_t& prune = prune_event_ids_below[source];
  prune = std::max(prune, below);
}

absl::Status Apply(const Delta& delta, State* state, bool copy_tables) {
  // Checks first: nothing changes unless everything can.
  for (const auto& [name, changes] : delta.tables) {
    auto it = state->tables.find(name);
    if (it == state->tables.end() || (!copy_tables && it->second != changes.table)) {
      return absl::AbortedError(
          absl::StrCat("memory: table \"", name, "\" was dropped or recreated during the batch"));
    }
  }
  for (const auto& [view, version, table] : delta.activations) {
    if (state->tables.count(table) == 0) {
      return absl::AbortedError(absl::StrCat("memory: activate ", view, " version ", version,
                                             ": table \"", table, "\" was dropped"));
    }
  }

  for (const auto& [name, changes] : delta.tables) {
    std::shared_ptr<Table>& table = state->tables[name];
    if (copy_tables) table = std::make_shared<Table>(*table);
    for (const auto& [key, row] : changes.rows) {
      if (row) {
        table->rows[key] = *row;
      } else {
        table->rows.erase(key);
      }
    }
  }
  for (const auto& [view, version, table] : delta.activations) {
    (void)Activate(state, view, version, table);  // checked above
  }
  for (const std::string& source : delta.cleared_sources) {
    EraseSource(&state->keys, source);
    EraseSource(&state->pending, source);
    EraseSource(&state->event_ids, source);
  }
  for (const auto& [source, below] : delta.prune_event_ids_below) {
    EraseSourceIf(&state->event_ids, source, below);
  }
  for (const auto& [id, state_key] : delta.keys) state->keys[id] = state_key;
  for (const auto& [id, event] : delta.pending) {
    if (event) {
      state->pending[id] = *event;
    } else {
      state->pending.erase(id);
    }
  }
  for (const auto& [id, event_order] : delta.event_ids) {
    if (event_order) {
      state->event_ids[id] = *event_order;
    } else {
      state->event_ids.erase(id);
    }
  }
  for (auto [id, dl] : delta.dead_letters) {
    // Another store committed a dead letter for the same event meanwhile: it keeps its id.
    const PendingId at{dl.source, dl.partition, dl.position};
    auto known = state->dead_letter_ids.find(at);
    if (known != state->dead_letter_ids.end()) dl.id = known->second;
    state->dead_letter_ids[at] = dl.id;
    if (delta.outbox.count(id) != 0) state->outbox.insert(dl.id);
    state->dead_letters[dl.id] = std::move(dl);
  }
  for (int64_t id : delta.outbox) {
    if (delta.dead_letters.count(id) == 0) state->outbox.insert(id);
  }
  for (const auto& [partition, position] : delta.positions) state->positions[partition] = position;
  for (const auto& [name, add] : delta.counters) state->counters[name] += add;
  return absl::OkStatus();
}

}  // namespace sv::store::memory
