#include "derived/accumulators.h"

#include <cmath>
#include <cstring>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <map>
#include <utility>

namespace sv::derived {
namespace {

using Kind = projection::AggregatePlan::Kind;

// A sum over slots {count, integer sum, real sum, compensation}: exact for integers,
// compensated (Neumaier) for reals so that adding and retracting the same values returns close
// to where it started (and exactly to zero when the group empties).
double RealAt(const int64_t* slot) {
  double d;
  std::memcpy(&d, slot, sizeof(d));
  return d;
}
void SetReal(int64_t* slot, double d) { std::memcpy(slot, &d, sizeof(d)); }

void SumAdd(int64_t* slots, int sign, const Value& v) {
  slots[0] += sign;
  if (slots[0] == 0) {
    slots[1] = 0;
    SetReal(&slots[2], 0);
    SetReal(&slots[3], 0);
    return;
  }
  if (v.type() == Type::kReal) {
    const double x = sign * v.as_real();
    const double sum = RealAt(&slots[2]);
    const double t = sum + x;
    const double c = std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    SetReal(&slots[2], t);
    SetReal(&slots[3], RealAt(&slots[3]) + c);
  } else {
    // Wrap-around (unsigned, defined) instead of signed overflow (UB, found by
    // tests/fuzz/fuzz_derived): retractions undo additions exactly, so the sum is exact whenever
    // the group's total fits in int64, whatever the order of the changes.
    const uint64_t sum = static_cast<uint64_t>(slots[1]);
    const uint64_t x = static_cast<uint64_t>(v.as_int());
    slots[1] = static_cast<int64_t>(sign > 0 ? sum + x : sum - x);
  }
}

double SumReal(const int64_t* slots) {
  return static_cast<double>(slots[1]) + RealAt(&slots[2]) + RealAt(&slots[3]);
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
  Value Result() const override {
    if (values_.empty()) return Value::Null();
    return max_ ? values_.rbegin()->first : values_.begin()->first;
  }

 private:
  bool max_;
  std::map<Value, int64_t, ValueLess> values_;
};

// The group's values in order with O(log n) rank lookups (libstdc++'s policy-based tree), so a
// percentile costs the same whether the group holds ten rows or a million.
class PercentileAccumulator : public Accumulator {
 public:
  PercentileAccumulator(bool continuous, double fraction, Type result)
      : continuous_(continuous), fraction_(fraction), result_(result) {}
  void Add(int sign, const Value& value) override {
    if (value.is_null()) return;
    const double x = value.is_number() ? value.as_number() : static_cast<double>(value.as_int());
    if (sign > 0) {
      tree_.insert({x, next_id_++});
      return;
    }
    auto it = tree_.lower_bound({x, 0});
    if (it != tree_.end() && it->first == x) tree_.erase(it);
  }
  Value Result() const override {
    const size_t n = tree_.size();
    if (n == 0) return Value::Null();
    double out;
    if (continuous_) {
      const double pos = fraction_ * static_cast<double>(n - 1);
      const double lo = std::floor(pos);
      const double a = tree_.find_by_order(static_cast<size_t>(lo))->first;
      const double b = tree_.find_by_order(static_cast<size_t>(std::ceil(pos)))->first;
      out = a + (b - a) * (pos - lo);
    } else {
      double rank = std::ceil(fraction_ * static_cast<double>(n));
      if (rank < 1) rank = 1;
      out = tree_.find_by_order(static_cast<size_t>(rank) - 1)->first;
    }
    if (result_ == Type::kInterval) return Value::Interval(std::llround(out));
    if (result_ == Type::kInt) return Value::Int(static_cast<int64_t>(out));
    return Value::Real(out);
  }

 private:
  using Tree = __gnu_pbds::tree<std::pair<double, uint64_t>, __gnu_pbds::null_type,
                                std::less<std::pair<double, uint64_t>>, __gnu_pbds::rb_tree_tag,
                                __gnu_pbds::tree_order_statistics_node_update>;
  bool continuous_;
  double fraction_;
  Type result_;
  Tree tree_;
  uint64_t next_id_ = 1;
};

// A simple aggregate as an object, for DISTINCT to wrap.
class SimpleAccumulator : public Accumulator {
 public:
  explicit SimpleAccumulator(const projection::AggregatePlan& plan) : plan_(plan) {}
  void Add(int sign, const Value& value) override { SimpleAdd(plan_, slots_, sign, value); }
  Value Result() const override { return SimpleResult(plan_, slots_); }

 private:
  const projection::AggregatePlan& plan_;
  int64_t slots_[4] = {0, 0, 0, 0};
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
  Value Result() const override { return inner_->Result(); }

 private:
  std::unique_ptr<Accumulator> inner_;
  std::map<Value, int64_t, ValueLess> counts_;
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
      return 4;
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

Value SimpleResult(const projection::AggregatePlan& plan, const int64_t* slots) {
  if (plan.kind == Kind::kCountStar || plan.kind == Kind::kCount) return Value::Int(slots[0]);
  if (slots[0] <= 0) return Value::Null();
  const Type result = plan.result_type;
  if (plan.kind == Kind::kAvg) {
    const double avg = SumReal(slots) / static_cast<double>(slots[0]);
    return result == Type::kInterval ? Value::Interval(std::llround(avg)) : Value::Real(avg);
  }
  if (result == Type::kReal) return Value::Real(SumReal(slots));
  const int64_t sum = slots[1] + std::llround(RealAt(&slots[2]) + RealAt(&slots[3]));
  return result == Type::kInterval ? Value::Interval(sum) : Value::Int(sum);
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
  }
  if (plan.distinct) acc = std::make_unique<DistinctAccumulator>(std::move(acc));
  return acc;
}

}  // namespace sv::derived
