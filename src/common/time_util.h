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

// Wall clock in microseconds, injected (EngineOptions::clock, shared with the server through
// engine::Monitor) into everything whose outcome depends on the time of day: stash expiry,
// cron refreshes, dead-letter and append timestamps, staleness and lag, rebuild progress times.
// Tests move a ManualClock instead of sleeping.
// Deliberately left on the real clocks: elapsed-time measurements (durations in logs and
// metrics, rebuild phase times), I/O waits and deadlines (poll timeouts, socket deadlines, busy
// and lock waits, retry backoff, append pacing), the loop's publish interval, and log line
// timestamps. None of them decides what a view holds. The stores stamp Clock::Real() only when a
// caller left a time at 0 (a library caller; the engine always stamps).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;
  static const Clock* Real();
};

// The clock of a `run` process: the real one, unless SV_TEST_CLOCK_FILE names a file (test
// only, TESTING.md) whose content, an RFC 3339 time or microseconds since the epoch, is read at
// each call; while it is missing or unreadable, the real clock.
const Clock* ProcessClock();

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
