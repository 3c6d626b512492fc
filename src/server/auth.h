#pragma once
// Who is calling (issue 19): an API key (configured as its SHA-256) or a JWT (HS256/RS256
// verified by libjwt, `exp` and `aud` checked), sent as `Authorization: Bearer <credential>`
// or `X-API-Key: <key>`. A caller is an organization or the admin; reads of a view with a
// tenant column are scoped to the caller's organization by the routes (server_internal.h).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace sv::server {

struct Caller {
  bool admin = false;
  std::string organization;  // empty for the admin
};

class Authenticator {
 public:
  // Reads the JWT secret (from its environment variable) or public key (a file, relative to
  // `base_dir`) now: a missing one is a startup error, not a 401 at the first request.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(const config::AuthConfig& config,
                                                               const std::string& base_dir);

  // The caller of a request with these headers: nullopt when it sent no credential;
  // Unauthenticated (with the reason) for one that is not valid.
  absl::StatusOr<std::optional<Caller>> Identify(std::string_view authorization,
                                                 std::string_view api_key_header) const;

  // "sha256 hex" of `text` (what the config stores for a key).
  static std::string Sha256Hex(std::string_view text);

 private:
  explicit Authenticator(const config::AuthConfig& config) : config_(config) {}
  absl::StatusOr<Caller> FromApiKey(std::string_view key) const;
  absl::StatusOr<Caller> FromJwt(const std::string& token) const;

  config::AuthConfig config_;
  std::string jwt_key_;  // the HS256 secret or the RS256 PEM
};

}  // namespace sv::server
