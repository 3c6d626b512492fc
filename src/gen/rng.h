#pragma once
// The generators' random numbers: splitmix64, small and fast and the same on every platform
// (unlike std::*_distribution), so a seed gives the same workload bytes everywhere.

#include <cstdint>

namespace sv::gen {

// splitmix64's finalizer: a bijection on 64-bit integers.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// splitmix64: small, fast and the same on every platform (unlike std::*_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_ += 0x9e3779b97f4a7c15ULL); }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Consumes no randomness when p <= 0, so a disabled kind of disorder changes nothing.
  bool Chance(double p) { return p > 0 && Uniform() < p; }

 private:
  uint64_t state_;
};

}  // namespace sv::gen
