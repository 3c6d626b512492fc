#include "store/postgres/pg_lock.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace sv::store::pg {
namespace {

constexpr std::chrono::milliseconds kPollInterval{200};

absl::StatusOr<bool> TryOnce(Conn& conn, const AdvisoryLock& lock) {
  SV_ASSIGN_OR_RETURN(Result r,
                      conn.Query(absl::StrCat("SELECT pg_try_advisory_lock((", lock.key1_sql,
                                              ")::int4, (", lock.key2_sql, ")::int4)::text"),
                                 {}, /*text_results=*/true));
  return PQntuples(r.get()) == 1 && std::string(PQgetvalue(r.get(), 0, 0)) == "true";
}

// "pid 123 from 10.0.0.5:41234, idle since …, connected since …" (or "unknown": it just ended).
std::string Holder(Conn& conn, const AdvisoryLock& lock) {
  absl::StatusOr<Result> who = conn.Query(
      absl::StrCat("SELECT 'pid ' || a.pid || ' from ' || COALESCE(host(a.client_addr) || ':' || "
                   "a.client_port, 'a local socket') || ', ' || COALESCE(a.state, '?') || "
                   "' since ' || COALESCE(a.state_change::text, '?') || ', connected since ' || "
                   "a.backend_start::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = "
                   "l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND "
                   "l.classid = ((",
                   lock.key1_sql, ")::int4)::oid AND l.objid = ((", lock.key2_sql,
                   ")::int4)::oid LIMIT 1"),
      {}, /*text_results=*/true);
  if (!who.ok() || PQntuples(who->get()) != 1) return "unknown";
  return PQgetvalue(who->get(), 0, 0);
}

}  // namespace

absl::StatusOr<bool> TakeAdvisoryLock(Conn& conn, const AdvisoryLock& lock,
                                      std::chrono::milliseconds wait, std::string* holder) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + wait;
  std::string logged;
  for (;;) {
    SV_ASSIGN_OR_RETURN(bool taken, TryOnce(conn, lock));
    if (taken) {
      if (!logged.empty()) {
        const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - started);
        LogJson("info", "advisory lock taken after waiting",
                {{"lock", lock.label}, {"waited_ms", std::to_string(waited.count())}});
      }
      return true;
    }
    *holder = Holder(conn, lock);
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (*holder != logged) {
      // A killed engine's backend keeps its locks until the server notices the dead client
      // (keepalives and client_connection_check_interval bound that to seconds).
      LogJson(
          "warn", "waiting for the previous engine's session to end",
          {{"lock", lock.label}, {"holder", *holder}, {"wait_ms", std::to_string(wait.count())}});
      logged = *holder;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace sv::store::pg
