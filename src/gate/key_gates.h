#pragma once
// Each key's gate state (the last applied sequence, the dead letter it is parked behind) for the
// keys one processor has seen: read from the store on a key's first event, then kept in memory
// for the run. The engine persists changes (store::KeyState) with the batch that made them.

#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gate/gate.h"
#include "store/store.h"

namespace sv::gate {

class KeyGates {
 public:
  // Reads a key's stored state (nullopt: never seen); none means every key starts fresh.
  using Loader = std::function<absl::StatusOr<std::optional<store::KeyState>>(const std::string&)>;

  explicit KeyGates(Loader loader = nullptr) : loader_(std::move(loader)) {}

  // The key's state, loaded on first use. A store read error is returned as is: it fails the
  // batch, never the event.
  absl::StatusOr<KeyGate*> Get(const std::string& key);
  // The key's state when held here (nullptr: not loaded, or never seen).
  KeyGate* Find(const std::string& key) {
    auto it = gates_.find(key);
    return it == gates_.end() ? nullptr : &it->second;
  }
  // Holds `gate` as the key's state from now on (no load: the caller knows it).
  KeyGate* Put(const std::string& key, const KeyGate& gate) {
    return &gates_.insert_or_assign(key, gate).first->second;
  }
  // Drops what is cached (another consumer may have changed the store).
  void Forget() { gates_.clear(); }
  const absl::flat_hash_map<std::string, KeyGate>& all() const { return gates_; }

  // The state to store for `key`.
  static store::KeyState ToStored(const std::string& key, const KeyGate& g) {
    return store::KeyState{key, g.last_sequence, g.parked_on};
  }

 private:
  Loader loader_;
  absl::flat_hash_map<std::string, KeyGate> gates_;
};

}  // namespace sv::gate
