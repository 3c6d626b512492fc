// Verify against the source: every view's rows compared key by key with the source's own
// answer, and (with repair) the drifting keys written as the source says.
//
// The shadow is a tenant rebuild's fold (engine/tenant_rebuild.cc) of all organizations: the
// source replayed from nothing on a thread of its own up to the stored positions, then the
// loop's tail of polls, so that it stands exactly at the live position when the loop, between
// batches and with nothing in flight, compares it with the live tables. Rows the stream changed
// during the check were applied to both sides and are never flagged. Derived views are computed
// from the shadow's base rows by a maintainer of their own (`derived::Maintainer::Load`), the
// same computation a rebuild makes.
//
// A view's maintained versions (engine/view_versions.h: a standby, a candidate, a previous:
// definition's version) are folded by the same job into their working-set slots, each with its
// own definition, and compared with their tables; the one that serves is reported under the
// view's name, the others as view@vN. Derived views are computed over the definitions that
// serve (ServingCatalog) from the serving slots' folded rows, as the live maintainer computes them.
//
// Repair writes the source's row for every missing or differing key and deletes every extra
// one, base and derived views alike, in one transaction through the commit path (row observers
// follow), without feeding the base changes to the live maintainer: its state was computed from
// rows that may have been changed behind its back, so it is recomputed from the repaired store.

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread_boundary.h"
#include "engine/engine.h"
#include "engine/row_diff.h"
#include "engine/view_versions.h"

