#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace sv::config {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kTypeNames =
    "text, integer, bigint, int, numeric, real, double, boolean, bool, timestamp, timestamptz, "
    "interval";

// One entry of a YAML map, with its key already checked to be a scalar.
struct Entry {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

using Entries = std::vector<Entry>;

const Entry* Find(const Entries& entries, absl::string_view name) {
  for (const Entry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Quoted(absl::string_view s) { return absl::StrCat("'", s, "'"); }

std::string JoinNames(const std::vector<std::string>& names) { return absl::StrJoin(names, ", "); }

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Parses YAML text into the Config model. Holds the text so locations of quoted and block
// scalars can be moved onto their first content character.
class Parser {
 public:
  Parser(const std::string& text, std::string file_name) : file_(std::move(file_name)) {
    lines_ = absl::StrSplit(text, '\n');
  }

  absl::StatusOr<Config> Parse(const std::string& text);

 private:
  // --- locations and errors ---
  Location LocOf(const YAML::Node& node) const {
    Location loc;
    loc.file = file_;
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0 && mark.column >= 0) {
      loc.line = mark.line + 1;
      loc.column = mark.column + 1;
    }
    return loc;
  }
  absl::Status Err(const YAML::Node& node, const std::string& message) const {
    return ErrorAt(LocOf(node), message);
  }
  // Location of the first character of a scalar's content: after the opening quote of a quoted
  // scalar, on the first content line of a block scalar.
  Location ContentLoc(const YAML::Node& node) const;

  // --- generic shape helpers ---
  // The entries of a map node; `what` names the node in messages ("view 'v'"). `where_node` is
  // used for the error location when `node` is null (its mark points past it).
  absl::StatusOr<Entries> MapEntries(const YAML::Node& node, const YAML::Node& where_node,
                                     absl::string_view what) const;
  absl::Status CheckKeys(const Entries& entries, std::initializer_list<absl::string_view> allowed,
                         absl::string_view what) const;
  absl::Status CheckRequired(const Entries& entries, absl::string_view key,
                             const YAML::Node& where_node, absl::string_view what) const;
  // A non-empty plain-text scalar (names, field paths).
  absl::StatusOr<std::string> Name(const Entry& entry, absl::string_view what) const;
  absl::StatusOr<std::string> ScalarText(const YAML::Node& node, const YAML::Node& where_node,
                                         absl::string_view what) const;
  absl::StatusOr<std::vector<std::pair<std::string, YAML::Node>>> NameList(
      const Entry& entry, absl::string_view what) const;
  absl::StatusOr<int64_t> Integer(const Entry& entry, absl::string_view what, int64_t min,
                                  int64_t max) const;
  absl::StatusOr<bool> Bool(const Entry& entry, absl::string_view what) const;
  absl::StatusOr<ExprText> Expr(const Entry& entry, absl::string_view what) const;

  // --- sections ---
  absl::Status ParseStore(const Entry& entry, Config* config) const;
  absl::Status ParseParams(const Entry& entry, Config* config) const;
  absl::Status ParseSources(const Entry& entry, Config* config) const;
  absl::StatusOr<SourceConfig> ParseSource(const Entry& entry) const;
  absl::Status ParseGate(const Entry& entry, Config* config) const;
  absl::Status ParseEngine(const Entry& entry, Config* config) const;
  absl::Status ParseServer(const Entry& entry, Config* config) const;
  absl::Status ParseViewApi(const Entry& entry, ViewConfig* view) const;
  absl::Status ParseViews(const Entry& entry, Config* config) const;
  absl::Status ParseDerivedViews(const Entry& entry, Config* config) const;
  absl::Status ParseIndexes(const Entry& indexes, absl::string_view what,
                            const std::function<bool(absl::string_view)>& is_column,
                            std::vector<IndexConfig>* out) const;
  absl::StatusOr<ViewConfig> ParseView(const Entry& entry, const Config& config) const;
  absl::StatusOr<ColumnConfig> ParseColumn(const Entry& entry, absl::string_view view) const;
  absl::StatusOr<HandlerConfig> ParseHandler(const Entry& entry, const ViewConfig& view,
                                             const SourceConfig& source) const;

  std::string file_;
  std::vector<std::string> lines_;
};

Location Parser::ContentLoc(const YAML::Node& node) const {
  Location loc = LocOf(node);
  if (loc.line <= 0 || loc.line > static_cast<int>(lines_.size())) return loc;
  const std::string& line = lines_[loc.line - 1];
  const size_t col = loc.column - 1;
  if (col >= line.size()) return loc;
  const char c = line[col];
  if (c == '"' || c == '\'') {
    loc.column += 1;
  } else if (c == '|' || c == '>') {
    // Block scalar: its content starts at the first non-blank character of the next non-blank
    // line.
    for (size_t i = loc.line; i < lines_.size(); ++i) {
      const size_t first = lines_[i].find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      loc.line = static_cast<int>(i) + 1;
      loc.column = static_cast<int>(first) + 1;
      break;
    }
  }
  return loc;
}

absl::StatusOr<Entries> Parser::MapEntries(const YAML::Node& node, const YAML::Node& where_node,
                                           absl::string_view what) const {
  if (!node.IsMap()) {
    return Err(node.IsNull() ? where_node : node,
               absl::StrCat(what, " must be a map, not ", KindName(node)));
  }
  Entries entries;
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies: the iterator hands out a temporary proxy.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      return Err(key, absl::StrCat("keys in ", what, " must be plain names, not ", KindName(key)));
    }
    if (!seen.insert(key.Scalar()).second) {
      return Err(key, absl::StrCat("duplicate key ", Quoted(key.Scalar()), " in ", what));
    }
    entries.push_back(Entry{key.Scalar(), key, value});
  }
  return entries;
}

