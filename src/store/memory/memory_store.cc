#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "store/memory/memory_internal.h"
#include "store/memory/memory_values.h"

namespace sv::store::memory {
namespace {

// The database of `name`, created when no store has it open.
std::shared_ptr<Database> Attach(const std::string& name) {
  static std::mutex mu;
  static auto* databases = new std::map<std::string, std::weak_ptr<Database>>();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = databases->begin(); it != databases->end();) {
    it = it->second.expired() ? databases->erase(it) : std::next(it);
  }
  std::weak_ptr<Database>& slot = (*databases)[name];
  std::shared_ptr<Database> db = slot.lock();
  if (db == nullptr) {
    db = std::make_shared<Database>();
    db->name = name;
    slot = db;
  }
  return db;
}

absl::Status CheckSpec(const TableSpec& table) {
  const auto in_range = [&](int k) {
    return k >= 0 && static_cast<size_t>(k) < table.columns.size();
  };
  if (table.name.empty() || table.columns.empty() || table.key.empty() ||
      !std::all_of(table.key.begin(), table.key.end(), in_range)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory: table \"", table.name, "\" needs a name, columns and a primary key in range"));
  }
  return absl::OkStatus();
}

// Where each column `wanted` names is in `table`'s rows: a reader may name a view by a spec
// of its own. NotFound for a column the table lacks.
absl::StatusOr<std::vector<size_t>> ColumnsOf(const Table& table, const TableSpec& wanted) {
  std::vector<size_t> out;
  for (const ColumnSpec& c : wanted.columns) {
    const auto& have = table.spec.columns;
    auto it = std::find_if(have.begin(), have.end(),
                           [&](const ColumnSpec& h) { return h.name == c.name; });
    if (it == have.end()) {
      return absl::NotFoundError(
          absl::StrCat("memory: ", wanted.name, ": no such column: ", c.name));
    }
    out.push_back(static_cast<size_t>(it - have.begin()));
  }
  return out;
}

Row Project(const Row& row, const std::vector<size_t>& columns) {
  Row out;
  out.reserve(columns.size());
  for (size_t c : columns) out.push_back(row[c]);
  return out;
}

}  // namespace

absl::Status NoTable(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("memory: table \"", name, "\" does not exist"));
}

absl::StatusOr<std::pair<std::string, Row>> Stored(const Table& table, const Row& row,
                                                   absl::string_view what) {
  const TableSpec& spec = table.spec;
  if (row.size() != spec.columns.size()) {
    return absl::InvalidArgumentError(absl::StrCat("memory: ", what, " ", spec.name, ": row has ",
                                                   row.size(), " values, table has ",
                                                   spec.columns.size(), " columns"));
  }
  std::pair<std::string, Row> out;
  out.second.reserve(row.size());
  for (size_t c = 0; c < row.size(); ++c)
    out.second.push_back(memory::Coerce(spec.columns[c].type, row[c]));
  Row key;
  for (int k : spec.key) {
    if (out.second[k].is_null() && !spec.key_nullable) {
      return absl::InvalidArgumentError(absl::StrCat(
          "memory: ", what, " ", spec.name, ": key column ", spec.columns[k].name, " is NULL"));
    }
    key.push_back(out.second[k]);
  }
  out.first = memory::EncodedKey(key);
  return out;
}

// The encoded key of `key` (values of the key columns, in order) in `table`.
absl::StatusOr<std::string> KeyOf(const Table& table, const Row& key, absl::string_view what) {
  if (key.size() != table.spec.key.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory: ", what, " ", table.spec.name, ": key has ", key.size(),
                     " values, table key has ", table.spec.key.size()));
  }
  Row coerced;
  for (size_t i = 0; i < key.size(); ++i) {
    coerced.push_back(memory::Coerce(table.spec.columns[table.spec.key[i]].type, key[i]));
  }
  return memory::EncodedKey(coerced);
}

// ---- MemoryStore: log, tables, versions

absl::Status MemoryStore::Init() {
  if (options_.read_only) {
    std::shared_lock lock(db_->mu);
    if (db_->initialized) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "memory: read-only store: no writer has initialized memory store '", db_->name, "'"));
  }
  std::unique_lock lock(db_->mu);
  db_->initialized = true;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MemoryStore::AppendLog(std::vector<LogRecord>* records) {
  SV_RETURN_IF_ERROR(Writable());
  const int64_t now = Clock::Real()->NowMicros();
  std::unique_lock lock(db_->mu);
  for (LogRecord& record : *records) {
    record.position = static_cast<int64_t>(db_->log.size()) + 1;
    if (record.log_time_us == 0) record.log_time_us = now;
    db_->log.push_back(record);
  }
  return static_cast<int64_t>(db_->log.size());
}

