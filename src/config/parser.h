#pragma once
// The config parser's shared parts, private to config/: a YAML map's entries and the Parser
// whose methods read one section each (yaml_fields.cc: shape helpers; parse_runtime.cc: store,
// sources, gate, engine, server; parse_views.cc: views and derived views; parse_lookups.cc:
// lookups; parse_contracts.cc: a source's contracts; config.cc: the file).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace sv::config::internal {

inline constexpr absl::string_view kTypeNames =
    "text, integer, bigint, int, numeric, real, double, boolean, bool, timestamp, timestamptz, "
    "interval, json, jsonb";

// One entry of a YAML map, with its key already checked to be a scalar.
struct Entry {
  std::string name;
  YAML::Node key;
  YAML::Node value;
};

using Entries = std::vector<Entry>;

const Entry* Find(const Entries& entries, absl::string_view name);
bool IsIdentifier(absl::string_view s);
std::string Quoted(absl::string_view s);
std::string JoinNames(const std::vector<std::string>& names);
// A YAML scalar as a value: unquoted true/false, integers and reals typed, everything else
// (quoted and block scalars included) text; null as NULL.
Value ScalarValue(const YAML::Node& node);
// "a map", "a list", ... for messages.
const char* KindName(const YAML::Node& node);

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
  absl::Status ParseContracts(const Entry& entry, SourceConfig* source) const;
  absl::Status ParseSchemaRegistry(const Entry& entry, SourceConfig* source) const;
  absl::Status ParseGate(const Entry& entry, Config* config) const;
  absl::Status ParseEngine(const Entry& entry, Config* config) const;
  absl::Status ParseServer(const Entry& entry, Config* config) const;
  absl::Status ParseVerify(const Entry& entry, Config* config) const;
  absl::Status ParseTracing(const Entry& entry, Config* config) const;  // parse_tracing.cc
  absl::Status ParseAuth(const Entry& entry, AuthConfig* auth) const;
  absl::Status ParseSubscriptions(const Entry& entry, SubscriptionsConfig* out) const;
  // `columns`: the view's, to check the time column against; null for a derived view (checked
  // when its SELECT is bound).
  absl::Status ParseViewApi(const Entry& entry, const std::string& view_name,
                            const std::vector<ColumnConfig>* columns, ViewApiConfig* api) const;
  absl::Status ParseViews(const Entry& entry, Config* config) const;
  absl::Status ParseDerivedViews(const Entry& entry, Config* config) const;
  absl::Status ParseLookups(const Entry& entry, Config* config) const;
  absl::Status ParseCollections(const Entry& entry, Config* config) const;  // parse_collections
  // A table's `key:` — non-empty, each a column, none twice — into *key.
  absl::Status ParseKey(const Entry& key_entry, absl::string_view what,
                        const std::function<bool(absl::string_view)>& is_column,
                        std::vector<std::string>* key) const;
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

}  // namespace sv::config::internal
