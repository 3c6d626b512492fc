// W3C traceparent parsing and formatting, sampling decisions, and the log lines of a span.

#include "trace/trace.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace sv::trace {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesAValidValue) {
  std::optional<SpanContext> c = ParseTraceparent(kValid);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(Hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(FormatTraceparent(*c), kValid);
}

TEST(Traceparent, FlagsOtherThanSampledAreIgnoredButKept) {
  std::optional<SpanContext> not_sampled =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(not_sampled.has_value());
  EXPECT_FALSE(not_sampled->sampled);
  std::optional<SpanContext> other_bits =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  ASSERT_TRUE(other_bits.has_value());
  EXPECT_TRUE(other_bits->sampled);
  std::optional<SpanContext> high_bits =
      ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  ASSERT_TRUE(high_bits.has_value());
  EXPECT_FALSE(high_bits->sampled);
}

TEST(Traceparent, RejectsMalformedValues) {
  const std::string base = kValid;
  const std::vector<std::string> bad = {
      "",
      "garbage",
      base + "-",                                                 // too long for version 00
      base.substr(0, 54),                                         // too short
      "01" + base.substr(2),                                      // version other than 00
      "ff" + base.substr(2),                                      // the forbidden version
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase hex
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  // flags not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",  // misplaced dash
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  // leading space
  };
  for (const std::string& value : bad) {
    EXPECT_FALSE(ParseTraceparent(value).has_value()) << "'" << value << "'";
  }
}

TEST(Sampling, NothingIsRecordedWhileTracingIsOff) {
  ASSERT_FALSE(Enabled());
  const SpanContext parent = *ParseTraceparent(kValid);
  EXPECT_FALSE(NewSpan(&parent).has_value());
  EXPECT_FALSE(NewSpan(nullptr).has_value());
  ScopedSpan span("x", &parent, ScopedSpan::Origin::kMayStartTrace);
  EXPECT_FALSE(span.recording());
  EXPECT_EQ(CurrentSpan(), nullptr);
}

// Spans go to a port nobody listens on: they are counted as failed, never block.
class SamplingOn : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.endpoint = "http://127.0.0.1:1";
    options.sample_ratio = 0;
    options.flush_ms = 50;
    ASSERT_TRUE(Start(options).ok());
  }
  void TearDown() override { Shutdown(0); }
};

TEST_F(SamplingOn, ParentBasedWithRatioZeroForNewTraces) {
  const SpanContext sampled = *ParseTraceparent(kValid);
  std::optional<SpanContext> child = NewSpan(&sampled);
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->trace_id, sampled.trace_id);
  EXPECT_NE(child->span_id, sampled.span_id);
  EXPECT_TRUE(child->sampled);

  const SpanContext unsampled =
      *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_FALSE(NewSpan(&unsampled).has_value());
  EXPECT_FALSE(NewSpan(nullptr).has_value());  // ratio 0
}

TEST_F(SamplingOn, ChildrenGetFreshSpanIds) {
  const SpanContext parent = *ParseTraceparent(kValid);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(Hex(ChildOf(parent).span_id));
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(SamplingOn, ScopedSpansNestAndSetTheLogContext) {
  const SpanContext parent = *ParseTraceparent(kValid);
  {
    ScopedSpan outer("outer", &parent, ScopedSpan::Origin::kChildOnly);
    ASSERT_TRUE(outer.recording());
    EXPECT_EQ(CurrentSpan(), &outer.context());
    {
      ScopedSpan inner("inner", nullptr, ScopedSpan::Origin::kChildOnly);
      ASSERT_TRUE(inner.recording());
      EXPECT_EQ(inner.context().trace_id, parent.trace_id);
      testing::internal::CaptureStderr();
      LogJson("info", "inside");
      const std::string line = testing::internal::GetCapturedStderr();
      EXPECT_NE(line.find("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""), std::string::npos)
          << line;
      EXPECT_NE(line.find("\"span_id\":\"" + Hex(inner.context().span_id) + "\""),
                std::string::npos)
          << line;
    }
    EXPECT_EQ(CurrentSpan(), &outer.context());
  }
  EXPECT_EQ(CurrentSpan(), nullptr);
  testing::internal::CaptureStderr();
  LogJson("info", "outside");
  EXPECT_EQ(testing::internal::GetCapturedStderr().find("trace_id"), std::string::npos);
  // A child-only span outside any span records nothing.
  ScopedSpan orphan("orphan", nullptr, ScopedSpan::Origin::kChildOnly);
  EXPECT_FALSE(orphan.recording());
}

}  // namespace
}  // namespace sv::trace