absl::Status Parser::CheckKeys(const Entries& entries,
                               std::initializer_list<absl::string_view> allowed,
                               absl::string_view what) const {
  for (const Entry& e : entries) {
    if (std::find(allowed.begin(), allowed.end(), e.name) == allowed.end()) {
      return Err(e.key, absl::StrCat("unknown key ", Quoted(e.name), " in ", what,
                                     " (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckRequired(const Entries& entries, absl::string_view key,
                                   const YAML::Node& where_node, absl::string_view what) const {
  if (Find(entries, key) == nullptr) {
    return Err(where_node, absl::StrCat(what, " is missing required key ", Quoted(key)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Parser::ScalarText(const YAML::Node& node, const YAML::Node& where_node,
                                               absl::string_view what) const {
  if (!node.IsScalar()) {
    return Err(node.IsNull() ? where_node : node,
               absl::StrCat(what, " must be a name, not ", KindName(node)));
  }
  if (node.Scalar().empty()) return Err(node, absl::StrCat(what, " must not be empty"));
  return node.Scalar();
}

absl::StatusOr<std::string> Parser::Name(const Entry& entry, absl::string_view what) const {
  return ScalarText(entry.value, entry.key, what);
}

absl::StatusOr<std::vector<std::pair<std::string, YAML::Node>>> Parser::NameList(
    const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (!node.IsSequence()) {
    return Err(node.IsNull() ? entry.key : node,
               absl::StrCat(what, " must be a list, not ", KindName(node)));
  }
  std::vector<std::pair<std::string, YAML::Node>> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    SV_ASSIGN_OR_RETURN(std::string name, ScalarText(*it, node, absl::StrCat("an item of ", what)));
    out.emplace_back(std::move(name), *it);
  }
  return out;
}

absl::StatusOr<int64_t> Parser::Integer(const Entry& entry, absl::string_view what, int64_t min,
                                        int64_t max) const {
  const YAML::Node& node = entry.value;
  int64_t value = 0;
  if (!node.IsScalar() || node.Tag() != "?" || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return Err(node.IsScalar() ? node : entry.key,
               absl::StrCat(what, " must be an integer, not ",
                            node.IsScalar() ? Quoted(node.Scalar()) : KindName(node)));
  }
  if (value < min || value > max) {
    return Err(node, absl::StrCat(what, " must be between ", min, " and ", max, ", not ", value));
  }
  return value;
}

absl::StatusOr<bool> Parser::Bool(const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (node.IsScalar() && node.Tag() == "?") {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return Err(node.IsScalar() ? node : entry.key,
             absl::StrCat(what, " must be true or false, not ",
                          node.IsScalar() ? Quoted(node.Scalar()) : KindName(node)));
}

absl::StatusOr<ExprText> Parser::Expr(const Entry& entry, absl::string_view what) const {
  const YAML::Node& node = entry.value;
  if (node.IsNull()) {
    // A plain null/Null/NULL/~ is the SQL NULL; an empty value is a mistake. yaml-cpp keeps no
    // text for nulls, and the mark of an empty value points at the next token, so look at the
    // text right after the key, on its line.
    const Location loc = LocOf(node);
    const Location key_loc = LocOf(entry.key);
    if (loc.line > 0 && loc.line == key_loc.line && loc.column > key_loc.column &&
        loc.line <= static_cast<int>(lines_.size())) {
      const std::string& line = lines_[loc.line - 1];
      const absl::string_view rest =
          absl::string_view(line).substr(std::min<size_t>(loc.column - 1, line.size()));
      for (absl::string_view word : {"null", "Null", "NULL", "~"}) {
        if (rest.substr(0, word.size()) != word) continue;
        const absl::string_view after = rest.substr(word.size());
        if (after.empty() || after[0] == ' ' || after[0] == '\t' || after[0] == '\r' ||
            after[0] == ',' || after[0] == '}' || after[0] == '#') {
          return ExprText{word == "~" ? "NULL" : std::string(word), loc};
        }
      }
    }
    return Err(entry.key, absl::StrCat(what, " is empty (expected an expression)"));
  }
  if (!node.IsScalar()) {
    return Err(node, absl::StrCat(what, " must be an expression (a scalar), not ", KindName(node)));
  }
  if (absl::StripAsciiWhitespace(node.Scalar()).empty()) {
    return Err(node, absl::StrCat(what, " is empty (expected an expression)"));
  }
  return ExprText{node.Scalar(), ContentLoc(node)};
}

absl::Status Parser::ParseStore(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "store"));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"kind", "path", "dsn", "dsn_env", "schema", "view_schema",
                                "shared_by_partition", "engine_lock_wait_ms"},
                               "store"));
  config->store.loc = LocOf(entry.key);
  if (const Entry* e = Find(entries, "kind")) {
    SV_ASSIGN_OR_RETURN(config->store.kind, Name(*e, "store kind"));
    if (config->store.kind != "sqlite" && config->store.kind != "postgres" &&
        config->store.kind != "memory") {
      return Err(e->value, absl::StrCat("unknown store kind ", Quoted(config->store.kind),
                                        " (expected one of: sqlite, postgres, memory)"));
    }
  }
  const bool postgres = config->store.kind == "postgres";
  const std::vector<absl::string_view> postgres_keys = {
      "dsn", "dsn_env", "schema", "view_schema", "shared_by_partition", "engine_lock_wait_ms"};
  // Keys of another backend are mistakes, not options to ignore. A memory store (tests: one
  // process, nothing kept) has none of its own.
  std::vector<absl::string_view> foreign =
      postgres ? std::vector<absl::string_view>{"path"} : postgres_keys;
  if (config->store.kind == "memory") foreign.push_back("path");
  for (absl::string_view key : foreign) {
    if (const Entry* e = Find(entries, key)) {
      return Err(e->key, absl::StrCat("store key ", Quoted(key), " does not apply to kind ",
                                      config->store.kind));
    }
  }
  if (const Entry* e = Find(entries, "path")) {
    SV_ASSIGN_OR_RETURN(std::string path, Name(*e, "store path"));
    fs::path p(path);
    if (p.is_relative()) p = fs::path(config->base_dir) / p;
    config->store.path = p.lexically_normal().string();
  }
  if (!postgres) return absl::OkStatus();
  if (const Entry* e = Find(entries, "shared_by_partition")) {
    SV_ASSIGN_OR_RETURN(config->store.shared_by_partition, Bool(*e, "store shared_by_partition"));
  }
  if (const Entry* e = Find(entries, "engine_lock_wait_ms")) {
    SV_ASSIGN_OR_RETURN(config->store.engine_lock_wait_ms,
                        Integer(*e, "store engine_lock_wait_ms", 0, 86'400'000));
  }
  const Entry* dsn = Find(entries, "dsn");
  const Entry* dsn_env = Find(entries, "dsn_env");
  if (dsn != nullptr && dsn_env != nullptr) {
    return Err(dsn_env->key, "store: give either dsn or dsn_env, not both");
  }
  if (dsn == nullptr && dsn_env == nullptr) {
    return Err(entry.key, "store of kind postgres needs dsn or dsn_env");
  }
  if (dsn != nullptr) {
    SV_ASSIGN_OR_RETURN(config->store.dsn, Name(*dsn, "store dsn"));
  } else {
    SV_ASSIGN_OR_RETURN(config->store.dsn_env, Name(*dsn_env, "store dsn_env"));
    const char* value = std::getenv(config->store.dsn_env.c_str());
    if (value == nullptr || *value == '\0') {
      return Err(dsn_env->value,
                 absl::StrCat("environment variable ", Quoted(config->store.dsn_env),
                              " (store dsn_env) is not set"));
    }
    config->store.dsn = value;
  }
  for (absl::string_view key : {"schema", "view_schema"}) {
    const Entry* e = Find(entries, key);
    if (e == nullptr) continue;
    SV_ASSIGN_OR_RETURN(std::string name, Name(*e, absl::StrCat("store ", key)));
    if (!IsIdentifier(name) || name.size() > 63) {
      return Err(e->value, absl::StrCat("store ", key, " ", Quoted(name),
                                        " must be an identifier (letters, digits, '_', at most "
                                        "63 characters)"));
    }
    (key == "schema" ? config->store.schema : config->store.view_schema) = name;
  }
  if (config->store.schema == config->store.view_schema) {
    return Err(entry.key, absl::StrCat("store schema and view_schema must differ (both ",
                                       Quoted(config->store.schema), ")"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseParams(const Entry& entry, Config* config) const {
  if (entry.value.IsNull()) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "params"));
  for (const Entry& e : entries) {
    if (!IsIdentifier(e.name)) {
      return Err(e.key, absl::StrCat("param name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_')"));
    }
    const YAML::Node& node = e.value;
    Value value;
    if (node.IsNull()) {
      value = Value::Null();
    } else if (!node.IsScalar()) {
      return Err(node,
                 absl::StrCat("param ", Quoted(e.name), " must be a scalar, not ", KindName(node)));
    } else if (node.Tag() != "?") {  // quoted or block scalar: always text
      value = Value::Text(node.Scalar());
    } else {
      const std::string& s = node.Scalar();
      int64_t i = 0;
      double d = 0;
      const bool numeric_chars = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
               c == '+' || c == '-';
      });
      const bool has_digit = std::any_of(
          s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      if (s == "true" || s == "True" || s == "TRUE") {
        value = Value::Bool(true);
      } else if (s == "false" || s == "False" || s == "FALSE") {
        value = Value::Bool(false);
      } else if (numeric_chars && has_digit && absl::SimpleAtoi(s, &i)) {
        value = Value::Int(i);
      } else if (numeric_chars && has_digit && absl::SimpleAtod(s, &d)) {
        value = Value::Real(d);
      } else {
        value = Value::Text(s);
      }
    }
    config->params[e.name] = std::move(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<SourceConfig> Parser::ParseSource(const Entry& entry) const {
  SourceConfig source;
  source.name = entry.name;
  source.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("source ", Quoted(entry.name));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key, absl::StrCat("source name ", Quoted(entry.name),
                                       " must be an identifier (letters, digits, '_')"));
  }
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries,
                {"kind", "key", "type", "sequence", "event_id", "timestamp", "first_sequence",
                 "unknown_types", "event_types", "brokers", "brokers_env", "topics", "group_id",
                 "dead_letter_topic", "properties"},
                what));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "key", entry.key, what));
  SV_RETURN_IF_ERROR(CheckRequired(entries, "event_types", entry.key, what));
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "kind") {
      SV_ASSIGN_OR_RETURN(source.kind, Name(e, field));
      if (source.kind != "log" && source.kind != "kafka") {
        return Err(e.value, absl::StrCat("unknown source kind ", Quoted(source.kind), " for ", what,
                                         " (expected one of: log, kafka)"));
      }
    } else if (e.name == "brokers") {
      SV_ASSIGN_OR_RETURN(source.kafka.brokers, Name(e, field));
    } else if (e.name == "brokers_env") {
      SV_ASSIGN_OR_RETURN(std::string var, Name(e, field));
      const char* value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0') {
        return Err(e.value,
                   absl::StrCat(field, ": environment variable ", Quoted(var), " is not set"));
      }
      source.kafka.brokers = value;
    } else if (e.name == "topics") {
      SV_ASSIGN_OR_RETURN(auto topics, NameList(e, field));
      if (topics.empty() || topics.size() > 4096) {
        return Err(e.value, absl::StrCat(field, " must name 1 to 4096 topics"));
      }
      for (auto& [topic, node] : topics) source.kafka.topics.push_back(topic);
    } else if (e.name == "group_id") {
      SV_ASSIGN_OR_RETURN(source.kafka.group_id, Name(e, field));
    } else if (e.name == "dead_letter_topic") {
      SV_ASSIGN_OR_RETURN(source.kafka.dead_letter_topic, Bool(e, field));
    } else if (e.name == "properties") {
      SV_ASSIGN_OR_RETURN(Entries props, MapEntries(e.value, e.key, field));
      for (const Entry& p : props) {
        if (!p.value.IsScalar()) {
          return Err(p.value,
                     absl::StrCat("property ", Quoted(p.name), " of ", what, " must be a scalar"));
        }
        source.kafka.properties.emplace_back(p.name, p.value.Scalar());
      }
    } else if (e.name == "key") {
      SV_ASSIGN_OR_RETURN(source.key_field, Name(e, field));
    } else if (e.name == "type" || e.name == "sequence") {
      std::string* field_out = e.name == "type" ? &source.type_field : &source.sequence_field;
      std::string* header_out = e.name == "type" ? &source.type_header : &source.sequence_header;
      if (e.value.IsScalar()) {
        SV_ASSIGN_OR_RETURN(*field_out, Name(e, field));
        continue;
      }
      SV_ASSIGN_OR_RETURN(Entries sub, MapEntries(e.value, e.key, field));
      SV_RETURN_IF_ERROR(CheckKeys(sub, {"field", "header"}, field));
      if (sub.empty()) {
        return Err(e.value, absl::StrCat(field, " needs 'field', 'header' or both"));
      }
      if (const Entry* f = Find(sub, "field")) {
        SV_ASSIGN_OR_RETURN(*field_out, Name(*f, absl::StrCat("'field' of ", field)));
      }
      if (const Entry* h = Find(sub, "header")) {
        SV_ASSIGN_OR_RETURN(*header_out, Name(*h, absl::StrCat("'header' of ", field)));
      }
    } else if (e.name == "event_id") {
      SV_ASSIGN_OR_RETURN(source.event_id_field, Name(e, field));
    } else if (e.name == "timestamp") {
      SV_ASSIGN_OR_RETURN(source.timestamp_field, Name(e, field));
    } else if (e.name == "first_sequence") {
      // The gate stores "nothing applied yet" as last sequence 0, so a key's first sequence
      // must be above it: with 0, a redelivered sequence 0 would look new and apply twice.
      SV_ASSIGN_OR_RETURN(source.first_sequence,
                          Integer(e, field, 1, std::numeric_limits<int64_t>::max()));
    } else if (e.name == "unknown_types") {
      SV_ASSIGN_OR_RETURN(std::string policy, Name(e, field));
      if (policy == "ignore") {
        source.unknown_types = UnknownTypePolicy::kIgnore;
      } else if (policy == "dead_letter") {
        source.unknown_types = UnknownTypePolicy::kDeadLetter;
      } else {
        return Err(e.value, absl::StrCat("unknown value ", Quoted(policy), " for ", field,
                                         " (expected one of: ignore, dead_letter)"));
      }
    } else if (e.name == "event_types") {
      SV_ASSIGN_OR_RETURN(auto types, NameList(e, field));
      if (types.empty()) {
        return Err(e.value, absl::StrCat(field, " must not be empty"));
      }
      for (auto& [type, node] : types) {
        if (type == "*") {
          return Err(node, absl::StrCat("'*' is not an event type name (in ", field, ")"));
        }
        if (std::find(source.event_types.begin(), source.event_types.end(), type) !=
            source.event_types.end()) {
          return Err(node, absl::StrCat("duplicate event type ", Quoted(type), " in ", field));
        }
        source.event_types.push_back(type);
      }
    }
  }
  const bool kafka = source.kind == "kafka";
  for (const char* k :
       {"brokers", "brokers_env", "topics", "group_id", "dead_letter_topic", "properties"}) {
    const Entry* e = Find(entries, k);
    if (e != nullptr && !kafka) {
      return Err(e->key, absl::StrCat(Quoted(k), " of ", what, " needs kind: kafka"));
    }
  }
  if (kafka) {
    for (const char* k : {"topics", "group_id"}) {
      SV_RETURN_IF_ERROR(CheckRequired(entries, k, entry.key, what));
    }
    if (source.kafka.brokers.empty()) {
      return Err(entry.key, absl::StrCat(what, " needs 'brokers' or 'brokers_env'"));
    }
  }
  return source;
}

