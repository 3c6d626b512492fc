#include "cli/commands.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/reconcile.h"
#include "server/server.h"
#include "server/verify_json.h"
#include "server/view_query.h"
#include "source/open.h"
#include "trace/trace.h"

namespace sv::cli {

absl::StatusOr<config::Config> LoadWithStore(const CommonOptions& common) {
  auto config = config::LoadConfig(common.config_path);
  if (!config.ok()) return config.status();
  if (!common.store_path.empty()) {
    // --store takes a file (SQLite) or a PostgreSQL URI; it replaces the config's store.
    const std::string& s = common.store_path;
    if (s.rfind("postgres://", 0) == 0 || s.rfind("postgresql://", 0) == 0) {
      config->store.kind = "postgres";
      config->store.dsn = s;
      config->store.path.clear();
    } else {
      config->store.kind = "sqlite";
      config->store.path = s;
    }
  }
  return config;
}

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// One JSON object per line on stderr: structured logs a collector can parse.
void Log(const char* level, std::string_view msg) { LogJson(level, msg); }

int Fail(const absl::Status& s) {
  Log("error", std::string(s.message()));
  return absl::IsInvalidArgument(s) ? 2 : 1;
}

// One process at a time may drive a store's engine state (run, rebuild, dead-letter actions):
// the store takes its one-engine lock when the engine opens it (store/open.h, StoreRole::kEngine).
absl::StatusOr<std::unique_ptr<engine::Engine>> OpenEngine(const config::Config& config,
                                                           bool start_sources = true,
                                                           bool keep_changed_views = false) {
  engine::EngineOptions options;
  options.progress = [](const std::string& line) { Log("info", line); };
  options.start_sources = start_sources;
  options.keep_changed_views = keep_changed_views;
  return engine::Engine::Open(config, options);
}

}  // namespace

int Check(const CommonOptions& common) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto catalog = projection::Compile(*config);
  if (!catalog.ok()) return Fail(catalog.status());
  std::printf("%s: ok (%zu sources, %zu views)\n", common.config_path.c_str(),
              (*catalog)->sources.size(), (*catalog)->views.size());
  return 0;
}

int Ingest(const CommonOptions& common, const std::string& file, const std::string& source,
           int64_t rate, size_t batch, int64_t skip_lines) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto catalog = projection::Compile(*config);
  if (!catalog.ok()) return Fail(catalog.status());
  auto store = store::OpenStore(engine::StoreOptionsFor(config->store), store::StoreRole::kWriter);
  if (!store.ok()) return Fail(store.status());
  if (absl::Status s = (*store)->Init(); !s.ok()) return Fail(s);
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) return Fail(absl::NotFoundError(absl::StrCat("cannot open ", file)));
    in = &in_file;
  }
  engine::IngestOptions options;
  options.rate = rate;
  if (batch > 0) options.batch_lines = batch;
  const int source_index = source.empty() ? 0 : (*catalog)->FindSource(source);
  if (source_index < 0 || (*catalog)->sources.empty()) {
    return Fail(absl::NotFoundError(absl::StrCat("no source named '", source, "'")));
  }
  const auto& plan = (*catalog)->sources[source_index];
  auto traits = source::TraitsOf(plan.config);
  if (!traits.ok()) return Fail(traits.status());
  if (!traits->accepts_appends) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("source '", plan.config.name, "' is not the embedded log")));
  }
  engine::IngestResult done;
  done.lines_done = skip_lines;
  options.skip_lines = skip_lines;
  options.progress = &done;
  auto result = engine::IngestLines(plan, store->get(), *in, options);
  if (!result.ok()) {
    // What was appended before the failure is durable: say so, and where to go on from.
    Log("error", absl::StrCat("ingest stopped: ", result.status().message(), "; appended ",
                              done.appended, " lines before it (last position ", done.last_position,
                              "); the rest is not appended: resume with ", "--skip-lines ",
                              done.lines_done));
    std::printf("{\"appended\":%lld,\"last_position\":%lld,\"resume_skip_lines\":%lld}\n",
                static_cast<long long>(done.appended), static_cast<long long>(done.last_position),
                static_cast<long long>(done.lines_done));
    return 1;
  }
  std::printf("{\"appended\":%lld,\"last_position\":%lld}\n",
              static_cast<long long>(result->appended),
              static_cast<long long>(result->last_position));
  return 0;
}

