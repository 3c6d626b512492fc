// Derived views with `refresh: <cron>`: recomputed in full by the store, on schedule.

#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "engine/engine.h"
#include "sql/deparse.h"

namespace sv::engine {

absl::Status Engine::StartRefreshes() {
  refreshes_.clear();
  const int64_t now = options_.clock->NowMicros();
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    const auto& d = catalog_->views[v].derived;
    if (d == nullptr || d->refresh.empty()) continue;
    SV_ASSIGN_OR_RETURN(CronSchedule schedule, ParseCron(d->refresh));
    // Due at once: a view is current when the engine starts, then on its schedule.
    refreshes_.push_back({static_cast<int>(v), std::move(schedule), 0});
  }
  return RefreshDue(now);
}

absl::Status Engine::Refresh(int view, const store::TableSpec& table) {
  const std::optional<sql::SqlDialect> dialect =
      store::TraitsOf(StoreOptionsFor(config_.store)).select_dialect;
  if (!dialect) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store kind ", config_.store.kind, " runs no SQL: refresh needs sqlite or postgres"));
  }
  SV_ASSIGN_OR_RETURN(std::string select, sql::StoreSelect(catalog_->views[view].derived->sql,
                                                           *dialect, catalog_->ColumnTypes()));
  const auto started = std::chrono::steady_clock::now();
  const std::map<std::string, int64_t> refreshed = {
      {absl::StrCat("derived/", catalog_->views[view].name, "/refreshes"), 1}};
  auto batch = store_->BeginBatch();
  SV_RETURN_IF_ERROR(batch->ReplaceWithSelect(table, select));
  SV_RETURN_IF_ERROR(batch->AddCounters(refreshed));  // persisted with the rows, as others
  SV_RETURN_IF_ERROR(batch->Commit());
  if (Observed(view)) options_.row_observer->OnReplaced(view);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  LogJson("info", "view refreshed",
          {{"view", catalog_->views[view].name}, {"seconds", absl::StrFormat("%.3f", seconds)}});
  if (options_.monitor != nullptr) {
    options_.monitor->AddCounters(refreshed);
    options_.monitor->RecordDuration({Monitor::Job::kRefresh, catalog_->views[view].name, seconds});
  }
  return absl::OkStatus();
}

absl::Status Engine::RefreshDue(int64_t now_us) {
  for (ScheduledRefresh& r : refreshes_) {
    if (now_us < r.next_us) continue;
    SV_RETURN_IF_ERROR(Drain());  // the refresh reads everything committed so far
    r.next_us = r.schedule.NextAfter(now_us);
    absl::Status s = Refresh(r.view, tables_[r.view]);
    // A store that is down fails the loop (it backs off and starts over); a SELECT that fails
    // on the data must not stop ingestion: the view keeps its last rows until the next run.
    if (s.ok() || absl::IsUnavailable(s)) SV_RETURN_IF_ERROR(s);
    if (!s.ok()) {
      const std::string& name = catalog_->views[r.view].name;
      LogJson("error", "view refresh failed; retried at its next schedule",
              {{"view", name}, {"error", s.ToString()}});
      const std::map<std::string, int64_t> failed = {
          {absl::StrCat("derived/", name, "/refresh_errors"), 1}};
      // Persisted too, best effort: the count is worth less than the loop going on.
      auto batch = store_->BeginBatch();
      if (absl::Status saved = batch->AddCounters(failed); saved.ok()) (void)batch->Commit();
      if (options_.monitor != nullptr) options_.monitor->AddCounters(failed);
    }
  }
  return absl::OkStatus();
}

}  // namespace sv::engine
