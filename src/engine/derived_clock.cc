// The clock of timed derived views (those comparing rows with now()): the maintainer moves to
// the engine's clock inside each batch, and the batch stores the clock its derived rows were
// computed at beside them, so that a restart reloads the state at exactly that clock and the
// next batch moves it on. An idle loop commits a batch when a row's time comes.

#include <algorithm>

#include "common/status_macros.h"
#include "engine/engine.h"

namespace sv::engine {

absl::Status Engine::InitDerivedClock() {
  timed_ = std::any_of(catalog_->views.begin(), catalog_->views.end(), [](const auto& v) {
    return v.derived != nullptr && v.derived->refresh.empty() && v.derived->timed();
  });
  if (!timed_) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(auto stored, store_->GetPositions(kDerivedClockSource));
  if (auto it = stored.find(0); it != stored.end()) {
    stored_clock_us_ = it->second;
    return absl::OkStatus();
  }
  // First start with a timed view: its rows are built at this clock; remember it first.
  stored_clock_us_ = options_.clock->NowMicros();
  auto batch = store_->BeginBatch();
  SV_RETURN_IF_ERROR(batch->SetPosition(kDerivedClockSource, 0, stored_clock_us_));
  return batch->Commit();
}

void Engine::AdvanceDerivedClock(const Sealed& sealed) {
  if (sealed.clock_us != 0) derived_->AdvanceClock(sealed.clock_us);
}

absl::Status Engine::StoreDerivedClock(store::Batch* batch, Sealed& sealed) {
  if (sealed.clock_us == 0) return absl::OkStatus();
  sealed.clock_us = derived_->now();  // the clock never goes back
  next_deadline_us_.store(derived_->NextDeadline().value_or(std::numeric_limits<int64_t>::max()));
  return batch->SetPosition(kDerivedClockSource, 0, sealed.clock_us);
}

bool Engine::DerivedClockDue() const {
  return timed_ && next_deadline_us_.load() <= options_.clock->NowMicros();
}

int Engine::WaitUntilDue(int wait_ms) const {
  if (!timed_ || wait_ms <= 0) return wait_ms;
  const int64_t next = next_deadline_us_.load();
  if (next == std::numeric_limits<int64_t>::max()) return wait_ms;
  const int64_t until_ms = (next - options_.clock->NowMicros() + 999) / 1000;
  return static_cast<int>(std::clamp<int64_t>(until_ms, 0, wait_ms));
}

int Engine::PollWaitMs() const {
  if (sources_.size() != 1) return 0;
  // A source woken by arrivals waits longer (the loop's other duties — commands, schedules,
  // progress — come at most that late); a due timed row still cuts the wait short.
  constexpr int64_t kArrivalWaitMs = 25;
  const int64_t idle_ms = sources_[0].source->WakesOnArrival()
                              ? std::max(config_.engine.poll_idle_ms, kArrivalWaitMs)
                              : config_.engine.poll_idle_ms;
  return WaitUntilDue(static_cast<int>(idle_ms));
}

}  // namespace sv::engine
