#pragma once
// Session advisory locks taken by polling pg_try_advisory_lock until a deadline, never with a
// blocking pg_advisory_lock: a lock may still be held by the session of an engine that was just
// killed (its backend ends only once the server notices the dead client), and a caller inside a
// librdkafka callback must not block without bound. Only for src/store/postgres/.

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "store/postgres/pg_conn.h"

namespace sv::store::pg {

struct AdvisoryLock {
  std::string key1_sql;  // the two int4 keys, as SQL expressions
  std::string key2_sql;
  std::string label;  // for logs and errors: "engine lock of schema streamview"
};

// Takes `lock` on `conn`'s session, retrying while another session holds it, for at most
// `wait` (0: one try). While waiting, logs once per holder "waiting for the previous engine's
// session to end" with the holder's pid, address and state from pg_stat_activity.
// true: taken; false: still held at the deadline, `*holder` says by whom.
absl::StatusOr<bool> TakeAdvisoryLock(Conn& conn, const AdvisoryLock& lock,
                                      std::chrono::milliseconds wait, std::string* holder);

}  // namespace sv::store::pg
