#include "derived/accumulators.h"

#include <cmath>
#include <cstring>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <limits>
#include <map>
#include <utility>

#include "common/json_aggregate.h"

namespace sv::derived {
namespace {

using Kind = projection::AggregatePlan::Kind;

// A sum over slots {count, integer sum (128 bits: two slots), real sum, compensation}.
// Integers are summed in 128 bits, so no sequence of additions and retractions can overflow
// (2^64 rows of int64 values would be needed) and the sum is exact; only a group's total is
// checked against the int64 result (PostgreSQL's sum(bigint) is numeric, which a Value
// cannot hold: such a total is an error of the group, not a wrapped number). Reals are
// compensated (Neumaier) so that adding and retracting the same values returns close to where
// it started (and exactly to zero when the group empties).
constexpr int kSumSlots = 5;
enum SumSlot { kCount = 0, kIntSum = 1, kRealSum = 3, kCompensation = 4 };

double RealAt(const int64_t* slot) {
  double d;
  std::memcpy(&d, slot, sizeof(d));
  return d;
}
void SetReal(int64_t* slot, double d) { std::memcpy(slot, &d, sizeof(d)); }

__int128 IntSumAt(const int64_t* slots) {
  __int128 sum;
  std::memcpy(&sum, &slots[kIntSum], sizeof(sum));
  return sum;
}
void SetIntSum(int64_t* slots, __int128 sum) { std::memcpy(&slots[kIntSum], &sum, sizeof(sum)); }

void SumAdd(int64_t* slots, int sign, const Value& v) {
  slots[kCount] += sign;
  if (slots[kCount] == 0) {
    SetIntSum(slots, 0);
    SetReal(&slots[kRealSum], 0);
    SetReal(&slots[kCompensation], 0);
    return;
  }
  if (v.type() == Type::kReal) {
    const double x = sign * v.as_real();
    const double sum = RealAt(&slots[kRealSum]);
    const double t = sum + x;
    const double c = std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    SetReal(&slots[kRealSum], t);
    SetReal(&slots[kCompensation], RealAt(&slots[kCompensation]) + c);
  } else {
    SetIntSum(slots, IntSumAt(slots) + static_cast<__int128>(sign) * v.as_int());
  }
}

double SumReal(const int64_t* slots) {
  return static_cast<double>(IntSumAt(slots)) + RealAt(&slots[kRealSum]) +
         RealAt(&slots[kCompensation]);
}

class ExtremeAccumulator : public Accumulator {
 public:
  explicit ExtremeAccumulator(bool max) : max_(max) {}
  void Add(int sign, const Value& value) override {
    if (value.is_null()) return;
    if (sign > 0) {
      ++values_[value];
      return;
    }
    auto it = values_.find(value);
    if (it != values_.end() && --it->second <= 0) values_.erase(it);
  }
  absl::StatusOr<Value> Result() const override {
    if (values_.empty()) return Value::Null();
    return max_ ? values_.rbegin()->first : values_.begin()->first;
  }

