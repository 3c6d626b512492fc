#include "store/sqlite/checkpointer.h"

#include <sqlite3.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "store/sqlite/fault_vfs.h"

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

namespace {

sqlite3* OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  if (!InstallFaultVfsFromEnv() ||
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
          SQLITE_OK) {
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_extended_result_codes(db, 1);
  // The checkpoint syncs the WAL before copying and the database file after (NORMAL).
  sqlite3_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0", nullptr, nullptr,
               nullptr);
  sqlite3_busy_timeout(db, 0);
  return db;
}

}  // namespace

void Checkpointer::Loop() {
  // Without a connection (opened again each interval) the WAL still gets checkpointed by other
  // connections (and at close).
  sqlite3* db = OpenConnection(path_);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    if (db == nullptr) db = OpenConnection(path_);
    if (db == nullptr) {
      lock.lock();
      continue;
    }
    int wal_frames = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    // BUSY: another checkpoint runs (the engine's connections have one each): nothing learnt.
    // A failure is logged once (not every 50 ms); the frames stay in the WAL, which is not
    // restarted until a checkpoint has synced them.
    if ((rc & 0xff) != SQLITE_BUSY) {
      if (rc != SQLITE_OK && rc != failed_code_.load()) {
        LogJson("error", "sqlite: WAL checkpoint failed",
                {{"store", path_}, {"error", sqlite3_errstr(rc)}, {"code", absl::StrCat(rc)}});
      } else if (rc == SQLITE_OK && failed_code_.load() != SQLITE_OK) {
        LogJson("info", "sqlite: WAL checkpoint works again", {{"store", path_}});
      }
      failed_code_.store(rc);
    }
    if ((rc & 0xff) == SQLITE_IOERR) {
      // A failed fsync is not retried on the same connection: start from the files again.
      sqlite3_close_v2(db);
      db = OpenConnection(path_);
    }
    lock.lock();
  }
  lock.unlock();
  sqlite3_close_v2(db);
}

}  // namespace sv::store::sqlite