absl::Status MemoryStore::ReadLog(int64_t after, size_t max, std::vector<LogRecord>* out) {
  std::shared_lock lock(db_->mu);
  const size_t begin = std::min(static_cast<size_t>(std::max<int64_t>(after, 0)), db_->log.size());
  const size_t n = std::min(max, db_->log.size() - begin);
  out->resize(n);
  std::copy_n(db_->log.begin() + static_cast<std::ptrdiff_t>(begin), n, out->begin());
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MemoryStore::LogEnd() {
  std::shared_lock lock(db_->mu);
  return static_cast<int64_t>(db_->log.size());
}

absl::StatusOr<LogStore::LogOrgIndexMark> MemoryStore::GetLogOrgIndexMark() {
  std::shared_lock lock(db_->mu);
  return db_->log_org_mark;
}

absl::Status MemoryStore::AddToLogOrgIndex(
    const LogOrgIndexMark& mark, bool restart,
    const std::vector<std::pair<std::string, std::string>>& org_keys) {
  SV_RETURN_IF_ERROR(Writable());
  std::unique_lock lock(db_->mu);
  if (restart) db_->log_org_keys.clear();
  for (const auto& [org, key] : org_keys) db_->log_org_keys[org].insert(key);
  db_->log_org_mark = mark;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> MemoryStore::LogPositionsOfOrganization(
    const std::string& organization, int64_t until) {
  std::shared_lock lock(db_->mu);
  std::vector<int64_t> positions;
  auto keys = db_->log_org_keys.find(organization);
  if (keys == db_->log_org_keys.end()) return positions;
  const int64_t end = std::min<int64_t>(until, static_cast<int64_t>(db_->log.size()));
  for (int64_t p = 1; p <= end; ++p) {
    if (keys->second.contains(db_->log[p - 1].key)) positions.push_back(p);
  }
  return positions;
}

absl::StatusOr<std::vector<int64_t>> MemoryStore::LogPositionsOfKey(const std::string& key,
                                                                    int64_t until) {
  std::shared_lock lock(db_->mu);
  std::vector<int64_t> positions;
  const int64_t end = std::min<int64_t>(until, static_cast<int64_t>(db_->log.size()));
  for (int64_t p = 1; p <= end; ++p) {
    if (db_->log[p - 1].key == key) positions.push_back(p);
  }
  return positions;
}

absl::Status MemoryStore::ReadLogAt(const std::vector<int64_t>& positions,
                                    std::vector<LogRecord>* out) {
  std::shared_lock lock(db_->mu);
  out->clear();
  for (int64_t p : positions) {
    if (p < 1 || p > static_cast<int64_t>(db_->log.size())) {
      out->clear();
      return absl::NotFoundError(absl::StrCat("memory: no log record at ", p));
    }
    out->push_back(db_->log[p - 1]);
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::CreateTable(const TableSpec& table) {
  SV_RETURN_IF_ERROR(CheckSpec(table));
  return Write([&](State& state) {
    auto created = std::make_shared<Table>();
    created->spec = table;
    state.tables[table.name] = std::move(created);  // a leftover of the name goes
    return absl::OkStatus();
  });
}

absl::Status MemoryStore::DropTable(const std::string& table) {
  return Write([&](State& state) {
    state.tables.erase(table);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ViewVersion>> MemoryStore::ListViewVersions() {
  return Read([](const State& state) {
    std::vector<ViewVersion> out;
    for (const auto& [id, version] : state.versions) out.push_back(version);
    return out;
  });
}

absl::Status MemoryStore::RecordViewVersion(const ViewVersion& version) {
  return Write([&](State& state) {
    state.versions[{version.view, version.version}] = version;
    return absl::OkStatus();
  });
}

absl::Status MemoryStore::DropViewVersion(const ViewVersion& version) {
  return Write([&](State& state) {
    state.tables.erase(version.table);
    auto it = state.versions.find({version.view, version.version});
    if (it != state.versions.end() && !it->second.active) state.versions.erase(it);
    return absl::OkStatus();
  });
}

absl::Status MemoryStore::ActivateVersion(const std::string& view, int64_t version,
                                          const std::string& table) {
  return Write([&](State& state) { return memory::Activate(&state, view, version, table); });
}

absl::Status MemoryStore::BulkInsert(const TableSpec& table,
                                     const std::function<const Row*()>& next_row) {
  SV_RETURN_IF_ERROR(CheckSpec(table));
  SV_RETURN_IF_ERROR(Writable());
  if (open_batch != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("memory: bulk insert into ", table.name, ": a Batch is open on this Store"));
  }
  std::shared_ptr<Table> target;
  {
    std::shared_lock lock(db_->mu);
    auto it = db_->state.tables.find(table.name);
    if (it == db_->state.tables.end()) return NoTable(table.name);
    target = it->second;
  }
  // Rows are collected outside the lock (next_row may take its time) and go in together.
  std::map<std::string, Row> rows;
  auto duplicate = [&](const std::string& key_of) {
    return absl::InternalError(
        absl::StrCat("memory: bulk insert into ", table.name, ": duplicate key in row ", key_of));
  };
  for (const Row* row = next_row(); row != nullptr; row = next_row()) {
    SV_ASSIGN_OR_RETURN(auto stored, Stored(*target, *row, "bulk insert into"));
    if (!rows.emplace(std::move(stored.first), std::move(stored.second)).second) {
      return duplicate(absl::StrCat(rows.size() + 1));
    }
  }
  std::unique_lock lock(db_->mu);
  auto it = db_->state.tables.find(table.name);
  if (it == db_->state.tables.end() || it->second != target) {
    return absl::AbortedError(absl::StrCat("memory: bulk insert into ", table.name,
                                           ": the table was dropped or recreated meanwhile"));
  }
  for (const auto& [key, row] : rows) {
    if (target->rows.count(key) != 0) return duplicate(row[target->spec.key[0]].ToString());
  }
  target->rows.merge(rows);
  return absl::OkStatus();
}

// ---- MemoryStore: reads

absl::StatusOr<std::optional<Row>> MemoryStore::GetRow(const TableSpec& table, const Row& key) {
  return Read([&](const State& state) -> absl::StatusOr<std::optional<Row>> {
    const Table* found = memory::FindTable(state, table.name);
    if (found == nullptr) return NoTable(table.name);
    SV_ASSIGN_OR_RETURN(const std::string encoded, KeyOf(*found, key, "get from"));
    auto it = found->rows.find(encoded);
    if (it == found->rows.end()) return std::optional<Row>();
    SV_ASSIGN_OR_RETURN(const std::vector<size_t> columns, ColumnsOf(*found, table));
    return std::optional<Row>(Project(it->second, columns));
  });
}

absl::StatusOr<std::vector<Row>> MemoryStore::AllRows(const TableSpec& table) {
  std::vector<Row> rows;
  SV_RETURN_IF_ERROR(Read([&](const State& state) -> absl::Status {
    const Table* found = memory::FindTable(state, table.name);
    if (found == nullptr) return NoTable(table.name);
    SV_ASSIGN_OR_RETURN(const std::vector<size_t> columns, ColumnsOf(*found, table));
    rows.reserve(found->rows.size());
    for (const auto& [key, row] : found->rows) rows.push_back(Project(row, columns));
    return absl::OkStatus();
  }));
  return rows;
}

absl::Status MemoryStore::ScanTable(const TableSpec& table,
                                    const std::function<void(const Row&)>& each) {
  SV_RETURN_IF_ERROR(CheckSpec(table));
  SV_ASSIGN_OR_RETURN(const std::vector<Row> rows, AllRows(table));
  for (const Row& row : rows) each(row);  // outside the lock: `each` may take its time
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Row>> MemoryStore::QueryView(const TableSpec& table,
                                                        const ViewQuery& query) {
  SV_ASSIGN_OR_RETURN(std::vector<Row> rows, AllRows(table));
  return memory::QueryPage(table, std::move(rows), query);
}

absl::StatusOr<std::optional<KeyState>> MemoryStore::GetKeyState(const std::string& source,
                                                                 const std::string& key) {
  return Read([&](const State& state) {
    auto it = state.keys.find({source, key});
    return it == state.keys.end() ? std::optional<KeyState>() : it->second;
  });
}

absl::StatusOr<std::vector<std::string>> MemoryStore::ListParkedKeys(const std::string& source) {
  return Read([&](const State& state) {
    std::vector<std::string> out;
    for (const auto& [source_key, key_state] : state.keys) {
      if (source_key.first == source && key_state.parked_on != 0) out.push_back(source_key.second);
    }
    return out;
  });
}

absl::StatusOr<std::vector<PendingEvent>> MemoryStore::ListPending(const std::string& source) {
  return Read([&](const State& state) {
    std::vector<PendingEvent> out;  // in (partition, position) order, the map's
    for (auto it = state.pending.lower_bound({source, INT32_MIN, INT64_MIN});
         it != state.pending.end() && std::get<0>(it->first) == source; ++it) {
      out.push_back(it->second);
    }
    return out;
  });
}

absl::StatusOr<std::vector<PendingEvent>> MemoryStore::GetPending(const std::string& source,
                                                                  const std::string& key) {
  SV_ASSIGN_OR_RETURN(std::vector<PendingEvent> all, ListPending(source));
  std::vector<PendingEvent> out;
  for (PendingEvent& e : all) {
    if (e.key == key) out.push_back(std::move(e));
  }
  // Stashed events first in sequence order, then held ones in position order.
  std::sort(out.begin(), out.end(), [](const PendingEvent& a, const PendingEvent& b) {
    if (a.held != b.held) return !a.held;
    if (!a.held && a.sequence != b.sequence) return a.sequence < b.sequence;
    return a.position < b.position;
  });
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> MemoryStore::LoadEventIds(
    const std::string& source) {
  return Read([&](const State& state) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (auto it = state.event_ids.lower_bound({source, ""});
         it != state.event_ids.end() && it->first.first == source; ++it) {
      out.emplace_back(it->first.second, it->second);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second, a.first) < std::tie(b.second, b.first);
    });
    return out;
  });
}

absl::StatusOr<std::map<int32_t, int64_t>> MemoryStore::GetPositions(const std::string& source) {
  return Read([&](const State& state) {
    std::map<int32_t, int64_t> out;
    for (auto it = state.positions.lower_bound({source, INT32_MIN});
         it != state.positions.end() && it->first.first == source; ++it) {
      out[it->first.second] = it->second;
    }
    return out;
  });
}

absl::StatusOr<std::map<std::pair<std::string, int32_t>, int64_t>> MemoryStore::AllPositions() {
  return Read([](const State& state) { return state.positions; });
}

absl::StatusOr<std::map<std::string, int64_t>> MemoryStore::GetCounters() {
  return Read([](const State& state) { return state.counters; });
}

absl::StatusOr<std::vector<DeadLetter>> MemoryStore::ListDeadLetters(bool only_open) {
  return Read([&](const State& state) {
    std::vector<DeadLetter> out;
    for (const auto& [id, dl] : state.dead_letters) {
      if (!only_open || dl.state == DeadLetterState::kOpen) out.push_back(dl);
    }
    return out;
  });
}

absl::StatusOr<std::optional<DeadLetter>> MemoryStore::GetDeadLetter(int64_t id) {
  return Read([&](const State& state) {
    auto it = state.dead_letters.find(id);
    return it == state.dead_letters.end() ? std::optional<DeadLetter>() : it->second;
  });
}

absl::StatusOr<std::vector<DeadLetter>> MemoryStore::ListDeadLetterOutbox(
    const std::string& source) {
  return Read([&](const State& state) {
    std::vector<DeadLetter> out;
    for (int64_t id : state.outbox) {
      auto it = state.dead_letters.find(id);
      if (it != state.dead_letters.end() && it->second.source == source) out.push_back(it->second);
    }
    return out;
  });
}

absl::Status MemoryStore::DeleteDeadLetterOutbox(const std::vector<int64_t>& ids) {
  return Write([&](State& state) {
    for (int64_t id : ids) state.outbox.erase(id);
    return absl::OkStatus();
  });
}

}  // namespace sv::store::memory

namespace sv::store {

absl::StatusOr<std::unique_ptr<Store>> OpenMemoryStore(const MemoryOptions& options) {
  std::shared_ptr<memory::Database> db = memory::Attach(options.name);
  if (options.engine_lock) {
    std::unique_lock lock(db->mu);
    if (db->engine_held) {
      return absl::FailedPreconditionError(absl::StrCat(
          "memory store '", options.name, "': another streamview engine is running on it"));
    }
    db->engine_held = true;
  }
  return std::unique_ptr<Store>(new memory::MemoryStore(std::move(db), options));
}

}  // namespace sv::store
