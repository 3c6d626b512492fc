#include "gate/gate.h"

namespace sv::gate {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApply:
      return "apply";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kOutOfOrder:
      return "out_of_order";
    case Outcome::kStash:
      return "stash";
    case Outcome::kHold:
      return "hold";
  }
  return "?";
}

Outcome Classify(const KeyGate& key, int64_t sequence, int64_t first_sequence) {
  const int64_t expected = key.last_sequence == 0 ? first_sequence : key.last_sequence + 1;
  if (key.last_sequence != 0 && sequence == key.last_sequence) return Outcome::kDuplicate;
  if (sequence < expected) return Outcome::kOutOfOrder;
  if (key.parked_on != 0) return Outcome::kHold;
  return sequence == expected ? Outcome::kApply : Outcome::kStash;
}

bool StashExpired(int64_t oldest_log_time_us, int64_t now_us, int64_t max_age_us, size_t size,
                  int64_t max_events) {
  return now_us - oldest_log_time_us > max_age_us || static_cast<int64_t>(size) > max_events;
}

int64_t EventIdWindow::Insert(const std::string& id, int64_t position) {
  if (!ids_.insert(id).second) return 0;
  order_.emplace_back(position, id);
  int64_t forgotten_below = 0;
  while (order_.size() > capacity_) {
    ids_.erase(order_.front().second);
    forgotten_below = order_.front().first + 1;
    order_.pop_front();
  }
  return forgotten_below;
}

}  // namespace sv::gate
