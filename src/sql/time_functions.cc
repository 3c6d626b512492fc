// Timestamp functions (UTC): date_trunc, date_part / EXTRACT, to_char, to_timestamp, and the
// calendar arithmetic they share. Timestamps are microseconds since the Unix epoch.

#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "common/time_util.h"
#include "sql/expr_internal.h"

namespace sv::sql::internal {

// Howard Hinnant's civil-calendar algorithms.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

namespace {

// A timestamp broken into calendar fields.
struct Civil {
  int64_t days;  // since epoch
  int64_t year;
  int month, day;
  int hour, minute, second;
  int64_t micros;  // within the second
  int dow;         // 0 = Sunday
};

Civil Split(int64_t t) {
  Civil c;
  c.days = FloorDiv(t, kMicrosPerDay);
  int64_t rem = t - c.days * kMicrosPerDay;
  CivilFromDays(c.days, &c.year, &c.month, &c.day);
  c.hour = static_cast<int>(rem / kMicrosPerHour);
  rem %= kMicrosPerHour;
  c.minute = static_cast<int>(rem / kMicrosPerMinute);
  rem %= kMicrosPerMinute;
  c.second = static_cast<int>(rem / kMicrosPerSecond);
  c.micros = rem % kMicrosPerSecond;
  c.dow = static_cast<int>(FloorMod(c.days + 4, 7));  // 1970-01-01 was a Thursday
  return c;
}

void IsoWeek(int64_t days, int64_t* iso_year, int* week) {
  const int64_t wd = FloorMod(days + 3, 7);  // Monday = 0
  const int64_t thursday = days - wd + 3;
  int64_t y;
  int m, d;
  CivilFromDays(thursday, &y, &m, &d);
  *iso_year = y;
  *week = static_cast<int>((thursday - DaysFromCivil(y, 1, 1)) / 7 + 1);
}

// Accepts a timestamp or ISO-8601 text.
absl::Status TimeArg(std::string_view fn, const Value& v, int64_t* out) {
  if (v.type() == Type::kTime) {
    *out = v.as_int();
    return absl::OkStatus();
  }
  if (v.type() == Type::kText) {
    if (std::optional<int64_t> t = ParseTime(TrimBlanks(v.as_text()))) {
      *out = *t;
      return absl::OkStatus();
    }
  }
  return TypeError(fn, v);
}

enum class Unit {
  kMicrosecond,
  kMillisecond,
  kSecond,
  kMinute,
  kHour,
  kDay,
  kWeek,
  kMonth,
  kQuarter,
  kYear,
  kDow,
  kIsoDow,
  kDoy,
  kIsoYear,
  kEpoch,
  kDecade,
  kUnknown
};

Unit ParseUnit(std::string_view text) {
  std::string s = Lower(TrimBlanks(text));
  struct Name {
    std::string_view name;
    Unit unit;
  };
  static constexpr Name kNames[] = {
      {"microsecond", Unit::kMicrosecond},
      {"microseconds", Unit::kMicrosecond},
      {"us", Unit::kMicrosecond},
      {"millisecond", Unit::kMillisecond},
      {"milliseconds", Unit::kMillisecond},
      {"ms", Unit::kMillisecond},
      {"second", Unit::kSecond},
      {"seconds", Unit::kSecond},
      {"sec", Unit::kSecond},
      {"minute", Unit::kMinute},
      {"minutes", Unit::kMinute},
      {"min", Unit::kMinute},
      {"hour", Unit::kHour},
      {"hours", Unit::kHour},
      {"day", Unit::kDay},
      {"days", Unit::kDay},
      {"week", Unit::kWeek},
      {"weeks", Unit::kWeek},
      {"month", Unit::kMonth},
      {"months", Unit::kMonth},
      {"quarter", Unit::kQuarter},
      {"quarters", Unit::kQuarter},
      {"year", Unit::kYear},
      {"years", Unit::kYear},
      {"dow", Unit::kDow},
      {"isodow", Unit::kIsoDow},
      {"doy", Unit::kDoy},
      {"isoyear", Unit::kIsoYear},
      {"epoch", Unit::kEpoch},
      {"decade", Unit::kDecade},
      {"decades", Unit::kDecade},
  };
  for (const Name& n : kNames) {
    if (n.name == s) return n.unit;
  }
  return Unit::kUnknown;
}

bool IsTruncUnit(Unit u) { return u <= Unit::kYear; }

absl::Status BadTruncUnit(std::string_view unit) {
  return absl::InvalidArgumentError(
      Cat("date_trunc(): unknown unit '", unit,
          "' (expected microseconds, milliseconds, second, minute, hour, day, week, month, quarter "
          "or year)"));
}

absl::Status BadField(std::string_view field) {
  return absl::InvalidArgumentError(
      Cat("date_part(): unknown field '", field,
          "' (expected year, quarter, month, week, day, dow, isodow, doy, hour, minute, second, "
          "milliseconds, microseconds, epoch, isoyear or decade)"));
}

// ---------------------------------------------------------------------------------------------
// to_char.

constexpr std::string_view kMonthNames[] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
constexpr std::string_view kDayNames[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};

bool MatchCi(std::string_view fmt, size_t i, std::string_view pattern) {
  if (fmt.size() - i < pattern.size()) return false;
  for (size_t k = 0; k < pattern.size(); ++k) {
    if (absl::ascii_toupper(static_cast<unsigned char>(fmt[i + k])) != pattern[k]) return false;
  }
  return true;
}

void AppendNumber(int64_t v, int width, bool fm, std::string* out) {
  char buf[32];
  const int n = fm ? std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v))
                   : std::snprintf(buf, sizeof(buf), "%0*lld", width, static_cast<long long>(v));
  out->append(buf, n);
}

