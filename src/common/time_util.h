#pragma once
// ISO-8601 timestamps <-> microseconds since the Unix epoch (UTC), and the clock seam.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv {

// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+hh:mm|-hh:mm]" (a space may replace T).
std::optional<int64_t> ParseTime(std::string_view text);
// Formats as "YYYY-MM-DDTHH:MM:SS.ffffffZ": fixed width, so text order is time order.
std::string FormatTime(int64_t micros);

// Wall clock in microseconds; an injectable seam so stash expiry and backoff can be tested
// without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;
  static const Clock* Real();
};

class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now) : now_(now) {}
  int64_t NowMicros() const override { return now_; }
  void Advance(int64_t micros) { now_ += micros; }
  void Set(int64_t micros) { now_ = micros; }

 private:
  int64_t now_;
};

}  // namespace sv
