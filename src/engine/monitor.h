#pragma once
// What the engine loop publishes for other threads (the HTTP server): applied positions, log
// ends, outcome counters, rebuild progress; and what they ask of it (commands run between
// batches, waits for a position). The loop is the only writer; readers take snapshots.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/position.h"
#include "common/time_util.h"
#include "engine/source_verify.h"
#include "source/source.h"

namespace sv::engine {

class Engine;

struct SourceProgress {
  std::string name;
  std::map<int32_t, int64_t> applied;  // partition -> last committed position
  std::map<int32_t, int64_t> end;      // partition -> last position available
  int64_t last_event_time_us = 0;      // log time of the last committed record (wall clock)
  int64_t last_advance_us = 0;         // wall time when `applied` last moved
  int64_t last_commit_us = 0;          // wall time of the last commit
  bool connected = true;               // false while the upstream (brokers) is unreachable
  std::string disconnect_reason;
  source::UpstreamStatus upstream;  // a replication slot's own lag and health
};

struct RebuildProgress {
  bool running = false;
  std::vector<std::string> views;  // empty = all
  std::string tenant;              // not empty: only this organization's rows (a tenant rebuild)
  std::string last_line;           // the latest progress line ("... 42% ETA 3s")
  int64_t started_us = 0;
  int64_t finished_us = 0;
  double seconds = 0;
  std::string error;  // empty = ok (when finished)
};

// The verify against the source: the running one, and the outcome of the last one.
struct VerifyStatus {
  bool running = false;
  int64_t runs = 0;  // verifies ended (with or without drift, or failed) since the start
  int64_t started_us = 0;
  int64_t finished_us = 0;
  std::string error;        // the last one failed: why
  bool has_report = false;  // `report` is the last one that ended well
  VerifyReport report;
};

// Seed 000's lag per organization: a tenant view's events of one organization that the gate
// keeps waiting (read, not yet applied to the view), and the log time of the oldest.
struct OrgLagProgress {
  std::string view;
  std::string org;
  int64_t events = 0;
  int64_t oldest_log_time_us = 0;
};

struct MonitorSnapshot {
  bool started = false;  // Open finished (views prepared, sources started)
  bool store_ok = true;  // the last store operation succeeded
  std::string store_error;
  std::vector<SourceProgress> sources;
  std::map<std::string, int64_t> counters;  // "<source>/<outcome>" totals, as in the store
  RebuildProgress rebuild;
  VerifyStatus verify;
  std::vector<OrgLagProgress> org_lags;  // only organizations with events waiting
};

class Monitor {
 public:
  // `clock`: what "now" is for the server's staleness, lag and rebuild times; the engine's
  // (EngineOptions::clock). Must outlive the monitor.
  explicit Monitor(const Clock* clock = Clock::Real()) : clock_(clock) {}
  const Clock& clock() const { return *clock_; }

  // ---- written by the engine loop
  void SetStarted();
  void SetStoreStatus(const absl::Status& status);
  void PublishSources(std::vector<SourceProgress> sources);
  void PublishOrgLags(std::vector<OrgLagProgress> org_lags);
  // A source's call failed (its upstream down): not connected until the next publish.
  void SetSourceDown(const std::string& source, const std::string& reason);
  void AddCounters(const std::map<std::string, int64_t>& deltas);
  void SetRebuild(const RebuildProgress& progress);
  void SetRebuildLine(const std::string& line);
  void VerifyStarted(int64_t now_us);
  void VerifyFinished(const VerifyReport& report, int64_t now_us);
  void VerifyFailed(const absl::Status& status, int64_t now_us);
  // How long a job on one view took: a scheduled refresh or a rebuild.
  // Kept until the server takes them into its histograms (at most the last 10,000).
  enum class Job { kRefresh, kRebuild };
  struct Duration {
    Job job = Job::kRefresh;
    std::string view;
    double seconds = 0;
  };
  void RecordDuration(Duration duration);
  // Runs queued commands (on the loop's thread, between batches).
  void RunCommands(Engine* engine);

  // ---- any thread
  MonitorSnapshot Snapshot() const;
  std::vector<Duration> TakeDurations();
  // Every partition's committed position of `source` (none before the first).
  Position AppliedPositions(const std::string& source) const;
  // True once `source`'s applied positions cover `position` (every partition it names has
  // reached its position there), false after `timeout`.
  bool WaitForPosition(const std::string& source, const Position& position,
                       std::chrono::milliseconds timeout) const;
  // Queues work for the loop; the future completes when it has run.
  std::future<absl::Status> Submit(std::function<absl::Status(Engine*)> command);
  // Wakes waiters and fails queued commands (the loop is stopping).
  void Shutdown();

 private:
  const Clock* clock_;
  struct Command {
    std::function<absl::Status(Engine*)> fn;
    std::promise<absl::Status> done;
  };
  Position AppliedPositionsLocked(const std::string& source) const;  // mu_ held

  mutable std::mutex mu_;
  std::vector<Duration> durations_;
  mutable std::condition_variable advanced_;
  MonitorSnapshot state_;
  std::deque<Command> commands_;
  bool shut_down_ = false;
};

}  // namespace sv::engine
