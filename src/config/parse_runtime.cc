// Config sections that say how the engine runs: store, params, sources, gate, engine, server.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/cron.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

namespace fs = std::filesystem;

absl::Status Parser::ParseStore(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "store"));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries,
                {"kind", "path", "dsn", "dsn_env", "schema", "view_schema", "shared_by_partition",
                 "engine_lock_wait_ms", "cache_mib", "reader_cache_mib"},
                "store"));
  config->store.loc = LocOf(entry.key);
  if (const Entry* e = Find(entries, "kind")) {
    SV_ASSIGN_OR_RETURN(config->store.kind, Name(*e, "store kind"));
    if (config->store.kind != "sqlite" && config->store.kind != "postgres" &&
        config->store.kind != "memory") {
      return Err(e->value, absl::StrCat("unknown store kind ", Quoted(config->store.kind),
                                        " (expected one of: sqlite, postgres, memory)"));
    }
  }
  const bool postgres = config->store.kind == "postgres";
  const std::vector<absl::string_view> postgres_keys = {
      "dsn", "dsn_env", "schema", "view_schema", "shared_by_partition", "engine_lock_wait_ms"};
  // Keys of another backend are mistakes, not options to ignore. A memory store (tests: one
  // process, nothing kept) has none of its own.
  const std::vector<absl::string_view> sqlite_keys = {"path", "cache_mib", "reader_cache_mib"};
  std::vector<absl::string_view> foreign = postgres ? sqlite_keys : postgres_keys;
  if (config->store.kind == "memory")
    foreign.insert(foreign.end(), sqlite_keys.begin(), sqlite_keys.end());
  for (absl::string_view key : foreign) {
    if (const Entry* e = Find(entries, key)) {
      return Err(e->key, absl::StrCat("store key ", Quoted(key), " does not apply to kind ",
                                      config->store.kind));
    }
  }
  if (const Entry* e = Find(entries, "path")) {
    SV_ASSIGN_OR_RETURN(std::string path, Name(*e, "store path"));
    fs::path p(path);
    if (p.is_relative()) p = fs::path(config->base_dir) / p;
    config->store.path = p.lexically_normal().string();
  }
  if (const Entry* e = Find(entries, "cache_mib")) {
    SV_ASSIGN_OR_RETURN(config->store.cache_mib, Integer(*e, "store cache_mib", 1, 65'536));
  }
  if (const Entry* e = Find(entries, "reader_cache_mib")) {
    SV_ASSIGN_OR_RETURN(config->store.reader_cache_mib,
                        Integer(*e, "store reader_cache_mib", 1, 65'536));
  }
  if (!postgres) return absl::OkStatus();
  if (const Entry* e = Find(entries, "shared_by_partition")) {
    SV_ASSIGN_OR_RETURN(config->store.shared_by_partition, Bool(*e, "store shared_by_partition"));
  }
  if (const Entry* e = Find(entries, "engine_lock_wait_ms")) {
    SV_ASSIGN_OR_RETURN(config->store.engine_lock_wait_ms,
                        Integer(*e, "store engine_lock_wait_ms", 0, 86'400'000));
  }
  const Entry* dsn = Find(entries, "dsn");
  const Entry* dsn_env = Find(entries, "dsn_env");
  if (dsn != nullptr && dsn_env != nullptr) {
    return Err(dsn_env->key, "store: give either dsn or dsn_env, not both");
  }
  if (dsn == nullptr && dsn_env == nullptr) {
    return Err(entry.key, "store of kind postgres needs dsn or dsn_env");
  }
  if (dsn != nullptr) {
    SV_ASSIGN_OR_RETURN(config->store.dsn, Name(*dsn, "store dsn"));
  } else {
    SV_ASSIGN_OR_RETURN(config->store.dsn_env, Name(*dsn_env, "store dsn_env"));
    const char* value = std::getenv(config->store.dsn_env.c_str());
    if (value == nullptr || *value == '\0') {
      return Err(dsn_env->value,
                 absl::StrCat("environment variable ", Quoted(config->store.dsn_env),
                              " (store dsn_env) is not set"));
    }
    config->store.dsn = value;
  }
  for (absl::string_view key : {"schema", "view_schema"}) {
    const Entry* e = Find(entries, key);
    if (e == nullptr) continue;
    SV_ASSIGN_OR_RETURN(std::string name, Name(*e, absl::StrCat("store ", key)));
    if (!IsIdentifier(name) || name.size() > 63) {
      return Err(e->value, absl::StrCat("store ", key, " ", Quoted(name),
                                        " must be an identifier (letters, digits, '_', at most "
                                        "63 characters)"));
    }
    (key == "schema" ? config->store.schema : config->store.view_schema) = name;
  }
  if (config->store.schema == config->store.view_schema) {
    return Err(entry.key, absl::StrCat("store schema and view_schema must differ (both ",
                                       Quoted(config->store.schema), ")"));
  }
  return absl::OkStatus();
}

Value ScalarValue(const YAML::Node& node) {
  if (node.IsNull()) return Value::Null();
  if (node.Tag() != "?") return Value::Text(node.Scalar());  // quoted or block: always text
  const std::string& s = node.Scalar();
  int64_t i = 0;
  double d = 0;
  const bool numeric_chars = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
           c == '+' || c == '-';
  });
  const bool has_digit = std::any_of(
      s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (s == "true" || s == "True" || s == "TRUE") return Value::Bool(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value::Bool(false);
  if (numeric_chars && has_digit && absl::SimpleAtoi(s, &i)) return Value::Int(i);
  if (numeric_chars && has_digit && absl::SimpleAtod(s, &d)) return Value::Real(d);
  return Value::Text(s);
}

absl::Status Parser::ParseParams(const Entry& entry, Config* config) const {
  if (entry.value.IsNull()) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "params"));
  for (const Entry& e : entries) {
    if (!IsIdentifier(e.name)) {
      return Err(e.key, absl::StrCat("param name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_')"));
    }
    if (!e.value.IsNull() && !e.value.IsScalar()) {
      return Err(e.value, absl::StrCat("param ", Quoted(e.name), " must be a scalar, not ",
                                       KindName(e.value)));
    }
    Value value = ScalarValue(e.value);
    config->params[e.name] = std::move(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<SourceConfig> Parser::ParseSource(const Entry& entry) const {
  SourceConfig source;
  source.name = entry.name;
  source.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("source ", Quoted(entry.name));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key, absl::StrCat("source name ", Quoted(entry.name),
                                       " must be an identifier (letters, digits, '_')"));
  }
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"kind",
                                "key",
                                "type",
                                "sequence",
                                "event_id",
                                "timestamp",
                                "first_sequence",
                                "unknown_types",
                                "event_types",
                                "brokers",
                                "brokers_env",
                                "topics",
                                "group_id",
                                "dead_letter_topic",
                                "properties",
                                "dsn",
                                "dsn_env",
                                "publication",
                                "slot",
                                "tables",
                                "heartbeat_ms",
                                "spool_memory_rows",
                                "spool_dir",
                                "contracts",
                                "schema_registry",
                                "organization"},
                               what));
  const Entry* kind_entry = Find(entries, "kind");
  const bool changes = kind_entry != nullptr && kind_entry->value.IsScalar() &&
                       kind_entry->value.Scalar() == "postgres_changes";
  if (!changes) {
    // A change feed keys events by the primary key and names them <table>.<operation>.
    SV_RETURN_IF_ERROR(CheckRequired(entries, "key", entry.key, what));
    SV_RETURN_IF_ERROR(CheckRequired(entries, "event_types", entry.key, what));
  }
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "kind") {
      SV_ASSIGN_OR_RETURN(source.kind, Name(e, field));
      if (source.kind != "log" && source.kind != "kafka" && source.kind != "postgres_changes") {
        return Err(e.value, absl::StrCat("unknown source kind ", Quoted(source.kind), " for ", what,
                                         " (expected one of: log, kafka, postgres_changes)"));
      }
    } else if (e.name == "dsn") {
      SV_ASSIGN_OR_RETURN(source.postgres.dsn, Name(e, field));
    } else if (e.name == "dsn_env") {
      SV_ASSIGN_OR_RETURN(std::string var, Name(e, field));
      const char* value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0') {
        return Err(e.value,
                   absl::StrCat(field, ": environment variable ", Quoted(var), " is not set"));
      }
      source.postgres.dsn = value;
    } else if (e.name == "publication") {
      SV_ASSIGN_OR_RETURN(source.postgres.publication, Name(e, field));
    } else if (e.name == "slot") {
      SV_ASSIGN_OR_RETURN(source.postgres.slot, Name(e, field));
    } else if (e.name == "heartbeat_ms") {
      SV_ASSIGN_OR_RETURN(source.postgres.heartbeat_ms, Integer(e, field, 10, 3'600'000));
    } else if (e.name == "spool_memory_rows") {
      SV_ASSIGN_OR_RETURN(source.postgres.spool_memory_rows, Integer(e, field, 1, 100'000'000));
    } else if (e.name == "spool_dir") {
      SV_ASSIGN_OR_RETURN(source.postgres.spool_dir, Name(e, field));
    } else if (e.name == "tables") {
      SV_ASSIGN_OR_RETURN(auto tables, NameList(e, field));
      if (tables.empty()) return Err(e.value, absl::StrCat(field, " must name at least one table"));
      for (auto& [table, node] : tables) source.postgres.tables.push_back(table);
    } else if (e.name == "brokers") {
      SV_ASSIGN_OR_RETURN(source.kafka.brokers, Name(e, field));
    } else if (e.name == "brokers_env") {
      SV_ASSIGN_OR_RETURN(std::string var, Name(e, field));
      const char* value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0') {
        return Err(e.value,
                   absl::StrCat(field, ": environment variable ", Quoted(var), " is not set"));
      }
      source.kafka.brokers = value;
    } else if (e.name == "topics") {
      SV_ASSIGN_OR_RETURN(auto topics, NameList(e, field));
      if (topics.empty() || topics.size() > 4096) {
        return Err(e.value, absl::StrCat(field, " must name 1 to 4096 topics"));
      }
      for (auto& [topic, node] : topics) source.kafka.topics.push_back(topic);
    } else if (e.name == "group_id") {
      SV_ASSIGN_OR_RETURN(source.kafka.group_id, Name(e, field));
    } else if (e.name == "dead_letter_topic") {
      SV_ASSIGN_OR_RETURN(source.kafka.dead_letter_topic, Bool(e, field));
    } else if (e.name == "properties") {
      SV_ASSIGN_OR_RETURN(Entries props, MapEntries(e.value, e.key, field));
      for (const Entry& p : props) {
        if (!p.value.IsScalar()) {
          return Err(p.value,
                     absl::StrCat("property ", Quoted(p.name), " of ", what, " must be a scalar"));
        }
        source.kafka.properties.emplace_back(p.name, p.value.Scalar());
      }
    } else if (e.name == "key") {
      if (e.value.IsMap()) {
        SV_ASSIGN_OR_RETURN(Entries key, MapEntries(e.value, e.key, field));
        SV_RETURN_IF_ERROR(CheckKeys(key, {"from"}, field));
        const Entry* from = Find(key, "from");
        if (from == nullptr || !from->value.IsScalar() || from->value.Scalar() != "envelope") {
          return Err(from == nullptr ? e.key : from->value,
                     absl::StrCat(field,
                                  " is a field name, or {from: envelope} (the envelope's "
                                  "or message's key only)"));
        }
        source.key_from_envelope_only = true;
        continue;
      }
      SV_ASSIGN_OR_RETURN(source.key_field, Name(e, field));
    } else if (e.name == "type" || e.name == "sequence") {
      std::string* field_out = e.name == "type" ? &source.type_field : &source.sequence_field;
      std::string* header_out = e.name == "type" ? &source.type_header : &source.sequence_header;
      if (e.value.IsScalar()) {
        SV_ASSIGN_OR_RETURN(*field_out, Name(e, field));
        continue;
      }
      SV_ASSIGN_OR_RETURN(Entries sub, MapEntries(e.value, e.key, field));
      SV_RETURN_IF_ERROR(CheckKeys(sub, {"field", "header"}, field));
      if (sub.empty()) {
        return Err(e.value, absl::StrCat(field, " needs 'field', 'header' or both"));
      }
      if (const Entry* f = Find(sub, "field")) {
        SV_ASSIGN_OR_RETURN(*field_out, Name(*f, absl::StrCat("'field' of ", field)));
      }
      if (const Entry* h = Find(sub, "header")) {
        SV_ASSIGN_OR_RETURN(*header_out, Name(*h, absl::StrCat("'header' of ", field)));
      }
    } else if (e.name == "contracts") {
      SV_RETURN_IF_ERROR(ParseContracts(e, &source));
    } else if (e.name == "schema_registry") {
      SV_RETURN_IF_ERROR(ParseSchemaRegistry(e, &source));
    } else if (e.name == "event_id") {
      SV_ASSIGN_OR_RETURN(source.event_id_field, Name(e, field));
    } else if (e.name == "timestamp") {
      SV_ASSIGN_OR_RETURN(source.timestamp_field, Name(e, field));
    } else if (e.name == "organization") {
      SV_ASSIGN_OR_RETURN(source.organization_field, Name(e, field));
    } else if (e.name == "first_sequence") {
      // The gate stores "nothing applied yet" as last sequence 0, so a key's first sequence
      // must be above it: with 0, a redelivered sequence 0 would look new and apply twice.
      SV_ASSIGN_OR_RETURN(source.first_sequence,
                          Integer(e, field, 1, std::numeric_limits<int64_t>::max()));
    } else if (e.name == "unknown_types") {
      SV_ASSIGN_OR_RETURN(std::string policy, Name(e, field));
      if (policy == "ignore") {
        source.unknown_types = UnknownTypePolicy::kIgnore;
      } else if (policy == "dead_letter") {
        source.unknown_types = UnknownTypePolicy::kDeadLetter;
      } else {
        return Err(e.value, absl::StrCat("unknown value ", Quoted(policy), " for ", field,
                                         " (expected one of: ignore, dead_letter)"));
      }
    } else if (e.name == "event_types") {
      SV_ASSIGN_OR_RETURN(auto types, NameList(e, field));
      if (types.empty()) {
        return Err(e.value, absl::StrCat(field, " must not be empty"));
      }
      for (auto& [type, node] : types) {
        if (type == "*") {
          return Err(node, absl::StrCat("'*' is not an event type name (in ", field, ")"));
        }
        if (std::find(source.event_types.begin(), source.event_types.end(), type) !=
            source.event_types.end()) {
          return Err(node, absl::StrCat("duplicate event type ", Quoted(type), " in ", field));
        }
        source.event_types.push_back(type);
      }
    }
  }
  const bool kafka = source.kind == "kafka";
  for (const char* k : {"brokers", "brokers_env", "topics", "group_id", "dead_letter_topic",
                        "properties", "schema_registry"}) {
    const Entry* e = Find(entries, k);
    if (e != nullptr && !kafka) {
      return Err(e->key, absl::StrCat(Quoted(k), " of ", what, " needs kind: kafka"));
    }
  }
  if (const Entry* e = Find(entries, "organization"); e != nullptr && source.kind != "log") {
    // A change feed's tenant rebuild reads the organization's rows by the tables' own column
    // (engine/tenant_snapshot.cc); a Kafka topic keeps no index of ours.
    return Err(e->key, absl::StrCat("'organization' of ", what, " needs kind: log"));
  }
  for (const char* k : {"dsn", "dsn_env", "publication", "slot", "tables", "heartbeat_ms",
                        "spool_memory_rows", "spool_dir"}) {
    const Entry* e = Find(entries, k);
    if (e != nullptr && !changes) {
      return Err(e->key, absl::StrCat(Quoted(k), " of ", what, " needs kind: postgres_changes"));
    }
  }
  if (changes) {
    SV_RETURN_IF_ERROR(CheckRequired(entries, "tables", entry.key, what));
    if (source.postgres.dsn.empty()) {
      return Err(entry.key, absl::StrCat(what, " needs 'dsn' or 'dsn_env'"));
    }
    for (const char* k : {"key", "type", "sequence"}) {
      if (const Entry* e = Find(entries, k)) {
        return Err(e->key, absl::StrCat(Quoted(k), " of ", what,
                                        " comes from the change feed itself (the primary key, "
                                        "<table>.insert|update|delete, the commit order)"));
      }
    }
    if (source.postgres.publication.empty()) source.postgres.publication = "sv_" + source.name;
    if (source.postgres.slot.empty()) source.postgres.slot = "sv_" + source.name;
    source.type_field.clear();
    source.type_header = "sv-type";
    if (source.event_types.empty()) {
      for (const std::string& table : source.postgres.tables) {
        for (const char* op : {".insert", ".update", ".delete", ".truncate"}) {
          source.event_types.push_back(table + op);
        }
      }
    }
    // The source's own markers (source/pg_changes): the end of a snapshot, a heartbeat while
    // the tables are quiet. No view handles them.
    for (const char* marker : {"snapshot.done", "heartbeat"}) {
      if (std::find(source.event_types.begin(), source.event_types.end(), marker) ==
          source.event_types.end()) {
        source.event_types.push_back(marker);
      }
    }
  }
  if (kafka) {
    for (const char* k : {"topics", "group_id"}) {
      SV_RETURN_IF_ERROR(CheckRequired(entries, k, entry.key, what));
    }
    if (source.kafka.brokers.empty()) {
      return Err(entry.key, absl::StrCat(what, " needs 'brokers' or 'brokers_env'"));
    }
  }
  return source;
}

