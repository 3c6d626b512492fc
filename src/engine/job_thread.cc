#include "engine/job_thread.h"

#include <utility>

#include "common/thread_boundary.h"

namespace sv::engine {

JobThread::JobThread() : thread_([this] { Loop(); }) {}

JobThread::~JobThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void JobThread::Submit(std::function<absl::Status()> job) {
  {
    std::lock_guard lock(mu_);
    job_ = std::move(job);
    busy_ = true;
    result_ = absl::OkStatus();
  }
  cv_.notify_all();
}

absl::Status JobThread::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  return std::exchange(result_, absl::OkStatus());
}

bool JobThread::Busy() {
  std::lock_guard lock(mu_);
  return busy_;
}

void JobThread::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || (busy_ && job_ != nullptr); });
    if (stop_ && !busy_) return;
    if (!busy_) continue;
    std::function<absl::Status()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    absl::Status s = CatchExceptions("a job on a worker thread", job);
    lock.lock();
    result_ = std::move(s);
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace sv::engine
