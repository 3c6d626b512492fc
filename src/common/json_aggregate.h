#pragma once
// The state of array_agg / json_agg and json_object_agg: a multiset of input values (with their
// ORDER BY keys) that takes retractions, rendered as canonical JSON. Shared by the derived views'
// incremental maintenance and the SQLite store's own aggregate of the same name, so a view
// recomputed by the store (refresh, verify) equals the maintained one.
//
// Order of an array: by the ORDER BY keys (ASC puts NULLs last, DESC first, as PostgreSQL),
// ties by the value itself; with no ORDER BY, by the value. An object's keys are sorted; a key
// given twice keeps its greatest value.

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"

namespace sv {

class JsonAggregate {
 public:
  // An array of values ordered by `descending.size()` keys, or (object) an object.
  JsonAggregate(bool object, bool distinct, std::vector<bool> descending);

  // Array: values = [value, order keys...]; object: values = [key, value]. sign +1 adds, -1
  // removes one added before.
  void Add(int sign, const Value* values);
  // NULL when nothing was added (as PostgreSQL's aggregates over no rows); an error for an
  // object given a NULL key.
  absl::StatusOr<Value> Result() const;

 private:
  struct Entry {
    Row order;  // array: the ORDER BY keys; object: the key
    Value value;
  };
  struct EntryLess {
    const std::vector<bool>* descending;
    bool operator()(const Entry& a, const Entry& b) const;
  };

  bool object_;
  bool distinct_;
  std::vector<bool> descending_;
  std::map<Entry, int64_t, EntryLess> entries_;
};

// Total order of values for the aggregate: NULL last, numbers across int and real, values of
// different types by type.
int CompareForAggregate(const Value& a, const Value& b);

}  // namespace sv
