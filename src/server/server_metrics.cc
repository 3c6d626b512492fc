// Prometheus families of the server. Engine totals come from the monitor at scrape time (the
// monitor's counters are the store's persisted totals, so they survive restarts); lag and
// staleness are read from the store like /lags.

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"
#include "server/server_internal.h"
#include "trace/trace.h"

namespace sv::server {
namespace {

// Counters only move forward: add what the total gained since the last scrape.
void AdvanceTo(metrics::Counter* c, double total) {
  if (c != nullptr && total > c->Value()) c->Inc(total - c->Value());
}

// The (view, organization) series of the lag per organization a process exports at most.
constexpr size_t kMaxOrgLagSeries = 1000;
constexpr char kOrgLagEventsHelp[] =
    "Events of the organization read from the source but not yet applied to the tenant view "
    "(waiting in the ordering gate: stashed or held); seed 000's lag per org";
constexpr char kOrgLagSecondsHelp[] =
    "Age of the organization's oldest event read but not yet applied to the tenant view (0 "
    "when none)";
using OrgLagSeries = std::set<std::pair<std::string, std::string>>;

// Seed 000's lag per organization: events of the organization read but not yet applied to the
// view (waiting in the gate), and the age of the oldest. An organization gets its series the
// first time it has events waiting and keeps it (0 when none) for the process's life; past
// kMaxOrgLagSeries, the events of organizations without a series are summed per view instead.
void ExportOrgLags(metrics::Registry& r, const std::vector<engine::OrgLagProgress>& lags,
                   int64_t now_us, OrgLagSeries* series) {
  // The families are there before any organization lags (dashboards, alert rules).
  r.DeclareGauge("streamview_view_org_lag_events", kOrgLagEventsHelp);
  r.DeclareGauge("streamview_view_org_lag_seconds", kOrgLagSecondsHelp);
  std::vector<const engine::OrgLagProgress*> fresh;
  std::map<std::pair<std::string, std::string>, const engine::OrgLagProgress*> now;
  for (const engine::OrgLagProgress& l : lags) {
    now[{l.view, l.org}] = &l;
    if (!series->contains({l.view, l.org})) fresh.push_back(&l);
  }
  std::sort(fresh.begin(), fresh.end(),
            [](const auto* a, const auto* b) { return a->events > b->events; });
  std::map<std::string, int64_t> unlisted;  // by view
  for (const engine::OrgLagProgress* l : fresh) {
    if (series->size() < kMaxOrgLagSeries) {
      series->insert({l->view, l->org});
    } else {
      unlisted[l->view] += l->events;
    }
  }
  for (const auto& [view, org] : *series) {
    auto it = now.find({view, org});
    const int64_t events = it == now.end() ? 0 : it->second->events;
    const double seconds =
        it == now.end()
            ? 0
            : std::max(0.0, static_cast<double>(now_us - it->second->oldest_log_time_us) / 1e6);
    r.GetGauge("streamview_view_org_lag_events", kOrgLagEventsHelp, {{"view", view}, {"org", org}})
        ->Set(static_cast<double>(events));
    r.GetGauge("streamview_view_org_lag_seconds", kOrgLagSecondsHelp,
               {{"view", view}, {"org", org}})
        ->Set(seconds);
  }
  if (series->size() >= kMaxOrgLagSeries) {
    for (const auto& [view, events] : unlisted) {
      r.GetGauge("streamview_view_org_lag_unlisted_events",
                 "Waiting events of organizations past the per-organization series cap",
                 {{"view", view}})
          ->Set(static_cast<double>(events));
    }
  }
}

}  // namespace

void Server::Impl::RegisterMetrics() {
  upserts = registry.GetHistogram(
      "streamview_upserts_duration_seconds",
      "Duration of one batch transaction (view rows, gate state and position together)",
      metrics::Registry::DefaultLatencyBuckets());
  auto org_lag_series = std::make_shared<OrgLagSeries>();  // read by the collector only
  registry.AddCollector([this, org_lag_series](metrics::Registry& r) {
    const engine::MonitorSnapshot snap = monitor->Snapshot();
    ExportOrgLags(r, snap.org_lags, monitor->clock().NowMicros(), org_lag_series.get());
    for (const auto& [name, total] : snap.counters) {
      // "<source>/type/<EventType>" or "<source>/<outcome>_total"
      const std::vector<std::string> parts = absl::StrSplit(name, '/');
      if (parts.size() == 3 && parts[0] == "derived") {
        // "derived/<view>/rows_written|refreshes|refresh_errors|expression_errors"
        if (parts[2] == "rows_written") {
          AdvanceTo(r.GetCounter("streamview_derived_rows_written_total",
                                 "Rows a derived view wrote (inserted, updated or deleted) as "
                                 "its inputs changed",
                                 {{"view", parts[1]}}),
                    static_cast<double>(total));
        } else if (parts[2] == "refreshes") {
          AdvanceTo(r.GetCounter("streamview_derived_refreshes_total",
                                 "Full recomputations of a refresh-scheduled derived view",
                                 {{"view", parts[1]}}),
                    static_cast<double>(total));
        } else if (parts[2] == "refresh_errors") {
          AdvanceTo(r.GetCounter("streamview_derived_refresh_errors_total",
                                 "Scheduled refreshes whose SELECT failed (retried at the next "
                                 "schedule; ingestion goes on)",
                                 {{"view", parts[1]}}),
                    static_cast<double>(total));
        } else if (parts[2] == "expression_errors") {
          AdvanceTo(r.GetCounter("streamview_derived_expression_errors_total",
                                 "Derived-view expressions that failed on a row (read as NULL)",
                                 {{"view", parts[1]}}),
                    static_cast<double>(total));
        }
        continue;
      }
      if (parts.size() == 3 && parts[1] == "type") {
        AdvanceTo(r.GetCounter("streamview_events_total", "Events applied, by event type",
                               {{"source", parts[0]}, {"type", parts[2]}}),
                  static_cast<double>(total));
        continue;
      }
      if (parts.size() != 2) continue;
      std::string outcome = parts[1];
      if (absl::EndsWith(outcome, "_total")) outcome.resize(outcome.size() - 6);
      AdvanceTo(r.GetCounter("streamview_gate_outcomes_total",
                             "Records by what the ordering gate and the projections did with them",
                             {{"source", parts[0]}, {"outcome", outcome}}),
                static_cast<double>(total));
      if (outcome == "duplicates") {
        AdvanceTo(r.GetCounter("streamview_duplicates_total", "Duplicate events skipped",
                               {{"source", parts[0]}}),
                  static_cast<double>(total));
      } else if (outcome == "out_of_order") {
        AdvanceTo(r.GetCounter("streamview_out_of_order_total",
                               "Events older than the key's last sequence, skipped",
                               {{"source", parts[0]}}),
                  static_cast<double>(total));
      } else if (outcome == "dead_letters") {
        for (const auto& plan : catalog->views) {
          if (catalog->sources[plan.source].config.name != parts[0]) continue;
          AdvanceTo(r.GetCounter("streamview_view_errors_total",
                                 "Events of the view's source that went to the dead-letter store",
                                 {{"view", plan.name}}),
                    static_cast<double>(total));
        }
      }
    }
    r.GetGauge("streamview_started", "1 once the engine has opened its views")
        ->Set(snap.started ? 1 : 0);
    r.GetGauge("streamview_store_up", "1 while the last store operation succeeded")
        ->Set(snap.store_ok ? 1 : 0);
    r.GetGauge("streamview_rebuild_running", "1 while a rebuild runs")
        ->Set(snap.rebuild.running ? 1 : 0);
    // The trace exporter's totals (all 0 while tracing is off): spans dropped on a full queue or
    // lost with a failed request mean the traces seen are incomplete.
    const trace::Counters spans = trace::Stats();
    const std::pair<const char*, uint64_t> span_outcomes[] = {
        {"exported", spans.exported}, {"dropped", spans.dropped}, {"failed", spans.failed}};
    for (const auto& [outcome, n] : span_outcomes) {
      AdvanceTo(r.GetCounter("streamview_trace_spans_total",
                             "Spans by export outcome: exported (the endpoint accepted them), "
                             "dropped (the queue was full), failed (their request failed)",
                             {{"outcome", outcome}}),
                static_cast<double>(n));
    }
    // The last verify against the source (engine/source_verify): its drift per view and kind.
    AdvanceTo(r.GetCounter("streamview_verify_runs_total",
                           "Verifies against the source that ended (clean, drift or failed)"),
              static_cast<double>(snap.verify.runs));
    if (snap.verify.has_report) {
      for (const engine::ViewDrift& d : snap.verify.report.views) {
        if (!d.skipped.empty()) continue;
        const std::pair<const char*, int64_t> kinds[] = {
            {"missing", d.missing}, {"extra", d.extra}, {"differing", d.differing}};
        for (const auto& [kind, rows] : kinds) {
          r.GetGauge("streamview_view_drift_rows",
                     "Rows of the view that differ from what its source says, by kind, as the "
                     "last verify found them (before its repair, if any)",
                     {{"view", d.view}, {"kind", kind}})
              ->Set(static_cast<double>(rows));
        }
      }
    }
    // Seed 000's job histograms: one observation per view and run.
    static const std::vector<double> kJobBuckets = {0.1, 0.5, 1,   5,    10,  30,
                                                    60,  180, 600, 1800, 3600};
    for (const engine::Monitor::Duration& d : monitor->TakeDurations()) {
      const bool rebuild = d.job == engine::Monitor::Job::kRebuild;
      metrics::Histogram* h = r.GetHistogram(
          rebuild ? "streamview_rebuild_duration_seconds" : "streamview_refresh_duration_seconds",
          rebuild ? "Duration of rebuilds requested through the API, per view"
                  : "Duration of a derived view's scheduled refresh (its SELECT recomputed)",
          kJobBuckets, {{"view", d.view}});
      if (h != nullptr) h->Observe(d.seconds);
    }
    auto lags = ComputeLags(*this);
    if (!lags.ok()) return;
    for (const SourceLag& s : *lags) {
      if (s.upstream.known) {
        r.GetGauge("streamview_source_upstream_lag_bytes",
                   "What the upstream keeps for the source beyond its acknowledged position "
                   "(a replication slot: current WAL - confirmed flush)",
                   {{"source", s.name}})
            ->Set(static_cast<double>(s.upstream.lag_bytes));
        r.GetGauge("streamview_source_upstream_lag_seconds",
                   "Age of the oldest change received from the upstream and not yet applied",
                   {{"source", s.name}})
            ->Set(s.upstream.lag_seconds);
        r.GetGauge("streamview_source_upstream_ok",
                   "0 while the upstream cannot be followed (a replication slot lost or moved)",
                   {{"source", s.name}})
            ->Set(s.upstream.problem.empty() ? 1 : 0);
      }
      for (const PartitionLag& p : s.partitions) {
        if (p.topic.empty()) continue;
        r.GetGauge("kafka_consumer_lag",
                   "Records in the partition not yet applied (high watermark - stored position)",
                   {{"topic", p.topic}, {"partition", std::to_string(p.partition_in_topic)}})
            ->Set(static_cast<double>(std::max<int64_t>(0, p.end - p.position)));
      }
    }
    for (const auto& plan : catalog->views) {
      const SourceLag& s = (*lags)[plan.source];
      int64_t lag = 0, applied = 0;
      double staleness = 0;
      for (const PartitionLag& p : s.partitions) {
        lag += std::max<int64_t>(0, p.end - p.position);
        applied += p.position;
        staleness = std::max(staleness, p.staleness_seconds);
      }
      r.GetGauge("streamview_view_lag_events", "Source records not yet applied to the view",
                 {{"view", plan.name}})
          ->Set(static_cast<double>(lag));
      r.GetGauge("streamview_view_staleness_seconds",
                 "Age of the oldest event the view has not applied yet (0 when caught up)",
                 {{"view", plan.name}})
          ->Set(staleness);
      r.GetGauge("streamview_view_applied_position",
                 "Last source position applied to the view (summed over partitions)",
                 {{"view", plan.name}})
          ->Set(static_cast<double>(applied));
    }
    org_activity->ForEach([&](int view, const std::string& org, double seconds) {
      r.GetGauge("streamview_view_org_staleness_seconds",
                 "Seconds since the view last changed a row of the organization (seed 000's "
                 "staleness per org; counted from the process's start)",
                 {{"view", catalog->views[view].name}, {"org", org}})
          ->Set(seconds);
    });
    int64_t log_end = 0;
    for (size_t i = 0; i < lags->size(); ++i) {
      if (sources[i].end_in_store && !(*lags)[i].partitions.empty()) {
        log_end = (*lags)[i].partitions.front().end;
      }
    }
    r.GetGauge("streamview_log_end_position", "Last position of the embedded log")
        ->Set(static_cast<double>(log_end));
  });
}

}  // namespace sv::server
