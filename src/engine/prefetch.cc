// How a processor reads the state it does not hold from the store, and reads ahead for a
// poll's records on a store whose every read is a round trip (PostgreSQL): without it, each new
// key costs a read of its gate state and one per view row it touches, one after the other, and
// a poll of a hundred new keys waits on some three hundred round trips. The keys are found as
// the apply will find them: the records decoded and their projections run dry, in order, over
// what the working set holds and what the dry run wrote.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"
#include "engine/processor.h"

namespace sv::engine {
namespace {

// Reads what the working set holds without a read and what earlier records of the dry run
// wrote; notes every other row looked up and answers "absent" for it. A key computed from such
// a row (a line number from an order's item count) may come out wrong: that hint is useless,
// not harmful, and the second pass mends it once the row is held.
class RowKeyCollector final : public projection::RowSet {
 public:
  RowKeyCollector(size_t views, projection::RowSet* held) : held_(held), keys_(views) {}

  absl::StatusOr<const Row*> Find(int view, const std::string& key,
                                  const Row& key_values) override {
    if (auto it = written_.find({view, key}); it != written_.end()) {
      return it->second.has_value() ? &*it->second : nullptr;
    }
    if (std::optional<const Row*> row = held_->Held(view, key)) return *row;
    if (noted_.emplace(view, key).second) keys_[view].emplace_back(key, key_values);
    return nullptr;
  }
  void Put(int view, const std::string& key, Row row) override {
    written_[{view, key}] = std::move(row);
  }
  void Erase(int view, const std::string& key) override { written_[{view, key}] = std::nullopt; }

  const std::vector<std::pair<std::string, Row>>& keys(int view) const { return keys_[view]; }
  bool noted_any() const { return !noted_.empty(); }

 private:
  projection::RowSet* held_;
  std::map<std::pair<int, std::string>, std::optional<Row>> written_;  // stable addresses
  absl::flat_hash_set<std::pair<int, std::string>> noted_;
  std::vector<std::vector<std::pair<std::string, Row>>> keys_;  // by view
};

}  // namespace

StateLoader StoreStateLoader(store::Store* store, const std::string& source) {
  StateLoader loader;
  loader.key_state = [store, source](const std::string& key) {
    return store->GetKeyState(source, key);
  };
  loader.key_states = [store, source](const std::vector<std::string>& keys) {
    return store->GetKeyStates(source, keys);
  };
  return loader;
}

absl::Status Processor::Prefetch(const std::vector<const source::SourceRecord*>& records) {
  if (!prefetches()) return absl::OkStatus();
  // A second pass when a key is computed from another view's row: the first one read that row.
  const int passes = key_reads_other_views_ ? 2 : 1;
  DecodedEvent ev;  // decoded again in each pass: an event's value lives until the next decode
  std::string reason;
  for (int pass = 0; pass < passes; ++pass) {
    RowKeyCollector rows(catalog_->views.size(), rows_);
    std::vector<std::string> gate_keys;
    absl::flat_hash_set<std::string> listed;
    for (const source::SourceRecord* record : records) {
      if (!decoder_.Decode(*record, &ev, &reason)) continue;
      if (owns_key_ && !owns_key_(ev.key)) continue;
      // As Gated decides: a key of a source without sequences has no stored state unless parked.
      const bool stateless =
          parked_in_store_ && !ev.sequence && !parked_in_store_->contains(ev.key);
      if (pass == 0 && !stateless && gates_.Find(ev.key) == nullptr &&
          listed.insert(ev.key).second) {
        gate_keys.push_back(ev.key);
      }
      if (ev.type_id < 0) continue;
      projection::EventInput input = InputOf(*record, ev);
      (void)applier_.Apply(input, &rows);  // a failing event is the apply's to report
    }
    if (!gate_keys.empty()) {
      SV_ASSIGN_OR_RETURN(std::vector<store::KeyState> stored, loader_.key_states(gate_keys));
      for (const store::KeyState& state : stored) {
        gate::KeyGate g;
        g.last_sequence = state.last_sequence;
        g.parked_on = state.parked_on;
        gates_.Put(state.key, g);
        listed.erase(state.key);
      }
      for (const std::string& key : listed) gates_.Put(key, gate::KeyGate());  // never seen
    }
    if (!rows.noted_any()) break;
    for (int v : *source_views_) SV_RETURN_IF_ERROR(rows_->Prefetch(v, rows.keys(v)));
  }
  return absl::OkStatus();
}

}  // namespace sv::engine
