#include "server/http.h"

#include <strings.h>

namespace sv::server::http {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string Request::get_header_value(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

bool Request::has_param(const std::string& name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return true;
  }
  return false;
}

std::string Request::get_param_value(const std::string& name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return "";
}

std::string DecodeUrl(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else if (plus_as_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string EncodeQueryParam(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool SecretEquals(std::string_view given, std::string_view secret) {
  if (secret.empty()) return false;
  // Every byte of `given` is compared against the secret, cycled; a length difference joins
  // the same accumulator instead of returning early.
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  }
  return diff == 0;
}

void SplitTarget(Request& req) {
  const size_t q = req.target.find('?');
  req.path = DecodeUrl(std::string_view(req.target).substr(0, q), false);
  req.params.clear();
  if (q == std::string::npos) return;
  const std::string_view query = std::string_view(req.target).substr(q + 1);
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name = DecodeUrl(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : DecodeUrl(pair.substr(eq + 1), true);
    req.params.emplace_back(std::move(name), std::move(value));
  }
}

}  // namespace sv::server::http
