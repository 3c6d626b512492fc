#include "store/sqlite/fault_vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sv::store::sqlite {
namespace {

constexpr char kVfsName[] = "sv-fault";
// A truncation is recorded as a write from the new end to "everywhere after it".
constexpr int64_t kToEnd = INT64_MAX / 4;

struct FaultSpec {
  int64_t powercut_at_sync = 0;
  int64_t powercut_at_write = 0;
  int64_t enospc_after_bytes = -1;
  int64_t eio_at_sync = 0;
  int64_t eio_from_sync = 0;
};

FaultSpec ParseSpec(const std::string& text) {
  FaultSpec spec;
  for (absl::string_view item : absl::StrSplit(text, absl::ByAnyChar(",\n"), absl::SkipEmpty())) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    int64_t value = 0;
    if (!absl::SimpleAtoi(kv.second, &value)) value = -2;
    if (kv.first == "powercut_at_sync" && value > 0) {
      spec.powercut_at_sync = value;
    } else if (kv.first == "powercut_at_write" && value > 0) {
      spec.powercut_at_write = value;
    } else if (kv.first == "enospc_after_bytes" && value >= 0) {
      spec.enospc_after_bytes = value;
    } else if (kv.first == "eio_at_sync" && value > 0) {
      spec.eio_at_sync = value;
    } else if (kv.first == "eio_from_sync" && value > 0) {
      spec.eio_from_sync = value;
    } else {
      std::fprintf(stderr, "sv-fault: ignoring unknown fault '%.*s'\n",
                   static_cast<int>(item.size()), item.data());
    }
  }
  return spec;
}

struct Shared {
  std::string dir;
  int lock_fd = -1;
  sqlite3_vfs* real = nullptr;
  sqlite3_vfs vfs{};
  std::mutex mu;
  FaultSpec spec;
  // Counted since the spec was (re)loaded, by this process.
  int64_t syncs = 0;
  int64_t writes = 0;
  int64_t bytes = 0;
  struct stat control {};  // of the control file the spec was read from
};

Shared* g_shared = nullptr;

std::string MarkerPath() { return g_shared->dir + "/powercut"; }

// Where a tracked file's synced copy, its ranges written since, and its own path live.
std::string ShadowBase(const char* path) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across processes
  for (const char* p = path; *p != '\0'; ++p)
    h = (h ^ static_cast<unsigned char>(*p)) * 1099511628211ull;
  const char* slash = std::strrchr(path, '/');
  return absl::StrCat(g_shared->dir, "/", absl::Hex(h, absl::kZeroPad16), "-",
                      slash != nullptr ? slash + 1 : path);
}

void ExitIfPoweredOff() {
  if (::access(MarkerPath().c_str(), F_OK) == 0) std::_Exit(kPowerCutExitCode);
}

