#include "server/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "trace/trace.h"

namespace sv::server::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Route {
  std::string method;
  std::string pattern_text;  // the route as registered, for traces
  std::regex pattern;
  RouteOptions options;
  Handler handler;
};

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Session;

struct HttpServer::State {
  Limits limits;
  Hooks hooks;
  std::vector<Route> routes;

  // The registry of open connections (for the cap and for Stop), guarded by mu. Declared
  // before the io_context so that sessions destroyed with it still find them.
  std::mutex mu;
  std::condition_variable all_closed;
  std::list<Session*> sessions;  // oldest first
  int64_t closing = 0;           // sessions told to close, still in `sessions`
  bool stopping = false;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::thread_pool> workers;
  std::optional<asio::thread_pool> probes;  // one thread
  std::vector<std::thread> io_threads;
  bool stopped = false;

  void Accept();
  // Closes the oldest session waiting for a request head; false when none is.
  bool EvictOldestIdle();
};

// One connection: reads a head, checks it, reads the body, runs the handler, writes the
// answer, and only then reads the next request (so pipelined requests are answered in order).
// Every step runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::State* state)
      : stream_(std::move(socket)), state_(state) {}

  ~Session() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->sessions.erase(position_);
    if (closing_) --state_->closing;
    if (state_->sessions.empty()) state_->all_closed.notify_all();
  }

  void Register() { position_ = std::prev(state_->sessions.end()); }  // under state_->mu

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->AwaitRequest(); });
  }

  // Under state_->mu.
  bool awaiting_head() const { return awaiting_head_.load() && !closing_; }
  // Under state_->mu: ends a live stream with its last chunk (Stop).
  void EndStreamLocked() {
    if (!streaming_) return;
    asio::post(stream_.get_executor(), [self = weak_from_this()] {
      if (auto s = self.lock()) {
        s->ending_ = true;
        s->Pump();
      }
    });
  }
  void CloseLocked() {
    closing_ = true;
    ++state_->closing;
    asio::post(stream_.get_executor(), [self = weak_from_this()] {
      if (auto s = self.lock()) s->stream_.close();
    });
  }

 private:
  void AwaitRequest() {
    awaiting_head_ = true;
    if (buffer_.size() > 0) return ReadHead();  // a pipelined request is already here
    // A fresh connection gets the header deadline for its first byte too; a kept-alive one
    // may idle longer.
    stream_.expires_after(std::chrono::milliseconds(served_ == 0 ? state_->limits.header_timeout_ms
                                                                 : state_->limits.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->Shutdown();
                              self->ReadHead();
                            });
  }

  void ReadHead() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(state_->limits.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(state_->limits.max_body_bytes));
    stream_.expires_after(std::chrono::milliseconds(state_->limits.header_timeout_ms));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
  }

  void OnHead(beast::error_code ec) {
    awaiting_head_ = false;
    start_us_ = NowMicros();
    req_ = Request();
    res_ = Response();
    route_ = nullptr;
    if (ec == bhttp::error::body_limit)
      return Refuse(413, "the body exceeds server.max_body_bytes");
    if (ec == bhttp::error::header_limit) return Refuse(431, "the request head is too large");
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      return Shutdown();
    }
    if (ec) return Refuse(400, absl::StrCat("malformed request: ", ec.message()));

    const auto& head = parser_->get();
    req_.method = std::string(head.method_string());
    req_.target = std::string(head.target());
    for (const auto& field : head) {
      req_.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    SplitTarget(req_);
    keep_alive_ = head.keep_alive();

    bool path_known = false;
    for (const Route& r : state_->routes) {
      if (!std::regex_match(req_.path, req_.matches, r.pattern)) continue;
      path_known = true;
      if (r.method != req_.method) continue;
      route_ = &r;
      break;
    }
    if (route_ == nullptr) {
      return Refuse(path_known ? 405 : 404, path_known ? "method not allowed" : "no such route");
    }
    if ((route_->options.needs_token && !state_->hooks.authorize(req_, res_)) ||
        (route_->options.needs_caller && !state_->hooks.authorize_caller(req_, res_))) {
      return Respond(/*close=*/!parser_->is_done());
    }
    if (parser_->is_done()) return Dispatch();
    if (req_.get_header_value("Expect") == "100-continue") {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(std::chrono::milliseconds(state_->limits.header_timeout_ms));
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->Shutdown();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  // The body arrives in pieces; each must come within the header deadline of the last.
  void ReadBody() {
    stream_.expires_after(std::chrono::milliseconds(state_->limits.header_timeout_ms));
    bhttp::async_read_some(
        stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec == bhttp::error::body_limit) {
            return self->Refuse(413, "the body exceeds server.max_body_bytes");
          }
          if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
              ec == beast::error::timeout || ec == asio::error::operation_aborted) {
            return self->Shutdown();
          }
          if (ec) {
            return self->Refuse(400, absl::StrCat("malformed request body: ", ec.message()));
          }
          if (!self->parser_->is_done()) return self->ReadBody();
          self->Dispatch();
        });
  }

  void Dispatch() {
    req_.body = std::move(parser_->get().body());
    if (route_->options.runs == Runs::kOnIoThread) {
      RunHandler();
      return Respond(false);
    }
    asio::thread_pool& pool =
        route_->options.runs == Runs::kOnProbeThread ? *state_->probes : *state_->workers;
    asio::post(pool, [self = shared_from_this()] {
      self->RunHandler();
      asio::post(self->stream_.get_executor(), [self] { self->Respond(false); });
    });
  }

  void RunHandler() {
    // A request is traced under its `traceparent` when sampled, else as a new trace by the
    // ratio; a malformed one is ignored (a new trace), never an error.
    std::optional<trace::SpanContext> incoming;
    if (trace::Enabled()) {
      incoming = trace::ParseTraceparent(req_.get_header_value(trace::kTraceparentHeader));
    }
    // Probes, polled every few seconds, start no trace of their own.
    const auto origin = route_->options.runs == Runs::kOnProbeThread
                            ? trace::ScopedSpan::Origin::kChildOnly
                            : trace::ScopedSpan::Origin::kMayStartTrace;
    trace::ScopedSpan span("http.request", incoming ? &*incoming : nullptr, origin,
                           trace::SpanKind::kServer);
    RunRoute();
    if (span.recording()) {
      span.SetAttribute("http.request.method", req_.method);
      span.SetAttribute("http.route", route_->pattern_text);
      span.SetAttribute("url.path", req_.path);
      span.SetAttribute("http.response.status_code", int64_t{res_.status});
      res_.set_header("traceresponse", trace::FormatTraceparent(span.context()));
    }
  }

  void RunRoute() {
    try {
      route_->handler(req_, res_);
    } catch (const std::exception& e) {
      res_ = Response();
      state_->hooks.reply_error(res_, 500, e.what());
    } catch (...) {
      res_ = Response();
      state_->hooks.reply_error(res_, 500, "internal error");
    }
  }

  // Answers an error the layer found itself and closes: the rest of the request is unread.
  void Refuse(int status, std::string_view message) {
    state_->hooks.reply_error(res_, status, message);
    Respond(/*close=*/true);
  }

  // Closing with unread request bytes makes the kernel send a reset, which can destroy the
  // answer before the client reads it. So the server stops sending and discards what still
  // arrives, for a bounded time, before it closes (a "lingering close").
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    drain_.resize(size_t{16} * 1024);
    Drain();
  }
  void Drain() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->stream_.close();
                              self->Drain();
                            });
  }
  static constexpr int64_t kLingerMs = 2'000;

  void Respond(bool close) {
    if (res_.stream != nullptr && !close) return StartStream();
    res_.stream.reset();
    const bool unread = close && parser_.has_value() && !parser_->is_done();
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      stopping = state_->stopping || closing_;
    }
    close = close || !keep_alive_ || stopping;
    out_ = {};
    out_.version(11);
    out_.result(static_cast<unsigned>(res_.status));
    for (const auto& [name, value] : res_.headers) out_.set(name, value);
    if (!res_.content_type.empty()) out_.set(bhttp::field::content_type, res_.content_type);
    out_.body() = std::move(res_.body);
    out_.keep_alive(!close);
    out_.prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(state_->limits.idle_timeout_ms));
    bhttp::async_write(
        stream_, out_, [self = shared_from_this(), close, unread](beast::error_code ec, size_t) {
          self->res_.body.clear();
          if (self->state_->hooks.log) {
            const double seconds = static_cast<double>(NowMicros() - self->start_us_) / 1e6;
            self->state_->hooks.log(self->req_, self->res_, seconds);
          }
          self->route_ = nullptr;
          ++self->served_;
          if (!ec && unread) return self->Linger();
          if (ec || close) return self->Shutdown();
          self->AwaitRequest();
        });
  }

  // A streamed response: the head (chunked), then chunks as the body has them. No deadline
  // while idle (heartbeats instead); each write must finish within idle_timeout_ms. A read stays
  // pending to notice the client going away.
  void StartStream() {
    body_ = std::move(res_.stream);
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      streaming_ = true;
      ending_ = state_->stopping || closing_;
    }
    stream_head_ = {};
    stream_head_.version(11);
    stream_head_.result(static_cast<unsigned>(res_.status));
    for (const auto& [name, value] : res_.headers) stream_head_.set(name, value);
    if (!res_.content_type.empty()) {
      stream_head_.set(bhttp::field::content_type, res_.content_type);
    }
    stream_head_.keep_alive(false);
    stream_head_.chunked(true);
    serializer_.emplace(stream_head_);
    writing_ = true;
    stream_.expires_after(std::chrono::milliseconds(state_->limits.idle_timeout_ms));
    bhttp::async_write_header(stream_, *serializer_,
                              [self = shared_from_this()](beast::error_code ec, size_t) {
                                self->writing_ = false;
                                if (ec) return self->EndStream();
                                self->stream_.expires_never();
                                self->WatchPeer();
                                self->body_->Start([weak = self->weak_from_this()] {
                                  if (auto s = weak.lock()) {
                                    asio::post(s->stream_.get_executor(), [s] { s->Pump(); });
                                  }
                                });
                                self->Pump();
                              });
  }

  void WatchPeer() {
    drain_.resize(512);
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code, size_t) {
                              // Data or not, the client is done with this stream.
                              self->EndStream();
                            });
  }

  // Writes what the body has, or waits for a wake or the heartbeat.
  void Pump() {
    if (writing_ || stream_done_ || body_ == nullptr) return;
    std::string out;
    const bool more = !ending_ && body_->Pull(&out);
    if (out.empty() && more) {
      heartbeat_.expires_after(std::chrono::milliseconds(state_->limits.stream_heartbeat_ms));
      heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->writing_ || self->stream_done_) return;
        self->WriteChunk(self->body_->Heartbeat(), true);
      });
      return;
    }
    WriteChunk(std::move(out), more);
  }

  void WriteChunk(std::string data, bool more) {
    heartbeat_.cancel();
    writing_ = true;
    chunk_ = std::move(data);
    stream_.expires_after(std::chrono::milliseconds(state_->limits.idle_timeout_ms));
    auto done = [self = shared_from_this(), more](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec || !more) return self->EndStream();
      self->Pump();
    };
    if (!more && chunk_.empty()) {
      return asio::async_write(stream_, bhttp::make_chunk_last(), std::move(done));
    }
    if (!more) {
      return asio::async_write(stream_, bhttp::make_chunk(asio::buffer(chunk_)),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 self->writing_ = false;
                                 if (ec) return self->EndStream();
                                 self->WriteChunk("", false);
                               });
    }
    asio::async_write(stream_, bhttp::make_chunk(asio::buffer(chunk_)), std::move(done));
  }

  void EndStream() {
    if (stream_done_) return;
    stream_done_ = true;
    heartbeat_.cancel();
    if (body_ != nullptr) body_->Cancel();
    if (state_->hooks.log) {
      const double seconds = static_cast<double>(NowMicros() - start_us_) / 1e6;
      state_->hooks.log(req_, res_, seconds);
    }
    Shutdown();
  }

  void Shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::State* state_;
  std::list<Session*>::iterator position_;
  bool closing_ = false;  // under state_->mu
  std::atomic<bool> awaiting_head_{true};
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request req_;
  Response res_;
  const Route* route_ = nullptr;
  bool keep_alive_ = false;
  int64_t served_ = 0;
  int64_t start_us_ = 0;
  bhttp::response<bhttp::string_body> out_;
  std::vector<char> drain_;  // Linger's (or a stream's peer watch) buffer, allocated only then
  // A streamed response (StartStream).
  bool streaming_ = false;  // under state_->mu
  std::shared_ptr<StreamBody> body_;
  bhttp::response<bhttp::empty_body> stream_head_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  asio::steady_timer heartbeat_{stream_.get_executor()};
  std::string chunk_;
  bool writing_ = false;
  bool ending_ = false;
  bool stream_done_ = false;
};