absl::Status Parser::ParseSources(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "sources"));
  for (const Entry& e : entries) {
    SV_ASSIGN_OR_RETURN(SourceConfig source, ParseSource(e));
    config->sources.push_back(std::move(source));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseGate(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "gate"));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries, {"stash_max_age_ms", "stash_max_events", "dedup_window"}, "gate"));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  GateConfig& gate = config->gate;
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("gate.", e.name);
    int64_t* out = e.name == "stash_max_age_ms"   ? &gate.stash_max_age_ms
                   : e.name == "stash_max_events" ? &gate.stash_max_events
                                                  : &gate.dedup_window;
    SV_ASSIGN_OR_RETURN(*out, Integer(e, what, 1, kMax));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseEngine(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "engine"));
  SV_RETURN_IF_ERROR(CheckKeys(entries,
                               {"batch_events", "cache_rows", "poll_idle_ms", "commit_delay_us",
                                "rebuild_threads", "pipeline_commits", "lanes"},
                               "engine"));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EngineConfig& engine = config->engine;
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("engine.", e.name);
    if (e.name == "batch_events") {
      SV_ASSIGN_OR_RETURN(engine.batch_events, Integer(e, what, 1, kMax));
    } else if (e.name == "cache_rows") {
      SV_ASSIGN_OR_RETURN(engine.cache_rows, Integer(e, what, 1, kMax));
    } else if (e.name == "poll_idle_ms") {
      SV_ASSIGN_OR_RETURN(engine.poll_idle_ms, Integer(e, what, 1, kMax));
    } else if (e.name == "commit_delay_us") {
      SV_ASSIGN_OR_RETURN(engine.commit_delay_us, Integer(e, what, 0, 10'000'000));
    } else if (e.name == "pipeline_commits") {
      SV_ASSIGN_OR_RETURN(engine.pipeline_commits, Bool(e, what));
    } else if (e.name == "lanes") {
      SV_ASSIGN_OR_RETURN(int64_t lanes, Integer(e, what, 0, 64));
      engine.lanes = static_cast<int>(lanes);
    } else {
      SV_ASSIGN_OR_RETURN(int64_t threads, Integer(e, what, 1, 1024));
      engine.rebuild_threads = static_cast<int>(threads);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ColumnConfig> Parser::ParseColumn(const Entry& entry, absl::string_view view) const {
  ColumnConfig column;
  column.name = entry.name;
  column.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("column ", Quoted(entry.name), " of view ", Quoted(view));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key,
               absl::StrCat("column name ", Quoted(entry.name), " in view ", Quoted(view),
                            " must be an identifier (letters, digits, '_')"));
  }
  Entry type_entry = entry;
  if (entry.value.IsMap()) {
    SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
    SV_RETURN_IF_ERROR(CheckKeys(entries, {"type", "default"}, what));
    SV_RETURN_IF_ERROR(CheckRequired(entries, "type", entry.key, what));
    type_entry = *Find(entries, "type");
    if (const Entry* d = Find(entries, "default")) {
      SV_ASSIGN_OR_RETURN(column.default_value, Expr(*d, absl::StrCat("default of ", what)));
    }
  } else if (!entry.value.IsScalar()) {
    return Err(entry.value.IsNull() ? entry.key : entry.value,
               absl::StrCat("type of ", what, " must be a type name or a map {type, default}, not ",
                            KindName(entry.value)));
  }
  SV_ASSIGN_OR_RETURN(std::string type_name, Name(type_entry, absl::StrCat("type of ", what)));
  std::optional<Type> type = ParseTypeName(type_name);
  if (!type.has_value()) {
    return Err(type_entry.value, absl::StrCat("unknown column type ", Quoted(type_name), " for ",
                                              what, " (expected one of: ", kTypeNames, ")"));
  }
  column.type = *type;
  return column;
}

