// ProjectionStore over the store seam: a collection is a view table of the engine's catalog
// (version 1, with the SQL view named like the collection); writes are the seam's versioned
// writes and event-id claims inside the unit of work's Batch.

#include "streamview/projection_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/api_internal.h"

namespace streamview {
namespace {

constexpr char kVersionColumn[] = "_version";
constexpr char kEventColumn[] = "_last_event_id";

// The event ids applied to a collection live in the engine's event-id table under this source.
std::string EventSource(const std::string& collection) {
  return absl::StrCat("collection:", collection);
}

const char* TypeWord(ColumnType type) {
  switch (type) {
    case ColumnType::kBool:
      return "bool";
    case ColumnType::kInt:
      return "int";
    case ColumnType::kReal:
      return "real";
    case ColumnType::kText:
      return "text";
    case ColumnType::kTime:
      return "time";
    case ColumnType::kJson:
      return "json";
  }
  return "?";
}

// What the catalog records as the definition: a changed definition is refused, not migrated.
std::string Definition(const CollectionSpec& spec) {
  std::string out = "library:1;";
  for (const Column& c : spec.columns) absl::StrAppend(&out, c.name, " ", TypeWord(c.type), ",");
  absl::StrAppend(&out, ";key:");
  for (const std::string& k : spec.key) absl::StrAppend(&out, k, ",");
  for (const auto& index : spec.indexes) {
    absl::StrAppend(&out, ";index:");
    for (const std::string& c : index) absl::StrAppend(&out, c, ",");
  }
  return out;
}

int ColumnIndex(const sv::store::TableSpec& table, std::string_view name) {
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<CollectionTable> BuildTable(const CollectionSpec& spec) {
  if (spec.name.empty() || spec.name.front() == '_' || spec.name.find("__") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection name '", spec.name, "': empty, starting with '_' or with '__'"));
  }
  if (spec.columns.empty() || spec.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection ", spec.name, ": needs columns and a key"));
  }
  CollectionTable out;
  out.spec = spec;
  out.table.name = absl::StrCat(spec.name, "__v1");
  for (const Column& c : spec.columns) {
    if (c.name.empty() || c.name.front() == '_') {
      return absl::InvalidArgumentError(absl::StrCat("collection ", spec.name, ": column '", c.name,
                                                     "': empty or starting with '_'"));
    }
    if (ColumnIndex(out.table, c.name) >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("collection ", spec.name, ": column ", c.name, " twice"));
    }
    out.table.columns.push_back({c.name, StoreType(c.type)});
  }
  out.version_column = static_cast<int>(out.table.columns.size());
  out.table.columns.push_back({kVersionColumn, sv::Type::kInt});
  out.event_column = static_cast<int>(out.table.columns.size());
  out.table.columns.push_back({kEventColumn, sv::Type::kText});
  for (const std::string& k : spec.key) {
    const int i = ColumnIndex(out.table, k);
    if (i < 0 || i >= out.version_column) {
      return absl::InvalidArgumentError(
          absl::StrCat("collection ", spec.name, ": key column ", k, " is not a column"));
    }
    out.table.key.push_back(i);
  }
  for (const auto& index : spec.indexes) {
    for (const std::string& c : index) {
      if (ColumnIndex(out.table, c.empty() || c.front() != '-' ? c : c.substr(1)) < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("collection ", spec.name, ": index column ", c, " is not a column"));
      }
    }
    out.table.indexes.push_back({index});
  }
  return out;
}

absl::StatusOr<const CollectionTable*> FindCollection(detail::ConnectionState* state,
                                                      const std::string& collection) {
  auto it = state->collections.find(collection);
  if (it == state->collections.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collection ", collection, " is not defined on this connection (ProjectionStore::Define)"));
  }
  return &it->second;
}

absl::StatusOr<sv::Row> RowOf(const CollectionTable& c, const Document& doc,
                              const std::string& event_id) {
  sv::Row row(c.table.columns.size());
  for (const auto& [name, value] : doc) {
    const int i = ColumnIndex(c.table, name);
    if (i < 0 || i >= c.version_column) {
      return absl::InvalidArgumentError(
          absl::StrCat("collection ", c.spec.name, " has no column '", name, "'"));
    }
    absl::StatusOr<sv::Value> v = ToStore(value, c.spec.columns[i].type, name);
    if (!v.ok()) return v.status();
    row[i] = std::move(*v);
  }
  for (int k : c.table.key) {
    if (row[k].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat("collection ", c.spec.name, ": key column ",
                                                     c.table.columns[k].name, " is missing"));
    }
  }
  row[c.version_column] = sv::Value::Int(0);
  row[c.event_column] = sv::Value::Text(event_id);
  return row;
}

