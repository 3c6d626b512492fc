#include "server/auth.h"

#include <jwt.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/http.h"

namespace sv::server {
namespace {

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};

absl::Status Refused(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("credential refused: ", why));
}

}  // namespace

std::string Authenticator::Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const config::AuthConfig& config, const std::string& base_dir) {
  std::unique_ptr<Authenticator> auth(new Authenticator(config));
  const config::JwtConfig& jwt = config.jwt;
  if (!jwt.enabled) return auth;
  if (jwt.algorithm == "HS256") {
    const char* secret = std::getenv(jwt.secret_env.c_str());
    if (secret == nullptr || *secret == '\0') {
      return absl::FailedPreconditionError(absl::StrCat(
          "server.auth.jwt: the HS256 secret variable ", jwt.secret_env, " is not set"));
    }
    auth->jwt_key_ = secret;
  } else {
    std::filesystem::path path(jwt.public_key_file);
    if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
    std::ifstream in(path);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("server.auth.jwt: cannot read a PEM public key from ", path.string()));
    }
    auth->jwt_key_ = pem.str();
  }
  return auth;
}

absl::StatusOr<std::optional<Caller>> Authenticator::Identify(
    std::string_view authorization, std::string_view api_key_header) const {
  if (!api_key_header.empty()) return FromApiKey(api_key_header);
  if (authorization.empty()) return std::optional<Caller>();
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer) {
    return Refused("the Authorization header must be 'Bearer <API key or JWT>'");
  }
  const std::string credential(authorization.substr(kBearer.size()));
  // A JWT is three base64url parts; an API key has no dots.
  if (credential.find('.') != std::string::npos) return FromJwt(credential);
  return FromApiKey(credential);
}

absl::StatusOr<Caller> Authenticator::FromApiKey(std::string_view key) const {
  const std::string digest = Sha256Hex(key);
  for (const config::ApiKeyConfig& k : config_.api_keys) {
    if (http::SecretEquals(digest, k.sha256)) return Caller{k.admin, k.organization};
  }
  return Refused("unknown API key");
}

absl::StatusOr<Caller> Authenticator::FromJwt(const std::string& token) const {
  const config::JwtConfig& cfg = config_.jwt;
  if (!cfg.enabled) return Refused("JWTs are not accepted (server.auth.jwt is not configured)");
  jwt_t* raw = nullptr;
  const int rc =
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(jwt_key_.data()),
                 static_cast<int>(jwt_key_.size()));
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (rc != 0 || jwt == nullptr) return Refused("the JWT's signature or format is not valid");
  // The algorithm is the config's, never the token's choice ("none", or HS256 keyed with the
  // RS256 public key).
  const jwt_alg_t want = cfg.algorithm == "HS256" ? JWT_ALG_HS256 : JWT_ALG_RS256;
  if (jwt_get_alg(jwt.get()) != want) {
    return Refused(absl::StrCat("the JWT is not signed with ", cfg.algorithm));
  }
  errno = 0;
  const long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno != 0) return Refused("the JWT has no numeric exp");
  const long now = static_cast<long>(std::time(nullptr));
  if (exp <= now) return Refused("the JWT has expired");
  // nbf is optional (RFC 7519 4.1.5); when present it must have passed.
  errno = 0;
  const long not_before = jwt_get_grant_int(jwt.get(), "nbf");
  if (errno == 0 && not_before > now) return Refused("the JWT is not valid yet (nbf)");
  char* aud_json = jwt_get_grants_json(jwt.get(), "aud");
  bool audience_ok = false;
  if (aud_json != nullptr) {
    rapidjson::Document aud;
    aud.Parse(aud_json);
    std::free(aud_json);
    if (aud.IsString()) audience_ok = cfg.audience == aud.GetString();
    if (aud.IsArray()) {
      for (const auto& a : aud.GetArray())
        audience_ok |= a.IsString() && cfg.audience == a.GetString();
    }
  }
  if (!audience_ok) return Refused(absl::StrCat("the JWT's aud does not include ", cfg.audience));
  Caller caller;
  if (!cfg.admin_claim.empty()) {
    errno = 0;
    const int admin = jwt_get_grant_bool(jwt.get(), cfg.admin_claim.c_str());
    caller.admin = errno == 0 && admin == 1;
  }
  if (!caller.admin) {
    const char* org = jwt_get_grant(jwt.get(), cfg.organization_claim.c_str());
    if (org == nullptr || *org == '\0') {
      return Refused(absl::StrCat("the JWT has no ", cfg.organization_claim, " claim"));
    }
    caller.organization = org;
  }
  return caller;
}

}  // namespace sv::server