absl::StatusOr<HandlerConfig> Parser::ParseHandler(const Entry& entry, const ViewConfig& view,
                                                   const SourceConfig& source) const {
  HandlerConfig handler;
  handler.event_type = entry.name;
  handler.loc = LocOf(entry.key);
  if (entry.name != "*" && std::find(source.event_types.begin(), source.event_types.end(),
                                     entry.name) == source.event_types.end()) {
    return Err(entry.key, absl::StrCat("unknown event type ", Quoted(entry.name), " for source ",
                                       Quoted(source.name),
                                       " (declared: ", JoinNames(source.event_types), ")"));
  }
  const std::string what =
      absl::StrCat("handler ", Quoted(entry.name), " of view ", Quoted(view.name));
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"set", "delete", "when", "explode", "as"}, what));
  auto is_column = [&](absl::string_view name) {
    return std::any_of(view.columns.begin(), view.columns.end(),
                       [&](const ColumnConfig& c) { return c.name == name; });
  };
  for (const Entry& e : entries) {
    const std::string field = absl::StrCat(Quoted(e.name), " of ", what);
    if (e.name == "set") {
      SV_ASSIGN_OR_RETURN(Entries sets, MapEntries(e.value, e.key, field));
      for (const Entry& s : sets) {
        if (!is_column(s.name)) {
          return Err(s.key, absl::StrCat("set target ", Quoted(s.name), " is not a column of view ",
                                         Quoted(view.name)));
        }
        SV_ASSIGN_OR_RETURN(ExprText expr, Expr(s, absl::StrCat("expression for column ",
                                                                Quoted(s.name), " in ", what)));
        handler.set.emplace_back(s.name, std::move(expr));
      }
    } else if (e.name == "delete") {
      SV_ASSIGN_OR_RETURN(handler.delete_row, Bool(e, field));
    } else if (e.name == "when") {
      SV_ASSIGN_OR_RETURN(handler.when, Expr(e, field));
    } else if (e.name == "explode") {
      SV_ASSIGN_OR_RETURN(handler.explode, Expr(e, field));
    } else if (e.name == "as") {
      SV_ASSIGN_OR_RETURN(handler.explode_as, Name(e, field));
      if (!IsIdentifier(handler.explode_as)) {
        return Err(e.value,
                   absl::StrCat(field, " must be an identifier, not ", Quoted(handler.explode_as)));
      }
    }
  }
  if (handler.delete_row) {
    const Entry* del = Find(entries, "delete");
    if (!handler.set.empty()) {
      return Err(del->key, absl::StrCat(what, " cannot both delete and set"));
    }
    if (handler.explode.has_value()) {
      return Err(del->key, absl::StrCat(what, " cannot both delete and explode"));
    }
  }
  if (const Entry* as = Find(entries, "as"); as != nullptr && !handler.explode.has_value()) {
    return Err(as->key, absl::StrCat("'as' in ", what, " requires 'explode'"));
  }
  return handler;
}

