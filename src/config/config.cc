#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config {
namespace internal {

namespace fs = std::filesystem;

absl::StatusOr<Config> Parser::Parse(const std::string& text) {
  Config config;
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(file_), ec);
  if (ec) absolute = fs::path(file_);
  config.file = absolute.lexically_normal().string();
  config.base_dir = fs::path(config.file).parent_path().string();

  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    Location loc{file_, e.mark.line + 1, e.mark.column + 1};
    if (e.mark.is_null()) loc.line = loc.column = 0;
    return ErrorAt(loc, absl::StrCat("YAML syntax error: ", e.msg));
  } catch (const YAML::Exception& e) {
    return ErrorAt(Location{file_, 0, 0}, absl::StrCat("YAML error: ", e.what()));
  }
  if (root.IsNull()) return ErrorAt(Location{file_, 1, 1}, "the config file is empty");

  try {
    SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(root, root, "the config file"));
    SV_RETURN_IF_ERROR(CheckKeys(entries,
                                 {"store", "params", "sources", "gate", "engine", "server", "views",
                                  "derived_views", "lookups", "verify", "collections", "tracing"},
                                 "the config file"));
    // Sections are read in dependency order, not file order: views refer to sources.
    for (absl::string_view section :
         {"store", "params", "sources", "gate", "engine", "server", "views", "derived_views",
          "lookups", "verify", "collections", "tracing"}) {
      const Entry* e = Find(entries, section);
      if (e == nullptr) continue;
      if (section == "store") SV_RETURN_IF_ERROR(ParseStore(*e, &config));
      if (section == "params") SV_RETURN_IF_ERROR(ParseParams(*e, &config));
      if (section == "sources") SV_RETURN_IF_ERROR(ParseSources(*e, &config));
      if (section == "gate") SV_RETURN_IF_ERROR(ParseGate(*e, &config));
      if (section == "engine") SV_RETURN_IF_ERROR(ParseEngine(*e, &config));
      if (section == "server") SV_RETURN_IF_ERROR(ParseServer(*e, &config));
      if (section == "views") SV_RETURN_IF_ERROR(ParseViews(*e, &config));
      if (section == "derived_views") SV_RETURN_IF_ERROR(ParseDerivedViews(*e, &config));
      if (section == "lookups") SV_RETURN_IF_ERROR(ParseLookups(*e, &config));
      if (section == "verify") SV_RETURN_IF_ERROR(ParseVerify(*e, &config));
      if (section == "collections") SV_RETURN_IF_ERROR(ParseCollections(*e, &config));
      if (section == "tracing") SV_RETURN_IF_ERROR(ParseTracing(*e, &config));
    }
    // One view per compatibility route: a second would be shadowed without a word.
    std::map<std::string, std::string> paths;
    auto claim = [&](const ViewApiConfig& api, const std::string& view) -> absl::Status {
      if (api.path.empty()) return absl::OkStatus();
      auto [it, fresh] = paths.emplace(api.path, view);
      if (fresh) return absl::OkStatus();
      return ErrorAt(api.loc, absl::StrCat("api path ", Quoted(api.path), " of view ", Quoted(view),
                                           " is already the path of view ", Quoted(it->second)));
    };
    for (const ViewConfig& v : config.views) SV_RETURN_IF_ERROR(claim(v.api, v.name));
    for (const DerivedViewConfig& d : config.derived_views) {
      SV_RETURN_IF_ERROR(claim(d.api, d.name));
    }
    // A tenant column scopes reads to the caller's organization: there must be callers.
    auto tenant_needs_auth = [&](const std::string& view, const std::string& tenant,
                                 const Location& loc) -> absl::Status {
      if (tenant.empty() || !config.server.enabled || config.server.auth.enabled) {
        return absl::OkStatus();
      }
      return ErrorAt(loc, absl::StrCat("view ", Quoted(view), " declares tenant ", Quoted(tenant),
                                       " but server.auth is not configured: without callers, "
                                       "every organization's rows would be open to anyone"));
    };
    for (const ViewConfig& v : config.views) {
      SV_RETURN_IF_ERROR(tenant_needs_auth(v.name, v.tenant, v.tenant_loc));
    }
    for (const DerivedViewConfig& d : config.derived_views) {
      SV_RETURN_IF_ERROR(tenant_needs_auth(d.name, d.tenant, d.tenant_loc));
    }
    if (config.store.kind == "memory") {
      // A refresh recomputes the view with the store's own SELECT; the memory store has none.
      for (const DerivedViewConfig& d : config.derived_views) {
        if (d.refresh) {
          return ErrorAt(d.refresh->loc, absl::StrCat("derived view ", Quoted(d.name),
                                                      ": refresh needs a store that runs SQL "
                                                      "(sqlite or postgres), not memory"));
        }
      }
    }
    if (config.store.shared_by_partition) {
      // Only a consumer group says which engine owns what; an embedded log has one reader.
      for (const SourceConfig& s : config.sources) {
        if (s.kind != "kafka") {
          return ErrorAt(config.store.loc,
                         absl::StrCat("store shared_by_partition needs every source to be kafka; "
                                      "source ",
                                      Quoted(s.name), " is ", s.kind));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return ErrorAt(Location{file_, e.mark.line + 1, e.mark.column + 1},
                   absl::StrCat("YAML error: ", e.msg));
  }
  return config;
}

}  // namespace internal

namespace fs = std::filesystem;

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& file_name) {
  internal::Parser parser(text, file_name);
  return parser.Parse(text);
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot open config file (", std::strerror(errno), ")"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read config file"));
  }
  return ParseConfig(buffer.str(), path);
}

bool ParseListen(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int p = 0;
  if (!absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &p) || p < 0 || p > 65535) {
    return false;
  }
  *host = listen.substr(0, colon);
  *port = p;
  return true;
}

std::optional<Type> ParseTypeName(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "text") return Type::kText;
  if (lower == "integer" || lower == "bigint" || lower == "int") return Type::kInt;
  if (lower == "numeric" || lower == "real" || lower == "double") return Type::kReal;
  if (lower == "boolean" || lower == "bool") return Type::kBool;
  if (lower == "timestamp" || lower == "timestamptz") return Type::kTime;
  if (lower == "interval") return Type::kInterval;
  if (lower == "json" || lower == "jsonb") return Type::kJson;
  return std::nullopt;
}

}  // namespace sv::config