namespace sv::engine {
namespace {

constexpr int64_t kLivePage = 10'000;  // live rows read per query while comparing
// How long a change feed's stream may take to pass a verify's snapshot once it is folded.
constexpr std::chrono::minutes kSnapshotPassTimeout{10};

// The source every base view under `view` reads: -1 when several.
int SourceUnder(const projection::Catalog& catalog, int view) {
  const projection::ViewPlan& plan = catalog.views[view];
  if (plan.derived == nullptr) return plan.source;
  int source = -2;
  for (int input : plan.derived->inputs) {
    const int s = SourceUnder(catalog, input);
    if (s == -1 || (source >= 0 && s != source)) return -1;
    source = s;
  }
  return source;
}

std::string RenderKey(const Row& key_values) {
  std::vector<std::string> parts;
  for (const Value& v : key_values) parts.push_back(v.is_null() ? "NULL" : v.ToString());
  return absl::StrJoin(parts, ",");
}

void Note(std::vector<std::string>* keys, int64_t* count, size_t cap, const Row& key_values) {
  ++*count;
  if (keys->size() < cap) keys->push_back(RenderKey(key_values));
}

}  // namespace

absl::StatusOr<VerifyReport> Engine::Verify(const VerifyRequest& request) {
  absl::StatusOr<VerifyReport> outcome = absl::InternalError("verify did not end");
  verify_folds_here_ = true;
  absl::Status started =
      StartVerify(request, [&outcome](const absl::StatusOr<VerifyReport>& r) { outcome = r; });
  verify_folds_here_ = started.ok();
  SV_RETURN_IF_ERROR(started);
  absl::Cleanup back_to_threads = [this] { verify_folds_here_ = false; };
  // No loop runs beside: fold each source on this thread and compare, one after the other. A
  // change feed's snapshot is ahead of the views: the loop is run here until it passes it.
  while (tenant_job_ != nullptr && tenant_job_->verify != nullptr) {
    if (!tenant_job_->folded.load()) FoldHere(*tenant_job_);
    absl::StatusOr<bool> wait = WaitForSnapshot(*tenant_job_);
    if (!wait.ok()) {
      std::unique_ptr<TenantJob> job = std::move(tenant_job_);
      EndVerify(*job->verify, wait.status());
      break;
    }
    if (*wait) {
      bool idle = false;
      SV_RETURN_IF_ERROR(RunOnce(&idle));
      SV_RETURN_IF_ERROR(Sync());  // committed: its position counts
      continue;
    }
    SV_RETURN_IF_ERROR(FinishVerifyJob());
  }
  return outcome;
}

absl::Status Engine::StartVerify(const VerifyRequest& request,
                                 std::function<void(const absl::StatusOr<VerifyReport>&)> done) {
  SV_RETURN_IF_ERROR(Drain());
  if (tenant_job_ != nullptr) {
    return absl::FailedPreconditionError("a tenant rebuild or a verify is running");
  }
  auto run = std::make_shared<VerifyRun>();
  run->request = request;
  run->report.repair = request.repair;
  run->done = std::move(done);
  run->started_us = options_.clock->NowMicros();
  std::vector<bool> wanted_source(catalog_->sources.size(), false);
  // The version readers read is reported under the view's name, the others as view@vN.
  const std::vector<int> served = ServedSlots();
  for (size_t v = 0; v < catalog_->views.size(); ++v) {
    const projection::ViewPlan& plan = catalog_->views[v];
    ViewDrift drift;
    drift.view =
        served[v] == static_cast<int>(v) ? plan.name : absl::StrCat(plan.name, "@v", versions_[v]);
    const int source = SourceUnder(*catalog_, static_cast<int>(v));
    if (plan.derived != nullptr && !plan.derived->refresh.empty()) {
      drift.skipped = "recomputed by the store on its refresh: schedule (see the SELECT check)";
    } else if (source < 0) {
      drift.skipped = "derived from views of several sources, folded at different positions";
    } else if (request.tenant.has_value() && plan.tenant < 0) {
      drift.skipped = "declares no tenant column: verified only without an organization";
    } else if (absl::StatusOr<source::SourceTraits> traits =
                   source::TraitsOf(catalog_->sources[source].config);
               !traits.ok()) {
      drift.skipped = std::string(traits.status().message());
    } else if (traits->replays_snapshot && sources_.empty()) {
      // Its snapshot is taken now, past the views' position: only a running stream gets the
      // views there.
      drift.skipped = absl::StrCat("reads change feed '", catalog_->sources[source].config.name,
                                   "', whose stream is not running here: verify it with the "
                                   "engine's sources started (streamview verify, or POST "
                                   "/views/verify on the running engine)");
    } else {
      wanted_source[source] = true;
    }
    run->report.views.push_back(std::move(drift));
  }
  // The maintained versions (engine/view_versions.h) after the views, in their working-set
  // slots' order, each compared with the fold of its own definition.
  for (const MaintainedVersion& m : maintained_) {
    ViewDrift drift = run->report.views[m.view];  // skipped (or not) as its view
    const std::string& name = catalog_->views[m.view].name;
    drift.view = m.active ? name : absl::StrCat(name, "@v", m.version);
    if (drift.skipped.empty() && m.previous && request.tenant.has_value() &&
        previous_catalog_->views[m.view].tenant < 0) {
      drift.skipped = "its previous: definition declares no tenant column";
    }
    run->report.views.push_back(std::move(drift));
  }
  for (size_t s = 0; s < wanted_source.size(); ++s) {
    if (wanted_source[s]) run->sources.push_back(static_cast<int>(s));
  }
  if (options_.monitor != nullptr) options_.monitor->VerifyStarted(run->started_us);
  if (absl::Status s = NextVerifyJob(run); !s.ok()) {
    if (options_.monitor != nullptr) options_.monitor->VerifyFailed(s, options_.clock->NowMicros());
    return s;
  }
  return absl::OkStatus();
}

absl::Status Engine::VerifyDue(int64_t now_us) {
  if (now_us < verify_next_us_) return absl::OkStatus();
  verify_next_us_ = verify_schedule_->NextAfter(now_us);
  if (tenant_job_ != nullptr) {
    LogJson("warn", "scheduled verify skipped: a tenant rebuild or a verify is running");
    return absl::OkStatus();
  }
  VerifyRequest request;
  request.repair = config_.verify.repair;
  // Its outcome goes to the monitor (metrics, GET /views/verify) and the log.
  if (absl::Status s = StartVerify(request, nullptr); !s.ok()) {
    LogJson("warn", "scheduled verify did not start", {{"error", std::string(s.message())}});
  }
  return absl::OkStatus();
}

absl::Status Engine::NextVerifyJob(std::shared_ptr<VerifyRun> run) {
  if (run->sources.empty()) {
    EndVerify(*run, run->report);
    return absl::OkStatus();
  }
  const int source = run->sources.front();
  run->sources.erase(run->sources.begin());
  SV_ASSIGN_OR_RETURN(tenant_job_,
                      NewFoldJob(source, "a verify against the source", /*snapshot_ok=*/true,
                                 /*maintained_versions=*/true));
  if (run->request.tenant.has_value() && !tenant_job_->snapshot) {
    // One organization's rows are compared: the log's records of its keys make them, where
    // that is exact (as for its rebuild) and no derived view, computed from every
    // organization's rows, is compared.
    std::vector<int> views;
    for (size_t v = 0; v < catalog_->views.size(); ++v) {
      if (!run->report.views[v].skipped.empty() ||
          SourceUnder(*catalog_, static_cast<int>(v)) != source) {
        continue;
      }
      if (catalog_->views[v].derived != nullptr) {
        tenant_job_->index_unused =
            absl::StrCat("derived view ", catalog_->views[v].name, " is compared");
        views.clear();
        break;
      }
      views.push_back(static_cast<int>(v));
    }
    if (!views.empty()) {
      tenant_job_->request.tenant = *run->request.tenant;
      SV_RETURN_IF_ERROR(FoldByOrgIndexIfExact(*tenant_job_, views));
    }
  }
  // Said when one organization is verified on the log: read by its index or whole, and why.
  const std::string how = tenant_job_->index_writer != nullptr || !tenant_job_->index_unused.empty()
                              ? absl::StrCat(" (", LogFoldScope(*tenant_job_), ")")
                              : "";
  tenant_job_->verify = std::move(run);
  Progress(absl::StrCat("verify: folding ", catalog_->sources[source].config.name,
                        " beside the live views", how));
  // Beside a running loop the fold gets a thread of its own; Verify folds it itself.
  if (!verify_folds_here_) StartFold(*tenant_job_);
  return absl::OkStatus();
}

absl::StatusOr<bool> Engine::WaitForSnapshot(TenantJob& job) {
  if (!job.snapshot || !job.fold_status.ok()) return false;
  std::map<int32_t, int64_t> at;
  {
    std::lock_guard lock(job.mu);
    at = job.snapshot_at;
  }
  if (at.empty()) return false;  // no snapshot was made: the fold's error says why
  const std::string& name = catalog_->sources[job.source].config.name;
  const char* what = job.verify != nullptr ? "verify" : "tenant rebuild";
  if (static_cast<size_t>(job.source) >= sources_.size() ||
      sources_[job.source].source == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": change feed '", name, "' is not streaming here"));
  }
  SourceState& st = sources_[job.source];
  bool passed = true;
  for (const auto& [partition, position] : at) {
    auto it = st.applied.find(partition);
    passed = passed && it != st.applied.end() && it->second >= position;
  }
  if (passed) return false;
  const auto now = std::chrono::steady_clock::now();
  if (!job.nudged) {
    // Idle tables move no position: the source is asked for a heartbeat past the snapshot.
    job.nudged = true;
    job.waiting_since = now;
    st.source->MarkPositionSoon();
    Progress(absl::StrCat(what, ": ", name, " snapshot read; waiting for the stream to pass it"));
    return true;
  }
  if (now - job.waiting_since > kSnapshotPassTimeout) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, ": change feed '", name, "' did not reach its snapshot's position within ",
        absl::FormatDuration(absl::FromChrono(kSnapshotPassTimeout)),
        " (is its stream down? see /health/ready)"));
  }
  return true;
}