absl::StatusOr<sv::Row> KeyOf(const CollectionTable& c, const Key& key) {
  if (key.size() != c.table.key.size()) {
    return absl::InvalidArgumentError(absl::StrCat("collection ", c.spec.name, ": the key has ",
                                                   c.table.key.size(), " columns, ", key.size(),
                                                   " values given"));
  }
  sv::Row out;
  for (size_t k = 0; k < key.size(); ++k) {
    const int i = c.table.key[k];
    absl::StatusOr<sv::Value> v = ToStore(key[k], c.spec.columns[i].type, c.spec.columns[i].name);
    if (!v.ok()) return v.status();
    if (v->is_null()) return absl::InvalidArgumentError("a key value is NULL");
    out.push_back(std::move(*v));
  }
  return out;
}

Projection ProjectionOf(const CollectionTable& c, const sv::Row& row) {
  Projection p;
  for (int i = 0; i < c.version_column; ++i) {
    p.doc.emplace(c.table.columns[i].name, FromStore(row[i]));
  }
  p.version = row[c.version_column].as_int();
  p.last_event_id = row[c.event_column].is_null() ? "" : row[c.event_column].as_text();
  return p;
}

int64_t StoredVersion(const std::optional<sv::Row>& row, const CollectionTable& c) {
  return row.has_value() ? (*row)[c.version_column].as_int() : 0;
}

// Claims the event id for the collection: false when it was applied before.
absl::StatusOr<bool> Claim(sv::store::Batch* batch, const CollectionTable& c,
                           const std::string& event_id) {
  if (event_id.empty()) return true;
  return batch->ClaimEventId(EventSource(c.spec.name), event_id, NowMicros());
}

}  // namespace

Status ProjectionStore::Define(const CollectionSpec& spec) {
  absl::StatusOr<CollectionTable> built = BuildTable(spec);
  if (!built.ok()) return FromAbsl(built.status());
  const std::string definition = Definition(spec);
  sv::store::Store* store = state_->store.get();
  absl::Status defined = store->WithViewSetupLock([&]() -> absl::Status {
    absl::StatusOr<std::vector<sv::store::ViewVersion>> versions = store->ListViewVersions();
    if (!versions.ok()) return versions.status();
    for (const sv::store::ViewVersion& v : *versions) {
      if (v.view != spec.name || !v.active) continue;
      if (v.definition_hash != definition || v.table != built->table.name) {
        return absl::FailedPreconditionError(
            absl::StrCat("collection ", spec.name, " is stored with another definition (",
                         v.definition_hash, "); this one is ", definition));
      }
      return absl::OkStatus();
    }
    absl::Status s = store->CreateTable(built->table);
    if (!s.ok()) return s;
    s = store->RecordViewVersion(
        sv::store::ViewVersion(spec.name, 1, built->table.name, definition, false));
    if (!s.ok()) return s;
    return store->ActivateVersion(spec.name, 1, built->table.name);
  });
  if (!defined.ok()) return FromAbsl(defined);
  state_->collections[spec.name] = std::move(*built);
  return Status();
}

Result<std::optional<Projection>> ProjectionStore::Get(const std::string& collection,
                                                       const Key& key) {
  absl::StatusOr<const CollectionTable*> c = FindCollection(state_, collection);
  if (!c.ok()) return FromAbsl(c.status());
  absl::StatusOr<sv::Row> store_key = KeyOf(**c, key);
  if (!store_key.ok()) return FromAbsl(store_key.status());
  absl::StatusOr<std::optional<sv::Row>> row = state_->store->GetRow((*c)->table, *store_key);
  if (!row.ok()) return FromAbsl(row.status());
  if (!row->has_value()) return std::optional<Projection>();
  return std::optional<Projection>(ProjectionOf(**c, **row));
}

