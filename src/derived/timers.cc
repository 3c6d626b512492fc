// The clock of time-relative derived views. Each now() comparison of a view is monotone in time
// (projection/timed_compile.cc), so a tuple's evaluation changes only at its atoms' flip times:
// each tuple waits in its view's timer index at the first flip time after the clock, and moving
// the clock re-evaluates only the tuples whose time came.

#include <algorithm>

#include "common/value.h"
#include "derived/maintainer.h"
#include "derived/maintainer_internal.h"
#include "sql/time_bounds.h"

namespace sv::derived {

int64_t Maintainer::NextFlip(const State& st, sql::EvalContext& ctx) {
  int64_t next = kNoDeadline;
  for (const projection::TimeAtomPlan& atom : st.derived->time_atoms) {
    Value x;
    // A row value that fails or is not a timestamp compares as NULL: it never flips.
    if (!atom.row->Eval(ctx, &x).ok() || x.type() != Type::kTime) continue;
    std::optional<int64_t> flip = sql::AtomFlipTime(x.as_int(), atom.shape);
    if (flip && *flip > now_) next = std::min(next, *flip);
  }
  return next;
}

void Maintainer::Track(State& st, int sign, const Row& tuple, int64_t deadline) {
  if (deadline == kNoDeadline) return;
  std::pair<int64_t, std::string> entry(deadline, std::string());
  EncodeRow(tuple, &entry.second);
  if (sign > 0) {
    st.timers.insert(std::move(entry));
    return;
  }
  // Retracted at the deadline it was contributed with: flip times up to now() were all
  // processed, so the first one after now() is still the same.
  auto it = st.timers.find(entry);
  if (it != st.timers.end()) st.timers.erase(it);
}

void Maintainer::AdvanceClock(int64_t t) {
  if (t <= now_) return;
  const int64_t before = now_;
  Row tuple;
  for (auto& owned : states_) {
    if (owned == nullptr || owned->timers.empty()) continue;
    State& st = *owned;
    while (!st.timers.empty() && st.timers.begin()->first <= t) {
      auto node = st.timers.extract(st.timers.begin());
      tuple.clear();
      DecodeRow(node.value().second, &tuple);
      ++timer_pops_;
      now_ = before;
      Evaluate(st, tuple, &st.before);
      now_ = t;
      Evaluate(st, tuple, &st.after);
      now_ = before;
      if (!(st.before == st.after)) {
        Apply(st, -1, st.before);
        Apply(st, +1, st.after);
      }
      if (st.after.deadline != kNoDeadline) {
        node.value().first = st.after.deadline;
        st.timers.insert(std::move(node));
      }
    }
  }
  now_ = t;
}

std::optional<int64_t> Maintainer::NextDeadline() const {
  int64_t next = kNoDeadline;
  for (const auto& st : states_) {
    if (st != nullptr && !st->timers.empty()) next = std::min(next, st->timers.begin()->first);
  }
  if (next == kNoDeadline) return std::nullopt;
  return next;
}

bool Maintainer::timed() const {
  return std::any_of(states_.begin(), states_.end(),
                     [](const auto& st) { return st != nullptr && st->derived->timed(); });
}

}  // namespace sv::derived