int Run(const CommonOptions& common, bool exit_when_caught_up, const std::string& latency_report,
        const std::string& listen) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  if (!listen.empty()) {
    if (!config::ParseListen(listen, &config->server.host, &config->server.port)) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--listen must be host:port (e.g. 127.0.0.1:8080), not '", listen, "'")));
    }
    config->server.enabled = true;
  }
  // A file store's one-engine lock, taken before the server starts (the engine's own
  // connections share it): a second engine on the same file is refused before it serves.
  std::unique_ptr<store::Store> engine_fence;
  if (store::TraitsOf(engine::StoreOptionsFor(config->store)).engine_lock_before_serving) {
    auto fence =
        store::OpenStore(engine::StoreOptionsFor(config->store), store::StoreRole::kEngine);
    if (!fence.ok()) return Fail(fence.status());
    engine_fence = std::move(*fence);
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  // After a stop signal the loop commits the batch in hand and exits; should anything hang
  // (a long rebuild, a stuck store), the grace period bounds the wait.
  const int64_t grace_ms = config->server.shutdown_grace_ms;
  std::thread([grace_ms] {
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(grace_ms));
    Log("error", "shutdown grace period exceeded; exiting");
    std::_Exit(3);
  }).detach();

  if (config->tracing.enabled) {
    trace::Options tracing;
    tracing.endpoint = config->tracing.endpoint;
    tracing.sample_ratio = config->tracing.sample_ratio;
    tracing.service_name = config->tracing.service_name;
    tracing.batch_size = static_cast<size_t>(config->tracing.batch_size);
    tracing.flush_ms = static_cast<int>(config->tracing.flush_ms);
    tracing.queue_spans = static_cast<size_t>(config->tracing.queue_spans);
    if (absl::Status started = trace::Start(tracing); !started.ok()) return Fail(started);
  }
  // Whatever way Run ends, the spans queued are sent (within a bound) and counted.
  absl::Cleanup stop_tracing = [enabled = config->tracing.enabled] {
    if (!enabled) return;
    const trace::Counters spans = trace::Shutdown(2000);
    LogJson("info", "traces",
            {{"spans_exported", std::to_string(spans.exported)},
             {"spans_dropped", std::to_string(spans.dropped)},
             {"spans_failed", std::to_string(spans.failed)}});
  };
  engine::Monitor monitor(ProcessClock());
  std::unique_ptr<projection::Catalog> catalog;
  std::unique_ptr<server::Server> http;
  if (config->server.enabled) {
    auto compiled = projection::Compile(*config);
    if (!compiled.ok()) return Fail(compiled.status());
    catalog = std::move(*compiled);
    auto started =
        server::Server::Start(*config, *catalog, &monitor, engine::StoreOptionsFor(config->store));
    if (!started.ok()) return Fail(started.status());
    http = std::move(*started);
  }
  engine::EngineOptions options;
  options.progress = [&monitor](const std::string& line) {
    Log("info", line);
    if (line.rfind("rebuild", 0) == 0) monitor.SetRebuildLine(line);
  };
  options.monitor = &monitor;
  options.clock = ProcessClock();
  if (http != nullptr) options.row_observer = http->row_observer();
  options.on_commit = [&http](double seconds, size_t) {
    if (http != nullptr) http->ObserveCommit(seconds);
  };
  auto engine = engine::Engine::Open(*config, options);
  if (!engine.ok()) return Fail(engine.status());
  Log("info",
      absl::StrCat("running on ", store::StoreLabel(engine::StoreOptionsFor(config->store))));
  absl::Status s = (*engine)->Run(g_stop, exit_when_caught_up);
  monitor.Shutdown();
  if (http != nullptr) http->Stop();
  if (!s.ok()) return Fail(s);
  if (!latency_report.empty()) {
    auto& samples = (*engine)->latency().micros;
    std::sort(samples.begin(), samples.end());
    auto pct = [&samples](double p) -> long long {
      if (samples.empty()) return 0;
      return samples[std::min(samples.size() - 1, static_cast<size_t>(p * samples.size()))];
    };
    std::ofstream out(latency_report);
    out << "{\"events\":" << samples.size() << ",\"p50_us\":" << pct(0.50)
        << ",\"p99_us\":" << pct(0.99) << ",\"p999_us\":" << pct(0.999)
        << ",\"max_us\":" << (samples.empty() ? 0 : samples.back()) << "}\n";
  }
  Log("info", "stopped cleanly");
  return 0;
}