Result<Page> ProjectionStore::Find(const std::string& collection, const Query& query) {
  absl::StatusOr<const CollectionTable*> found = FindCollection(state_, collection);
  if (!found.ok()) return FromAbsl(found.status());
  const CollectionTable& c = **found;
  if (query.limit <= 0) return Invalid("Query::limit must be positive");
  sv::store::ViewQuery vq;
  for (const Filter& f : query.filters) {
    const int i = ColumnIndex(c.table, f.column);
    if (i < 0) return Invalid(absl::StrCat("collection ", collection, " has no column ", f.column));
    sv::store::Filter sf;
    sf.column = i;
    sf.op = static_cast<sv::store::FilterOp>(f.op);
    if (f.values.empty() || (f.op != FilterOp::kIn && f.values.size() != 1)) {
      return Invalid(absl::StrCat("filter on ", f.column, ": one value (several for kIn)"));
    }
    const ColumnType type = i < c.version_column    ? c.spec.columns[i].type
                            : i == c.version_column ? ColumnType::kInt
                                                    : ColumnType::kText;
    for (const Value& v : f.values) {
      absl::StatusOr<sv::Value> sv_value = ToStore(v, type, f.column);
      if (!sv_value.ok()) return FromAbsl(sv_value.status());
      sf.values.push_back(std::move(*sv_value));
    }
    vq.filters.push_back(std::move(sf));
  }
  if (!query.sort_by.empty()) {
    const int i = ColumnIndex(c.table, query.sort_by);
    if (i < 0) {
      return Invalid(absl::StrCat("collection ", collection, " has no column ", query.sort_by));
    }
    vq.sort = i;
  }
  vq.descending = query.descending;
  // The boundary tuple: [sort value,] key values.
  std::vector<int> boundary_columns;
  if (vq.sort.has_value()) boundary_columns.push_back(*vq.sort);
  for (int k : c.table.key) boundary_columns.push_back(k);
  if (!query.cursor.empty()) {
    absl::StatusOr<sv::Row> after = DecodeCursor(query.cursor, boundary_columns.size());
    if (!after.ok()) return FromAbsl(after.status());
    for (size_t b = 0; b < after->size(); ++b) {
      const sv::Value& v = (*after)[b];
      if (!v.is_null() && v.type() != c.table.columns[boundary_columns[b]].type) {
        return Invalid("malformed cursor: it belongs to another query");
      }
    }
    vq.after = std::move(*after);
  }
  vq.limit = query.limit + 1;  // one more tells whether a next page exists
  absl::StatusOr<std::vector<sv::Row>> rows = state_->store->QueryView(c.table, vq);
  if (!rows.ok()) return FromAbsl(rows.status());
  Page page;
  const bool more = static_cast<int64_t>(rows->size()) > query.limit;
  if (more) rows->resize(query.limit);
  for (const sv::Row& row : *rows) page.items.push_back(ProjectionOf(c, row));
  if (more) {
    sv::Row boundary;
    for (int col : boundary_columns) boundary.push_back(rows->back()[col]);
    page.next_cursor = EncodeCursor(boundary);
  }
  return page;
}

Result<WriteResult> ProjectionStore::Upsert(UnitOfWork& uow, const std::string& collection,
                                            const Document& doc, const WriteOptions& options) {
  absl::StatusOr<const CollectionTable*> found = FindCollection(state_, collection);
  if (!found.ok()) return FromAbsl(found.status());
  const CollectionTable& c = **found;
  if (options.expected_version.has_value() && *options.expected_version < 0) {
    return Invalid("expected_version must be 0 (no row yet) or a stored version");
  }
  absl::StatusOr<sv::Row> row = RowOf(c, doc, options.event_id);
  if (!row.ok()) return FromAbsl(row.status());
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  absl::StatusOr<bool> claimed = Claim(*batch, c, options.event_id);
  if (!claimed.ok()) return FromAbsl(claimed.status());
  if (!*claimed) return WriteResult{WriteOutcome::kAlreadyApplied, 0};
  absl::StatusOr<std::optional<int64_t>> written =
      (*batch)->UpsertVersioned(c.table, *row, c.version_column, options.expected_version);
  if (!written.ok()) return FromAbsl(written.status());
  if (written->has_value()) return WriteResult{WriteOutcome::kWritten, **written};
  // A conflict: the event did not take effect, so it is not applied either.
  if (!options.event_id.empty()) {
    absl::Status forgot = (*batch)->ForgetEventId(EventSource(collection), options.event_id);
    if (!forgot.ok()) return FromAbsl(forgot);
  }
  sv::Row key;
  for (int k : c.table.key) key.push_back((*row)[k]);
  absl::StatusOr<std::optional<sv::Row>> stored = state_->store->GetRow(c.table, key);
  if (!stored.ok()) return FromAbsl(stored.status());
  return WriteResult{WriteOutcome::kConflict, StoredVersion(*stored, c)};
}