absl::StatusOr<ViewConfig> Parser::ParseView(const Entry& entry, const Config& config) const {
  ViewConfig view;
  view.name = entry.name;
  view.loc = LocOf(entry.key);
  const std::string what = absl::StrCat("view ", Quoted(entry.name));
  if (!IsIdentifier(entry.name)) {
    return Err(entry.key, absl::StrCat("view name ", Quoted(entry.name),
                                       " must be an identifier (letters, digits, '_')"));
  }
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries, {"source", "key", "columns", "indexes", "on", "api"}, what));
  for (absl::string_view required : {"source", "key", "columns"}) {
    SV_RETURN_IF_ERROR(CheckRequired(entries, required, entry.key, what));
  }

  // source
  const Entry& source_entry = *Find(entries, "source");
  SV_ASSIGN_OR_RETURN(view.source, Name(source_entry, absl::StrCat("'source' of ", what)));
  const SourceConfig* source = nullptr;
  for (const SourceConfig& s : config.sources) {
    if (s.name == view.source) source = &s;
  }
  if (source == nullptr) {
    std::vector<std::string> names;
    for (const SourceConfig& s : config.sources) names.push_back(s.name);
    return Err(source_entry.value,
               absl::StrCat("unknown source ", Quoted(view.source), " in ", what,
                            " (declared: ", names.empty() ? "none" : JoinNames(names), ")"));
  }

  // columns
  const Entry& columns_entry = *Find(entries, "columns");
  SV_ASSIGN_OR_RETURN(Entries columns, MapEntries(columns_entry.value, columns_entry.key,
                                                  absl::StrCat("'columns' of ", what)));
  if (columns.empty()) {
    return Err(columns_entry.value, absl::StrCat("'columns' of ", what, " must not be empty"));
  }
  for (const Entry& c : columns) {
    SV_ASSIGN_OR_RETURN(ColumnConfig column, ParseColumn(c, view.name));
    view.columns.push_back(std::move(column));
  }
  auto is_column = [&](absl::string_view name) {
    return std::any_of(view.columns.begin(), view.columns.end(),
                       [&](const ColumnConfig& c) { return c.name == name; });
  };

  // key
  const Entry& key_entry = *Find(entries, "key");
  SV_ASSIGN_OR_RETURN(auto key, NameList(key_entry, absl::StrCat("'key' of ", what)));
  if (key.empty()) {
    return Err(key_entry.value, absl::StrCat("'key' of ", what, " must not be empty"));
  }
  for (auto& [name, node] : key) {
    if (!is_column(name)) {
      return Err(node, absl::StrCat("key column ", Quoted(name), " is not a column of ", what));
    }
    if (std::find(view.key.begin(), view.key.end(), name) != view.key.end()) {
      return Err(node, absl::StrCat("duplicate key column ", Quoted(name), " in ", what));
    }
    view.key.push_back(name);
  }

  // indexes
  if (const Entry* indexes = Find(entries, "indexes")) {
    SV_RETURN_IF_ERROR(ParseIndexes(*indexes, what, is_column, &view.indexes));
  }

  // on
  if (const Entry* on = Find(entries, "on")) {
    SV_ASSIGN_OR_RETURN(Entries handlers,
                        MapEntries(on->value, on->key, absl::StrCat("'on' of ", what)));
    for (const Entry& h : handlers) {
      SV_ASSIGN_OR_RETURN(HandlerConfig handler, ParseHandler(h, view, *source));
      view.handlers.push_back(std::move(handler));
    }
  }
  if (const Entry* api = Find(entries, "api")) SV_RETURN_IF_ERROR(ParseViewApi(*api, &view));
  return view;
}

