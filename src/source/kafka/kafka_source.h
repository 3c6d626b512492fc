#pragma once
// A Kafka consumer-group source (librdkafka). Offsets live in the store, committed with the view
// rows: on assignment the consumer seeks to the stored positions, never to Kafka's committed
// offsets, which are only mirrored after each store commit for external lag tooling.
//
// Partition ids: one source may read several topics, so a partition id is
// (topic index << 20) | partition. Positions are "next offset to read" (last offset + 1), so 0
// still means "nothing read" as for the embedded log.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "source/source.h"

namespace sv::source {

struct KafkaSourceOptions {
  std::string source_name;  // for logs and dead-letter headers
  std::string brokers;
  std::vector<std::string> topics;
  std::string group_id;
  bool dead_letter_topic = true;  // produce dead letters to "<topic>.dlq" too
  std::vector<std::pair<std::string, std::string>> properties;  // librdkafka, passed through
};

inline constexpr int kKafkaPartitionBits = 20;
inline constexpr int32_t kKafkaPartitionMask = (1 << kKafkaPartitionBits) - 1;
inline int32_t KafkaPartitionId(int topic_index, int32_t partition) {
  return (topic_index << kKafkaPartitionBits) | partition;
}

// "topic/3" for partition 3 of `topics[0]`; the id itself when it names no configured topic.
std::string KafkaPartitionLabel(const std::vector<std::string>& topics, int32_t id);
// The topic of partition `id` and its number within that topic; nullopt when `id` names no
// configured topic.
std::optional<std::pair<std::string, int32_t>> KafkaTopicOf(const std::vector<std::string>& topics,
                                                            int32_t id);
// The inverse of KafkaPartitionLabel; nullopt unless `label` is "<configured topic>/<partition>".
std::optional<int32_t> KafkaPartitionOfLabel(const std::vector<std::string>& topics,
                                             std::string_view label);

// Fails on a property librdkafka rejects (the message names it).
absl::StatusOr<std::unique_ptr<Source>> NewKafkaSource(const KafkaSourceOptions& options);

}  // namespace sv::source
