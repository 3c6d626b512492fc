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
  // (nullptr: none) and after (nullptr: erased): how derived views see their inputs change.
  using ChangeListener = std::function<void(int view, const Row* old_row, const Row* new_row)>;
  void set_listener(std::vector<bool> watched, ChangeListener listener) {
    watched_ = std::move(watched);
    listener_ = std::move(listener);
  }

 private:
  struct Entry {
    std::shared_ptr<const Row> row;  // null: no such row
    Row key;                         // key column values, for deletes
    bool dirty = false;
  };
  Entry& Slot(int view, const std::string& key, bool* created);

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

// Rows kept encoded to fit a large rebuild in memory.
class MemoryRowSet : public projection::RowSet {
 public:
  using Rows = absl::flat_hash_map<std::string, EncodedRow>;
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
