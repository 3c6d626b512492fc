#pragma once
// The two working sets projections write into: a bounded read-through cache over the store for
// the steady `run` loop, and plain in-memory maps for rebuild (which starts from nothing and
// writes every final row once, in key order).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "projection/projection.h"
#include "store/store.h"

namespace sv::engine {

// The rows one batch writes. Rows are immutable once put and shared with the cache, which goes
// on serving the next batch meanwhile (a later Put replaces the pointer, never the row).
struct WriteSet {
  std::vector<std::vector<std::shared_ptr<const Row>>> upserts;  // by view
  std::vector<std::vector<Row>> deletes;                         // by view: key values
  // Cache generations dropped while taking this batch: freed with the batch, on the thread that
  // wrote it (millions of rows; not the loop's work).
  std::vector<std::shared_ptr<void>> retired;
};

// One encoded row (common/value.h) in exactly the bytes it needs: 16 bytes in a map slot where
// a std::string takes 32, and no buffer rounded up by growth. Millions of these are a rebuild's
// working set.
class EncodedRow {
 public:
  std::string_view bytes() const { return {data_.get(), size_}; }
  void Assign(std::string_view bytes) {
    if (bytes.size() != size_) {
      data_ = std::make_unique_for_overwrite<char[]>(bytes.size());
      size_ = static_cast<uint32_t>(bytes.size());
    }
    std::copy(bytes.begin(), bytes.end(), data_.get());
  }
  void Release() {
    data_.reset();
    size_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  uint32_t size_ = 0;
};

class CachedRowSet : public projection::RowSet {
 public:
  // tables[v]: the physical table each view writes to.
  CachedRowSet(store::Store* store, std::vector<store::TableSpec> tables, size_t capacity)
      : store_(store),
        tables_(std::move(tables)),
        capacity_(capacity),
        views_(tables_.size()),
        previous_(tables_.size()) {}

  absl::StatusOr<const Row*> Find(int view, const std::string& key, const Row& key_values) override;
  void Put(int view, const std::string& key, Row row) override;
  void Erase(int view, const std::string& key) override;
  // Reads the rows of `keys` not held here in one GetRows, and holds each as found or absent.
  absl::Status Prefetch(int view, const std::vector<std::pair<std::string, Row>>& keys) override;
  std::optional<const Row*> Held(int view, const std::string& key) override;

  // Copies every dirty row out for one batch's commit and marks it clean; drops the older
  // generation when the cache outgrew its capacity.
  void TakeDirty(WriteSet* out);
  // The keys (encoded, and as column values) of the rows of `view` held here: the batch's
  // changes not yet in the store among them.
  void ListCached(int view, std::vector<std::pair<std::string, Row>>* out) const;
  // After a failed commit: forget everything (the store is the truth).
  void Reset();
  const store::TableSpec& table(int view) const { return tables_[view]; }
  void set_table(int view, store::TableSpec table) { tables_[view] = std::move(table); }
  // Told of every Put/Erase of the views for which `watched(view)` holds, with the row before
  // (null: none) and after (null: erased): how derived views see their inputs change. The rows
  // are immutable and shared, not copied: a batch's changes keep each version of a row once.
  using SharedRow = std::shared_ptr<const Row>;
  using ChangeListener = std::function<void(int view, SharedRow old_row, SharedRow new_row)>;
  void set_listener(std::vector<bool> watched, ChangeListener listener) {
    watched_ = std::move(watched);
    listener_ = std::move(listener);
  }

 private:
  // A row is held decoded while it is dirty (the batch in hand shares it), and encoded once its
  // batch took it: a clean row costs its encoding (a few hundred bytes) instead of a decoded
  // Row (56 bytes per column plus text), which is most of a large cache's memory.
  struct Entry {
    std::shared_ptr<const Row> row;  // decoded; set while dirty
    EncodedRow encoded;              // set while clean and present
    Row key;                         // key column values, for deletes
    bool present = false;            // false: no such row
    bool dirty = false;
  };
  Entry& Slot(int view, const std::string& key, bool* created);
  // The entry's row decoded (into scratch_ when clean), or nullptr when absent.
  const Row* Current(const Entry& e);
  SharedRow SharedCurrent(const Entry& e) const;

