// A source's `contracts:` section:
//   contracts:
//     version: schemaVersion            # or {field: schemaVersion, header: x-schema-version}
//     compatibility: backward           # or none
//     schemas:
//       - {type: OrderCreated, version: 2, file: contracts/order_created.v2.json}
// The files are read and compiled with the catalog (projection/), which reports a bad schema at
// its entry here.
//
// A Kafka source's `schema_registry:` (Confluent-framed records, schemas fetched by id):
//   schema_registry: {url: http://registry:8081, timeout_ms: 5000, username: u, password_env: P}

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/parser.h"

namespace sv::config::internal {

absl::Status Parser::ParseContracts(const Entry& entry, SourceConfig* source) const {
  const std::string what = absl::StrCat("'contracts' of source ", Quoted(source->name));
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"version", "compatibility", "schemas"}, what));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "schemas", entry.key, what));
  ContractsConfig& contracts = source->contracts;
  std::error_code ec;
  const std::filesystem::path folder =
      std::filesystem::absolute(std::filesystem::path(file_), ec).parent_path();
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "version") {
      if (e.value.IsScalar()) {
        SV_ASSIGN_OR_RETURN(contracts.version_field, Name(e, field));
        continue;
      }
      SV_ASSIGN_OR_RETURN(Entries sub, MapEntries(e.value, e.key, field));
      SV_RETURN_IF_ERROR(CheckKeys(sub, {"field", "header"}, field));
      if (sub.empty()) return Err(e.value, absl::StrCat(field, " needs 'field', 'header' or both"));
      if (const Entry* f = Find(sub, "field")) {
        SV_ASSIGN_OR_RETURN(contracts.version_field, Name(*f, absl::StrCat("'field' of ", field)));
      }
      if (const Entry* h = Find(sub, "header")) {
        SV_ASSIGN_OR_RETURN(contracts.version_header,
                            Name(*h, absl::StrCat("'header' of ", field)));
      }
    } else if (e.name == "compatibility") {
      SV_ASSIGN_OR_RETURN(std::string rule, Name(e, field));
      if (rule != "backward" && rule != "none") {
        return Err(e.value, absl::StrCat("unknown value ", Quoted(rule), " for ", field,
                                         " (expected one of: backward, none)"));
      }
      contracts.backward_compatible = rule == "backward";
    } else if (e.name == "schemas") {
      if (!e.value.IsSequence() || e.value.size() == 0) {
        return Err(e.value.IsNull() ? e.key : e.value,
                   absl::StrCat(field, " must be a non-empty list of {type, version, file}"));
      }
      for (const YAML::Node& item : e.value) {
        const std::string item_what = absl::StrCat("a schema of ", what);
        SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(item, e.key, item_what));
        SV_RETURN_IF_ERROR(CheckKeys(fields, {"type", "version", "file"}, item_what));
        SV_RETURN_IF_ERROR(CheckRequired(fields, "type", item, item_what));
        SV_RETURN_IF_ERROR(CheckRequired(fields, "file", item, item_what));
        ContractFileConfig file;
        file.loc = LocOf(item);
        for (const Entry& f : fields) {
          const std::string f_what = absl::StrCat(Quoted(f.name), " of ", item_what);
          if (f.name == "type") {
            SV_ASSIGN_OR_RETURN(file.type, Name(f, f_what));
          } else if (f.name == "version") {
            SV_ASSIGN_OR_RETURN(file.version, Integer(f, f_what, 1, 1'000'000'000));
          } else {
            SV_ASSIGN_OR_RETURN(file.file, Name(f, f_what));
            file.loc = LocOf(f.value);
          }
        }
        const std::filesystem::path path(file.file);
        file.path = (path.is_absolute() ? path : folder / path).lexically_normal().string();
        for (const ContractFileConfig& other : contracts.files) {
          if (other.type != file.type) continue;
          if (other.version == file.version) {
            return Err(item, absl::StrCat("a second schema for ", Quoted(file.type),
                                          file.version == 0 ? "" : " version ",
                                          file.version == 0 ? "" : absl::StrCat(file.version),
                                          " in ", what));
          }
          if (other.version == 0 || file.version == 0) {
            return Err(item, absl::StrCat("event type ", Quoted(file.type),
                                          " has several schemas: each needs a version"));
          }
        }
        contracts.files.push_back(std::move(file));
      }
    }
  }
  bool versioned = false;
  for (const ContractFileConfig& f : contracts.files) versioned = versioned || f.version != 0;
  if (versioned && contracts.version_field.empty() && contracts.version_header.empty()) {
    return Err(entry.key, absl::StrCat(what, " lists schema versions: say where an event's version",
                                       " is with 'version: <field>' or {header: ...}"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseSchemaRegistry(const Entry& entry, SourceConfig* source) const {
  const std::string what = absl::StrCat("'schema_registry' of source ", Quoted(source->name));
  SchemaRegistryConfig& registry = source->kafka.schema_registry;
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"url", "timeout_ms", "username", "password_env"}, what));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "url", entry.key, what));
  std::string username, password;
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "url") {
      SV_ASSIGN_OR_RETURN(registry.url, Name(e, field));
      if (registry.url.rfind("http://", 0) != 0 && registry.url.rfind("https://", 0) != 0) {
        return Err(e.value, absl::StrCat(field, " must start with http:// or https://"));
      }
    } else if (e.name == "timeout_ms") {
      SV_ASSIGN_OR_RETURN(registry.timeout_ms, Integer(e, field, 100, 600'000));
    } else if (e.name == "username") {
      SV_ASSIGN_OR_RETURN(username, Name(e, field));
    } else if (e.name == "password_env") {
      SV_ASSIGN_OR_RETURN(std::string var, Name(e, field));
      const char* value = std::getenv(var.c_str());
      if (value == nullptr) {
        return Err(e.value,
                   absl::StrCat(field, ": environment variable ", Quoted(var), " is not set"));
      }
      password = value;
    }
  }
  if (username.empty() && Find(entries, "password_env") != nullptr) {
    return Err(entry.key, absl::StrCat(what, " has a password but no 'username'"));
  }
  if (!username.empty()) registry.user_password = absl::StrCat(username, ":", password);
  return absl::OkStatus();
}

}  // namespace sv::config::internal
