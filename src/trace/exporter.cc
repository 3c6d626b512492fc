// The exporter: a bounded queue of finished spans and one thread that sends them in batches as
// OTLP/HTTP JSON (POST {endpoint}/v1/traces) through Boost.Beast. A failed request is counted
// and its spans dropped: traces are best effort, the engine never waits for them.

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"

namespace sv::trace {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

struct Endpoint {
  std::string host;
  std::string port = "80";
  std::string target;  // {path}/v1/traces
};

absl::Status ParseEndpoint(const std::string& url, Endpoint* out) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tracing endpoint must start with http://: '", url, "'"));
  }
  std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  rest = rest.substr(0, slash);
  const size_t colon = rest.rfind(':');
  out->host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    out->port = rest.substr(colon + 1);
    int port = 0;
    if (!absl::SimpleAtoi(out->port, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("tracing endpoint has a bad port: '", url, "'"));
    }
  }
  if (out->host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tracing endpoint has no host: '", url, "'"));
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  out->target = path + "/v1/traces";
  return absl::OkStatus();
}

void AppendString(std::string_view s, std::string* out) {
  *out += '"';
  *out += JsonEscape(s);
  *out += '"';
}

void AppendAttribute(const Attribute& a, std::string* out) {
  *out += "{\"key\":";
  AppendString(a.key, out);
  if (const auto* text = std::get_if<std::string>(&a.value)) {
    *out += ",\"value\":{\"stringValue\":";
    AppendString(*text, out);
  } else {
    // OTLP JSON writes 64-bit integers as strings.
    absl::StrAppend(out, ",\"value\":{\"intValue\":\"", std::get<int64_t>(a.value), "\"");
  }
  *out += "}}";
}

// The OTLP JSON mapping of ExportTraceServiceRequest (ids as hex, times as decimal strings).
std::string Encode(const std::string& service, const std::vector<SpanData>& spans) {
  std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  AppendAttribute({"service.name", service}, &out);
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"streamview\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanData& s = spans[i];
    if (i > 0) out += ',';
    absl::StrAppend(&out, "{\"traceId\":\"", Hex(s.context.trace_id), "\",\"spanId\":\"",
                    Hex(s.context.span_id), "\"");
    if (std::any_of(s.parent_span_id.begin(), s.parent_span_id.end(),
                    [](uint8_t b) { return b != 0; })) {
      absl::StrAppend(&out, ",\"parentSpanId\":\"", Hex(s.parent_span_id), "\"");
    }
    out += ",\"name\":";
    AppendString(s.name, &out);
    absl::StrAppend(&out, ",\"kind\":", static_cast<int>(s.kind), ",\"startTimeUnixNano\":\"",
                    s.start_ns, "\",\"endTimeUnixNano\":\"", s.end_ns, "\",\"attributes\":[");
    for (size_t a = 0; a < s.attributes.size(); ++a) {
      if (a > 0) out += ',';
      AppendAttribute(s.attributes[a], &out);
    }
    out += "]}";
  }
  out += "]}]}]}";
  return out;
}

class Exporter {
 public:
  Exporter(Options options, Endpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Exporter() { Stop(2000); }

  void Add(SpanData span) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= options_.queue_spans) {
        ++counters_.dropped;
        return;
      }
      queue_.push_back(std::move(span));
      if (queue_.size() < options_.batch_size) return;
    }
    wake_.notify_one();
  }

  void Stop(int wait_ms) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  Counters Stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
  }

  double sample_ratio() const { return options_.sample_ratio; }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait_for(lock, std::chrono::milliseconds(options_.flush_ms),
                     [this] { return stopping_ || queue_.size() >= options_.batch_size; });
      if (stopping_ && (queue_.empty() || std::chrono::steady_clock::now() > stop_deadline_)) {
        return;
      }
      while (!queue_.empty()) {
        std::vector<SpanData> batch;
        while (!queue_.empty() && batch.size() < options_.batch_size) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        lock.unlock();
        const bool sent = Send(batch);
        lock.lock();
        (sent ? counters_.exported : counters_.failed) += batch.size();
        if (!stopping_ && queue_.size() < options_.batch_size) break;
        if (stopping_ && std::chrono::steady_clock::now() > stop_deadline_) return;
      }
    }
  }

  bool Send(const std::vector<SpanData>& batch) {
    try {
      asio::io_context ioc;
      asio::ip::tcp::resolver resolver(ioc);
      beast::tcp_stream stream(ioc);
      stream.expires_after(std::chrono::seconds(5));
      stream.connect(resolver.resolve(endpoint_.host, endpoint_.port));
      bhttp::request<bhttp::string_body> request(bhttp::verb::post, endpoint_.target, 11);
      request.set(bhttp::field::host, endpoint_.host);
      request.set(bhttp::field::content_type, "application/json");
      request.body() = Encode(options_.service_name, batch);
      request.prepare_payload();
      bhttp::write(stream, request);
      beast::flat_buffer buffer;
      bhttp::response<bhttp::string_body> response;
      bhttp::read(stream, buffer, response);
      beast::error_code ignored;
      stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      if (response.result_int() / 100 == 2) return true;
      Warn(absl::StrCat("HTTP ", response.result_int()));
    } catch (const std::exception& e) {
      Warn(e.what());
    }
    return false;
  }

  // One line per run of failures, not one per batch.
  void Warn(const std::string& why) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ < std::chrono::seconds(60)) return;
    last_warning_ = now;
    LogJson("warn", "trace export failed", {{"endpoint", options_.endpoint}, {"error", why}});
  }

  const Options options_;
  const Endpoint endpoint_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<SpanData> queue_;
  Counters counters_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  std::chrono::steady_clock::time_point last_warning_{};
  std::thread thread_;
};

std::mutex exporter_mu;
std::shared_ptr<Exporter> exporter;  // set by Start; read under exporter_mu

std::shared_ptr<Exporter> Current() {
  std::lock_guard<std::mutex> lock(exporter_mu);
  return exporter;
}

}  // namespace

namespace internal {
double SampleRatio() {
  std::shared_ptr<Exporter> e = Current();
  return e == nullptr ? 0 : e->sample_ratio();
}
}  // namespace internal

absl::Status Start(const Options& options) {
  Endpoint endpoint;
  if (absl::Status s = ParseEndpoint(options.endpoint, &endpoint); !s.ok()) return s;
  Options checked = options;
  checked.batch_size = std::max<size_t>(1, checked.batch_size);
  checked.queue_spans = std::max(checked.queue_spans, checked.batch_size);
  checked.flush_ms = std::max(1, checked.flush_ms);
  Shutdown(0);
  {
    std::lock_guard<std::mutex> lock(exporter_mu);
    exporter = std::make_shared<Exporter>(std::move(checked), std::move(endpoint));
  }
  internal::enabled.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

Counters Shutdown(int wait_ms) {
  internal::enabled.store(false, std::memory_order_relaxed);
  std::shared_ptr<Exporter> e;
  {
    std::lock_guard<std::mutex> lock(exporter_mu);
    e.swap(exporter);
  }
  if (e == nullptr) return {};
  e->Stop(wait_ms);
  return e->Stats();
}

void Export(SpanData span) {
  if (std::shared_ptr<Exporter> e = Current(); e != nullptr) e->Add(std::move(span));
}

Counters Stats() {
  std::shared_ptr<Exporter> e = Current();
  return e == nullptr ? Counters{} : e->Stats();
}

}  // namespace sv::trace
