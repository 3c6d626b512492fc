#include "sql/time_bounds.h"

#include "sql/expr_internal.h"

namespace sv::sql {
namespace {

// date_trunc(unit, t); nullopt for a time out of range.
std::optional<int64_t> Trunc(const std::string& unit, int64_t t) {
  const Value args[2] = {Value::Text(unit), Value::Time(t)};
  Value out;
  if (!internal::FnDateTrunc(args, 2, &out).ok()) return std::nullopt;
  return out.as_int();
}

}  // namespace

std::optional<int64_t> TruncUnitStep(std::string_view unit) {
  // Longer than any unit and shorter than two of the shortest, so that the unit start after
  // trunc(t) is trunc(trunc(t) + step) whatever the calendar (months 28-31 days, years 365-366).
  constexpr int64_t kDay = internal::kMicrosPerDay;
  static constexpr struct {
    std::string_view name;
    int64_t step;
  } kSteps[] = {{"microsecond", 1},
                {"us", 1},
                {"millisecond", 1'000},
                {"ms", 1'000},
                {"second", internal::kMicrosPerSecond},
                {"sec", internal::kMicrosPerSecond},
                {"minute", internal::kMicrosPerMinute},
                {"min", internal::kMicrosPerMinute},
                {"hour", internal::kMicrosPerHour},
                {"day", kDay},
                {"week", 7 * kDay},
                {"month", 32 * kDay},
                {"quarter", 93 * kDay},
                {"year", 367 * kDay}};
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  while (!unit.empty() && unit.back() == ' ') unit.remove_suffix(1);
  std::string name = internal::Lower(unit);
  if (name.size() > 1 && name.back() == 's' && name != "us" && name != "ms") name.pop_back();
  for (const auto& s : kSteps) {
    if (s.name == name) return s.step;
  }
  return std::nullopt;
}

namespace {

// The first unit start strictly after y.
std::optional<int64_t> NextUnitStart(const std::string& unit, int64_t y) {
  std::optional<int64_t> start = Trunc(unit, y);
  if (!start) return std::nullopt;
  const std::optional<int64_t> step = TruncUnitStep(unit);
  int64_t probe;
  if (!step || __builtin_add_overflow(*start, *step, &probe)) return std::nullopt;
  return Trunc(unit, probe);
}

}  // namespace

std::optional<int64_t> AtomFlipTime(int64_t x, const AtomShape& atom) {
  // x < g(t) and x >= g(t) change when g(t) > x first holds; x <= g(t) and x > g(t) when
  // g(t) >= x does.
  const bool strict = atom.op == AtomOp::kLess || atom.op == AtomOp::kGreaterEqual;
  int64_t y;  // g(t) = h(t) + c, so compare h(t) with y = x - c
  if (__builtin_sub_overflow(x, atom.offset_us, &y)) return std::nullopt;
  if (atom.unit.empty()) {
    if (!strict) return y;
    int64_t t;
    if (__builtin_add_overflow(y, 1, &t)) return std::nullopt;
    return t;
  }
  if (!strict) {
    std::optional<int64_t> start = Trunc(atom.unit, y);
    if (!start) return std::nullopt;
    if (*start == y) return y;
  }
  return NextUnitStart(atom.unit, y);
}

AtomOp MirrorAtomOp(AtomOp op) {
  switch (op) {
    case AtomOp::kLess:
      return AtomOp::kGreater;
    case AtomOp::kLessEqual:
      return AtomOp::kGreaterEqual;
    case AtomOp::kGreater:
      return AtomOp::kLess;
    case AtomOp::kGreaterEqual:
      return AtomOp::kLessEqual;
  }
  return op;
}

}  // namespace sv::sql
