#pragma once
// One commit at a time on a thread of its own, so that the engine loop processes batch N+1
// while the store writes batch N (SQLite has one writer; the loop's work is the other core's).

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"

namespace sv::engine {

class CommitWorker {
 public:
  CommitWorker();
  ~CommitWorker();
  CommitWorker(const CommitWorker&) = delete;
  CommitWorker& operator=(const CommitWorker&) = delete;

  // Starts `job`; the previous one must have been waited for.
  void Submit(std::function<absl::Status()> job);
  // Waits for the job in flight (if any) and returns its status (OK when there was none).
  absl::Status Wait();

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
