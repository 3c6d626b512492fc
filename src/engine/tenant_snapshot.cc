// A tenant rebuild of a change feed's views reads one organization's rows of the source tables,
// not all of them, where that gives the same rows of the organization as the whole snapshot.
//
// That holds for a table t when each row of the rebuilt views it feeds is one row of t and
// carries t's organization: the views are fed by t alone, their key columns are set from t's
// primary key (the source checks it against the table) and their tenant column from one column
// of t by every insert and update, the delete deletes, and no handler reads another view or
// filters (when/explode). The snapshot then holds every row of the organization as the whole
// one does; what it leaves out are rows of other organizations, except those a live record of
// the tail moves into it. So the tail's records of rows the snapshot did not read are set aside
// by row; once the tail is complete, a row whose last record leaves it in the organization (or
// may: a value not compared for sure) is folded from the row as the snapshot held it (read in
// the snapshot's transaction, kept open) and then its records. The others end outside the
// organization or deleted, like their live rows, which the swap does not look at.
// A table feeding none of the rebuilt views is not read at all.

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "simdjson.h"

namespace sv::engine {
namespace {

std::string_view TypeOf(const source::SourceRecord& record) {
  for (const auto& [name, value] : record.headers) {
    if (name == "sv-type") return value;
  }
  return {};
}

// "<table>.<op>" split at its last dot; op is insert, update or delete for a table's rows.
std::pair<std::string_view, std::string_view> TableAndOp(std::string_view type) {
  const size_t dot = type.rfind('.');
  if (dot == std::string_view::npos) return {type, {}};
  return {type.substr(0, dot), type.substr(dot + 1)};
}

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  for (const std::string& n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

std::string FieldOf(const projection::HandlerPlan& h, int column) {
  for (size_t i = 0; i < h.key_sets.size(); ++i) {
    if (h.key_sets[i].first == column) return h.key_fields[i];
  }
  for (size_t i = 0; i < h.value_sets.size(); ++i) {
    if (h.value_sets[i].first == column) return h.value_fields[i];
  }
  return "";
}

namespace {

const projection::HandlerPlan* HandlerFor(const projection::SourcePlan& source,
                                          const projection::ViewPlan& view,
                                          const std::string& type) {
  auto it = source.type_ids.find(type);
  if (it == source.type_ids.end() || static_cast<size_t>(it->second) >= view.handlers.size()) {
    return nullptr;
  }
  return view.handlers[it->second].get();
}

// False when the organization's rows of `view` might not all come from `table`'s rows of the
// organization; else the column and key fields, consistent with `*out` if already set.
bool OneRowPerTableRow(const projection::SourcePlan& source, const projection::ViewPlan& view,
                       const std::string& table, source::SnapshotFilter::Table* out) {
  const projection::HandlerPlan* del = HandlerFor(source, view, table + ".delete");
  if (del == nullptr || !del->delete_row || del->when != nullptr) return false;
  if (HandlerFor(source, view, table + ".truncate") != nullptr) return false;
  for (const char* op : {".insert", ".update"}) {
    const projection::HandlerPlan* h = HandlerFor(source, view, table + op);
    if (h == nullptr || h->delete_row || h->when != nullptr || h->explode != nullptr ||
        h->reads_other_views) {
      return false;
    }
    const std::string column = FieldOf(*h, view.tenant);
    std::vector<std::string> keys;
    for (int k : view.key) keys.push_back(FieldOf(*h, k));
    if (column.empty() || Contains(keys, "")) return false;
    if (out->column.empty()) {
      out->column = column;
      out->key_fields = keys;
    } else if (out->column != column || out->key_fields != keys) {
      return false;
    }
  }
  return true;
}

}  // namespace

source::SnapshotFilter TenantSnapshotFilter(const projection::Catalog& catalog, int source,
                                            const std::vector<int>& views, const Value& tenant) {
  source::SnapshotFilter filter;
  if (tenant.is_null()) return filter;
  filter.value = tenant.ToString();
  const projection::SourcePlan& plan = catalog.sources[source];
  // The tables: the prefixes of the source's row event types.
  std::vector<std::string> tables;
  for (const auto& [type, id] : plan.type_ids) {
    const auto [table, op] = TableAndOp(type);
    if ((op == "insert" || op == "update" || op == "delete") && !Contains(tables, table)) {
      tables.emplace_back(table);
    }
  }
  std::sort(tables.begin(), tables.end());
  auto feeds = [&](const std::string& table, const projection::ViewPlan& view) {
    for (const char* op : {".insert", ".update", ".delete", ".truncate"}) {
      if (HandlerFor(plan, view, table + op) != nullptr) return true;
    }
    return false;
  };
  bool reads_views = false;  // then a table feeding none of them may still matter
  for (int v : views) {
    for (const auto& h : catalog.views[v].handlers) reads_views |= h && h->reads_other_views;
  }
  for (const std::string& table : tables) {
    bool fed = false, filterable = true;
    source::SnapshotFilter::Table how;
    for (int v : views) {
      const projection::ViewPlan& view = catalog.views[v];
      if (!feeds(table, view)) continue;
      fed = true;
      for (const std::string& other : tables) {
        filterable &= other == table || !feeds(other, view);
      }
      filterable &= view.tenant >= 0 && OneRowPerTableRow(plan, view, table, &how);
    }
    if (!fed && !reads_views) {
      filter.skipped.push_back(table);
    } else if (fed && filterable) {
      filter.tables.emplace(table, std::move(how));
    }
  }
  return filter;
}

void NoteSnapshotRow(TenantJob& job, const source::SourceRecord& record) {
  if (job.filtered_tables.empty() || !record.key.has_value()) return;
  const std::string_view table = TableAndOp(TypeOf(record)).first;
  if (Contains(job.filtered_tables, table)) {
    job.snapshot_rows.insert(absl::StrCat(std::string(table), "\n", *record.key));
  }
}

bool SetAsideLiveRecord(TenantJob& job, const source::SourceRecord& record) {
  if (job.filtered_tables.empty()) return false;
  if (const std::string truncated = TruncatedTable(record); !truncated.empty()) {
    // Every row of it is gone: its later records start from nothing, as the live ones do.
    std::vector<std::string> kept;
    for (std::string& id : job.set_aside_order) {
      if (absl::StartsWith(id, truncated + "\n")) {
        job.set_aside.erase(id);
      } else {
        kept.push_back(std::move(id));
      }
    }
    job.set_aside_order = std::move(kept);
    job.truncated_in_tail.push_back(truncated);
    return false;
  }
  const std::string_view table = TableAndOp(TypeOf(record)).first;
  if (!record.key.has_value() || !Contains(job.filtered_tables, table) ||
      Contains(job.truncated_in_tail, table)) {
    return false;
  }
  std::string id = absl::StrCat(std::string(table), "\n", *record.key);
  if (job.snapshot_rows.contains(id)) return false;
  std::vector<source::SourceRecord>& records = job.set_aside[id];
  if (records.empty()) job.set_aside_order.push_back(std::move(id));
  records.push_back(record);
  return true;
}

absl::Status FoldSetAside(TenantJob& job) {
  const std::string& tenant = job.filter.value;
  simdjson::dom::parser parser;
  for (const std::string& id : job.set_aside_order) {
    std::vector<source::SourceRecord>& records = job.set_aside[id];
    const source::SourceRecord& last = records.back();
    const auto [table, op] = TableAndOp(TypeOf(last));
    if (op == "delete") continue;  // gone, as the live row is
    const std::string& column = job.filter.tables.at(std::string(table)).column;
    // The organization the row ends in; anything not surely another one is folded.
    simdjson::dom::element value;
    if (parser.parse(last.value).at_key(column).get(value) == simdjson::SUCCESS) {
      std::string_view text;
      int64_t number = 0;
      if (value.get_string().get(text) == simdjson::SUCCESS && text != tenant) continue;
      if (value.get_int64().get(number) == simdjson::SUCCESS && absl::StrCat(number) != tenant) {
        continue;
      }
    }
    SV_ASSIGN_OR_RETURN(std::optional<source::SourceRecord> before,
                        job.replay->SnapshotRowOf(records.front()));
    if (before.has_value()) {
      SV_RETURN_IF_ERROR(job.processor->Process(*before));
      ++job.rows_fetched;
    }
    for (const source::SourceRecord& r : records) {
      SV_RETURN_IF_ERROR(job.processor->Process(r));
      ++job.events;
      ++job.tail_events;
    }
  }
  job.set_aside.clear();
  job.set_aside_order.clear();
  return absl::OkStatus();
}

}  // namespace sv::engine