 private:
  bool max_;
  std::map<Value, int64_t, ValueLess> values_;
};

// Keeps, in every node of a tree of (value → count), the total count of its subtree: the value
// at a rank is then found in O(log distinct values) by one walk from the root.
template <typename NodeCItr, typename NodeItr, typename CmpFn, typename Alloc>
struct CountedRanks {
  using metadata_type = int64_t;
  void operator()(NodeItr node, NodeCItr end) const {
    const NodeItr left = node.get_l_child();
    const NodeItr right = node.get_r_child();
    const int64_t below =
        (left == end ? 0 : left.get_metadata()) + (right == end ? 0 : right.get_metadata());
    const_cast<int64_t&>(node.get_metadata()) = below + (**node).second;
  }
  // The value at 0-based rank `k` of the multiset (k < the total count).
  double At(int64_t k) const {
    NodeCItr node = node_begin();
    const NodeCItr end = node_end();
    double value = 0;
    while (node != end) {
      const NodeCItr left = node.get_l_child();
      const int64_t left_count = left == end ? 0 : left.get_metadata();
      if (k < left_count) {
        node = left;
        continue;
      }
      k -= left_count;
      value = (**node).first;
      if (k < (**node).second) break;
      k -= (**node).second;
      node = node.get_r_child();
    }
    return value;
  }
  virtual NodeCItr node_begin() const = 0;
  virtual NodeCItr node_end() const = 0;
  virtual ~CountedRanks() = default;
};

// The group's values in order with O(log n) rank lookups (libstdc++'s policy-based tree), so a
// percentile costs the same whether the group holds ten rows or a million. A value is kept
// once with its count: measures (days, minutes, amounts) repeat a lot, and a node per input
// row was most of a percentile's memory.
class PercentileAccumulator : public Accumulator {
 public:
  PercentileAccumulator(bool continuous, double fraction, Type result)
      : continuous_(continuous), fraction_(fraction), result_(result) {}
  void Add(int sign, const Value& value) override {
    if (value.is_null()) return;
    const double x = value.is_number() ? value.as_number() : static_cast<double>(value.as_int());
    // A node's count changes by erase and insert: the subtree totals are kept only on the
    // tree's own updates.
    auto it = tree_.find(x);
    const int64_t held = it == tree_.end() ? 0 : it->second;
    if (held + sign < 0) return;  // a retraction of a value never added
    if (held > 0) tree_.erase(x);
    if (held + sign > 0) tree_.insert({x, held + sign});
    total_ += sign;
  }
  absl::StatusOr<Value> Result() const override {
    const int64_t n = total_;
    if (n == 0) return Value::Null();
    double out;
    if (continuous_) {
      const double pos = fraction_ * static_cast<double>(n - 1);
      const double lo = std::floor(pos);
      const double a = tree_.At(static_cast<int64_t>(lo));
      const double b = tree_.At(static_cast<int64_t>(std::ceil(pos)));
      out = a + (b - a) * (pos - lo);
    } else {
      double rank = std::ceil(fraction_ * static_cast<double>(n));
      if (rank < 1) rank = 1;
      out = tree_.At(static_cast<int64_t>(rank) - 1);
    }
    if (result_ == Type::kInterval) return Value::Interval(std::llround(out));
    if (result_ == Type::kInt) return Value::Int(static_cast<int64_t>(out));
    return Value::Real(out);
  }

 private:
  using Tree =
      __gnu_pbds::tree<double, int64_t, std::less<double>, __gnu_pbds::rb_tree_tag, CountedRanks>;
  bool continuous_;
  double fraction_;
  Type result_;
  Tree tree_;
  int64_t total_ = 0;  // values held, with their repeats
};

// A simple aggregate as an object, for DISTINCT to wrap.
class SimpleAccumulator : public Accumulator {
 public:
  explicit SimpleAccumulator(const projection::AggregatePlan& plan) : plan_(plan) {}
  void Add(int sign, const Value& value) override { SimpleAdd(plan_, slots_, sign, value); }
  absl::StatusOr<Value> Result() const override { return SimpleResult(plan_, slots_); }

 private:
  const projection::AggregatePlan& plan_;
  int64_t slots_[kSumSlots] = {};
};

// DISTINCT: the inner aggregate sees a value when its first copy arrives and loses it when the
// last copy leaves.
class DistinctAccumulator : public Accumulator {
 public:
  explicit DistinctAccumulator(std::unique_ptr<Accumulator> inner) : inner_(std::move(inner)) {}
  void Add(int sign, const Value& value) override {
    if (value.is_null()) return;
    if (sign > 0) {
      if (++counts_[value] == 1) inner_->Add(+1, value);
      return;
    }
    auto it = counts_.find(value);
    if (it == counts_.end()) return;
    if (--it->second <= 0) {
      inner_->Add(-1, it->first);
      counts_.erase(it);
    }
  }
  absl::StatusOr<Value> Result() const override { return inner_->Result(); }

