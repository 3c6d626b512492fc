// Cron schedules: parsing, the messages of bad ones, and next fire times (UTC).

#include "common/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/time_util.h"

namespace sv {
namespace {

using ::testing::HasSubstr;

int64_t T(const char* iso) { return *ParseTime(iso); }

// The fire time after `from` as ISO text ("" when parsing fails).
std::string Next(const char* cron, const char* from) {
  absl::StatusOr<CronSchedule> s = ParseCron(cron);
  EXPECT_TRUE(s.ok()) << cron << ": " << s.status();
  if (!s.ok()) return "";
  return FormatTime(s->NextAfter(T(from)));
}

std::string ErrorOf(const char* cron) {
  absl::StatusOr<CronSchedule> s = ParseCron(cron);
  EXPECT_FALSE(s.ok()) << cron << " parsed";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

TEST(Cron, EveryMinuteFiresOnTheNextWholeMinute) {
  EXPECT_EQ(Next("* * * * *", "2024-05-01T10:00:00Z"), "2024-05-01T10:01:00.000000Z");
  EXPECT_EQ(Next("* * * * *", "2024-05-01T10:00:59.999999Z"), "2024-05-01T10:01:00.000000Z");
  // Strictly after: a fire time itself is not returned.
  EXPECT_EQ(Next("30 * * * *", "2024-05-01T10:30:00Z"), "2024-05-01T11:30:00.000000Z");
}

TEST(Cron, NumbersRangesListsAndSteps) {
  EXPECT_EQ(Next("15 3 * * *", "2024-05-01T03:15:00Z"), "2024-05-02T03:15:00.000000Z");
  EXPECT_EQ(Next("*/15 * * * *", "2024-05-01T10:31:00Z"), "2024-05-01T10:45:00.000000Z");
  EXPECT_EQ(Next("0 9-17/4 * * *", "2024-05-01T13:00:00Z"), "2024-05-01T17:00:00.000000Z");
  EXPECT_EQ(Next("0 9-17/4 * * *", "2024-05-01T17:00:00Z"), "2024-05-02T09:00:00.000000Z");
  EXPECT_EQ(Next("5,10,50 * * * *", "2024-05-01T10:11:00Z"), "2024-05-01T10:50:00.000000Z");
  EXPECT_EQ(Next("0 0,12 * * *", "2024-05-01T12:00:00Z"), "2024-05-02T00:00:00.000000Z");
  // a/n runs from a to the end of the field.
  EXPECT_EQ(Next("50/5 * * * *", "2024-05-01T10:56:00Z"), "2024-05-01T11:50:00.000000Z");
}

TEST(Cron, MonthAndDayNames) {
  EXPECT_EQ(Next("0 0 1 mar *", "2024-01-15T00:00:00Z"), "2024-03-01T00:00:00.000000Z");
  EXPECT_EQ(Next("0 0 * * MON-fri", "2024-05-03T12:00:00Z"),  // a Friday
            "2024-05-06T00:00:00.000000Z");
  EXPECT_EQ(Next("0 0 * JAN-Mar,DEC *", "2024-04-01T00:00:00Z"), "2024-12-01T00:00:00.000000Z");
}

TEST(Cron, ZeroAndSevenAreSunday) {
  // 2024-05-05 is a Sunday.
  EXPECT_EQ(Next("0 8 * * 0", "2024-05-01T00:00:00Z"), "2024-05-05T08:00:00.000000Z");
  EXPECT_EQ(Next("0 8 * * 7", "2024-05-01T00:00:00Z"), "2024-05-05T08:00:00.000000Z");
  EXPECT_EQ(Next("0 8 * * sun", "2024-05-01T00:00:00Z"), "2024-05-05T08:00:00.000000Z");
}

TEST(Cron, AcrossMonthAndYearEnds) {
  EXPECT_EQ(Next("0 0 * * *", "2024-01-31T23:59:00Z"), "2024-02-01T00:00:00.000000Z");
  EXPECT_EQ(Next("59 23 31 * *", "2024-04-01T00:00:00Z"), "2024-05-31T23:59:00.000000Z");
  EXPECT_EQ(Next("0 0 1 1 *", "2024-12-31T23:59:59Z"), "2025-01-01T00:00:00.000000Z");
  EXPECT_EQ(Next("30 12 * * *", "2024-12-31T12:30:00Z"), "2025-01-01T12:30:00.000000Z");
  // A leap day: the next one after 2024's is in 2028.
  EXPECT_EQ(Next("0 0 29 2 *", "2024-03-01T00:00:00Z"), "2028-02-29T00:00:00.000000Z");
  // 2100 is not a leap year: eight years between 29 Februaries.
  EXPECT_EQ(Next("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00.000000Z");
}

TEST(Cron, BothDayFieldsRestrictedMeansEither) {
  // The 13th, or any Friday: 2024-09-06 is a Friday, 2024-09-13 a Friday the 13th.
  EXPECT_EQ(Next("0 0 13 * 5", "2024-09-01T00:00:00Z"), "2024-09-06T00:00:00.000000Z");
  EXPECT_EQ(Next("0 0 13 * 5", "2024-10-11T00:00:00Z"), "2024-10-13T00:00:00.000000Z");
  // One of them '*': the other decides alone (and */n counts as '*', as in Vixie cron).
  EXPECT_EQ(Next("0 0 13 * *", "2024-09-01T00:00:00Z"), "2024-09-13T00:00:00.000000Z");
  EXPECT_EQ(Next("0 0 * * 5", "2024-09-07T00:00:00Z"), "2024-09-13T00:00:00.000000Z");
  // Days 1, 11, 21, 31 that are Mondays: 2024-10-21 (Monday 2024-09-09 is not one of them).
  EXPECT_EQ(Next("0 0 */10 * 1", "2024-09-02T00:00:00Z"), "2024-10-21T00:00:00.000000Z");
}

TEST(Cron, Macros) {
  EXPECT_EQ(Next("@hourly", "2024-05-01T10:20:00Z"), "2024-05-01T11:00:00.000000Z");
  EXPECT_EQ(Next("@daily", "2024-05-01T10:20:00Z"), "2024-05-02T00:00:00.000000Z");
  EXPECT_EQ(Next("@midnight", "2024-05-01T10:20:00Z"), "2024-05-02T00:00:00.000000Z");
  EXPECT_EQ(Next("@weekly", "2024-05-01T10:20:00Z"), "2024-05-05T00:00:00.000000Z");
  EXPECT_EQ(Next("@monthly", "2024-05-01T10:20:00Z"), "2024-06-01T00:00:00.000000Z");
  EXPECT_EQ(Next("@yearly", "2024-05-01T10:20:00Z"), "2025-01-01T00:00:00.000000Z");
  EXPECT_EQ(Next(" @Annually ", "2024-05-01T10:20:00Z"), "2025-01-01T00:00:00.000000Z");
}

TEST(Cron, EveryIsAlignedToTheEpoch) {
  EXPECT_EQ(Next("@every 10s", "2024-05-01T10:20:03.5Z"), "2024-05-01T10:20:10.000000Z");
  EXPECT_EQ(Next("@every 10s", "2024-05-01T10:20:10Z"), "2024-05-01T10:20:20.000000Z");
  EXPECT_EQ(Next("@every 5m", "2024-05-01T10:21:00Z"), "2024-05-01T10:25:00.000000Z");
  EXPECT_EQ(Next("@every 2h", "2024-05-01T11:00:00Z"), "2024-05-01T12:00:00.000000Z");
  EXPECT_EQ(Next("@every 1s", "1969-12-31T23:59:59.5Z"), "1970-01-01T00:00:00.000000Z");
}

TEST(Cron, KeepsItsText) { EXPECT_EQ(ParseCron("0 * * * *")->text(), "0 * * * *"); }

TEST(Cron, ErrorsNameTheFieldAndTheProblem) {
  EXPECT_EQ(ErrorOf("0 25 * * *"), "cron field 2 (hour): 25 is out of range 0-23");
  EXPECT_EQ(ErrorOf("60 * * * *"), "cron field 1 (minute): 60 is out of range 0-59");
  EXPECT_EQ(ErrorOf("0 0 0 * *"), "cron field 3 (day-of-month): 0 is out of range 1-31");
  EXPECT_EQ(ErrorOf("0 0 * 13 *"), "cron field 4 (month): 13 is out of range 1-12");
  EXPECT_EQ(ErrorOf("0 0 * * 8"), "cron field 5 (day-of-week): 8 is out of range 0-7");
  EXPECT_EQ(ErrorOf("0 0 * foo *"), "cron field 4 (month): 'foo' is not a number");
  EXPECT_EQ(ErrorOf("0 0 * * mon-"), "cron field 5 (day-of-week): missing value");
  EXPECT_EQ(ErrorOf("0 10-5 * * *"), "cron field 2 (hour): range 10-5 is reversed");
  EXPECT_EQ(ErrorOf("*/0 * * * *"), "cron field 1 (minute): step must be positive");
  EXPECT_EQ(ErrorOf("*/x * * * *"), "cron field 1 (minute): step 'x' is not a number");
  EXPECT_EQ(ErrorOf("1,,2 * * * *"), "cron field 1 (minute): empty list item");
  EXPECT_EQ(ErrorOf("-1 * * * *"), "cron field 1 (minute): missing value");
  EXPECT_THAT(ErrorOf("* * * *"), HasSubstr("expected 5 fields"));
  EXPECT_THAT(ErrorOf("* * * * * *"), HasSubstr("got 6"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("got 0"));
  EXPECT_THAT(ErrorOf("@reboot"), HasSubstr("unknown macro '@reboot'"));
  EXPECT_THAT(ErrorOf("@every 0s"), HasSubstr("@every takes <n>s, <n>m or <n>h, not '0s'"));
  EXPECT_THAT(ErrorOf("@every 5d"), HasSubstr("not '5d'"));
  EXPECT_THAT(ErrorOf("@every"), HasSubstr("unknown macro"));
  EXPECT_THAT(ErrorOf("0 0 30 2 *"), HasSubstr("never fires"));
  EXPECT_THAT(ErrorOf("0 0 31 apr,jun *"), HasSubstr("never fires"));
}

TEST(Cron, ImpossibleDayIsFineWhenTheWeekdayCanMatch) {
  // Both restricted: any Monday of February fires (2024-02-05 is a Monday).
  EXPECT_EQ(Next("0 0 30 2 1", "2024-02-01T00:00:00Z"), "2024-02-05T00:00:00.000000Z");
}

}  // namespace
}  // namespace sv
