#include "gate/waiting.h"

#include <algorithm>
#include <climits>

namespace sv::gate {
namespace {

// Positions order events within a partition only (Kafka offsets of different partitions are not
// comparable); a key's events normally share one partition, and the order across partitions is
// at least the same in every run.
bool ByPosition(const store::PendingEvent& a, const store::PendingEvent& b) {
  return a.partition != b.partition ? a.partition < b.partition : a.position < b.position;
}

}  // namespace

void Waiting::Restore(std::vector<Event> pending) {
  stash_.clear();
  held_.clear();
  std::sort(pending.begin(), pending.end(), ByPosition);
  for (Event& p : pending) {
    if (p.held) {
      Hold(std::move(p));
    } else {
      Stash(std::move(p));
    }
  }
}

bool Waiting::Contains(const std::string& key, int64_t sequence) const {
  auto stashed = stash_.find(key);
  if (stashed != stash_.end() && stashed->second.contains(sequence)) return true;
  auto held = held_.find(key);
  return held != held_.end() &&
         std::any_of(held->second.begin(), held->second.end(),
                     [sequence](const Event& p) { return p.sequence == sequence; });
}

void Waiting::Stash(Event event) {
  event.held = false;
  auto& waiting = stash_[event.key];
  const int64_t sequence = event.sequence;
  waiting.emplace(sequence, std::move(event));
}

void Waiting::Hold(Event event) {
  event.held = true;
  auto& held = held_[event.key];
  held.push_back(std::move(event));
}

size_t Waiting::StashSize(const std::string& key) const {
  auto it = stash_.find(key);
  return it == stash_.end() ? 0 : it->second.size();
}

std::vector<Waiting::Event> Waiting::Park(const std::string& key) {
  std::vector<Event> moved;
  auto it = stash_.find(key);
  if (it == stash_.end()) return moved;
  for (auto& [seq, p] : it->second) moved.push_back(std::move(p));
  stash_.erase(it);
  std::sort(moved.begin(), moved.end(), ByPosition);
  auto& held = held_[key];
  for (Event& p : moved) {
    p.held = true;
    held.push_back(p);
  }
  std::sort(held.begin(), held.end(), ByPosition);
  return moved;
}

std::optional<Waiting::Event> Waiting::NextInSequence(const std::string& key, int64_t last_sequence,
                                                      bool parked, std::vector<Event>* stale) {
  auto it = stash_.find(key);
  if (it == stash_.end()) return std::nullopt;
  auto& waiting = it->second;
  while (!waiting.empty() && waiting.begin()->first <= last_sequence) {
    stale->push_back(std::move(waiting.begin()->second));
    waiting.erase(waiting.begin());
  }
  std::optional<Event> next;
  if (!parked && !waiting.empty() && waiting.begin()->first == last_sequence + 1) {
    next = std::move(waiting.begin()->second);
    waiting.erase(waiting.begin());
  }
  if (waiting.empty()) stash_.erase(it);
  return next;
}

std::deque<Waiting::Event> Waiting::TakeHeld(const std::string& key) {
  auto it = held_.find(key);
  if (it == held_.end()) return {};
  std::deque<Event> held = std::move(it->second);
  held_.erase(it);
  return held;
}

void Waiting::ReturnHeld(const std::string& key, std::deque<Event> rest) {
  if (rest.empty()) return;
  auto& held = held_[key];
  for (Event& p : rest) held.push_back(std::move(p));
}

std::vector<std::string> Waiting::ExpiredStashes(int64_t now_us, int64_t max_age_us,
                                                 int64_t max_events) const {
  std::vector<std::string> expired;
  for (const auto& [key, waiting] : stash_) {
    int64_t oldest = INT64_MAX;
    for (const auto& [seq, p] : waiting) oldest = std::min(oldest, p.log_time_us);
    if (StashExpired(oldest, now_us, max_age_us, waiting.size(), max_events)) {
      expired.push_back(key);
    }
  }
  std::sort(expired.begin(), expired.end());
  return expired;
}

Waiting::Event Waiting::TakeFirstStashed(const std::string& key) {
  auto it = stash_.find(key);
  Event first = std::move(it->second.begin()->second);
  it->second.erase(it->second.begin());
  if (it->second.empty()) stash_.erase(it);
  return first;
}

std::vector<Waiting::Event> Waiting::All() const {
  std::vector<Event> out;
  for (const auto& [key, waiting] : stash_) {
    for (const auto& [seq, p] : waiting) out.push_back(p);
  }
  for (const auto& [key, held] : held_) {
    for (const auto& p : held) out.push_back(p);
  }
  return out;
}

void Waiting::AddTo(DedupProgress* progress) const {
  for (const auto& [key, waiting] : stash_) {
    for (const auto& [seq, p] : waiting) progress->Pending(p.partition, p.position);
  }
  for (const auto& [key, held] : held_) {
    for (const auto& p : held) progress->Pending(p.partition, p.position);
  }
}

Outcome Admit(const KeyGate& key_gate, const std::string& key, std::optional<int64_t> sequence,
              const std::string& event_id, int64_t position, int64_t first_sequence,
              const Waiting& waiting, const EventIdWindow& event_ids) {
  if (sequence) {
    const Outcome outcome = Classify(key_gate, *sequence, first_sequence);
    // Already waiting (stashed, or held since its stash expired): a duplicate.
    if ((outcome == Outcome::kStash || outcome == Outcome::kHold) &&
        waiting.Contains(key, *sequence)) {
      return Outcome::kDuplicate;
    }
    return outcome;
  }
  if (!event_id.empty() && event_ids.IsDuplicate(event_id, position)) return Outcome::kDuplicate;
  return key_gate.parked_on != 0 ? Outcome::kHold : Outcome::kApply;
}

}  // namespace sv::gate
