#pragma once
// Cron schedules (UTC) for views refreshed in full on a schedule (`refresh: <cron>`).
//
// Five fields, `minute hour day-of-month month day-of-week`, each `*`, a number, a range a-b,
// a step `*/n`, `a-b/n` or `a/n` (a to the field's end), or a comma-separated list of those.
// Months may be JAN..DEC and days SUN..SAT (any case); day of week 0 and 7 are Sunday. As in
// Vixie cron, when both day fields are restricted (neither starts with `*`) a day matching
// either one fires. Also @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually),
// and `@every <n>s|m|h`: every n seconds, minutes or hours since the Unix epoch (for tests).

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sv {

class CronSchedule {
 public:
  // The first fire time strictly after `micros_utc` (microseconds since the Unix epoch).
  int64_t NextAfter(int64_t micros_utc) const;

  const std::string& text() const { return text_; }

 private:
  friend absl::StatusOr<CronSchedule> ParseCron(std::string_view text);

  bool DayMatches(int day, int month, int weekday) const;

  std::string text_;
  int64_t every_us_ = 0;  // @every; 0 for field schedules
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

// InvalidArgument naming the field and the problem, e.g.
// "cron field 2 (hour): 25 is out of range 0-23".
absl::StatusOr<CronSchedule> ParseCron(std::string_view text);

}  // namespace sv
