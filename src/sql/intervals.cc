// Intervals: "2 days", "1 hour 30 minutes", "PT1H30M", "3 days ago" to microseconds and back.

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Microseconds per interval unit; 0 when unknown, -1 for months/years.
int64_t IntervalUnit(std::string_view word) {
  const std::string w = Lower(word);
  struct Unit {
    std::string_view name;
    int64_t micros;
  };
  static constexpr Unit kUnits[] = {
      {"microsecond", 1},
      {"microseconds", 1},
      {"usec", 1},
      {"usecs", 1},
      {"us", 1},
      {"millisecond", 1'000},
      {"milliseconds", 1'000},
      {"msec", 1'000},
      {"msecs", 1'000},
      {"ms", 1'000},
      {"second", kMicrosPerSecond},
      {"seconds", kMicrosPerSecond},
      {"sec", kMicrosPerSecond},
      {"secs", kMicrosPerSecond},
      {"s", kMicrosPerSecond},
      {"minute", kMicrosPerMinute},
      {"minutes", kMicrosPerMinute},
      {"min", kMicrosPerMinute},
      {"mins", kMicrosPerMinute},
      {"m", kMicrosPerMinute},
      {"hour", kMicrosPerHour},
      {"hours", kMicrosPerHour},
      {"hr", kMicrosPerHour},
      {"hrs", kMicrosPerHour},
      {"h", kMicrosPerHour},
      {"day", kMicrosPerDay},
      {"days", kMicrosPerDay},
      {"d", kMicrosPerDay},
      {"week", 7 * kMicrosPerDay},
      {"weeks", 7 * kMicrosPerDay},
      {"w", 7 * kMicrosPerDay},
      {"month", -1},
      {"months", -1},
      {"mon", -1},
      {"mons", -1},
      {"year", -1},
      {"years", -1},
      {"yr", -1},
      {"yrs", -1},
      {"y", -1},
      {"decade", -1},
      {"decades", -1},
      {"century", -1},
      {"centuries", -1},
      {"millennium", -1},
      {"millennia", -1},
  };
  for (const Unit& u : kUnits) {
    if (u.name == w) return u.micros;
  }
  return 0;
}

// A number as written in an interval: integer part and optional fraction.
struct IntervalNumber {
  bool negative = false;
  int64_t whole = 0;
  std::string_view fraction;  // digits after '.', possibly empty
  bool ok = false;
};

IntervalNumber ReadIntervalNumber(std::string_view s, size_t* pos) {
  IntervalNumber num;
  size_t i = *pos;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    num.negative = s[i] == '-';
    ++i;
  }
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (__builtin_mul_overflow(num.whole, 10, &num.whole) ||
        __builtin_add_overflow(num.whole, s[i] - '0', &num.whole)) {
      return num;
    }
    ++i;
    ++digits;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    num.fraction = s.substr(start, i - start);
  }
  num.ok = digits > 0 || !num.fraction.empty();
  *pos = i;
  return num;
}

// number * unit in micros, rounding fractions; false on overflow.
bool ScaleNumber(const IntervalNumber& num, int64_t unit, int64_t* out) {
  int64_t v;
  if (__builtin_mul_overflow(num.whole, unit, &v)) return false;
  if (!num.fraction.empty()) {
    double frac = 0, scale = 0.1;
    for (char c : num.fraction) {
      frac += (c - '0') * scale;
      scale /= 10;
    }
    const double extra = std::round(frac * static_cast<double>(unit));
    if (__builtin_add_overflow(v, static_cast<int64_t>(extra), &v)) return false;
  }
  *out = num.negative ? -v : v;
  return true;
}

absl::Status IntervalError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(Cat("invalid interval '", text, "': ", why));
}

constexpr std::string_view kNoMonths =
    "months and years have no fixed length; write days or weeks instead";

absl::Status ParseIsoInterval(std::string_view text, std::string_view s, int64_t* micros) {
  size_t i = 1;  // after 'P'
  bool in_time = false, any = false;
  int64_t total = 0;
  while (i < s.size()) {
    if (s[i] == 'T' || s[i] == 't') {
      in_time = true;
      ++i;
      continue;
    }
    IntervalNumber num = ReadIntervalNumber(s, &i);
    if (!num.ok || i >= s.size()) return IntervalError(text, "malformed ISO-8601 duration");
    const char u = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(s[i++])));
    int64_t unit = 0;
    if (!in_time) {
      if (u == 'W') unit = 7 * kMicrosPerDay;
      if (u == 'D') unit = kMicrosPerDay;
      if (u == 'Y' || u == 'M') return IntervalError(text, kNoMonths);
    } else {
      if (u == 'H') unit = kMicrosPerHour;
      if (u == 'M') unit = kMicrosPerMinute;
      if (u == 'S') unit = kMicrosPerSecond;
    }
    if (unit == 0) return IntervalError(text, "malformed ISO-8601 duration");
    int64_t v;
    if (!ScaleNumber(num, unit, &v) || __builtin_add_overflow(total, v, &total)) {
      return IntervalError(text, "out of range");
    }
    any = true;
  }
  if (!any) return IntervalError(text, "malformed ISO-8601 duration");
  *micros = total;
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseInterval(std::string_view text, int64_t* micros) {
  std::string_view s = TrimBlanks(text);
  if (!s.empty() && s[0] == '@') s = TrimBlanks(s.substr(1));
  if (s.empty()) return IntervalError(text, "empty");
  if (s[0] == 'P' || s[0] == 'p') return ParseIsoInterval(text, s, micros);
  int64_t total = 0;
  bool any = false, ago = false;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsBlank(s[i])) ++i;
    if (i >= s.size()) break;
    if (ago) return IntervalError(text, "unexpected text after 'ago'");
    if (absl::ascii_isalpha(static_cast<unsigned char>(s[i]))) {
      const size_t start = i;
      while (i < s.size() && absl::ascii_isalpha(static_cast<unsigned char>(s[i]))) ++i;
      if (Lower(s.substr(start, i - start)) == "ago") {
        ago = true;
        continue;
      }
      return IntervalError(text,
                           Cat("expected a number before '", s.substr(start, i - start), "'"));
    }
    const size_t start = i;
    IntervalNumber num = ReadIntervalNumber(s, &i);
    if (!num.ok) {
      return IntervalError(text, Cat("expected a number at '", s.substr(start), "'"));
    }
    int64_t value = 0;
    if (i < s.size() && s[i] == ':' && num.fraction.empty()) {
      // hh:mm[:ss[.ffffff]]
      ++i;
      IntervalNumber mm = ReadIntervalNumber(s, &i);
      if (!mm.ok || mm.negative || !mm.fraction.empty() || mm.whole > 59) {
        return IntervalError(text, "malformed time hh:mm:ss");
      }
      IntervalNumber ss;
      if (i < s.size() && s[i] == ':') {
        ++i;
        ss = ReadIntervalNumber(s, &i);
        if (!ss.ok || ss.negative || ss.whole > 59) {
          return IntervalError(text, "malformed time hh:mm:ss");
        }
      }
      int64_t h, m, sec = 0;
      IntervalNumber hh = num;
      hh.negative = false;
      if (!ScaleNumber(hh, kMicrosPerHour, &h) || !ScaleNumber(mm, kMicrosPerMinute, &m) ||
          (ss.ok && !ScaleNumber(ss, kMicrosPerSecond, &sec))) {
        return IntervalError(text, "out of range");
      }
      value = h + m + sec;
      if (num.negative) value = -value;
    } else {
      while (i < s.size() && IsBlank(s[i])) ++i;
      const size_t ustart = i;
      while (i < s.size() && absl::ascii_isalpha(static_cast<unsigned char>(s[i]))) ++i;
      const std::string_view word = s.substr(ustart, i - ustart);
      int64_t unit = kMicrosPerSecond;  // a bare number is seconds, as in PostgreSQL
      if (!word.empty()) {
        if (Lower(word) == "ago") {
          i = ustart;  // handled by the loop
        } else {
          unit = IntervalUnit(word);
          if (unit < 0) return IntervalError(text, kNoMonths);
          if (unit == 0) return IntervalError(text, Cat("unknown unit '", word, "'"));
        }
      }
      if (!ScaleNumber(num, unit, &value)) return IntervalError(text, "out of range");
    }
    if (__builtin_add_overflow(total, value, &total)) return IntervalError(text, "out of range");
    any = true;
  }
  if (!any) return IntervalError(text, "no quantity");
  *micros = ago ? -total : total;
  return absl::OkStatus();
}