bool HttpServer::State::EvictOldestIdle() {
  for (Session* s : sessions) {
    if (s->awaiting_head()) {
      s->CloseLocked();
      return true;
    }
  }
  return false;
}

void HttpServer::State::Accept() {
  acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      // Responses are small and written in pieces: without NODELAY, Nagle + delayed ACK add
      // 40 ms.
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), this);
      bool admitted = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        const auto open = static_cast<int64_t>(sessions.size()) - closing;
        admitted = !stopping && (open < limits.max_connections || EvictOldestIdle());
        sessions.push_back(session.get());
        session->Register();
      }
      if (admitted) session->Start();  // else dropped here: every connection is busy
    }
    Accept();
  });
}

HttpServer::HttpServer(Limits limits, Hooks hooks) : state_(std::make_shared<State>()) {
  state_->limits = limits;
  state_->hooks = std::move(hooks);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, RouteOptions options, Handler handler) {
  state_->routes.push_back({"GET", pattern, std::regex(pattern), options, std::move(handler)});
}

void HttpServer::Post(const std::string& pattern, RouteOptions options, Handler handler) {
  state_->routes.push_back({"POST", pattern, std::regex(pattern), options, std::move(handler)});
}

void HttpServer::Put(const std::string& pattern, RouteOptions options, Handler handler) {
  state_->routes.push_back({"PUT", pattern, std::regex(pattern), options, std::move(handler)});
}