 private:
  std::unique_ptr<Accumulator> inner_;
  std::map<Value, int64_t, ValueLess> counts_;
};

// array_agg / json_object_agg: every input kept with its ORDER BY keys (common/json_aggregate).
class JsonAccumulator : public Accumulator {
 public:
  explicit JsonAccumulator(const projection::AggregatePlan& plan)
      : state_(plan.kind == projection::AggregatePlan::Kind::kJsonObject, plan.distinct,
               plan.descending) {}
  void Add(int sign, const Value& value) override { state_.Add(sign, &value); }
  void AddInputs(int sign, const Value* values) override { state_.Add(sign, values); }
  absl::StatusOr<Value> Result() const override { return state_.Result(); }

 private:
  JsonAggregate state_;
};

}  // namespace

bool ValueLess::operator()(const Value& a, const Value& b) const {
  if (a.is_null() || b.is_null()) return a.is_null() && !b.is_null();
  bool ok = false;
  const int c = Compare(a, b, &ok);
  if (ok) return c < 0;
  return a.type() < b.type();
}

int SimpleSlots(const projection::AggregatePlan& plan) {
  if (plan.distinct) return 0;
  switch (plan.kind) {
    case Kind::kCountStar:
    case Kind::kCount:
      return 1;
    case Kind::kSum:
    case Kind::kAvg:
      return kSumSlots;
    default:
      return 0;
  }
}

void SimpleAdd(const projection::AggregatePlan& plan, int64_t* slots, int sign,
               const Value& value) {
  switch (plan.kind) {
    case Kind::kCountStar:
      slots[0] += sign;
      return;
    case Kind::kCount:
      if (!value.is_null()) slots[0] += sign;
      return;
    default:
      if (!value.is_null()) SumAdd(slots, sign, value);
      return;
  }
}

absl::StatusOr<Value> SimpleResult(const projection::AggregatePlan& plan, const int64_t* slots) {
  if (plan.kind == Kind::kCountStar || plan.kind == Kind::kCount) return Value::Int(slots[0]);
  if (slots[kCount] <= 0) return Value::Null();
  const Type result = plan.result_type;
  if (plan.kind == Kind::kAvg) {
    const double avg = SumReal(slots) / static_cast<double>(slots[kCount]);
    return result == Type::kInterval ? Value::Interval(std::llround(avg)) : Value::Real(avg);
  }
  if (result == Type::kReal) {
    const double sum = SumReal(slots);
    if (!std::isfinite(sum)) return absl::InvalidArgumentError("sum() out of range");
    return Value::Real(sum);
  }
  const double reals = RealAt(&slots[kRealSum]) + RealAt(&slots[kCompensation]);
  const __int128 sum = IntSumAt(slots) + static_cast<__int128>(std::llround(reals));
  if (sum < std::numeric_limits<int64_t>::min() || sum > std::numeric_limits<int64_t>::max()) {
    return absl::InvalidArgumentError(result == Type::kInterval ? "sum() interval out of range"
                                                                : "sum() bigint out of range");
  }
  const auto sum64 = static_cast<int64_t>(sum);
  return result == Type::kInterval ? Value::Interval(sum64) : Value::Int(sum64);
}

std::unique_ptr<Accumulator> NewAccumulator(const projection::AggregatePlan& plan) {
  std::unique_ptr<Accumulator> acc;
  switch (plan.kind) {
    case Kind::kCountStar:
    case Kind::kCount:
    case Kind::kSum:
    case Kind::kAvg:
      acc = std::make_unique<SimpleAccumulator>(plan);
      break;
    case Kind::kMin:
      acc = std::make_unique<ExtremeAccumulator>(false);
      break;
    case Kind::kMax:
      acc = std::make_unique<ExtremeAccumulator>(true);
      break;
    case Kind::kPercentileCont:
      acc = std::make_unique<PercentileAccumulator>(true, plan.fraction, plan.result_type);
      break;
    case Kind::kPercentileDisc:
      acc = std::make_unique<PercentileAccumulator>(false, plan.fraction, plan.result_type);
      break;
    case Kind::kJsonArray:
    case Kind::kJsonObject:
      // DISTINCT is the aggregate's own: an array keeps each distinct value once, in order.
      return std::make_unique<JsonAccumulator>(plan);
  }
  if (plan.distinct) acc = std::make_unique<DistinctAccumulator>(std::move(acc));
  return acc;
}

}  // namespace sv::derived
