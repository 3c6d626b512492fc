// A fault-injection SQLite VFS for crash and disk-fault tests (in the style of LevelDB's
// fault-injection test env). Compiled into every binary, inert unless SV_FAULT_DIR is set.
//
// With SV_FAULT_DIR=<dir>, "sv-fault" wraps the default "unix" VFS and becomes the default, so
// every connection of the process goes through it. It keeps, shared by every process using the
// same <dir>, a copy of each database/WAL file as of its last xSync ("shadow") and the ranges
// written since, and injects the faults named by the spec in SV_FAULT or <dir>/control (re-read
// whenever that file changes; counters restart at each change; an empty spec clears faults):
//   powercut_at_sync=N    the Nth xSync of this process does not happen: every registered file
//                         is restored to its last-synced content, <dir>/powercut is created,
//                         and the process exits with code 86 without further I/O (any other
//                         process on <dir> exits the same way at its next file operation)
//   powercut_at_write=N   the same at the Nth xWrite
//   enospc_after_bytes=N  once files grew by N bytes, every xWrite that would grow a file fails
//                         with SQLITE_FULL (overwrites in place work, as on a real disk)
//   eio_at_sync=N         the Nth xSync fails with SQLITE_IOERR_FSYNC (nothing synced)
//   eio_from_sync=N       every xSync from the Nth on fails so (until the spec changes)
// Faults combine with ','. Counting syncs and writes (not time) lets a test choose its moments
// from observed progress. Only files SQLite opens as a main database, WAL or journal are tracked.
#pragma once

namespace sv::store::sqlite {

// Exit code of a process stopped by a simulated power cut.
inline constexpr int kPowerCutExitCode = 86;

// Registers "sv-fault" as the default VFS when SV_FAULT_DIR is set (once per process; later
// calls do nothing). Returns false when SV_FAULT_DIR is set but the VFS could not be set up.
bool InstallFaultVfsFromEnv();

}  // namespace sv::store::sqlite
