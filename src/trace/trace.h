#pragma once
// Traces (README "Traces"): W3C `traceparent` contexts, sampling, and spans exported over
// OTLP/HTTP JSON by a background thread. Off unless Start() was called: a span then costs one
// relaxed atomic load.
//
// Sampling is parent-based: a span under an incoming context is recorded when that context is
// sampled (flag 01), never otherwise; a trace started here is recorded with the configured
// ratio. Export never blocks the caller: beyond the queue's bound spans are dropped (counted).

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "common/log.h"

namespace sv::trace {

inline constexpr char kTraceparentHeader[] = "traceparent";

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;
};

// A `traceparent` value "00-<32 hex>-<16 hex>-<2 hex>", strictly: version 00 only (a later
// version's longer value is not guessed at), lowercase hex, neither id all zeros. nullopt for
// anything else: the caller then starts a new trace, it never fails a request or an event.
std::optional<SpanContext> ParseTraceparent(std::string_view value);
std::string FormatTraceparent(const SpanContext& context);
std::string Hex(const TraceId& id);
std::string Hex(const SpanId& id);

struct Options {
  std::string endpoint;  // http://host:port[/prefix]; spans are POSTed to {endpoint}/v1/traces
  double sample_ratio = 1.0;
  std::string service_name = "streamview";
  size_t batch_size = 512;
  int flush_ms = 1000;
  size_t queue_spans = 65536;
};

// Starts the exporter thread; spans are recorded from now on. InvalidArgument for a bad
// endpoint.
absl::Status Start(const Options& options);
struct Counters;
// Sends what is queued (waiting up to `wait_ms`), stops recording; returns the final counts.
Counters Shutdown(int wait_ms = 2000);

namespace internal {
extern std::atomic<bool> enabled;
}
inline bool Enabled() { return internal::enabled.load(std::memory_order_relaxed); }

int64_t NowNanos();  // Unix time

// The context of a new span, or nullopt when it is not recorded (tracing off, or not sampled):
// a child of `parent` when given, else the first span of a new trace, sampled by the ratio.
std::optional<SpanContext> NewSpan(const SpanContext* parent);
// A new span id in `parent`'s trace (the caller has decided it is recorded).
SpanContext ChildOf(const SpanContext& parent);

using AttributeValue = std::variant<std::string, int64_t>;
struct Attribute {
  std::string key;
  AttributeValue value;
};

enum class SpanKind { kInternal = 1, kServer = 2, kConsumer = 5 };

// A finished span.
struct SpanData {
  std::string name;
  SpanContext context;
  SpanId parent_span_id{};  // all zeros: a root span
  SpanKind kind = SpanKind::kInternal;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  std::vector<Attribute> attributes;
};

// Queues a finished span for export; drops it (counted) when the queue is full.
void Export(SpanData span);

struct Counters {
  uint64_t exported = 0;  // spans the endpoint accepted
  uint64_t dropped = 0;   // spans not queued: the queue was full
  uint64_t failed = 0;    // spans in requests that failed
};
Counters Stats();

// The span the calling thread is inside (a ScopedSpan), or null.
const SpanContext* CurrentSpan();

// A span timed by its scope on one thread. While alive it is the thread's current span: its
// log lines carry its ids, and a ScopedSpan made without an explicit parent is its child.
class ScopedSpan {
 public:
  enum class Origin {
    kChildOnly,     // recorded only inside a current span (or under `parent`)
    kMayStartTrace  // without a parent, a new trace sampled by the ratio
  };
  ScopedSpan(std::string_view name, const SpanContext* parent, Origin origin,
             SpanKind kind = SpanKind::kInternal);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  bool recording() const { return recording_; }
  const SpanContext& context() const { return data_.context; }
  void SetAttribute(std::string_view key, std::string value);
  void SetAttribute(std::string_view key, int64_t value);

 private:
  bool recording_ = false;
  SpanData data_;
  const SpanContext* previous_ = nullptr;
  const LogTraceContext* previous_log_ = nullptr;
  LogTraceContext log_;
};

}  // namespace sv::trace
