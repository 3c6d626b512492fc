#include "source/open.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "source/confluent/confluent_source.h"
#include "source/kafka/kafka_source.h"
#include "source/log/log_source.h"
#include "source/pg_changes/pg_changes_source.h"

namespace sv::source {

absl::StatusOr<SourceTraits> TraitsOf(const config::SourceConfig& config) {
  SourceTraits traits;
  if (config.kind == "log") {
    traits.accepts_appends = true;
    traits.end_in_store = true;
    traits.single_partition = true;
    traits.partition_label = [](int32_t partition) { return std::to_string(partition); };
    traits.partition_of_label = [](std::string_view label) -> std::optional<int32_t> {
      if (label == "0") return 0;
      return std::nullopt;
    };
    return traits;
  }
  if (config.kind == "postgres_changes") {
    // One partition whose positions are LSNs (commit end LSNs once stored).
    traits.single_partition = true;
    traits.replays_snapshot = true;
    traits.partition_label = [](int32_t partition) { return std::to_string(partition); };
    traits.partition_of_label = [](std::string_view label) -> std::optional<int32_t> {
      if (label == "0") return 0;
      return std::nullopt;
    };
    return traits;
  }
  if (config.kind == "kafka") {
    std::vector<std::string> topics = config.kafka.topics;
    traits.partition_label = [topics](int32_t partition) {
      return KafkaPartitionLabel(topics, partition);
    };
    traits.topic_of = [topics](int32_t partition) { return KafkaTopicOf(topics, partition); };
    traits.partition_of_label = [topics = std::move(topics)](std::string_view label) {
      return KafkaPartitionOfLabel(topics, label);
    };
    return traits;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("source '", config.name, "': kind '", config.kind, "' is not supported"));
}

absl::StatusOr<std::unique_ptr<Source>> Open(const config::SourceConfig& config,
                                             store::Store* log_store) {
  if (config.kind == "log") return NewLogSource(log_store);
  if (config.kind == "kafka") {
    KafkaSourceOptions o;
    o.source_name = config.name;
    o.brokers = config.kafka.brokers;
    o.topics = config.kafka.topics;
    o.group_id = config.kafka.group_id;
    o.dead_letter_topic = config.kafka.dead_letter_topic;
    o.properties = config.kafka.properties;
    if (config.kafka.schema_registry.url.empty()) return NewKafkaSource(o);
    SV_ASSIGN_OR_RETURN(std::unique_ptr<Source> framed, NewKafkaSource(o));
    return NewConfluentSource(std::move(framed),
                              contracts::SchemaRegistry::Shared(RegistryOptionsOf(config)),
                              config.name);
  }
  if (config.kind == "postgres_changes") {
    PgChangesOptions o;
    o.source_name = config.name;
    o.dsn = config.postgres.dsn;
    o.publication = config.postgres.publication;
    o.slot = config.postgres.slot;
    o.tables = config.postgres.tables;
    o.heartbeat_us = config.postgres.heartbeat_ms * 1000;
    o.spool_memory_records = static_cast<size_t>(config.postgres.spool_memory_rows);
    o.spool_dir = config.postgres.spool_dir;
    return NewPgChangesSource(o);
  }
  return absl::UnimplementedError(absl::StrCat("source kind '", config.kind, "' is not supported"));
}

absl::StatusOr<std::string> DropChangeFeedSlot(const std::string& dsn, const std::string& slot,
                                               const std::string& publication) {
  return DropPgChangesSlot(dsn, slot, publication);
}

absl::StatusOr<Position> ParsePosition(const SourceTraits& traits, std::string_view text) {
  int64_t plain = 0;
  if (absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &plain)) {
    if (!traits.single_partition) {
      return absl::InvalidArgumentError(
          "a plain integer names no partition of a partitioned source: send the "
          "X-StreamView-Position token of a read, or <partition>:<position>,... (e.g. "
          "orders/0:42,orders/1:17)");
    }
    if (plain < 0) return absl::InvalidArgumentError("must be a non-negative position");
    Position position;
    position.Set(0, plain);
    return position;
  }
  absl::StatusOr<Position> position =
      Position::Parse(absl::string_view(text.data(), text.size()), traits.partition_of_label);
  if (!position.ok()) return position;
  // A token carries partition ids: each must be one of this source's.
  for (const auto& [partition, at] : position->partitions()) {
    if (traits.partition_of_label(traits.partition_label(partition)) != partition) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a position of this source: it has no partition ", partition));
    }
  }
  return position;
}

}  // namespace sv::source
