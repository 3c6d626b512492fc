#pragma once
// librdkafka plumbing shared by the Kafka source's files, private to source/kafka/: handles,
// configurations, message → SourceRecord, partition counts, and the replay reader (a consumer
// of its own outside the group, for rebuilds).

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "source/kafka/kafka_source.h"
#include "source/source.h"

namespace sv::source::kafka_internal {

constexpr int32_t kPartitionMask = kKafkaPartitionMask;
constexpr int kMaxTopics = 1 << (31 - kKafkaPartitionBits);
constexpr int kMetadataTimeoutMs = 10'000;

using TopicPartitions = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                        decltype(&rd_kafka_topic_partition_list_destroy)>;
TopicPartitions NewPartitionList(int size);

struct KafkaHandle {
  rd_kafka_t* rk = nullptr;
  KafkaHandle() = default;
  explicit KafkaHandle(rd_kafka_t* h) : rk(h) {}
  KafkaHandle(const KafkaHandle&) = delete;
  KafkaHandle& operator=(const KafkaHandle&) = delete;
  ~KafkaHandle() { Reset(); }
  void Reset() {
    if (rk != nullptr) rd_kafka_destroy(rk);
    rk = nullptr;
  }
};

int64_t TimestampMicros(const rd_kafka_message_t* m);
// Fills `r` from a message, reusing the buffers `r` already has (a poll refills the records of
// the previous one: no allocation per record in the steady state).
void ToRecord(const rd_kafka_message_t* m, int32_t id, SourceRecord* r);
// A configuration with the user's properties applied over ours.
absl::StatusOr<rd_kafka_conf_t*> MakeConf(
    const KafkaSourceOptions& o, const std::vector<std::pair<std::string, std::string>>& ours);
absl::StatusOr<rd_kafka_t*> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf,
                                      const std::string& source);
// Partition counts of `topics`, in order.
absl::StatusOr<std::vector<int>> PartitionCounts(rd_kafka_t* rk,
                                                 const std::vector<std::string>& topics,
                                                 const std::string& source);
// Reads every partition from its first retained offset up to `ends` (partition id -> last
// position), with its own consumer `rk` (taken over) outside the group.
std::unique_ptr<ReplayReader> NewKafkaReplay(rd_kafka_t* rk,
                                             std::unordered_map<int32_t, int64_t> ends,
                                             std::unordered_map<std::string, int> topic_index);

}  // namespace sv::source::kafka_internal