absl::Status Engine::FinishVerifyJob() {
  std::unique_ptr<TenantJob> job = std::move(tenant_job_);
  std::shared_ptr<VerifyRun> run = job->verify;
  absl::Status s = CatchUpTenantJob(*job);
  if (s.ok()) s = CompareWithShadow(*job, run->request, &run->report);
  if (s.ok()) {
    run->report.events += job->events;
    run->report.tail_events += job->tail_events;
    s = NextVerifyJob(run);
  }
  // A failed comparison or repair wrote nothing; the next batch finds out whether the store
  // itself is down.
  if (!s.ok()) EndVerify(*run, s);
  return absl::OkStatus();
}

void Engine::EndVerify(VerifyRun& run, const absl::StatusOr<VerifyReport>& outcome) {
  const int64_t now = options_.clock->NowMicros();
  if (outcome.ok()) {
    run.report.seconds = static_cast<double>(now - run.started_us) / 1e6;
    int64_t drifting = 0;
    for (const ViewDrift& v : run.report.views) drifting += v.missing + v.extra + v.differing;
    Progress(absl::StrFormat(
        "verify: %lld events folded (%lld applied by the loop meanwhile), "
        "%lld drifting rows%s",
        static_cast<long long>(run.report.events), static_cast<long long>(run.report.tail_events),
        static_cast<long long>(drifting), run.report.repair && drifting > 0 ? ", repaired" : ""));
  }
  const absl::StatusOr<VerifyReport> told =
      outcome.ok() ? absl::StatusOr<VerifyReport>(run.report) : outcome;
  if (options_.monitor != nullptr) {
    if (told.ok()) {
      options_.monitor->VerifyFinished(*told, now);
    } else {
      options_.monitor->VerifyFailed(told.status(), now);
    }
  }
  if (run.done) run.done(told);
}

