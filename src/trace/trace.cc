// Contexts, sampling and scoped spans; the exporter is in exporter.cc.

#include "trace/trace.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "trace/trace_internal.h"

namespace sv::trace {
namespace {

thread_local const SpanContext* current_span = nullptr;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not allowed by the W3C grammar
}

template <size_t N>
bool ParseHex(std::string_view text, std::array<uint8_t, N>* out) {
  if (text.size() != 2 * N) return false;
  bool any = false;
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexDigit(text[2 * i]);
    const int lo = HexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
    any = any || (*out)[i] != 0;
  }
  return any;  // all zeros is an invalid id
}

template <size_t N>
void AppendHex(const std::array<uint8_t, N>& id, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 15];
  }
  out[2 * N] = '\0';
}

// Ids from a per-thread generator seeded by the OS's entropy: unpredictable across processes
// and restarts, and no lock on the hot path.
std::mt19937_64& Random() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return generator;
}

template <size_t N>
void FillRandom(std::array<uint8_t, N>* id) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = Random()();
      std::memcpy(id->data() + i, &r, std::min<size_t>(8, N - i));
    }
  } while (std::all_of(id->begin(), id->end(), [](uint8_t b) { return b == 0; }));
}

}  // namespace

namespace internal {
std::atomic<bool> enabled{false};
}

std::optional<SpanContext> ParseTraceparent(std::string_view value) {
  // 00-{trace id}-{span id}-{flags}: 2+1+32+1+16+1+2 = 55 characters exactly for version 00.
  if (value.size() != 55 || value.substr(0, 3) != "00-" || value[35] != '-' || value[52] != '-') {
    return std::nullopt;
  }
  SpanContext context;
  if (!ParseHex(value.substr(3, 32), &context.trace_id)) return std::nullopt;
  if (!ParseHex(value.substr(36, 16), &context.span_id)) return std::nullopt;
  const int hi = HexDigit(value[53]);
  const int lo = HexDigit(value[54]);
  if (hi < 0 || lo < 0) return std::nullopt;
  context.sampled = (lo & 1) != 0;
  return context;
}

std::string FormatTraceparent(const SpanContext& context) {
  char trace[33];
  char span[17];
  AppendHex(context.trace_id, trace);
  AppendHex(context.span_id, span);
  return std::string("00-") + trace + "-" + span + (context.sampled ? "-01" : "-00");
}

std::string Hex(const TraceId& id) {
  char out[33];
  AppendHex(id, out);
  return out;
}

std::string Hex(const SpanId& id) {
  char out[17];
  AppendHex(id, out);
  return out;
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<SpanContext> NewSpan(const SpanContext* parent) {
  if (!Enabled()) return std::nullopt;
  if (parent != nullptr) {
    if (!parent->sampled) return std::nullopt;
    return ChildOf(*parent);
  }
  const double ratio = internal::SampleRatio();
  if (ratio <= 0) return std::nullopt;
  if (ratio < 1 && std::uniform_real_distribution<double>(0, 1)(Random()) >= ratio) {
    return std::nullopt;
  }
  SpanContext context;
  FillRandom(&context.trace_id);
  FillRandom(&context.span_id);
  context.sampled = true;
  return context;
}

SpanContext ChildOf(const SpanContext& parent) {
  SpanContext context = parent;
  FillRandom(&context.span_id);
  return context;
}

const SpanContext* CurrentSpan() { return current_span; }

ScopedSpan::ScopedSpan(std::string_view name, const SpanContext* parent, Origin origin,
                       SpanKind kind) {
  if (!Enabled()) return;
  if (parent == nullptr) parent = current_span;
  if (parent == nullptr && origin == Origin::kChildOnly) return;
  std::optional<SpanContext> context = NewSpan(parent);
  if (!context) return;
  recording_ = true;
  data_.name = name;
  data_.context = *context;
  if (parent != nullptr) data_.parent_span_id = parent->span_id;
  data_.kind = kind;
  data_.start_ns = NowNanos();
  AppendHex(data_.context.trace_id, log_.trace_id);
  AppendHex(data_.context.span_id, log_.span_id);
  previous_ = current_span;
  current_span = &data_.context;
  previous_log_ = ExchangeLogTraceContext(&log_);
}

ScopedSpan::~ScopedSpan() {
  if (!recording_) return;
  current_span = previous_;
  ExchangeLogTraceContext(previous_log_);
  data_.end_ns = NowNanos();
  Export(std::move(data_));
}

void ScopedSpan::SetAttribute(std::string_view key, std::string value) {
  if (recording_) data_.attributes.push_back({std::string(key), std::move(value)});
}

void ScopedSpan::SetAttribute(std::string_view key, int64_t value) {
  if (recording_) data_.attributes.push_back({std::string(key), value});
}

}  // namespace sv::trace
