#pragma once
// A small thread-safe metrics registry rendered in the Prometheus text format 0.0.4 (Debian has
// no prometheus-cpp). Hot paths only touch atomics; the registry lock is taken to create a child
// and to render, so callers look a metric up once and cache the pointer.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sv::metrics {

// Label name/value pairs. Order does not matter: the registry sorts them by name, so
// {a,b} and {b,a} name the same child.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic. Inc with a negative or NaN amount is ignored: a counter that goes down would read
// as a reset to rate().
class Counter {
 public:
  void Inc(double v = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed buckets chosen at creation. Counts are kept per bucket (not cumulative) so Observe is
// one increment; Render accumulates them and derives _count from them, so _count always equals
// the +Inf bucket even when a scrape races with Observe.
class Histogram {
 public:
  void Observe(double v);

 private:
  friend class Registry;
  // `bounds`: finite, strictly increasing (the registry checks); +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  const std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // bounds_.size() + 1 (+Inf last); never resized
  std::atomic<double> sum_{0};
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The first call for `name` creates the family with this help and type; later calls return the
  // same pointer for the same label set (pointers stay valid for the registry's lifetime; the
  // later help is ignored). Returns nullptr, a programming error, if `name` already has another
  // type, if a metric or label name breaks the Prometheus grammar, or if a label name repeats.
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // Creates the gauge family with no series yet (rendered as its HELP and TYPE alone), for a
  // family whose series come and go with the state (per organization); false on misuse.
  bool DeclareGauge(std::string_view name, std::string_view help);
  // Also nullptr if `bounds` are not finite and strictly increasing (a trailing +Inf is
  // dropped), if they differ from the family's first bounds, or if a label is named "le".
  Histogram* GetHistogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                          const Labels& labels = {});

  // `fn` runs at the start of every Render (never two renders at once), so gauges derived from
  // state (lag, staleness) are fresh at scrape time. It may call Get*/Set but not Render.
  void AddCollector(std::function<void(Registry&)> fn);

  // Text exposition 0.0.4: families sorted by name, children by labels.
  std::string Render();
  std::vector<std::string> FamilyNames() const;

  // Request latencies in seconds, 0.5 ms .. 10 s.
  static std::vector<double> DefaultLatencyBuckets();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  // Exactly one member is set, matching the family's type.
  struct Child {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family;
  // Finds or creates the child for `labels`; `bounds` only for histograms. nullptr on misuse.
  Child* GetChild(std::string_view name, std::string_view help, Type type, Labels labels,
                  std::vector<double> bounds);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(Registry&)>> collectors_ ABSL_GUARDED_BY(mu_);
  absl::Mutex render_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serializes collectors across scrapes
};

}  // namespace sv::metrics