  using Rows = absl::flat_hash_map<std::string, Entry>;

  store::Store* store_;
  std::vector<store::TableSpec> tables_;
  size_t capacity_;
  size_t entries_ = 0;
  // Two generations approximate LRU at hash-map cost: rows touched since the last rotation
  // live in views_; when it fills half the capacity it becomes previous_, whose rows move back
  // on their next touch and are dropped at the rotation after. A full cache so keeps the hot
  // rows instead of starting cold.
  std::vector<Rows> views_;
  std::vector<Rows> previous_;
  std::vector<std::pair<int, std::string>> dirty_;
  std::vector<bool> watched_;
  ChangeListener listener_;
  Row scratch_;           // Find's result for a clean row (valid until the next call)
  std::string encoding_;  // reused buffer
};

// One row of a rebuild's working set: its encoded key and its encoded row in one allocation of
// exactly their size, 16 bytes in the set's slot (a std::string key beside an EncodedRow took
// 48, in a table that is up to half empty after it grows). The set's elements are const for
// its hashing, which reads only the key: the row part is mutable.
class KeyedRow {
 public:
  KeyedRow(std::string_view key, std::string_view row)
      : key_size_(static_cast<uint32_t>(key.size())) {
    Allocate(key, row);
  }
  std::string_view key() const { return {data_.get(), key_size_}; }
  std::string_view bytes() const { return {data_.get() + key_size_, row_size_}; }
  // Replaces the row (the key stays).
  void Assign(std::string_view row) const {
    if (row.size() == row_size_) {
      std::copy(row.begin(), row.end(), data_.get() + key_size_);
      return;
    }
    Allocate(key(), row);
  }
  // Frees key and row: the element may then only be destroyed (with its set).
  void Release() const {
    data_.reset();
    key_size_ = row_size_ = 0;
  }

 private:
  void Allocate(std::string_view key, std::string_view row) const {
    auto data = std::make_unique_for_overwrite<char[]>(key.size() + row.size());
    std::copy(key.begin(), key.end(), data.get());
    std::copy(row.begin(), row.end(), data.get() + key.size());
    data_ = std::move(data);
    row_size_ = static_cast<uint32_t>(row.size());
  }
  mutable std::unique_ptr<char[]> data_;
  mutable uint32_t key_size_;
  mutable uint32_t row_size_ = 0;
};

// Hash and equality of KeyedRow by key, looked up by the key alone.
struct KeyedRowHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return absl::Hash<std::string_view>{}(key); }
  size_t operator()(const KeyedRow& row) const { return (*this)(row.key()); }
};
struct KeyedRowEq {
  using is_transparent = void;
  static std::string_view KeyOf(std::string_view key) { return key; }
  static std::string_view KeyOf(const KeyedRow& row) { return row.key(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return KeyOf(a) == KeyOf(b);
  }
};

// Rows kept encoded to fit a large rebuild in memory.
class MemoryRowSet : public projection::RowSet {
 public:
  using Rows = absl::flat_hash_set<KeyedRow, KeyedRowHash, KeyedRowEq>;
  explicit MemoryRowSet(size_t views) : views_(views) {}
  absl::StatusOr<const Row*> Find(int view, const std::string& key, const Row& key_values) override;
  void Put(int view, const std::string& key, Row row) override;
  void Erase(int view, const std::string& key) override;
  Rows& rows(int view) { return views_[view]; }

 private:
  std::vector<Rows> views_;
  Row scratch_;
  std::string encoded_;  // reused encoding buffer
};

}  // namespace sv::engine
