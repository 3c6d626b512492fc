#include "store/engine_schema.h"

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sv::store {
namespace {

struct Column {
  const char* name;
  EngineColumnType type;
  const char* check = nullptr;  // a CHECK expression over the column, if any
};

struct Table {
  const char* name;
  std::vector<Column> columns;
  std::vector<const char*> primary_key;
  // A clustered (index-organized) table where the dialect has the choice: keyed by text, the
  // rows are found through the key alone.
  bool clustered = false;
};

struct Index {
  const char* name;
  const char* table;
  std::vector<const char*> columns;
  bool unique = false;
};

struct Step {
  std::vector<Table> tables;
  std::vector<Index> indexes;
};

using T = EngineColumnType;

// Append new steps; never edit an old one (stores at that version already ran it).
const std::array<Step, 5>& Steps() {
  static const auto* steps = new std::array<Step, 5>{{
      // 0 -> 1: the log, the gate's state, dead letters, dedup ids, positions, versions.
      {{
           {"sv_log",
            {{"position", T::kRowId},
             {"log_time_us", T::kInt64},
             {"key", T::kText},
             {"raw", T::kText}},
            {"position"}},
           {"sv_keys",
            {{"source", T::kKeyText},
             {"key", T::kKeyText},
             {"last_sequence", T::kInt64},
             {"parked_on", T::kInt64}},
            {"source", "key"},
            true},
           {"sv_pending",
            {{"source", T::kKeyText},
             {"partition", T::kInt32},
             {"position", T::kInt64},
             {"key", T::kKeyText},
             {"sequence", T::kInt64},
             {"log_time_us", T::kInt64},
             {"held", T::kBool},
             {"raw", T::kText}},
            {"source", "partition", "position"}},
           {"sv_dead_letters",
            {{"id", T::kRowId},
             {"source", T::kKeyText},
             {"partition", T::kInt32},
             {"position", T::kInt64},
             {"key", T::kText},
             {"reason", T::kText},
             {"raw", T::kText},
             {"created_us", T::kInt64},
             {"state", T::kText, "state IN ('open', 'replayed', 'discarded')"},
             {"parks_key", T::kBool}},
            {"id"}},
           // `position` is the id's order of arrival in its source's dedup window.
           {"sv_event_ids",
            {{"source", T::kKeyText}, {"event_id", T::kKeyText}, {"position", T::kInt64}},
            {"source", "event_id"},
            true},
           {"sv_positions",
            {{"source", T::kKeyText}, {"partition", T::kInt32}, {"position", T::kInt64}},
            {"source", "partition"},
            true},
           {"sv_counters", {{"name", T::kKeyText}, {"value", T::kInt64}}, {"name"}},
           {"sv_view_versions",
            {{"view", T::kKeyText},
             {"version", T::kInt64},
             {"table_name", T::kText},
             {"definition_hash", T::kText},
             {"active", T::kBool}},
            {"view", "version"},
            true},
       },
       {
           {"sv_pending__by_key", "sv_pending", {"source", "key", "held", "sequence", "position"}},
           {"sv_dead_letters__by_position",
            "sv_dead_letters",
            {"source", "partition", "position"},
            true},
           {"sv_event_ids__by_position", "sv_event_ids", {"source", "position"}},
       }},
      // 1 -> 2: the dead-letter outbox (dead letters whose topic copy is not yet confirmed).
      {{{"sv_dead_letter_outbox", {{"id", T::kRowId}}, {"id"}}}, {}},
      // 2 -> 3: what a version is beside being active (blue/green versions): the config's
      // version it was built from, kept on purpose (standby or built unpromoted), and the
      // positions its rows stand at. A version without a row here: 0, not kept, "".
      {{{"sv_view_version_notes",
         {{"view", T::kKeyText},
          {"version", T::kInt64},
          {"config_version", T::kInt64},
          {"kept", T::kBool},
          {"as_of", T::kText}},
         {"view", "version"},
         true}},
       {}},
      // 3 -> 4: the last version of each deleted row of a versioned table (optimistic
      // concurrency): a key written again goes on from it, so a version (an ETag) never names
      // two different rows. `key` is the row's encoded key (DeletedVersionKey).
      {{{"sv_deleted_versions",
         {{"table_name", T::kKeyText}, {"key", T::kKeyText}, {"version", T::kInt64}},
         {"table_name", "key"},
         true}},
       {}},
      // 4 -> 5: the log's organization index (LogStore::AddToLogOrgIndex): which keys a record
      // declared to be of an organization. The index of the log by key that reading them needs
      // is made by the first AddToLogOrgIndex, so a log nobody indexes pays nothing at append.
      {{{"sv_log_orgs", {{"org", T::kKeyText}, {"key", T::kKeyText}}, {"org", "key"}, true}}, {}},
  }};
  return *steps;
}

std::string QuotedList(const std::vector<const char*>& names) {
  std::vector<std::string> quoted;
  quoted.reserve(names.size());
  for (const char* n : names) quoted.push_back(QuoteIdent(n));
  return absl::StrJoin(quoted, ", ");
}

std::string CreateTable(const Table& table, const SqlDialect& dialect, absl::string_view schema) {
  std::vector<std::string> parts;
  for (const Column& c : table.columns) {
    std::string part = absl::StrCat("  ", QuoteIdent(c.name), " ", dialect.EngineType(c.type));
    const bool single_key =
        table.primary_key.size() == 1 && std::string_view(table.primary_key[0]) == c.name;
    if (single_key) {
      absl::StrAppend(&part, " PRIMARY KEY");
    } else {
      absl::StrAppend(&part, " NOT NULL");
    }
    if (c.check != nullptr) absl::StrAppend(&part, " CHECK(", c.check, ")");
    parts.push_back(std::move(part));
  }
  if (table.primary_key.size() > 1) {
    parts.push_back(absl::StrCat("  PRIMARY KEY(", QuotedList(table.primary_key), ")"));
  }
  return absl::StrCat("CREATE TABLE IF NOT EXISTS ", schema, QuoteIdent(table.name), "(\n",
                      absl::StrJoin(parts, ",\n"), ")",
                      table.clustered ? dialect.clustered_table_suffix : "", ";\n");
}

std::string CreateIndex(const Index& index, absl::string_view schema) {
  return absl::StrCat("CREATE ", index.unique ? "UNIQUE " : "", "INDEX IF NOT EXISTS ",
                      QuoteIdent(index.name), " ON ", schema, QuoteIdent(index.table), "(",
                      QuotedList(index.columns), ");\n");
}

}  // namespace

int EngineSchemaVersion() { return static_cast<int>(Steps().size()); }

std::string EngineSchemaStep(int from, const SqlDialect& dialect, std::string_view schema) {
  const Step& step = Steps().at(static_cast<size_t>(from));
  std::string sql;
  const absl::string_view prefix(schema.data(), schema.size());
  for (const Table& t : step.tables) absl::StrAppend(&sql, CreateTable(t, dialect, prefix));
  for (const Index& i : step.indexes) absl::StrAppend(&sql, CreateIndex(i, prefix));
  return sql;
}

}  // namespace sv::store
