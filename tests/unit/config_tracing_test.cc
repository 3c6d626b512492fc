// The `tracing:` section: defaults, every key, and file:line errors for bad values.

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "small_config_yaml.h"

namespace sv::config {
namespace {

absl::StatusOr<Config> WithTracing(const std::string& tracing) {
  return ParseConfig(std::string(kSmallYaml) + tracing, "sv.yaml");
}

TEST(ConfigTracing, AbsentMeansOff) {
  absl::StatusOr<Config> config = WithTracing("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tracing.enabled);
}

TEST(ConfigTracing, EveryKeyIsRead) {
  absl::StatusOr<Config> config = WithTracing(
      "tracing:\n  endpoint: http://collector:4318/otel\n  sample_ratio: 0.25\n"
      "  service_name: orders-views\n  batch_size: 100\n  flush_ms: 250\n  queue_spans: 5000\n");
  ASSERT_TRUE(config.ok()) << config.status();
  const TracingConfig& t = config->tracing;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.endpoint, "http://collector:4318/otel");
  EXPECT_DOUBLE_EQ(t.sample_ratio, 0.25);
  EXPECT_EQ(t.service_name, "orders-views");
  EXPECT_EQ(t.batch_size, 100);
  EXPECT_EQ(t.flush_ms, 250);
  EXPECT_EQ(t.queue_spans, 5000);
}

TEST(ConfigTracing, DefaultsBesideTheEndpoint) {
  absl::StatusOr<Config> config = WithTracing("tracing:\n  endpoint: http://127.0.0.1:4318\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->tracing.sample_ratio, 1.0);
  EXPECT_EQ(config->tracing.service_name, "streamview");
}

TEST(ConfigTracing, BadValuesNameTheirLine) {
  // kSmallYaml has 14 lines: `tracing:` is line 15, its first key line 16.
  struct Case {
    std::string yaml;
    std::string where;
    std::string words;
  };
  const Case cases[] = {
      {"tracing:\n  sample_ratio: 0.5\n", "sv.yaml:15:", "endpoint"},
      {"tracing:\n  endpoint: https://x:4318\n", "sv.yaml:16:13", "http://host"},
      {"tracing:\n  endpoint: http://\n", "sv.yaml:16:13", "http://host"},
      {"tracing:\n  endpoint: http://x\n  sample_ratio: 1.5\n", "sv.yaml:17:17", "between 0 and 1"},
      {"tracing:\n  endpoint: http://x\n  sample_ratio: lots\n", "sv.yaml:17:17",
       "between 0 and 1"},
      {"tracing:\n  endpoint: http://x\n  batch_size: 0\n", "sv.yaml:17:15", "between 1"},
      {"tracing:\n  endpoint: http://x\n  sampler: always\n", "sv.yaml:17:3", "sampler"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Config> config = WithTracing(c.yaml);
    ASSERT_FALSE(config.ok()) << c.yaml;
    const std::string message(config.status().message());
    EXPECT_EQ(message.rfind(c.where, 0), 0u) << message;
    EXPECT_NE(message.find(c.words), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace sv::config
