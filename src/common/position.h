#pragma once
// Where a source's consumer stands: per partition, the position applied (the embedded log's
// last position; Kafka's next offset to read, i.e. the offset of the last record + 1; a
// PostgreSQL LSN would be one partition holding the LSN). Read-your-writes compares these:
// a reader that wrote to partitions p1..pn waits until the applied position Covers theirs.
//
// On the wire (X-StreamView-Position, min_position) a position is an opaque token
// "sv1.<base64url>" (the version prefix lets the payload change). Clients may also send the
// plain form "<partition label>:<position>,..." (labels as the source names its partitions,
// e.g. "orders/3" for Kafka, "0" for the embedded log).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sv {

class Position {
 public:
  Position() = default;
  explicit Position(std::map<int32_t, int64_t> partitions) : partitions_(std::move(partitions)) {}

  const std::map<int32_t, int64_t>& partitions() const { return partitions_; }
  // 0 for a partition not named.
  int64_t at(int32_t partition) const;
  void Set(int32_t partition, int64_t position) { partitions_[partition] = position; }
  bool empty() const { return partitions_.empty(); }

  // True when every partition of `other` is reached here (a partition missing here is at 0).
  bool Covers(const Position& other) const;

  // The opaque, versioned token.
  std::string ToToken() const;
  // Partition id for a label, nullopt when the source has no such partition.
  using LabelResolver = std::function<std::optional<int32_t>(std::string_view label)>;
  // A token, or the plain form resolved through `partition_of`. InvalidArgument on anything
  // else (the message says which form was expected).
  static absl::StatusOr<Position> Parse(absl::string_view text, const LabelResolver& partition_of);

  bool operator==(const Position&) const = default;

 private:
  std::map<int32_t, int64_t> partitions_;
};

}  // namespace sv