absl::Status Engine::CompareWithShadow(TenantJob& job, const VerifyRequest& request,
                                       VerifyReport* report) {
  // The working-set slots: the views' tables, then the maintained versions'.
  SV_ASSIGN_OR_RETURN(const std::vector<store::TableSpec> tables, FoldedTables(job));
  const size_t slots = std::min(tables.size(), report->views.size());
  // By view: the slot readers read (a previous: definition's version while it serves).
  std::vector<int> served_slot(catalog_->views.size(), -1);
  const std::vector<int> served = ServedSlots();
  for (size_t slot = 0; slot < slots; ++slot) {
    if (served[slot] >= 0) served_slot[served[slot]] = static_cast<int>(slot);
  }
  // Derived views as the shadow's served rows make them, over the definitions that serve;
  // inputs of other sources (not compared) are read from the store.
  derived::Maintainer shadow_derived(&ServingCatalog());
  ClockMaintainer(&shadow_derived);  // timed views: at the clock of the stored rows
  Row decoded;
  SV_RETURN_IF_ERROR(shadow_derived.Load(
      [&](int view, const std::function<void(const Row&)>& each) -> absl::Status {
        if (catalog_->views[view].source != job.source || served_slot[view] < 0) {
          return store_->ScanTable(ServedTable(view), each);
        }
        for (const KeyedRow& encoded : job.rows->rows(served_slot[view])) {
          if (!DecodeRow(encoded.bytes(), &decoded)) {
            return absl::InternalError("corrupt row encoding");
          }
          each(decoded);
        }
        return absl::OkStatus();
      }));
  CachedRowSet repairs(store_.get(), tables, std::numeric_limits<size_t>::max() / 2);
  int64_t written = 0;
  for (size_t v = 0; v < slots; ++v) {
    ViewDrift& drift = report->views[v];
    const int view = ViewOfSlot(static_cast<int>(v));
    const projection::ViewPlan& plan = PlanOfSlot(static_cast<int>(v));
    if (!drift.skipped.empty() || SourceUnder(*catalog_, view) != job.source) continue;
    auto key_of = [&plan](const Row& r, Row* key_values, std::string* key) {
      key_values->clear();
      for (int k : plan.key) key_values->push_back(r[k]);
      key->clear();
      EncodeKey(key_values->data(), key_values->size(), key);
    };
    auto in_scope = [&](const Row& r) {
      return !request.tenant.has_value() || r[plan.tenant] == *request.tenant;
    };
    std::map<std::string, OrganizationCounts> organizations;
    auto organization = [&](const Row& r) -> OrganizationCounts* {
      if (plan.tenant < 0) return nullptr;
      const std::string name = r[plan.tenant].is_null() ? "NULL" : r[plan.tenant].ToString();
      OrganizationCounts& c = organizations[name];
      c.tenant = name;
      return &c;
    };
    // The source's rows of this view, by encoded key.
    absl::flat_hash_map<std::string, Row> shadow;
    Row key_values;
    std::string key;
    auto take = [&](const Row& r) {
      if (!in_scope(r)) return;
      key_of(r, &key_values, &key);
      if (OrganizationCounts* c = organization(r)) ++c->source;
      shadow.emplace(key, r);
    };
    if (plan.derived == nullptr) {
      for (const KeyedRow& encoded : job.rows->rows(static_cast<int>(v))) {
        if (!DecodeRow(encoded.bytes(), &decoded)) {
          return absl::InternalError("corrupt row encoding");
        }
        take(decoded);
      }
    } else {
      shadow_derived.ForEachRow(static_cast<int>(v), take);
    }
    drift.source_rows = static_cast<int64_t>(shadow.size());
    // The live rows, a keyset page at a time.
    store::ViewQuery query;
    if (request.tenant.has_value()) {
      query.filters.push_back(store::Filter{plan.tenant, store::FilterOp::kEq, {*request.tenant}});
    }
    query.limit = kLivePage;
    while (true) {
      SV_ASSIGN_OR_RETURN(std::vector<Row> page, store_->QueryView(tables[v], query));
      for (const Row& live : page) {
        ++drift.live_rows;
        if (OrganizationCounts* c = organization(live)) ++c->live;
        key_of(live, &key_values, &key);
        auto it = shadow.find(key);
        if (it == shadow.end()) {
          Note(&drift.extra_keys, &drift.extra, request.max_keys, key_values);
          if (request.repair) {
            SV_RETURN_IF_ERROR(repairs.Find(static_cast<int>(v), key, key_values).status());
            repairs.Erase(static_cast<int>(v), key);
          }
          continue;
        }
        if (!RowsAgree(live, it->second)) {
          Note(&drift.differing_keys, &drift.differing, request.max_keys, key_values);
          if (request.repair) {
            SV_RETURN_IF_ERROR(repairs.Find(static_cast<int>(v), key, key_values).status());
            repairs.Put(static_cast<int>(v), key, std::move(it->second));
          }
        }
        shadow.erase(it);
      }
      if (static_cast<int64_t>(page.size()) < kLivePage) break;
      query.after = key_values;  // keyset: the last row's key
    }
    // What is left of the shadow, the view lacks; listed in key order.
    std::vector<std::pair<std::string, Row>> missing(shadow.begin(), shadow.end());
    std::sort(missing.begin(), missing.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [missing_key, row] : missing) {
      key_of(row, &key_values, &key);
      Note(&drift.missing_keys, &drift.missing, request.max_keys, key_values);
      if (request.repair) {
        SV_RETURN_IF_ERROR(repairs.Find(static_cast<int>(v), missing_key, key_values).status());
        repairs.Put(static_cast<int>(v), missing_key, std::move(row));
      }
    }
    for (auto& [name, counts] : organizations) {
      if (drift.organizations.size() >= request.max_keys) break;
      drift.organizations.push_back(std::move(counts));
    }
    if (request.repair) drift.repaired = drift.missing + drift.extra + drift.differing;
    written += drift.repaired;
  }
  if (written == 0) return absl::OkStatus();
  Sealed sealed;
  repairs.TakeDirty(&sealed.rows);
  sealed.tables = tables;
  sealed.served_slots = ServedSlots();
  SV_RETURN_IF_ERROR(Write(store_.get(), sealed));
  Finish(sealed);
  ResetRows();            // the lanes' working sets may hold rows as they were
  derived_stale_ = true;  // the maintainer's state came from rows changed behind its back
  for (ScheduledRefresh& r : refreshes_) r.next_us = 0;  // store-computed views read them
  return absl::OkStatus();
}

}  // namespace sv::engine