namespace {

void PrintRebuildStats(const engine::RebuildStats& stats) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"events\":%lld,\"rows_written\":%lld,\"threads\":%d,\"fold_seconds\":%.3f,"
      "\"write_seconds\":%.3f,\"total_seconds\":%.3f,\"events_per_second\":%.0f,"
      "\"peak_rss_mib\":%.0f}\n",
      static_cast<long long>(stats.events), static_cast<long long>(stats.rows_written),
      stats.threads, stats.fold_seconds, stats.write_seconds, stats.total_seconds,
      stats.events / std::max(stats.total_seconds, 1e-9), usage.ru_maxrss / 1024.0);
}

// The organization a --where names: `<tenant column> = 'value'` (or an unquoted value), the
// tenant column being `view`'s.
absl::StatusOr<std::string> OrganizationOfWhere(const projection::ViewPlan& view,
                                                absl::string_view where) {
  const size_t eq = where.find('=');
  absl::string_view column = eq == absl::string_view::npos ? where : where.substr(0, eq);
  absl::string_view value = eq == absl::string_view::npos ? "" : where.substr(eq + 1);
  column = absl::StripAsciiWhitespace(column);
  value = absl::StripAsciiWhitespace(value);
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    value = value.substr(1, value.size() - 2);
  }
  const std::string tenant_column = view.columns[view.tenant].name;
  if (eq == absl::string_view::npos || value.empty() || column != tenant_column) {
    return absl::InvalidArgumentError(absl::StrCat("--where must be \"", tenant_column,
                                                   " = '<organization>'\" (the tenant "
                                                   "column of view '",
                                                   view.name, "'), not \"", where, "\""));
  }
  return std::string(value);
}

}  // namespace

int Rebuild(const CommonOptions& common, const std::vector<std::string>& views, bool allow_partial,
            bool promote) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  // The sources are not started: a rebuild reads them from their beginning (a change feed
  // whose slot was lost could not start at all; its rebuild makes a new one).
  // A changed view is rebuilt once, by this rebuild (or by the next start if not named), not
  // also at Open: that would swap twice, and the standby kept would be the intermediate one.
  auto engine = OpenEngine(*config, /*start_sources=*/false, /*keep_changed_views=*/true);
  if (!engine.ok()) return Fail(engine.status());
  auto stats = (*engine)->Rebuild(views, allow_partial, promote);
  if (!stats.ok()) return Fail(stats.status());
  PrintRebuildStats(*stats);
  return 0;
}

int RebuildTenant(const CommonOptions& common, const std::vector<std::string>& views,
                  const std::string& tenant, const std::string& where) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  // A change feed's views are rebuilt from a snapshot taken now, ahead of them: its stream is
  // started, and the loop runs until the views have passed the snapshot (as verify does).
  bool change_feed = false;
  for (const config::ViewConfig& view : config->views) {
    if (std::find(views.begin(), views.end(), view.name) == views.end()) continue;
    for (const config::SourceConfig& source : config->sources) {
      if (source.name != view.source) continue;
      absl::StatusOr<source::SourceTraits> traits = source::TraitsOf(source);
      change_feed = change_feed || (traits.ok() && traits->replays_snapshot);
    }
  }
  auto engine = OpenEngine(*config, /*start_sources=*/change_feed);
  if (!engine.ok()) return Fail(engine.status());
  const projection::Catalog& catalog = (*engine)->catalog();
  engine::TenantRebuildRequest request{views, Value::Null()};
  for (const std::string& name : views) {
    const int v = catalog.FindView(name);
    if (v < 0) return Fail(absl::NotFoundError(absl::StrCat("no view named '", name, "'")));
    const projection::ViewPlan& plan = catalog.views[v];
    if (plan.tenant < 0) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("view '", name, "' declares no tenant column (tenant:): rebuild it whole")));
    }
    std::string organization = tenant;
    if (!where.empty()) {
      auto named = OrganizationOfWhere(plan, where);
      if (!named.ok()) return Fail(named.status());
      organization = *named;
    }
    const Type type = plan.columns[plan.tenant].type;
    std::optional<Value> value = server::ParseTypedValue(organization, type);
    if (!value.has_value()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("organization '", organization, "' is no ", std::string(TypeName(type)),
                       " value of the tenant column of view '", name, "'")));
    }
    request.tenant = *value;
  }
  auto stats = (*engine)->RebuildTenant(request);
  if (!stats.ok()) return Fail(stats.status());
  PrintRebuildStats(*stats);
  return 0;
}