Result<WriteResult> ProjectionStore::Delete(UnitOfWork& uow, const std::string& collection,
                                            const Key& key, const WriteOptions& options) {
  absl::StatusOr<const CollectionTable*> found = FindCollection(state_, collection);
  if (!found.ok()) return FromAbsl(found.status());
  const CollectionTable& c = **found;
  absl::StatusOr<sv::Row> store_key = KeyOf(c, key);
  if (!store_key.ok()) return FromAbsl(store_key.status());
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  absl::StatusOr<bool> claimed = Claim(*batch, c, options.event_id);
  if (!claimed.ok()) return FromAbsl(claimed.status());
  if (!*claimed) return WriteResult{WriteOutcome::kAlreadyApplied, 0};
  absl::StatusOr<bool> deleted =
      (*batch)->DeleteVersioned(c.table, *store_key, c.version_column, options.expected_version);
  if (!deleted.ok()) return FromAbsl(deleted.status());
  if (*deleted) return WriteResult{WriteOutcome::kWritten, 0};
  if (!options.event_id.empty()) {
    absl::Status forgot = (*batch)->ForgetEventId(EventSource(collection), options.event_id);
    if (!forgot.ok()) return FromAbsl(forgot);
  }
  if (!options.expected_version.has_value()) return WriteResult{WriteOutcome::kNotFound, 0};
  absl::StatusOr<std::optional<sv::Row>> stored = state_->store->GetRow(c.table, *store_key);
  if (!stored.ok()) return FromAbsl(stored.status());
  return WriteResult{WriteOutcome::kConflict, StoredVersion(*stored, c)};
}

Result<BulkResult> ProjectionStore::BulkUpsert(UnitOfWork& uow, const std::string& collection,
                                               const std::vector<Document>& docs,
                                               const std::string& event_id) {
  absl::StatusOr<const CollectionTable*> found = FindCollection(state_, collection);
  if (!found.ok()) return FromAbsl(found.status());
  const CollectionTable& c = **found;
  absl::StatusOr<sv::store::Batch*> batch = BatchOf(uow, state_);
  if (!batch.ok()) return FromAbsl(batch.status());
  absl::StatusOr<bool> claimed = Claim(*batch, c, event_id);
  if (!claimed.ok()) return FromAbsl(claimed.status());
  BulkResult result;
  if (!*claimed) {
    result.already_applied = true;
    return result;
  }
  std::vector<sv::Row> rows;
  rows.reserve(docs.size());
  for (const Document& doc : docs) {
    absl::StatusOr<sv::Row> row = RowOf(c, doc, event_id);
    if (!row.ok()) return FromAbsl(row.status());
    rows.push_back(std::move(*row));
  }
  std::vector<const sv::Row*> pointers;
  pointers.reserve(rows.size());
  for (const sv::Row& row : rows) pointers.push_back(&row);
  absl::Status written = (*batch)->UpsertRowsVersioned(c.table, pointers, c.version_column);
  if (!written.ok()) return FromAbsl(written);
  result.written = static_cast<int64_t>(rows.size());
  return result;
}

Result<WriteResult> ProjectionStore::Upsert(const std::string& collection, const Document& doc,
                                            const WriteOptions& options) {
  return InOwnUnitOfWork<WriteResult>(
      detail::BeginUnitOfWork(state_),
      [&](UnitOfWork& uow) { return Upsert(uow, collection, doc, options); },
      [](const WriteResult& r) { return r.written(); });
}

Result<WriteResult> ProjectionStore::Delete(const std::string& collection, const Key& key,
                                            const WriteOptions& options) {
  return InOwnUnitOfWork<WriteResult>(
      detail::BeginUnitOfWork(state_),
      [&](UnitOfWork& uow) { return Delete(uow, collection, key, options); },
      [](const WriteResult& r) { return r.written(); });
}

Result<BulkResult> ProjectionStore::BulkUpsert(const std::string& collection,
                                               const std::vector<Document>& docs,
                                               const std::string& event_id) {
  return InOwnUnitOfWork<BulkResult>(
      detail::BeginUnitOfWork(state_),
      [&](UnitOfWork& uow) { return BulkUpsert(uow, collection, docs, event_id); },
      [](const BulkResult& r) { return !r.already_applied; });
}

Status ProjectionStore::ForgetEventsBefore(const std::string& collection, int64_t before_us) {
  if (state_->uow_open) {
    return Status(Code::kFailedPrecondition, "ForgetEventsBefore: a unit of work is open");
  }
  std::unique_ptr<sv::store::Batch> batch = state_->store->BeginBatch();
  absl::Status s = batch->PruneEventIds(EventSource(collection), before_us);
  if (s.ok()) s = batch->Commit();
  return FromAbsl(s);
}

}  // namespace streamview
