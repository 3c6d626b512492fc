#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace sv::metrics {
namespace {

static_assert(std::atomic<double>::is_always_lock_free, "hot paths must not take a lock");

constexpr double kInf = std::numeric_limits<double>::infinity();

// absl::StrAppend would be natural, but this abseil build's string_view is not std's.
template <typename... Parts>
void Append(std::string* out, const Parts&... parts) {
  (out->append(parts), ...);
}

bool ValidName(std::string_view name, bool allow_colon) {
  auto first = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (allow_colon && c == ':');
  };
  if (name.empty() || !first(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

// Integers print plainly ("42", not "4.2e+01"); the rest uses the shortest text that reads back
// as the same double.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 0x1p53) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

// Help escapes backslash and newline; label values also escape the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `a="x",b="y"`, without braces, so a histogram can append its le label.
std::string LabelBody(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    Append(&out, out.empty() ? "" : ",", name, "=\"", Escape(value, true), "\"");
  }
  return out;
}

void AppendSample(std::string* out, std::string_view name, std::string_view suffix,
                  std::string_view label_body, std::string_view value) {
  Append(out, name, suffix);
  if (!label_body.empty()) Append(out, "{", label_body, "}");
  Append(out, " ", value, "\n");
}

}  // namespace

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // also rejects NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double v) {
  // lower_bound gives the first bound >= v, i.e. the "le" bucket. NaN compares false with every
  // bound and would land in the first bucket; it belongs in +Inf.
  size_t i = std::isnan(v) ? bounds_.size()
                           : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

struct Registry::Family {
  Type type;
  std::string help;
  std::vector<double> bounds;
  std::map<Labels, Child> children;  // std::map: sorted output, and nodes never move
};

Registry::Registry() = default;
Registry::~Registry() = default;

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  Child* child = GetChild(name, help, Type::kCounter, labels, {});
  return child ? child->counter.get() : nullptr;
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  Child* child = GetChild(name, help, Type::kGauge, labels, {});
  return child ? child->gauge.get() : nullptr;
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds, const Labels& labels) {
  if (!bounds.empty() && bounds.back() == kInf) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) return nullptr;
  }
  for (const auto& label : labels) {
    if (label.first == "le") return nullptr;  // reserved for the bucket bound
  }
  Child* child = GetChild(name, help, Type::kHistogram, labels, std::move(bounds));
  return child ? child->histogram.get() : nullptr;
}

Registry::Child* Registry::GetChild(std::string_view name, std::string_view help, Type type,
                                    Labels labels, std::vector<double> bounds) {
  if (!ValidName(name, /*allow_colon=*/true)) return nullptr;
  std::sort(labels.begin(), labels.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!ValidName(labels[i].first, /*allow_colon=*/false)) return nullptr;
    if (i > 0 && labels[i - 1].first == labels[i].first) return nullptr;
  }

  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>(Family{type, std::string(help), bounds, {}});
    it = families_.emplace(std::string(name), std::move(family)).first;
  }
  Family& family = *it->second;
  if (family.type != type || family.bounds != bounds) return nullptr;

  auto [child_it, inserted] = family.children.try_emplace(std::move(labels));
  Child& child = child_it->second;
  if (inserted) {
    switch (type) {
      case Type::kCounter:
        child.counter = std::make_unique<Counter>();
        break;
      case Type::kGauge:
        child.gauge = std::make_unique<Gauge>();
        break;
      case Type::kHistogram:
        child.histogram.reset(new Histogram(family.bounds));  // private constructor
        break;
    }
  }
  return &child;
}

bool Registry::DeclareGauge(std::string_view name, std::string_view help) {
  if (!ValidName(name, /*allow_colon=*/true)) return false;
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>(Family{Type::kGauge, std::string(help), {}, {}});
    it = families_.emplace(std::string(name), std::move(family)).first;
  }
  return it->second->type == Type::kGauge;
}

void Registry::AddCollector(std::function<void(Registry&)> fn) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::Render() {
  absl::MutexLock render_lock(&render_mu_);
  // Collectors call Get*, which takes mu_, so they run on a copy with mu_ released.
  std::vector<std::function<void(Registry&)>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const auto& fn : collectors) fn(*this);

  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};
    Append(&out, "# HELP ", name, " ", Escape(family->help, false), "\n# TYPE ", name, " ",
           kTypeNames[static_cast<int>(family->type)], "\n");
    for (const auto& [labels, child] : family->children) {
      std::string body = LabelBody(labels);
      switch (family->type) {
        case Type::kCounter:
          AppendSample(&out, name, "", body, FormatValue(child.counter->Value()));
          break;
        case Type::kGauge:
          AppendSample(&out, name, "", body, FormatValue(child.gauge->Value()));
          break;
        case Type::kHistogram: {
          const Histogram& h = *child.histogram;
          std::string prefix = body.empty() ? "le=\"" : body + ",le=\"";
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= h.bounds_.size(); ++i) {
            cumulative += h.counts_[i].load(std::memory_order_relaxed);
            double bound = i < h.bounds_.size() ? h.bounds_[i] : kInf;
            AppendSample(&out, name, "_bucket", prefix + FormatValue(bound) + "\"",
                         std::to_string(cumulative));
          }
          AppendSample(&out, name, "_sum", body,
                       FormatValue(h.sum_.load(std::memory_order_relaxed)));
          AppendSample(&out, name, "_count", body, std::to_string(cumulative));
          break;
        }
      }
    }
  }
  return out;
}

std::vector<std::string> Registry::FamilyNames() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& entry : families_) names.push_back(entry.first);
  return names;
}

std::vector<double> Registry::DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace sv::metrics
