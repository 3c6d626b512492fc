// `server.auth`: API keys (as SHA-256) and JWT verification settings. What the keys and tokens
// grant is decided by server/auth.cc; here only their shape is checked.

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::Status Parser::ParseAuth(const Entry& entry, AuthConfig* auth) const {
  auth->enabled = true;
  auth->loc = LocOf(entry.key);
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "server.auth"));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"api_keys", "jwt", "open_reads"}, "server.auth"));
  if (const Entry* open = Find(entries, "open_reads")) {
    SV_ASSIGN_OR_RETURN(auth->open_reads, Bool(*open, "server.auth.open_reads"));
  }
  if (const Entry* keys = Find(entries, "api_keys")) {
    if (!keys->value.IsSequence()) {
      return Err(keys->value.IsNull() ? keys->key : keys->value,
                 absl::StrCat("server.auth.api_keys must be a list of {sha256, organization} "
                              "or {sha256, role: admin}, not ",
                              KindName(keys->value)));
    }
    for (auto it = keys->value.begin(); it != keys->value.end(); ++it) {
      const YAML::Node node = *it;
      const std::string what = "an entry of server.auth.api_keys";
      SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(node, keys->key, what));
      SV_RETURN_IF_ERROR(CheckKeys(fields, {"sha256", "organization", "role"}, what));
      SV_RETURN_IF_ERROR(CheckRequired(fields, "sha256", node, what));
      ApiKeyConfig key;
      key.loc = LocOf(node);
      const Entry& sha = *Find(fields, "sha256");
      SV_ASSIGN_OR_RETURN(key.sha256, Name(sha, "sha256 of an API key"));
      key.sha256 = absl::AsciiStrToLower(key.sha256);
      const bool hex =
          key.sha256.size() == 64 && std::all_of(key.sha256.begin(), key.sha256.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c));
          });
      if (!hex) {
        return Err(sha.value,
                   "sha256 of an API key must be 64 hex digits (e.g. `printf %s KEY | sha256sum`)");
      }
      const Entry* org = Find(fields, "organization");
      const Entry* role = Find(fields, "role");
      if ((org == nullptr) == (role == nullptr)) {
        return Err(node, "an API key needs exactly one of 'organization' and 'role: admin'");
      }
      if (org != nullptr) {
        SV_ASSIGN_OR_RETURN(key.organization, Name(*org, "organization of an API key"));
      } else {
        SV_ASSIGN_OR_RETURN(std::string r, Name(*role, "role of an API key"));
        if (r != "admin") return Err(role->value, "the only role is 'admin'");
        key.admin = true;
      }
      auth->api_keys.push_back(std::move(key));
    }
  }
  if (const Entry* jwt_entry = Find(entries, "jwt")) {
    JwtConfig& jwt = auth->jwt;
    jwt.enabled = true;
    jwt.loc = LocOf(jwt_entry->key);
    const std::string what = "server.auth.jwt";
    SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(jwt_entry->value, jwt_entry->key, what));
    SV_RETURN_IF_ERROR(CheckKeys(fields,
                                 {"algorithm", "secret_env", "public_key_file", "audience",
                                  "organization_claim", "admin_claim"},
                                 what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "algorithm", jwt_entry->key, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "audience", jwt_entry->key, what));
    const Entry& alg = *Find(fields, "algorithm");
    SV_ASSIGN_OR_RETURN(jwt.algorithm, Name(alg, what + ".algorithm"));
    SV_ASSIGN_OR_RETURN(jwt.audience, Name(*Find(fields, "audience"), what + ".audience"));
    if (const Entry* e = Find(fields, "organization_claim")) {
      SV_ASSIGN_OR_RETURN(jwt.organization_claim, Name(*e, what + ".organization_claim"));
    }
    if (const Entry* e = Find(fields, "admin_claim")) {
      SV_ASSIGN_OR_RETURN(jwt.admin_claim, Name(*e, what + ".admin_claim"));
    }
    if (jwt.algorithm == "HS256") {
      const Entry* e = Find(fields, "secret_env");
      if (e == nullptr) return Err(alg.value, "HS256 needs secret_env (the secret's variable)");
      SV_ASSIGN_OR_RETURN(jwt.secret_env, Name(*e, what + ".secret_env"));
    } else if (jwt.algorithm == "RS256") {
      const Entry* e = Find(fields, "public_key_file");
      if (e == nullptr) return Err(alg.value, "RS256 needs public_key_file (a PEM public key)");
      SV_ASSIGN_OR_RETURN(jwt.public_key_file, Name(*e, what + ".public_key_file"));
    } else {
      return Err(alg.value, absl::StrCat(what, ".algorithm must be HS256 or RS256, not ",
                                         Quoted(jwt.algorithm)));
    }
  }
  if (auth->api_keys.empty() && !auth->jwt.enabled) {
    return Err(entry.key, "server.auth needs api_keys or jwt (else no caller could read)");
  }
  return absl::OkStatus();
}

}  // namespace sv::config::internal
