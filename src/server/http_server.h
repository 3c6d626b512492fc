#pragma once
// A small HTTP/1.1 server on Boost.Beast and Asio, built to stay up whatever clients do.
//
// Why not a thread per connection (cpp-httplib, before): a slow or idle client held a worker,
// so 8 of them stopped every request, the probes included, and chunked bodies were buffered
// whole before any check. Here a few I/O threads multiplex every connection asynchronously and
// hold these limits:
// - a request's line and headers must arrive within header_timeout_ms, and a keep-alive
//   connection may wait idle_timeout_ms for its next request;
// - at most max_connections are open: a new one closes the oldest connection still waiting
//   for a request head (idle or slow), so a flood of idle connects cannot lock clients out;
// - bodies are limited to max_body_bytes while they arrive (Content-Length is refused from the
//   header, chunked bodies at the limit), and a route that needs a token is checked on the
//   head, before one byte of its body is read;
// - handlers that may block (store reads, appends, engine commands) run on a pool of worker
//   threads; the probes are answered without waiting for it: on the I/O threads when they
//   cannot block, else on a probe thread of their own (a store that hangs must not stall I/O);
// - a connection reads its next request only after answering the current one, so pipelined
//   requests are answered in order;
// - a handler may answer with a stream (Response::stream, Server-Sent Events): the head goes
//   out with chunked encoding, then the body as the stream has it. A live stream has no header
//   or idle deadline (it sends heartbeats instead), is never the connection the cap closes, and
//   ends when the client goes away, when one write cannot finish within idle_timeout_ms (a
//   client that stopped reading), or at Stop, which ends every stream with its last chunk.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "server/http.h"

namespace sv::server::http {

struct Limits {
  int io_threads = 2;
  int worker_threads = 8;
  int64_t max_connections = 512;
  int64_t header_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 30'000;
  int64_t max_body_bytes = 64 << 20;
  int64_t max_header_bytes = 64 << 10;   // request line and headers together
  int64_t stream_heartbeat_ms = 15'000;  // a streamed response idle this long sends a heartbeat
};

using Handler = std::function<void(const Request&, Response&)>;

// Where a route's handler runs.
enum class Runs {
  kOnWorkers,      // the pool of worker_threads: handlers that may block
  kOnIoThread,     // the connection's I/O thread: only handlers that never block
  kOnProbeThread,  // one thread of its own: probes that may block, apart from busy workers
};

struct RouteOptions {
  bool needs_token = false;   // Hooks::authorize runs on the head, before the body is read
  bool needs_caller = false;  // ... Hooks::authorize_caller (an organization's caller may pass)
  Runs runs = Runs::kOnWorkers;
};

struct Hooks {
  // For routes with needs_token: false after filling the response (401, 403).
  std::function<bool(const Request&, Response&)> authorize;
  // For routes with needs_caller: likewise, but any identified caller passes; the handler
  // decides what that caller may do.
  std::function<bool(const Request&, Response&)> authorize_caller;
  // Every error the layer answers itself (404, 405, 413, ...) gets a body from here.
  std::function<void(Response&, int status, std::string_view message)> reply_error;
  // After each response is written (metrics, logs). `req.method` is empty when the request
  // could not be parsed.
  std::function<void(const Request&, const Response&, double seconds)> log;
};

class HttpServer {
 public:
  HttpServer(Limits limits, Hooks hooks);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes are tried in registration order; `pattern` must match the whole decoded path.
  void Get(const std::string& pattern, Handler handler) { Get(pattern, {}, std::move(handler)); }
  void Get(const std::string& pattern, RouteOptions options, Handler handler);
  void Post(const std::string& pattern, Handler handler) { Post(pattern, {}, std::move(handler)); }
  void Post(const std::string& pattern, RouteOptions options, Handler handler);
  void Put(const std::string& pattern, RouteOptions options, Handler handler);
  void Delete(const std::string& pattern, RouteOptions options, Handler handler);

  // Binds host:port (0 = any free port) and starts the threads; returns the bound port.
  absl::StatusOr<int> Listen(const std::string& host, int port);
  // Stops accepting, closes connections waiting for a request, lets requests in flight finish
  // (bounded), joins the threads.
  void Stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace sv::server::http
