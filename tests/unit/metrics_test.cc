#include "metrics/metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sv::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MetricsTest, RendersExactText) {
  Registry r;
  r.GetCounter("events_total", "Events applied.")->Inc(42);
  // Label order is not significant: both calls name the same child, rendered sorted by name.
  r.GetCounter("requests_total", "Requests served.", {{"method", "GET"}, {"code", "200"}})->Inc();
  r.GetCounter("requests_total", "Ignored later help.", {{"code", "200"}, {"method", "GET"}})
      ->Inc();
  r.GetCounter("requests_total", "", {{"method", "POST"}, {"code", "500"}})->Inc(1.5);
  r.GetGauge("lag_seconds", "Source lag.")->Set(-3);
  Histogram* h =
      r.GetHistogram("latency_seconds", "Request latency.", {0.125, 1, 5}, {{"route", "/v"}});
  for (double v : {0.0625, 0.125, 0.5, 7.0}) h->Observe(v);  // 0.125 counts in le="0.125"
  r.GetHistogram("empty_seconds", "Never observed.", {1});

  EXPECT_EQ(r.Render(),
            "# HELP empty_seconds Never observed.\n"
            "# TYPE empty_seconds histogram\n"
            "empty_seconds_bucket{le=\"1\"} 0\n"
            "empty_seconds_bucket{le=\"+Inf\"} 0\n"
            "empty_seconds_sum 0\n"
            "empty_seconds_count 0\n"
            "# HELP events_total Events applied.\n"
            "# TYPE events_total counter\n"
            "events_total 42\n"
            "# HELP lag_seconds Source lag.\n"
            "# TYPE lag_seconds gauge\n"
            "lag_seconds -3\n"
            "# HELP latency_seconds Request latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/v\",le=\"0.125\"} 2\n"
            "latency_seconds_bucket{route=\"/v\",le=\"1\"} 3\n"
            "latency_seconds_bucket{route=\"/v\",le=\"5\"} 3\n"
            "latency_seconds_bucket{route=\"/v\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{route=\"/v\"} 7.6875\n"
            "latency_seconds_count{route=\"/v\"} 4\n"
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"200\",method=\"GET\"} 2\n"
            "requests_total{code=\"500\",method=\"POST\"} 1.5\n");
  EXPECT_THAT(r.FamilyNames(), ElementsAre("empty_seconds", "events_total", "lag_seconds",
                                           "latency_seconds", "requests_total"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.GetCounter("x_total", "line1\nback\\slash \"quoted\"", {{"path", "a\"b\\c\nd"}})->Inc();
  EXPECT_EQ(r.Render(),
            "# HELP x_total line1\\nback\\\\slash \"quoted\"\n"
            "# TYPE x_total counter\n"
            "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsTest, FormatsValues) {
  Registry r;
  auto set = [&](const char* label, double v) { r.GetGauge("g", "", {{"v", label}})->Set(v); };
  set("a", 0.1);
  set("b", 1e-7);
  set("c", 123456789);
  set("d", 1e20);
  set("e", std::numeric_limits<double>::quiet_NaN());
  set("f", std::numeric_limits<double>::infinity());
  set("g", -std::numeric_limits<double>::infinity());
  set("h", 1.0 / 3);
  EXPECT_EQ(r.Render(),
            "# HELP g \n# TYPE g gauge\n"
            "g{v=\"a\"} 0.1\n"
            "g{v=\"b\"} 1e-07\n"
            "g{v=\"c\"} 123456789\n"
            "g{v=\"d\"} 1e+20\n"
            "g{v=\"e\"} NaN\n"
            "g{v=\"f\"} +Inf\n"
            "g{v=\"g\"} -Inf\n"
            "g{v=\"h\"} 0.3333333333333333\n");
}

TEST(MetricsTest, SameLabelsSamePointer) {
  Registry r;
  Counter* c = r.GetCounter("c_total", "", {{"a", "1"}, {"b", "2"}});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(r.GetCounter("c_total", "", {{"b", "2"}, {"a", "1"}}), c);
  EXPECT_NE(r.GetCounter("c_total", "", {{"a", "1"}, {"b", "3"}}), c);
  EXPECT_NE(r.GetCounter("c_total", ""), c);

  Gauge* g = r.GetGauge("g", "");
  EXPECT_EQ(r.GetGauge("g", ""), g);
  Histogram* h = r.GetHistogram("h", "", {1, 2});
  EXPECT_EQ(r.GetHistogram("h", "", {1, 2}), h);
  EXPECT_EQ(r.GetHistogram("h", "", {1, 2, std::numeric_limits<double>::infinity()}), h);
  // Pointers survive many later creations (callers cache them).
  for (int i = 0; i < 1000; ++i) r.GetCounter("c_total", "", {{"a", std::to_string(i)}});
  EXPECT_EQ(r.GetCounter("c_total", "", {{"a", "1"}, {"b", "2"}}), c);
}

TEST(MetricsTest, TypeClashIsNull) {
  Registry r;
  Counter* c = r.GetCounter("m", "");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(r.GetGauge("m", ""), nullptr);
  EXPECT_EQ(r.GetHistogram("m", "", {1}), nullptr);
  EXPECT_EQ(r.GetCounter("m", ""), c);

  ASSERT_NE(r.GetHistogram("h", "", {1, 2}), nullptr);
  EXPECT_EQ(r.GetHistogram("h", "", {1, 3}), nullptr);  // bounds are fixed by the first call
  EXPECT_EQ(r.GetCounter("h", ""), nullptr);
  EXPECT_THAT(r.FamilyNames(), ElementsAre("h", "m"));
}

TEST(MetricsTest, InvalidNamesAreNull) {
  Registry r;
  for (const char* name : {"", "1abc", "a-b", "a b", "é"}) {
    EXPECT_EQ(r.GetCounter(name, ""), nullptr) << name;
  }
  EXPECT_NE(r.GetCounter("a:b_c1", ""), nullptr);
  EXPECT_NE(r.GetCounter(":x", ""), nullptr);

  for (const char* label : {"", "1a", "a:b", "a-b"}) {
    EXPECT_EQ(r.GetGauge("g", "", {{label, "v"}}), nullptr) << label;
  }
  EXPECT_EQ(r.GetGauge("g", "", {{"a", "1"}, {"a", "2"}}), nullptr);  // repeated label name
  EXPECT_NE(r.GetGauge("g", "", {{"_a1", "any \"value\" at all"}}), nullptr);

  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(r.GetHistogram("h", "", {1}, {{"le", "1"}}), nullptr);
  EXPECT_EQ(r.GetHistogram("h", "", {2, 1}), nullptr);
  EXPECT_EQ(r.GetHistogram("h", "", {1, 1}), nullptr);
  EXPECT_EQ(r.GetHistogram("h", "", {1, nan}), nullptr);
  // Invalid calls create nothing.
  EXPECT_THAT(r.FamilyNames(), ElementsAre(":x", "a:b_c1", "g"));
}

TEST(MetricsTest, CounterIgnoresNegativeAndNaN) {
  Registry r;
  Counter* c = r.GetCounter("c_total", "");
  c->Inc(2);
  c->Inc(-1);
  c->Inc(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(c->Value(), 2);
  Gauge* g = r.GetGauge("g", "");
  g->Add(2);
  g->Add(-5);
  EXPECT_EQ(g->Value(), -3);
}

TEST(MetricsTest, HistogramNaNGoesToInf) {
  Registry r;
  r.GetHistogram("h", "", {1})->Observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(r.Render(), HasSubstr("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n"));
}

TEST(MetricsTest, CollectorsRunAtRender) {
  Registry r;
  int lag = 5;
  int runs = 0;
  r.AddCollector([&](Registry& reg) {
    ++runs;
    reg.GetGauge("lag_events", "Events behind.")->Set(lag);
  });
  EXPECT_EQ(runs, 0);
  EXPECT_THAT(r.Render(), HasSubstr("\nlag_events 5\n"));
  lag = 7;
  EXPECT_THAT(r.Render(), HasSubstr("\nlag_events 7\n"));
  EXPECT_EQ(runs, 2);
}

TEST(MetricsTest, DefaultLatencyBuckets) {
  std::vector<double> b = Registry::DefaultLatencyBuckets();
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(b.front(), 0.0005);
  EXPECT_EQ(b.back(), 10);
  Registry r;
  EXPECT_NE(r.GetHistogram("latency_seconds", "", b), nullptr);
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  Registry r;
  Counter* c = r.GetCounter("c_total", "");
  Histogram* h = r.GetHistogram("h", "", {0.5});
  std::atomic<bool> done{false};
  std::thread scraper([&] {  // renders race with updates; must stay well-formed
    while (!done) r.Render();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Lookups race with each other too, and must all land on the same child.
      Counter* mine = r.GetCounter("c_total", "", {});
      EXPECT_EQ(mine, c);
      Counter* per_thread = r.GetCounter("per_thread_total", "", {{"t", std::to_string(t)}});
      for (int i = 0; i < kPerThread; ++i) {
        mine->Inc();
        per_thread->Inc();
        h->Observe(i % 2 == 0 ? 0.25 : 1);  // half in le="0.5", exactly representable sum
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  scraper.join();

  EXPECT_EQ(c->Value(), kThreads * kPerThread);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("\nc_total 400000\n"));
  EXPECT_THAT(text, HasSubstr("\nh_bucket{le=\"0.5\"} 200000\n"));
  EXPECT_THAT(text, HasSubstr("\nh_bucket{le=\"+Inf\"} 400000\n"));
  EXPECT_THAT(text, HasSubstr("\nh_sum 250000\n"));
  EXPECT_THAT(text, HasSubstr("\nh_count 400000\n"));
  EXPECT_THAT(text, HasSubstr("\nper_thread_total{t=\"3\"} 100000\n"));
}

}  // namespace
}  // namespace sv::metrics
