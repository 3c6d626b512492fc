// SnapshotStore and PositionStore over the store seam: snapshots in one table of the engine's
// catalog (`sv_snapshots`, optimistic on a row version so that no save moves a snapshot back),
// positions in the engine's own position table under a source named after the projection.

#include <utility>

#include "absl/strings/str_cat.h"
#include "api/api_internal.h"
#include "streamview/position_store.h"
#include "streamview/snapshot_store.h"

namespace streamview {
namespace {

// Saves that lost a race to a concurrent save read again and retry this many times.
constexpr int kSaveAttempts = 16;

const sv::store::TableSpec& SnapshotTable() {
  static const sv::store::TableSpec* table = [] {
    auto* t = new sv::store::TableSpec;
    t->name = "sv_snapshots__v1";
    t->columns = {{"aggregate_type", sv::Type::kText}, {"aggregate_id", sv::Type::kText},
                  {"version", sv::Type::kInt},         {"data", sv::Type::kText},
                  {"saved_us", sv::Type::kInt},        {"_version", sv::Type::kInt}};
    t->key = {0, 1};
    return t;
  }();
  return *table;
}
constexpr int kRowVersion = 5;
constexpr char kSnapshotsDefinition[] = "library:snapshots:1";

}  // namespace

absl::Status DefineSnapshots(detail::ConnectionState* state) {
  if (state->snapshots_defined) return absl::OkStatus();
  sv::store::Store* store = state->store.get();
  absl::Status s = store->WithViewSetupLock([&]() -> absl::Status {
    absl::StatusOr<std::vector<sv::store::ViewVersion>> versions = store->ListViewVersions();
    if (!versions.ok()) return versions.status();
    for (const sv::store::ViewVersion& v : *versions) {
      if (v.view == "sv_snapshots" && v.active) return absl::OkStatus();
    }
    const sv::store::TableSpec& table = SnapshotTable();
    absl::Status created = store->CreateTable(table);
    if (!created.ok()) return created;
    created = store->RecordViewVersion(
        sv::store::ViewVersion("sv_snapshots", 1, table.name, kSnapshotsDefinition, false));
    if (!created.ok()) return created;
    return store->ActivateVersion("sv_snapshots", 1, table.name);
  });
  if (s.ok()) state->snapshots_defined = true;
  return s;
}

namespace {

std::string PositionSource(const std::string& projection) {
  return absl::StrCat("projection:", projection);
}

}  // namespace

Result<bool> SnapshotStore::Save(UnitOfWork& uow, const Snapshot& snapshot) {
  if (snapshot.aggregate_type.empty() || snapshot.aggregate_id.empty()) {
    return Invalid("a snapshot needs an aggregate type and id");
  }
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  const sv::Row key = {sv::Value::Text(snapshot.aggregate_type),
                       sv::Value::Text(snapshot.aggregate_id)};
  const sv::Row row = {key[0],
                       key[1],
                       sv::Value::Int(snapshot.version),
                       sv::Value::Text(snapshot.data),
                       sv::Value::Int(NowMicros()),
                       sv::Value::Int(0)};
  for (int attempt = 0; attempt < kSaveAttempts; ++attempt) {
    absl::StatusOr<std::optional<sv::Row>> stored = state_->store->GetRow(SnapshotTable(), key);
    if (!stored.ok()) return FromAbsl(stored.status());
    int64_t row_version = 0;
    if (stored->has_value()) {
      if ((**stored)[2].as_int() > snapshot.version) return false;
      row_version = (**stored)[kRowVersion].as_int();
    }
    absl::StatusOr<std::optional<int64_t>> written =
        (*batch)->UpsertVersioned(SnapshotTable(), row, kRowVersion, row_version);
    if (!written.ok()) return FromAbsl(written.status());
    if (written->has_value()) return true;
  }
  return Status(Code::kUnavailable, "snapshot save kept losing to concurrent saves; retry");
}

Result<std::optional<Snapshot>> SnapshotStore::Load(const std::string& aggregate_type,
                                                    const std::string& aggregate_id) {
  absl::StatusOr<std::optional<sv::Row>> stored = state_->store->GetRow(
      SnapshotTable(), {sv::Value::Text(aggregate_type), sv::Value::Text(aggregate_id)});
  if (!stored.ok()) return FromAbsl(stored.status());
  if (!stored->has_value()) return std::optional<Snapshot>();
  const sv::Row& row = **stored;
  Snapshot out;
  out.aggregate_type = aggregate_type;
  out.aggregate_id = aggregate_id;
  out.version = row[2].as_int();
  out.data = row[3].as_text();
  out.saved_us = row[4].as_int();
  return std::optional<Snapshot>(std::move(out));
}

Result<bool> SnapshotStore::Delete(UnitOfWork& uow, const std::string& aggregate_type,
                                   const std::string& aggregate_id) {
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  return FromAbsl((*batch)->DeleteVersioned(
      SnapshotTable(), {sv::Value::Text(aggregate_type), sv::Value::Text(aggregate_id)},
      kRowVersion, std::nullopt));
}

Status PositionStore::Save(UnitOfWork& uow, const std::string& projection, int64_t position,
                           int32_t partition) {
  if (projection.empty()) return Invalid("a position needs a projection name");
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  return FromAbsl((*batch)->SetPosition(PositionSource(projection), partition, position));
}

Result<std::map<int32_t, int64_t>> PositionStore::GetAll(const std::string& projection) {
  return FromAbsl(state_->store->GetPositions(PositionSource(projection)));
}

Result<std::optional<int64_t>> PositionStore::Get(const std::string& projection,
                                                  int32_t partition) {
  Result<std::map<int32_t, int64_t>> all = GetAll(projection);
  if (!all.ok()) return all.status();
  auto it = all->find(partition);
  if (it == all->end()) return std::optional<int64_t>();
  return std::optional<int64_t>(it->second);
}

}  // namespace streamview
