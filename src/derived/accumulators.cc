#include "derived/accumulators.h"

#include <cmath>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <map>
#include <utility>

namespace sv::derived {
namespace {

using Kind = projection::AggregatePlan::Kind;

// Numbers, intervals and booleans as one sum: exact for integers, compensated (Neumaier) for
// reals so that adding and retracting the same values returns close to where it started.
class SumState {
 public:
  void Add(int sign, const Value& v) {
    count_ += sign;
    if (v.type() == Type::kReal) {
      const double x = sign * v.as_real();
      const double t = real_ + x;
      compensation_ += std::fabs(real_) >= std::fabs(x) ? (real_ - t) + x : (x - t) + real_;
      real_ = t;
      reals_ += sign;
      if (reals_ == 0) real_ = compensation_ = 0;  // nothing left: no drift either
    } else {
      int_ += sign * v.as_int();
    }
  }
  int64_t count() const { return count_; }
  double AsReal() const {
    return static_cast<double>(int_) + (reals_ != 0 ? real_ + compensation_ : 0.0);
  }
  int64_t AsInt() const { return int_ + (reals_ != 0 ? std::llround(real_ + compensation_) : 0); }

 private:
  int64_t count_ = 0;
  int64_t int_ = 0;
  int64_t reals_ = 0;  // real values currently in the sum (resets drift when none are left)
  double real_ = 0;
  double compensation_ = 0;
};

class CountAccumulator : public Accumulator {
 public:
  explicit CountAccumulator(bool star) : star_(star) {}
  void Add(int sign, const Value& value) override {
    if (star_ || !value.is_null()) n_ += sign;
  }
  Value Result() const override { return Value::Int(n_); }

 private:
  bool star_;
  int64_t n_ = 0;
};

class SumAccumulator : public Accumulator {
 public:
  SumAccumulator(bool average, Type result) : average_(average), result_(result) {}
  void Add(int sign, const Value& value) override {
    if (!value.is_null()) sum_.Add(sign, value);
  }
  Value Result() const override {
    if (sum_.count() <= 0) return Value::Null();
    if (average_) {
      const double avg = sum_.AsReal() / static_cast<double>(sum_.count());
      if (result_ == Type::kInterval) return Value::Interval(std::llround(avg));
      return Value::Real(avg);
    }
    if (result_ == Type::kReal) return Value::Real(sum_.AsReal());
    if (result_ == Type::kInterval) return Value::Interval(sum_.AsInt());
    return Value::Int(sum_.AsInt());
  }

 private:
  bool average_;
  Type result_;
  SumState sum_;
};

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

std::unique_ptr<Accumulator> NewAccumulator(const projection::AggregatePlan& plan) {
  std::unique_ptr<Accumulator> acc;
  switch (plan.kind) {
    case Kind::kCountStar:
      acc = std::make_unique<CountAccumulator>(true);
      break;
    case Kind::kCount:
      acc = std::make_unique<CountAccumulator>(false);
      break;
    case Kind::kSum:
      acc = std::make_unique<SumAccumulator>(false, plan.result_type);
      break;
    case Kind::kAvg:
      acc = std::make_unique<SumAccumulator>(true, plan.result_type);
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
