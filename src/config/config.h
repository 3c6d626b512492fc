#pragma once
// The user's YAML configuration as a validated-for-shape model. Every element remembers where it
// was written (file, line, column) so later stages (expression compiler, projection binder) can
// report errors as "file:line:col: problem". Semantic checks that need other subsystems (do the
// expressions compile, do referenced columns exist) happen in projection/, not here.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/location.h"
#include "common/value.h"

namespace sv::config {

using ::sv::Location;

// An SQL expression written in the config, with where its first character sits in the file.
// For block/quoted YAML scalars the location is that of the scalar's first character.
struct ExprText {
  std::string sql;
  Location loc;
};

struct StoreConfig {
  std::string kind = "sqlite";  // "sqlite", "postgres" or "memory" (in-process, tests)
  std::string path;             // sqlite: relative paths resolve against the config file's folder
  // postgres: a libpq connection string or URI, given as `dsn` or read at load from the
  // environment variable named by `dsn_env`.
  std::string dsn;
  std::string dsn_env;
  std::string schema = "streamview";   // postgres: the engine's own tables
  std::string view_schema = "public";  // postgres: view tables and views
  // postgres: several engines (one Kafka consumer group) write this store, each for its
  // partitions; every source must be kafka.
  bool shared_by_partition = false;
  // postgres: how long a starting engine waits for a previous engine's session (one killed a
  // moment ago) to release the schema's engine lock, and an assignment for partition locks.
  int64_t engine_lock_wait_ms = 60'000;
  // sqlite: the page cache of each connection, in MiB: the engine's writers (`cache_mib`) and
  // each reader (`reader_cache_mib`: every HTTP thread, lane and lookup load has one), so the
  // caches' share of the process's memory is bounded by config, whatever the store's size.
  int64_t cache_mib = 64;
  int64_t reader_cache_mib = 64;
  Location loc;
};

enum class UnknownTypePolicy { kIgnore, kDeadLetter };

// A Kafka source (kind: kafka): a consumer group over topics. The positions of record in each
// partition live in the store (next offset to read), committed with the view rows.
// `schema_registry:` of a Kafka source: its records are Confluent-framed (magic byte, schema id,
// JSON) and each is checked against the JSON Schema its id names in this registry.
struct SchemaRegistryConfig {
  std::string url;  // empty: records are plain JSON
  int64_t timeout_ms = 5'000;
  std::string user_password;  // "user:password" for basic auth (from password_env)
};

struct KafkaConfig {
  std::string brokers;              // bootstrap servers, "host:port,…" (or from brokers_env)
  std::vector<std::string> topics;  // at most 4096, each with at most 1,048,576 partitions
  std::string group_id;             // consumer group
  bool dead_letter_topic = true;    // also produce dead letters to "<topic>.dlq"
  std::vector<std::pair<std::string, std::string>> properties;  // librdkafka, passed through
  SchemaRegistryConfig schema_registry;
};

// A PostgreSQL change feed (kind: postgres_changes): the committed row changes of `tables`
// through logical replication (pgoutput), after an initial snapshot of their rows.
struct PostgresChangesConfig {
  std::string dsn;                  // libpq connection string or URI (or from dsn_env)
  std::string publication;          // created (or completed) when missing; default sv_<source>
  std::string slot;                 // logical replication slot; default sv_<source>
  std::vector<std::string> tables;  // "name" (schema public) or "schema.name"
  // While idle, a message through the source's WAL this often lets the slot's flush move past
  // WAL nobody here needs (writes to unpublished tables, other databases).
  int64_t heartbeat_ms = 10'000;
  // A source transaction's changes beyond this many wait in an unlinked temporary file in
  // spool_dir ("" = /tmp) until the engine takes them: a transaction of any size takes
  // bounded memory.
  int64_t spool_memory_rows = 10'000;
  std::string spool_dir;
};

// A JSON Schema file for one event type (and version) of a source.
struct ContractFileConfig {
  std::string type;
  int64_t version = 0;  // 0: the type's only schema, for every version
  std::string file;     // as written; resolved against the config file's folder
  std::string path;     // resolved
  Location loc;
};

// `contracts:` of a source: events of a listed type must satisfy its schema, or they go to the
// dead-letter store with the failing path and rule.
struct ContractsConfig {
  std::string version_field;   // dotted path of the schema version in the event
  std::string version_header;  // or a header; wins when present
  // Each version of a type must be BACKWARD compatible with the one before (checked at load).
  bool backward_compatible = true;
  std::vector<ContractFileConfig> files;
};

struct SourceConfig {
  std::string name;
  std::string kind = "log";        // embedded log | kafka | postgres_changes
  KafkaConfig kafka;               // kind: kafka
  PostgresChangesConfig postgres;  // kind: postgres_changes
  // Where each piece of an event comes from. Header names are looked up in the envelope's
  // "headers"; fields are dotted paths into the event object.
  std::string key_field;  // e.g. "orderId"; an envelope "key" wins when present
  // `key: {from: envelope}`: the key is the envelope's "key" (a Kafka message's key) only; a
  // record without one is a dead letter, never routed by a body field.
  bool key_from_envelope_only = false;
  std::string type_field = "type";  // event type name field
  std::string type_header;          // optional, wins over type_field when present
  std::string sequence_header;      // e.g. "x-sequence"
  std::string sequence_field;       // fallback when the header is absent
  std::string event_id_field = "eventId";
  std::string timestamp_field;  // e.g. "occurredAt"
  // kind: log only. The event field naming the organization an event's key belongs to (a
  // key's other events may omit it): a tenant rebuild then reads only the records of that
  // organization's keys (engine/tenant_log_index.cc), where the views make that exact.
  std::string organization_field;
  std::vector<std::string> event_types;  // declared types; anything else is "unknown"
  UnknownTypePolicy unknown_types = UnknownTypePolicy::kDeadLetter;
  ContractsConfig contracts;
  int64_t first_sequence = 1;  // the sequence a new key must start at
  Location loc;
};

struct GateConfig {
  int64_t stash_max_age_ms = 60'000;  // log-time age after which a gap is given up
  int64_t stash_max_events = 1'000;   // per key
  int64_t dedup_window = 100'000;     // positions within which a repeated event id is a duplicate
};

struct EngineConfig {
  // Events per transaction, at most (reached while catching up). 0 = by store: 50,000 on SQLite
  // (written behind the loop), 5,000 on PostgreSQL (written in line: a long statement would
  // also hold a killed engine's lock until it ends).
  int64_t batch_events = 0;
  int64_t cache_rows = 200'000;     // hot rows kept in memory between batches
  int64_t poll_idle_ms = 1;         // sleep when caught up
  int64_t commit_delay_us = 4'000;  // group commit: longest wait of a batch's first event
  int rebuild_threads = 2;          // fold workers during rebuild (partitioned by key)
  // Previous versions a view keeps after a swap, for `streamview views rollback` (older ones
  // are dropped: disk use stays bounded). 0: drop the old version at the swap.
  int standby_versions = 1;
  // SQLite: batch N commits on a thread (and connection) of its own while batch N+1 is
  // processed. PostgreSQL stores always commit in line.
  bool pipeline_commits = true;
  // Lanes per source: its keys split by hash, processed concurrently, each with its own gate
  // state, working set and read connection. 0 = one per core (at most 4). A source gets one
  // lane when one of its views has rows that do not belong to one key.
  int lanes = 0;
};

struct ColumnConfig {
  std::string name;
  Type type = Type::kText;  // text, integer, numeric(real), boolean, timestamp, interval
  std::optional<ExprText> default_value;  // constant expression used when a new row omits it
  Location loc;
};

struct IndexConfig {
  std::vector<std::string> columns;  // "-col" means descending
  Location loc;
};

// What one event type does to one view.
struct HandlerConfig {
  std::string event_type;  // "*" = merged into every other handler of the view
  std::vector<std::pair<std::string, ExprText>> set;  // column -> expression, in file order
  bool delete_row = false;
  std::optional<ExprText> when;     // boolean filter; handler skipped when not true
  std::optional<ExprText> explode;  // array expression: one row per element
  std::string explode_as = "item";  // alias of the element inside expressions
  Location loc;
};

// How the REST layer serves a view beyond /views/{view} (optional).
struct ViewApiConfig {
  std::string path;         // a compatibility route, e.g. "/orders" (seed 003): page/pageSize
  std::string time_column;  // the column from=/to= filter on
  Location loc;
  Location time_column_loc;  // a derived view's columns are known only once its SQL is bound
};

struct ViewConfig {
  std::string name;
  std::string source;
  std::vector<std::string> key;  // key column names, in order
  std::vector<ColumnConfig> columns;
  std::vector<IndexConfig> indexes;
  std::vector<HandlerConfig> handlers;
  ViewApiConfig api;
  std::string tenant;  // the column naming a row's organization (reads are scoped by it)
  Location tenant_loc;
  bool internal = false;  // a step other views read: not served over REST
  int64_t version = 0;    // `version:`, the view's declared schema version (0: none)
  // `previous:`, the definition the serving version was built from (blue/green): while the
  // new definition's version is built and until it is dropped, the engine keeps that one
  // current too (engine/view_versions.h). Null when not given.
  std::shared_ptr<const ViewConfig> previous;
  Location loc;
};

// A view declared in SQL over other views (`CREATE VIEW <name> AS SELECT … FROM <view> …`),
// maintained incrementally from their row changes, or recomputed in full on a `refresh`
// schedule (a cron expression) when one is given.
struct DerivedViewConfig {
  std::string name;
  ExprText sql;
  std::vector<IndexConfig> indexes;  // column names are checked against the SELECT's columns
  std::optional<ExprText> refresh;   // cron expression; absent = incremental
  ViewApiConfig api;                 // its time column is checked against the SELECT's columns
  std::string tenant;                // as ViewConfig::tenant, checked against the SELECT's columns
  Location tenant_loc;
  bool internal = false;  // as ViewConfig::internal
  // Reads tenant-scoped views yet has no tenant column, and every caller may read it all
  // (say, totals over every organization): must be said, never the default.
  bool shared = false;
  int64_t version = 0;  // as ViewConfig::version
  Location loc;
};

// An autocomplete lookup over a view (`GET /lookups/{name}?q=ac`), served from memory and
// kept current by the engine's commits.
struct LookupConfig {
  std::string name;
  std::string view;
  std::string label;                // the text column searched by prefix of its words
  std::vector<std::string> fields;  // returned columns; empty = every column
  std::string scope;                // optional: a column the caller must fix (?<scope>=value)
  // Only rows whose columns equal these values (coerced to the column's type).
  std::vector<std::pair<std::string, Value>> where;
  int64_t default_limit = 10;
  int64_t max_limit = 100;
  Location loc;
};

// Who may read (issue 19): API keys, stored as their SHA-256, and JWTs. Each caller is an
// organization (reads of a view with a `tenant` column see that organization's rows only) or
// the admin (every row, and the ops routes).
struct ApiKeyConfig {
  std::string sha256;        // hex of SHA-256(key), lowercase
  std::string organization;  // empty for the admin
  bool admin = false;
  Location loc;
};

struct JwtConfig {
  bool enabled = false;
  std::string algorithm;        // HS256 or RS256: a token signed otherwise is refused
  std::string secret_env;       // HS256: the environment variable holding the secret
  std::string public_key_file;  // RS256: a PEM public key (relative to the config file)
  std::string audience;         // required `aud` (a string, or one of an array's)
  std::string organization_claim = "org_id";
  std::string admin_claim;  // optional: a claim that, when true, makes the caller admin
  Location loc;
};

struct AuthConfig {
  bool enabled = false;  // a `server.auth` section: reads need a caller
  std::vector<ApiKeyConfig> api_keys;
  JwtConfig jwt;
  bool open_reads = false;  // reads of views without a tenant column need no caller
  Location loc;
};

// `server.subscriptions`: live streams of views' changes (GET /views/{view}/subscribe).
struct SubscriptionsConfig {
  int64_t max_subscribers = 64;    // open streams at once; 0 turns subscriptions off
  int64_t resume_events = 10'000;  // recent changes kept per view for Last-Event-ID resumes
  int64_t queue_events = 1'000;    // a subscriber this far behind gets `reset`, backlog dropped
  int64_t heartbeat_ms = 15'000;   // a comment sent on an idle stream this often
};

// The HTTP server of `streamview run` (REST reads, ops, metrics, probes).
struct ServerConfig {
  bool enabled = false;  // true when the config has a `server` section (or --listen is given)
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;                           // bearer token for ops and POST /events...
  std::string token_env = "STREAMVIEW_TOKEN";  // ...or read from this environment variable
  int64_t default_limit = 50;
  int64_t max_limit = 1000;
  int64_t read_wait_ms = 2'000;        // longest wait of a read-your-writes request
  int64_t shutdown_grace_ms = 10'000;  // SIGTERM: finish in-flight work within this
  int64_t threads = 8;                 // HTTP worker threads
  int64_t stall_after_ms = 30'000;     // readiness: a lagging source must advance this often
  int64_t max_connections = 512;       // open connections; beyond it the oldest idle one closes
  int64_t header_timeout_ms = 10'000;  // a request's line and headers must arrive within this
  int64_t idle_timeout_ms = 30'000;    // a keep-alive connection may wait this for its next request
  int64_t max_body_bytes = 64 << 20;   // larger bodies get 413 (chunked ones too) as they arrive
  AuthConfig auth;
  SubscriptionsConfig subscriptions;
  Location loc;
};

// `verify:` — the views compared with their source on a cron schedule by the running engine
// (`streamview verify` done in the loop; engine/source_verify), optionally repairing drift.
struct VerifyConfig {
  std::string schedule;  // cron expression (common/cron); empty = no scheduled verify
  bool repair = false;   // write the drifting keys as the source says
  Location loc;
};

// A collection (`collections:`, issue 21): a table applications write over HTTP (PUT/DELETE
// /views/{name}/{key...}) with a row version for optimistic concurrency; no source feeds it.
// Stored as the public library's collections are (include/streamview/projection_store.h).
struct CollectionConfig {
  std::string name;
  std::vector<ColumnConfig> columns;  // text, integer, numeric, boolean, timestamp, json
  std::vector<std::string> key;       // key column names, in order
  std::string tenant;                 // as ViewConfig::tenant; writes are scoped by it too
  Location tenant_loc;
  bool require_preconditions = false;  // PUT/DELETE without If-Match/If-None-Match: 428
  Location loc;
};

// `tracing:` — spans exported over OTLP/HTTP (trace/). Absent: no tracing at all.
struct TracingConfig {
  bool enabled = false;
  std::string endpoint;       // http://host:port (spans go to {endpoint}/v1/traces)
  double sample_ratio = 1.0;  // of traces started here; an incoming sampled traceparent is kept
  std::string service_name = "streamview";
  int64_t batch_size = 512;     // spans per export request
  int64_t flush_ms = 1000;      // a partial batch waits at most this long
  int64_t queue_spans = 65536;  // spans waiting to be sent; beyond, new ones are dropped
  Location loc;
};

struct Config {
  std::string file;      // absolute path of the config file
  std::string base_dir;  // its folder
  StoreConfig store;
  std::map<std::string, Value> params;  // constants usable as params.<name>
  std::vector<SourceConfig> sources;
  std::vector<ViewConfig> views;
  std::vector<DerivedViewConfig> derived_views;  // after `views` in dependency order
  std::vector<LookupConfig> lookups;             // their columns are checked by projection::Compile
  std::vector<CollectionConfig> collections;     // written over HTTP, not by the engine
  GateConfig gate;
  EngineConfig engine;
  ServerConfig server;
  VerifyConfig verify;
  TracingConfig tracing;
};

// Reads and shape-checks a config file. Errors: InvalidArgument "file:line:col: problem".
absl::StatusOr<Config> LoadConfig(const std::string& path);
// Same, from text (file name used only in messages). Used by tests.
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& file_name);

// "host:port" (port 0 = any free port). False when malformed.
bool ParseListen(const std::string& listen, std::string* host, int* port);

// Parses a column type name: text|integer|bigint|int|numeric|real|double|boolean|bool|timestamp|
// timestamptz|interval.
std::optional<Type> ParseTypeName(const std::string& name);

}  // namespace sv::config
