#include "engine/monitor.h"

#include <algorithm>
#include <utility>

#include "common/thread_boundary.h"

namespace sv::engine {

void Monitor::SetStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  state_.started = true;
}

void Monitor::SetStoreStatus(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.store_ok = status.ok();
  state_.store_error = std::string(status.message());
}

void Monitor::PublishSources(std::vector<SourceProgress> sources) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.sources = std::move(sources);
  }
  advanced_.notify_all();
}

void Monitor::PublishOrgLags(std::vector<OrgLagProgress> org_lags) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.org_lags = std::move(org_lags);
}

void Monitor::SetSourceDown(const std::string& source, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  for (SourceProgress& p : state_.sources) {
    if (p.name != source) continue;
    p.connected = false;
    p.disconnect_reason = reason;
  }
}

void Monitor::VerifyStarted(int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.verify.running = true;
  state_.verify.started_us = now_us;
  state_.verify.error.clear();
}

void Monitor::VerifyFinished(const VerifyReport& report, int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.verify.running = false;
  ++state_.verify.runs;
  state_.verify.finished_us = now_us;
  state_.verify.has_report = true;
  state_.verify.report = report;
}

void Monitor::VerifyFailed(const absl::Status& status, int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.verify.running = false;
  ++state_.verify.runs;
  state_.verify.finished_us = now_us;
  state_.verify.error = std::string(status.message());
}

void Monitor::AddCounters(const std::map<std::string, int64_t>& deltas) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, n] : deltas) state_.counters[name] += n;
}

void Monitor::SetRebuild(const RebuildProgress& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.rebuild = progress;
}

void Monitor::RecordDuration(Duration duration) {
  std::lock_guard<std::mutex> lock(mu_);
  if (durations_.size() >= 10'000) durations_.erase(durations_.begin());
  durations_.push_back(std::move(duration));
}

std::vector<Monitor::Duration> Monitor::TakeDurations() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(durations_, {});
}

void Monitor::SetRebuildLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.rebuild.last_line = line;
}

MonitorSnapshot Monitor::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

Position Monitor::AppliedPositions(const std::string& source) const {
  std::lock_guard<std::mutex> lock(mu_);
  return AppliedPositionsLocked(source);
}

Position Monitor::AppliedPositionsLocked(const std::string& source) const {
  for (const SourceProgress& s : state_.sources) {
    if (s.name == source) return Position(s.applied);
  }
  return Position();
}

bool Monitor::WaitForPosition(const std::string& source, const Position& position,
                              std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return advanced_.wait_for(lock, timeout, [&] {
    return shut_down_ || AppliedPositionsLocked(source).Covers(position);
  }) && !shut_down_;
}

std::future<absl::Status> Monitor::Submit(std::function<absl::Status(Engine*)> command) {
  Command c{std::move(command), {}};
  std::future<absl::Status> result = c.done.get_future();
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) {
    c.done.set_value(absl::UnavailableError("the engine is shutting down"));
  } else {
    commands_.push_back(std::move(c));
  }
  return result;
}

void Monitor::RunCommands(Engine* engine) {
  for (;;) {
    Command c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (commands_.empty()) return;
      c = std::move(commands_.front());
      commands_.pop_front();
    }
    c.done.set_value(CatchExceptions("the command", [&] { return c.fn(engine); }));
  }
}

void Monitor::Shutdown() {
  std::deque<Command> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    pending.swap(commands_);
  }
  for (Command& c : pending) c.done.set_value(absl::UnavailableError("the engine stopped"));
  advanced_.notify_all();
}

}  // namespace sv::engine