absl::Status Parser::ParseIndexes(const Entry& indexes, absl::string_view what,
                                  const std::function<bool(absl::string_view)>& is_column,
                                  std::vector<IndexConfig>* out) const {
  const std::string iwhat = absl::StrCat("'indexes' of ", what);
  if (indexes.value.IsNull()) return absl::OkStatus();
  if (!indexes.value.IsSequence()) {
    return Err(indexes.value, absl::StrCat(iwhat, " must be a list of column lists, not ",
                                           KindName(indexes.value)));
  }
  for (auto it = indexes.value.begin(); it != indexes.value.end(); ++it) {
    const YAML::Node node = *it;
    if (!node.IsSequence()) {
      return Err(
          node.IsNull() ? indexes.value : node,
          absl::StrCat("an index in ", iwhat, " must be a list of columns, not ", KindName(node)));
    }
    IndexConfig index;
    index.loc = LocOf(node);
    SV_ASSIGN_OR_RETURN(
        auto cols, NameList(Entry{"", indexes.key, node}, absl::StrCat("an index in ", iwhat)));
    if (cols.empty()) return Err(node, absl::StrCat("an index in ", iwhat, " is empty"));
    for (auto& [name, col_node] : cols) {
      const absl::string_view bare =
          absl::string_view(name).substr(!name.empty() && name[0] == '-' ? 1 : 0);
      if (!is_column(bare)) {
        return Err(col_node,
                   absl::StrCat("index column ", Quoted(bare), " is not a column of ", what));
      }
      index.columns.push_back(name);
    }
    out->push_back(std::move(index));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseDerivedViews(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "derived_views"));
  for (const Entry& e : entries) {
    DerivedViewConfig view;
    view.name = e.name;
    view.loc = LocOf(e.key);
    const std::string what = absl::StrCat("derived view ", Quoted(e.name));
    if (!IsIdentifier(e.name)) {
      return Err(e.key, absl::StrCat("view name ", Quoted(e.name),
                                     " must be an identifier (letters, digits, '_')"));
    }
    for (const ViewConfig& v : config->views) {
      if (v.name == e.name) {
        return Err(e.key, absl::StrCat(what, " has the name of a view declared under 'views'"));
      }
    }
    SV_ASSIGN_OR_RETURN(Entries fields, MapEntries(e.value, e.key, what));
    SV_RETURN_IF_ERROR(CheckKeys(fields, {"sql", "indexes", "refresh"}, what));
    SV_RETURN_IF_ERROR(CheckRequired(fields, "sql", e.key, what));
    SV_ASSIGN_OR_RETURN(view.sql, Expr(*Find(fields, "sql"), absl::StrCat("'sql' of ", what)));
    if (const Entry* indexes = Find(fields, "indexes")) {
      // The columns come from the SELECT; projection/ checks them once it is compiled.
      SV_RETURN_IF_ERROR(ParseIndexes(
          *indexes, what, [](absl::string_view) { return true; }, &view.indexes));
    }
    if (const Entry* refresh = Find(fields, "refresh")) {
      SV_ASSIGN_OR_RETURN(view.refresh, Expr(*refresh, absl::StrCat("'refresh' of ", what)));
    }
    config->derived_views.push_back(std::move(view));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseViewApi(const Entry& entry, ViewConfig* view) const {
  const std::string what = absl::StrCat("'api' of view ", Quoted(view->name));
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, what));
  SV_RETURN_IF_ERROR(CheckKeys(entries, {"path", "time_column"}, what));
  view->api.loc = LocOf(entry.key);
  if (const Entry* e = Find(entries, "path")) {
    SV_ASSIGN_OR_RETURN(std::string path, Name(*e, absl::StrCat("'path' of ", what)));
    // One plain segment: the route and its /{key} sibling must not shadow the built-in ones.
    const bool plain =
        path.size() > 1 && path[0] == '/' && IsIdentifier(absl::string_view(path).substr(1));
    if (!plain) {
      return Err(e->value, absl::StrCat("'path' of ", what,
                                        " must be one segment like /orders, not ", Quoted(path)));
    }
    for (absl::string_view reserved :
         {"/views", "/lags", "/dlq", "/events", "/metrics", "/health", "/openapi"}) {
      if (path == reserved) {
        return Err(e->value,
                   absl::StrCat("'path' of ", what, " ", Quoted(path), " is a built-in route"));
      }
    }
    view->api.path = path;
  }
  if (const Entry* e = Find(entries, "time_column")) {
    SV_ASSIGN_OR_RETURN(std::string column, Name(*e, absl::StrCat("'time_column' of ", what)));
    const auto it = std::find_if(view->columns.begin(), view->columns.end(),
                                 [&](const ColumnConfig& c) { return c.name == column; });
    if (it == view->columns.end()) {
      return Err(e->value, absl::StrCat("time column ", Quoted(column), " is not a column of view ",
                                        Quoted(view->name)));
    }
    if (it->type != Type::kTime) {
      return Err(e->value,
                 absl::StrCat("time column ", Quoted(column), " of view ", Quoted(view->name),
                              " must be a timestamp, not ", std::string(TypeName(it->type))));
    }
    view->api.time_column = column;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseServer(const Entry& entry, Config* config) const {
  ServerConfig& server = config->server;
  server.enabled = true;
  server.loc = LocOf(entry.key);
  if (entry.value.IsNull()) return absl::OkStatus();  // `server:` alone: all defaults
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "server"));
  SV_RETURN_IF_ERROR(
      CheckKeys(entries,
                {"listen", "token", "token_env", "default_limit", "max_limit", "read_wait_ms",
                 "shutdown_grace_ms", "threads", "stall_after_ms", "max_connections",
                 "header_timeout_ms", "idle_timeout_ms", "max_body_bytes"},
                "server"));
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  for (const Entry& e : entries) {
    const std::string what = absl::StrCat("server.", e.name);
    if (e.name == "listen") {
      SV_ASSIGN_OR_RETURN(std::string listen, Name(e, what));
      if (!ParseListen(listen, &server.host, &server.port)) {
        return Err(e.value, absl::StrCat(what, " must be host:port (e.g. 127.0.0.1:8080), not ",
                                         Quoted(listen)));
      }
    } else if (e.name == "token") {
      SV_ASSIGN_OR_RETURN(server.token, Name(e, what));
    } else if (e.name == "token_env") {
      SV_ASSIGN_OR_RETURN(server.token_env, Name(e, what));
    } else if (e.name == "default_limit") {
      SV_ASSIGN_OR_RETURN(server.default_limit, Integer(e, what, 1, kMax));
    } else if (e.name == "max_limit") {
      SV_ASSIGN_OR_RETURN(server.max_limit, Integer(e, what, 1, kMax));
    } else if (e.name == "read_wait_ms") {
      SV_ASSIGN_OR_RETURN(server.read_wait_ms, Integer(e, what, 0, 60'000));
    } else if (e.name == "shutdown_grace_ms") {
      SV_ASSIGN_OR_RETURN(server.shutdown_grace_ms, Integer(e, what, 0, 3'600'000));
    } else if (e.name == "threads") {
      SV_ASSIGN_OR_RETURN(server.threads, Integer(e, what, 1, 1024));
    } else if (e.name == "max_connections") {
      SV_ASSIGN_OR_RETURN(server.max_connections, Integer(e, what, 1, 1'000'000));
    } else if (e.name == "header_timeout_ms") {
      SV_ASSIGN_OR_RETURN(server.header_timeout_ms, Integer(e, what, 100, 3'600'000));
    } else if (e.name == "idle_timeout_ms") {
      SV_ASSIGN_OR_RETURN(server.idle_timeout_ms, Integer(e, what, 100, 3'600'000));
    } else if (e.name == "max_body_bytes") {
      SV_ASSIGN_OR_RETURN(server.max_body_bytes, Integer(e, what, 1, int64_t{1} << 40));
    } else {
      SV_ASSIGN_OR_RETURN(server.stall_after_ms, Integer(e, what, 1, kMax));
    }
  }
  if (server.default_limit > server.max_limit) {
    return Err(entry.value, absl::StrCat("server.default_limit (", server.default_limit,
                                         ") exceeds server.max_limit (", server.max_limit, ")"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseViews(const Entry& entry, Config* config) const {
  SV_ASSIGN_OR_RETURN(Entries entries, MapEntries(entry.value, entry.key, "views"));
  for (const Entry& e : entries) {
    SV_ASSIGN_OR_RETURN(ViewConfig view, ParseView(e, *config));
    config->views.push_back(std::move(view));
  }
  return absl::OkStatus();
}

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
    SV_RETURN_IF_ERROR(CheckKeys(
        entries,
        {"store", "params", "sources", "gate", "engine", "server", "views", "derived_views"},
        "the config file"));
    // Sections are read in dependency order, not file order: views refer to sources.
    for (absl::string_view section :
         {"store", "params", "sources", "gate", "engine", "server", "views", "derived_views"}) {
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

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& file_name) {
  Parser parser(text, file_name);
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
  return std::nullopt;
}

}  // namespace sv::config
