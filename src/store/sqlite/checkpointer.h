// Runs WAL checkpoints on a thread of its own, so that a commit never waits for one.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold and syncs
// both files there: a latency spike of tens to hundreds of milliseconds on the committing
// thread. A long-lived writer turns it off and lets this thread copy the WAL back in the
// background (PASSIVE: it never blocks a reader or a writer).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace sv::store::sqlite {

class Checkpointer {
 public:
  // Opens a second connection to `path` and checkpoints every `interval_ms` while the WAL
  // holds frames not yet copied.
  Checkpointer(std::string path, int interval_ms);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  // The SQLite result code of the last checkpoint when it failed (a failed fsync, a full
  // disk), SQLITE_OK otherwise. While it fails, the store refuses to commit: its commits
  // (synchronous=NORMAL) would never become durable.
  int FailedCode() const { return failed_code_.load(); }
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  void Loop();

  const std::string path_;
  const int interval_ms_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<int> failed_code_{0};
  std::thread thread_;
};

}  // namespace sv::store::sqlite
