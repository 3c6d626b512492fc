#pragma once
// One job at a time on a thread of its own: the commit of batch N while the loop processes batch
// N+1 (SQLite has one writer), and the lanes of a source beside the loop's own lane.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"

namespace sv::engine {

class JobThread {
 public:
  JobThread();
  ~JobThread();
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  // Starts `job`; the previous one must have been waited for.
  void Submit(std::function<absl::Status()> job);
  // Waits for the job in flight (if any) and returns its status (OK when there was none).
  absl::Status Wait();
  // True while a job runs (Wait would block).
  bool Busy();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<absl::Status()> job_;
  bool busy_ = false;
  bool stop_ = false;
  absl::Status result_;
  std::thread thread_;
};

}  // namespace sv::engine
