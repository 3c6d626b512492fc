// Ops routes: /lags, rebuild, dead letters, health probes, /metrics, /openapi.json.

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "engine/engine.h"
#include "server/json.h"
#include "server/server_internal.h"

namespace sv::server {
namespace {

void WriteLags(JsonWriter& w, Server::Impl& impl, const std::vector<SourceLag>& lags) {
  w.StartObject();
  w.Key("sources");
  w.StartArray();
  for (const SourceLag& s : lags) {
    w.StartObject();
    w.Key("source");
    w.String(s.name.c_str());
    w.Key("last_event_time");
    s.last_event_time_us ? w.String(FormatTime(s.last_event_time_us).c_str()) : w.Null();
    if (s.upstream.known) {
      // The upstream's own figures (a replication slot): WAL it keeps for us, and how long the
      // oldest change received and not yet applied has waited.
      w.Key("upstream");
      w.StartObject();
      w.Key("lag_bytes");
      w.Int64(s.upstream.lag_bytes);
      w.Key("lag_seconds");
      w.Double(s.upstream.lag_seconds);
      w.Key("problem");
      s.upstream.problem.empty() ? w.Null() : w.String(s.upstream.problem.c_str());
      w.EndObject();
    }
    w.Key("partitions");
    w.StartArray();
    for (const PartitionLag& p : s.partitions) {
      w.StartObject();
      if (p.topic.empty()) {
        w.Key("partition");
        w.Int(p.partition);
      } else {
        w.Key("topic");
        w.String(p.topic.c_str());
        w.Key("partition");
        w.Int(p.partition_in_topic);
      }
      w.Key("position");
      w.Int64(p.position);
      w.Key("end");
      w.Int64(p.end);
      w.Key("lag");
      w.Int64(std::max<int64_t>(0, p.end - p.position));
      w.Key("state");
      w.String(p.state.c_str());
      w.Key("seconds_since_advance");
      w.Double(static_cast<double>(p.since_advance_us) / 1e6);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("views");
  w.StartArray();
  for (size_t v = 0; v < impl.catalog->views.size(); ++v) {
    const auto& plan = impl.catalog->views[v];
    const SourceLag& s = lags[plan.source];
    w.StartObject();
    w.Key("view");
    w.String(plan.name.c_str());
    w.Key("source");
    w.String(s.name.c_str());
    // Over every partition, as /metrics does (none yet: a Kafka source before its first
    // assignment).
    const ViewLag lag = SumOverPartitions(s);
    w.Key("applied_position");
    w.Int64(lag.applied);
    w.Key("lag");
    w.Int64(lag.lag);
    w.Key("staleness_seconds");
    w.Double(lag.staleness_seconds);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void DeadLetterCommand(Server::Impl& impl, const http::Request& req, http::Response& res,
                       bool replay) {
  if (!OnlyParams(req, res, {})) return;
  int64_t id = 0;
  if (!absl::SimpleAtoi(req.matches[1].str(), &id)) {
    return ReplyError(res, 400, "dead letter id must be an integer", "id");
  }
  std::optional<std::string> payload;
  if (replay && !req.body.empty()) payload = req.body;
  // The engine runs the command between batches. If it does not start it in time, the request
  // withdraws it (kAbandoned) before answering 503, so an answered failure never runs later;
  // a command the engine already started is awaited and its own result answered.
  enum : int { kQueued, kStarted, kAbandoned };
  auto state = std::make_shared<std::atomic<int>>(kQueued);
  auto done = impl.monitor->Submit([id, payload, replay, state](engine::Engine* engine) {
    int queued = kQueued;
    if (!state->compare_exchange_strong(queued, kStarted)) {
      return absl::CancelledError("withdrawn: the request already answered 503");
    }
    return replay ? engine->ReplayDeadLetter(id, payload ? &*payload : nullptr)
                  : engine->DiscardDeadLetter(id);
  });
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    int queued = kQueued;
    if (state->compare_exchange_strong(queued, kAbandoned)) {
      res.set_header("Retry-After", "1");
      return ReplyError(res, 503, "the engine did not take the command within 30 s");
    }
  }
  const absl::Status s = done.get();
  if (!s.ok()) return ReplyStatus(res, s);
  ReplyJson(
      res, 200,
      absl::StrCat("{\"id\":", id, ",\"state\":\"", replay ? "replayed" : "discarded", "\"}"));
}

}  // namespace

ViewLag SumOverPartitions(const SourceLag& source) {
  ViewLag out;
  for (const PartitionLag& p : source.partitions) {
    out.applied += p.position;
    out.lag += std::max<int64_t>(0, p.end - p.position);
    out.staleness_seconds = std::max(out.staleness_seconds, p.staleness_seconds);
  }
  return out;
}

// Positions come from the store itself (not from the engine's memory), so a stuck loop shows as
// stalled instead of reporting its last belief. Ends: the embedded log's from the store; a
// partitioned source's (Kafka high watermarks) as the engine last saw them.
absl::StatusOr<std::vector<SourceLag>> ComputeLags(Server::Impl& impl) {
  const engine::MonitorSnapshot snap = impl.monitor->Snapshot();
  if (!snap.started) {
    // The store may not even have its tables yet (seen under ASan: a 500 for a missing table).
    return absl::UnavailableError("the engine is starting: no positions to report yet");
  }
  SV_ASSIGN_OR_RETURN(store::Store * reader, impl.Reader());
  SV_ASSIGN_OR_RETURN(auto positions, reader->AllPositions());
  const int64_t now = impl.monitor->clock().NowMicros();
  const int64_t stall_us = impl.config.server.stall_after_ms * 1000;
  std::vector<SourceLag> out;
  for (size_t i = 0; i < impl.catalog->sources.size(); ++i) {
    const source::SourceTraits& traits = impl.sources[i];
    SourceLag lag;
    lag.name = impl.catalog->sources[i].config.name;
    const bool log = traits.end_in_store;
    std::map<int32_t, int64_t> ends;
    for (const auto& s : snap.sources) {
      if (s.name != lag.name) continue;
      lag.last_event_time_us = s.last_event_time_us;
      lag.connected = s.connected;
      lag.disconnect_reason = s.disconnect_reason;
      lag.upstream = s.upstream;
      if (!log) ends = s.end;
    }
    if (log) {
      SV_ASSIGN_OR_RETURN(int64_t log_end, reader->LogEnd());
      ends[0] = log_end;
    }
    for (const auto& [key, position] : positions) {
      // Partitions this process does not own still show where they stand.
      if (key.first == lag.name && !ends.contains(key.second)) ends[key.second] = position;
    }
    for (const auto& [partition, end] : ends) {
      PartitionLag p;
      p.partition = partition;
      p.label = traits.partition_label(partition);
      if (traits.topic_of) {
        auto topic = traits.topic_of(partition);
        p.topic = topic ? topic->first : "?";
        p.partition_in_topic = topic ? topic->second : partition;
      }
      auto it = positions.find({lag.name, partition});
      p.position = it == positions.end() ? 0 : it->second;
      p.end = end;
      {
        std::lock_guard<std::mutex> lock(impl.progress_mu);
        auto& seen = impl.last_seen[{lag.name, partition}];
        if (seen.second == 0 || seen.first != p.position) seen = {p.position, now};
        p.since_advance_us = now - seen.second;
      }
      if (!lag.connected) {
        p.state = "disconnected";
      } else if (p.position >= p.end) {
        p.state = "caught_up";
      } else if (p.since_advance_us < stall_us) {
        p.state = "catching_up";
      } else {
        p.state = "stalled";
      }
      if (log && p.position < p.end) {
        // Staleness: how long the oldest event not yet applied has been waiting.
        std::vector<store::LogRecord> next;
        if (reader->ReadLog(p.position, 1, &next).ok() && !next.empty()) {
          p.staleness_seconds = static_cast<double>(now - next.front().log_time_us) / 1e6;
        }
      } else if (p.position < p.end && lag.last_event_time_us > 0) {
        p.staleness_seconds = static_cast<double>(now - lag.last_event_time_us) / 1e6;
      }
      lag.partitions.push_back(p);
    }
    out.push_back(std::move(lag));
  }
  return out;
}

void Server::Impl::RegisterOpsRoutes() {
  const http::RouteOptions token{.needs_token = true};
  // Probes never wait for busy workers: liveness and startup read memory only and answer on
  // the I/O threads; readiness reads the store, on a probe thread of its own.
  const http::RouteOptions in_memory_probe{.runs = http::Runs::kOnIoThread};
  const http::RouteOptions store_probe{.runs = http::Runs::kOnProbeThread};
  http->Get("/lags", token, [this](const http::Request& req, http::Response& res) {
    if (!OnlyParams(req, res, {})) return;
    auto lags = ComputeLags(*this);
    if (!lags.ok()) return ReplyStatus(res, lags.status());
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    WriteLags(w, *this, *lags);
    ReplyJson(res, 200, buf.GetString());
  });
  RegisterRebuildRoutes();
  RegisterVerifyRoutes();
  RegisterVersionRoutes();
  http->Get("/dlq", token, [this](const http::Request& req, http::Response& res) {
    if (!OnlyParams(req, res, {"state"})) return;
    auto reader = Reader();
    if (!reader.ok()) return ReplyStatus(res, reader.status());
    const std::string state = req.get_param_value("state");
    if (!state.empty() && state != "open" && state != "all") {
      return ReplyError(res, 400, "state must be open or all", "state");
    }
    auto letters = (*reader)->ListDeadLetters(state == "open");
    if (!letters.ok()) return ReplyStatus(res, letters.status());
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("dead_letters");
    w.StartArray();
    for (const store::DeadLetter& dl : *letters) {
      w.StartObject();
      w.Key("id");
      w.Int64(dl.id);
      w.Key("source");
      w.String(dl.source.c_str());
      w.Key("partition");
      w.Int(dl.partition);
      w.Key("position");
      w.Int64(dl.position);
      w.Key("key");
      WriteText(w, dl.key);
      w.Key("reason");
      WriteText(w, dl.reason);
      // An event that is not valid UTF-8 shows with U+FFFD in `raw`; its exact bytes follow
      // in `raw_base64`.
      w.Key("raw");
      WriteText(w, dl.raw);
      if (!IsValidUtf8(dl.raw)) {
        w.Key("raw_base64");
        const std::string b64 = absl::Base64Escape(dl.raw);
        w.String(b64.data(), static_cast<rapidjson::SizeType>(b64.size()));
      }
      w.Key("created");
      w.String(FormatTime(dl.created_us).c_str());
      w.Key("state");
      w.String(store::DeadLetterStateName(dl.state));
      w.Key("parks_key");
      w.Bool(dl.parks_key);
      w.EndObject();
    }
    w.EndArray();
    w.Key("parked_keys");
    w.StartArray();
    for (const auto& plan : catalog->sources) {
      auto pending = (*reader)->ListPending(plan.config.name);
      if (!pending.ok()) return ReplyStatus(res, pending.status());
      std::map<std::string, std::pair<int, int>> per_key;  // key -> (held, stashed)
      for (const auto& p : *pending) (p.held ? per_key[p.key].first : per_key[p.key].second)++;
      for (const auto& [key, counts] : per_key) {
        w.StartObject();
        w.Key("source");
        w.String(plan.config.name.c_str());
        w.Key("key");
        w.String(key.c_str());
        w.Key("held");
        w.Int(counts.first);
        w.Key("stashed");
        w.Int(counts.second);
        w.EndObject();
      }
    }
    w.EndArray();
    w.EndObject();
    ReplyJson(res, 200, buf.GetString());
  });
  http->Post(R"(/dlq/(\d+)/replay)", token, [this](const http::Request& req, http::Response& res) {
    DeadLetterCommand(*this, req, res, true);
  });
  http->Post(R"(/dlq/(\d+)/discard)", token, [this](const http::Request& req, http::Response& res) {
    DeadLetterCommand(*this, req, res, false);
  });

  // Probes (Kubernetes semantics): live = the process serves; startup = the engine opened
  // (views prepared, any rebuild at start done); ready = store reachable and every source
  // caught up or advancing.
  http->Get("/health/live", in_memory_probe, [](const http::Request&, http::Response& res) {
    ReplyJson(res, 200, "{\"status\":\"live\"}");
  });
  http->Get("/health/startup", in_memory_probe, [this](const http::Request&, http::Response& res) {
    const bool started = monitor->Snapshot().started;
    ReplyJson(res, started ? 200 : 503,
              started ? "{\"status\":\"started\"}" : "{\"status\":\"starting\"}");
  });
  http->Get("/health/ready", store_probe, [this](const http::Request&, http::Response& res) {
    std::vector<std::string> problems;
    const engine::MonitorSnapshot snap = monitor->Snapshot();
    if (!snap.started) problems.push_back("engine starting");
    if (!snap.store_ok) problems.push_back(absl::StrCat("store: ", snap.store_error));
    auto lags = snap.started ? ComputeLags(*this) : std::vector<SourceLag>{};
    if (!lags.ok()) {
      problems.push_back(absl::StrCat("store unreachable: ", lags.status().message()));
    } else {
      for (const SourceLag& s : *lags) {
        for (const PartitionLag& p : s.partitions) {
          if (p.state == "stalled") {
            problems.push_back(absl::StrCat("source ", s.name, " partition ", p.label,
                                            " stalled at ", p.position, " of ", p.end));
          }
        }
        if (!s.connected) {
          problems.push_back(
              absl::StrCat("source ", s.name, " cannot reach its upstream: ", s.disconnect_reason));
        }
        if (!s.upstream.problem.empty()) {
          problems.push_back(absl::StrCat("source ", s.name, ": ", s.upstream.problem));
        }
      }
    }
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("status");
    w.String(problems.empty() ? "ready" : "not_ready");
    w.Key("problems");
    w.StartArray();
    for (const auto& p : problems) w.String(p.c_str());
    w.EndArray();
    w.EndObject();
    ReplyJson(res, problems.empty() ? 200 : 503, buf.GetString());
  });
  http->Get("/metrics", [this](const http::Request&, http::Response& res) {
    res.set_content(registry.Render(), "text/plain; version=0.0.4");
  });
  http->Get("/openapi.json", [this](const http::Request&, http::Response& res) {
    auto reader = Reader();
    if (!reader.ok()) return ReplyStatus(res, reader.status());
    auto versions = (*reader)->ListViewVersions();
    if (!versions.ok()) return ReplyStatus(res, versions.status());
    ReplyJson(res, 200, OpenApiDocument(*versions));
  });
}

}  // namespace sv::server