int DlqList(const CommonOptions& common, bool json) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto store = store::OpenStore(engine::StoreOptionsFor(config->store), store::StoreRole::kWriter);
  if (!store.ok()) return Fail(store.status());
  if (absl::Status s = (*store)->Init(); !s.ok()) return Fail(s);
  auto dead = (*store)->ListDeadLetters(false);
  if (!dead.ok()) return Fail(dead.status());
  const char* states[] = {"open", "replayed", "discarded"};
  if (!json)
    std::printf("%-6s %-10s %-10s %-18s %-6s %s\n", "ID", "STATE", "POSITION", "KEY", "PARKS",
                "REASON");
  for (const auto& dl : *dead) {
    const char* state = states[static_cast<int>(dl.state)];
    if (json) {
      std::printf(
          "{\"id\":%lld,\"state\":\"%s\",\"source\":\"%s\",\"partition\":%d,\"position\":%lld,"
          "\"key\":\"%s\",\"parks_key\":%s,\"reason\":\"%s\"}\n",
          static_cast<long long>(dl.id), state, JsonEscape(dl.source).c_str(), dl.partition,
          static_cast<long long>(dl.position), JsonEscape(dl.key).c_str(),
          dl.parks_key ? "true" : "false", JsonEscape(dl.reason).c_str());
    } else {
      std::printf("%-6lld %-10s %-10lld %-18s %-6s %s\n", static_cast<long long>(dl.id), state,
                  static_cast<long long>(dl.position), dl.key.c_str(), dl.parks_key ? "yes" : "no",
                  dl.reason.c_str());
    }
  }
  // Parked keys and what waits behind them.
  for (const auto& source : config->sources) {
    auto pending = (*store)->ListPending(source.name);
    if (!pending.ok()) return Fail(pending.status());
    std::map<std::string, std::pair<int, int>> per_key;  // key -> (held, stashed)
    for (const auto& p : *pending) {
      auto& counts = per_key[p.key];
      (p.held ? counts.first : counts.second)++;
    }
    for (const auto& [key, counts] : per_key) {
      if (json) {
        std::printf("{\"source\":\"%s\",\"key\":\"%s\",\"held\":%d,\"stashed\":%d}\n",
                    JsonEscape(source.name).c_str(), JsonEscape(key).c_str(), counts.first,
                    counts.second);
      } else {
        std::printf("key %s/%s: %d held behind a dead letter, %d stashed for a gap\n",
                    source.name.c_str(), key.c_str(), counts.first, counts.second);
      }
    }
  }
  return 0;
}

int DlqReplay(const CommonOptions& common, int64_t id, const std::string& payload_file) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  std::string payload;
  if (!payload_file.empty()) {
    std::ifstream in(payload_file);
    if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot open ", payload_file)));
    std::stringstream ss;
    ss << in.rdbuf();
    payload = ss.str();
    while (!payload.empty() && (payload.back() == '\n' || payload.back() == '\r'))
      payload.pop_back();
  }
  auto engine = OpenEngine(*config);
  if (!engine.ok()) return Fail(engine.status());
  absl::Status s = (*engine)->ReplayDeadLetter(id, payload_file.empty() ? nullptr : &payload);
  if (!s.ok()) return Fail(s);
  std::printf("dead letter %lld replayed\n", static_cast<long long>(id));
  return 0;
}

int DlqDiscard(const CommonOptions& common, int64_t id) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto engine = OpenEngine(*config);
  if (!engine.ok()) return Fail(engine.status());
  absl::Status s = (*engine)->DiscardDeadLetter(id);
  if (!s.ok()) return Fail(s);
  std::printf("dead letter %lld discarded\n", static_cast<long long>(id));
  return 0;
}

int Stats(const CommonOptions& common) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto store = store::OpenStore(engine::StoreOptionsFor(config->store), store::StoreRole::kWriter);
  if (!store.ok()) return Fail(store.status());
  if (absl::Status s = (*store)->Init(); !s.ok()) return Fail(s);
  auto counters = (*store)->GetCounters();
  if (!counters.ok()) return Fail(counters.status());
  std::printf("{");
  bool first = true;
  for (const auto& [name, value] : *counters) {
    std::printf("%s\"%s\":%lld", first ? "" : ",", JsonEscape(name).c_str(),
                static_cast<long long>(value));
    first = false;
  }
  std::printf("}\n");
  return 0;
}

