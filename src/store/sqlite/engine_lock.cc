#include "store/sqlite/engine_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sv::store::sqlite {
namespace {

struct Held {
  int fd = -1;
  int refs = 0;
};

// By (device, inode). The descriptors stay open for the life of the process: closing one would
// also drop every POSIX lock this process's SQLite connections hold on the same file.
std::mutex g_mu;
std::map<std::pair<unsigned long, unsigned long>, Held>* g_held =
    new std::map<std::pair<unsigned long, unsigned long>, Held>();

}  // namespace

absl::StatusOr<EngineLock> EngineLock::Acquire(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
  }
  std::lock_guard<std::mutex> lock(g_mu);
  Held& held = (*g_held)[{st.st_dev, st.st_ino}];
  if (held.fd < 0) {
    held.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (held.fd < 0) {
      return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
    }
  }
  if (held.refs == 0 && ::flock(held.fd, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another streamview process (run, rebuild or dlq) is using ", path,
                     " (whatever name it was given); stop it first"));
  }
  ++held.refs;
  return EngineLock(Key{st.st_dev, st.st_ino, true});
}

EngineLock::~EngineLock() {
  if (!key_.held) return;
  std::lock_guard<std::mutex> lock(g_mu);
  Held& held = (*g_held)[{key_.dev, key_.ino}];
  if (--held.refs == 0) ::flock(held.fd, LOCK_UN);
}

}  // namespace sv::store::sqlite