// Appends a name in the case the pattern was written in (MONTH / Month / month); full names are
// blank-padded to 9 characters unless FM is given, like PostgreSQL.
void AppendName(std::string_view name, std::string_view fmt, size_t i, bool pad, bool fm,
                std::string* out) {
  const bool first_upper = absl::ascii_isupper(static_cast<unsigned char>(fmt[i]));
  const bool second_upper = absl::ascii_isupper(static_cast<unsigned char>(fmt[i + 1]));
  std::string s(name);
  if (first_upper && second_upper) {
    s = Upper(s);
  } else if (!first_upper) {
    s = Lower(s);
  }
  out->append(s);
  if (pad && !fm && s.size() < 9) out->append(9 - s.size(), ' ');
}

std::string ToChar(int64_t t, std::string_view fmt) {
  const Civil c = Split(t);
  std::string out;
  size_t i = 0;
  while (i < fmt.size()) {
    bool fm = false;
    if (MatchCi(fmt, i, "FM")) {
      fm = true;
      i += 2;
      if (i >= fmt.size()) break;
    }
    const char ch = fmt[i];
    if (ch == '"') {
      ++i;
      while (i < fmt.size() && fmt[i] != '"') {
        if (fmt[i] == '\\' && i + 1 < fmt.size()) ++i;
        out += fmt[i++];
      }
      ++i;  // closing quote
      continue;
    }
    if (ch == '\\' && i + 1 < fmt.size()) {
      out += fmt[i + 1];
      i += 2;
      continue;
    }
    // Names (case follows the pattern).
    if (MatchCi(fmt, i, "MONTH")) {
      AppendName(kMonthNames[c.month - 1], fmt, i, true, fm, &out);
      i += 5;
    } else if (MatchCi(fmt, i, "MON")) {
      AppendName(kMonthNames[c.month - 1].substr(0, 3), fmt, i, false, fm, &out);
      i += 3;
    } else if (MatchCi(fmt, i, "DAY")) {
      AppendName(kDayNames[c.dow], fmt, i, true, fm, &out);
      i += 3;
    } else if (MatchCi(fmt, i, "DY")) {
      AppendName(kDayNames[c.dow].substr(0, 3), fmt, i, false, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "AM") || MatchCi(fmt, i, "PM")) {
      const bool upper = absl::ascii_isupper(static_cast<unsigned char>(fmt[i]));
      out.append(c.hour < 12 ? (upper ? "AM" : "am") : (upper ? "PM" : "pm"));
      i += 2;
      // Numbers.
    } else if (MatchCi(fmt, i, "HH24")) {
      AppendNumber(c.hour, 2, fm, &out);
      i += 4;
    } else if (MatchCi(fmt, i, "HH12")) {
      AppendNumber(c.hour % 12 == 0 ? 12 : c.hour % 12, 2, fm, &out);
      i += 4;
    } else if (MatchCi(fmt, i, "HH")) {
      AppendNumber(c.hour % 12 == 0 ? 12 : c.hour % 12, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "MI")) {
      AppendNumber(c.minute, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "SS")) {
      AppendNumber(c.second, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "MS")) {
      AppendNumber(c.micros / 1000, 3, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "US")) {
      AppendNumber(c.micros, 6, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "MM")) {
      AppendNumber(c.month, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "IYYY")) {
      int64_t iso_year;
      int week;
      IsoWeek(c.days, &iso_year, &week);
      AppendNumber(iso_year, 4, fm, &out);
      i += 4;
    } else if (MatchCi(fmt, i, "IW")) {
      int64_t iso_year;
      int week;
      IsoWeek(c.days, &iso_year, &week);
      AppendNumber(week, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "ID")) {
      AppendNumber(c.dow == 0 ? 7 : c.dow, 1, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "YYYY")) {
      AppendNumber(c.year, 4, fm, &out);
      i += 4;
    } else if (MatchCi(fmt, i, "YYY")) {
      AppendNumber(FloorMod(c.year, 1000), 3, fm, &out);
      i += 3;
    } else if (MatchCi(fmt, i, "YY")) {
      AppendNumber(FloorMod(c.year, 100), 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "DDD")) {
      AppendNumber(c.days - DaysFromCivil(c.year, 1, 1) + 1, 3, fm, &out);
      i += 3;
    } else if (MatchCi(fmt, i, "DD")) {
      AppendNumber(c.day, 2, fm, &out);
      i += 2;
    } else if (MatchCi(fmt, i, "D")) {
      AppendNumber(c.dow + 1, 1, fm, &out);
      i += 1;
    } else if (MatchCi(fmt, i, "Q")) {
      AppendNumber((c.month - 1) / 3 + 1, 1, fm, &out);
      i += 1;
    } else {
      out += ch;
      ++i;
    }
  }
  return out;
}

}  // namespace

