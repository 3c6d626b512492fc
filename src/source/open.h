#pragma once
// The one place that constructs sources by kind (as store/open.h is for stores), and what the
// engine, server and CLI may know of a source without naming its kind: its capabilities and
// how its partitions are labelled. Only source/<kind>/ knows what a partition id encodes.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "common/position.h"
#include "config/config.h"
#include "contracts/registry.h"
#include "source/source.h"
#include "store/store.h"

namespace sv::source {

struct SourceTraits {
  // Reads the store's embedded log: POST /events and `streamview ingest` append to it, and a
  // store holds one such log.
  bool accepts_appends = false;
  // Lag semantics. True: the end is the store's LogEnd, and a poll that returns nothing means
  // caught up. False: the source reports its partitions' ends (EndOffsets) and whether it
  // reaches its upstream; it is caught up when the applied positions reach those ends.
  bool end_in_store = false;
  // Keeps no history (a change feed): a rebuild replays a new snapshot of now, so every view
  // of the source is rebuilt together, and its live stream is stopped meanwhile.
  bool replays_snapshot = false;
  // One partition, 0: a plain integer names a position (`min_position=42`).
  bool single_partition = false;
  // "0" for the log; "topic/3" for Kafka (also in Source::PartitionLabel).
  std::function<std::string(int32_t partition)> partition_label;
  // The inverse: the partition id a label names, nullopt when the source has none such.
  Position::LabelResolver partition_of_label;
  // For a source whose partitions belong to topics (Kafka): the topic and the partition's
  // number within it, for /lags and metrics. Unset otherwise.
  std::function<std::optional<std::pair<std::string, int32_t>>(int32_t partition)> topic_of;
};

// InvalidArgument for a kind this build has no source for.
absl::StatusOr<SourceTraits> TraitsOf(const config::SourceConfig& config);

// The registry of a source with `schema_registry:` (the decoder validates against the schemas
// the source fetched there). Inline: the decoder's fuzz build links no source backend.
inline contracts::RegistryOptions RegistryOptionsOf(const config::SourceConfig& config) {
  const config::SchemaRegistryConfig& c = config.kafka.schema_registry;
  return {.url = c.url, .timeout_ms = c.timeout_ms, .user_password = c.user_password};
}

// Opens (does not yet seek or poll) the source `config` describes. `log_store` holds the
// embedded log and must outlive the source.
absl::StatusOr<std::unique_ptr<Source>> Open(const config::SourceConfig& config,
                                             store::Store* log_store);

// For a change-feed source (kind postgres_changes) taken out of the config: drops the slot it
// left on the source server, which holds WAL until dropped, and the publication when named.
// Returns what was dropped; NotFound without such a slot, FailedPrecondition while in use.
absl::StatusOr<std::string> DropChangeFeedSlot(const std::string& dsn, const std::string& slot,
                                               const std::string& publication);

// Reads a min_position (a token, the plain form, or for a single-partition source a plain
// integer), as the source names its partitions. InvalidArgument with the reason.
absl::StatusOr<Position> ParsePosition(const SourceTraits& traits, std::string_view text);

}  // namespace sv::source
