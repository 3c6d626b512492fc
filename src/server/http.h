#pragma once
// The request and response the route handlers see: plain structs, so routes stay readable and
// independent of the HTTP library underneath (http_server.cc, Boost.Beast).

#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sv::server::http {

// Header names compare case-insensitively (RFC 9110).
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query, still percent-encoded
  std::string path;    // decoded path, no query
  Headers headers;
  // Query parameters in URL order, decoded ('+' as space).
  std::vector<std::pair<std::string, std::string>> params;
  std::string body;     // empty until the route's header checks passed and the body was read
  std::smatch matches;  // the route pattern's groups, matched against `path`

  std::string get_header_value(const std::string& name) const;
  bool has_param(const std::string& name) const;
  std::string get_param_value(const std::string& name) const;  // first occurrence, or ""
};

// A response body that arrives over time (Server-Sent Events): the head is written with
// chunked transfer encoding, then the body as it becomes ready, until the stream ends, the
// client goes away or the server stops. Its methods are called on the connection's I/O thread
// and must not block.
class StreamBody {
 public:
  virtual ~StreamBody() = default;
  // Once, after the head is written: `wake` (callable from any thread, any number of times)
  // tells the connection that Pull has more.
  virtual void Start(std::function<void()> wake) = 0;
  // Appends what is ready to `out`; false once the stream has ended (`out` is still sent).
  virtual bool Pull(std::string* out) = 0;
  // Sent when nothing was written for Limits::stream_heartbeat_ms.
  virtual std::string Heartbeat() const = 0;
  // The connection is closing (client gone, server stopping, write timed out): no more Pulls.
  virtual void Cancel() = 0;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  std::string content_type;
  std::shared_ptr<StreamBody> stream;  // set: `body` is ignored, the stream is the body

  void set_header(const std::string& name, std::string value) { headers[name] = std::move(value); }
  void set_content(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
};

// Percent-decoding; `plus_as_space` for query strings.
std::string DecodeUrl(std::string_view s, bool plus_as_space);
// Percent-encoding of everything but unreserved characters (RFC 3986), for query values.
std::string EncodeQueryParam(std::string_view s);
// Compares a secret in time that depends on `given`'s length only: neither the first wrong
// byte nor the secret's length shows in the timing.
bool SecretEquals(std::string_view given, std::string_view secret);
// Fills path and params from target.
void SplitTarget(Request& req);

}  // namespace sv::server::http