absl::Status CheckDateTruncUnit(std::string_view unit) {
  if (!IsTruncUnit(ParseUnit(unit))) return BadTruncUnit(unit);
  return absl::OkStatus();
}

absl::Status CheckDatePartField(std::string_view field) {
  const Unit u = ParseUnit(field);
  if (u == Unit::kUnknown) return BadField(field);
  return absl::OkStatus();
}

absl::Status FnDateTrunc(const Value* a, int, Value* out) {
  if (a[0].type() != Type::kText) return TypeError("date_trunc()", a[0]);
  const Unit unit = ParseUnit(a[0].as_text());
  if (!IsTruncUnit(unit)) return BadTruncUnit(a[0].as_text());
  int64_t t;
  SV_RETURN_IF_ERROR(TimeArg("date_trunc()", a[1], &t));
  int64_t r = t;
  const int64_t days = FloorDiv(t, kMicrosPerDay);
  int64_t y;
  int m, d;
  switch (unit) {
    case Unit::kMicrosecond:
      break;
    case Unit::kMillisecond:
      r = FloorDiv(t, 1000) * 1000;
      break;
    case Unit::kSecond:
      r = FloorDiv(t, kMicrosPerSecond) * kMicrosPerSecond;
      break;
    case Unit::kMinute:
      r = FloorDiv(t, kMicrosPerMinute) * kMicrosPerMinute;
      break;
    case Unit::kHour:
      r = FloorDiv(t, kMicrosPerHour) * kMicrosPerHour;
      break;
    case Unit::kDay:
      r = days * kMicrosPerDay;
      break;
    case Unit::kWeek:
      r = (days - FloorMod(days + 3, 7)) * kMicrosPerDay;  // back to Monday
      break;
    case Unit::kMonth:
    case Unit::kQuarter:
    case Unit::kYear:
      CivilFromDays(days, &y, &m, &d);
      if (unit == Unit::kQuarter) m = (m - 1) / 3 * 3 + 1;
      if (unit == Unit::kYear) m = 1;
      r = DaysFromCivil(y, m, 1) * kMicrosPerDay;
      break;
    default:
      return BadTruncUnit(a[0].as_text());
  }
  *out = Value::Time(r);
  return absl::OkStatus();
}

