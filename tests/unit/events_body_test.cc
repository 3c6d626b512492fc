// POST /events bodies -> log lines (server/events_body).

#include "server/events_body.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace sv::server {
namespace {

using ::testing::HasSubstr;

TEST(EventsBodyTest, NdjsonPassesUnchanged) {
  const std::string body = "{\"a\":1}\r\n\n  {\"b\":[1,2]}\nnot json\n";
  EXPECT_EQ(EventsBodyToLines(body).value(), body);
}

TEST(EventsBodyTest, ArrayElementsBecomeLinesWithNumbersAsWritten) {
  EXPECT_EQ(
      EventsBodyToLines(" [ {\"q\": 1.10e2, \"big\": 123456789012345678901234567890},"
                        " [1, {\"x\": null}], \"s\", true ]")
          .value(),
      "{\"q\":1.10e2,\"big\":123456789012345678901234567890}\n[1,{\"x\":null}]\n\"s\"\ntrue\n");
  EXPECT_EQ(EventsBodyToLines("[]").value(), "");
}

TEST(EventsBodyTest, ABodyThatIsNotOneArrayIsAnError) {
  for (const char* body : {"[{\"type\": \"OrderCreated\"", "[1] [2]", "[1,]", "[\"\\x\"]"}) {
    absl::StatusOr<std::string> lines = EventsBodyToLines(body);
    ASSERT_FALSE(lines.ok()) << body;
    EXPECT_THAT(std::string(lines.status().message()), HasSubstr("is not a JSON array")) << body;
  }
}

// The route parsed arrays recursively: 100,000 nested '[' overflowed the stack and took the
// whole process down (issue 15). Read without recursion, they are one (deep) element.
TEST(EventsBodyTest, DeepNestingNeitherCrashesNorRecurses) {
  const std::string open(100'000, '[');
  EXPECT_FALSE(EventsBodyToLines(open).ok());
  absl::StatusOr<std::string> lines = EventsBodyToLines(open + std::string(100'000, ']'));
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(lines->size(), 2 * 99'999 + 1);
}

}  // namespace
}  // namespace sv::server
