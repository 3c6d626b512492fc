// Kafka partition ids and labels: the only code that knows what a partition id encodes.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "source/kafka/kafka_source.h"

namespace sv::source {

std::optional<std::pair<std::string, int32_t>> KafkaTopicOf(const std::vector<std::string>& topics,
                                                            int32_t id) {
  const size_t t = static_cast<size_t>(id >> kKafkaPartitionBits);
  if (id < 0 || t >= topics.size()) return std::nullopt;
  return std::make_pair(topics[t], id & kKafkaPartitionMask);
}

std::string KafkaPartitionLabel(const std::vector<std::string>& topics, int32_t id) {
  auto topic = KafkaTopicOf(topics, id);
  if (!topic) return std::to_string(id);
  return absl::StrCat(topic->first, "/", topic->second);
}

std::optional<int32_t> KafkaPartitionOfLabel(const std::vector<std::string>& topics,
                                             std::string_view label) {
  const size_t slash = label.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  int32_t partition = 0;
  if (!absl::SimpleAtoi(absl::string_view(label.data() + slash + 1, label.size() - slash - 1),
                        &partition) ||
      partition < 0 || partition > kKafkaPartitionMask) {
    return std::nullopt;
  }
  for (size_t t = 0; t < topics.size(); ++t) {
    if (topics[t] == label.substr(0, slash)) {
      return KafkaPartitionId(static_cast<int>(t), partition);
    }
  }
  return std::nullopt;
}

}  // namespace sv::source