absl::Status FnDatePart(const Value* a, int, Value* out) {
  if (a[0].type() != Type::kText) return TypeError("date_part()", a[0]);
  const Unit unit = ParseUnit(a[0].as_text());
  if (unit == Unit::kUnknown) return BadField(a[0].as_text());
  if (a[1].type() == Type::kInterval) {
    if (unit != Unit::kEpoch) {
      return absl::InvalidArgumentError(
          Cat("date_part(): field '", a[0].as_text(),
              "' is not supported for intervals (use epoch and divide)"));
    }
    *out = Value::Real(static_cast<double>(a[1].as_int()) / 1e6);
    return absl::OkStatus();
  }
  int64_t t;
  SV_RETURN_IF_ERROR(TimeArg("date_part()", a[1], &t));
  const Civil c = Split(t);
  int64_t iso_year;
  int week;
  switch (unit) {
    case Unit::kMicrosecond:
      *out = Value::Int(c.second * kMicrosPerSecond + c.micros);
      break;
    case Unit::kMillisecond:
      *out = Value::Real(c.second * 1000.0 + static_cast<double>(c.micros) / 1000.0);
      break;
    case Unit::kSecond:
      *out = Value::Real(c.second + static_cast<double>(c.micros) / 1e6);
      break;
    case Unit::kMinute:
      *out = Value::Int(c.minute);
      break;
    case Unit::kHour:
      *out = Value::Int(c.hour);
      break;
    case Unit::kDay:
      *out = Value::Int(c.day);
      break;
    case Unit::kWeek:
      IsoWeek(c.days, &iso_year, &week);
      *out = Value::Int(week);
      break;
    case Unit::kIsoYear:
      IsoWeek(c.days, &iso_year, &week);
      *out = Value::Int(iso_year);
      break;
    case Unit::kMonth:
      *out = Value::Int(c.month);
      break;
    case Unit::kQuarter:
      *out = Value::Int((c.month - 1) / 3 + 1);
      break;
    case Unit::kYear:
      *out = Value::Int(c.year);
      break;
    case Unit::kDecade:
      *out = Value::Int(FloorDiv(c.year, 10));
      break;
    case Unit::kDow:
      *out = Value::Int(c.dow);
      break;
    case Unit::kIsoDow:
      *out = Value::Int(c.dow == 0 ? 7 : c.dow);
      break;
    case Unit::kDoy:
      *out = Value::Int(c.days - DaysFromCivil(c.year, 1, 1) + 1);
      break;
    case Unit::kEpoch:
      *out = Value::Real(static_cast<double>(t) / 1e6);
      break;
    case Unit::kUnknown:
      return BadField(a[0].as_text());
  }
  return absl::OkStatus();
}

absl::Status FnToChar(const Value* a, int, Value* out) {
  int64_t t;
  if (a[0].type() != Type::kTime && a[0].type() != Type::kText) {
    return absl::InvalidArgumentError(
        Cat("to_char() cannot take ", Describe(a[0]), " (only timestamps can be formatted)"));
  }
  SV_RETURN_IF_ERROR(TimeArg("to_char()", a[0], &t));
  if (a[1].type() != Type::kText) return TypeError("to_char()", a[1]);
  *out = Value::Text(ToChar(t, a[1].as_text()));
  return absl::OkStatus();
}

absl::Status FnToTimestamp(const Value* a, int, Value* out) {
  if (!a[0].is_number()) {
    return absl::InvalidArgumentError(
        Cat("to_timestamp() cannot take ", Describe(a[0]),
            " (it takes epoch seconds; cast ISO text with ::timestamp)"));
  }
  const double micros = std::round(a[0].as_number() * 1e6);
  if (!(micros > -9.2e18 && micros < 9.2e18)) {
    return absl::InvalidArgumentError(Cat("to_timestamp(): ", Describe(a[0]), " is out of range"));
  }
  *out = Value::Time(static_cast<int64_t>(micros));
  return absl::OkStatus();
}

}  // namespace sv::sql::internal
