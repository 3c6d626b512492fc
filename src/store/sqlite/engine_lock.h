// The one-engine lock of an SQLite store: one process at a time may drive a store's engine
// state (run, rebuild, dead-letter actions). It is an flock on the database file itself, so it
// follows the file however it is named (a symlink, a hard link, a relative path) and the kernel
// releases it when the process dies. flock and SQLite's own POSIX (fcntl) locks are independent
// on Linux local filesystems.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace sv::store::sqlite {

// Held while alive. Connections of one process share the lock (the engine opens several).
class EngineLock {
 public:
  // Fails (FailedPrecondition) when another process holds the lock of the file at `path`.
  static absl::StatusOr<EngineLock> Acquire(const std::string& path);
  EngineLock(EngineLock&& other) noexcept : key_(other.key_) { other.key_ = {}; }
  EngineLock& operator=(EngineLock&&) = delete;
  EngineLock(const EngineLock&) = delete;
  ~EngineLock();

 private:
  struct Key {
    unsigned long dev = 0;
    unsigned long ino = 0;
    bool held = false;
  };
  explicit EngineLock(Key key) : key_(key) {}
  Key key_;
};

}  // namespace sv::store::sqlite