absl::Status Parser::ParseSources(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "sources"));
  for (const Entry& e : entries) {
    SV_ASSIGN_OR_RETURN(SourceConfig source, ParseSource(e));
    config->sources.push_back(std::move(source));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseGate(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "gate"));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries, {"stash_max_age_ms", "stash_max_events", "dedup_window"}, "gate"));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  GateConfig& gate = config->gate;
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("gate.", e.name);
    int64_t* out = e.name == "stash_max_age_ms"   ? &gate.stash_max_age_ms
                   : e.name == "stash_max_events" ? &gate.stash_max_events
                                                  : &gate.dedup_window;
    SV_ASSIGN_OR_RETURN(*out, Integer(e, what, 1, kMax));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseEngine(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "engine"));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"batch_events", "cache_rows", "poll_idle_ms", "commit_delay_us",
                                "rebuild_threads", "pipeline_commits", "lanes", "standby_versions"},
                               "engine"));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EngineConfig& engine = config->engine;
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("engine.", e.name);
    if (e.name == "batch_events") {
      SV_ASSIGN_OR_RETURN(engine.batch_events, Integer(e, what, 1, kMax));
    } else if (e.name == "cache_rows") {
      SV_ASSIGN_OR_RETURN(engine.cache_rows, Integer(e, what, 1, kMax));
    } else if (e.name == "poll_idle_ms") {
      SV_ASSIGN_OR_RETURN(engine.poll_idle_ms, Integer(e, what, 1, kMax));
    } else if (e.name == "commit_delay_us") {
      SV_ASSIGN_OR_RETURN(engine.commit_delay_us, Integer(e, what, 0, 10'000'000));
    } else if (e.name == "pipeline_commits") {
      SV_ASSIGN_OR_RETURN(engine.pipeline_commits, Bool(e, what));
    } else if (e.name == "lanes") {
      SV_ASSIGN_OR_RETURN(int64_t lanes, Integer(e, what, 0, 64));
      engine.lanes = static_cast<int>(lanes);
    } else if (e.name == "standby_versions") {
      SV_ASSIGN_OR_RETURN(int64_t standbys, Integer(e, what, 0, 16));
      engine.standby_versions = static_cast<int>(standbys);
    } else {
      SV_ASSIGN_OR_RETURN(int64_t threads, Integer(e, what, 1, 1024));
      engine.rebuild_threads = static_cast<int>(threads);
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseVerify(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "verify"));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"schedule", "repair"}, "verify"));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "schedule", entry.key, "verify"));
  VerifyConfig& verify = config->verify;
  verify.loc = LocOf(entry.key);
  for (const Entry& e : entries) {
    if (e.name == "repair") {
      SV_ASSIGN_OR_RETURN(verify.repair, Bool(e, "verify.repair"));
      continue;
    }
    SV_ASSIGN_OR_RETURN(verify.schedule, ScalarText(e.value, e.key, "verify.schedule"));
    // Checked here so that a typo fails at start, not at the first due time.
    if (absl::StatusOr<CronSchedule> cron = ParseCron(verify.schedule); !cron.ok()) {
      return Err(e.value, absl::StrCat("verify.schedule: ", cron.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseServer(const Entry& entry, Config* config) const {
  ServerConfig& server = config->server;
  server.enabled = true;
  server.loc = LocOf(entry.key);
  if (entry.value.IsNull()) return absl::OkStatus();  // `server:` alone: all defaults
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "server"));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries,
                {"listen", "token", "token_env", "default_limit", "max_limit", "read_wait_ms",
                 "shutdown_grace_ms", "threads", "stall_after_ms", "max_connections",
                 "header_timeout_ms", "idle_timeout_ms", "max_body_bytes", "auth", "subscriptions"},
                "server"));
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("server.", e.name);
    if (e.name == "listen") {
      SV_ASSIGN_OR_RETURN(std::string listen, Name(e, what));
      if (!ParseListen(listen, &server.host, &server.port)) {
        return Err(e.value, absl::StrCat(what, " must be host:port (e.g. 127.0.0.1:8080), not ",
                                         Quoted(listen)));
      }
    } else if (e.name == "token") {
      SV_ASSIGN_OR_RETURN(server.token, Name(e, what));
    } else if (e.name == "token_env") {
      SV_ASSIGN_OR_RETURN(server.token_env, Name(e, what));
    } else if (e.name == "default_limit") {
      SV_ASSIGN_OR_RETURN(server.default_limit, Integer(e, what, 1, kMax));
    } else if (e.name == "max_limit") {
      SV_ASSIGN_OR_RETURN(server.max_limit, Integer(e, what, 1, kMax));
    } else if (e.name == "read_wait_ms") {
      SV_ASSIGN_OR_RETURN(server.read_wait_ms, Integer(e, what, 0, 60'000));
    } else if (e.name == "shutdown_grace_ms") {
      SV_ASSIGN_OR_RETURN(server.shutdown_grace_ms, Integer(e, what, 0, 3'600'000));
    } else if (e.name == "threads") {
      SV_ASSIGN_OR_RETURN(server.threads, Integer(e, what, 1, 1024));
    } else if (e.name == "max_connections") {
      SV_ASSIGN_OR_RETURN(server.max_connections, Integer(e, what, 1, 1'000'000));
    } else if (e.name == "header_timeout_ms") {
      SV_ASSIGN_OR_RETURN(server.header_timeout_ms, Integer(e, what, 100, 3'600'000));
    } else if (e.name == "idle_timeout_ms") {
      SV_ASSIGN_OR_RETURN(server.idle_timeout_ms, Integer(e, what, 100, 3'600'000));
    } else if (e.name == "auth") {
      SV_RETURN_IF_ERROR(ParseAuth(e, &server.auth));
    } else if (e.name == "subscriptions") {
      SV_RETURN_IF_ERROR(ParseSubscriptions(e, &server.subscriptions));
    } else if (e.name == "max_body_bytes") {
      SV_ASSIGN_OR_RETURN(server.max_body_bytes, Integer(e, what, 1, int64_t{1} << 40));
    } else {
      SV_ASSIGN_OR_RETURN(server.stall_after_ms, Integer(e, what, 1, kMax));
    }
  }
  if (server.default_limit > server.max_limit) {
    return Err(entry.value, absl::StrCat("server.default_limit (", server.default_limit,
                                         ") exceeds server.max_limit (", server.max_limit, ")"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseSubscriptions(const Entry& entry, SubscriptionsConfig* out) const {
  if (entry.value.IsNull()) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "server.subscriptions"));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"max_subscribers", "resume_events", "queue_events", "heartbeat_ms"},
                               "server.subscriptions"));
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("server.subscriptions.", e.name);
    if (e.name == "max_subscribers") {
      SV_ASSIGN_OR_RETURN(out->max_subscribers, Integer(e, what, 0, 100'000));
    } else if (e.name == "resume_events") {
      SV_ASSIGN_OR_RETURN(out->resume_events, Integer(e, what, 0, 10'000'000));
    } else if (e.name == "queue_events") {
      SV_ASSIGN_OR_RETURN(out->queue_events, Integer(e, what, 1, 10'000'000));
    } else {
      SV_ASSIGN_OR_RETURN(out->heartbeat_ms, Integer(e, what, 100, 3'600'000));
    }
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
