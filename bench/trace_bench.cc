// A span's cost (issue 21, traces): a scoped span started and ended with tracing off (the
// engine's and server's default), on but not sampled (ratio 0, no parent), and on and recorded
// (a sampled parent; the span is queued for the exporter, which sends to a port nobody listens
// on, so the queue fills and the rest are dropped: the enqueue-or-drop cost is what is timed).

#include <benchmark/benchmark.h>

#include "trace/trace.h"

namespace {

const sv::trace::SpanContext kParent =
    *sv::trace::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

void BM_SpanTracingOff(benchmark::State& state) {
  sv::trace::Shutdown(0);
  for (auto _ : state) {
    sv::trace::ScopedSpan span("apply", &kParent, sv::trace::ScopedSpan::Origin::kMayStartTrace);
    benchmark::DoNotOptimize(span.recording());
  }
}
BENCHMARK(BM_SpanTracingOff);

void StartTracing(double ratio) {
  sv::trace::Options options;
  options.endpoint = "http://127.0.0.1:1";
  options.sample_ratio = ratio;
  options.flush_ms = 1000;
  options.queue_spans = 65536;
  (void)sv::trace::Start(options);
}

void BM_SpanOnNotSampled(benchmark::State& state) {
  StartTracing(0);
  for (auto _ : state) {
    sv::trace::ScopedSpan span("poll", nullptr, sv::trace::ScopedSpan::Origin::kMayStartTrace);
    benchmark::DoNotOptimize(span.recording());
  }
  sv::trace::Shutdown(0);
}
BENCHMARK(BM_SpanOnNotSampled);

void BM_SpanOnRecorded(benchmark::State& state) {
  StartTracing(1);
  for (auto _ : state) {
    sv::trace::ScopedSpan span("apply", &kParent, sv::trace::ScopedSpan::Origin::kChildOnly);
    span.SetAttribute("sv.offset", int64_t{42});
    benchmark::DoNotOptimize(span.recording());
  }
  const sv::trace::Counters counters = sv::trace::Shutdown(0);
  state.counters["dropped"] = static_cast<double>(counters.dropped);
}
BENCHMARK(BM_SpanOnRecorded);

}  // namespace
