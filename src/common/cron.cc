#include "common/cron.h"

#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>
#include <utility>
#include <vector>

namespace sv {
namespace {

namespace chrono = std::chrono;

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerDay = 24 * 60 * kMicrosPerMinute;

struct Field {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] is value names_from + i; null-terminated, or null
  int names_from;
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",  "jul",
                                       "aug", "sep", "oct", "nov", "dec", nullptr};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};

constexpr Field kFields[5] = {
    {"minute", 0, 59, nullptr, 0},       {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0}, {"month", 1, 12, kMonthNames, 1},
    {"day-of-week", 0, 7, kDayNames, 0},
};

// Floor division (times before 1970 are negative).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = s.find(separator);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Plain decimal digits only (no sign, no blanks).
template <typename T>
bool Digits(std::string_view s, T* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && s.front() != '-' && s.front() != '+';
}

class FieldParser {
 public:
  explicit FieldParser(int index) : index_(index), f_(kFields[index]) {}

  // bits[v] for each value v the field matches.
  absl::Status Parse(std::string_view text, std::vector<bool>* bits) const {
    bits->assign(f_.max + 1, false);
    for (std::string_view item : Split(text, ',')) {
      absl::Status s = Item(item, bits);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Fail(const std::string& what) const {
    return absl::InvalidArgumentError("cron field " + std::to_string(index_ + 1) + " (" + f_.name +
                                      "): " + what);
  }

  absl::Status Number(std::string_view s, int* out) const {
    if (f_.names != nullptr) {
      const std::string lower = Lower(s);
      for (int i = 0; f_.names[i] != nullptr; ++i) {
        if (lower == f_.names[i]) {
          *out = f_.names_from + i;
          return absl::OkStatus();
        }
      }
    }
    if (s.empty()) return Fail("missing value");
    int v;
    if (!Digits(s, &v)) return Fail("'" + std::string(s) + "' is not a number");
    if (v < f_.min || v > f_.max) {
      return Fail(std::to_string(v) + " is out of range " + std::to_string(f_.min) + "-" +
                  std::to_string(f_.max));
    }
    *out = v;
    return absl::OkStatus();
  }

  absl::Status Item(std::string_view item, std::vector<bool>* bits) const {
    if (item.empty()) return Fail("empty list item");
    std::string_view range = item;
    int step = 1;
    const size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view s = item.substr(slash + 1);
      if (!Digits(s, &step)) return Fail("step '" + std::string(s) + "' is not a number");
      if (step <= 0) return Fail("step must be positive");
    }
    int lo, hi;
    if (range == "*") {
      lo = f_.min;
      hi = f_.max;
    } else {
      const size_t dash = range.find('-');
      absl::Status s = Number(range.substr(0, dash), &lo);
      if (!s.ok()) return s;
      hi = slash != std::string_view::npos ? f_.max : lo;  // a/n runs from a to the end
      if (dash != std::string_view::npos) {
        s = Number(range.substr(dash + 1), &hi);
        if (!s.ok()) return s;
        if (hi < lo) return Fail("range " + std::string(range) + " is reversed");
      }
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
    return absl::OkStatus();
  }

  int index_;
  const Field& f_;
};

// `@every <n>s|m|h` in microseconds.
absl::StatusOr<int64_t> ParseEvery(std::string_view spec) {
  const absl::Status bad = absl::InvalidArgumentError(
      "cron: @every takes <n>s, <n>m or <n>h, not '" + std::string(spec) + "'");
  if (spec.size() < 2) return bad;
  int64_t unit = 0;
  switch (spec.back()) {
    case 's':
      unit = kMicrosPerSecond;
      break;
    case 'm':
      unit = kMicrosPerMinute;
      break;
    case 'h':
      unit = 60 * kMicrosPerMinute;
      break;
    default:
      return bad;
  }
  int64_t n;
  if (!Digits(spec.substr(0, spec.size() - 1), &n) || n <= 0 ||
      n > std::numeric_limits<int64_t>::max() / unit / 2) {
    return bad;
  }
  return n * unit;
}

constexpr std::pair<std::string_view, std::string_view> kMacros[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"}};

constexpr int kDaysInMonth[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

}  // namespace

bool CronSchedule::DayMatches(int day, int month, int weekday) const {
  if (!months_[month]) return false;
  if (days_restricted_ && weekdays_restricted_) return days_[day] || weekdays_[weekday];
  return days_[day] && weekdays_[weekday];
}

int64_t CronSchedule::NextAfter(int64_t micros_utc) const {
  if (every_us_ > 0) return (FloorDiv(micros_utc, every_us_) + 1) * every_us_;
  // Field schedules fire on whole minutes: start at the first minute after `micros_utc`.
  const int64_t start = FloorDiv(micros_utc, kMicrosPerMinute) + 1;
  int64_t day = FloorDiv(start, 24 * 60);
  int first_minute = static_cast<int>(start - day * 24 * 60);
  // ParseCron rejects day sets that never occur, so a match comes within a leap cycle
  // (a 29 February may be eight years away across a century).
  for (int i = 0; i < 9 * 366; ++i, ++day, first_minute = 0) {
    const chrono::sys_days date{chrono::days{day}};
    const chrono::year_month_day ymd{date};
    if (!DayMatches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                    static_cast<int>(static_cast<unsigned>(ymd.month())),
                    static_cast<int>(chrono::weekday{date}.c_encoding()))) {
      continue;
    }
    for (int m = first_minute; m < 24 * 60; ++m) {
      if (hours_[m / 60] && minutes_[m % 60]) return day * kMicrosPerDay + m * kMicrosPerMinute;
    }
  }
  return std::numeric_limits<int64_t>::max();
}

absl::StatusOr<CronSchedule> ParseCron(std::string_view text) {
  CronSchedule schedule;
  schedule.text_ = std::string(text);
  std::string_view spec = Trim(text);
  if (!spec.empty() && spec.front() == '@') {
    const std::string lower = Lower(spec);
    bool found = false;
    for (const auto& [name, expansion] : kMacros) {
      if (lower == name) {
        spec = expansion;
        found = true;
      }
    }
    if (!found && lower.rfind("@every", 0) == 0 && lower.size() > 6 &&
        std::isspace(static_cast<unsigned char>(lower[6]))) {
      absl::StatusOr<int64_t> every = ParseEvery(Trim(spec.substr(6)));
      if (!every.ok()) return every.status();
      schedule.every_us_ = *every;
      return schedule;
    }
    if (!found) {
      return absl::InvalidArgumentError(
          "cron: unknown macro '" + std::string(spec) +
          "' (use @hourly, @daily, @weekly, @monthly, @yearly or @every <n>s|m|h)");
    }
  }
  const std::vector<std::string_view> fields = Words(spec);
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(
        "cron: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such "
        "as @daily, got " +
        std::to_string(fields.size()) + " in '" + std::string(text) + "'");
  }
  std::vector<bool> bits[5];
  for (int i = 0; i < 5; ++i) {
    absl::Status s = FieldParser(i).Parse(fields[i], &bits[i]);
    if (!s.ok()) return s;
  }
  for (int v = 0; v < 60; ++v) schedule.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v) schedule.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v) schedule.days_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v) schedule.months_[v] = bits[3][v];
  for (int v = 0; v <= 7; ++v) {
    if (bits[4][v]) schedule.weekdays_[v % 7] = true;  // 7 is Sunday too
  }
  schedule.days_restricted_ = fields[2].front() != '*';
  schedule.weekdays_restricted_ = fields[4].front() != '*';
  if (!(schedule.days_restricted_ && schedule.weekdays_restricted_)) {
    // Unless either day matches (both restricted), the day of month must exist in a month.
    bool occurs = false;
    for (int m = 1; m <= 12; ++m) {
      for (int d = 1; d <= kDaysInMonth[m]; ++d) {
        occurs = occurs || (schedule.months_[m] && schedule.days_[d]);
      }
    }
    if (!occurs) {
      return absl::InvalidArgumentError("cron: '" + std::string(text) +
                                        "' never fires: no month in field 4 has a day in field 3");
    }
  }
  return schedule;
}

}  // namespace sv
