#include "engine/row_sets.h"

#include "common/status_macros.h"

namespace sv::engine {

CachedRowSet::Entry& CachedRowSet::Slot(int view, const std::string& key, bool* created) {
  auto [it, inserted] = views_[view].try_emplace(key);
  *created = inserted;
  if (inserted) {
    ++entries_;
    // Clean in the previous generation (everything there was committed): move it back.
    auto old = previous_[view].find(key);
    if (old != previous_[view].end()) {
      it->second = std::move(old->second);
      previous_[view].erase(old);
      *created = false;
    }
  }
  return it->second;
}

const Row* CachedRowSet::Current(const Entry& e) {
  if (e.row != nullptr) return e.row.get();
  if (!e.present) return nullptr;
  // Encoded by this class from a valid row: decoding cannot fail.
  (void)DecodeRow(e.encoded.bytes(), &scratch_);
  return &scratch_;
}

CachedRowSet::SharedRow CachedRowSet::SharedCurrent(const Entry& e) const {
  if (e.row != nullptr || !e.present) return e.row;
  auto row = std::make_shared<Row>();
  (void)DecodeRow(e.encoded.bytes(), row.get());
  return row;
}

absl::StatusOr<const Row*> CachedRowSet::Find(int view, const std::string& key,
                                              const Row& key_values) {
  bool created;
  Entry& e = Slot(view, key, &created);
  if (created) {
    e.key = key_values;
    auto row = store_->GetRow(tables_[view], key_values);
    if (!row.ok()) {
      views_[view].erase(key);
      --entries_;
      return row.status();
    }
    if (row->has_value()) {
      encoding_.clear();
      EncodeRow(**row, &encoding_);
      e.encoded.Assign(encoding_);
      e.present = true;
      scratch_ = std::move(**row);
      return &scratch_;
    }
  }
  return Current(e);
}

absl::Status CachedRowSet::Prefetch(int view,
                                    const std::vector<std::pair<std::string, Row>>& keys) {
  absl::flat_hash_map<std::string_view, const Row*> wanted;
  std::vector<Row> key_values;
  for (const auto& [key, values] : keys) {
    if (views_[view].contains(key) || previous_[view].contains(key)) continue;
    if (wanted.emplace(key, &values).second) key_values.push_back(values);
  }
  if (wanted.empty()) return absl::OkStatus();
  SV_ASSIGN_OR_RETURN(std::vector<Row> found, store_->GetRows(tables_[view], key_values));
  // Found rows are matched to the keys asked by their encoded key columns. A row that matches
  // none (a store whose values read back otherwise than the projections computed them) leaves
  // the absence of the others unproven: they are then read one by one when met, as before. So
  // does a key of a type whose SQL equality is not its encoding's (0.0 = -0.0, JSON numbers):
  // a row found for one key asked may be another's too.
  bool all_matched = std::all_of(tables_[view].key.begin(), tables_[view].key.end(), [&](int k) {
    const Type type = tables_[view].columns[k].type;
    return type != Type::kReal && type != Type::kJson && type != Type::kNull;
  });
  std::string key;
  Row row_key;
  for (Row& row : found) {
    row_key.clear();
    for (int k : tables_[view].key) row_key.push_back(row[k]);
    key.clear();
    EncodeKey(row_key.data(), row_key.size(), &key);
    auto it = wanted.find(key);
    if (it == wanted.end()) {
      all_matched = false;
      continue;
    }
    bool created;
    Entry& e = Slot(view, key, &created);
    e.key = std::move(row_key);
    encoding_.clear();
    EncodeRow(row, &encoding_);
    e.encoded.Assign(encoding_);
    e.present = true;
    wanted.erase(it);
  }
  if (!all_matched) return absl::OkStatus();
  for (const auto& [absent_key, values] : wanted) {
    bool created;
    Entry& e = Slot(view, std::string(absent_key), &created);
    e.key = *values;
  }
  return absl::OkStatus();
}

std::optional<const Row*> CachedRowSet::Held(int view, const std::string& key) {
  for (const Rows* rows : {&views_[view], &previous_[view]}) {
    auto it = rows->find(key);
    if (it != rows->end()) return Current(it->second);
  }
  return std::nullopt;
}

void CachedRowSet::Put(int view, const std::string& key, Row row) {
  bool created;
  Entry& e = Slot(view, key, &created);
  if (created || e.key.empty()) {
    const auto& spec = tables_[view];
    e.key.clear();
    for (int k : spec.key) e.key.push_back(row[k]);
  }
  auto now = std::make_shared<const Row>(std::move(row));
  if (view < static_cast<int>(watched_.size()) && watched_[view]) {
    listener_(view, SharedCurrent(e), now);
  }
  e.row = std::move(now);
  e.encoded.Release();
  e.present = true;
  if (!e.dirty) {
    e.dirty = true;
    dirty_.emplace_back(view, key);
  }
}

void CachedRowSet::Erase(int view, const std::string& key) {
  bool created;
  Entry& e = Slot(view, key, &created);
  if (e.present && view < static_cast<int>(watched_.size()) && watched_[view]) {
    listener_(view, SharedCurrent(e), nullptr);
  }
  e.row.reset();
  e.encoded.Release();
  e.present = false;
  if (!e.dirty) {
    e.dirty = true;
    dirty_.emplace_back(view, key);
  }
}

void CachedRowSet::ListCached(int view, std::vector<std::pair<std::string, Row>>* out) const {
  for (const Rows* rows : {&views_[view], &previous_[view]}) {
    for (const auto& [key, entry] : *rows) {
      if (entry.present) out->emplace_back(key, entry.key);
    }
  }
}

void CachedRowSet::TakeDirty(WriteSet* out) {
  out->upserts.resize(views_.size());
  out->deletes.resize(views_.size());
  // Each dirty key is listed once and ends either as a row or deleted, so the upserts of a
  // view can go together (several rows per statement) and the deletes after them.
  for (const auto& [view, key] : dirty_) {
    auto it = views_[view].find(key);
    if (it == views_[view].end() || !it->second.dirty) continue;
    Entry& e = it->second;
    e.dirty = false;
    if (e.present) {
      // The batch takes the decoded row; the cache keeps it encoded from now.
      encoding_.clear();
      EncodeRow(*e.row, &encoding_);
      e.encoded.Assign(encoding_);
      out->upserts[view].push_back(std::move(e.row));
    } else if (!e.key.empty()) {
      out->deletes[view].push_back(e.key);
    }
  }
  dirty_.clear();
  // Drop the older generation when full. Callers take a batch only when no earlier one is
  // still being written, so every row dropped here is durable.
  if (entries_ > capacity_ / 2) {
    for (size_t v = 0; v < views_.size(); ++v) {
      if (!previous_[v].empty())
        out->retired.push_back(std::make_shared<Rows>(std::move(previous_[v])));
      previous_[v] = std::move(views_[v]);
      views_[v] = Rows();
    }
    entries_ = 0;
  }
}

void CachedRowSet::Reset() {
  for (auto& m : views_) m.clear();
  for (auto& m : previous_) m.clear();
  dirty_.clear();
  entries_ = 0;
}

absl::StatusOr<const Row*> MemoryRowSet::Find(int view, const std::string& key,
                                              const Row& /*key_values*/) {
  auto it = views_[view].find(std::string_view(key));
  if (it == views_[view].end()) return nullptr;
  if (!DecodeRow(it->bytes(), &scratch_)) return absl::InternalError("corrupt row encoding");
  return &scratch_;
}

void MemoryRowSet::Put(int view, const std::string& key, Row row) {
  encoded_.clear();
  EncodeRow(row, &encoded_);
  Rows& rows = views_[view];
  auto it = rows.find(std::string_view(key));
  if (it == rows.end()) {
    rows.emplace(key, encoded_);
  } else {
    it->Assign(encoded_);
  }
}

void MemoryRowSet::Erase(int view, const std::string& key) {
  views_[view].erase(std::string_view(key));
}

}  // namespace sv::engine