void HttpServer::Delete(const std::string& pattern, RouteOptions options, Handler handler) {
  state_->routes.push_back({"DELETE", pattern, std::regex(pattern), options, std::move(handler)});
}

absl::StatusOr<int> HttpServer::Listen(const std::string& host, int port) {
  State& s = *state_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", host));
  s.acceptor.emplace(s.ioc);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": ", ec.message()));
  }
  const int bound = s.acceptor->local_endpoint().port();
  s.workers.emplace(static_cast<size_t>(s.limits.worker_threads));
  s.probes.emplace(1);
  s.work.emplace(s.ioc.get_executor());
  s.Accept();
  for (int i = 0; i < s.limits.io_threads; ++i) {
    s.io_threads.emplace_back([&s] { s.ioc.run(); });
  }
  return bound;
}

void HttpServer::Stop() {
  State& s = *state_;
  if (s.stopped || !s.acceptor) return;
  s.stopped = true;
  asio::post(s.ioc, [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
  });
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.stopping = true;
    while (s.EvictOldestIdle()) {
    }
    for (Session* session : s.sessions) session->EndStreamLocked();
    // Requests in flight finish and then close (Respond sees `stopping`); bounded, since a
    // handler may wait for the engine.
    s.all_closed.wait_for(lock, std::chrono::seconds(5), [&s] { return s.sessions.empty(); });
  }
  s.workers->join();
  s.probes->join();
  s.work.reset();
  s.ioc.stop();
  for (std::thread& t : s.io_threads) t.join();
}

}  // namespace sv::server::http
