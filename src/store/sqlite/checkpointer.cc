#include "store/sqlite/checkpointer.h"

#include <sqlite3.h>

#include <chrono>
#include <utility>

namespace sv::store::sqlite {

Checkpointer::Checkpointer(std::string path, int interval_ms)
    : path_(std::move(path)), interval_ms_(interval_ms), thread_([this] { Loop(); }) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Checkpointer::Loop() {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    // Without this thread the WAL still gets checkpointed by other connections (and at close).
    sqlite3_close_v2(db);
    return;
  }
  // The checkpoint syncs the WAL before copying and the database file after (NORMAL).
  sqlite3_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0", nullptr, nullptr,
               nullptr);
  sqlite3_busy_timeout(db, 0);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    int wal_frames = 0;
    int copied = 0;
    sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    lock.lock();
  }
  lock.unlock();
  sqlite3_close_v2(db);
}

}  // namespace sv::store::sqlite
