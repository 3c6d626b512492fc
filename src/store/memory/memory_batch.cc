#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "store/memory/memory_internal.h"

namespace sv::store::memory {

// ---- MemoryBatch

absl::Status MemoryBatch::Begin() {
  if (finished_) return absl::FailedPreconditionError("memory: batch already committed");
  SV_RETURN_IF_ERROR(store_->Writable());
  if (!broken_.ok()) return broken_;
  if (begun_) return absl::OkStatus();
  if (store_->open_batch != nullptr) {
    return absl::FailedPreconditionError("memory: another batch is open on this Store");
  }
  store_->open_batch = this;
  begun_ = true;
  return absl::OkStatus();
}

void MemoryBatch::Release() {
  // Once finished a batch never touches its store again: it may outlive it (as on SQLite).
  if (!begun_) return;
  begun_ = false;
  if (store_->open_batch == this) store_->open_batch = nullptr;
}

absl::StatusOr<Delta::TableChanges*> MemoryBatch::ChangesOf(const TableSpec& table) {
  auto it = delta_.tables.find(table.name);
  if (it != delta_.tables.end()) return &it->second;
  std::shared_lock lock(store_->db().mu);
  const auto& tables = store_->db().state.tables;
  auto found = tables.find(table.name);
  if (found == tables.end()) return NoTable(table.name);
  Delta::TableChanges& changes = delta_.tables[table.name];
  changes.table = found->second;
  return &changes;
}

absl::Status MemoryBatch::Upsert(const TableSpec& table, const Row& row) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(Delta::TableChanges * changes, ChangesOf(table));
  SV_ASSIGN_OR_RETURN(auto stored, Stored(*changes->table, row, "upsert into"));
  changes->rows[std::move(stored.first)] = std::move(stored.second);
  return absl::OkStatus();
}

absl::Status MemoryBatch::Delete(const TableSpec& table, const Row& key) {
  SV_RETURN_IF_ERROR(Begin());
  SV_ASSIGN_OR_RETURN(Delta::TableChanges * changes, ChangesOf(table));
  SV_ASSIGN_OR_RETURN(std::string encoded, KeyOf(*changes->table, key, "delete from"));
  changes->rows[std::move(encoded)].reset();
  return absl::OkStatus();
}

absl::Status MemoryBatch::PutKeyState(const std::string& source, const KeyState& state) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.keys[{source, state.key}] = state;
  return absl::OkStatus();
}

absl::Status MemoryBatch::PutPending(const std::string& source, const PendingEvent& event) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.pending[{source, event.partition, event.position}] = event;
  return absl::OkStatus();
}

absl::Status MemoryBatch::DeletePending(const std::string& source, int32_t partition,
                                        int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.pending[{source, partition, position}].reset();
  return absl::OkStatus();
}

absl::Status MemoryBatch::AddDeadLetter(DeadLetter* dl) {
  SV_RETURN_IF_ERROR(Begin());
  const PendingId at{dl->source, dl->partition, dl->position};
  int64_t id = 0;
  if (auto mine = delta_.dead_letter_ids.find(at); mine != delta_.dead_letter_ids.end()) {
    id = mine->second;
  } else {
    std::shared_lock lock(store_->db().mu);
    const auto& ids = store_->db().state.dead_letter_ids;
    auto known = ids.find(at);
    id = known != ids.end() ? known->second : ++store_->db().last_dead_letter_id;
  }
  dl->id = id;
  if (dl->created_us == 0) dl->created_us = Clock::Real()->NowMicros();
  delta_.dead_letter_ids[at] = id;
  delta_.dead_letters[id] = *dl;
  return absl::OkStatus();
}

absl::Status MemoryBatch::SetDeadLetterState(int64_t id, DeadLetterState state) {
  SV_RETURN_IF_ERROR(Begin());
  auto mine = delta_.dead_letters.find(id);
  if (mine == delta_.dead_letters.end()) {
    std::shared_lock lock(store_->db().mu);
    const auto& stored = store_->db().state.dead_letters;
    auto it = stored.find(id);
    if (it == stored.end()) return absl::NotFoundError(absl::StrCat("memory: no dead letter ", id));
    mine = delta_.dead_letters.emplace(id, it->second).first;
  }
  mine->second.state = state;
  return absl::OkStatus();
}

absl::Status MemoryBatch::AddDeadLetterOutbox(int64_t id) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.outbox.insert(id);
  return absl::OkStatus();
}

absl::Status MemoryBatch::PutEventId(const std::string& source, const std::string& event_id,
                                     int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.event_ids[{source, event_id}] = position;
  return absl::OkStatus();
}

absl::Status MemoryBatch::PruneEventIds(const std::string& source, int64_t below) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.PruneEventIds(source, below);
  return absl::OkStatus();
}

absl::Status MemoryBatch::AddCounters(const std::map<std::string, int64_t>& deltas) {
  if (deltas.empty()) return absl::OkStatus();
  SV_RETURN_IF_ERROR(Begin());
  for (const auto& [name, add] : deltas) delta_.counters[name] += add;
  return absl::OkStatus();
}

absl::Status MemoryBatch::SetPosition(const std::string& source, int32_t partition,
                                      int64_t position) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.positions[{source, partition}] = position;
  return absl::OkStatus();
}

absl::Status MemoryBatch::ActivateVersion(const std::string& view, int64_t version,
                                          const std::string& table) {
  SV_RETURN_IF_ERROR(Begin());
  {
    std::shared_lock lock(store_->db().mu);
    if (store_->db().state.tables.count(table) == 0) {
      return absl::NotFoundError(absl::StrCat("memory: activate ", view, " version ", version,
                                              ": no table \"", table, "\""));
    }
  }
  delta_.activations.emplace_back(view, version, table);
  return absl::OkStatus();
}

absl::Status MemoryBatch::ReplaceWithSelect(const TableSpec& /*table*/,
                                            const std::string& /*select_sql*/) {
  SV_RETURN_IF_ERROR(Begin());
  broken_ = absl::UnimplementedError(absl::StrCat(kNoSql, " (the batch was rolled back)"));
  return absl::UnimplementedError(kNoSql);
}

absl::Status MemoryBatch::ClearSourceState(const std::string& source) {
  SV_RETURN_IF_ERROR(Begin());
  delta_.ClearSource(source);
  return absl::OkStatus();
}

absl::Status MemoryBatch::Commit() {
  if (finished_) return absl::FailedPreconditionError("memory: batch already committed");
  finished_ = true;
  Release();
  if (!broken_.ok()) return broken_;
  if (delta_.empty()) return absl::OkStatus();
  std::unique_lock lock(store_->db().mu);
  return memory::Apply(delta_, &store_->db().state, /*copy_tables=*/false);
}

}  // namespace sv::store::memory
