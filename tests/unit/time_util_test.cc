// Timestamp text <-> microseconds: the fixed-width format the stores and JSON responses use.

#include "common/time_util.h"

#include <gtest/gtest.h>

namespace sv {
namespace {

TEST(FormatTime, FixedWidthUtcWithMicroseconds) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatTime(1), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(FormatTime(-1), "1969-12-31T23:59:59.999999Z");
  // 2024-02-29T23:59:59.5Z: a leap day, last second.
  EXPECT_EQ(FormatTime(1709251199500000), "2024-02-29T23:59:59.500000Z");
  EXPECT_EQ(FormatTime(253402300799999999), "9999-12-31T23:59:59.999999Z");
}

TEST(FormatTime, YearsOutsideFourDigitsStillFormat) {
  EXPECT_EQ(FormatTime(253402300800000000), "10000-01-01T00:00:00.000000Z");
}

TEST(FormatTime, RoundTripsThroughParseTime) {
  for (int64_t us :
       {int64_t{0}, int64_t{1709251199500000}, int64_t{-86400000000}, int64_t{1764547200123456}}) {
    const auto parsed = ParseTime(FormatTime(us));
    ASSERT_TRUE(parsed.has_value()) << FormatTime(us);
    EXPECT_EQ(*parsed, us);
  }
}

}  // namespace
}  // namespace sv
