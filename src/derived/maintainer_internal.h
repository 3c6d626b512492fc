#pragma once
// The maintainer's state per derived view, shared by maintainer.cc and timers.cc. Private to
// derived/.

#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "derived/accumulators.h"
#include "derived/maintainer.h"

namespace sv::derived {

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

// Rows are kept encoded (common/value.h): a reporting view can have a group per input row.
struct Group {
  // (The GROUP BY values are the group's key in the map, DecodeKey: not kept twice.)
  std::string emitted;  // the row the store holds, EncodeRow; empty: none
  int64_t rows = 0;
  std::unique_ptr<int64_t[]> slots;                   // count / sum / avg state, inline
  std::vector<std::unique_ptr<Accumulator>> ordered;  // min, max, DISTINCT, percentiles
  bool dirty = false;
};

// A non-aggregate view's row and how many input tuples produce it.
struct PlainRow {
  int64_t count = 0;
  // EncodeRow; kept only while dirty: once flushed, `emitted` is the row (one copy in memory).
  std::string row;
  std::string emitted;  // EncodeRow; empty: none
  bool dirty = false;
};

// One side of a join: its rows (EncodeRow) by join key, then by their own key.
using SideIndex = absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, std::string>>;

// What one input tuple gives a derived view: whether it passes WHERE, its group (or output
// row) and key, and per aggregate whether FILTER counts it and its argument.
struct Maintainer::Contribution {
  bool passes = false;
  // Timed views: the tuple's next flip time after the clock (kNoDeadline: none). Not part
  // of ==: it follows from the tuple, which Replace compares itself.
  int64_t deadline = kNoDeadline;
  std::string key;
  Row values;  // GROUP BY values, or the output row
  std::vector<bool> counted;
  Row args;  // per aggregate: its argument, then its more_args
  bool operator==(const Contribution& o) const {
    if (passes != o.passes) return false;
    return !passes ||
           (key == o.key && values == o.values && counted == o.counted && args == o.args);
  }
};

struct Maintainer::State {
  int view = 0;
  const projection::ViewPlan* plan = nullptr;
  const projection::DerivedPlan* derived = nullptr;
  size_t left_width = 0;
  size_t right_width = 0;
  std::vector<int> side_keys[2];  // key columns of each input view
  // A join's sides: the columns kept of their rows (read by the view, or keys); empty: all.
  std::vector<bool> kept[2];
  std::vector<int> slot_offset;  // per aggregate: first inline slot, or -1 (ordered state)
  int slot_count = 0;
  SideIndex sides[2];
  absl::node_hash_map<std::string, Group> groups;
  absl::node_hash_map<std::string, PlainRow> plain;
  std::vector<std::string> dirty;
  std::string key_buf;
  std::string row_buf;
  Row tuple;
  Row scratch;
  Row decoded[2];
  Row kept_old;  // the changed row of a join's side, its unkept columns NULL
  Row kept_new;
  Contribution before;
  Contribution after;
  // Timed views: (next flip time, EncodeRow(tuple)) of every tuple contributed.
  std::multiset<std::pair<int64_t, std::string>> timers;
};

}  // namespace sv::derived
