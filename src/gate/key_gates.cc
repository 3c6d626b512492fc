#include "gate/key_gates.h"

#include "common/status_macros.h"

namespace sv::gate {

absl::StatusOr<KeyGate*> KeyGates::Get(const std::string& key) {
  auto it = gates_.find(key);
  if (it != gates_.end()) return &it->second;
  KeyGate g;
  if (loader_) {
    SV_ASSIGN_OR_RETURN(std::optional<store::KeyState> state, loader_(key));
    if (state) {
      g.last_sequence = state->last_sequence;
      g.parked_on = state->parked_on;
    }
  }
  return &gates_.emplace(key, g).first->second;
}

}  // namespace sv::gate