std::string FormatInterval(int64_t micros) {
  const bool neg = micros < 0;
  const uint64_t u = neg ? 0 - static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
  const uint64_t days = u / kMicrosPerDay;
  const uint64_t rem = u % kMicrosPerDay;
  std::string out;
  if (days != 0) {
    Append(&out, neg ? "-" : "", days, days == 1 ? " day" : " days");
  }
  if (rem != 0 || days == 0) {
    if (!out.empty()) out += ' ';
    const uint64_t secs = rem / kMicrosPerSecond;
    const uint64_t frac = rem % kMicrosPerSecond;
    char buf[48];
    int n = std::snprintf(buf, sizeof(buf), "%s%02llu:%02llu:%02llu", neg && rem != 0 ? "-" : "",
                          static_cast<unsigned long long>(secs / 3600),
                          static_cast<unsigned long long>(secs / 60 % 60),
                          static_cast<unsigned long long>(secs % 60));
    out.append(buf, n);
    if (frac != 0) {
      n = std::snprintf(buf, sizeof(buf), ".%06llu", static_cast<unsigned long long>(frac));
      std::string_view f(buf, n);
      while (f.back() == '0') f.remove_suffix(1);
      out.append(f);
    }
  }
  return out;
}

}  // namespace sv::sql::internal
