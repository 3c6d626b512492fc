#pragma once
// Per-group aggregate state that takes retractions as well as insertions, so a row leaving a
// group (deleted, or moved to another group by an update) is undone exactly: counts and sums
// subtract; min, max, DISTINCT and percentiles keep the group's values ordered.

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/value.h"
#include "projection/projection.h"

namespace sv::derived {

class Accumulator {
 public:
  virtual ~Accumulator() = default;
  // sign +1 adds one input row's argument value, -1 removes one added before. count(*) gets
  // NULL values (it counts rows).
  virtual void Add(int sign, const Value& value) = 0;
  // An aggregate of several inputs (AggregatePlan::more_args) takes them all: values[0] is
  // the argument, the others follow.
  virtual void AddInputs(int sign, const Value* values) { Add(sign, values[0]); }
  // An error (a sum beyond its type's range) is an evaluation error of the group.
  virtual absl::StatusOr<Value> Result() const = 0;
};

// Aggregates whose state is ordered values (min, max, DISTINCT, percentiles, JSON arrays and
// objects): an object each.
std::unique_ptr<Accumulator> NewAccumulator(const projection::AggregatePlan& plan);

// The others (count, sum, avg) keep a few fixed slots inline in their group, which is most of a
// reporting view's columns: no allocation per group and aggregate.
int SimpleSlots(const projection::AggregatePlan& plan);  // 0: needs NewAccumulator
void SimpleAdd(const projection::AggregatePlan& plan, int64_t* slots, int sign, const Value& value);
absl::StatusOr<Value> SimpleResult(const projection::AggregatePlan& plan, const int64_t* slots);

// Total order for grouping and ordered state: NULL first, then by value (numbers across int
// and real), values of different types by type.
struct ValueLess {
  bool operator()(const Value& a, const Value& b) const;
};

}  // namespace sv::derived