namespace {

// The source check of `verify`: one line per view; false on drift left unrepaired.
absl::StatusOr<bool> VerifyAgainstSource(const config::Config& config,
                                         const VerifyOptions& options) {
  // A change feed's views are compared with a snapshot taken now, ahead of them: its stream
  // is started, and the loop runs until the views have passed the snapshot (applying what the
  // feed holds, as `run` would). Other sources are folded to where the views stand.
  bool change_feed = false;
  for (const config::SourceConfig& source : config.sources) {
    absl::StatusOr<source::SourceTraits> traits = source::TraitsOf(source);
    change_feed = change_feed || (traits.ok() && traits->replays_snapshot);
  }
  auto engine = OpenEngine(config, /*start_sources=*/change_feed);
  if (!engine.ok()) {
    return absl::Status(engine.status().code(),
                        absl::StrCat(engine.status().message(),
                                     " (a running engine verifies through POST /views/verify)"));
  }
  engine::VerifyRequest request;
  request.repair = options.repair;
  request.max_keys = options.max_keys;
  if (!options.tenant.empty()) {
    // The organization as the tenant columns hold it (the first tenant view's type).
    for (const projection::ViewPlan& plan : (*engine)->catalog().views) {
      if (plan.tenant < 0) continue;
      request.tenant = server::ParseTypedValue(options.tenant, plan.columns[plan.tenant].type);
      break;
    }
    if (!request.tenant.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tenant ", options.tenant, ": no view has a tenant column of that organization"));
    }
  }
  SV_ASSIGN_OR_RETURN(engine::VerifyReport report, (*engine)->Verify(request));
  for (const engine::ViewDrift& d : report.views) {
    std::printf("%s\n", server::ViewDriftJson(d).c_str());
  }
  return options.repair || !report.Drifted();
}

}  // namespace

int Verify(const CommonOptions& common, const VerifyOptions& options) {
  auto config = LoadWithStore(common);
  if (!config.ok()) return Fail(config.status());
  auto catalog = projection::Compile(*config);
  if (!catalog.ok()) return Fail(catalog.status());
  const std::optional<sql::SqlDialect> dialect =
      store::TraitsOf(engine::StoreOptionsFor(config->store)).select_dialect;
  if (!dialect) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        "store kind ", config->store.kind, " runs no SQL: verify needs sqlite or postgres")));
  }
  // Against the source first: a repair is then seen by the SELECT check.
  absl::StatusOr<bool> clean = VerifyAgainstSource(*config, options);
  if (!clean.ok()) return Fail(clean.status());
  auto store = store::OpenStore(engine::StoreOptionsFor(config->store), store::StoreRole::kReader);
  if (!store.ok()) return Fail(store.status());
  auto drifts =
      engine::ReconcileDerived(**catalog, store->get(), *dialect == sql::SqlDialect::kPostgres);
  if (!drifts.ok()) return Fail(drifts.status());
  for (const engine::Drift& d : *drifts) {
    *clean = *clean && d.missing == 0 && d.unexpected == 0;
    std::printf(
        "{\"check\":\"select\",\"view\":\"%s\",\"rows\":%lld,\"missing\":%lld,\"unexpected\":%lld",
        JsonEscape(d.view).c_str(), static_cast<long long>(d.rows),
        static_cast<long long>(d.missing), static_cast<long long>(d.unexpected));
    if (!d.skipped.empty()) std::printf(",\"skipped\":\"%s\"", JsonEscape(d.skipped).c_str());
    if (!d.examples.empty()) {
      std::printf(",\"examples\":[");
      for (size_t i = 0; i < d.examples.size(); ++i) {
        std::printf("%s\"%s\"", i ? "," : "", JsonEscape(d.examples[i]).c_str());
      }
      std::printf("]");
    }
    std::printf("}\n");
  }
  return *clean ? 0 : 1;
}

int DropSlot(const std::string& dsn, const std::string& slot, const std::string& publication) {
  absl::StatusOr<std::string> done = source::DropChangeFeedSlot(dsn, slot, publication);
  if (!done.ok()) return Fail(done.status());
  std::printf("%s\n", done->c_str());
  return 0;
}

}  // namespace sv::cli
