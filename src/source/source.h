#pragma once
// The source seam: where events come from (the embedded log now; Kafka, PostgreSQL logical
// replication later).
//
// A source is a set of partitions, each an ordered sequence of records with increasing offsets.
// State machine: constructed → Seek(after) positions every partition just after the given
// offsets (partitions not named start at their beginning) → Poll() returns records in offset
// order per partition; an empty result means "caught up for now", never "ended". Resuming after
// a crash is Seek(stored positions): the consumer checks nothing is skipped because positions
// are stored in the same transaction as the effects of the records before them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sv::source {

struct SourceRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t log_time_us = 0;  // append / broker timestamp
  // The record's bytes: for the embedded log a whole NDJSON line (an event object or an
  // envelope {"key","headers","value"}); for Kafka the message value.
  std::string value;
  std::optional<std::string> key;                            // native message key, if any
  std::vector<std::pair<std::string, std::string>> headers;  // native headers, if any
};

class Source {
 public:
  virtual ~Source() = default;
  virtual absl::Status Seek(const std::map<int32_t, int64_t>& after) = 0;
  // Appends up to `max` records to `out` (cleared first). May wait up to `timeout_ms` for data.
  virtual absl::Status Poll(size_t max, int timeout_ms, std::vector<SourceRecord>* out) = 0;
  // The last offset present in each partition (0 when empty), for lag and progress.
  virtual absl::StatusOr<std::map<int32_t, int64_t>> EndOffsets() = 0;
};

}  // namespace sv::source
