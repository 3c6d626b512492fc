#include "common/time_util.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace sv {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
// days_from_civil); exact for all years we care about, no time zone database involved.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

class RealClock : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

std::optional<int64_t> ParseTime(std::string_view s) {
  int year, month, day;
  if (!Digits(s, 0, 4, &year) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1) return std::nullopt;
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;
  int64_t micros = DaysFromCivil(year, month, day) * 86'400'000'000LL;
  if (s.size() == 10) return micros;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  int hour, minute, second = 0;
  if (!Digits(s, 11, 2, &hour) || s.size() < 16 || s[13] != ':' || !Digits(s, 14, 2, &minute)) {
    return std::nullopt;
  }
  size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!Digits(s, pos + 1, 2, &second)) return std::nullopt;
    pos += 3;
  }
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  micros += ((hour * 60LL + minute) * 60 + second) * 1'000'000LL;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t frac = 0;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        frac = frac * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    while (digits < 6) {
      frac *= 10;
      ++digits;
    }
    micros += frac;
  }
  if (pos == s.size()) return micros;  // no zone: UTC
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return micros;
  if (s[pos] == '+' || s[pos] == '-') {
    int oh, om = 0;
    if (!Digits(s, pos + 1, 2, &oh)) return std::nullopt;
    size_t p = pos + 3;
    if (p < s.size() && s[p] == ':') ++p;
    if (p < s.size()) {
      if (!Digits(s, p, 2, &om)) return std::nullopt;
      p += 2;
    }
    if (p != s.size()) return std::nullopt;
    const int64_t offset = (oh * 60LL + om) * 60'000'000LL;
    return s[pos] == '+' ? micros - offset : micros + offset;
  }
  return std::nullopt;
}

std::string FormatTime(int64_t micros) {
  int64_t days = micros / 86'400'000'000LL;
  int64_t rem = micros % 86'400'000'000LL;
  if (rem < 0) {
    rem += 86'400'000'000LL;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  const int64_t secs = rem / 1'000'000;
  const int64_t frac = rem % 1'000'000;
  if (y < 0 || y > 9999) {
    char buf[64];
    const int n =
        std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                      static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                      static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                      static_cast<long long>(frac));
    return std::string(buf, n);
  }
  // Hot in every JSON response with a timestamp: digits by hand instead of snprintf.
  std::string out(27, '0');  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  auto put = [&out](size_t at, int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[at + i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, y, 4);
  out[4] = '-';
  put(5, m, 2);
  out[7] = '-';
  put(8, d, 2);
  out[10] = 'T';
  put(11, secs / 3600, 2);
  out[13] = ':';
  put(14, secs / 60 % 60, 2);
  out[16] = ':';
  put(17, secs % 60, 2);
  out[19] = '.';
  put(20, frac, 6);
  out[26] = 'Z';
  return out;
}

const Clock* Clock::Real() {
  static const RealClock clock;
  return &clock;
}

namespace {

class FileClock final : public Clock {
 public:
  explicit FileClock(std::string path) : path_(std::move(path)) {}
  int64_t NowMicros() const override {
    std::ifstream in(path_);
    std::string text;
    std::getline(in, text);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
      return std::stoll(text);
    }
    if (std::optional<int64_t> t = ParseTime(text)) return *t;
    return Clock::Real()->NowMicros();
  }

 private:
  std::string path_;
};

}  // namespace

const Clock* ProcessClock() {
  static const Clock* clock = []() -> const Clock* {
    const char* path = std::getenv("SV_TEST_CLOCK_FILE");
    if (path == nullptr || *path == '\0') return Clock::Real();
    return new FileClock(path);  // lives as long as the process
  }();
  return clock;
}

}  // namespace sv
