#pragma once
// Time-relative comparisons of derived views ("atoms"): `x OP g(now())` with x a timestamp of
// the row, OP one of <, <=, >, >=, and g(t) = t + c or date_trunc(unit, t) + c. g never
// decreases as the clock moves, so an atom changes value at most once for a given x: at its
// flip time. The maintainer re-evaluates a row only when the clock passes a flip time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv::sql {

enum class AtomOp { kLess, kLessEqual, kGreater, kGreaterEqual };

struct AtomShape {
  AtomOp op = AtomOp::kLess;
  std::string unit;       // date_trunc's unit (a valid one); empty: g(t) = t + offset
  int64_t offset_us = 0;  // c, a constant interval
};

// The first instant t at which `x OP g(t)` has its late value (true for < and <=, false for >
// and >=): evaluated at any clock ≥ the flip time the atom has that value, below it the other.
// nullopt when no such instant is representable.
std::optional<int64_t> AtomFlipTime(int64_t x, const AtomShape& atom);

// A length L with unit ≤ L < 2 · unit for date_trunc's `unit` (the next unit start after u is
// date_trunc(unit, u + L)); nullopt for a unit date_trunc does not take.
std::optional<int64_t> TruncUnitStep(std::string_view unit);

// The atom written the other way round: `g(t) OP x` is `x OP' g(t)`.
AtomOp MirrorAtomOp(AtomOp op);

}  // namespace sv::sql