// Holds the process mutex and the cross-process lock of the fault directory.
class Locked {
 public:
  Locked() : guard_(g_shared->mu) {
    while (::flock(g_shared->lock_fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    ExitIfPoweredOff();
    ReloadSpec();
  }
  ~Locked() { ::flock(g_shared->lock_fd, LOCK_UN); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  static void ReloadSpec() {
    struct stat st {};
    if (::stat((g_shared->dir + "/control").c_str(), &st) != 0) return;
    const struct stat& old = g_shared->control;
    if (st.st_ino == old.st_ino && st.st_size == old.st_size &&
        st.st_mtim.tv_sec == old.st_mtim.tv_sec && st.st_mtim.tv_nsec == old.st_mtim.tv_nsec) {
      return;
    }
    std::ifstream in(g_shared->dir + "/control");
    std::stringstream text;
    text << in.rdbuf();
    g_shared->spec = ParseSpec(text.str());
    g_shared->control = st;
    g_shared->syncs = g_shared->writes = g_shared->bytes = 0;
  }

  std::lock_guard<std::mutex> guard_;
};

bool CopyRange(int from, int to, int64_t offset, int64_t length) {
  std::vector<char> buf(1 << 16);
  while (length > 0) {
    const ssize_t n = ::pread(from, buf.data(), std::min<int64_t>(length, buf.size()), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
    if (::pwrite(to, buf.data(), n, offset) != n) return false;
    offset += n;
    length -= n;
  }
  return true;
}

int64_t FileSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_size : 0;
}

std::vector<std::pair<int64_t, int64_t>> ReadRanges(const std::string& base) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::ifstream in(base + ".dirty", std::ios::binary);
  int64_t pair[2];
  while (in.read(reinterpret_cast<char*>(pair), sizeof(pair)))
    ranges.emplace_back(pair[0], pair[1]);
  return ranges;
}

void ClearRanges(const std::string& base) { ::truncate((base + ".dirty").c_str(), 0); }

void RecordRange(const std::string& base, int64_t offset, int64_t length) {
  const int fd = ::open((base + ".dirty").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const int64_t pair[2] = {offset, length};
  (void)!::write(fd, pair, sizeof(pair));
  ::close(fd);
}

// Copies [offset, offset + length) of a tracked file into `to`, read through SQLite's own file
// handle: opening and closing another descriptor of the file would drop every POSIX lock the
// process's connections hold on it (and another process could then think itself alone).
void CopyFromFile(sqlite3_file* from, int64_t size, int to, int64_t offset, int64_t length) {
  length = std::min(length, size - offset);
  std::vector<char> buf(1 << 16);
  while (length > 0) {
    const int n = static_cast<int>(std::min<int64_t>(length, buf.size()));
    const int rc = from->pMethods->xRead(from, buf.data(), n, offset);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return;
    if (::pwrite(to, buf.data(), n, offset) != n) return;
    offset += n;
    length -= n;
  }
}

// A file seen for the first time counts as synced as it is.
void Register(sqlite3_file* file, const char* path, const std::string& base) {
  if (::access((base + ".shadow").c_str(), F_OK) == 0) return;
  const int to = ::open((base + ".shadow").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  sqlite3_int64 size = 0;
  file->pMethods->xFileSize(file, &size);
  if (to >= 0) {
    CopyFromFile(file, size, to, 0, size);
    ::close(to);
  }
  ClearRanges(base);
  std::ofstream(base + ".path") << path;
}

// After a successful fsync: what was written since the last one is now durable.
void SyncShadow(sqlite3_file* file, const std::string& base) {
  const int shadow = ::open((base + ".shadow").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (shadow < 0) return;
  sqlite3_int64 size = 0;
  file->pMethods->xFileSize(file, &size);
  for (const auto& [offset, length] : ReadRanges(base)) {
    if (offset < size) CopyFromFile(file, size, shadow, offset, length);
  }
  (void)!::ftruncate(shadow, size);
  ClearRanges(base);
  ::close(shadow);
}

// Every tracked file back to its last-synced content (just before the process exits, so the
// descriptors opened here may drop its locks).
void RestoreAll() {
  DIR* dir = ::opendir(g_shared->dir.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> bases;
  while (dirent* e = ::readdir(dir)) {
    absl::string_view name(e->d_name);
    if (absl::ConsumeSuffix(&name, ".path"))
      bases.push_back(absl::StrCat(g_shared->dir, "/", name));
  }
  ::closedir(dir);
  for (const std::string& base : bases) {
    std::ifstream in(base + ".path");
    std::string path;
    std::getline(in, path);
    const int file = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    const int shadow = ::open((base + ".shadow").c_str(), O_RDONLY | O_CLOEXEC);
    if (file >= 0 && shadow >= 0) {
      const int64_t size = FileSize(shadow);
      for (const auto& [offset, length] : ReadRanges(base)) {
        if (offset < size) CopyRange(shadow, file, offset, std::min(length, size - offset));
      }
      (void)!::ftruncate(file, size);
      ClearRanges(base);
    }
    if (file >= 0) ::close(file);
    if (shadow >= 0) ::close(shadow);
  }
}

[[noreturn]] void PowerCut() {
  std::fprintf(stderr, "sv-fault: power cut (sync %lld, write %lld)\n",
               static_cast<long long>(g_shared->syncs), static_cast<long long>(g_shared->writes));
  const int marker = ::open(MarkerPath().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (marker >= 0) ::close(marker);
  RestoreAll();
  std::_Exit(kPowerCutExitCode);
}

// ---- The file wrapper

struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
  std::string* shadow;  // null: not tracked (temp files)
  char* path;
};

FaultFile* Cast(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Cast(f)->real; }

int Close(sqlite3_file* f) {
  FaultFile* ff = Cast(f);
  const int rc = ff->real->pMethods != nullptr ? ff->real->pMethods->xClose(ff->real) : SQLITE_OK;
  delete ff->shadow;
  std::free(ff->path);
  return rc;
}

int Read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  ExitIfPoweredOff();
  return Real(f)->pMethods->xRead(Real(f), buf, amount, offset);
}

int Write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  FaultFile* ff = Cast(f);
  Locked locked;
  const FaultSpec& spec = g_shared->spec;
  if (++g_shared->writes == spec.powercut_at_write) PowerCut();
  // As on a real disk, only writes that need new space fail: overwrites in place still work.
  sqlite3_int64 size = 0;
  ff->real->pMethods->xFileSize(ff->real, &size);
  const int64_t grows = std::max<int64_t>(0, offset + amount - size);
  if (spec.enospc_after_bytes >= 0 && grows > 0 &&
      g_shared->bytes + grows > spec.enospc_after_bytes) {
    if (std::getenv("SV_FAULT_TRACE") != nullptr) {
      std::fprintf(stderr, "sv-fault: ENOSPC write %d at %lld of %s\n", amount,
                   static_cast<long long>(offset), ff->path != nullptr ? ff->path : "(temp)");
    }
    return SQLITE_FULL;
  }
  g_shared->bytes += grows;
  if (ff->shadow != nullptr) RecordRange(*ff->shadow, offset, amount);
  return ff->real->pMethods->xWrite(ff->real, buf, amount, offset);
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  FaultFile* ff = Cast(f);
  Locked locked;
  if (ff->shadow != nullptr) RecordRange(*ff->shadow, size, kToEnd);
  return ff->real->pMethods->xTruncate(ff->real, size);
}

int Sync(sqlite3_file* f, int flags) {
  FaultFile* ff = Cast(f);
  Locked locked;
  const FaultSpec& spec = g_shared->spec;
  ++g_shared->syncs;
  if (g_shared->syncs == spec.powercut_at_sync) PowerCut();
  if (g_shared->syncs == spec.eio_at_sync ||
      (spec.eio_from_sync > 0 && g_shared->syncs >= spec.eio_from_sync)) {
    std::fprintf(stderr, "sv-fault: fsync fails with EIO (sync %lld)\n",
                 static_cast<long long>(g_shared->syncs));
    return SQLITE_IOERR_FSYNC;
  }
  const int rc = ff->real->pMethods->xSync(ff->real, flags);
  if (rc == SQLITE_OK && ff->shadow != nullptr) SyncShadow(ff->real, *ff->shadow);
  return rc;
}

int FileSizeOf(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, p);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSizeOf,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

constexpr int kFaultFileSize = (sizeof(FaultFile) + 7) & ~7;

int Open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  FaultFile* ff = Cast(file);
  ff->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kFaultFileSize);
  ff->shadow = nullptr;
  ff->path = nullptr;
  file->pMethods = nullptr;
  const int rc = g_shared->real->xOpen(g_shared->real, name, ff->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  constexpr int kDurable = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL;
  if (name != nullptr && (flags & kDurable) != 0) {
    ff->shadow = new std::string(ShadowBase(name));
    ff->path = strdup(name);
    Locked locked;
    Register(ff->real, name, *ff->shadow);
  }
  file->pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  {
    Locked locked;
    const std::string base = ShadowBase(name);
    for (const char* suffix : {".shadow", ".dirty", ".path"}) ::unlink((base + suffix).c_str());
  }
  return g_shared->real->xDelete(g_shared->real, name, sync_dir);
}

bool Install(const char* dir) {
  auto* shared = new Shared();
  shared->dir = dir;
  ::mkdir(dir, 0755);
  shared->lock_fd = ::open((shared->dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  shared->real = sqlite3_vfs_find(nullptr);
  if (shared->lock_fd < 0 || shared->real == nullptr) {
    std::fprintf(stderr, "sv-fault: cannot set up in %s\n", dir);
    return false;
  }
  if (const char* spec = std::getenv("SV_FAULT"); spec != nullptr) shared->spec = ParseSpec(spec);
  shared->vfs = *shared->real;
  shared->vfs.pNext = nullptr;
  shared->vfs.zName = kVfsName;
  shared->vfs.szOsFile = kFaultFileSize + shared->real->szOsFile;
  shared->vfs.xOpen = Open;
  shared->vfs.xDelete = Delete;
  g_shared = shared;
  return sqlite3_vfs_register(&shared->vfs, 1) == SQLITE_OK;
}

}  // namespace

bool InstallFaultVfsFromEnv() {
  static const bool installed = [] {
    const char* dir = std::getenv("SV_FAULT_DIR");
    if (dir == nullptr || dir[0] == '\0') return true;
    return Install(dir);
  }();
  return installed;
}

}  // namespace sv::store::sqlite
